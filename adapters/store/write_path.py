"""How the recorder writes without wedging the store: timeouts, a full flush, bounded retries.

**Why a flush.** The library inserts a command's events in psycopg's pipeline mode and ends
with ``Pipeline.sync()``. psycopg's ``pipeline_communicate`` (3.3.9, in its C and its Python
implementation alike) sends the queued statements, and stops writing as soon as its queue is
empty, even when libpq still holds unsent bytes (``PQflush`` returned 1: the socket took only
part of a large statement). It then waits for results; the server, which sends nothing in an
extended-protocol pipeline before the Sync it has not received, waits for the rest of the
statement (``ClientRead``), holding the event table's EXCLUSIVE lock. Whether it hangs depends on
how much of the last statements the socket took at once: a bind parameter of about 1 MB or more
on a Unix socket here hung almost always, 500 kB never. Plain psycopg shows it without the
ledger (a pipeline, one 1 MB ``bytea`` parameter, ``sync()``). So the recorder flushes libpq's
output completely (``flush_output``: psycopg's own ``send`` generator, which waits for the
socket and reads while it waits) before it syncs: the only bytes left for the sync are its own
5-byte Sync message, which a writable socket always takes whole.

**Timeouts.** Each write transaction sets ``statement_timeout`` and ``lock_timeout`` (never
more than what is left of the request's deadline), and on PostgreSQL 17 and later
``transaction_timeout``: a server waiting on its client mid-statement does not act on a
statement timeout (measured: the hung insert above outlived a 2 s statement_timeout), but a
transaction timeout ends the session and frees the lock. Older servers have the library's
``idle_in_transaction_session_timeout`` for a client that stops between statements.

**Retries.** Only a lost connection is tried again (a fresh connection; at most ``attempts``
in all and never past the deadline): the command log's primary key makes a retry of an insert
that did commit fail as a duplicate, which the ledger answers with the first result. An error
the server reported (disk full, read-only, a timeout, a lock not granted) rolled the
transaction back and is not retried: trying again would only hold the request longer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
import psycopg_pool
from eventsourcing.persistence import InterfaceError, OperationalError
from psycopg.generators import send
from psycopg_pool import PoolClosed, PoolTimeout

from adapters.store import deadline

T = TypeVar("T")

# Pause between tries after a lost connection: the pool replaces it meanwhile.
RETRY_PAUSE_S = 0.05
# SQLSTATEs that say the server ended the session (admin shutdown, crash, starting up) or the
# connection failed (class 08): another connection may well work.
_SESSION_ENDED = frozenset({"57P01", "57P02", "57P03"})


@dataclass(frozen=True)
class WriteLimits:
    """What one write transaction may take (SIP_WRITE_STATEMENT_TIMEOUT_S,
    SIP_WRITE_LOCK_TIMEOUT_S), and how often a lost connection is tried again."""

    statement_timeout_s: float = 5.0
    lock_timeout_s: float = 2.0
    attempts: int = 3

    def settings(self, server_version: int) -> tuple[str, ...]:
        """The values for the write transaction's set_config statement, in ms (see
        ``SipRecorder``): statement, lock and, on PostgreSQL 17+, transaction timeout."""
        left = deadline.remaining()
        statement = _capped(self.statement_timeout_s, left)
        lock = _capped(self.lock_timeout_s, left)
        values: tuple[str, ...] = (_ms(statement), _ms(lock))
        if server_version >= 170000:
            # The whole transaction: a little more than its statements, so a statement timeout
            # (a clear error) comes first whenever the server can act on it.
            values += (_ms(statement * 2 + lock),)
        return values


def _capped(seconds: float, left: float | None) -> float:
    return seconds if left is None else max(min(seconds, left), 0.001)


def _ms(seconds: float) -> str:
    return str(max(int(seconds * 1000), 1))


def flush_output(conn: psycopg.Connection[Any]) -> None:
    """Send everything libpq holds for ``conn`` (see the module's doc), waiting for the socket."""
    conn.wait(send(conn.pgconn))


def sqlstate_of(error: BaseException | None) -> str | None:
    """The SQLSTATE of a psycopg error, also behind the library's wrapping (``__cause__``)."""
    seen = 0
    while error is not None and seen < 5:
        state = getattr(error, "sqlstate", None)
        if state:
            return str(state)
        error = error.__cause__ or error.__context__
        seen += 1
    return None


def psycopg_error_of(error: BaseException | None) -> BaseException | None:
    seen = 0
    while error is not None and seen < 5:
        if isinstance(error, psycopg.Error):
            return error
        error = error.__cause__ or error.__context__
        seen += 1
    return None


def connection_lost(error: BaseException) -> bool:
    """True when ``error`` says the connection failed, not that the server refused the work.

    A pool that gave no connection in time is not "lost": waiting for it again would double
    the wait of a store that is down."""
    cause = psycopg_error_of(error)
    if isinstance(cause, (PoolTimeout, PoolClosed)):
        return False
    state = sqlstate_of(error)
    if state is None:
        return isinstance(cause, (psycopg.OperationalError, psycopg.InterfaceError))
    return state.startswith("08") or state in _SESSION_ENDED


def bounded(call: Callable[[], T], attempts: int) -> T:
    """``call()``, tried again after a lost connection while attempts and the deadline last."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except (InterfaceError, OperationalError) as error:
            left = deadline.remaining()
            if attempt >= attempts or not connection_lost(error) or (
                left is not None and left <= RETRY_PAUSE_S
            ):
                raise
        time.sleep(RETRY_PAUSE_S)
    raise AssertionError("unreachable")  # pragma: no cover


def check_sweeping_dead(pool: psycopg_pool.ConnectionPool[Any]) -> None:
    """Check connections as they are taken, and when one is dead, check every idle one at once.

    psycopg_pool's own check (the library's ``pre_ping``) discards a dead connection and waits
    before taking the next with exponential back-off (1 s, 2 s, …): after a restart or a
    ``pg_terminate_backend`` of all the pool's backends, a command would sleep through each dead
    connection in turn and pass the pool's wait (measured: 6 dead connections gave a
    PoolTimeout after 3 s). Sweeping them all at the first dead one costs one back-off at most.
    """

    def check(conn: psycopg.Connection[Any]) -> None:
        try:
            psycopg_pool.ConnectionPool.check_connection(conn)
        except Exception:
            pool.check()  # discards every idle dead connection; new ones are opened meanwhile
            raise

    pool._check = check  # the pool takes its check only in its constructor
