"""Events a read model could not apply, set aside in plain sight instead of stopping the model.

Why: the log is the legal record and is never changed. An event that an older release let in and
that a model cannot hold (a NUL byte in a text field, which PostgreSQL refuses; data the fold
does not expect) would otherwise stop that model at the event for good, and every read and
access decision that depends on the model with it. So the runner applies everything else, moves
the model's position on, and writes the event here: which model, where in the log, which case,
which event type, the error's class and a message with no personal data, and when.

A case with a quarantined event is no longer faithfully modelled. Every later event of that case
is quarantined in the same model too (its row stays as it stood before the first one, instead of
being folded on without it), and readers refuse the case (503) instead of answering from it:
its parties and consent are unknown there.

A rebuild (``sip-ledger projections rebuild``, or a fixed release, whose new schema version
rebuilds the model at start) re-applies the events: the rebuilt model's quarantine replaces the
live one's at the swap, so an event it could apply leaves the quarantine with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import DataError, IntegrityError, PersistenceError
from psycopg import Cursor
from psycopg.sql import SQL, Composable, Composed, Identifier

from .rows import the_row
from .storage import QUARANTINE_TABLE, qualified

# An event that fails with one of these fails the same way every time it is applied: the data
# cannot be held (psycopg's DataError: NUL bytes, out-of-range values; a constraint the record
# breaks) or the fold does not understand it. Anything else (a lost connection, a timeout, a
# missing table) says nothing about the event and is retried by the runner instead.
POISON: tuple[type[BaseException], ...] = (
    psycopg.DataError, psycopg.IntegrityError, DataError, IntegrityError,
    KeyError, IndexError, TypeError, ValueError, AttributeError,
)
HELD_BEHIND = "an earlier event of this case is quarantined in this model"
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")
_NUMBERS = re.compile(r"\d{6,}")  # a personal identity number, or any long number
_MESSAGE_MAX = 200


def is_poison(error: BaseException) -> bool:
    return isinstance(error, POISON)


def describe(error: BaseException) -> tuple[str, str]:
    """The error's class and a one-line message without values: database and fold errors quote
    the offending value, which may be a name or a personal identity number."""
    cause = error.__cause__ if isinstance(error, PersistenceError) and error.__cause__ else error
    name = type(cause).__name__
    lines = str(cause).strip().splitlines()
    text = _NUMBERS.sub("#", _QUOTED.sub("…", lines[0] if lines else ""))
    sqlstate = getattr(cause, "sqlstate", None)
    message = f"{name}: {text}" if text else name
    if sqlstate:
        message += f" (SQLSTATE {sqlstate})"
    return name, message.replace("\x00", "")[:_MESSAGE_MAX]


@dataclass(frozen=True)
class Quarantined:
    model: str
    notification_id: int
    case_id: UUID | None
    event_type: str
    error: str
    message: str
    quarantined_at: datetime | None = None


class Quarantine:
    """The quarantine table of one schema (shared by every model and table set)."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.table: Composable = qualified(schema, QUARANTINE_TABLE)

    def create_statements(self) -> list[SQL | Composed]:
        return [
            SQL(
                "CREATE TABLE IF NOT EXISTS {} (model text NOT NULL, "
                "notification_id bigint NOT NULL, case_id uuid, event_type text NOT NULL, "
                "error text NOT NULL, message text NOT NULL, "
                "quarantined_at timestamptz NOT NULL DEFAULT now(), "
                "PRIMARY KEY (model, notification_id))"
            ).format(self.table),
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (case_id)").format(
                Identifier(f"{QUARANTINE_TABLE}_case"), self.table),
        ]

    def add(self, curs: Cursor[Any], entries: Sequence[Quarantined]) -> None:
        """Inside the batch's transaction: the rows commit with the position that skips them."""
        if not entries:
            return
        curs.executemany(
            SQL(
                "INSERT INTO {} (model, notification_id, case_id, event_type, error, message) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (model, notification_id) DO NOTHING"
            ).format(self.table),
            [(q.model, q.notification_id, q.case_id, q.event_type, q.error, q.message)
             for q in entries],
        )

    def clear(self, curs: Cursor[Any], model: str) -> None:
        curs.execute(SQL("DELETE FROM {} WHERE model = %s").format(self.table), (model,))

    def move(self, curs: Cursor[Any], source: str, target: str) -> None:
        """A rebuild's swap: the rebuilt table set's quarantine becomes the live model's."""
        self.clear(curs, target)
        curs.execute(SQL("UPDATE {} SET model = %s WHERE model = %s").format(self.table),
                     (target, source))

    def entries(self, curs: Cursor[Any], models: Iterable[str] | None = None,
                case_id: UUID | None = None) -> list[Quarantined]:
        conditions: list[Composable] = []
        params: list[object] = []
        if models is not None:
            conditions.append(SQL("model = ANY(%s)"))
            params.append(list(models))
        if case_id is not None:
            conditions.append(SQL("case_id = %s"))
            params.append(case_id)
        where = SQL(" WHERE ") + SQL(" AND ").join(conditions) if conditions else SQL("")
        curs.execute(
            SQL("SELECT model, notification_id, case_id, event_type, error, message, "
                "quarantined_at FROM {}{} ORDER BY model, notification_id").format(
                self.table, where),
            params,
        )
        return [Quarantined(**row) for row in curs.fetchall()]

    def counts(self, curs: Cursor[Any], models: Iterable[str]) -> dict[str, int]:
        """Events set aside per model; none while the table does not exist yet (a store the
        runner has not started on: status and /readyz ask before it has)."""
        curs.execute("SELECT to_regclass(%s) IS NOT NULL AS kept", (self.table.as_string(curs),))
        if not the_row(curs)["kept"]:
            return {}
        curs.execute(
            SQL("SELECT model, count(*) AS n FROM {} WHERE model = ANY(%s) GROUP BY model")
            .format(self.table),
            (list(models),),
        )
        return {row["model"]: row["n"] for row in curs.fetchall()}


def quarantined_in_case(curs: Cursor[Any], schema: str, case_id: UUID,
                        models: Iterable[str]) -> list[Quarantined]:
    """The events of ``case_id`` the named (live) models have set aside; none for most cases."""
    return Quarantine(schema).entries(curs, models=models, case_id=case_id)
