"""Rebuilding the read models while the runner feeds them and commands keep coming.

Readers must never see a half-built model: no error, and no count that goes down (the models
only ever gain rows). Afterwards the runner goes on from where the swapped-in model stands, and
the tables end exactly as a fresh build of the log. The command line's ``status`` and
``rebuild`` are checked as a child process would run them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from adapters.store import Store
from domain.ledger import SipLedger
from projections.rebuild import rebuild, status
from projections.runner import ALL_MODELS, ReadModelRunner
from tests.conftest import TEST_SECRET
from tests.support.runner import (
    MODEL_NAMES,
    TABLES,
    Writer,
    assert_equals_reference,
    cli_run,
    connect,
    head,
    positions,
    tracking_rows,
    write_demo_log,
)

pytestmark = pytest.mark.store


class Reader(threading.Thread):
    """Counts the rows of every read model table, over and over, on a connection of its own."""

    def __init__(self, store: Store) -> None:
        super().__init__(name="reader", daemon=True)
        self.store = store
        self.stopping = threading.Event()
        self.errors: list[BaseException] = []
        self.decreases: list[tuple[str, int, int]] = []
        self.last = dict.fromkeys(TABLES, 0)
        self.rounds = 0

    def run(self) -> None:
        queries = {
            table: SQL("SELECT count(*) FROM {}.{}").format(
                Identifier(self.store.schema), Identifier(table))
            for table in TABLES
        }
        with connect(self.store) as conn:
            while not self.stopping.is_set():
                for table, query in queries.items():
                    try:
                        count = conn.execute(query).fetchone()[0]
                    except psycopg.Error as error:
                        self.errors.append(error)
                        continue
                    if count < self.last[table]:
                        self.decreases.append((table, self.last[table], count))
                    self.last[table] = count
                self.rounds += 1


class CommandWriter(threading.Thread):
    def __init__(self, ledger: SipLedger) -> None:
        super().__init__(name="writer", daemon=True)
        self.writer = Writer(ledger)
        self.stopping = threading.Event()
        self.errors: list[BaseException] = []

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.writer.one_case()
            except Exception as error:  # reported by the test
                self.errors.append(error)
                return
            time.sleep(0.005)


@pytest.fixture
def ledger(fresh_store: Store) -> Iterator[SipLedger]:
    ledger = fresh_store.ledger(individual_secret=TEST_SECRET)
    yield ledger
    ledger.close()


def test_rebuild_beside_a_live_runner_never_shows_a_half_built_model(
    fresh_store: Store, ledger: SipLedger
) -> None:
    write_demo_log(fresh_store, 150, seed=41)
    datastore = fresh_store.datastore()
    runner = ReadModelRunner(datastore, poll_interval=0.2)
    reader = Reader(fresh_store)
    writer = CommandWriter(ledger)
    try:
        runner.start()
        assert runner.wait_for(head(fresh_store), timeout=30)
        reader.start()
        writer.start()
        time.sleep(0.2)
        for model in ALL_MODELS:
            before = writer.writer.commands
            # Small batches: several rounds of catch-up while the writer goes on.
            position = rebuild(datastore, model, batch_size=200)
            assert position > 0
            assert writer.writer.commands > before, "the writer stood still during the rebuild"
        time.sleep(0.3)  # the runner goes on after the swaps, with the writer still writing
        writer.stopping.set()
        writer.join(10)
        assert not writer.errors, writer.errors
        last = head(fresh_store)
        assert last == writer.writer.last_nid
        assert runner.wait_for(last, timeout=30), runner.positions
        assert runner.thread is not None and runner.thread.is_alive()
        time.sleep(0.1)
    finally:
        reader.stopping.set()
        writer.stopping.set()
        runner.stop()
        datastore.close()
    reader.join(10)
    assert not reader.errors, reader.errors[:3]
    assert not reader.decreases, reader.decreases[:5]
    assert reader.rounds > 10

    with connect(fresh_store) as conn:
        assert positions(conn, fresh_store.schema) == dict.fromkeys(MODEL_NAMES, last)
        leftovers = conn.execute(
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND (relname LIKE %s OR relname LIKE %s)",
            (fresh_store.schema, "%\\_\\_next%", "%\\_\\_old%"),
        ).fetchall()
    assert leftovers == []
    assert set(tracking_rows(fresh_store)) - {"__migration__"} == set(MODEL_NAMES)
    assert_equals_reference(fresh_store)


def test_status_and_rebuild_on_the_command_line(fresh_store: Store, ledger: SipLedger) -> None:
    writer = Writer(ledger)
    for _ in range(3):
        writer.one_case()
    last = head(fresh_store)

    shown = cli_run(fresh_store, "projections", "status")
    assert shown.returncode == 0, shown.stderr
    for name in MODEL_NAMES:
        assert name in shown.stdout

    rebuilt = cli_run(fresh_store, "projections", "rebuild", "plans")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert f"plans: rebuilt and swapped in at notification {last}" in rebuilt.stdout
    assert "deadlines" not in rebuilt.stdout

    everything = cli_run(fresh_store, "projections", "rebuild")
    assert everything.returncode == 0, everything.stderr
    for name in MODEL_NAMES:
        assert f"{name}: rebuilt and swapped in at notification {last}" in everything.stdout

    shown = cli_run(fresh_store, "projections", "status")
    assert shown.returncode == 0, shown.stderr
    for name in MODEL_NAMES:
        assert name in shown.stdout
    datastore = fresh_store.datastore()
    try:
        assert {s.name: (s.position, s.lag) for s in status(datastore)} == {
            name: (last, 0) for name in MODEL_NAMES}
    finally:
        datastore.close()

    wrong = cli_run(fresh_store, "projections", "rebuild", "nope")
    assert wrong.returncode == 2
    lines = [line for line in wrong.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, wrong.stderr
    assert "NAME" in lines[0] and "nope" in lines[0]
    assert wrong.stdout == ""
    assert_equals_reference(fresh_store)
