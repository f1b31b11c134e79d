"""JSON transcodings for the value types stored in events.

The library's JSON transcoder matches on the exact type, so each pydantic model is registered by
name. Renaming a model would orphan stored events: the names here are part of the stored format.
The two dataclasses of SipCase's state (``DeadlineState``, ``InvitationState``) are stored only in
snapshots (see ``domain.case.CaseSnapshot``). Only class names are stored, never module paths, so a
class may move between modules (domain/case_state.py) without orphaning anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from datetime import date
from typing import Any

from eventsourcing.persistence import JSONTranscoder, Transcoding
from pydantic import BaseModel

from . import case_state, commands, consent, deadlines, parties, plan
from .limits import STORED


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class PydanticAsDict(Transcoding):
    def __init__(self, model: type[BaseModel]):
        self.type = model
        self.name = model.__name__
        self.model = model

    # The model's JSON as stored: its shape is the model's, any model's, so it stays free-form.
    def encode(self, obj: BaseModel) -> dict[str, Any]:
        return obj.model_dump(mode="json")

    def decode(self, data: dict[str, Any]) -> BaseModel:
        # Stored events load whatever limits input has today (domain/limits.py): an event an
        # older release accepted is part of the record and must replay.
        return self.model.model_validate(data, context=STORED)


class DataclassAsDict(Transcoding):
    """A dataclass of an aggregate's state, field by field (its values transcoded in turn).

    The JSON transcoder stores a StrEnum as its plain string: ``restore`` gives, per field, what
    turns the decoded value back into the field's type."""

    def __init__(self, cls: type, restore: dict[str, Callable[[Any], Any]] | None = None):
        self.type = cls
        self.name = cls.__name__
        self.cls = cls
        self.restore = restore or {}

    # Field name to value, of any dataclass: free-form by nature (the library transcodes each).
    def encode(self, obj: Any) -> dict[str, Any]:
        return {f.name: getattr(obj, f.name) for f in fields(obj)}

    def decode(self, data: dict[str, Any]) -> Any:
        for name, restore in self.restore.items():
            data[name] = restore(data[name])
        return self.cls(**data)


STORED_DATACLASSES: tuple[DataclassAsDict, ...] = (
    DataclassAsDict(case_state.DeadlineState),
    DataclassAsDict(
        case_state.InvitationState,
        restore={"reply": lambda r: None if r is None else commands.Reply(r)},
    ),
)

STORED_MODELS: tuple[type[BaseModel], ...] = (
    parties.Organisation,
    parties.Actor,
    parties.Person,
    commands.Individual,
    commands.Discharge,
    commands.ConsentGiver,
    commands.Wishes,
    commands.Participant,
    commands.Invitation,
    commands.Goal,
    commands.Responsible,
    commands.Intervention,
    commands.PlanContent,
    consent.Consent,
    deadlines.Deadline,
    plan.PlanRevision,
    case_state.Meeting,
    case_state.FollowUp,
    case_state.Closure,
    case_state.Correction,
)


def register_sip_transcodings(transcoder: JSONTranscoder) -> None:
    transcoder.register(DateAsISO())
    for model in STORED_MODELS:
        transcoder.register(PydanticAsDict(model))
    for transcoding in STORED_DATACLASSES:
        transcoder.register(transcoding)
