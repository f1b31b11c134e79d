"""What the read-model tests share: a ledger and a read-side datastore on a schema of their own,
and the full contents of the read models' tables."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL, Identifier

from adapters.store import Store
from domain.ledger import SipLedger

TEST_SECRET = b"test-individual-key"

# Every table of the read models, with the columns that order its rows (its primary key).
TABLES: dict[str, tuple[str, ...]] = {
    "rm_case_plans": ("case_id",),
    "rm_deadline_cases": ("case_id",),
    "rm_deadlines": ("case_id", "key"),
    "rm_case_history": ("case_id", "version"),
}


@dataclass
class Env:
    store: Store
    ledger: SipLedger
    datastore: PostgresDatastore

    @property
    def schema(self) -> str:
        return self.store.schema


@contextmanager
def schema_env(database_url: str, clock: Callable[[], datetime]) -> Iterator[Env]:
    """A ledger and a read-side datastore on a new empty schema, dropped afterwards."""
    store = Store(conninfo=database_url, schema=f"test_rm_{uuid.uuid4().hex[:12]}")
    ledger = datastore = None
    try:
        ledger = store.ledger(individual_secret=TEST_SECRET, clock=clock, pool_size=2)
        datastore = store.datastore()
        yield Env(store, ledger, datastore)
    finally:
        if datastore is not None:
            datastore.close()
        if ledger is not None:
            ledger.close()
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(store.schema)))


def table_rows(datastore: PostgresDatastore, base: str, suffix: str = "") -> list[dict[str, Any]]:
    """Every row of one table, every column, in primary-key order."""
    order = SQL(", ").join(Identifier(c) for c in TABLES[base])
    with datastore.transaction(commit=False) as curs:
        curs.execute(
            SQL("SELECT * FROM {}.{} ORDER BY {}").format(
                Identifier(datastore.schema), Identifier(base + suffix), order
            )
        )
        return [dict(row) for row in curs.fetchall()]


def snapshot(datastore: PostgresDatastore, suffix: str = "") -> dict[str, list[dict[str, Any]]]:
    return {base: table_rows(datastore, base, suffix) for base in TABLES}


def head(datastore: PostgresDatastore) -> int:
    with datastore.transaction(commit=False) as curs:
        curs.execute(
            SQL("SELECT coalesce(max(notification_id), 0) AS head FROM {}.sipledger_events")
            .format(Identifier(datastore.schema))
        )
        return curs.fetchone()["head"]
