"""How long a read of ours may wait on PostgreSQL, set for one transaction.

A read of a read model must not hang behind a lock (a rebuild's swap, an operator's
``LOCK TABLE``) or a slow statement: the caller would rather answer 503 and be asked again. The
limits are ``SET LOCAL`` (``set_config(…, true)``): they end with the transaction and never leak
into the next user of a pooled connection. The ledger's write path sets its own, in one prepared
statement with the insert (adapters/store/recorder.py).
"""

from __future__ import annotations

from typing import Any, Protocol

import psycopg


class Executes(Protocol):
    """A psycopg connection or cursor: both run a statement the same way."""

    def execute(self, query: Any, params: Any = ..., /) -> Any: ...


def _ms(seconds: float) -> str:
    # 0 means "no limit" to PostgreSQL: a limit is never rounded down to it.
    return f"{max(int(seconds * 1000), 1)}ms"


def set_local_timeouts(curs: Executes, *, statement: float | None = None,
                       lock: float | None = None) -> None:
    """Limit this transaction's statements to ``statement`` seconds and its waits for a lock to
    ``lock`` seconds (None: leave that limit as it is). Call it inside a transaction."""
    settings = [(name, _ms(seconds)) for name, seconds in
                (("statement_timeout", statement), ("lock_timeout", lock)) if seconds is not None]
    if not settings:
        return
    curs.execute("SELECT " + ", ".join("set_config(%s, %s, true)" for _ in settings),
                 tuple(value for pair in settings for value in pair))


def timed_out(error: BaseException | None) -> bool:
    """Whether ``error`` is a lock wait or a statement that ran out of its time (psycopg's
    LockNotAvailable or QueryCanceled), also behind the library's wrapping (``__cause__``)."""
    seen = 0
    while error is not None and seen < 5:
        if isinstance(error, (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled)):
            return True
        error = error.__cause__
        seen += 1
    return False
