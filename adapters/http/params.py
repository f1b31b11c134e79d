"""Parameters that several routes share, described once for the API's contract."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Path

# A case id is a random UUID that says nothing of the individual: whether one exists is not
# concealed (404 for an id no case has, 403 for a case the caller may not touch; README).
CaseId = Annotated[UUID, Path(
    description="The case: the `case_id` that proposing it answered (also in its Location "
    "header). An id no case has is 404; a case the caller's organisation may not read or "
    "write is 403 (R13), whatever the route",
    examples=["3fa85f64-5717-4562-b3fc-2c963f66afa6"],
)]
