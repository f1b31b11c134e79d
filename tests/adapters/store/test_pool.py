"""The read side's and the ledger's connection pools sweep dead connections at the first one
they meet (adapters/store/write_path.py ``check_sweeping_dead``). That replaces a private
attribute of psycopg_pool (``pool._check``): this guards that the patch is in place and still
does its work, should a psycopg_pool release rename or stop using it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack

import psycopg
import pytest
from eventsourcing.postgres import PostgresDatastore

from adapters.store import Store

pytestmark = pytest.mark.store

POOL_SIZE = 4


@pytest.fixture
def datastore(store: Store) -> Iterator[PostgresDatastore]:
    store.ensure_schema()
    opened = store.datastore(pool_size=POOL_SIZE, max_overflow=0)
    yield opened
    opened.close()


def test_the_pools_check_is_ours_and_a_pool_of_dead_connections_recovers_at_once(
    store: Store, datastore: PostgresDatastore,
) -> None:
    pool = datastore.pool
    check = getattr(pool, "_check", None)
    assert check is not None and "check_sweeping_dead" in check.__qualname__, (
        "psycopg_pool no longer keeps its check in _check: check_sweeping_dead patches nothing")

    # Every connection of the pool open and idle, each with its own backend.
    with ExitStack() as held:
        conns = [held.enter_context(datastore.get_connection()) for _ in range(POOL_SIZE)]
        pids = [conn.info.backend_pid for conn in conns]
    assert len(set(pids)) == POOL_SIZE

    # A restart, as the pool sees it: all its backends gone at once.
    with psycopg.connect(store.conninfo, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (pids,))

    started = time.monotonic()
    with datastore.transaction(commit=False) as curs:
        curs.execute("SELECT pg_backend_pid() AS pid")
        row = curs.fetchone()
    took = time.monotonic() - started
    assert row is not None and row["pid"] not in pids
    # psycopg_pool's own check would sleep 1 s, 2 s, … through each dead connection in turn.
    assert took < 2.0, f"the next checkout took {took:.2f} s"
