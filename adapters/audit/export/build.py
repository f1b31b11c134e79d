"""Building the audit copy of a case (``export_case``).

What the copy holds (``export_case``; ``render.render_html`` is the same for a reader):

- every event of the case in order (up to ``--as-of`` if given): position in the log
  (notification id), version, type, recorded and occurred times, the day (``on``), the actor
  (person id and name, organisation id and kind, unit, role), the command id, the history's
  one-line summary, the decoded event, and the **stored bytes** (base64) with the topic;
- corrections linked both ways (R32): an ``EntryCorrected`` names the version it corrects and
  links to it (``corrects``), and a corrected event lists what corrected it (``corrected_by``),
  as anchors ``#v<version>`` in the HTML;
- the case as it stood at the instant: replayed by the library's repository up to the version
  the history's index gives for that instant (``projections.history.version_at``), shown in
  the service's full view (``projections.replayed.record_of`` and
  ``projections.access.full_view``, so the copy and ``GET /cases/{id}/as-of`` agree);
- the read-access log rows for the case (R33), up to the instant if given;
- the hash chain: each event's chain hash and the hash before it, the signed checkpoint nearest
  at or after the case's last exported event, the checkpoint's public key, and the hashes in
  between (below). The export itself is written to the access log (action ``audit_export``,
  role ``auditor``) before it is shown.

Personal data: the copy holds it (it is for an auditor). The command writes it only to stdout or
the ``--output`` file; its log lines name the case id and counts, never personal data.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any, Protocol
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from eventsourcing.postgres import PostgresDatastore
from psycopg import Cursor
from psycopg.sql import SQL

from domain.clock import STOCKHOLM, utc_now
from domain.errors import CaseNotFound, InvalidInput
from domain.ledger import SipLedger
from domain.personal import Sealer
from projections.access import full_view
from projections.events import CaseEvent, decode, unwrap
from projections.history import summarise, version_at
from projections.personal import unseal
from projections.replayed import record_of
from projections.storage import EVENTS_TABLE, qualified

from .document import FORMAT, EventEntry, EventHash, Export, StoredEvent
from .proof import MAX_SEGMENT, chain_section, table_exists

EXPORT_ACTION = "audit_export"


class CaseAccessLog(Protocol):
    """The read-access log as the export reads it (``adapters.store.access_log.AccessLog``):
    named by what it does, so the audit trail does not import the store (the store's recorder
    imports the chain, ``adapters.audit.chain``)."""

    def all_for_case(
        self, case_id: UUID, until: datetime | None = None
    ) -> Sequence[Mapping[str, object]]: ...  # rows of the log: document.AccessRow once JSON


def export_case(
    ledger: SipLedger,
    datastore: PostgresDatastore,
    access_log: CaseAccessLog,
    case_id: UUID,
    as_of: datetime | None = None,
    *,
    public_keys: Mapping[str, Ed25519PublicKey] | None = None,
    max_segment: int = MAX_SEGMENT,
) -> Export:
    """The case's history for an auditor, as a JSON-ready dict (see the module's docstring).

    The read models should be current (the CLI runs the read-model runner first): the history's
    index gives the version at ``as_of``. ``public_keys`` (by key id, as
    ``checkpoints.trusted_public_keys`` gives them) put the checkpoint's public key in the copy
    when its key is among them. Raises CaseNotFound for an unknown case, and
    InvalidInput (field ``as_of``) when the case was not yet recorded at ``as_of``.
    """
    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=STOCKHOLM)
    exported_at = utc_now()
    schema = datastore.schema or "public"
    with datastore.transaction(commit=False) as curs:
        stored = _stored_events(curs, schema, case_id)
        if not stored:
            raise CaseNotFound(case_id)
        decoded = [decode(*row) for row in stored]
        events = [e for e in decoded if e is not None]
        if as_of is not None:
            version = _version_at(curs, schema, case_id, as_of, events)
            if version is None:
                raise InvalidInput(
                    f"case {case_id} was not yet recorded at {as_of.isoformat()}", field="as_of"
                )
        else:
            version = events[-1].version
        kept = [(row, e) for row, e in zip(stored, decoded, strict=True)
                if e is not None and e.version <= version]
        chain = chain_section(curs, schema, [row for row, _ in kept], max_segment,
                               public_keys or {})
    case = ledger.get_case(case_id, version=version)
    until = as_of + timedelta(microseconds=1) if as_of is not None else None
    access_rows = access_log.all_for_case(case_id, until)

    hashes = {h["notification_id"]: h for h in chain.pop("_per_event", [])}
    entries = [_event_entry(row, e, hashes.get(row[0]), ledger.keys) for row, e in kept]
    _link_corrections(entries)
    copy: Export = {
        "format": FORMAT,
        "case_id": str(case_id),
        "exported_at": exported_at.isoformat(),
        "as_of": None if as_of is None else as_of.isoformat(),
        "version": version,
        "event_count": len(entries),
        "events": entries,
        "corrections": [
            {"version": e["version"], "notification_id": e["notification_id"],
             **e["corrects"], "anchor": f"#v{e['version']}"}
            for e in entries if "corrects" in e
        ],
        "state": full_view(record_of(case)),
        # The rows as the store gives them: their instants and ids written as text.
        "access_log": [_jsonable(row) for row in access_rows],
        "chain": chain,
    }
    return copy


def _stored_events(curs: Cursor[Any], schema: str, case_id: UUID) -> list[StoredEvent]:
    """The case's events as stored: (notification id, case id, version, topic, state)."""
    curs.execute(
        SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
            "WHERE originator_id = %s ORDER BY originator_version"
        ).format(qualified(schema, EVENTS_TABLE)),
        (case_id,),
    )
    return [
        (row["notification_id"], row["originator_id"], row["originator_version"], row["topic"],
         bytes(row["state"]))
        for row in curs.fetchall()
    ]


def _version_at(
    curs: Cursor[Any], schema: str, case_id: UUID, as_of: datetime, events: list[CaseEvent]
) -> int | None:
    """The version recorded by ``as_of``: from the history's index, as ``case_as_of`` finds it;
    from the events' own timestamps if the history has not yet seen the case's last event."""
    if table_exists(curs, schema, "rm_case_history"):
        curs.execute(
            SQL("SELECT max(version) AS version FROM {} WHERE case_id = %s").format(
                qualified(schema, "rm_case_history")),
            (case_id,),
        )
        row = curs.fetchone()
        if row is not None and row["version"] == events[-1].version:
            return version_at(curs, schema, case_id, as_of)
    recorded = [e.version for e in events if datetime.fromisoformat(e.recorded_at) <= as_of]
    return max(recorded) if recorded else None


def _occurred_at(e: CaseEvent) -> str | None:
    value = e.occurred_at
    if value is None:
        return None
    instant = datetime.fromisoformat(value)
    return value if instant.tzinfo else instant.replace(tzinfo=STOCKHOLM).isoformat()


def _event_entry(row: StoredEvent, e: CaseEvent, hashes: EventHash | None,
                 keys: Sealer | None) -> EventEntry:
    notification_id, _, version, topic, state = row
    actor = e.actor
    org = actor["organisation"]
    # The event as stored, without the transcoder's type wrappers and with its personal data
    # opened (or the marker of its erasure); the exact bytes, sealed, are in state_b64, which
    # the hash chain covers. Its recording time is recorded_at.
    data = {k: _plain(unseal(v, keys)) for k, v in e.data.items() if k != "timestamp"}
    entry: EventEntry = {
        "anchor": f"v{version}",
        "notification_id": notification_id,
        "version": version,
        "type": e.type,
        "recorded_at": e.recorded_at,
        "occurred_at": _occurred_at(e),
        "on": e.on,
        "actor": {
            "person_id": actor["person_id"],
            "name": actor["name"],
            "organisation_id": org["id"],
            "organisation_kind": org["kind"],
            "organisation_name": org.get("name", ""),
            "unit": actor.get("unit", ""),
            "role": actor.get("role", ""),
        },
        "command_id": unwrap(e.data.get("command_id")),
        "summary": summarise(e),
        "data": data,
        "topic": topic,
        "state_b64": base64.b64encode(state).decode("ascii"),
        "previous_notification_id": hashes["previous_notification_id"] if hashes else None,
        "previous_hash": hashes["previous_hash"] if hashes else None,
        "hash": hashes["hash"] if hashes else None,
        "corrected_by": [],
    }
    if e.type == "EntryCorrected":
        correction = unseal(unwrap(e.data["correction"]), keys)
        entry["corrects"] = {
            "corrects_version": correction["corrects_version"],
            "reason": correction.get("reason", ""),
            "correction": correction.get("correction", ""),
        }
    return entry


def _plain(value: Any) -> Any:
    value = unwrap(value)
    if type(value) is dict:
        return {k: _plain(v) for k, v in value.items()}
    if type(value) is list:
        return [_plain(v) for v in value]
    return value


def _link_corrections(entries: list[EventEntry]) -> None:
    """R32: a correction links to the entry it corrects, and the entry to its corrections."""
    by_version = {e["version"]: e for e in entries}
    for e in entries:
        corrects = e.get("corrects")
        if not corrects:
            continue
        target = by_version.get(corrects["corrects_version"])
        corrects["anchor"] = f"#v{corrects['corrects_version']}"
        corrects["notification_id"] = target["notification_id"] if target else None
        corrects["corrected_type"] = target["type"] if target else None
        if target is not None:
            target["corrected_by"].append({
                "version": e["version"], "notification_id": e["notification_id"],
                "anchor": f"#v{e['version']}", "reason": corrects["reason"],
            })


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Enum):
        return value.value
    return value
