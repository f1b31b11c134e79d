"""The independent verifier: recompute the chain from the raw rows and check every checkpoint.

It trusts nothing the ledger computed: it reads the event table's four columns and the chain
table's hashes in notification order, in one read-only REPEATABLE READ snapshot, in batches by
range of notification ids (ordered index scans, binary tuple rows; a reader thread on a second
connection, importing the same snapshot, fetches the next batch while this one is hashed),
re-encodes and re-hashes every event in Python (``chain.py``; the recorder computes the hashes
in SQL, so the two implementations check each other) and compares. What it can find:

* ``altered``: an event's recomputed hash is not its stored one — its bytes were changed, two
  rows were swapped (both positions are named), or a row was forged together with a chain row
  (named at the next event, whose stored hash was made from the real previous one);
* ``deleted``: a chain row without its event;
* ``unchained``: an event without a chain row, i.e. inserted outside the ledger;
* ``malformed``: an event row with a NULL topic or state, which the ledger never writes;
* checkpoint problems: ``checkpoint signature`` (altered, or signed with another key),
  ``checkpoint key`` (signed by a key the verifier was not given), ``checkpoint mismatch`` (the
  chain at its position is not what was signed: events and chain rewritten after it),
  ``truncated`` (a checkpoint beyond the log's last event), ``checkpoint missing`` (in an
  exported copy, not in the store).

After a break the verifier carries on from the stored hash, so each tampered row is named on
its own rather than everything after the first one. The report's ``first`` is the problem at the
lowest position.
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import struct
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from eventsourcing.postgres import PostgresDatastore
from psycopg import Connection
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Literal

from adapters.audit.chain import GENESIS
from adapters.audit.checkpoints import Checkpoint, key_id_of
from projections.storage import (
    CHAIN_TABLE,
    CHECKPOINTS_TABLE,
    COMMANDS_TABLE,
    EVENTS_TABLE,
    qualified,
)

BATCH_SIZE = 20_000
_ID_VERSION_TOPIC_LENGTH = struct.Struct(">16sqI")
_LENGTH = struct.Struct(">I")

ProgressCallback = Callable[[int, int], None]  # (position reached, last position)


@dataclass(frozen=True)
class Problem:
    position: int
    kind: str
    detail: str
    case_id: UUID | None = None
    version: int | None = None

    def describe(self) -> str:
        where = f"position {self.position}"
        if self.case_id is not None:
            where += f" (case {self.case_id}" + (
                f", version {self.version})" if self.version is not None else ")")
        return f"{where}: {self.kind}: {self.detail}"


@dataclass
class VerifyReport:
    schema: str
    events: int = 0
    last_position: int = 0
    chain_head: bytes = GENESIS
    checkpoints: int = 0
    checkpoints_verified: int = 0
    last_verified_checkpoint: int | None = None
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def intact(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        return min(self.problems, key=lambda p: p.position) if self.problems else None

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


class NoAuditChain(Exception):
    """The schema has no audit chain table: not a ledger, or one never opened since the chain."""


def verify(
    datastore: PostgresDatastore,
    public_keys: Mapping[str, Ed25519PublicKey] | Iterable[Ed25519PublicKey],
    on_progress: ProgressCallback | None = None,
    *,
    exported: Sequence[Checkpoint] = (),
    batch_size: int = BATCH_SIZE,
) -> VerifyReport:
    """Recompute the chain over the whole log and check every checkpoint (and ``exported``, a
    copy kept elsewhere) against it with ``public_keys``."""
    keys = _by_key_id(public_keys)
    started = time.perf_counter()
    # Two connections in one snapshot: this one checks, a reader thread on the other fetches the
    # next batch meanwhile (the server's work and the socket overlap the hashing).
    with datastore.get_connection() as conn, datastore.get_connection() as reader:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            row = conn.execute("SELECT pg_export_snapshot()").fetchone()
            reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                reader.execute(SQL("SET TRANSACTION SNAPSHOT {}").format(
                    Literal(_first_value(row))))
                report = _Verifier(conn, reader, datastore.schema, keys, on_progress,
                                   batch_size).run(exported)
            finally:
                reader.execute("ROLLBACK")
        finally:
            conn.execute("ROLLBACK")
    report.seconds = time.perf_counter() - started
    return report


def _first_value(row: Any) -> Any:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


def _by_key_id(
    public_keys: Mapping[str, Ed25519PublicKey] | Iterable[Ed25519PublicKey],
) -> dict[str, Ed25519PublicKey]:
    if isinstance(public_keys, Mapping):
        return dict(public_keys)
    return {key_id_of(k): k for k in public_keys}


class _Verifier:
    def __init__(
        self,
        conn: Connection[Any],
        reader: Connection[Any],
        schema: str,
        keys: dict[str, Ed25519PublicKey],
        on_progress: ProgressCallback | None,
        batch_size: int,
    ) -> None:
        self.conn = conn
        self.reader = reader
        self.schema = schema
        self.keys = keys
        self.on_progress = on_progress
        self.batch_size = batch_size
        self.events = qualified(schema, EVENTS_TABLE)
        self.chain = qualified(schema, CHAIN_TABLE)
        self.checkpoints_table = qualified(schema, CHECKPOINTS_TABLE)
        self.report = VerifyReport(schema=schema)
        # The chain's hash after each position a checkpoint names (None: no event there).
        self.watched: set[int] = set()
        self.hash_at: dict[int, bytes | None] = {}

    def run(self, exported: Sequence[Checkpoint]) -> VerifyReport:
        curs = self.conn.cursor(row_factory=tuple_row, binary=True)
        present = curs.execute(
            "SELECT to_regclass(%s), to_regclass(%s)",
            (f'"{self.schema}"."{CHAIN_TABLE}"', f'"{self.schema}"."{CHECKPOINTS_TABLE}"'),
            binary=False,
        ).fetchone()
        if present is None or present[0] is None or present[1] is None:
            raise NoAuditChain(f"schema {self.schema} has no audit chain ({CHAIN_TABLE})")
        stored = [Checkpoint(int(p), bytes(h), t, k, bytes(sig)) for p, h, t, k, sig in
                  curs.execute(SQL("SELECT position, chain_hash, recorded_at, key_id, signature "
                                   "FROM {} ORDER BY position").format(self.checkpoints_table))]
        self.watched = {c.position for c in stored} | {c.position for c in exported}
        events_head, chain_head = curs.execute(SQL(
            "SELECT (SELECT max(notification_id) FROM {}), (SELECT max(notification_id) FROM {})"
        ).format(self.events, self.chain)).fetchone() or (None, None)
        events_head = events_head or 0
        end = max(events_head, chain_head or 0)
        self.report.last_position = events_head
        self._walk(curs, end)
        self._check_checkpoints(stored, exported, events_head)
        self.report.problems.sort(key=lambda p: p.position)
        if any(p.kind == "deleted" for p in self.report.problems):
            self._name_deleted_cases(curs)
        return self.report

    # ------------------------------------------------------------------ the chain

    def _walk(self, curs: Any, end: int) -> None:
        batches: queue.Queue[tuple[int, list[tuple], list[tuple]] | BaseException | None] = (
            queue.Queue(maxsize=2))
        stop = threading.Event()
        thread = threading.Thread(target=self._read, args=(end, batches, stop),
                                  name="audit-verify-reader", daemon=True)
        thread.start()
        previous = GENESIS
        try:
            while (item := batches.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                high, rows, chain = item
                if rows or chain:
                    previous = self._batch(previous, rows, chain)
                    self.report.events += len(rows)
                if self.on_progress is not None:
                    self.on_progress(high, end)
        finally:
            stop.set()
            while thread.is_alive():  # let a reader blocked on a full queue finish
                with contextlib.suppress(queue.Empty):
                    batches.get(timeout=0.05)
            thread.join()
        self.report.chain_head = previous

    def _read(self, end: int, batches: queue.Queue[Any], stop: threading.Event) -> None:
        """The reader thread: batches of (events, chain rows) by range of notification ids, the
        same range for both tables, in order; None at the end."""
        try:
            curs = self.reader.cursor(row_factory=tuple_row, binary=True)
            # Ordered index scans only: the heap is in notification order (append-only), and a
            # planner with stale statistics on a growing log otherwise picks a bitmap scan plus
            # a sort of everything after the range's start, for every batch.
            for setting in ("enable_sort", "enable_bitmapscan", "enable_seqscan"):
                curs.execute(f"SET LOCAL {setting} = off")
            select_events = SQL(
                "SELECT notification_id, uuid_send(originator_id), originator_version, "
                "convert_to(topic, 'UTF8'), state FROM {} "
                "WHERE notification_id > %s AND notification_id <= %s "
                "ORDER BY notification_id").format(self.events)
            select_chain = SQL(
                "SELECT notification_id, hash FROM {} "
                "WHERE notification_id > %s AND notification_id <= %s "
                "ORDER BY notification_id").format(self.chain)
            next_position = SQL(
                "SELECT least((SELECT min(notification_id) FROM {} WHERE notification_id > %s),"
                " (SELECT min(notification_id) FROM {} WHERE notification_id > %s))"
            ).format(self.events, self.chain)
            low = 0
            while low < end and not stop.is_set():
                high = min(low + self.batch_size, end)
                rows = curs.execute(select_events, (low, high), prepare=True).fetchall()
                chain = curs.execute(select_chain, (low, high), prepare=True).fetchall()
                if not rows and not chain:  # a gap in the ids: on to the next row there is
                    found = curs.execute(next_position, (low, low), prepare=True).fetchone()
                    if found is not None and found[0] is not None:
                        high = min(max(high, found[0] - 1), end)
                batches.put((high, rows, chain))
                low = high
            batches.put(None)
        except BaseException as error:  # noqa: BLE001 - handed to the checking thread
            batches.put(error)

    def _batch(self, previous: bytes, rows: list[tuple], chain: list[tuple]) -> bytes:
        """Check one batch; the hash to go on from."""
        ids = [r[0] for r in rows]
        if ids == [c[0] for c in chain]:
            stored = [c[1] for c in chain]
            try:
                computed = _hashes(previous, rows)
            except TypeError:  # a NULL column: the careful path names it
                computed = None
            if computed == stored:
                for position in self.watched.intersection(ids) if self.watched else ():
                    self.hash_at[position] = stored[bisect_left(ids, position)]
                return computed[-1] if computed else previous
        return self._careful(previous, rows, chain)

    def _careful(self, previous: bytes, rows: list[tuple], chain: list[tuple]) -> bytes:
        """Row by row, merging events and chain rows by notification id; every problem named."""
        problems = self.report.problems
        watched, hash_at = self.watched, self.hash_at
        i = j = 0
        none = float("inf")
        while i < len(rows) or j < len(chain):
            event_id = rows[i][0] if i < len(rows) else none
            chain_id = chain[j][0] if j < len(chain) else none
            if event_id == chain_id:
                position, uuid_bytes, version, topic, state = rows[i]
                stored = chain[j][1]
                case_id = UUID(bytes=uuid_bytes)
                if topic is None or state is None:
                    problems.append(Problem(position, "malformed", "the event row has no "
                                            f"{'topic' if topic is None else 'state'}; the "
                                            "ledger never writes one like it", case_id, version))
                else:
                    computed = _hashes(previous, [rows[i]])[0]
                    if computed != stored:
                        problems.append(Problem(
                            position, "altered",
                            "the event's hash does not match the chain: the row was changed, "
                            "moved, or put in place of another", case_id, version))
                previous = stored  # go on from what the chain says, to name each break alone
                if position in watched:
                    hash_at[position] = stored
                i += 1
                j += 1
            elif event_id < chain_id:
                position, uuid_bytes, version = rows[i][:3]
                problems.append(Problem(
                    position, "unchained",
                    "the event has no chain row: it was inserted outside the ledger",
                    UUID(bytes=uuid_bytes), version))
                if position in watched:
                    hash_at[position] = None
                i += 1
            else:
                position, stored = chain[j]
                problems.append(Problem(
                    position, "deleted", "the chain has a row for this position but the event "
                    "is gone"))
                previous = stored
                j += 1
        return previous

    # ------------------------------------------------------------------ checkpoints

    def _check_checkpoints(
        self, stored: Sequence[Checkpoint], exported: Sequence[Checkpoint], events_head: int
    ) -> None:
        report = self.report
        problems = report.problems
        report.checkpoints = len(stored)
        in_store = {c.position: c for c in stored}
        for copy in exported:
            mine = in_store.get(copy.position)
            if mine is None:
                problems.append(Problem(copy.position, "checkpoint missing",
                                        "a checkpoint of the exported copy is not in the store "
                                        "(deleted)"))
            elif mine != copy:
                problems.append(Problem(copy.position, "checkpoint altered",
                                        "the store's checkpoint differs from the exported copy"))
        candidates = list(stored) + [c for c in exported if c != in_store.get(c.position)]
        last_good: int | None = None
        for checkpoint in sorted(candidates, key=lambda c: c.position):
            position = checkpoint.position
            key = self.keys.get(checkpoint.key_id)
            if key is None:
                problems.append(Problem(position, "checkpoint key",
                                        f"signed by key {checkpoint.key_id}, which the verifier "
                                        "was not given (--public-key)"))
                continue
            if not checkpoint.signed_by(key):
                problems.append(Problem(position, "checkpoint signature",
                                        "the signature does not match: the checkpoint was "
                                        "altered"))
                continue
            if position > events_head:
                problems.append(Problem(position, "truncated",
                                        f"a signed checkpoint is beyond the log's last event "
                                        f"({events_head}): events were removed from its end"))
                continue
            found = self.hash_at.get(position)
            if found is None:
                problems.append(Problem(position, "checkpoint mismatch",
                                        "no chained event at the checkpoint's position"))
                continue
            if found != checkpoint.chain_hash:
                since = f"after position {last_good}" if last_good is not None else "from the start"
                problems.append(Problem(position, "checkpoint mismatch",
                                        "the chain here is not the one that was signed: events "
                                        f"and chain were rewritten somewhere {since} up to here"))
                continue
            report.checkpoints_verified += 1
            report.last_verified_checkpoint = position
            last_good = position

    def _name_deleted_cases(self, curs: Any) -> None:
        """A deleted event's case, when the command log names an event that is gone.

        Best effort: with one deletion it is exact; with several the positions are matched to
        the missing (case, version) pairs in the order the commands were recorded."""
        commands = qualified(self.schema, COMMANDS_TABLE)
        try:
            missing = curs.execute(SQL(
                "SELECT w.id, w.version FROM {commands} c "
                "CROSS JOIN LATERAL unnest(c.originator_ids, c.originator_versions) "
                "AS w(id, version) "
                "WHERE NOT EXISTS (SELECT 1 FROM {events} e WHERE e.originator_id = w.id "
                "AND e.originator_version = w.version) "
                "ORDER BY c.recorded_at, w.version").format(commands=commands,
                                                           events=self.events)).fetchall()
        except Exception:  # noqa: BLE001 - no command log: the case stays unnamed
            return
        deleted = [p for p in self.report.problems if p.kind == "deleted"]
        if len(missing) != len(deleted):
            return
        problems = self.report.problems
        for problem, (case_id, version) in zip(deleted, missing, strict=True):
            problems[problems.index(problem)] = Problem(
                problem.position, problem.kind,
                problem.detail + " (the command log names it)", case_id, int(version))


def _hashes(previous: bytes, rows: list[tuple]) -> list[bytes]:
    """The chain over rows (notification id, uuid bytes, version, topic bytes, state): the
    encoding of chain.canonical_bytes, fed to SHA-256 piece by piece (no copies)."""
    sha256 = hashlib.sha256
    pack_head = _ID_VERSION_TOPIC_LENGTH.pack
    pack_length = _LENGTH.pack
    out: list[bytes] = []
    append = out.append
    for _, uuid_bytes, version, topic, state in rows:
        h = sha256(previous)
        h.update(pack_head(uuid_bytes, version, len(topic)))
        h.update(topic)
        h.update(pack_length(len(state)))
        h.update(state)
        previous = h.digest()
        append(previous)
    return out
