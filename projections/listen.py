"""One LISTEN connection, kept open with back-off: the wake-up of the read models' runner and of
the HTTP event feed.

Each NOTIFY on the channel calls ``on_wake`` (and a quiet ``poll_interval``, ``on_quiet``);
after a lost connection the loop reconnects, pausing 0.2, 0.4, … up to 5 seconds between
attempts, and calls ``on_wake`` once connected again, for whatever was recorded meanwhile.
The connection goes back to the pool UNLISTENed, so it does not go on buffering
notifications there.

What ends the loop is the caller's choice (``survive_any_error``): the runner's listener retries
only lost connections and lets any other error end its thread (the runner itself polls, so
nothing waits on it); the feed's listener is the only thing that wakes live streams, so it
retries whatever happens.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL, Identifier

# Lost connections and the like: try again. (The library's datastore turns psycopg's errors
# into its own classes.)
TRANSIENT = (psycopg.OperationalError, psycopg.InterfaceError, OperationalError, InterfaceError)
MAX_PAUSE_S = 5.0

Log = Callable[..., None]


def back_off(failures: int, first: float = 0.1) -> float:
    """The pause before attempt ``failures + 1``: doubling from ``2 * first``, at most 5 s."""
    return min(first * 2.0**failures, MAX_PAUSE_S)


def listen(
    datastore: PostgresDatastore,
    channel: str,
    *,
    stopping: threading.Event,
    listening: threading.Event,
    on_wake: Callable[[psycopg.Connection[Any]], None],
    poll_interval: float,
    on_quiet: Callable[[psycopg.Connection[Any]], None] | None = None,
    on_lost: Callable[[BaseException, int, float], None],
    on_restored: Callable[[int], None],
    survive_any_error: bool = False,
) -> None:
    """LISTEN on ``channel`` until ``stopping`` is set (see the module doc).

    ``on_wake(conn)`` runs once connected and then on each NOTIFY; ``on_quiet(conn)`` after
    each ``poll_interval`` that brought none; ``on_lost(error, failures, pause_s)`` before each
    pause;
    ``on_restored(failures)`` once connected after ``failures`` lost attempts.
    """
    failures = 0
    retried = Exception if survive_any_error else TRANSIENT
    while not stopping.is_set():
        try:
            with datastore.get_connection() as conn:
                conn.execute(SQL("LISTEN {}").format(Identifier(channel)))
                listening.set()
                if failures:
                    on_restored(failures)
                failures = 0
                try:
                    on_wake(conn)  # whatever was recorded while we were away
                    while not stopping.is_set():
                        notified = False
                        for _ in conn.notifies(timeout=poll_interval, stop_after=1):
                            notified = True
                        if notified:
                            on_wake(conn)
                        elif on_quiet is not None:
                            on_quiet(conn)
                finally:
                    listening.clear()
                conn.execute(SQL("UNLISTEN {}").format(Identifier(channel)))
        except retried as error:
            failures += 1
            pause = back_off(failures)
            on_lost(error, failures, pause)
            stopping.wait(pause)
    listening.clear()
