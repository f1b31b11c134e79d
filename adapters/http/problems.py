"""Errors as RFC 9457 problem details (``application/problem+json``).

Every refusal names what it concerns: the field (``field``) and, where a SIP rule applies, the
rule id (``rule``) from DOMAIN.md. Nothing reaches a caller as a stack trace: an unexpected
error is logged (without personal data) and answered 500 with the request id to quote, and a
store that fails is answered 503 saying what happened and whether anything was written
(``store_problems.py``).
"""

from __future__ import annotations

from typing import Any

import psycopg
from eventsourcing.persistence import PersistenceError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapters.identity.tokens import InvalidToken
from adapters.logging import get_logger, one_line
from adapters.store.deadline import DeadlinePassed
from domain.errors import (
    CaseNotFound,
    InvalidInput,
    NotAuthorised,
    SipError,
    VersionConflict,
)

log = get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://sip-ledger.example/problems/"


class Problem(BaseModel):
    """RFC 9457 problem details, with the field and rule the refusal concerns."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str = ""
    instance: str | None = None
    field: str | None = None
    rule: str | None = None
    current_version: int | None = None
    errors: list[dict[str, Any]] | None = None
    request_id: str | None = None


class ProblemError(Exception):
    """Raised by the routes to answer with a problem (403 refusals, 404 not found, …)."""

    def __init__(
        self, status: int, title: str, detail: str = "", *, kind: str | None = None,
        field: str | None = None, rule: str | None = None, headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail = status, title, detail
        self.kind, self.field, self.rule = kind, field, rule
        self.headers = headers
        self.extra = extra


# Shown in the OpenAPI document for every route that can refuse.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": description}
    for status, description in {
        401: "No valid bearer token",
        403: "Not allowed for this caller (roles, or access by consent R13)",
        404: "No such case",
        409: "Version conflict: the case moved on (current_version says where it is)",
        422: "Invalid input or a SIP rule refuses (field and rule say which)",
        503: "The store is unreachable, refusing writes or too slow, or the request's "
             "deadline passed (Retry-After says when to try again; detail says whether "
             "anything was written)",
    }.items()
}


def problem_response(
    request: Request, status: int, title: str, detail: str = "", *, kind: str | None = None,
    field: str | None = None, rule: str | None = None, headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_BASE + kind if kind else "about:blank",
        "title": title,
        "status": status,
        "detail": one_line(detail or title),
    }
    instance = instance_of(request)
    if instance is not None:
        body["instance"] = instance
    if field is not None:
        body["field"] = field
    if rule is not None:
        body["rule"] = rule
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def instance_of(request: Request) -> str | None:
    """The matched route's template (``/cases/{case_id}``), never the path as sent: a path
    parameter may be anything a client typed, a personal identity number included (R35), and
    the answer must not echo it. No route matched: no ``instance`` (the ``request_id`` still
    names the occurrence)."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else None


def internal_error(request: Request) -> JSONResponse:
    """The answer to a bug: nothing of it but the request id to quote."""
    return problem_response(request, 500, "Internal error",
                            "an unexpected error; quote the request id to support",
                            kind="internal-error")


def _sip_error(request: Request, error: SipError) -> JSONResponse:
    fields = {"field": error.field, "rule": error.rule}
    if isinstance(error, VersionConflict):
        return problem_response(
            request, 409, "Version conflict", error.message, kind="version-conflict",
            current_version=error.current_version, **fields,
        )
    if isinstance(error, CaseNotFound):
        return problem_response(request, 404, "Case not found", error.message,
                                kind="case-not-found", **fields)
    if isinstance(error, NotAuthorised):
        return problem_response(request, 403, "Not authorised by the SIP rules", error.message,
                                kind="not-authorised", **fields)
    if isinstance(error, InvalidInput):
        return problem_response(request, 422, "Invalid input", error.message,
                                kind="invalid-input", **fields)
    return problem_response(request, 422, "Refused by a SIP rule", error.message,
                            kind="rule-violation", **fields)


def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    errors = [
        {"field": _field(_redacted(e)), "message": one_line(e["msg"]), "type": e["type"]}
        for e in error.errors()
    ]
    first = errors[0] if errors else {"field": None, "message": "invalid request"}
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return problem_response(
        request, 422, "Invalid input", f"{first['field']}: {first['message']}{more}",
        kind="invalid-input", field=first["field"], errors=errors,
    )


UNKNOWN_FIELD = "(unknown field)"


def _redacted(error: Any) -> tuple[Any, ...]:
    """The error's location without a key the client made up: an unknown key's name is the
    client's text, e.g. a personal identity number sent as a key (R35); its position (the
    object it was found in) is kept."""
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden" and loc:
        return (*loc[:-1], UNKNOWN_FIELD)
    return loc


def _field(loc: Any) -> str:
    # ("body", "plan", "goals", 0, "description") -> "plan.goals.0.description";
    # a query or header parameter keeps its name.
    parts = [str(p) for p in loc]
    if len(parts) > 1 and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, error: ProblemError) -> JSONResponse:
        return problem_response(
            request, error.status, error.title, error.detail, kind=error.kind,
            field=error.field, rule=error.rule, headers=error.headers, **error.extra,
        )

    @app.exception_handler(SipError)
    async def _refused(request: Request, error: SipError) -> JSONResponse:
        return _sip_error(request, error)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return _validation_error(request, error)

    @app.exception_handler(InvalidToken)
    async def _unauthenticated(request: Request, error: InvalidToken) -> JSONResponse:
        return problem_response(
            request, 401, "Not authenticated", str(error), kind="invalid-token",
            field="Authorization", headers={"WWW-Authenticate": 'Bearer realm="sip-ledger"'},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return problem_response(request, error.status_code, str(error.detail),
                                headers=getattr(error, "headers", None))

    # The store's failures, each told as what happened and whether anything was written
    # (store_problems.py): unreachable, refusing writes (disk full, read-only), too slow or
    # busy (statement and lock timeouts), the request's deadline passed.
    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(psycopg.InternalError)
    @app.exception_handler(psycopg.DataError)
    @app.exception_handler(PersistenceError)
    @app.exception_handler(DeadlinePassed)
    async def _store(request: Request, error: Exception) -> JSONResponse:
        from adapters.http.store_problems import (
            store_problem,  # it builds on problem_response, here
        )

        return store_problem(request, error)

    @app.exception_handler(Exception)
    async def _bug(request: Request, error: Exception) -> JSONResponse:
        log.error("unexpected error", error=type(error).__name__, exc_info=error)
        return internal_error(request)
