"""Ending ``sip-ledger serve`` within its grace period, whatever the store is doing.

uvicorn stops taking requests on SIGTERM and gives open ones ``GRACEFUL_SHUTDOWN_S``; then it
cancels them, but a route that runs in a worker thread and waits on the store (a lock, a slow
statement, a pool with no connection) goes on waiting, and Python waits for every such thread
before it exits. So, in order:

1. the writes still in progress are cancelled in the server (``SipRecorder.cancel_writes``): a
   thread waiting for the event table's lock or a statement gets its error and ends;
2. the services close in a thread of their own, given ``CLOSE_S``;
3. the worker threads get ``THREADS_S`` to finish; any still blocked after that are left
   behind: the exit handlers run (the embedded server this process started is stopped) and the
   process exits at once, logging how many threads it left.

An abandoned write is safe to abandon: its transaction never committed, or it did and the
command log answers a retry with the first result.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from typing import Any

from adapters.logging import get_logger

log = get_logger(__name__)

CLOSE_S = 3.0
THREADS_S = 2.0


def cancel_writes(services: Any) -> None:
    recorder = getattr(getattr(services, "ledger", None), "recorder", None)
    cancel = getattr(recorder, "cancel_writes", None)
    if cancel is not None:
        try:
            cancelled = cancel()
        except Exception as error:  # shutting down: report, never stop the shutdown
            log.warning("cancelling writes at shutdown failed", error=type(error).__name__)
            return
        if cancelled:
            log.warning("writes in progress cancelled at shutdown", writes=cancelled)


def close_within(services: Any, seconds: float = CLOSE_S) -> bool:
    """``services.close()`` given ``seconds``; False if it had not finished by then."""
    failed: list[BaseException] = []

    def close() -> None:
        try:
            services.close()
        except BaseException as error:
            failed.append(error)

    closer = threading.Thread(target=close, name="sip-shutdown-close", daemon=True)
    closer.start()
    closer.join(seconds)
    if closer.is_alive():
        log.warning("the services did not close in time; going on", seconds=seconds)
        return False
    if failed:
        log.warning("closing the services failed", error=type(failed[0]).__name__)
    return True


def exit_if_threads_blocked(seconds: float = THREADS_S) -> None:
    """Wait up to ``seconds`` for the other non-daemon threads; if some are still running, run
    the exit handlers and end the process now (exit code 0: the shutdown was asked for)."""
    until = time.monotonic() + seconds
    for thread in _others():
        thread.join(max(until - time.monotonic(), 0))
    blocked = _others()
    if not blocked:
        return
    log.warning("threads still blocked at shutdown; exiting without them",
                threads=len(blocked))
    atexit._run_exitfuncs()  # what Python would run at exit (the embedded server's stop)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: S110 - nothing left to report it to
            pass
    os._exit(0)


def _others() -> list[threading.Thread]:
    current = threading.current_thread()
    return [t for t in threading.enumerate()
            if t is not current and not t.daemon and t.is_alive()]
