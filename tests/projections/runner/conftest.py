from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.runner import quiet_logs


@pytest.fixture(autouse=True)
def _quiet_logs() -> Iterator[None]:
    with quiet_logs():
        yield
