"""The library's PostgreSQL application recorder, plus a command log in the same transaction.

Everything else is the library's own insert path, LOCK TABLE included: that lock is what makes
notification ids commit-ordered, so a subscriber never skips an event. The command log row goes
into the library's ``_insert_events`` hook, in the same pipelined transaction as the events, so a
command has its events and its log row or neither. A repeated command id fails on the log's
primary key when the pipeline syncs, as an IntegrityError, and the whole transaction rolls back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from domain.ledger import CommandEntry, RecordedCommand


class SipRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        base = events_table_name.removesuffix("_events")
        self.commands_table_name = f"{base}_commands"
        self.check_identifier_length(self.commands_table_name)
        schema = Identifier(self.datastore.schema)
        commands = SQL("{0}.{1}").format(schema, Identifier(self.commands_table_name))
        events = SQL("{0}.{1}").format(schema, Identifier(self.events_table_name))
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
        # Append-only (R32: a mistake is corrected by a later event, never by editing one): the
        # event table and the command log refuse UPDATE, DELETE and TRUNCATE, whoever asks. In
        # production the application's role has only INSERT and SELECT besides (README).
        refuse = SQL("{0}.{1}").format(schema, Identifier("sip_refuse_change"))
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {refuse}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN RAISE EXCEPTION 'the SIP ledger is append-only: % on % refused', "
                "TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege'; END $$"
            ).format(refuse=refuse)
        )
        for table, name in ((events, self.events_table_name), (commands, self.commands_table_name)):
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

    def _insert_events(
        self,
        curs: Cursor[DictRow],
        stored_events: Sequence[StoredEvent],
        **kwargs: Any,
    ) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        entry: CommandEntry | None = kwargs.get("command")
        if entry is not None and stored_events:
            curs.execute(
                self._insert_command,
                (
                    entry.command_id,
                    entry.command,
                    entry.case_id,
                    [e.originator_id for e in stored_events],
                    [e.originator_version for e in stored_events],
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
