"""The command log: what the ledger keeps beside a command's events, in the same transaction,
so that a repeated command id returns its first result and writes nothing (also after a
restart). The recorder that keeps it is an adapter (adapters/store/recorder.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable
from uuid import UUID

from .parties import Frozen


class CommandEntry(Frozen):
    """What the ledger asks the recorder to keep beside the events of one command."""

    command_id: UUID
    command: str
    case_id: UUID


class RecordedCommand(Frozen):
    command_id: UUID
    command: str
    case_id: UUID
    first_version: int
    last_version: int
    notification_ids: tuple[int, ...]
    recorded_at: datetime


@runtime_checkable
class CommandLog(Protocol):
    """A recorder that keeps a command log in the same transaction as the events."""

    def find_command(self, command_id: UUID) -> RecordedCommand | None: ...
