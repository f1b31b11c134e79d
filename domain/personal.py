"""Personal data, sealed per data subject (R34, R35): which values are personal, whose they are.

A case's personal data belongs to its data subjects: ``individual`` (the person the plan is for:
the personal identity number, the name, and every piece of free text about the case — wishes,
plan text, notes, comments, what happened at a follow-up, the meeting's place) and one subject per
other named private person (a guardian, an administrator, a relative, a trustee…), whose subject
id is ``person:`` and a keyed hash of the name under the individual's own data key, so that the
id says nothing once that key is destroyed. Each subject's values are encrypted under a data key
of its own (``Sealer``, implemented by the key store in adapters/store/keys.py); destroying the
keys erases the data everywhere it was stored (crypto-shredding) while the events, and the hash
chain over them, stay as they were.

What stays in clear, and why:
- **staff** — who recorded what, who received an oral consent, an invited organisation's
  representative: accountability data (R32), kept with the record as long as the record is kept;
- **process facts** — days, instants, organisations, deadlines, stages, ids, roles, counts: the
  dashboards and the public feed run on them without keys, and they identify nobody without the
  personal data.

This module says only *which* values are personal and whose; the mapper and the transcodings
(domain/transcodings.py) seal them on the way into the store through the ``Sealer``, and a read
opens them again — or finds the marker of their erasure.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol
from uuid import UUID

from pydantic import BaseModel

from .errors import SipError
from .rules.correction import PERSONAL_CORRECTABLE

INDIVIDUAL = "individual"

# What a reader sees in place of a value whose data key was destroyed by a recorded erasure.
ERASED_MARKER = "uppgifter gallrade {on}, beslut {decision}"

# The transcoding name of a sealed value in the stored JSON: {"_type_": "sealed", "_data_":
# {"k": key id, "s": subject id, "n": base64 of nonce and ciphertext}}.
SEALED = "sealed"

# A sealed value's envelope as stored: key id, subject id, base64 of nonce and ciphertext.
Envelope = dict[str, str]


def erased_marker(on: date, decision: str) -> str:
    return ERASED_MARKER.format(on=on.isoformat(), decision=decision)


_MARKER = re.compile(r"^uppgifter gallrade \d{4}-\d{2}-\d{2}, beslut ")


def is_erased(value: object) -> bool:
    """Whether ``value`` is an erasure's marker. An ``Erased`` string is one; so is a domain
    value that held the marker through a pydantic model (which keeps plain ``str``)."""
    return isinstance(value, Erased) or (isinstance(value, str) and bool(_MARKER.match(value)))


@dataclass(frozen=True)
class Erasure:
    """A recorded erasure, as the key store keeps it in place of a destroyed key."""

    on: date
    decision: str

    @property
    def marker(self) -> str:
        return erased_marker(self.on, self.decision)


class Erased(str):
    """The marker that a read gives in place of an erased value: a string, so every model and
    view that held the value holds the marker instead, and a test can tell it from any text."""

    __slots__ = ()


class MissingDataKey(SipError):
    """A sealed value whose data key is gone although no erasure was recorded: the key store and
    the event store disagree (a key store restored from an older backup, a key deleted by hand).
    Named by case and subject id, never by personal data."""

    def __init__(self, case_id: UUID | None, subject: str) -> None:
        where = f"case {case_id}" if case_id else "a case"
        super().__init__(
            f"the data key of subject {subject} of {where} is missing and no erasure is recorded",
            field="case_id",
            rule="R34",
        )
        self.case_id = case_id
        self.subject = subject


class DataKeyUnreadable(MissingDataKey):
    """A data key this process's key-encryption key cannot unwrap: the KEK was rotated by
    another process (``sip-ledger keys rotate``) and this one still runs with the old one."""

    def __init__(self, case_id: UUID | None, subject: str) -> None:
        super().__init__(case_id, subject)
        where = f"case {case_id}" if case_id else "a case"
        self.message = (
            f"the data key of subject {subject} of {where} cannot be opened with this process's "
            "key-encryption key (rotated since it started?): restart it with the current "
            "SIP_KEK_FILE"
        )


class Sealer(Protocol):
    """What the ledger needs from a key store: seal a value under a subject's data key, open one,
    and erase a case's subjects. Implemented by adapters/store/keys.py (AES-GCM data keys,
    wrapped by a key-encryption key, in a database apart from the event store)."""

    def seal(self, case_id: UUID, subject: str, plaintext: bytes) -> Envelope: ...

    def open(self, envelope: Envelope) -> bytes | Erasure: ...

    def person_subject(self, case_id: UUID, name: str) -> str: ...

    def live_subjects(self, case_id: UUID) -> list[str]: ...

    def has_live_keys(self, case_id: UUID) -> bool: ...

    def destroy_case(self, case_id: UUID, erased_on: date, decision: str) -> int: ...

    def erasure_of(self, case_id: UUID) -> Erasure | None: ...


# ---------------------------------------------------------------------- what is sealed, and whose

# The case whose values are being encoded, set by the ledger's mapper around one event: a nested
# value (a guardian inside the individual) knows its subject, not its case.
_case: contextvars.ContextVar[UUID | None] = contextvars.ContextVar("sip_case", default=None)


@contextmanager
def sealing_case(case_id: UUID | None) -> Iterator[None]:
    token = _case.set(case_id)
    try:
        yield
    finally:
        _case.reset(token)


def current_case() -> UUID | None:
    return _case.get()


@dataclass(frozen=True, slots=True)
class Sealed:
    """A value on its way into the store, to be sealed under ``subject``'s data key of
    ``case_id`` by the ``sealed`` transcoding (domain/transcodings.py)."""

    case_id: UUID
    subject: str
    value: Any


# Whose a value is: the individual's, a named person's (by name, so the same person has the same
# key in every event of the case), or nobody's (staff, organisations: stays in clear).
Whose = Callable[[Any, Any], "str | tuple[str, str] | None"]


def _individual(_: Any, __: Any) -> str:
    return INDIVIDUAL


def _person_named(name: Any) -> tuple[str, str]:
    return ("person", str(name))


# Private-person participant roles (domain/commands.py ParticipantRole): their names are a
# person's own; an organisation's representative is staff.
_PRIVATE_ROLES = frozenset({"relative", "trustee", "personal_representative", "support_person",
                            "guardian", "administrator"})


def _by_role(role: str, name: Any) -> str | tuple[str, str] | None:
    if role == INDIVIDUAL:
        return INDIVIDUAL
    if role in _PRIVATE_ROLES:
        return _person_named(name)
    return None  # an organisation's representative, or staff


def _participant(model: Any, _: Any) -> str | tuple[str, str] | None:
    return _by_role(str(model.role), model.name)


def _consent_giver(model: Any, _: Any) -> str | tuple[str, str] | None:
    return _by_role(str(model.role), model.name)


def _person(model: Any, _: Any) -> tuple[str, str]:
    return _person_named(model.name)


def _responsible(model: Any, _: Any) -> str | None:
    # A named "other" responsible may be a relative or the individual: theirs, sealed as the
    # individual's; the principals' own entries carry no name worth keeping apart.
    return INDIVIDUAL if model.name else None


def _field_change(model: Any, _: Any) -> str | None:
    # A corrected field's values are personal when the field is (the correction rules' table).
    return INDIVIDUAL if model.field in PERSONAL_CORRECTABLE else None


# Per model (by class name, as stored) the fields that hold personal data and whose they are.
# A field holding a tuple of strings is sealed element by element. Nested models are walked.
PERSONAL_FIELDS: dict[str, dict[str, Whose]] = {
    "Individual": {"personal_identity_number": _individual, "name": _individual},
    "Person": {"name": _person, "personal_identity_number": _person},
    "ConsentGiver": {"name": _consent_giver},
    "Participant": {"name": _participant},
    "Wishes": {
        "place": _individual, "time_of_day": _individual, "disturbances": _individual,
        "environment": _individual, "support": _individual, "interpreter_language": _individual,
    },
    "Invitation": {"reason": _individual, "expectation": _individual},
    "Goal": {"description": _individual, "measure": _individual},
    "Intervention": {"description": _individual},
    "Responsible": {"name": _responsible},
    "PlanContent": {"needs": _individual, "coordination": _individual},
    "Consent": {"approved_persons": _individual},
    "Meeting": {"place": _individual},
    "FollowUp": {"what_happened": _individual, "what_remains": _individual,
                 "new_needs": _individual},
    "Closure": {"note": _individual},
    "Correction": {"reason": _individual, "correction": _individual},
    # A correction's change as stored (domain/case_state.py): both values, of a personal field.
    "CorrectedField": {"old_value": _field_change, "new_value": _field_change},
    "LegalHold": {"reason": _individual},
}


def _private_key_role(key: str) -> str | tuple[str, str] | None:
    """The subject of a participant key: an organisation's id is no one's; ``role:name``."""
    role, sep, name = key.partition(":")
    if not sep:
        return None
    return _by_role(role, name)


# Attributes of an event that hold personal data directly (not inside a model), by event class
# name, with whose they are given the event's attributes.
PERSONAL_ATTRIBUTES: dict[str, dict[str, Callable[[dict[str, Any]], Any]]] = {
    # The groups for which a plan is presumed needed (R07) name health conditions (a psychiatric
    # diagnosis, substance abuse): health data about the individual (GDPR art. 9).
    "SipProposed": {"presumed_need_groups": lambda e: INDIVIDUAL},
    "SipDeclined": {"note": lambda e: INDIVIDUAL},
    "ConsentWithdrawn": {"note": lambda e: INDIVIDUAL},
    "ReplyRecorded": {
        "participant_key": lambda e: _private_key_role(e["participant_key"]),
        "comment": lambda e: INDIVIDUAL,
    },
    "PlanCopyIssued": {
        "recipient_name": lambda e: _by_role(str(e["recipient_role"]), e["recipient_name"]),
    },
    "LegalHoldPlaced": {"reason": lambda e: INDIVIDUAL},
    "LegalHoldLifted": {"reason": lambda e: INDIVIDUAL},
}


def seal_model(model: BaseModel, dumped: dict[str, Any], sealer: Sealer) -> dict[str, Any]:
    """``dumped`` (the model's JSON) with its personal values, and those of the models inside it,
    replaced by ``Sealed`` values — when a case is being encoded; as it is otherwise."""
    case_id = _case.get()
    if case_id is None:
        return dumped
    return _seal_walk(model, dumped, case_id, sealer)


def _seal_walk(model: BaseModel, dumped: dict[str, Any], case_id: UUID,
               sealer: Sealer) -> dict[str, Any]:
    rules = PERSONAL_FIELDS.get(type(model).__name__, {})
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            dumped[name] = _seal_walk(value, dumped[name], case_id, sealer)
        elif isinstance(value, tuple) and value and isinstance(value[0], BaseModel):
            dumped[name] = [
                _seal_walk(item, part, case_id, sealer)
                for item, part in zip(value, dumped[name], strict=True)
            ]
        elif name in rules and value is not None:
            whose = rules[name](model, value)
            if whose is not None:
                dumped[name] = seal_value(case_id, whose, dumped[name], sealer)
    return dumped


def subject_of(case_id: UUID, whose: str | tuple[str, str], sealer: Sealer) -> str:
    if isinstance(whose, tuple):
        return sealer.person_subject(case_id, whose[1])
    return whose


def seal_value(case_id: UUID, whose: str | tuple[str, str], value: Any, sealer: Sealer) -> Any:
    """``value`` as Sealed (a list of strings element by element, so each becomes a marker of its
    own after erasure and the list keeps its shape)."""
    subject = subject_of(case_id, whose, sealer)
    if isinstance(value, (list, tuple)):
        return [Sealed(case_id, subject, item) for item in value]
    if value == "":
        return value  # nothing to hide; keeps empty optional text cheap
    return Sealed(case_id, subject, value)


def seal_attributes(topic_name: str, state: dict[str, Any], case_id: UUID,
                    sealer: Sealer) -> None:
    """Seal an event's own personal attributes in place (before the transcoder encodes it)."""
    rules = PERSONAL_ATTRIBUTES.get(topic_name)
    if not rules:
        return
    for name, whose_of in rules.items():
        value = state.get(name)
        if value is None:
            continue
        whose = whose_of(state)
        if whose is not None:
            state[name] = seal_value(case_id, whose, value, sealer)
