"""/readyz's look at the write path: is a write holding the event table, or waiting for it, for
longer than ``SIP_READY_WRITE_STUCK_S``?

Every command's transaction takes the event table's EXCLUSIVE lock (the library's, for commit-
ordered notification ids), so one transaction that keeps it stops every organisation's writes
while reads still work: a readiness check that only reads would say "ready" throughout. One
query on ``pg_locks`` and ``pg_stat_activity`` (no lock taken, no write made) finds the oldest
transaction holding a lock on the table that blocks inserts, and the longest wait for one.
``pg_stat_activity`` shows the times of this role's own sessions only (unless the role has
pg_read_all_stats); those are the service's writers.
"""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import FastAPI

from adapters.logging import get_logger
from projections.storage import qualified
from projections.timeouts import set_local_timeouts

log = get_logger(__name__)

PROBE_TIMEOUT_S = 2.0
# Lock modes that keep an INSERT (ROW EXCLUSIVE) out of the table.
_BLOCKING_MODES = ["ShareLock", "ShareRowExclusiveLock", "ExclusiveLock", "AccessExclusiveLock"]

_QUERY = """
SELECT
  coalesce(max(extract(epoch FROM now() - a.xact_start))
           FILTER (WHERE l.granted AND l.mode = ANY(%(modes)s)), 0) AS held_s,
  coalesce(max(extract(epoch FROM now() - a.state_change))
           FILTER (WHERE NOT l.granted), 0) AS waited_s
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'relation' AND l.relation = to_regclass(%(table)s)
  AND a.pid <> pg_backend_pid()
"""


def write_path_stuck(services: Any) -> str | None:
    """Why the write path counts as stuck, or None (also when the store cannot answer: the
    read-side probe reports that)."""
    recorder = getattr(getattr(services, "ledger", None), "recorder", None)
    limit = getattr(getattr(services, "settings", None), "ready_write_stuck_s", None)
    if recorder is None or limit is None:
        return None  # no ledger here (a read-only app, a test's stand-in): nothing to probe
    table = qualified(recorder.datastore.schema, recorder.events_table_name)
    try:
        with services.datastore.transaction(commit=False) as curs:
            set_local_timeouts(curs, statement=PROBE_TIMEOUT_S)
            curs.execute(_QUERY, {"modes": _BLOCKING_MODES, "table": table.as_string(curs)})
            row = curs.fetchone()
    except Exception as error:  # the read-side probe says what is wrong with the store
        log.info("write-path probe failed", error=type(error).__name__)
        return None
    held, waited = float(row["held_s"]), float(row["waited_s"])
    if held > limit:
        return (f"the write path is stuck: a transaction has held the event log for {held:.0f} s "
                f"(more than SIP_READY_WRITE_STUCK_S={limit:g}); commands wait behind it")
    if waited > limit:
        return (f"the write path is stuck: a write has waited {waited:.0f} s for the event log "
                f"(more than SIP_READY_WRITE_STUCK_S={limit:g})")
    return None


async def write_path_stuck_within(services: Any, app: FastAPI) -> str | None:
    """``write_path_stuck`` in a worker thread (the probes' own small thread limit), given up
    on after ``PROBE_TIMEOUT_S``."""
    limiter = getattr(app.state, "write_probe_limiter", None)
    if limiter is None:
        limiter = app.state.write_probe_limiter = anyio.CapacityLimiter(1)
    with anyio.move_on_after(PROBE_TIMEOUT_S + 0.5):
        return await anyio.to_thread.run_sync(
            write_path_stuck, services, abandon_on_cancel=True, limiter=limiter
        )
    return None  # the read-side probe reports a store that does not answer
