"""Errors as RFC 9457 problem details (``application/problem+json``).

Every refusal names what it concerns: the field (``field``) and, where a SIP rule applies, the
rule id (``rule``) from DOMAIN.md. Nothing reaches a caller as a stack trace: an unexpected
error is logged (without personal data) and answered 500 with the request id to quote, and a
store that fails is answered 503 saying what happened and whether anything was written
(``store_problems.py``).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import PersistenceError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapters.http.store_problems import told
from adapters.identity.tokens import IdentityProviderUnavailable, InvalidToken
from adapters.logging import get_logger, one_line
from adapters.store.deadline import DeadlinePassed
from domain.errors import (
    CaseNotFound,
    InvalidInput,
    NotAuthorised,
    SipError,
    VersionConflict,
)
from domain.personal import MissingDataKey

log = get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
# Seconds a client waits before asking again when the identity provider's keys could not be
# fetched (the JWKS client fetches them afresh on the next request).
IDENTITY_PROVIDER_RETRY_AFTER = "5"
TYPE_BASE = "https://sip-ledger.example/problems/"


class FieldError(BaseModel):
    """One invalid value of a request (a 422 ``invalid-input`` lists them all)."""

    field: str | None = Field(description="Where: the body's path (`plan.goals.0.description`) "
                              "or the parameter's name", examples=["individual.name"])
    message: str = Field(description="What is wrong with it, in words")
    type: str = Field(description="pydantic's error type, e.g. `missing`, `string_too_long`",
                      examples=["missing"])


class Problem(BaseModel):
    """RFC 9457 problem details, with the field and rule the refusal concerns.

    ``type`` ends in the kind of problem (``…/problems/no-access``, ``…/case-not-found``,
    ``…/invalid-token`` …). Besides the RFC's members and ``field``/``rule``, some problems
    carry members of their own, each listed here: a version conflict its ``current_version``,
    invalid input its ``errors``, an R09 refusal the open cases it may name, a 503 from
    ``/readyz`` its reasons and figures."""

    type: str = Field(default="about:blank", examples=["https://sip-ledger.example/problems/"
                                                       "no-access"])
    title: str
    status: int
    detail: str = ""
    instance: str | None = Field(default=None, description="The route's template (never the "
                                 "path as sent: it may hold anything a client typed)",
                                 examples=["/cases/{case_id}"])
    field: str | None = Field(default=None, description="The field or parameter concerned",
                              examples=["case_id"])
    rule: str | None = Field(default=None, description="The SIP rule concerned (DOMAIN.md)",
                             examples=["R13"])
    current_version: int | None = Field(default=None, description="409: the case's version "
                                        "now; read it again and retry")
    errors: list[FieldError] | None = Field(default=None, description="422: every invalid "
                                            "value of the request")
    request_id: str | None = Field(default=None, description="The request's id, to quote to "
                                   "support")
    open_case_ids: list[UUID] | None = Field(
        default=None, description="R09: the open cases of the same individual that the "
        "caller's organisation may know of (list them in acknowledged_open_case_ids)")
    open_sip_not_party: bool | None = Field(
        default=None, description="R09: an open case exists that the caller's organisation is "
        "not party to (its id is not told, R35)")
    reasons: list[str] | None = Field(default=None, description="/readyz: why not ready")
    lag: int | None = Field(default=None, description="/readyz: events the slowest read "
                            "model is behind the log")
    max_lag: int | None = Field(default=None, description="/readyz: SIP_READY_MAX_LAG")
    oldest_unprojected_age_s: float | None = Field(
        default=None, description="/readyz: age of the oldest event not yet applied, seconds")
    max_projection_age_s: float | None = Field(
        default=None, description="/readyz: SIP_READY_MAX_PROJECTION_AGE_S")
    case_id: UUID | None = Field(
        default=None, description="503 `missing-data-key` (R34): the case whose data key is "
        "missing")
    subject: str | None = Field(
        default=None, description="503 `missing-data-key` (R34): the data subject by id "
        "(`individual`, `person:<hex>`), never by name", examples=["individual"])


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


# A route's extra responses for the OpenAPI document, in FastAPI's own (free-form) type.
OpenAPIResponses = dict[int | str, dict[str, Any]]

# Shown in the OpenAPI document for every route that can refuse.
PROBLEM_RESPONSES: OpenAPIResponses = {
    status: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": description}
    for status, description in {
        401: "No valid bearer token",
        403: "Not allowed for this caller (roles, or access by consent R13)",
        404: "No such case",
        409: "Version conflict: the case moved on (current_version says where it is)",
        422: "Invalid input or a SIP rule refuses (field and rule say which)",
        503: "The store is unreachable, refusing writes or too slow, the read models are "
             "behind or locked, the identity provider's keys could not be fetched, the "
             "request's deadline passed (Retry-After says when to try again; detail says "
             "whether anything was written), or a data key is missing without a recorded "
             "erasure (`missing-data-key`, R34: the case and subject ids)",
    }.items()
}


def problem_response(
    request: Request, status: int, title: str, detail: str = "", *, kind: str | None = None,
    field: str | None = None, rule: str | None = None, headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    # Free-form on purpose: RFC 9457 lets a problem carry extension members (``**extra``).
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
    if isinstance(error, MissingDataKey):
        # The key store and the event store disagree (a key store restored from an older
        # backup, a key deleted by hand): not the caller's doing, and not a bug to hide behind
        # a 500. Named by case and subject id only (R35).
        log.error("data key missing", rule=error.rule, subject=error.subject,
                  case_id=str(error.case_id) if error.case_id else None)
        return problem_response(
            request, 503, "Personal data unavailable", error.message, kind="missing-data-key",
            field=error.field, rule=error.rule,
            case_id=str(error.case_id) if error.case_id else None, subject=error.subject,
        )
    if isinstance(error, VersionConflict):
        return problem_response(
            request, 409, "Version conflict", error.message, kind="version-conflict",
            current_version=error.current_version, field=error.field, rule=error.rule,
        )
    if isinstance(error, CaseNotFound):
        return problem_response(request, 404, "Case not found", error.message,
                                kind="case-not-found", field=error.field, rule=error.rule)
    if isinstance(error, NotAuthorised):
        return problem_response(request, 403, "Not authorised by the SIP rules", error.message,
                                kind="not-authorised", field=error.field, rule=error.rule)
    if isinstance(error, InvalidInput):
        return problem_response(request, 422, "Invalid input", error.message,
                                kind="invalid-input", field=error.field, rule=error.rule)
    return problem_response(request, 422, "Refused by a SIP rule", error.message,
                            kind="rule-violation", field=error.field, rule=error.rule)


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

    @app.exception_handler(IdentityProviderUnavailable)
    async def _identity_provider_down(
        request: Request, error: IdentityProviderUnavailable
    ) -> JSONResponse:
        # Not the token's fault: a 401 would send a client for a new token it does not need.
        log.warning("identity provider unavailable: token not verified")
        return problem_response(
            request, 503, "Identity provider unavailable", str(error),
            kind="identity-provider-unavailable", field="Authorization",
            headers={"Retry-After": IDENTITY_PROVIDER_RETRY_AFTER},
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
        answer = told(error, request.method)
        return problem_response(request, answer.status, answer.title, answer.detail,
                                kind=answer.kind, headers=answer.headers)

    @app.exception_handler(Exception)
    async def _bug(request: Request, error: Exception) -> JSONResponse:
        log.error("unexpected error", error=type(error).__name__, exc_info=error)
        return internal_error(request)
