"""``sip-ledger audit case ID [--as-of TIME] [--format json|html]``: a case's complete history
for an auditor, in a copy that can be checked on its own as far as that is possible without
showing anyone else's data.

What the copy holds (``export_case``; ``render_html`` is the same for a reader):

- every event of the case in order (up to ``--as-of`` if given): position in the log
  (notification id), version, type, recorded and occurred times, the day (``on``), the actor
  (person id and name, organisation id and kind, unit, role), the command id, the history's
  one-line summary, the decoded event, and the **stored bytes** (base64) with the topic;
- corrections linked both ways (R32): an ``EntryCorrected`` names the version it corrects and
  links to it (``corrects``), and a corrected event lists what corrected it (``corrected_by``),
  as anchors ``#v<version>`` in the HTML;
- the case as it stood at the instant: replayed by the library's repository up to the version
  the history's index gives for that instant (``projections.history.version_at``), shown in
  the service's full view (``adapters.http.routes.queries.record_of`` and ``access.view``, so
  the copy and ``GET /cases/{id}/as-of`` agree);
- the read-access log rows for the case (R33), up to the instant if given;
- the hash chain: each event's chain hash and the hash before it, the signed checkpoint nearest
  at or after the case's last exported event, the checkpoint's public key, and the hashes in
  between (below). The export itself is written to the access log (action ``audit_export``,
  role ``auditor``) before it is shown.

The chain proof: what an outside party can check with the copy alone
---------------------------------------------------------------------

The chain (``adapters/audit/chain.py``) is global: one row per event of the whole log,
``h(n) = SHA-256(h(prev) || canonical_bytes(originator_id, originator_version, topic, state))``
with ``h(genesis) = 32 zero bytes``, where ``prev`` is the event just before ``n`` in the log,
whichever case it belongs to. A signed checkpoint (Ed25519) fixes ``h(P)`` at a position ``P``.
Between a case's events and the checkpoint lie events of other cases (and the individuals'
registers). Their bytes are other people's personal data and are **never** in the copy; so no
one holding only the copy can recompute ``h(m)`` from ``h(m-1)`` for such an event ``m``, and
with SHA-256 there is no short cut (the hash of ``prev || bytes`` needs the bytes). The design
below is the strongest that stays within that limit:

1. **Each case event is checked in full.** The copy gives, per event, the stored bytes, topic,
   case id and version, the previous hash and the event's hash. A verifier recomputes
   ``SHA-256(previous_hash || canonical_bytes(...))`` and compares it with ``hash``: any change
   to an event's content, actor, time, type or version shows. Where two of the case's events
   are neighbours in the log (nothing between them), the second's ``previous_hash`` must equal
   the first's ``hash``: that link is checked too, so a run of neighbouring events is a checked
   chain of its own (``chain.runs``).
2. **The checkpoint is checked in full.** ``chain.checkpoint`` is the checkpoint in the
   checkpoints module's export form (``Checkpoint.to_json``: position, chain hash, recorded
   time, key id, Ed25519 signature in base64) with the exact bytes that were signed
   (``signed_message``) and, when the verifying key is configured here
   (``SIP_AUDIT_PUBLIC_KEY_FILE``, else the signing key's own), the public key in base64. The
   verifier rebuilds the message from position, hash and time, checks that it is
   ``signed_message``, and checks the signature with the organisation's published key (the key
   in the copy is a convenience: a copy cannot vouch for its own key; its key id, the first 16
   hex digits of SHA-256 over the raw key, must match).
3. **The links through other cases are listed, not shown.** ``chain.segment`` lists
   ``[notification_id, hash]`` for every event of the log from the one before the case's first
   exported event up to the checkpoint: the case's own events, and of everyone else's only the
   position and the hash. A verifier checks that the list is in order, that each case event's
   ``previous_hash`` is the listed hash just before it, that each case event's hash is listed at
   its position, and that the last listed hash is the checkpoint's. What it cannot check alone
   is that a listed hash of another case's event follows from the one before it. Those links
   are checked by ``sip-ledger audit verify`` on the store (it recomputes the whole chain from
   the stored events and checks every checkpoint's signature), by anyone entitled to the whole
   log; the copy makes that a plain comparison: the store's chain must hold exactly the listed
   ``[notification_id, hash]`` pairs. So: alone, the copy proves that each event is intact
   relative to its listed predecessor and that the checkpoint is genuine; together with a
   passing ``audit verify`` on the store whose chain matches the listed pairs, it proves that
   the case's events are exactly those committed to by the signed checkpoint. A copy taken
   earlier and kept apart also shows later tampering in the store: the store's hashes at the
   listed positions would no longer match.

   A listed hash of another event shows nothing of its content: it is SHA-256 over bytes that
   include random UUIDs (case and command ids) and a microsecond timestamp, which cannot be
   guessed and confirmed. The list does show how many events the log holds between the case's
   events, and their positions. When the segment would be longer than ``max_segment`` pairs
   (a case spanning a long stretch of a busy log), only the pairs a verifier compares are kept
   (each case event's predecessor, the case's events, and the checkpoint) and
   ``segment.complete`` is false; the checks in 1 and 2 are unchanged.

``verify_export`` is a reference implementation of checks 1-3 on the JSON alone, with the pure
functions of ``chain.py`` and ``checkpoints.py``; ``chain.method`` in the copy states the byte
layout and the signed message, so an outside party can redo it with SHA-256 and Ed25519 alone.
If the chain or a checkpoint does not yet cover the case's events (checkpoints are made from
time to time), the copy says so and the checks that need them are skipped.

Personal data: the copy holds it (it is for an auditor). The command writes it only to stdout or
the ``--output`` file; its log lines name the case id and counts, never personal data.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from eventsourcing.postgres import PostgresDatastore
from psycopg import Cursor
from psycopg.sql import SQL, Composable

from adapters.audit.chain import (
    CHAIN_TABLE,
    CHECKPOINTS_TABLE,
    EVENTS_TABLE,
    GENESIS,
    canonical_bytes,
    chain_hash,
)
from adapters.audit.checkpoints import Checkpoint, key_id_of
from adapters.http.access import Level, view
from adapters.http.routes.queries import record_of
from adapters.logging import get_logger
from adapters.store.access_log import MAX_LIMIT, AccessLog
from domain.clock import STOCKHOLM, utc_now
from domain.errors import CaseNotFound, InvalidInput
from domain.ledger import SipLedger
from projections.events import CaseEvent, decode, unwrap
from projections.history import summarise, version_at
from projections.storage import qualified

log = get_logger(__name__)

FORMAT = "sip-ledger/case-export/1"
FORMATS = ("json", "html")
# Longest list of [notification_id, hash] pairs from the case's first event to the checkpoint
# kept whole (about 85 bytes of JSON each: 100,000 is ~8.5 MB). Beyond it, only the pairs a
# verifier compares are kept (see the module's docstring, point 3).
MAX_SEGMENT = 100_000
EXPORT_ACTION = "audit_export"

Export = dict[str, Any]


# ------------------------------------------------------------------------ building the copy


def export_case(
    ledger: SipLedger,
    datastore: PostgresDatastore,
    access_log: AccessLog,
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
        chain = _chain_section(curs, schema, [row for row, _ in kept], max_segment,
                               public_keys or {})
    case = ledger.get_case(case_id, version=version)
    until = as_of + timedelta(microseconds=1) if as_of is not None else None
    access_rows = _access_rows(access_log, case_id, until)

    hashes = {h["notification_id"]: h for h in chain.pop("_per_event", [])}
    entries = [_event_entry(row, e, hashes.get(row[0])) for row, e in kept]
    _link_corrections(entries)
    return _jsonable({
        "format": FORMAT,
        "case_id": str(case_id),
        "exported_at": exported_at,
        "as_of": as_of,
        "version": version,
        "event_count": len(entries),
        "events": entries,
        "corrections": [
            {"version": e["version"], "notification_id": e["notification_id"],
             **e["corrects"], "anchor": f"#v{e['version']}"}
            for e in entries if e.get("corrects")
        ],
        "state": view(record_of(case), Level.FULL),
        "access_log": access_rows,
        "chain": chain,
    })


def _stored_events(curs: Cursor[Any], schema: str, case_id: UUID) -> list[tuple]:
    """The case's events as stored: (notification id, case id, version, topic, state)."""
    curs.execute(
        SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
            "WHERE originator_id = %s ORDER BY originator_version"
        ).format(_table(schema, EVENTS_TABLE)),
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
    if _exists(curs, schema, "rm_case_history"):
        curs.execute(
            SQL("SELECT max(version) AS version FROM {} WHERE case_id = %s").format(
                _table(schema, "rm_case_history")),
            (case_id,),
        )
        row = curs.fetchone()
        if row is not None and row["version"] == events[-1].version:
            return version_at(curs, schema, case_id, as_of)
    recorded = [e.version for e in events if datetime.fromisoformat(e.recorded_at) <= as_of]
    return max(recorded) if recorded else None


def _access_rows(
    access_log: AccessLog, case_id: UUID, until: datetime | None
) -> list[dict[str, Any]]:
    """Every access-log row of the case (before ``until``), oldest first, in pages."""
    rows: list[dict[str, Any]] = []
    seen: set[int] = set()
    since: datetime | None = None
    while True:
        page = access_log.for_case(case_id, since=since, until=until, limit=MAX_LIMIT)
        fresh = [r for r in page if r["id"] not in seen]
        rows.extend(fresh)
        seen.update(r["id"] for r in fresh)
        if len(page) < MAX_LIMIT or not fresh:
            return rows
        since = page[-1]["at"]  # inclusive: rows at the same instant come again, seen skips


def _occurred_at(e: CaseEvent) -> str | None:
    value = e.occurred_at
    if value is None:
        return None
    instant = datetime.fromisoformat(value)
    return value if instant.tzinfo else instant.replace(tzinfo=STOCKHOLM).isoformat()


def _event_entry(row: tuple, e: CaseEvent, hashes: dict[str, Any] | None) -> dict[str, Any]:
    notification_id, _, version, topic, state = row
    actor = e.actor
    org = actor["organisation"]
    # The event as stored, without the transcoder's type wrappers (the exact bytes are in
    # state_b64); its recording time is recorded_at.
    data = {k: _plain(v) for k, v in e.data.items() if k != "timestamp"}
    entry: dict[str, Any] = {
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
        correction = unwrap(e.data["correction"])
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


def _link_corrections(entries: list[dict[str, Any]]) -> None:
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


# ------------------------------------------------------------------------ the chain section


def _table(schema: str, name: str) -> Composable:
    return qualified(schema, name)


def _exists(curs: Cursor[Any], schema: str, name: str) -> bool:
    curs.execute(SQL("SELECT to_regclass(%s) IS NOT NULL AS found"),
                 (f'"{schema}"."{name}"',))
    row = curs.fetchone()
    return bool(row and row["found"])


def _hex(value: bytes | memoryview | None) -> str | None:
    return None if value is None else bytes(value).hex()


def chain_method() -> dict[str, Any]:
    """How a hash is computed, stated in the copy so a verifier needs no code of ours
    (the layout of ``adapters/audit/chain.py`` and ``checkpoints.py``)."""
    return {
        "hash": "hash = SHA-256(previous_hash || canonical), 32 bytes; the first event of the "
                "log follows the genesis hash",
        "genesis": GENESIS.hex(),
        "canonical": "originator_id (16 bytes, the UUID in RFC 4122 byte order) || "
                     "originator_version (8 bytes, signed big-endian) || length of topic "
                     "(4 bytes, unsigned big-endian) || topic (UTF-8) || length of state "
                     "(4 bytes, unsigned big-endian) || state (the stored bytes)",
        "event_fields": {
            "originator_id": "case_id", "originator_version": "events[].version",
            "topic": "events[].topic", "state": "base64-decoded events[].state_b64",
        },
        "order": "every event of the log (all cases and the individuals' registers) in "
                 "ascending notification_id; gaps in the ids are not part of the hash",
        "checkpoint_signature": "Ed25519 over checkpoint.signed_message (ASCII): "
                                "'sip-ledger checkpoint v1', position=, chain_hash=, "
                                "recorded_at= lines; key_id = first 16 hex digits of SHA-256 "
                                "over the raw 32-byte public key; signature and public key in "
                                "base64",
    }


def _chain_section(
    curs: Cursor[Any], schema: str, rows: Sequence[tuple], max_segment: int,
    public_keys: Mapping[str, Ed25519PublicKey],
) -> dict[str, Any]:
    if not _exists(curs, schema, CHAIN_TABLE):
        return {"available": False, "method": chain_method(),
                "note": "the store has no audit chain yet (the ledger's recorder creates it)",
                "checkpoint": None, "segment": None, "runs": []}
    chain = _table(schema, CHAIN_TABLE)
    ids = [row[0] for row in rows]
    curs.execute(
        SQL(
            "SELECT e.n AS notification_id, c.hash, p.notification_id AS previous_id, "
            "p.hash AS previous_hash FROM unnest(%s::bigint[]) AS e(n) "
            "LEFT JOIN {chain} c ON c.notification_id = e.n "
            "LEFT JOIN LATERAL (SELECT notification_id, hash FROM {chain} "
            "WHERE notification_id < e.n ORDER BY notification_id DESC LIMIT 1) p ON true "
            "ORDER BY e.n"
        ).format(chain=chain),
        (ids,),
    )
    genesis = GENESIS.hex()
    per_event = []
    for row in curs.fetchall():
        chained = row["hash"] is not None
        per_event.append({
            "notification_id": row["notification_id"],
            "hash": _hex(row["hash"]),
            "previous_notification_id": row["previous_id"] if chained else None,
            "previous_hash": (_hex(row["previous_hash"]) or genesis) if chained else None,
        })
    chained = [h for h in per_event if h["hash"] is not None]
    section: dict[str, Any] = {
        "available": True,
        "method": chain_method(),
        "events_chained": len(chained),
        "events_not_chained": [h["notification_id"] for h in per_event if h["hash"] is None],
        "runs": _runs(per_event),
        "checkpoint": None,
        "segment": None,
        "_per_event": per_event,
    }
    if len(chained) < len(per_event) or not per_event:
        section["note"] = ("some exported events have no chain row (sip-ledger audit verify "
                           "names them); checks 2 and 3 are left out")
        return section
    checkpoint = _checkpoint_at_or_after(curs, schema, ids[-1], public_keys)
    section["checkpoint"] = checkpoint
    if checkpoint is None:
        section["note"] = ("no signed checkpoint at or after the case's last exported event "
                           "yet (the service writes one every so many events or minutes); "
                           "export again later for checks 2 and 3")
        return section
    start = per_event[0]["previous_notification_id"] or per_event[0]["notification_id"]
    section["segment"] = _segment(curs, chain, start, checkpoint["position"], per_event,
                                  max_segment)
    return section


def _runs(per_event: list[dict[str, Any]]) -> list[dict[str, int]]:
    """Runs of the case's events that are neighbours in the log: within a run every link is
    checked from the copy alone (previous_hash of one = hash of the one before)."""
    runs: list[dict[str, int]] = []
    for h in per_event:
        if h["hash"] is None:
            continue
        if runs and h["previous_notification_id"] == runs[-1]["last"]:
            runs[-1]["last"] = h["notification_id"]
            runs[-1]["events"] += 1
        else:
            runs.append({"first": h["notification_id"], "last": h["notification_id"],
                         "events": 1})
    return runs


def _checkpoint_at_or_after(
    curs: Cursor[Any], schema: str, position: int, public_keys: Mapping[str, Ed25519PublicKey]
) -> dict[str, Any] | None:
    """The first signed checkpoint at or after ``position``, in the checkpoints module's export
    form (``Checkpoint.to_json``), with the exact bytes it signs."""
    if not _exists(curs, schema, CHECKPOINTS_TABLE):
        return None
    curs.execute(
        SQL(
            "SELECT position, chain_hash, recorded_at, key_id, signature FROM {} "
            "WHERE position >= %s ORDER BY position LIMIT 1"
        ).format(_table(schema, CHECKPOINTS_TABLE)),
        (position,),
    )
    row = curs.fetchone()
    if row is None:
        return None
    checkpoint = Checkpoint(int(row["position"]), bytes(row["chain_hash"]), row["recorded_at"],
                            row["key_id"], bytes(row["signature"]))
    key = public_keys.get(checkpoint.key_id)
    entry = checkpoint.to_json(key)
    entry["signed_message"] = checkpoint.message().decode("ascii")
    if key is None:
        entry["public_key"] = None
        entry["public_key_note"] = ("the key that signed it is not known here; the verifier "
                                    "uses the organisation's published key")
    return entry


def _segment(
    curs: Cursor[Any], chain: Composable, start: int, end: int,
    per_event: list[dict[str, Any]], max_segment: int,
) -> dict[str, Any]:
    curs.execute(
        SQL("SELECT count(*) AS n FROM {} WHERE notification_id BETWEEN %s AND %s").format(chain),
        (start, end),
    )
    row = curs.fetchone()
    count = row["n"] if row else 0
    if count <= max_segment:
        curs.execute(
            SQL("SELECT notification_id, hash FROM {} WHERE notification_id BETWEEN %s AND %s "
                "ORDER BY notification_id").format(chain),
            (start, end),
        )
        pairs = [[r["notification_id"], _hex(r["hash"])] for r in curs.fetchall()]
        complete = True
    else:
        wanted = {end}
        for h in per_event:
            wanted.add(h["notification_id"])
            if h["previous_notification_id"] is not None:
                wanted.add(h["previous_notification_id"])
        curs.execute(
            SQL("SELECT notification_id, hash FROM {} WHERE notification_id = ANY(%s) "
                "ORDER BY notification_id").format(chain),
            (sorted(wanted),),
        )
        pairs = [[r["notification_id"], _hex(r["hash"])] for r in curs.fetchall()]
        complete = False
    return {"from": start, "to": end, "events_in_log": count, "complete": complete,
            "hashes": pairs}


# ------------------------------------------------------------------------ checking a copy


def verify_export(
    export: Export, trusted_keys: Mapping[str, Ed25519PublicKey] | None = None
) -> list[str]:
    """The checks an outside party makes on the copy alone (the module's docstring, 1-3);
    returns what failed (empty: every check the copy allows passed). ``trusted_keys`` (by key
    id): the organisation's published keys; without them the key in the copy is used, which
    shows the copy is consistent but not whose key signed it. Checks the chain needs are
    skipped when the copy says the chain or a checkpoint does not cover it."""
    problems: list[str] = []
    chain = export.get("chain") or {}
    events = export.get("events") or []
    if not chain.get("available"):
        return problems
    case_id = UUID(export["case_id"])
    by_id = {}
    for e in events:
        if e.get("hash") is None:
            continue
        state = base64.b64decode(e["state_b64"], validate=True)
        canonical = canonical_bytes(case_id, e["version"], e["topic"], state)
        if chain_hash(bytes.fromhex(e["previous_hash"]), canonical).hex() != e["hash"]:
            problems.append(f"event v{e['version']}: its hash does not follow from its bytes "
                            "and the previous hash")
        by_id[e["notification_id"]] = e
    for e in events:
        prev = by_id.get(e.get("previous_notification_id"))
        if prev is not None and e.get("previous_hash") != prev["hash"]:
            problems.append(f"event v{e['version']}: its previous hash is not the hash of "
                            f"v{prev['version']}")
    entry = chain.get("checkpoint")
    if entry is None:
        return problems
    problems.extend(_verify_checkpoint(entry, trusted_keys))
    segment = chain.get("segment") or {}
    pairs = [tuple(p) for p in segment.get("hashes") or []]
    positions = [n for n, _ in pairs]
    listed = dict(pairs)
    index = {n: i for i, n in enumerate(positions)}
    if positions != sorted(set(positions)):
        problems.append("segment: positions are not strictly increasing")
    if not pairs or pairs[-1] != (entry["position"], entry["chain_hash"]):
        problems.append("segment: does not end at the checkpoint's position and hash")
    for e in events:
        if e.get("hash") is None:
            continue
        if listed.get(e["notification_id"]) != e["hash"]:
            problems.append(f"segment: v{e['version']}'s hash is not listed at its position")
        prev_id = e.get("previous_notification_id")
        if prev_id is not None and listed.get(prev_id) != e["previous_hash"]:
            problems.append(f"segment: v{e['version']}'s previous hash is not listed")
        if segment.get("complete") and prev_id is not None:
            i = index.get(e["notification_id"], 0)
            if i == 0 or positions[i - 1] != prev_id:
                problems.append(f"segment: v{e['version']}'s predecessor is not the listed "
                                "event before it")
    return problems


def _verify_checkpoint(
    entry: dict[str, Any], trusted_keys: Mapping[str, Ed25519PublicKey] | None
) -> list[str]:
    try:
        checkpoint = Checkpoint.from_json(entry)
    except (ValueError, KeyError, TypeError) as error:
        return [f"checkpoint: unreadable ({error})"]
    if entry.get("signed_message") not in (None, checkpoint.message().decode("ascii")):
        return ["checkpoint: the signed message does not state its position, hash and time"]
    if trusted_keys is not None:
        key = trusted_keys.get(checkpoint.key_id)
        if key is None:
            return [f"checkpoint: signed by key {checkpoint.key_id}, not a trusted key"]
    elif entry.get("public_key"):
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(entry["public_key"]))
        if key_id_of(key) != checkpoint.key_id:
            return ["checkpoint: the public key in the copy is not the key it names"]
    else:
        return []  # no key to check with: said in the copy (public_key_note)
    if not checkpoint.signed_by(key):
        return ["checkpoint: the signature does not verify"]
    return []


# ------------------------------------------------------------------------ JSON


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


def render_json(export: Export) -> str:
    return json.dumps(export, ensure_ascii=False, indent=2) + "\n"


# ------------------------------------------------------------------------ HTML


_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#1b1b1b;
line-height:1.4;max-width:100rem}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:2px solid #ccc}
table{border-collapse:collapse;width:100%;font-size:.85rem;margin:.5rem 0}
th,td{border:1px solid #ccc;padding:.3rem .45rem;text-align:left;vertical-align:top}
th{background:#f1f1f1}tr:target{background:#fff6c7}
code,.hash{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.78rem;
word-break:break-all}
.corrected{background:#fdeaea}.correction{background:#eaf3fd}
dl.meta{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}
dl.meta dt{font-weight:600}pre{background:#f7f7f7;padding:.6rem;overflow:auto;font-size:.8rem}
.note{color:#6a4a00}
"""


def _e(value: Any) -> str:
    if value is None:
        return "—"
    return html.escape(str(value), quote=True)


def _link(anchor: str, text: Any) -> str:
    return f'<a href="{_e(anchor)}">{_e(text)}</a>'


def _meta(pairs: Iterable[tuple[str, Any]]) -> str:
    rows = "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in pairs)
    return f'<dl class="meta">{rows}</dl>'


def render_html(export: Export) -> str:
    """A self-contained page: header, events, corrections, state as of, access log, chain."""
    case_id = export["case_id"]
    exported_by = export.get("exported_by") or {}
    parts = [
        "<!DOCTYPE html>",
        '<html lang="sv"><head><meta charset="utf-8">',
        f"<title>SIP {_e(case_id)} — granskningsunderlag / audit copy</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Granskningsunderlag för SIP / Audit copy of a SIP case<br><code>{_e(case_id)}"
        "</code></h1>",
        _meta([
            ("Ärende / Case", f"<code>{_e(case_id)}</code>"),
            ("Exporterad / Exported at", _e(export.get("exported_at"))),
            ("Per tidpunkt / As of", _e(export.get("as_of") or "nu / now")),
            ("Version", _e(export.get("version"))),
            ("Händelser / Events", _e(export.get("event_count"))),
            ("Exporterad av / Exported by", _e(" ".join(
                str(exported_by.get(k) or "") for k in ("person_id", "organisation_id", "role")
            ).strip() or None)),
            ("Åtkomstloggrad / Access-log row", _e(export.get("access_log_id"))),
            ("Format", f"<code>{_e(export.get('format'))}</code>"),
        ]),
        _events_html(export["events"]),
        _corrections_html(export.get("corrections") or []),
        "<h2 id=\"state\">Ärendets läge vid tidpunkten / State as of the instant</h2>",
        _state_html(export.get("state")),
        _access_html(export.get("access_log") or []),
        _chain_html(export),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _actor_html(actor: dict[str, Any]) -> str:
    return (
        f"{_e(actor.get('name'))} (<code>{_e(actor.get('person_id'))}</code>)<br>"
        f"{_e(actor.get('organisation_id'))} ({_e(actor.get('organisation_kind'))})"
        f"{', ' + _e(actor.get('unit')) if actor.get('unit') else ''}<br>"
        f"{_e(actor.get('role'))}"
    )


def _events_html(events: list[dict[str, Any]]) -> str:
    rows = []
    for e in events:
        cls = []
        notes = []
        if e.get("corrects"):
            cls.append("correction")
            c = e["corrects"]
            notes.append(
                f"Rättar / corrects {_link(c['anchor'], 'v' + str(c['corrects_version']))}: "
                f"{_e(c.get('reason'))} — {_e(c.get('correction'))}"
            )
        if e.get("corrected_by"):
            cls.append("corrected")
            links = ", ".join(_link(c["anchor"], f"v{c['version']}") for c in e["corrected_by"])
            notes.append(f"Rättad av / corrected by {links}")
        rows.append(
            f'<tr id="{_e(e["anchor"])}" class="{" ".join(cls)}">'
            f'<td>{_link("#" + e["anchor"], e["version"])}</td>'
            f"<td>{_e(e['notification_id'])}</td><td>{_e(e['type'])}</td>"
            f"<td>{_e(e['recorded_at'])}</td><td>{_e(e.get('occurred_at'))}</td>"
            f"<td>{_e(e['on'])}</td><td>{_actor_html(e['actor'])}</td>"
            f"<td><code>{_e(e.get('command_id'))}</code></td>"
            f"<td>{_e(e['summary'])}{''.join('<br>' + n for n in notes)}"
            "<details><summary>Innehåll / Content</summary>"
            f"<pre>{_e(json.dumps(e.get('data'), ensure_ascii=False, indent=1))}</pre>"
            "</details></td></tr>"
        )
    return (
        '<h2 id="events">Händelser / Events</h2>'
        "<table><thead><tr><th>Version</th><th>Position</th><th>Typ / Type</th>"
        "<th>Registrerad / Recorded</th><th>Inträffade / Occurred</th><th>Dag / Day</th>"
        "<th>Utförd av / Actor</th><th>Kommando / Command</th>"
        "<th>Sammanfattning / Summary</th></tr></thead><tbody>"
        + "".join(rows) + "</tbody></table>"
    )


def _corrections_html(corrections: list[dict[str, Any]]) -> str:
    if not corrections:
        return ('<h2 id="corrections">Rättelser / Corrections (R32)</h2>'
                "<p>Inga rättelser / No corrections.</p>")
    rows = "".join(
        f"<tr><td>{_link(c['anchor'], 'v' + str(c['version']))}</td>"
        f"<td>{_link('#v' + str(c['corrects_version']), 'v' + str(c['corrects_version']))}"
        f" ({_e(c.get('corrected_type'))})</td>"
        f"<td>{_e(c.get('reason'))}</td><td>{_e(c.get('correction'))}</td></tr>"
        for c in corrections
    )
    return (
        '<h2 id="corrections">Rättelser / Corrections (R32)</h2>'
        "<table><thead><tr><th>Rättelse / Correction</th><th>Rättar / Corrects</th>"
        "<th>Skäl / Reason</th><th>Rättelse / Text</th></tr></thead><tbody>"
        + rows + "</tbody></table>"
    )


def _state_html(state: Any) -> str:
    if not isinstance(state, dict):
        return "<p>—</p>"
    rows = []
    for key, value in state.items():
        if isinstance(value, dict | list):
            shown = (f"<pre>{_e(json.dumps(value, ensure_ascii=False, indent=2))}</pre>"
                     if value else "—")
        else:
            shown = _e(value)
        rows.append(f"<tr><th>{_e(key)}</th><td>{shown}</td></tr>")
    return "<table><tbody>" + "".join(rows) + "</tbody></table>"


def _access_html(rows: list[dict[str, Any]]) -> str:
    columns = ("id", "at", "person_id", "organisation_id", "organisation_kind", "unit", "role",
               "action", "view", "outcome", "reason", "request_id")
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_e(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows
    )
    return (
        '<h2 id="access-log">Åtkomstlogg / Read-access log (R33)</h2>'
        f"<p>{len(rows)} rader / rows.</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _chain_html(export: Export) -> str:
    chain = export.get("chain") or {}
    out = ['<h2 id="chain">Hashkedja och kontrollpunkt / Hash chain and checkpoint</h2>']
    method = chain.get("method") or {}
    out.append(_meta([
        ("Hash", _e(method.get("hash"))),
        ("Genesis", f'<span class="hash">{_e(method.get("genesis"))}</span>'),
        ("Kanonisk form / Canonical bytes", _e(method.get("canonical"))),
        ("Ordning / Order", _e(method.get("order"))),
        ("Signatur / Signature", _e(method.get("checkpoint_signature"))),
    ]))
    if chain.get("note"):
        out.append(f'<p class="note">{_e(chain["note"])}</p>')
    if not chain.get("available"):
        return "".join(out)
    rows = "".join(
        f"<tr><td>{_link('#' + e['anchor'], 'v' + str(e['version']))}</td>"
        f"<td>{_e(e['notification_id'])}</td><td>{_e(e.get('previous_notification_id'))}</td>"
        f'<td class="hash">{_e(e.get("previous_hash"))}</td>'
        f'<td class="hash">{_e(e.get("hash"))}</td></tr>'
        for e in export["events"]
    )
    out.append(
        "<table><thead><tr><th>Händelse / Event</th><th>Position</th>"
        "<th>Föregående / Previous</th><th>Föregående hash / Previous hash</th>"
        "<th>Hash</th></tr></thead><tbody>" + rows + "</tbody></table>"
    )
    checkpoint = chain.get("checkpoint")
    if checkpoint:
        out.append("<h3>Signerad kontrollpunkt / Signed checkpoint</h3>")
        out.append(_meta([
            (k, f'<span class="hash">{_e(checkpoint.get(k))}</span>')
            for k in ("position", "chain_hash", "recorded_at", "key_id", "algorithm",
                      "signature", "public_key", "public_key_note")
            if k in checkpoint
        ]))
        out.append(f"<p>Signerat meddelande / Signed message:</p>"
                   f"<pre>{_e(checkpoint.get('signed_message'))}</pre>")
    segment = chain.get("segment")
    if segment:
        out.append(
            f"<p>Kedjesegment / Chain segment: positions {_e(segment['from'])}–"
            f"{_e(segment['to'])}, {_e(len(segment['hashes']))} hashes listed of "
            f"{_e(segment['events_in_log'])} events in the log "
            f"({'complete' if segment['complete'] else 'only the pairs compared'}); "
            "the list is in the JSON copy.</p>"
        )
    out.append(
        "<p>Kontroll / How to check: (1) for each event, SHA-256(previous hash ‖ "
        "canonical_bytes(case id, version, topic, stored bytes)) equals its hash; (2) the "
        "checkpoint's Ed25519 signature verifies over the signed message with the "
        "organisation's published key; (3) the listed hashes run in order from the case's "
        "events to the checkpoint's hash. Links through other cases' events (whose content is "
        "not in this copy) are confirmed by <code>sip-ledger audit verify</code> on the store, "
        "whose chain must hold the listed hashes.</p>"
    )
    return "".join(out)


__all__ = ["EXPORT_ACTION", "FORMAT", "FORMATS", "chain_method", "export_case", "render_html",
           "render_json", "verify_export"]
