"""Who may read the operations endpoints: ``/metrics``, ``/docs`` and ``/openapi.json``.

They tell an attacker what the service is (every route, every limit) and how it is doing (the
log's head, the read models' lag, request rates), so production does not answer them to
anyone. ``SIP_OPS_ENDPOINTS`` says how:

- ``open``: anyone (what ``serve --demo`` uses unless told otherwise);
- ``token``: only a caller sending ``Authorization: Bearer $SIP_OPS_TOKEN``, a static secret of
  its own, because a scraper such as Prometheus cannot renew a user's 12-hour JWT; ``/docs``
  then needs the header too, so read the schema with curl and any OpenAPI viewer;
- ``off``: 404, as if they did not exist.

Unset, it is ``token`` when ``SIP_OPS_TOKEN`` is set and ``off`` when not. ``/healthz`` and
``/readyz`` always answer: a load balancer asks them, and they say nothing but ready or not.
"""

from __future__ import annotations

import hmac
from typing import Literal, NotRequired, TypedDict

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from adapters.http.problems import ProblemError
from adapters.settings import Settings

OpsMode = Literal["open", "token", "off"]
OPENAPI_URL = "/openapi.json"
DOCS_URL = "/docs"
# The shortest SIP_OPS_TOKEN `serve` accepts: a secret, not a password someone types.
MIN_OPS_TOKEN_CHARS = 32


def ops_mode(settings: Settings) -> OpsMode:
    if settings.ops_endpoints is not None:
        return settings.ops_endpoints
    return "token" if settings.ops_token is not None else "off"


class FastAPIUrls(TypedDict):
    """FastAPI's keywords for its documentation routes (None: the route is not served)."""

    openapi_url: str | None
    docs_url: str | None
    redoc_url: NotRequired[str | None]  # left out: FastAPI's default


def fastapi_urls(mode: OpsMode) -> FastAPIUrls:
    """FastAPI's own documentation routes: kept when open; otherwise ours (guarded) or none."""
    if mode == "open":
        return {"openapi_url": OPENAPI_URL, "docs_url": DOCS_URL}
    return {"openapi_url": None, "docs_url": None, "redoc_url": None}


async def guard(request: Request) -> None:
    """A dependency of every operations endpoint but the probes."""
    mode: OpsMode = getattr(request.app.state, "ops_mode", "open")
    if mode == "open":
        return
    if mode == "off":
        raise ProblemError(404, "Not Found", kind="not-found")
    expected = getattr(request.app.state, "ops_token", None)
    scheme, _, given = (request.headers.get("authorization") or "").partition(" ")
    if (expected is None or scheme.lower() != "bearer"
            or not hmac.compare_digest(given.strip().encode(), expected.encode())):
        raise ProblemError(
            401, "Not authenticated",
            "the operations endpoints need Authorization: Bearer <SIP_OPS_TOKEN>",
            kind="invalid-token", field="Authorization",
            headers={"WWW-Authenticate": 'Bearer realm="sip-ledger-operations"'},
        )


def install(app: FastAPI, settings: Settings) -> None:
    """Remember the mode; in ``token`` mode add the guarded schema and docs routes."""
    mode = ops_mode(settings)
    app.state.ops_mode = mode
    app.state.ops_token = settings.ops_token.get_secret_value() if settings.ops_token else None
    if mode != "token":
        return  # open: FastAPI's own routes; off: none

    async def openapi(request: Request) -> JSONResponse:
        await guard(request)
        return JSONResponse(app.openapi())

    async def docs(request: Request) -> HTMLResponse:
        await guard(request)
        return get_swagger_ui_html(openapi_url=OPENAPI_URL, title=f"{app.title} - docs")

    app.add_route(OPENAPI_URL, openapi, include_in_schema=False)
    app.add_route(DOCS_URL, docs, include_in_schema=False)
