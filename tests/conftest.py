"""Shared fixtures: a real PostgreSQL for every test that needs the store.

SIP_TEST_DATABASE_URL selects an external server; otherwise the embedded server in
var/test-pgdata is started (and stopped at exit). Each test run gets a clean schema of its own,
dropped at the end, so runs never see each other's events.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from adapters.store import Store, start_embedded_postgres
from adapters.store.keys import keys_conninfo
from domain.ledger import SipLedger

ROOT = Path(__file__).resolve().parent.parent
TEST_SECRET = b"test-individual-key"
# The tests' "today" (date.today(), in builders and worlds) is the ledger's: the Swedish day
# (domain/clock.py). Without this, between midnight in Stockholm and midnight UTC a test's today
# is the ledger's yesterday, and a plan is "decided" before its meeting.
os.environ["TZ"] = "Europe/Stockholm"
time.tzset()
# One key-encryption key for every store the tests open, in this process and in the command
# lines and services they start (which inherit the environment): a committed test key, as
# tests/support/organisations.toml is a committed test directory.
os.environ.setdefault("SIP_KEK_FILE", str(ROOT / "tests" / "support" / "test-kek.key"))


class Clock:
    """A clock the tests can set; None means the real time."""

    def __init__(self) -> None:
        self.fixed: datetime | None = None

    def __call__(self) -> datetime:
        return self.fixed or datetime.now(tz=UTC)

    def set(self, instant: datetime) -> None:
        self.fixed = instant if instant.tzinfo else instant.replace(tzinfo=UTC)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    url = os.environ.get("SIP_TEST_DATABASE_URL") or start_embedded_postgres(
        ROOT / "var" / "test-pgdata")
    yield url
    _drop_orphaned_key_schemas(url)


def _drop_orphaned_key_schemas(url: str) -> None:
    """The tests drop their schemas in the event store's database; each also has one of the
    same name in the key store's (adapters/store/keys.py). Drop those whose event-store schema
    is gone (a test of another run still working keeps its own)."""
    with psycopg.connect(url, autocommit=True) as conn:
        live = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace").fetchall()}
    try:
        keys = psycopg.connect(keys_conninfo(url), autocommit=True)
    except psycopg.OperationalError:
        return  # no key store was ever made
    with keys:
        names = [r[0] for r in keys.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'test%'").fetchall()]
        for name in names:
            if name not in live:
                keys.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(name)))


@pytest.fixture(scope="session")
def store(database_url: str) -> Iterator[Store]:
    schema = f"test_{uuid.uuid4().hex[:12]}"
    yield Store(conninfo=database_url, schema=schema)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(SQL("DROP SCHEMA IF EXISTS {0} CASCADE").format(Identifier(schema)))


@pytest.fixture
def fresh_store(database_url: str) -> Iterator[Store]:
    """A store with an empty schema of its own, for tests that look at the whole log."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    yield Store(conninfo=database_url, schema=schema)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(SQL("DROP SCHEMA IF EXISTS {0} CASCADE").format(Identifier(schema)))


@pytest.fixture(scope="session")
def session_clock() -> Clock:
    return Clock()


@pytest.fixture
def clock(session_clock: Clock) -> Iterator[Clock]:
    session_clock.fixed = None
    yield session_clock
    session_clock.fixed = None


@pytest.fixture(scope="session")
def session_ledger(store: Store, session_clock: Clock) -> Iterator[SipLedger]:
    ledger = store.ledger(individual_secret=TEST_SECRET, clock=session_clock)
    yield ledger
    ledger.close()


@pytest.fixture
def ledger(session_ledger: SipLedger, clock: Clock) -> SipLedger:
    """The application service on the session's schema, with a clock the test may set."""
    return session_ledger
