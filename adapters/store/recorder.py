"""The library's PostgreSQL application recorder, plus a command log in the same transaction.

Everything else is the library's own insert path, LOCK TABLE included: that lock is what makes
notification ids commit-ordered, so a subscriber never skips an event. The command log row is
written after the events, inside the same transaction, so a command either has its events and its
log row or neither.
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
        table = SQL("{0}.{1}").format(
            Identifier(self.datastore.schema), Identifier(self.commands_table_name)
        )
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {table} ("
                "command_id uuid PRIMARY KEY, "
                "command text NOT NULL, "
                "case_id uuid NOT NULL, "
                "first_version bigint NOT NULL, "
                "last_version bigint NOT NULL, "
                "notification_ids bigint[] NOT NULL, "
                "recorded_at timestamptz NOT NULL DEFAULT now())"
            ).format(table=table)
        )
        self._insert_command = SQL(
            "INSERT INTO {table} (command_id, command, case_id, first_version, last_version, "
            "notification_ids) VALUES (%s, %s, %s, %s, %s, %s) RETURNING command_id"
        ).format(table=table)
        self._select_command = SQL("SELECT * FROM {table} WHERE command_id = %s").format(
            table=table
        )

    def _fetch_ids_after_insert_events(
        self,
        curs: Cursor[DictRow],
        stored_events: Sequence[StoredEvent],
        **kwargs: Any,
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        entry: CommandEntry | None = kwargs.get("command")
        if entry is not None and ids:
            versions = [
                e.originator_version for e in stored_events if e.originator_id == entry.case_id
            ]
            curs.execute(
                self._insert_command,
                (
                    entry.command_id,
                    entry.command,
                    entry.case_id,
                    min(versions),
                    max(versions),
                    list(ids),
                ),
                prepare=True,
            )
            # Fetching forces the pipeline to sync here, so a repeated command id fails now as an
            # IntegrityError and the whole transaction, events included, is rolled back.
            curs.fetchone()
        return ids

    def find_command(self, command_id: UUID) -> RecordedCommand | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_command, (command_id,), prepare=True)
            row = curs.fetchone()
        if row is None:
            return None
        return RecordedCommand(
            command_id=row["command_id"],
            command=row["command"],
            case_id=row["case_id"],
            first_version=row["first_version"],
            last_version=row["last_version"],
            notification_ids=tuple(row["notification_ids"]),
            recorded_at=row["recorded_at"],
        )
