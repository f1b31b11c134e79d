"""``sip-ledger serve``: the HTTP service under uvicorn (development tokens: ``token.py``).

``serve`` opens the services (store, ledger, read-model runner, feed) before it listens, so a
store that cannot be reached is reported as one line, and binds its port first, so a port in
use is too. SIGTERM and Ctrl-C shut it down gracefully: open requests finish, the read models
and the feed stop, the store's connections close, and an embedded server this process started
is stopped; the exit code is then 0.

Outside ``--demo``, ``serve`` first refuses development secrets and a missing organisation
directory, on one line naming the setting (adapters/cli/production.py), before it binds the port
or touches a store.

``serve --demo`` is the development set-up that ``make run`` uses: the embedded PostgreSQL, a
database of its own (``sip_demo``) with synthetic cases loaded on the first start, and the URLs
and development tokens printed before it serves.
"""

from __future__ import annotations

import random
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import typer
import uvicorn
from psycopg.conninfo import make_conninfo
from psycopg.sql import SQL, Identifier
from pydantic import SecretStr
from rich.console import Console

from adapters.bootstrap import Services, open_ledger, open_services, store_errors
from adapters.cli import shutdown
from adapters.cli.errors import EXIT_INVALID, reporting_errors
from adapters.cli.production import one_line, production_refusals
from adapters.cli.progress import progress_bar
from adapters.demo.population import AREAS
from adapters.demo.population import organisations as demo_organisations
from adapters.demo.run import run_demo
from adapters.identity.organisations import OrganisationDirectory
from adapters.identity.tokens import DEV_TOKEN_TTL_S, Principal, mint_token
from adapters.logging import get_logger
from adapters.settings import Settings
from adapters.store import start_embedded_postgres
from domain.parties import Organisation, Role

log = get_logger(__name__)

DEMO_DATABASE = "sip_demo"
DEFAULT_DEMO_CASES = 200
# Seconds open requests (an event stream, say) get to finish when the service is told to stop.
GRACEFUL_SHUTDOWN_S = 5


# ------------------------------------------------------------------ serve


def serve(
    ctx: typer.Context,
    host: str | None = typer.Option(
        None, "--host", help="Address to listen on. Default: SIP_HOST (127.0.0.1)."
    ),
    port: int | None = typer.Option(
        None, "--port", min=1, max=65535, help="Port to listen on. Default: SIP_PORT (8000)."
    ),
    demo: bool = typer.Option(
        False, "--demo",
        help="Development: the embedded PostgreSQL with a database of its own (sip_demo), "
        "demo cases on the first start, URLs and development tokens printed.",
    ),
    demo_cases: int = typer.Option(
        DEFAULT_DEMO_CASES, "--demo-cases", min=0,
        help="With --demo: how many synthetic cases to load into an empty event log.",
    ),
    seed: int | None = typer.Option(
        None, "--seed", help="With --demo: random seed for the demo cases. Default: random."
    ),
) -> None:
    """Run the HTTP service (OpenAPI at /docs); the read models run inside it."""
    settings: Settings = ctx.obj
    update: dict[str, str | int] = {}  # the Settings fields the options override, by name
    if host is not None:
        update["host"] = host
    if port is not None:
        update["port"] = port
    settings = settings.model_copy(update=update)
    loaded: int | None = None
    # Before the port: a service that may not start must not depend on the port being free.
    directory = _demo_directory() if demo else _production_directory(settings)
    if demo and settings.ops_endpoints is None:
        settings = settings.model_copy(update={"ops_endpoints": "open"})  # convenient in demo
    with reporting_errors():
        listener = _listen(settings.host, settings.port)
        try:
            if demo:
                settings = _demo_settings(settings)
                loaded = _load_demo_cases(settings, demo_cases, seed)
            services = _open_services(settings, directory)
        except BaseException:
            listener.close()
            raise
    _serve(settings, services, listener, demo=demo, loaded=loaded)



def _production_directory(settings: Settings) -> OrganisationDirectory:
    """Outside --demo: refuse development secrets and a missing or malformed organisation
    directory, on one line naming the setting (adapters/cli/production.py)."""
    missing, directory = production_refusals(settings)
    if missing or directory is None:
        typer.echo(one_line(missing), err=True)
        raise typer.Exit(EXIT_INVALID)
    return directory


def _demo_directory() -> OrganisationDirectory:
    """The demo's tokens are for the demo population's organisations, any unit."""
    return OrganisationDirectory.of(demo_organisations())


def _listen(host: str, port: int) -> socket.socket:
    """Bind the port before anything slow happens, so a port in use fails at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio switches Nagle's algorithm off (TCP_NODELAY) only on sockets
    # whose protocol says TCP. With it on, a response's body (written after its headers) waited
    # for the client's delayed ACK on every answer (bench figure `http_command_latency_p50_ms`,
    # tests/benchmarks/http.py).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        typer.echo(
            f"error field SIP_PORT: cannot listen on {host}:{port}: {error.strerror or error}",
            err=True,
        )
        raise typer.Exit(EXIT_INVALID) from None
    sock.set_inheritable(True)
    return sock


def _demo_settings(settings: Settings) -> Settings:
    """The settings for the demo database ``sip_demo`` on the embedded server."""
    if settings.database_url is not None:
        typer.echo(
            "error field SIP_DATABASE_URL: --demo runs on the embedded PostgreSQL only; "
            "unset SIP_DATABASE_URL, or serve without --demo",
            err=True,
        )
        raise typer.Exit(EXIT_INVALID)
    with store_errors(settings):  # embedded: no password to hide
        server_url = start_embedded_postgres(settings.embedded_pgdata)
        ensure_database(server_url, DEMO_DATABASE)
    demo_url = make_conninfo(server_url, dbname=DEMO_DATABASE)
    return settings.model_copy(update={"database_url": SecretStr(demo_url)})


def ensure_database(server_url: str, name: str) -> None:
    """Create database ``name`` on the server unless it exists."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if found is None:
            try:
                conn.execute(SQL("CREATE DATABASE {}").format(Identifier(name)))
            except psycopg.errors.DuplicateDatabase:  # another process made it first
                pass


def _load_demo_cases(settings: Settings, cases: int, seed: int | None) -> int | None:
    """Load ``cases`` demo cases if the event log is empty; return how many were loaded
    (None: the log already held events, so nothing was loaded)."""
    with store_errors(settings):
        ledger = open_ledger(settings)
    try:
        if (ledger.recorder.max_notification_id() or 0) > 0 or cases == 0:
            return None
        seed = seed if seed is not None else random.SystemRandom().randrange(1_000_000)
        err = Console(stderr=True)
        progress = progress_bar("loading demo cases", err)
        with progress:
            task = progress.add_task("cases", total=cases)
            run = run_demo(ledger, cases, seed, on_case=lambda: progress.advance(task))
        return len(run.case_ids)
    finally:
        ledger.close()


def _open_services(settings: Settings, directory: OrganisationDirectory) -> Services:
    with store_errors(settings):
        return open_services(settings, directory=directory)


def _serve(settings: Settings, services: Any, listener: socket.socket, *, demo: bool,
           loaded: int | None) -> None:
    # Here, not at the top: the other commands start without loading the web framework
    # (FastAPI, pydantic's schemas, starlette) that the HTTP app imports. Not a cycle: the HTTP
    # service never imports the command line (the import-linter contracts say so).
    from adapters.http.app import create_app
    from adapters.http.limits import uvicorn_options

    app = create_app(services, settings)
    if demo:
        _print_demo_banner(settings, app, loaded)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # our logging (structlog) stays in charge
        access_log=False,  # the request log line comes from adapters/http/routes/operations.py
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        lifespan="on",
        # Slow and oversized request heads, and idle connections (adapters/http/limits.py).
        **uvicorn_options(settings),
    )
    server = uvicorn.Server(config)
    log.info("listening", address=f"{settings.host}:{settings.port}")
    try:
        with _signals_end_quietly():
            server.run(sockets=[listener])
    finally:
        listener.close()
        # Within the grace period whatever the store does (adapters/cli/shutdown.py).
        shutdown.cancel_writes(services)
        shutdown.close_within(services)
        log.info("service stopped")
    if not server.started:
        raise typer.Exit(1)
    shutdown.exit_if_threads_blocked()


@contextmanager
def _signals_end_quietly() -> Iterator[None]:
    """uvicorn handles SIGINT and SIGTERM itself and, once shut down, raises the signal again
    for the handler it found. Give it a handler that does nothing, so the process then goes on
    to close the services and stop the embedded server instead of dying on the spot."""
    signals = (signal.SIGINT, signal.SIGTERM)
    before = {sig: signal.signal(sig, _ignore) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def _ignore(sig: int, frame: Any) -> None:
    pass


def _print_demo_banner(settings: Settings, app: Any, loaded: int | None) -> None:
    shown_host = settings.host
    if shown_host in ("0.0.0.0", "::", ""):
        shown_host = "127.0.0.1"
    if ":" in shown_host:
        shown_host = f"[{shown_host}]"
    base = f"http://{shown_host}:{settings.port}"
    lines = [
        "",
        f"SIP Ledger (demo) on {base}",
        f"  database     {DEMO_DATABASE} on the embedded PostgreSQL in "
        f"{settings.embedded_pgdata}",
        "  cases        " + (f"{loaded} demo cases loaded" if loaded is not None
                             else "the event log already held events; nothing loaded"),
        f"  API docs     {base}/docs",
        f"  OpenAPI      {base}/openapi.json",
        f"  liveness     {base}/healthz",
        f"  readiness    {base}/readyz   (503 until the read models have caught up)",
        f"  metrics      {base}/metrics",
    ]
    lines += [f"  event stream {base}{path}" for path in _feed_paths(app)]
    if settings.uses_jwks:
        lines += ["", "A JWKS is configured: use tokens from the identity provider."]
    else:
        ttl_s = min(DEV_TOKEN_TTL_S, settings.token_max_lifetime_s)
        lines += ["", f"Development tokens (HS256 with SIP_JWT_SECRET, valid "
                      f"{ttl_s / 3600:g} h):"]
        for role, principal in demo_principals().items():
            lines += [f"  {role.value}  ({principal.person_id}, {principal.organisation.id})",
                      f"    {mint_token(principal, settings, ttl_s=ttl_s)}"]
        lines += [
            "",
            "  curl -H \"Authorization: Bearer <token>\" " + f"{base}/...",
            "  More: sip-ledger token --help",
        ]
    lines.append("")
    # Plain lines, not rich: a token wrapped at the terminal's width would not paste.
    typer.echo("\n".join(lines))


def _feed_paths(app: Any) -> list[str]:
    """The paths that answer a Server-Sent Events stream, as the OpenAPI document says."""
    try:
        paths = app.openapi().get("paths", {})
    except Exception:  # the banner must not stop the service
        return []
    return [
        path for path, operations in paths.items()
        if any("text/event-stream" in (answer.get("content") or {})
               for answer in (operations.get("get") or {}).get("responses", {}).values())
    ]


def demo_principals() -> dict[Role, Principal]:
    """Who the printed demo tokens speak for: staff of the demo's first municipality."""
    municipality: Organisation = AREAS[0].kommuner[0][0]
    unit = "Socialtjänsten, vuxen"
    people = {
        Role.COORDINATOR: ("demo-coordinator", "Demo Samordnare"),
        Role.SUPERVISOR: ("demo-supervisor", "Demo Enhetschef"),
        Role.AUDITOR: ("demo-auditor", "Demo Granskare"),
        Role.SERVICE: ("demo-service", "Demo Verksamhetssystem"),
        Role.ARCHIVIST: ("demo-archivist", "Demo Arkivarie"),
    }
    return {
        role: Principal(person_id=person_id, name=name, organisation=municipality, unit=unit,
                        roles=frozenset({role}))
        for role, (person_id, name) in people.items()
    }
