"""What a client is told when the store fails: what happened, and whether anything was written.

An error the server reported (it has a SQLSTATE) rolled its transaction back, so nothing was
written and the answer says so. A connection that failed mid-command is different: the commit
may have happened, so the outcome is unknown, and the answer says to send the command again
with the same ``Idempotency-Key`` (the ledger records it at most once and answers the first
result). The server's message text is never shown: it may quote a value from the request.

This module decides what is told (``told``); problems.py answers it as a problem, so this one
knows nothing of HTTP responses and the two do not import each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg_pool import PoolClosed, PoolTimeout

from adapters.logging import get_logger
from adapters.store.deadline import DeadlinePassed
from adapters.store.write_path import connection_lost, psycopg_error_of, sqlstate_of

log = get_logger(__name__)

NOTHING_WRITTEN = "nothing was written"
UNKNOWN_OUTCOME = (
    "if it was a command, its outcome is unknown: send it again with the same "
    "Idempotency-Key, which the ledger records at most once"
)


@dataclass(frozen=True)
class StoreProblem:
    status: int
    title: str
    kind: str
    detail: str
    retry_after_s: int
    written: bool | None = False  # False: nothing written; None: unknown


# By SQLSTATE (exact, then by class: the first two characters).
_BY_STATE: dict[str, StoreProblem] = {
    "57014": StoreProblem(503, "Store too slow", "store-timeout",
                          "the database cancelled the statement after its timeout "
                          "(SIP_WRITE_STATEMENT_TIMEOUT_S, or the request's deadline)", 2),
    "55P03": StoreProblem(503, "Store busy", "store-busy",
                          "another write held the event log longer than the lock timeout "
                          "(SIP_WRITE_LOCK_TIMEOUT_S)", 1),
    "25P03": StoreProblem(503, "Store too slow", "store-timeout",
                          "the database ended a transaction left idle too long", 2),
    "25P04": StoreProblem(503, "Store too slow", "store-timeout",
                          "the database ended a transaction that ran past its timeout", 2),
    "25006": StoreProblem(503, "Store refusing writes", "store-refusing-writes",
                          "the database is read-only (a standby, or in recovery)", 30),
    "53100": StoreProblem(503, "Store refusing writes", "store-refusing-writes",
                          "the database's disk is full", 30),
    "53200": StoreProblem(503, "Store refusing writes", "store-refusing-writes",
                          "the database is out of memory", 5),
    "53300": StoreProblem(503, "Store refusing writes", "store-refusing-writes",
                          "the database has no free connections", 5),
}
_BY_CLASS: dict[str, StoreProblem] = {
    "53": StoreProblem(503, "Store refusing writes", "store-refusing-writes",
                       "the database is out of resources", 30),
    "40": StoreProblem(503, "Store busy", "store-busy",
                       "the database rolled the transaction back (a conflict with another)", 1),
    "22": StoreProblem(422, "Invalid input", "invalid-input",
                       "the database cannot hold a value in this request", 0),
}
_UNREACHABLE = StoreProblem(503, "Store unreachable", "store-unreachable",
                            "the ledger's database cannot be reached", 5, written=None)
_NO_CONNECTION = StoreProblem(503, "Store unreachable", "store-unreachable",
                              "no connection to the ledger's database came free in time "
                              "(SIP_STORE_WAIT_S)", 5)
_SHUTTING_DOWN = StoreProblem(503, "Shutting down", "shutting-down",
                              "the service is shutting down", 5)


def classify(error: BaseException) -> StoreProblem:
    if isinstance(error, DeadlinePassed):
        seconds = f"{error.seconds:g} s " if error.seconds is not None else ""
        return StoreProblem(503, "Deadline passed", "deadline-passed",
                            f"the request's deadline ({seconds}SIP_REQUEST_DEADLINE_S) passed "
                            "before its command could be recorded", 1)
    cause = psycopg_error_of(error)
    if isinstance(cause, PoolTimeout):
        return _NO_CONNECTION
    if isinstance(cause, PoolClosed):
        return _SHUTTING_DOWN
    state = sqlstate_of(error)
    if state is None or connection_lost(error):
        return _UNREACHABLE
    known = _BY_STATE.get(state) or _BY_CLASS.get(state[:2])
    if known is not None:
        return known
    return StoreProblem(503, "Store error", "store-error",
                        f"the database refused the request (SQLSTATE {state})", 5)


@dataclass(frozen=True)
class Told:
    """What the answer to a store failure says: a problem's status, title, kind, detail and
    headers."""

    status: int
    title: str
    kind: str
    detail: str
    headers: dict[str, str] | None


def told(error: BaseException, method: str) -> Told:
    """What to tell the caller of a ``method`` request that ``error`` ended (logged here)."""
    problem = classify(error)
    log.warning("store error", problem=problem.kind, sqlstate=sqlstate_of(error),
                error=type(error).__name__)
    detail = problem.detail
    if method not in ("GET", "HEAD"):
        detail += "; " + (UNKNOWN_OUTCOME if problem.written is None else NOTHING_WRITTEN)
    if problem.status == 503:
        detail += "; try again"
    headers = {"Retry-After": str(problem.retry_after_s)} if problem.retry_after_s else None
    return Told(problem.status, problem.title, problem.kind, detail, headers)
