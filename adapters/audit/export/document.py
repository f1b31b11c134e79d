"""The audit copy as a document: its format's name and its JSON shape, shared by the modules that
build, check and render it."""

from __future__ import annotations

from typing import Any
from uuid import UUID

FORMAT = "sip-ledger/case-export/1"

Export = dict[str, Any]

# An event as stored: (notification id, case id, version, topic, the stored bytes).
StoredEvent = tuple[int, UUID, int, str, bytes]
