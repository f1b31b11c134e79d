"""What a SipCase holds besides the commands' own values: its stage and the records its events
leave (meetings, follow-ups, closures, corrections) and the two mutable pieces of its state.

The pydantic models here are stored inside events and the dataclasses inside snapshots, both by
class name (domain/transcodings.py): renaming one orphans stored data, moving it does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from .commands import ClosureReason, Invitation, Reply
from .deadlines import Deadline
from .parties import Frozen


class Stage(StrEnum):
    PROPOSED = "proposed"
    ACTIVE = "active"  # consent given, preparing
    MEETING_SCHEDULED = "meeting_scheduled"
    PLAN_ESTABLISHED = "plan_established"
    CLOSING = "closing"  # planning has ended; not every principal has documented closure
    CLOSED = "closed"
    DECLINED = "declined"


ENDED_STAGES = (Stage.CLOSED, Stage.DECLINED)


class Meeting(Frozen):
    number: int
    at: datetime
    place: str
    invitations: tuple[Invitation, ...]
    invited_on: date


class FollowUp(Frozen):
    held_on: date
    what_happened: str
    what_remains: str
    new_needs: tuple[str, ...]
    next_follow_up_date: date


class Closure(Frozen):
    organisation_id: str
    reason: ClosureReason
    note: str
    on: date


class Correction(Frozen):
    corrects_version: int
    reason: str
    correction: str
    on: date


@dataclass
class DeadlineState:
    deadline: Deadline
    met_on: date | None = None
    cancelled_on: date | None = None

    @property
    def is_open(self) -> bool:
        return self.met_on is None and self.cancelled_on is None


@dataclass
class InvitationState:
    invitation: Invitation
    meeting_number: int
    reply: Reply | None = None
    comment: str = ""
