"""The live runner: woken by NOTIFY, polling when LISTEN is lost, surviving lost connections,
and telling other processes when a write has been projected."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest

from adapters.store import Store
from domain.ledger import SipLedger
from projections.runner import ReadModelRunner, wait_until_projected
from tests.conftest import TEST_SECRET
from tests.support.runner import (
    Writer,
    assert_equals_reference,
    backends,
    connect,
    head,
    positions,
    tagged_datastore,
    terminate,
    write_demo_log,
)

pytestmark = pytest.mark.store


class Events:
    """The runner's log calls, for a test to wait on."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.changed = threading.Condition()

    def __call__(self, event: str, **fields: Any) -> None:
        with self.changed:
            self.seen.append((event, fields))
            self.changed.notify_all()

    def count(self, prefix: str) -> int:
        return sum(1 for event, _ in self.seen if event.startswith(prefix))

    def wait(self, prefix: str, at_least: int = 1, timeout: float = 10.0) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.count(prefix) >= at_least, timeout)


@pytest.fixture
def ledger(fresh_store: Store) -> Iterator[SipLedger]:
    ledger = fresh_store.ledger(individual_secret=TEST_SECRET)
    yield ledger
    ledger.close()


@pytest.fixture
def tag() -> str:
    return f"rm-test-{uuid.uuid4().hex[:10]}"


@contextmanager
def running(runner: ReadModelRunner) -> Iterator[ReadModelRunner]:
    """The runner started in its thread, and stopped (before its pool closes) at the end."""
    runner.start()
    try:
        yield runner
    finally:
        began = time.monotonic()
        runner.stop()
        assert time.monotonic() - began < 2, "stop took long"
        assert runner.thread is not None and not runner.thread.is_alive()
        assert runner.listener is not None and not runner.listener.is_alive()


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_notify_wakes_the_runner_long_before_its_poll(
    fresh_store: Store, ledger: SipLedger, tag: str
) -> None:
    writer = Writer(ledger)
    writer.one_case()
    with (
        tagged_datastore(fresh_store, tag) as datastore,
        running(ReadModelRunner(datastore, poll_interval=30.0)) as runner,
    ):
        assert runner.listening.wait(5)
        assert runner.wait_for(writer.last_nid, timeout=5)
        time.sleep(0.3)  # the catch-up and the listener's first wake-up are over: it sleeps
        for _ in range(5):
            nid = writer.one_case()
            began = time.monotonic()
            assert runner.wait_for(nid, timeout=2), "not projected: the NOTIFY did not wake it"
            assert time.monotonic() - began < 2
            assert all(p >= nid for p in runner.positions.values())
        assert runner.thread is not None and runner.thread.is_alive()
        with connect(fresh_store) as conn:
            assert min(positions(conn, fresh_store.schema).values()) >= nid
            listeners = backends(conn, tag, "LISTEN%")
        assert len(listeners) == 1


def test_a_lost_listen_connection_is_polled_over_and_restored(
    fresh_store: Store, ledger: SipLedger, tag: str
) -> None:
    writer = Writer(ledger)
    writer.one_case()
    events = Events()
    with (
        tagged_datastore(fresh_store, tag) as datastore,
        connect(fresh_store) as conn,
        running(ReadModelRunner(datastore, poll_interval=0.2, log=events)) as runner,
    ):
        assert runner.listening.wait(5)
        assert runner.wait_for(writer.last_nid, timeout=5)
        [listener] = backends(conn, tag, "LISTEN%")

        assert terminate(conn, [listener]) == 1
        assert events.wait("LISTEN connection lost"), events.seen
        # Written while the listener is down or coming back: projected all the same.
        for _ in range(3):
            nid = writer.one_case()
            assert runner.wait_for(nid, timeout=5)
        assert events.wait("LISTEN connection restored"), events.seen
        assert runner.listening.wait(5)
        _wait(lambda: len(backends(conn, tag, "LISTEN%")) == 1, 5, "a new LISTEN backend")
        [again] = backends(conn, tag, "LISTEN%")
        assert again != listener
        # And the restored listener wakes it again.
        nid = writer.one_case()
        assert runner.wait_for(nid, timeout=5)
        assert runner.thread is not None and runner.thread.is_alive()


def test_without_any_notify_the_poll_alone_keeps_the_models_fed(
    fresh_store: Store, ledger: SipLedger, tag: str
) -> None:
    """A listener on a channel nobody notifies is a LISTEN connection whose notifications are
    all lost: only the poll can bring the writes in."""
    writer = Writer(ledger)
    with tagged_datastore(fresh_store, tag) as datastore:
        deaf = ReadModelRunner(datastore, poll_interval=0.2)
        deaf.channel = f"nobody_notifies_{uuid.uuid4().hex[:8]}"
        with running(deaf) as runner:
            assert runner.listening.wait(5)
            time.sleep(0.3)
            for _ in range(3):
                nid = writer.one_case()
                assert runner.wait_for(nid, timeout=3), "the poll did not bring the write in"


def test_lost_batch_connections_are_retried_and_end_as_a_fresh_build(
    fresh_store: Store, tag: str
) -> None:
    write_demo_log(fresh_store, 120, seed=5)
    last = head(fresh_store)
    events = Events()
    terminated = 0
    # Small batches, so the catch-up lasts long enough to be interrupted several times.
    with (
        tagged_datastore(fresh_store, tag) as datastore,
        connect(fresh_store) as conn,
        running(ReadModelRunner(datastore, batch_size=5, poll_interval=0.2, log=events)) as runner,
    ):
        marks = [last * k // 5 for k in range(1, 4)]
        for mark in marks:
            _wait(lambda mark=mark: min(runner.positions.values()) >= mark, 30,
                  f"position {mark}")
            # Every backend of the runner's pool but ours (the listener too).
            terminated += terminate(conn, backends(conn, tag))
            assert min(runner.positions.values()) < last, "caught up before the kill"
        assert terminated >= len(marks)
        assert runner.wait_for(last, timeout=60), runner.positions
        assert runner.thread is not None and runner.thread.is_alive()
        assert events.count("read model batch failed") >= 1, events.seen
        assert runner.listening.wait(10)
        assert positions(conn, fresh_store.schema) == dict.fromkeys(runner.positions, last)
    assert_equals_reference(fresh_store)


def test_wait_until_projected_from_another_process(
    fresh_store: Store, ledger: SipLedger, tag: str
) -> None:
    writer = Writer(ledger)
    other = fresh_store.datastore()  # as another process would have: a pool of its own
    try:
        # No runner has ever run on this schema (no tracking table yet): False, not an error.
        first = writer.one_case()
        began = time.monotonic()
        assert not wait_until_projected(other, first, timeout=0.3)
        assert time.monotonic() - began >= 0.3
        with tagged_datastore(fresh_store, tag) as datastore:
            with running(ReadModelRunner(datastore, poll_interval=30.0)) as runner:
                assert runner.listening.wait(5)
                assert wait_until_projected(other, first, timeout=5)
                for _ in range(3):
                    nid = writer.one_case()
                    began = time.monotonic()
                    assert wait_until_projected(other, nid, timeout=5)
                    assert time.monotonic() - began < 2
            # Stopped: nothing projects any more.
            nid = writer.one_case()
            began = time.monotonic()
            assert not wait_until_projected(other, nid, timeout=0.5)
            assert 0.5 <= time.monotonic() - began < 3
            # Only some of the models: still False while none has it.
            assert not wait_until_projected(other, nid, models=("plans",), timeout=0.2)
    finally:
        other.close()


def test_stop_leaves_no_pooled_connection_listening(
    fresh_store: Store, ledger: SipLedger, tag: str
) -> None:
    """The pool outlives the runner (the service goes on querying through it): a connection
    still LISTENing would receive, and buffer, a NOTIFY for every write from then on."""
    writer = Writer(ledger)
    with tagged_datastore(fresh_store, tag) as datastore:
        with running(ReadModelRunner(datastore, poll_interval=30.0)) as runner:
            assert runner.listening.wait(5)
            assert runner.wait_for(writer.one_case(), timeout=5)
        with ExitStack() as held:  # every connection the pool has, all idle now
            conns = [held.enter_context(datastore.get_connection())
                     for _ in range(datastore.pool.get_stats()["pool_size"])]
            listening = [c.execute("SELECT pg_listening_channels() AS channel").fetchall()
                         for c in conns]
    assert listening == [[] for _ in conns]
