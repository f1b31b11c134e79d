"""Structured corrections (R32): which fields of which entries a correction may change, of what
type their values are, and the checks a corrected entry must still pass.

A correction names the entry it corrects (its version), the fields and their right values, and
why. The entry itself is never edited (the log is append-only): the correction is an entry of its
own, and the case's state — and every view of it — shows the corrected value from then on, marked
as corrected, while history, as-of and the export show both entries.

Only the fields below can be corrected by name: the facts a later rule or deadline depends on
(a meeting's time, a consent's dates, a follow-up date). Anything else is corrected in words, in
the correction's free text, as before. Correcting a date a deadline was computed from recomputes
that deadline, and the recomputed deadline is recorded in the correction's event
(``EntryCorrected.deadlines``) as every other event records its deadlines, so a replay never
recomputes anything.

This module names no aggregate: SipCase (domain/case.py) gives it the corrected entry as the
ledger read it from the log (``Entry``) and the state it needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from ..errors import InvalidInput, RuleViolation
from ..limits import Day, Instant, Place

if TYPE_CHECKING:
    from ..commands import FieldChange


class ValueKind(StrEnum):
    """The type of a correctable field's value; a new value is given as text in that form."""

    DAY = "day"  # YYYY-MM-DD
    INSTANT = "instant"  # ISO 8601; without an offset Swedish local time
    PLACE = "place"  # one line of text


# Per event type, the fields a correction may name and their types. The field names are the
# command's (``ConveneMeeting.meeting_at``), so a caller corrects what it once sent.
CORRECTABLE: dict[str, dict[str, ValueKind]] = {
    "MeetingConvened": {"meeting_at": ValueKind.INSTANT, "place": ValueKind.PLACE},
    "ConsentRecorded": {"valid_from": ValueKind.DAY, "valid_until": ValueKind.DAY},
    "PlanEstablished": {"follow_up_date": ValueKind.DAY},
    "PlanRevised": {"follow_up_date": ValueKind.DAY},
    "FollowUpRecorded": {"held_on": ValueKind.DAY, "next_follow_up_date": ValueKind.DAY},
}

# The correctable fields whose values are personal data (R35): the meeting's place is the
# individual's (it may be their home). The ledger seals a change's values for these
# (domain/personal.py); dates and instants are process facts and stay in clear, so the history
# and the public feed can show them.
PERSONAL_CORRECTABLE: frozenset[str] = frozenset({"place"})

# Where a correctable field lives in the case's state, where its name there differs.
STATE_ATTRIBUTE: dict[str, str] = {"meeting_at": "at"}

# A new value is checked as the command field it corrects would check it (domain/limits.py).
_ADAPTERS: dict[ValueKind, TypeAdapter[Any]] = {
    ValueKind.DAY: TypeAdapter(Day),
    ValueKind.INSTANT: TypeAdapter(Instant),
    ValueKind.PLACE: TypeAdapter(Place),
}
_FORMS = {
    ValueKind.DAY: "a day (YYYY-MM-DD)",
    ValueKind.INSTANT: "an ISO 8601 instant",
    ValueKind.PLACE: "one line of text",
}


def correctable_fields_text() -> str:
    """The table in words, for the command's description in the OpenAPI document."""
    return "; ".join(
        f"{event_type}: " + ", ".join(f"`{name}` ({kind.value})" for name, kind in fields.items())
        for event_type, fields in CORRECTABLE.items()
    )


# ---------------------------------------------------------------------- the corrected entry


@dataclass(frozen=True)
class Entry:
    """An entry of the case as the ledger read it from the log: its version, its event type
    (``MeetingConvened``) and its attributes as the domain decodes them."""

    version: int
    type: str
    values: Mapping[str, Any]


# How a case finds one of its own entries by version (None: it has no such entry).
Entries = Callable[[int], "Entry | None"]


def entry_of(event: object) -> Entry:
    """The entry of a domain event of a case (the library's event object)."""
    values = dict(vars(event))
    return Entry(version=int(values["originator_version"]), type=type(event).__name__,
                 values=values)


def item_of(entry: Entry) -> int:
    """The number of what the entry recorded, as the case numbers it: the meeting's, the
    consent's, the plan revision's, or the follow-up's (1, 2, … in the order recorded)."""
    values = entry.values
    if entry.type == "MeetingConvened":
        return int(values["meeting"].number)
    if entry.type == "ConsentRecorded":
        return int(values["consent"].number)
    if entry.type in ("PlanEstablished", "PlanRevised"):
        return int(values["revision"].revision)
    if entry.type == "FollowUpRecorded":
        # A follow-up books the next one as "follow_up:N" (SipCase.record_follow_up numbers them
        # from 2, the plan's own being 1), so it is follow-up N - 1.
        [key] = [d.key for d in values["deadlines"] if d.key.startswith("follow_up:")]
        return int(key.partition(":")[2]) - 1
    raise ValueError(f"{entry.type} has no correctable fields")


# ---------------------------------------------------------------------- the changes


@dataclass(frozen=True)
class CheckedChange:
    """One change of a command, checked: where it stands in the command, the field, its kind
    and the new value as stored (normalised text) and as a value."""

    index: int
    field: str
    kind: ValueKind
    text: str
    value: date | datetime | str

    @property
    def where(self) -> str:
        return f"changes[{self.index}].new_value"


def check_changes(entry: Entry, changes: Sequence[FieldChange]) -> list[CheckedChange]:
    """The command's changes of ``entry``, each naming a field the entry's type has, once, with a
    value of the field's type. Refused naming ``changes[i].field`` or ``changes[i].new_value``
    and R32; a refusal never repeats a value (it may be personal data, R35)."""
    fields = CORRECTABLE.get(entry.type, {})
    checked: list[CheckedChange] = []
    for i, change in enumerate(changes):
        kind = fields.get(change.field)
        if kind is None:
            known = ", ".join(fields) or "none: correct it in words (correction)"
            raise InvalidInput(
                f"entry {entry.version} ({entry.type}) has no correctable field by that name; "
                f"its correctable fields: {known}",
                field=f"changes[{i}].field",
                rule="R32",
            )
        if any(c.field == change.field for c in checked):
            raise InvalidInput(
                f"the field {change.field} is named twice", field=f"changes[{i}].field", rule="R32"
            )
        try:
            value = _ADAPTERS[kind].validate_python(change.new_value)
        except ValidationError as error:
            # pydantic's message says what is wrong without the value.
            reason = error.errors()[0]["msg"]
            raise InvalidInput(
                f"{change.field} takes {_FORMS[kind]}: {reason}",
                field=f"changes[{i}].new_value",
                rule="R32",
            ) from None
        checked.append(CheckedChange(i, change.field, kind, _as_text(value), value))
    return checked


# A value as text exactly as the stored events write it (pydantic's JSON: UTC as "Z"), so a
# corrected instant reads like one recorded in the first place.
_INSTANT_JSON: TypeAdapter[datetime] = TypeAdapter(datetime)
_DAY_JSON: TypeAdapter[date] = TypeAdapter(date)


def _as_text(value: date | datetime | str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return str(_INSTANT_JSON.dump_python(value, mode="json"))
    return str(_DAY_JSON.dump_python(value, mode="json"))


def stored_value(kind: ValueKind, text: str) -> date | datetime | str:
    """A change's value as stored (text the check above normalised) as the field's type. Replay
    runs this, so it only converts; a personal value may be an erasure's marker by then."""
    if kind is ValueKind.DAY:
        return date.fromisoformat(text)
    if kind is ValueKind.INSTANT:
        return datetime.fromisoformat(text)
    return text


def as_text(value: date | datetime | str | None) -> str | None:
    """A field's current value as a change records it (the old value)."""
    return None if value is None else _as_text(value)


# ---------------------------------------------------------------------- applying to state

M = TypeVar("M", bound=BaseModel)


def with_changes(entry_type: str, current: M, values: Mapping[str, Any]) -> M:
    """``current`` (the meeting, consent, plan revision or follow-up of the case) with the
    corrected fields set to ``values`` (by field name, typed)."""
    if entry_type in ("PlanEstablished", "PlanRevised"):
        # The plan's follow-up date lives in its content (domain.commands.PlanContent).
        revision: Any = current  # a domain.plan.PlanRevision
        content = revision.content.model_copy(update=dict(values))
        return current.model_copy(update={"content": content})
    return current.model_copy(update={STATE_ATTRIBUTE.get(k, k): v for k, v in values.items()})


def kind_of(entry_type: str | None, field: str) -> ValueKind:
    """The kind of a recorded change's field (for replay; the table only grows)."""
    return CORRECTABLE.get(entry_type or "", {}).get(field, ValueKind.PLACE)


# ---------------------------------------------------------------------- the corrected entry's own
# rules: a correction cannot make an entry the rules would have refused.


def check_meeting_day(meeting_on: date, invited_on: date, where: str) -> None:
    if meeting_on < invited_on:
        raise InvalidInput(
            f"the meeting cannot be before the invitation ({invited_on.isoformat()})",
            field=where,
            rule="R32",
        )


def check_consent_dates(valid_from: date, valid_until: date, where: str) -> None:
    if valid_until < valid_from:
        raise InvalidInput(
            "the consent's valid_until would be before its valid_from", field=where, rule="R12"
        )


def check_plan_follow_up(follow_up_date: date, decided_on: date, where: str) -> None:
    if follow_up_date <= decided_on:
        raise InvalidInput(
            f"the follow-up date must come after the plan was decided ({decided_on.isoformat()})",
            field=where,
            rule="R19",
        )


def check_follow_up(held_on: date, next_follow_up_date: date, today: date, where: str) -> None:
    if held_on > today:
        raise InvalidInput("a follow-up is recorded once held", field=where, rule="R29")
    if next_follow_up_date <= held_on:
        raise InvalidInput(
            "the next follow-up is booked after the one held", field=where, rule="R29"
        )


def check_entry_has_fields(entry: Entry | None, version: int) -> Entry:
    """The entry a correction of fields names: one of this case's (refused naming R32)."""
    if entry is None:
        raise RuleViolation(
            f"the case has no entry {version} whose fields could be corrected",
            field="corrects_version",
            rule="R32",
        )
    return entry
