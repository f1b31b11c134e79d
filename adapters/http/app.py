"""The HTTP service: FastAPI, OpenAPI at /openapi.json, errors as problem+json.

``create_app`` builds the application around opened services (tests pass their own); without
them, the services are opened at start-up from the settings and closed at shutdown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from adapters.bootstrap import Services, open_services
from adapters.http import deadline, limits, ops_access
from adapters.http.problems import install_problem_handlers
from adapters.http.routes import access_log as access_log_routes
from adapters.http.routes import commands, feed, operations, queries, retention
from adapters.settings import Settings

DESCRIPTION = """
Coordinated individual plans (*samordnad individuell plan*, SIP): commands that record what
happens in a case, queries over the read models, the deadline dashboard, a live event feed for
backend services, and the read-access log.

Every request carries a bearer JWT naming the person, organisation, unit and roles
(`sip-ledger token` mints development tokens); a 401 says in words what is wrong with the token.
Errors are RFC 9457 problem details that name the field and, where a SIP rule applies, its rule
id (R01–R35).

**Who learns that a case exists.** A case id is a random UUID that says nothing of any person,
so its existence is not concealed; everything about the case is. On every case route (read,
history, as-of, every command) an id no case has is 404, and a case the caller's organisation
may not read or write is 403 (`field: case_id`, `rule: R13`), with nothing of the case in
either. The event feed's `case_id` is a filter: an unknown id gives an empty page. Whether a
*person* has a SIP is personal data (R35): only the proposal's R09 check and the auditors'
access-log question tell it, and both are logged (R33).
"""


def create_app(services: Services | None = None, settings: Settings | None = None) -> FastAPI:
    settings = settings or (services.settings if services else Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = None
        if getattr(app.state, "services", None) is None:
            opened = app.state.services = open_services(settings)
        try:
            yield
        finally:
            if opened is not None:
                opened.close()
                app.state.services = None

    app = FastAPI(
        title="SIP Ledger",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        responses=limits.EDGE_RESPONSES,  # 408, 413, 431 from the input limits, on every route
        # /docs and /openapi.json as SIP_OPS_ENDPOINTS says (ops_access.py)
        **ops_access.fastapi_urls(ops_access.ops_mode(settings)),
    )
    app.state.services = services
    install_problem_handlers(app)
    # Before operations: the request-context middleware must stay outside the input limits.
    limits.install(app, settings)
    deadline.install(app, settings)  # each request's deadline (SIP_REQUEST_DEADLINE_S)
    operations.install(app)
    ops_access.install(app, settings)
    app.include_router(commands.router)
    app.include_router(retention.router)
    app.include_router(queries.router)
    app.include_router(feed.router)
    app.include_router(access_log_routes.router)
    return app
