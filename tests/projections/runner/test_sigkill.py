"""Kill -9 during catch-up, ten times: the read models end exactly as a fresh build.

`sip-ledger projections run` is a child process catching up a log of a few thousand events in
small batches. Each time its positions have moved since the last kill it is SIGKILLed at a random
moment (inside a batch transaction, between two models' transactions, while reading...) and
started again. After the tenth kill it is left to finish: every model must hold exactly what one
uninterrupted build of the same log holds, with no event applied twice and none left out.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time

import pytest

from adapters.store import Store
from tests.support.runner import (
    MODEL_NAMES,
    assert_equals_reference,
    cli_popen,
    connect,
    head,
    positions,
    tracking_rows,
    write_demo_log,
)

pytestmark = pytest.mark.store

CASES = 320  # about 2,800 events
BATCH_SIZE = 20  # ~140 batches of 3 transactions each: about a second of catch-up
KILLS = 10


def _start(store: Store) -> subprocess.Popen:
    return cli_popen(
        store, "projections", "run", "--batch-size", str(BATCH_SIZE), "--poll-interval", "0.2",
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def _wait_for_progress(conn, store: Store, since: dict[str, int], at_least: int,
                       proc: subprocess.Popen, timeout: float = 30.0) -> dict[str, int]:
    """Until the positions have moved since ``since`` and one has reached ``at_least``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = positions(conn, store.schema)
        if len(now) == len(MODEL_NAMES) and now != since and max(now.values()) >= at_least:
            return now
        if proc.poll() is not None:
            raise AssertionError(f"runner exited early ({proc.returncode}): "
                                 f"{proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.002)
    raise AssertionError(f"no progress within {timeout} s from {since}")


def test_sigkill_during_catch_up_ten_times_ends_as_a_fresh_build(fresh_store: Store) -> None:
    write_demo_log(fresh_store, CASES, seed=23)
    last = head(fresh_store)
    assert last > 2000
    rng = random.Random(20261123)
    kills: list[dict[str, int]] = []
    with connect(fresh_store) as conn:
        seen = dict.fromkeys(MODEL_NAMES, 0)
        for n in range(KILLS):
            # Spread the kills over the whole catch-up: aim at a random point of what is left.
            low = max(seen.values())
            target = low + int(rng.uniform(0.3, 1.3) * (0.85 * last - low) / (KILLS - n))
            target = min(target, int(0.9 * last))
            proc = _start(fresh_store)
            try:
                _wait_for_progress(conn, fresh_store, seen, target, proc)
                time.sleep(rng.uniform(0.0, 0.012))
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
                proc.stderr.close()
            assert proc.returncode == -signal.SIGKILL
            seen = positions(conn, fresh_store.schema)
            kills.append(seen)
        # Every kill landed during the catch-up, and each after some progress of its own.
        assert all(min(p.values()) < last for p in kills), kills
        assert all(a != b for a, b in zip(kills, kills[1:], strict=False)), kills
        assert max(max(p.values()) for p in kills) > 0

        proc = _start(fresh_store)
        try:
            deadline = time.monotonic() + 60
            while positions(conn, fresh_store.schema) != dict.fromkeys(MODEL_NAMES, last):
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, positions(conn, fresh_store.schema)
                time.sleep(0.02)
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err.decode()[-2000:]

    assert_equals_reference(fresh_store)
    # Nothing half-done is left behind: only the live models' rows (and the library's own).
    assert set(tracking_rows(fresh_store)) - {"__migration__"} == set(MODEL_NAMES)
