"""FastAPI dependencies: the services, and the caller behind the bearer token."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from domain.parties import Role

from ..tokens import InvalidToken, Principal
from .problems import ProblemError
from .services import Services

bearer = HTTPBearer(auto_error=False, description="A JWT: `sip-ledger token` mints one")


def services(request: Request) -> Services:
    return request.app.state.services


def principal(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise InvalidToken("a bearer token is required (Authorization: Bearer <JWT>)")
    caller = request.app.state.services.verifier.verify(credentials.credentials)
    request.state.principal = caller  # for the request log: ids only, never the name
    return caller


def requires(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency that lets through callers with any of ``roles`` and refuses others (403)."""
    wanted = ", ".join(r.value for r in roles)

    def check(caller: Principal = Depends(principal)) -> Principal:
        if not any(caller.has(role) for role in roles):
            raise ProblemError(
                403, "Forbidden", f"this needs one of the roles: {wanted}", kind="forbidden-role",
                field="roles",
            )
        return caller

    return check
