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
from .parties import Actor, Frozen


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


class CorrectedField(Frozen):
    """R32: one field of a corrected entry: its value before the correction and the right one,
    as text (domain/rules/correction.py says each field's type). ``old_value`` is the value the
    case held (an earlier correction's, if any); None where it held none."""

    field: str
    old_value: str | None
    new_value: str


class Correction(Frozen):
    """R32: a correction of the entry at ``corrects_version``, as its event stores it.

    The fields after ``on`` came with structured corrections (EntryCorrected version 2, whose
    upcaster gives a version 1 correction its ``version`` and ``by`` from the event; it has no
    type, item or changes: it was free text only). ``version`` is the correcting entry's own,
    ``by`` who recorded it (as the event's actor: the case keeps it, so a case replayed as of an
    instant says who corrected what). ``item`` is the number of what the corrected entry
    recorded (the meeting's, the consent's, the plan revision's, the follow-up's)."""

    corrects_version: int
    reason: str
    correction: str
    on: date
    version: int | None = None
    by: Actor | None = None
    corrected_type: str | None = None
    item: int | None = None
    changes: tuple[CorrectedField, ...] = ()
    # The keys of the deadlines it recomputed (the event holds them as computed).
    recomputed_deadlines: tuple[str, ...] = ()


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
