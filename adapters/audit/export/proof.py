"""The chain proof in the audit copy (``chain_section``): what an outside party can check with
the copy alone.

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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from psycopg import Cursor
from psycopg.sql import SQL, Composable

from adapters.audit.chain import GENESIS
from adapters.audit.checkpoints import Checkpoint
from projections.storage import CHAIN_TABLE, CHECKPOINTS_TABLE, qualified

from .document import (
    ChainMethod,
    ChainSection,
    EventHash,
    ExportCheckpoint,
    Run,
    Segment,
    StoredEvent,
)

# Longest list of [notification_id, hash] pairs from the case's first event to the checkpoint
# kept whole (about 85 bytes of JSON each: 100,000 is ~8.5 MB). Beyond it, only the pairs a
# verifier compares are kept (see the module's docstring, point 3).
MAX_SEGMENT = 100_000


def table_exists(curs: Cursor[Any], schema: str, name: str) -> bool:
    curs.execute(SQL("SELECT to_regclass(%s) IS NOT NULL AS found"),
                 (f'"{schema}"."{name}"',))
    row = curs.fetchone()
    return bool(row and row["found"])


def _hex(value: bytes | memoryview | None) -> str | None:
    return None if value is None else bytes(value).hex()


def chain_method() -> ChainMethod:
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


def chain_section(
    curs: Cursor[Any], schema: str, rows: Sequence[StoredEvent], max_segment: int,
    public_keys: Mapping[str, Ed25519PublicKey],
) -> ChainSection:
    if not table_exists(curs, schema, CHAIN_TABLE):
        return {"available": False, "method": chain_method(),
                "note": "the store has no audit chain yet (the ledger's recorder creates it)",
                "checkpoint": None, "segment": None, "runs": []}
    chain = qualified(schema, CHAIN_TABLE)
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
    per_event: list[EventHash] = []
    for row in curs.fetchall():
        linked = row["hash"] is not None
        per_event.append({
            "notification_id": row["notification_id"],
            "hash": _hex(row["hash"]),
            "previous_notification_id": row["previous_id"] if linked else None,
            "previous_hash": (_hex(row["previous_hash"]) or genesis) if linked else None,
        })
    chained = [h for h in per_event if h["hash"] is not None]
    section: ChainSection = {
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


def _runs(per_event: list[EventHash]) -> list[Run]:
    """Runs of the case's events that are neighbours in the log: within a run every link is
    checked from the copy alone (previous_hash of one = hash of the one before)."""
    runs: list[Run] = []
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
) -> ExportCheckpoint | None:
    """The first signed checkpoint at or after ``position``, in the checkpoints module's export
    form (``Checkpoint.to_json``), with the exact bytes it signs."""
    if not table_exists(curs, schema, CHECKPOINTS_TABLE):
        return None
    curs.execute(
        SQL(
            "SELECT position, chain_hash, recorded_at, key_id, signature FROM {} "
            "WHERE position >= %s ORDER BY position LIMIT 1"
        ).format(qualified(schema, CHECKPOINTS_TABLE)),
        (position,),
    )
    row = curs.fetchone()
    if row is None:
        return None
    checkpoint = Checkpoint(int(row["position"]), bytes(row["chain_hash"]), row["recorded_at"],
                            row["key_id"], bytes(row["signature"]))
    key = public_keys.get(checkpoint.key_id)
    entry: ExportCheckpoint = {
        **checkpoint.to_json(key), "signed_message": checkpoint.message().decode("ascii"),
    }
    if key is None:
        entry["public_key"] = None
        entry["public_key_note"] = ("the key that signed it is not known here; the verifier "
                                    "uses the organisation's published key")
    return entry


def _segment(
    curs: Cursor[Any], chain: Composable, start: int, end: int,
    per_event: list[EventHash], max_segment: int,
) -> Segment:
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
        pairs: list[list[int | str | None]] = [[r["notification_id"], _hex(r["hash"])]
                                               for r in curs.fetchall()]
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
