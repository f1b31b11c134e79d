"""The context of one command: who gives it, when it is recorded, when it happened (R32)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypedDict
from uuid import UUID

from .clock import STOCKHOLM, local_date
from .errors import InvalidInput
from .parties import Actor

# How far ahead of the server clock a caller's occurred_at may be (their clock may run fast).
CLOCK_SKEW = timedelta(minutes=5)


class EventArgs(TypedDict):
    """What every event of a case records about its command (R32), passed on as keywords."""

    actor: Actor
    command_id: UUID
    occurred_at: datetime | None
    on: date


@dataclass
class Context:
    """What every command method needs besides its command: who, when, and which command."""

    actor: Actor
    now: datetime
    command_id: UUID
    occurred_at: datetime | None

    @property
    def today(self) -> date:
        return local_date(self.now)

    @property
    def on(self) -> date:
        """The day it happened in the world."""
        return local_date(self.occurred_at or self.now)

    def check_occurred_at(self) -> None:
        """What happened in the world cannot have happened after it is recorded."""
        if self.occurred_at is not None:
            occurred = self.occurred_at
            if occurred.tzinfo is None:
                occurred = occurred.replace(tzinfo=STOCKHOLM)
            if occurred > self.now + CLOCK_SKEW:
                raise InvalidInput(
                    "occurred_at lies in the future; record an action once it has happened",
                    field="occurred_at",
                    rule="R32",
                )

    def event_args(self) -> EventArgs:
        return {
            "actor": self.actor,
            "command_id": self.command_id,
            "occurred_at": self.occurred_at,
            "on": self.on,
        }
