"""The deadline of the work in hand (an HTTP request's, say), as the store's write path sees it.

Whoever starts the work sets it (``adapters/http/deadline.py`` per request); the recorder then
starts no insert once it has passed (``check``) and gives the database no more time than what is
left (``remaining``). It is a context variable, so it follows the work into the worker thread
that runs it (anyio copies the context) and stays out of every other request's way. Unset (a
CLI, a test, the demo loader): no deadline.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_deadline: ContextVar[float | None] = ContextVar("sip_deadline", default=None)
_seconds: ContextVar[float | None] = ContextVar("sip_deadline_seconds", default=None)


class DeadlinePassed(Exception):
    """The deadline passed before a write started: nothing was written."""

    def __init__(self, seconds: float | None) -> None:
        super().__init__("the deadline passed before the write started; nothing was written")
        self.seconds = seconds  # the deadline the work was given, for the message


@contextmanager
def deadline_in(seconds: float | None) -> Iterator[None]:
    """Give the work inside ``seconds`` from now (None: no deadline)."""
    token = _deadline.set(None if seconds is None else time.monotonic() + seconds)
    given = _seconds.set(seconds)
    try:
        yield
    finally:
        _seconds.reset(given)
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left before the deadline (never below 0), or None when there is none."""
    at = _deadline.get()
    return None if at is None else max(at - time.monotonic(), 0.0)


def check() -> None:
    """Raise ``DeadlinePassed`` if the deadline has passed."""
    left = remaining()
    if left is not None and left <= 0:
        raise DeadlinePassed(_seconds.get())
