"""Two runners on the same models at once (the service's thread and a `projections run`, say):
each batch is applied by one of them, never by both, whatever their batch boundaries."""

from __future__ import annotations

import pytest

from adapters.store import Store
from projections.runner import ReadModelRunner
from tests.support.runner import assert_equals_reference, head, write_demo_log

pytestmark = pytest.mark.store


def test_two_runners_with_different_batches_apply_each_event_once(fresh_store: Store) -> None:
    write_demo_log(fresh_store, 100, seed=3)
    last = head(fresh_store)
    first, second = fresh_store.datastore(), fresh_store.datastore()
    runners = [
        ReadModelRunner(first, batch_size=7, poll_interval=0.1),
        ReadModelRunner(second, batch_size=13, poll_interval=0.1),
    ]
    try:
        for runner in runners:
            runner.start()
        for runner in runners:
            assert runner.wait_for(last, timeout=60), runner.positions
            assert runner.thread is not None and runner.thread.is_alive()
    finally:
        for runner in runners:
            runner.stop()
        first.close()
        second.close()
    assert_equals_reference(fresh_store)
