"""FastAPI dependencies: the services, and the caller behind the bearer token.

They are ``async def`` on purpose: FastAPI runs every plain ``def`` dependency in a worker
thread of its own, one hand-over per dependency per request, and these do no blocking work
(the hand-overs were most of the event loop's time under load: bench figure
``http_command_latency_p99_ms``, tests/benchmarks/http.py). A JWKS fetched over
the network is the exception and goes to a worker thread.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from adapters.bootstrap import Services
from adapters.http.access import write_refusal
from adapters.http.problems import ProblemError
from adapters.identity.tokens import InvalidToken, Principal
from domain.parties import Role

bearer = HTTPBearer(auto_error=False, description="A JWT: `sip-ledger token` mints one")


async def services(request: Request) -> Services:
    return request.app.state.services


async def principal(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise InvalidToken("a bearer token is required (Authorization: Bearer <JWT>)")
    verifier = request.app.state.services.verifier
    if verifier.may_block:
        caller = await run_in_threadpool(verifier.verify, credentials.credentials)
    else:
        caller = verifier.verify(credentials.credentials)
    request.state.principal = caller  # for the request log: ids only, never the name
    return caller


def requires(*roles: Role, action: str | None = None) -> Callable[..., Awaitable[Principal]]:
    """A dependency that lets through callers with any of ``roles`` and refuses others (403).

    A refused read is written to the access log like a refusal by consent (R33, R35): the
    action (``action``, or the route's name), the caller, ``refused`` and the roles it lacked.
    Reads are the GET routes and those given an ``action`` (a question sent as a POST body);
    a refused write shows nothing and is only in the request log."""
    wanted = ", ".join(r.value for r in roles)

    async def check(request: Request, caller: Principal = Depends(principal)) -> Principal:
        if not any(caller.has(role) for role in roles):
            if action is not None or request.method in ("GET", "HEAD"):
                route = request.scope.get("route")
                # One INSERT: off the event loop.
                await run_in_threadpool(
                    write_refusal, request.app.state.services, request, caller,
                    action=action or getattr(route, "name", None) or "read",
                    reason=f"role refused: this needs one of the roles {wanted}",
                )
            raise ProblemError(
                403, "Forbidden", f"this needs one of the roles: {wanted}", kind="forbidden-role",
                field="roles",
            )
        return caller

    return check
