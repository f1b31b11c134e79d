"""The audit copy as a document: its format's name and its JSON shape, shared by the modules that
build, check and render it.

``Export`` is the copy as ``build.export_case`` makes it: plain JSON (instants and days as ISO
strings, ids as text), ready to render. A copy read back from a file is another matter: it is
checked (``check.verify_export``) as JSON of unknown shape, since proving it is the point.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict
from uuid import UUID

from adapters.audit.checkpoints import CheckpointJSON
from projections.access import FullView
from projections.events import JSONObject

FORMAT = "sip-ledger/case-export/1"

# An event as stored: (notification id, case id, version, topic, the stored bytes).
StoredEvent = tuple[int, UUID, int, str, bytes]


# ------------------------------------------------------------------------ the events


class EventActor(TypedDict):
    person_id: str
    name: str
    organisation_id: str
    organisation_kind: str
    organisation_name: str
    unit: str
    role: str


class Corrects(TypedDict):
    """On an ``EntryCorrected``: the entry it corrects (R32); the links are added once every
    entry is built."""

    corrects_version: int
    reason: str
    correction: str
    anchor: NotRequired[str]  # "#v<version>"
    notification_id: NotRequired[int | None]  # None: the corrected version is not in the copy
    corrected_type: NotRequired[str | None]


class CorrectedBy(TypedDict):
    """On a corrected entry: one correction of it."""

    version: int
    notification_id: int
    anchor: str
    reason: str


class EventEntry(TypedDict):
    anchor: str  # "v<version>"
    notification_id: int
    version: int
    type: str
    recorded_at: str
    occurred_at: str | None
    on: str
    actor: EventActor
    command_id: str
    summary: str
    # The event as stored, the transcoder's wrappers taken off: its attributes depend on its
    # type (domain/case.py), so it stays JSON by key, as the read side reads it.
    data: JSONObject
    topic: str
    state_b64: str  # the stored bytes
    previous_notification_id: int | None
    previous_hash: str | None
    hash: str | None
    corrected_by: list[CorrectedBy]
    corrects: NotRequired[Corrects]


class Correction(TypedDict):
    """The copy's list of corrections: a correcting entry's ``Corrects`` with where it is."""

    version: int
    notification_id: int | None  # the corrected entry's, as in ``Corrects``
    corrects_version: int
    reason: str
    correction: str
    anchor: str
    corrected_type: NotRequired[str | None]


# ------------------------------------------------------------------------ the hash chain


class ChainMethod(TypedDict):
    """How a hash is computed (proof.chain_method), so a verifier needs no code of ours."""

    hash: str
    genesis: str
    canonical: str
    event_fields: dict[str, str]
    order: str
    checkpoint_signature: str


class EventHash(TypedDict):
    """An exported event's place in the chain; all None when it has no chain row."""

    notification_id: int
    hash: str | None
    previous_notification_id: int | None
    previous_hash: str | None


class Run(TypedDict):
    """Exported events that are neighbours in the log: first and last position, how many."""

    first: int
    last: int
    events: int


class ExportCheckpoint(CheckpointJSON):
    signed_message: str  # the exact text the signature is over
    public_key_note: NotRequired[str]  # when the key that signed it is not known here


# "from" is a keyword: the functional form.
Segment = TypedDict("Segment", {
    "from": int,
    "to": int,
    "events_in_log": int,
    "complete": bool,  # every position between, or only those the checks need
    "hashes": list[list[int | str | None]],  # [notification id, hash (hex)] in log order
})


class ChainSection(TypedDict):
    available: bool
    method: ChainMethod
    events_chained: NotRequired[int]
    events_not_chained: NotRequired[list[int]]
    runs: list[Run]
    checkpoint: ExportCheckpoint | None
    segment: Segment | None
    note: NotRequired[str]  # why a check is left out
    # Each exported event's hashes, taken out into the event entries while the copy is built.
    _per_event: NotRequired[list[EventHash]]


# ------------------------------------------------------------------------ the copy


class AccessRow(TypedDict):
    """A row of the read-access log (R33; adapters/store/access_log.py), as JSON."""

    id: int
    at: str
    person_id: str
    organisation_id: str
    organisation_kind: str
    unit: str
    role: str
    action: str
    case_id: str | None
    individual_key: str | None
    view: str | None
    outcome: str
    reason: str
    request_id: str | None


class ExportedBy(TypedDict):
    """Who exported it, as the access log records the export (``sip-ledger audit case``)."""

    person_id: str
    organisation_id: str
    organisation_kind: str
    unit: str
    role: str


class Export(TypedDict):
    format: str  # FORMAT
    case_id: str
    exported_at: str
    as_of: str | None
    version: int
    event_count: int
    events: list[EventEntry]
    corrections: list[Correction]
    state: FullView  # the service's full view of the case as of the instant
    access_log: list[AccessRow]
    chain: ChainSection
    # Added by the command once the export is logged (R33), before it is shown.
    access_log_id: NotRequired[int]
    exported_by: NotRequired[ExportedBy]


# A copy to check, read from anywhere: JSON of unknown shape until the checks have read it
# (a built ``Export`` is one), so it is read by key, defensively.
CopyToCheck = Mapping[str, Any]
