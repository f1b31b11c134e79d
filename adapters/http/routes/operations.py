"""Running the service: liveness, readiness, Prometheus metrics, request ids and the request log.

- ``GET /healthz``: the process answers (no store access, no token).
- ``GET /readyz``: the store answers within ``READY_TIMEOUT_S``, the read-model runner is alive
  and not failing attempt after attempt, the oldest event the read models have not applied was
  recorded at most ``SIP_READY_MAX_PROJECTION_AGE_S`` seconds ago and they lag the log by at most
  ``SIP_READY_MAX_LAG`` events; otherwise 503 as problem+json saying why. Events a model has
  quarantined (projections/quarantine.py) leave it ready but ``degraded``: the other cases are
  served, those cases answer 503 themselves. No token (a load balancer asks it).
- ``GET /metrics``: Prometheus text. Requests by method, *route template* and status (a
  template such as ``/cases/{case_id}``, never the path itself, so no case id or personal data
  becomes a label), their latency, commands by name and outcome, and, read from the store at
  each scrape, the log head, each read model's lag, the age of the oldest unprojected event, the
  runner's failures in a row and each model's quarantined events. Each app has a registry of
  its own.
- A pure ASGI middleware (``BaseHTTPMiddleware`` would buffer the event stream) that gives every
  request an id (a sane incoming ``X-Request-ID``, else a new UUID), puts it on
  ``request.state.request_id``, binds it to every log line of the request, returns it as
  ``X-Request-ID`` and writes one log line per request: method, route template, status,
  duration, and the caller's organisation and person ids once a token was verified. Never the
  query string, the body or a name: they may hold personal data.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError, PersistenceError
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from pydantic import BaseModel
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bound_contextvars

from adapters.bootstrap import Services
from adapters.http import ops_access
from adapters.http.problems import PROBLEM_RESPONSES, internal_error, problem_response
from adapters.http.write_probe import write_path_stuck_within
from adapters.logging import PERSONAL_IDENTITY_NUMBER, get_logger
from projections.lag import read_lag
from projections.runner import ALL_MODELS
from projections.storage import EVENTS_TABLE
from projections.timeouts import set_local_timeouts

log = get_logger("sip_ledger.http")

# The store must answer a readiness probe (and a scrape's lag query) within this many seconds.
READY_TIMEOUT_S = 2.0
REQUEST_ID_HEADER = "X-Request-ID"
# An incoming request id is kept only if it looks like an id: no spaces, no markup, bounded.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/+=-]{0,127}$")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_READING_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
UNMATCHED_ROUTE = "<unmatched>"
# Probes are asked every few seconds; their successful answers are logged at DEBUG only.
PROBE_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
# The runner "keeps failing" after this many failed attempts in a row (about 1.5 s of back-off):
# one lost connection is not worth taking the instance out of service.
RUNNER_FAILURES_NOT_READY = 3
# Seconds. The default buckets stop at 10 s; a command waits for its read models up to 5 s.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


# ------------------------------------------------------------------ the store's state


@dataclass
class StoreProbe:
    """What the store says about the log and the read models' positions."""

    reachable: bool
    head: int = 0
    positions: dict[str, int] = field(default_factory=dict)
    problem: str | None = None  # why the store could not answer
    # When the oldest event the slowest model has not applied was recorded (None: none).
    oldest_unprojected_at: datetime | None = None
    quarantined: dict[str, int] = field(default_factory=dict)  # events set aside, per model

    def oldest_unprojected_age_s(self, now: datetime | None = None) -> float:
        if self.oldest_unprojected_at is None:
            return 0.0
        now = now or datetime.now(UTC)
        return max((now - self.oldest_unprojected_at).total_seconds(), 0.0)

    @property
    def lag(self) -> int:
        """Events recorded that the slowest read model has not applied yet."""
        if not self.positions:
            return self.head
        return max(self.head - min(self.positions.values()), 0)

    def lags(self) -> dict[str, int]:
        return {name: max(self.head - p, 0) for name, p in self.positions.items()}


def _model_names(services: Services) -> list[str]:
    names = list(getattr(services.runner, "positions", {}) or ())
    return names or [m.name for m in ALL_MODELS]


def probe_store(services: Services) -> StoreProbe:
    """One short read transaction: the log's head and the models' positions (blocking)."""
    datastore = services.datastore
    events_table = getattr(getattr(services.runner, "store", None), "events_table", EVENTS_TABLE)
    names = _model_names(services)
    try:
        with datastore.transaction(commit=False) as curs:
            set_local_timeouts(curs, statement=READY_TIMEOUT_S)
            lag = read_lag(curs, datastore.schema, names, events_table)
    except (psycopg.OperationalError, psycopg.InterfaceError, OperationalError,
            InterfaceError) as error:
        return StoreProbe(reachable=False,
                          problem=f"the store cannot be reached ({type(error).__name__})")
    except (psycopg.Error, PersistenceError) as error:
        # It answered, but not as expected (tables missing, a statement timeout…).
        return StoreProbe(reachable=False,
                          problem=f"the store answered with an error ({type(error).__name__})")
    positions = {name: lag.positions.get(name, 0) for name in names}
    slowest = min(names, key=positions.__getitem__, default=None)
    return StoreProbe(reachable=True, head=lag.head, positions=positions,
                      oldest_unprojected_at=lag.oldest_unprojected_at.get(slowest or ""),
                      quarantined=lag.quarantined)


async def probe_store_within(services: Services, app: FastAPI, timeout: float) -> StoreProbe:
    """``probe_store`` in a worker thread, given up on after ``timeout`` seconds (the thread
    is abandoned; it ends by the pool's own timeout). Probes have a small thread limit of their
    own, so a store that hangs cannot tie up the threads that serve requests."""
    limiter = getattr(app.state, "probe_limiter", None)
    if limiter is None:
        limiter = app.state.probe_limiter = anyio.CapacityLimiter(2)
    with anyio.move_on_after(timeout):
        return await anyio.to_thread.run_sync(
            probe_store, services, abandon_on_cancel=True, limiter=limiter
        )
    return StoreProbe(reachable=False, problem=f"the store did not answer within {timeout:g} s")


def runner_alive(services: Services) -> bool:
    runner = services.runner
    thread = getattr(runner, "thread", None)
    stopping = getattr(runner, "stopping", None)
    if stopping is not None and stopping.is_set():
        return False
    return thread is None or thread.is_alive()


def runner_failing(services: Services) -> str | None:
    """Why the runner counts as failing (attempt after attempt), or None."""
    runner = services.runner
    failures = getattr(runner, "failures", 0) or 0
    if failures < RUNNER_FAILURES_NOT_READY:
        return None
    since = getattr(runner, "failing_since", None)
    for_s = f" for {time.time() - since:.0f} s" if since else ""
    return (f"the read-model runner keeps failing ({failures} attempts in a row{for_s}, "
            f"last error {getattr(runner, 'last_error', None) or 'unknown'})")


# ------------------------------------------------------------------ metrics


class _StoreCollector:
    """Gauges read from the last probe, which ``/metrics`` takes just before it renders."""

    def __init__(self) -> None:
        self.probe: StoreProbe | None = None
        self.runner_up: bool | None = None
        self.runner_failures: int | None = None
        self.feed_clients: int | None = None

    def describe(self) -> Iterator[Metric]:
        return iter(())  # nothing to query when registered

    def collect(self) -> Iterator[Metric]:
        probe = self.probe
        if probe is None:
            return
        up = GaugeMetricFamily("sip_store_up", "1 if the store answered the last scrape")
        up.add_metric([], 1.0 if probe.reachable else 0.0)
        yield up
        if self.runner_up is not None:
            runner = GaugeMetricFamily("sip_projection_runner_up",
                                       "1 if the read-model runner thread is running")
            runner.add_metric([], 1.0 if self.runner_up else 0.0)
            yield runner
        if self.runner_failures is not None:
            failures = GaugeMetricFamily(
                "sip_projection_runner_failures",
                "Failed read-model batch attempts in a row (0: the last one went through)")
            failures.add_metric([], float(self.runner_failures))
            yield failures
        if self.feed_clients is not None:
            clients = GaugeMetricFamily("sip_feed_clients",
                                        "Event-stream (SSE) clients connected now")
            clients.add_metric([], float(self.feed_clients))
            yield clients
        if not probe.reachable:
            return
        head = GaugeMetricFamily("sip_event_log_head",
                                 "The highest notification id in the event log")
        head.add_metric([], float(probe.head))
        yield head
        lag = GaugeMetricFamily("sip_projection_lag_events",
                                "Events recorded that a read model has not applied yet",
                                labels=["model"])
        for name, value in sorted(probe.lags().items()):
            lag.add_metric([name], float(value))
        yield lag
        age = GaugeMetricFamily(
            "sip_projection_oldest_unprojected_age_seconds",
            "How long ago the oldest event a read model has not applied was recorded (0: none)")
        age.add_metric([], probe.oldest_unprojected_age_s())
        yield age
        quarantined = GaugeMetricFamily(
            "sip_read_model_quarantined_events",
            "Events a read model could not apply and set aside (sip-ledger projections status)",
            labels=["model"])
        for name in sorted(probe.positions):
            quarantined.add_metric([name], float(probe.quarantined.get(name, 0)))
        yield quarantined


class Metrics:
    """The app's Prometheus registry and instruments (one per app: tests build many apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ["method", "route", "status"]
        self.requests = Counter("sip_http_requests_total", "HTTP requests answered", labels,
                                registry=self.registry)
        self.latency = Histogram("sip_http_request_duration_seconds",
                                 "Time to answer an HTTP request (streams: until closed)", labels,
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.commands = Counter(
            "sip_commands_total",
            "Commands received over HTTP, by route name and outcome "
            "(accepted 2xx, refused 4xx, failed 5xx)",
            ["command", "outcome"], registry=self.registry,
        )
        self.store = _StoreCollector()
        self.registry.register(self.store)

    def observe(self, method: str, route: str, status: int, seconds: float,
                command: str | None) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route, str(status)).observe(seconds)
        if command is not None:
            self.commands.labels(command, _outcome(status)).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _outcome(status: int) -> str:
    if status < 400:
        return "accepted"
    return "refused" if status < 500 else "failed"


# ------------------------------------------------------------------ request ids and the log


def sane_request_id(value: str | None) -> str | None:
    """An incoming request id worth keeping: id-shaped, and not a personal identity number."""
    if not value or not _SANE_REQUEST_ID.match(value):
        return None
    if PERSONAL_IDENTITY_NUMBER.search(value):
        return None
    return value


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            try:
                return value.decode("latin-1")
            except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
                return None
    return None


def route_template(scope: Scope) -> tuple[str, str | None]:
    """The matched route's path template and name (``<unmatched>`` for no route)."""
    route = scope.get("route") or _plain_route(scope)
    if route is None:
        return UNMATCHED_ROUTE, None
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return (str(template) if template else UNMATCHED_ROUTE), getattr(route, "name", None)


def _plain_route(scope: Scope) -> Any:
    """FastAPI puts its own routes in ``scope["route"]``, not plain Starlette ones (/docs,
    /openapi.json); those leave their endpoint, so find the route that has it."""
    endpoint = scope.get("endpoint")
    router = scope.get("router")
    if endpoint is None or router is None:
        return None
    for route in getattr(router, "routes", ()):
        if getattr(route, "endpoint", None) is endpoint:
            return route
    return None


class RequestContext:
    """Pure ASGI middleware: request id, request log line, request metrics."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = sane_request_id(_header(scope, b"x-request-id")) or str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        with bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                status = 500
                if not response_started:
                    # Answer here, so the 500 carries the request id header too. The server's
                    # error middleware outside still logs the error (once) and sends nothing.
                    response = internal_error(Request(scope))
                    await response(scope, receive, send_with_id)
                raise
            finally:
                self._finish(scope, status, time.perf_counter() - started)

    def _finish(self, scope: Scope, status: int, seconds: float) -> None:
        method = scope.get("method", "GET")
        method = method if method in _METHODS else "OTHER"
        template, name = route_template(scope)
        is_command = (method not in _READING_METHODS and template != UNMATCHED_ROUTE
                      and template not in PROBE_ROUTES)
        try:
            self.metrics.observe(method, template, status, seconds,
                                 (name or template) if is_command else None)
        except Exception:  # pragma: no cover - metrics must never break a request
            log.warning("request metrics failed", route=template)
        # structlog's keyword fields for the request line: ids and figures only, never a name.
        fields: dict[str, Any] = {
            "method": method, "route": template, "status": status,
            "duration_ms": round(seconds * 1000, 1),
        }
        principal = (scope.get("state") or {}).get("principal")
        if principal is not None:  # ids only: never the caller's name
            fields["organisation_id"] = principal.organisation.id
            fields["person_id"] = principal.person_id
        if template in PROBE_ROUTES and status < 400:
            log.debug("request", **fields)
        else:
            log.info("request", **fields)


# ------------------------------------------------------------------ the routes

router = APIRouter(tags=["operations"])


class Alive(BaseModel):
    status: str = "ok"


class Ready(BaseModel):
    status: str = "ready"
    head: int  # the highest notification id in the log
    lag: int  # events the slowest read model has not applied yet
    max_lag: int  # SIP_READY_MAX_LAG
    models: dict[str, int]  # each read model's position
    oldest_unprojected_age_s: float  # 0 when the models have applied the whole log
    max_projection_age_s: float  # SIP_READY_MAX_PROJECTION_AGE_S
    # Events the read models could not apply (projections/quarantine.py): their cases answer
    # 503; everything else is served. ``degraded`` while there are any.
    quarantined_events: dict[str, int] = {}
    degraded: bool = False


@router.get("/healthz", summary="Liveness: the process answers", response_model=Alive)
async def healthz() -> Alive:
    return Alive()


@router.get(
    "/readyz",
    summary="Readiness: the store answers and the read models are close to the log",
    responses={200: {"model": Ready, "description": "Ready"},
               503: {**PROBLEM_RESPONSES[503],
                     "description": "Not ready: the store is unreachable, the read-model "
                                    "runner has stopped or keeps failing, or the read models "
                                    "lag too far (in events or in age)"}},
)
async def readyz(request: Request) -> JSONResponse:
    services = getattr(request.app.state, "services", None)
    if services is None:
        return problem_response(request, 503, "Not ready", "the service is starting",
                                kind="not-ready", headers={"Retry-After": "5"})
    settings = services.settings
    probe = await probe_store_within(services, request.app, READY_TIMEOUT_S)
    alive = runner_alive(services)
    reasons = []
    if not probe.reachable:
        reasons.append(probe.problem or "the store cannot be reached")
    elif probe.lag > settings.ready_max_lag:
        slowest = min(probe.positions, key=probe.positions.__getitem__)
        reasons.append(
            f"the read models lag the log by {probe.lag} events (more than "
            f"SIP_READY_MAX_LAG={settings.ready_max_lag}); {slowest} is at "
            f"{probe.positions[slowest]} of {probe.head}"
        )
    age = probe.oldest_unprojected_age_s()
    max_age = settings.ready_max_projection_age_s
    if probe.reachable and age > max_age:
        slowest = min(probe.positions, key=probe.positions.__getitem__)
        reasons.append(
            f"the read models are stalled: the oldest event they have not applied was recorded "
            f"{age:.1f} s ago (more than SIP_READY_MAX_PROJECTION_AGE_S={max_age:g}); "
            f"{slowest} is at {probe.positions[slowest]} of {probe.head}"
        )
    if not alive:
        reasons.append("the read-model runner has stopped")
    elif failing := runner_failing(services):
        reasons.append(failing)
    if stuck := await write_path_stuck_within(services, request.app):  # write_probe.py
        reasons.append(stuck)
    if reasons:
        log.info("not ready", reasons=reasons)
        return problem_response(
            request, 503, "Not ready", "; ".join(reasons), kind="not-ready",
            headers={"Retry-After": "5"}, reasons=reasons,
            lag=probe.lag if probe.reachable else None, max_lag=settings.ready_max_lag,
            oldest_unprojected_age_s=round(age, 1) if probe.reachable else None,
            max_projection_age_s=max_age,
        )
    quarantined = {name: n for name, n in probe.quarantined.items() if n}
    ready = Ready(head=probe.head, lag=probe.lag, max_lag=settings.ready_max_lag,
                  models=probe.positions, oldest_unprojected_age_s=round(age, 1),
                  max_projection_age_s=max_age, quarantined_events=quarantined,
                  degraded=bool(quarantined))
    return JSONResponse(ready.model_dump())


@router.get(
    "/metrics",
    summary="Prometheus metrics (labels carry route templates, never ids)",
    response_class=PlainTextResponse,
    dependencies=[Depends(ops_access.guard)],  # SIP_OPS_ENDPOINTS: open, token or off
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
async def metrics(request: Request) -> Response:
    app = request.app
    registry: Metrics = app.state.metrics
    services = getattr(app.state, "services", None)
    if services is not None:
        registry.store.probe = await probe_store_within(services, app, READY_TIMEOUT_S)
        registry.store.runner_up = runner_alive(services)
        registry.store.runner_failures = getattr(services.runner, "failures", None)
        registry.store.feed_clients = getattr(getattr(services, "feed", None), "clients", None)
    return Response(registry.render(), media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI) -> None:
    """Add the operations routes, the request middleware and a metrics registry to ``app``."""
    metrics_ = Metrics()
    app.state.metrics = metrics_
    app.include_router(router)
    app.add_middleware(RequestContext, metrics=metrics_)
