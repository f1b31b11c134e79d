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
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    JSONTranscoder,
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    Transcoder,
    Transcoding,
)
from eventsourcing.utils import get_topic
from pydantic import BaseModel

from . import case_state, commands, consent, deadlines, parties, plan, retention
from .limits import STORED
from .personal import (
    INDIVIDUAL,
    SEALED,
    Erased,
    Erasure,
    MissingDataKey,
    Sealed,
    Sealer,
    seal_attributes,
    seal_model,
    sealing_case,
)


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class PydanticAsDict(Transcoding):
    """A pydantic value as its JSON; with a ``sealer``, its personal fields (domain/personal.py)
    sealed while a case's event is encoded."""

    def __init__(self, model: type[BaseModel], sealer: Sealer | None = None):
        self.type = model
        self.name = model.__name__
        self.model = model
        self.sealer = sealer

    # The model's JSON as stored: its shape is the model's, any model's, so it stays free-form.
    def encode(self, obj: BaseModel) -> dict[str, Any]:
        dumped = obj.model_dump(mode="json")
        if self.sealer is None:
            return dumped
        return seal_model(obj, dumped, self.sealer)

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
    retention.LegalHold,
    retention.ErasureState,
)


class SealedValue(Transcoding):
    """A personal value under its subject's data key (domain/personal.py): the plaintext is the
    transcoder's own JSON of the value, so any registered type can be sealed and comes back as
    itself. A value whose key was destroyed by a recorded erasure comes back as the ``Erased``
    marker (a string) — also for events recorded before the erasure."""

    type = Sealed
    name = SEALED

    def __init__(self, transcoder: JSONTranscoder, sealer: Sealer):
        self.transcoder = transcoder
        self.sealer = sealer

    # The envelope: key id, subject id, base64 of nonce and ciphertext (adapters/store/keys.py).
    def encode(self, obj: Sealed) -> dict[str, str]:
        return self.sealer.seal(obj.case_id, obj.subject, self.transcoder.encode(obj.value))

    def decode(self, data: dict[str, str]) -> Any:
        opened = self.sealer.open(data)
        if isinstance(opened, Erasure):
            return Erased(opened.marker)
        return self.transcoder.decode(opened)


def register_sip_transcodings(transcoder: JSONTranscoder, sealer: Sealer | None = None) -> None:
    """The ledger's value types; with a ``sealer``, personal values are sealed (and opened)."""
    transcoder.register(DateAsISO())
    for model in STORED_MODELS:
        transcoder.register(PydanticAsDict(model, sealer))
    if sealer is not None:
        transcoder.register(SealedValue(transcoder, sealer))
    for transcoding in STORED_DATACLASSES:
        transcoder.register(transcoding)


class SealingMapper(Mapper[UUID]):
    """The library's mapper, sealing the personal data of a case's events (domain/personal.py).

    Around each event it names the case being encoded (nested values know their subject, not
    their case), seals the event's own personal attributes, and leaves the rest to the library:
    the transcoder (whose pydantic transcodings seal personal fields), the upcasters. Three kinds
    of aggregate state are stored:
    - a case's events: personal fields and attributes sealed, process facts in clear;
    - a case's snapshot: its whole state sealed as the individual's (the state's dict keys and
      tuples hold names too), so an erased case's snapshot cannot be restored and the case is
      replayed from its events instead (domain/repository.py);
    - an individual's register (R09): the case ids sealed under the individual's key of that
      case, so once the case is erased the register no longer links the person to it.
    """

    def __init__(self, transcoder: Transcoder, sealer: Sealer):
        super().__init__(transcoder)
        self.sealer = sealer

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        cls = type(domain_event)
        qualname = cls.__qualname__
        originator_id = domain_event.originator_id
        if qualname.startswith("SipCase."):
            return self._sealed(domain_event, originator_id, qualname.partition(".")[2])
        if qualname == "CaseSnapshot":
            state = dict(vars(domain_event))
            state["state"] = Sealed(originator_id, INDIVIDUAL, state["state"])
            return self._stored(cls, state)
        if qualname.startswith("IndividualCases."):
            state = dict(vars(domain_event))
            for name in ("first_case_id", "case_id"):
                if isinstance(state.get(name), UUID):
                    state[name] = Sealed(state[name], INDIVIDUAL, state[name])
            return self._stored(cls, state)
        return super().to_stored_event(domain_event)

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        """As the library's; a data key missing without an erasure is the refusal it is
        (``MissingDataKey``, R34, naming the case), not a deserialisation failure."""
        try:
            return super().to_domain_event(stored_event)
        except MapperDeserialisationError as error:
            cause = error.__cause__
            if isinstance(cause, MissingDataKey):
                case_id = cause.case_id
                if case_id is None and "SipCase" in stored_event.topic:
                    origin = stored_event.originator_id
                    case_id = origin if isinstance(origin, UUID) else UUID(str(origin))
                raise MissingDataKey(case_id, cause.subject) from None
            raise

    def _sealed(self, domain_event: Any, case_id: UUID, name: str) -> StoredEvent:
        state = dict(vars(domain_event))
        seal_attributes(name, state, case_id, self.sealer)
        with sealing_case(case_id):
            return self._stored(type(domain_event), state)

    def _stored(self, cls: type, event_state: dict[str, Any]) -> StoredEvent:
        # As the library's to_stored_event, from a state already prepared.
        originator_id = event_state.pop("originator_id")
        originator_version = event_state.pop("originator_version")
        class_version = getattr(cls, "class_version", 1)
        if class_version > 1:
            event_state["class_version"] = class_version
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=get_topic(cls),
            state=self.transcoder.encode(event_state),
        )
