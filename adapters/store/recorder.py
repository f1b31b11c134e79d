"""The library's PostgreSQL application recorder, plus a command log in the same transaction.

Everything else is the library's own insert path, LOCK TABLE included: that lock is what makes
notification ids commit-ordered, so a subscriber never skips an event. The command log row goes
into the library's ``_insert_events`` hook, in the same pipelined transaction as the events, so a
command has its events and its log row or neither. A repeated command id fails on the log's
primary key when the pipeline syncs, as an IntegrityError, and the whole transaction rolls back.

The audit hash chain (``adapters/audit/chain.py``) is written in the same transaction too, one
row per event in ``sipledger_chain``, by one more statement in the library's pipeline: right
after its LOCK TABLE and INSERT (the library calls ``_insert_events`` before those, so the chain
goes in ``_insert_stored_events``), an INSERT ... SELECT reads the chain's last hash and hashes
this transaction's events in notification order, in the database, with the documented encoding.
It is sent with the events and checked at the same sync, so it costs no round trip and no
client work; every writer of the chain holds the event table's EXCLUSIVE lock while it reads
the last hash and appends, so the chain cannot fork. ``audit verify`` recomputes every hash in
Python from the raw rows, so the two implementations check each other.

The insert itself is the library's pipelined transaction, re-stated in ``insert_events`` with
what keeps it from wedging the store (``write_path.py``): its own statement, lock and transaction
timeouts, a full flush of the connection before the pipeline's sync (psycopg otherwise left part
of a large statement unsent and waited for ever, holding the table lock), the request's deadline
checked before each try, and retries after a lost connection only.

A log recorded before the chain existed gets its chain once, when the recorder's set-up finds
events and neither a chain nor a checkpoint (``_chain_existing_log``); a chain that exists is
never extended over events it does not cover (the statement takes only rows this transaction
inserted), so an event slipped in outside the ledger stays visible to ``audit verify``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
)
from psycopg import Connection, Cursor
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Composable, Identifier

from adapters.audit.chain import GENESIS, chain_over
from adapters.logging import get_logger
from adapters.store import deadline
from adapters.store.write_path import WriteLimits, bounded, flush_output
from domain.command_log import CommandEntry, RecordedCommand

log = get_logger(__name__)

# Events hashed and inserted per statement while an existing log gets its chain.
BACKFILL_BATCH = 20_000


class SipRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        base = events_table_name.removesuffix("_events")
        self.commands_table_name = f"{base}_commands"
        self.chain_table_name = f"{base}_chain"
        self.checkpoints_table_name = f"{base}_checkpoints"
        for name in (self.commands_table_name, self.chain_table_name,
                     self.checkpoints_table_name):
            self.check_identifier_length(name)
        # The write path (adapters/store/write_path.py): its timeouts, set by Store.ledger from
        # the settings, and the connections writing now, which a shutdown cancels.
        self.write_limits = WriteLimits()
        self._writing: set[Connection[Any]] = set()
        self._writing_lock = threading.Lock()
        self._server_version: int | None = None
        # The library sets lock_timeout = 0 (wait for ever) right before its LOCK TABLE; the
        # write transaction's own timeouts (set first, below) must stay in force, so only the
        # LOCK statement is kept.
        self.lock_table_statements = [
            statement for statement in self.lock_table_statements
            if not (isinstance(statement, Composable) and "lock_timeout" in statement.as_string())
        ]
        self._set_write_timeouts = SQL(
            "SELECT set_config('statement_timeout', %s, true), "
            "set_config('lock_timeout', %s, true)"
        )
        self._set_write_timeouts_17 = SQL(
            "SELECT set_config('statement_timeout', %s, true), "
            "set_config('lock_timeout', %s, true), set_config('transaction_timeout', %s, true)"
        )
        schema = Identifier(self.datastore.schema)
        commands = SQL("{0}.{1}").format(schema, Identifier(self.commands_table_name))
        events = SQL("{0}.{1}").format(schema, Identifier(self.events_table_name))
        chain = SQL("{0}.{1}").format(schema, Identifier(self.chain_table_name))
        checkpoints = SQL("{0}.{1}").format(schema, Identifier(self.checkpoints_table_name))
        # The log keeps which (aggregate, version) pairs a command wrote; their notification ids
        # are looked up from the events themselves, so the row can be written before they exist.
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {commands} ("
                "command_id uuid PRIMARY KEY, "
                "command text NOT NULL, "
                "case_id uuid NOT NULL, "
                "originator_ids uuid[] NOT NULL, "
                "originator_versions bigint[] NOT NULL, "
                "recorded_at timestamptz NOT NULL DEFAULT now())"
            ).format(commands=commands)
        )
        # The audit chain: each event's hash under its notification id (adapters/audit/chain.py),
        # and the signed checkpoints over it (adapters/audit/checkpoints.py).
        self.sql_create_statements.extend((
            SQL(
                "CREATE TABLE IF NOT EXISTS {chain} ("
                "notification_id bigint PRIMARY KEY, "
                "hash bytea NOT NULL)"
            ).format(chain=chain),
            SQL(
                "CREATE TABLE IF NOT EXISTS {checkpoints} ("
                "position bigint PRIMARY KEY, "
                "chain_hash bytea NOT NULL, "
                "recorded_at timestamptz NOT NULL, "
                "key_id text NOT NULL, "
                "signature bytea NOT NULL)"
            ).format(checkpoints=checkpoints),
        ))
        # Append-only (R32: a mistake is corrected by a later event, never by editing one): the
        # event table, the command log, the audit chain and its checkpoints refuse UPDATE, DELETE
        # and TRUNCATE, whoever asks. In production the application's role has only INSERT and
        # SELECT besides (README).
        refuse = SQL("{0}.{1}").format(schema, Identifier("sip_refuse_change"))
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {refuse}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN RAISE EXCEPTION 'the SIP ledger is append-only: % on % refused', "
                "TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege'; END $$"
            ).format(refuse=refuse)
        )
        for table, name in (
            (events, self.events_table_name),
            (commands, self.commands_table_name),
            (chain, self.chain_table_name),
            (checkpoints, self.checkpoints_table_name),
        ):
            self.sql_create_statements.extend((
                SQL(
                    "CREATE OR REPLACE TRIGGER {trigger} BEFORE UPDATE OR DELETE ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION {refuse}()"
                ).format(trigger=Identifier(f"{name}_append_only"), table=table, refuse=refuse),
                SQL(
                    "CREATE OR REPLACE TRIGGER {trigger} BEFORE TRUNCATE ON {table} "
                    "FOR EACH STATEMENT EXECUTE FUNCTION {refuse}()"
                ).format(trigger=Identifier(f"{name}_no_truncate"), table=table, refuse=refuse),
            ))
        self._insert_command = SQL(
            "INSERT INTO {commands} (command_id, command, case_id, originator_ids, "
            "originator_versions) VALUES (%s, %s, %s, %s, %s)"
        ).format(commands=commands)
        self._select_command = SQL(
            "SELECT c.command, c.case_id, c.recorded_at, "
            "array_agg(e.originator_version ORDER BY e.notification_id) "
            "FILTER (WHERE e.originator_id = c.case_id) AS case_versions, "
            "array_agg(e.notification_id ORDER BY e.notification_id) AS notification_ids "
            "FROM {commands} c "
            "JOIN unnest(c.originator_ids, c.originator_versions) AS w(id, version) ON true "
            "JOIN {events} e ON e.originator_id = w.id AND e.originator_version = w.version "
            "WHERE c.command_id = %s GROUP BY c.command_id"
        ).format(commands=commands, events=events)
        # Append this transaction's events to the chain (adapters/audit/chain.py, in SQL). It
        # starts at the chain's head (the row with the highest notification id) and walks the
        # event table's notification-id index one row at a time, hashing as it goes: each step
        # is "the next event after this one that this transaction inserted" (xmin), ORDER BY
        # ... LIMIT 1, an index scan whatever the statistics say (a plain range condition on a
        # value from a sub-select is estimated at a third of the table: a sequential scan of
        # the whole log for every save). Events that this transaction did not insert and that
        # have no chain row (put in from outside) are stepped over, never taken in.
        # canonical_bytes is uuid_send(id) || int8send(version) || int4send(len(topic)) ||
        # topic || int4send(len(state)) || state; each hash is sha256(previous || canonical).
        self._append_chain = SQL(
            "WITH RECURSIVE chained (n, notification_id, hash) AS ("
            "SELECT 0::bigint, coalesce(head.notification_id, 0), "
            "coalesce(head.hash, decode(repeat('00', 32), 'hex')) "
            "FROM (SELECT 1) AS one LEFT JOIN LATERAL ("
            "SELECT notification_id, hash FROM {chain} "
            "ORDER BY notification_id DESC LIMIT 1) AS head ON true "
            "UNION ALL "
            "SELECT chained.n + 1, e.notification_id, sha256(chained.hash "
            "|| uuid_send(e.originator_id) || int8send(e.originator_version) "
            "|| int4send(octet_length(convert_to(e.topic, 'UTF8'))) "
            "|| convert_to(e.topic, 'UTF8') || int4send(length(e.state)) || e.state) "
            "FROM chained CROSS JOIN LATERAL ("
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {events} WHERE notification_id > chained.notification_id "
            "AND xmin = pg_current_xact_id()::xid "
            "ORDER BY notification_id LIMIT 1) AS e) "
            "INSERT INTO {chain} (notification_id, hash) "
            "SELECT notification_id, hash FROM chained WHERE n > 0"
        ).format(chain=chain, events=events)
        # The backfill's insert (hashes computed here, in Python).
        self._insert_chain = SQL(
            "INSERT INTO {chain} (notification_id, hash) "
            "SELECT * FROM unnest(%s::bigint[], %s::bytea[])"
        ).format(chain=chain)
        self._chain_or_checkpoint_exists = SQL(
            "SELECT EXISTS (SELECT 1 FROM {chain}) OR EXISTS (SELECT 1 FROM {checkpoints})"
        ).format(chain=chain, checkpoints=checkpoints)
        self._event_exists = SQL("SELECT EXISTS (SELECT 1 FROM {events})").format(events=events)
        self._select_all_events = SQL(
            "SELECT notification_id, uuid_send(originator_id), originator_version, "
            "convert_to(topic, 'UTF8'), state FROM {events} ORDER BY notification_id"
        ).format(events=events)

    # ------------------------------------------------------------------ the audit chain

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The library's pipelined insert (``PostgresApplicationRecorder.insert_events``) with
        the write path's timeouts, a full flush before the sync, the deadline checked before
        each try and retries only after a lost connection (adapters/store/write_path.py)."""
        if self.datastore.enable_db_functions:
            # The library's insert function takes no table lock and writes no chain.
            raise RuntimeError("SipRecorder needs POSTGRES_ENABLE_DB_FUNCTIONS off (README)")
        if not stored_events:
            return None

        def attempt() -> Sequence[int] | None:
            deadline.check()  # no insert starts once the request's deadline has passed
            return self._insert_pipelined(stored_events, **kwargs)

        return bounded(attempt, self.write_limits.attempts)

    def _insert_pipelined(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        with self.datastore.get_connection() as conn:
            with self._writing_lock:
                self._writing.add(conn)
            try:
                timeouts = self.write_limits.settings(self._version_of(conn))
                # An error at the sync propagates through the transaction (rolled back) and the
                # pipeline, which then drops the results it had not fetched. The library keeps
                # the error until the pipeline is left instead, to spare a psycopg warning; but
                # when the server answered quickly, the sync had fetched only some results, and
                # leaving the pipeline raised "pipeline aborted" for the rest in place of the
                # real error (a duplicate command id answered as a store failure).
                with conn.pipeline() as pipeline, conn.transaction():
                    with conn.cursor() as curs:
                        curs.execute(
                            self._set_write_timeouts_17 if len(timeouts) == 3
                            else self._set_write_timeouts, timeouts, prepare=True,
                        )
                        self._insert_events(curs, stored_events, **kwargs)
                    with conn.cursor() as curs:
                        self._insert_stored_events(curs, stored_events, **kwargs)
                        flush_output(conn)  # before the sync: see write_path.py
                        pipeline.sync()
                        return self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
            finally:
                with self._writing_lock:
                    self._writing.discard(conn)

    def _version_of(self, conn: Connection[Any]) -> int:
        if self._server_version is None:
            self._server_version = conn.info.server_version
        return self._server_version

    def cancel_writes(self) -> int:
        """Ask the server to cancel every write in progress (at shutdown: a thread waiting on
        the store must not hold the process); returns how many were asked."""
        with self._writing_lock:
            writing = list(self._writing)
        for conn in writing:
            with contextlib.suppress(Exception):
                conn.cancel_safe(timeout=1.0)
        return len(writing)

    # The library's reads retry any connection error ten times, 0.2 s apart, each try waiting
    # for the pool: 5-27 s with the store down. Here: a lost connection only, a few times,
    # within the deadline (write_path.bounded).
    def select_events(self, *args: Any, **kwargs: Any) -> Any:
        read = PostgresAggregateRecorder.select_events.__wrapped__
        return bounded(lambda: read(self, *args, **kwargs), self.write_limits.attempts)

    def max_notification_id(self) -> int | None:
        read = PostgresApplicationRecorder.max_notification_id.__wrapped__
        return bounded(lambda: read(self), self.write_limits.attempts)

    def _insert_stored_events(
        self,
        curs: Cursor[DictRow],
        stored_events: Sequence[StoredEvent],
        **kwargs: Any,
    ) -> None:
        # The library's LOCK TABLE, NOTIFY and INSERT ... RETURNING notification_id, then the
        # chain's append, in the same pipeline (checked at the library's sync). A cursor of its
        # own: ``curs`` keeps the insert's notification ids for the library to fetch.
        super()._insert_stored_events(curs, stored_events, **kwargs)
        with curs.connection.cursor() as chain:
            chain.execute(self._append_chain, prepare=True)

    def create_table(self) -> None:
        super().create_table()
        self._chain_existing_log()

    def _chain_existing_log(self) -> None:
        """Give a log recorded before the chain existed its chain, once, under the table lock.

        Only when there are events and neither a chain row nor a checkpoint: a chain that was
        there once and is gone (or a log with checkpoints and no chain) is evidence, and is left
        for ``audit verify`` to report rather than papered over.
        """
        with self.datastore.get_connection() as conn:
            with conn.cursor(row_factory=tuple_row) as curs:
                if _first(curs.execute(self._chain_or_checkpoint_exists)) or not _first(
                    curs.execute(self._event_exists)
                ):
                    return
            with conn.transaction(), conn.cursor() as curs:
                self._lock_table(curs)  # no writer appends meanwhile
                # The cursor was made with the pool's dict rows; its type keeps them.
                curs.row_factory = tuple_row  # type: ignore[assignment]
                if _first(curs.execute(self._chain_or_checkpoint_exists)):
                    return  # another process did it first
                log.warning("audit chain: chaining the events recorded before it existed",
                            schema=self.datastore.schema, table=self.events_table_name)
                # In notification order by the index (the heap is in that order), never a sort
                # of the whole log, whatever the statistics say.
                for setting in ("enable_sort", "enable_bitmapscan", "enable_seqscan"):
                    curs.execute(f"SET LOCAL {setting} = off")
                previous, count = GENESIS, 0
                with conn.cursor("sip_chain_backfill", binary=True, row_factory=tuple_row) as rows:
                    rows.itersize = BACKFILL_BATCH
                    rows.execute(self._select_all_events)
                    while batch := rows.fetchmany(BACKFILL_BATCH):
                        hashes = chain_over(previous, [r[1:] for r in batch])
                        curs.execute(self._insert_chain, ([r[0] for r in batch], hashes))
                        previous, count = hashes[-1], count + len(batch)
                log.warning("audit chain: existing events chained", events=count,
                            schema=self.datastore.schema)

    # ------------------------------------------------------------------ the command log

    def _insert_events(
        self,
        curs: Cursor[DictRow],
        stored_events: Sequence[StoredEvent],
        **kwargs: Any,
    ) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        entry: CommandEntry | None = kwargs.get("command")
        if entry is not None and stored_events:
            # Only the case's own events: an individual's register (R09) is saved in the same
            # transaction, but its id is derived from the personal identity number, and a row
            # naming it beside the case id would link the person to the case for as long as the
            # log is kept — also after the case's personal data is erased (R34).
            own = [e for e in stored_events if e.originator_id == entry.case_id]
            curs.execute(
                self._insert_command,
                (
                    entry.command_id,
                    entry.command,
                    entry.case_id,
                    [e.originator_id for e in own],
                    [e.originator_version for e in own],
                ),
                prepare=True,
            )

    def find_command(self, command_id: UUID) -> RecordedCommand | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_command, (command_id,), prepare=True)
            row = curs.fetchone()
        if row is None:
            return None
        versions = row["case_versions"] or []
        return RecordedCommand(
            command_id=command_id,
            command=row["command"],
            case_id=row["case_id"],
            first_version=min(versions),
            last_version=max(versions),
            notification_ids=tuple(row["notification_ids"]),
            recorded_at=row["recorded_at"],
        )


def _first(curs: Cursor[Any]) -> Any:
    row = curs.fetchone()
    return row[0] if row is not None else None
