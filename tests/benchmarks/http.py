"""Benchmark: the HTTP service under 8 concurrent clients, and commit → SSE client latency.

    python -m tests.benchmarks.http [--commands N] [--clients 8] [--out var/bench.json]
                                    [--database-url URL] ...

One run, one server: SIP_BENCH_DATABASE_URL if set (or --database-url), else the embedded server
in var/bench-pgdata (the one tests/benchmarks/run.py uses). Fresh schemas, dropped at the end.

The service runs for real, in a process of its own (so the clients' Python does not share a GIL
with it): ``sip-ledger serve`` on 127.0.0.1 and a free port, configured as in production through
SIP_ variables (pool size 5, JSON logs at INFO, one line per request, into a log file), on a
schema of its own. The clients are threads of this process, each with its own ``httpx.Client``
(keep-alive) and a development token (HS256) of a coordinator.

Phases, in alternating blocks (``--rounds``), so a drift of the machine falls on all of them:

1. raw, 1 thread: the library's raw save rate as run.py measures it (a plain eventsourcing
   Application on the library's PostgresFactory, one trivial aggregate with one event created and
   saved per iteration), in this process, with the service idle.
2. raw, N threads: the same with as many threads as HTTP clients (the comparable concurrency),
   saves over the wall time of the block.
3. HTTP: N client threads, each driving cases of its own through run.py's mix (propose, consent,
   wishes, convene, reply, plan: POST /cases, /cases/{id}/consent, /wishes, /meeting, /replies,
   /plan), one request at a time, with the API's default ``wait=true`` (the answer comes once the
   read models have applied the command). Each request timed from sending to having read the
   answer; throughput is commands over the wall time of the blocks. Each client first drives one
   case untimed (warm-up).

Then, with the clients done:

4. commit → SSE client: one SSE client (a thread of this process, token with the role service, no
   personal scope) on ``GET /events/stream`` from the log's head; a writer in this process (a
   SipLedger on the service's schema) records commands of the same mix one at a time, every
   ``--sse-interval-ms``. Commit time: when the ledger call returned (the save has committed);
   receive time: when the client had parsed the command's last event in the feed (both
   ``time.perf_counter`` of this process).

Figures (merged by name into --out, see figures.py):
- http_command_latency_p50_ms, http_command_latency_p99_ms (goal p99 ≤ 25 ms) at N clients
- http_commands_per_s at N clients; baseline http_raw_saves_concurrent_per_s (the raw rate at
  N threads, ``ratio``), and ``ratio_vs_1_thread`` against http_raw_saves_per_s (1 thread)
- http_raw_saves_per_s (1 thread), http_raw_saves_concurrent_per_s (N threads)
- sse_commit_to_client_p50_ms, sse_commit_to_client_p99_ms (goal p99 ≤ 50 ms)

Where the time goes: the figures carry the CPU seconds the service process, this process and
the PostgreSQL server's processes (when they can be read from /proc) spent per command in the
HTTP blocks.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
from psycopg.sql import SQL, Identifier

from adapters.feed.events import EVENT_TYPES, topic_of
from adapters.identity.tokens import Principal, mint_token
from adapters.logging import configure_logging, reset_logging
from adapters.settings import Settings
from adapters.store import Store
from domain.clock import local_date
from domain.commands import Command, Individual, RecordReply, RecordWishes, Reply, Wishes
from domain.ledger import SipLedger
from domain.parties import Role
from projections.storage import EVENTS_TABLE
from tests.benchmarks.figures import Figure, merge_figures
from tests.benchmarks.read_models import ms, percentile
from tests.benchmarks.run import (
    DEFAULT_OUT,
    MIX,
    ROOT,
    SECRET,
    Registration,
    drop_schemas,
    pin_for,
    raw_application,
    server_url,
)
from tests.support.builders import KOMMUN, actor, consent, convene, establish, propose
from tests.support.http import TEST_ORGANISATIONS_FILE

LATENCY_P50 = "http_command_latency_p50_ms"
LATENCY_P99 = "http_command_latency_p99_ms"
THROUGHPUT = "http_commands_per_s"
RAW_1 = "http_raw_saves_per_s"
RAW_N = "http_raw_saves_concurrent_per_s"
SSE_P50 = "sse_commit_to_client_p50_ms"
SSE_P99 = "sse_commit_to_client_p99_ms"
FIGURE_NAMES = (LATENCY_P50, LATENCY_P99, THROUGHPUT, RAW_1, RAW_N, SSE_P50, SSE_P99)

# The goals.
GOAL_LATENCY_P99_MS = 25
GOAL_SSE_P99_MS = 50

# Sized so that a default run takes about a minute on a small machine (2 cores, embedded server).
DEFAULT_COMMANDS = 2_400
DEFAULT_CLIENTS = 8
DEFAULT_SSE_COMMANDS = 300
DEFAULT_SSE_INTERVAL_MS = 20.0
JWT_SECRET = "benchmark-jwt-secret-at-least-32-bytes-long"
BENCH_AUDIT_KEY = "YmVuY2htYXJrLWF1ZGl0LXNpZ25pbmcta2V5LTMyYnk="  # 32 raw bytes, base64
SERVICE_POOL_SIZE = 5  # the service's default (SIP_POOL_SIZE)
START_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 30.0
# The service's SSE heartbeat in this run: the client's read loop wakes at least this often.
FEED_HEARTBEAT_S = 1.0
SSE_DRAIN_TIMEOUT_S = 10.0
# httpx writes a request's headers and its body in two sends: with Nagle's algorithm on, the body
# waits for the ACK of the headers, which the server's delayed ACK holds back ~40 ms. Clients that
# care about latency set TCP_NODELAY (as uvicorn does on its side); so do ours.
NO_DELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
ONE = httpx.Limits(max_connections=1, max_keepalive_connections=1)
# The service as it ships: `sip-ledger serve`, configured through SIP_ variables.
SERVE = [sys.executable, "-c", "from adapters.cli.root import main; main()", "serve"]

# (figure name in by_command, path under /cases/{id}, expected status)
ROUTES = {
    "propose": ("", 201),
    "record_consent": ("consent", 200),
    "record_wishes": ("wishes", 200),
    "convene": ("meeting", 200),
    "record_reply": ("replies", 200),
    "establish_plan": ("plan", 200),
}
assert tuple(ROUTES) == MIX


# ------------------------------------------------------------------------ the service


@dataclass
class Service:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_service(url: str, schema: str, log_path: Path, log_level: str) -> Service:
    """``sip-ledger serve`` in a process of its own, on 127.0.0.1 and a free port; returns once
    /healthz answers (the service opens the store, the read models and the feed before it
    listens)."""
    port = free_port()
    env = {
        **os.environ,
        "SIP_DATABASE_URL": url,
        "SIP_DATABASE_SCHEMA": schema,
        "SIP_JWT_SECRET": JWT_SECRET,
        "SIP_INDIVIDUAL_KEY": SECRET.decode(),
        "SIP_HOST": "127.0.0.1",
        "SIP_PORT": str(port),
        "SIP_POOL_SIZE": str(SERVICE_POOL_SIZE),
        "SIP_LOG_FORMAT": "json",
        "SIP_LOG_LEVEL": log_level,
        "SIP_FEED_HEARTBEAT_S": str(FEED_HEARTBEAT_S),
        # serve refuses development keys and wants a directory outside --demo; the tokens
        # below are KOMMUN's, which the tests' directory lists.
        "SIP_AUDIT_SIGNING_KEY": BENCH_AUDIT_KEY,
        "SIP_ORGANISATIONS_FILE": str(TEST_ORGANISATIONS_FILE),
    }
    for name in ("SIP_JWKS_URL", "SIP_JWKS_FILE", "SIP_JWT_ISSUER", "SIP_JWT_AUDIENCE"):
        env.pop(name, None)  # HS256 development tokens, as this process mints them
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            SERVE, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    service = Service(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + START_TIMEOUT_S
    with httpx.Client(timeout=2.0) as http:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the service exited with {process.returncode}; its log "
                                   f"({log_path}):\n{service.log_tail()}")
            with contextlib.suppress(httpx.TransportError):
                if http.get(service.base_url + "/healthz").status_code == 200:
                    return service
            if time.monotonic() > deadline:
                stop_service(service)
                raise RuntimeError(f"the service did not answer /healthz within "
                                   f"{START_TIMEOUT_S:.0f} s; its log ({log_path}):\n"
                                   f"{service.log_tail()}")
            time.sleep(0.1)


def stop_service(service: Service) -> int | None:
    """SIGTERM (a graceful shutdown), then SIGKILL if it does not end."""
    process = service.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    return process.returncode


# ------------------------------------------------------------------------ CPU accounting


def _proc_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process, from /proc (Linux), None if unreadable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_pids(conn: psycopg.Connection[Any]) -> list[int]:
    """The processes of the PostgreSQL server the run uses (backends and background processes),
    if it runs on this machine: those pg_stat_activity lists that /proc shows as postgres."""
    pids = []
    for (pid,) in conn.execute("SELECT pid FROM pg_stat_activity").fetchall():
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/comm").read_text().strip() in ("postgres", "postmaster"):
                pids.append(int(pid))
    return pids


Sample = tuple[float | None, float, dict[int, float]]


@dataclass
class Cpu:
    """CPU seconds spent by the service process, this process and the PostgreSQL server's
    processes (approximate: a backend that ends between two samples is not counted)."""

    service: float = 0.0
    bench: float = 0.0
    postgres: float = 0.0
    readable: bool = True  # the service's /proc entry
    postgres_readable: bool = True  # the server runs on this machine

    @staticmethod
    def sample(service_pid: int, conn: psycopg.Connection[Any]) -> Sample:
        pg = {}
        for pid in _postgres_pids(conn):
            seconds = _proc_cpu_seconds(pid)
            if seconds is not None:
                pg[pid] = seconds
        return _proc_cpu_seconds(service_pid), time.process_time(), pg

    def add(self, before: Sample, after: Sample) -> None:
        if before[0] is None or after[0] is None:
            self.readable = False
        else:
            self.service += after[0] - before[0]
        self.bench += after[1] - before[1]
        if not after[2]:
            self.postgres_readable = False
        self.postgres += sum(s - before[2].get(pid, 0.0) for pid, s in after[2].items())


# ------------------------------------------------------------------------ the command mix


def body(cmd: Command) -> bytes:
    return orjson.dumps(cmd.model_dump(mode="json", exclude={"command_id", "case_id"}))


def case_steps(n: int) -> Iterator[tuple[str, Callable[[uuid.UUID], Command]]]:
    """One case through the mix (run.py's), as (command, builder from the case id)."""
    individual = Individual(personal_identity_number=pin_for(n), name="Kim Karlsson")
    yield "propose", lambda case_id: propose(individual=individual)
    yield "record_consent", consent
    yield "record_wishes", lambda case_id: RecordWishes(
        case_id=case_id, wishes=Wishes(place="hemma", longest_minutes=60))
    meeting: dict[str, Any] = {}

    def convene_it(case_id: uuid.UUID) -> Command:
        cmd = convene(case_id)
        meeting["on"] = local_date(cmd.meeting_at)
        return cmd

    yield "convene", convene_it
    yield "record_reply", lambda case_id: RecordReply(
        case_id=case_id, participant_key="region-vg", reply=Reply.ACCEPTED)
    yield "establish_plan", lambda case_id: establish(case_id, meeting["on"])


def http_case(http: httpx.Client, n: int, timings: dict[str, list[float]] | None) -> None:
    """One case through the mix over HTTP, each request timed on its own."""
    case_id = uuid.UUID(int=0)
    for name, build in case_steps(n):
        path, expected = ROUTES[name]
        url = "/cases" if name == "propose" else f"/cases/{case_id}/{path}"
        content = body(build(case_id))
        start = time.perf_counter()
        answer = http.post(url, content=content)
        elapsed = time.perf_counter() - start
        if answer.status_code != expected:
            raise RuntimeError(f"{name}: {answer.status_code} {answer.text[:500]}")
        if name == "propose":
            case_id = uuid.UUID(answer.json()["case_id"])
        if timings is not None:
            timings.setdefault(name, []).append(elapsed)


def ledger_case(ledger: SipLedger, n: int) -> Iterator[tuple[str, Callable[[], Any]]]:
    """One case through the mix on the ledger: (command, call returning its CommandResult)."""
    coordinator = actor(KOMMUN)
    case_id = uuid.UUID(int=0)
    for name, build in case_steps(n):
        def call(name: str = name, build: Callable[[uuid.UUID], Command] = build) -> Any:
            nonlocal case_id
            result = getattr(ledger, name)(build(case_id), coordinator)
            case_id = result.case_id
            return result
        yield name, call


# ------------------------------------------------------------------------ concurrency


def run_threads(work: list[Callable[[], None]]) -> float:
    """Run each callable in a thread of its own, started together; the wall time they took.
    The first error of a thread is raised here."""
    errors: list[BaseException] = []
    gate = threading.Barrier(len(work) + 1)

    def runner(fn: Callable[[], None]) -> None:
        gate.wait()
        try:
            fn()
        except BaseException as error:  # noqa: BLE001 - handed to the main thread
            errors.append(error)

    threads = [threading.Thread(target=runner, args=(fn,), daemon=True) for fn in work]
    for t in threads:
        t.start()
    gate.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return elapsed


def split(total: int, parts: int) -> list[int]:
    return [total * (i + 1) // parts - total * i // parts for i in range(parts)]


# ------------------------------------------------------------------------ SSE


class SseClient(threading.Thread):
    """Follows /events/stream and notes when each event was parsed (time.perf_counter)."""

    def __init__(self, base_url: str, token: str, after: int) -> None:
        super().__init__(name="sse-client", daemon=True)
        self.base_url = base_url
        self.token = token
        self.after = after
        self.received: dict[int, float] = {}
        self.opened = threading.Event()
        self.until: int | None = None  # stop once an event with at least this id has come
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.last_id = after

    def run(self) -> None:
        try:
            self._follow()
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            self.error = error
        finally:
            self.opened.set()

    def _done(self) -> bool:
        return self.stop.is_set() or (self.until is not None and self.last_id >= self.until)

    def _follow(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "text/event-stream"}
        timeout = httpx.Timeout(10.0, read=5 * FEED_HEARTBEAT_S + 5)
        with (
            httpx.Client(base_url=self.base_url, timeout=timeout) as http,
            http.stream("GET", "/events/stream", params={"after": self.after},
                        headers=headers) as response,
        ):
            if response.status_code != 200:
                raise RuntimeError(f"/events/stream: {response.status_code} {response.read()!r}")
            event_id: str | None = None
            data: list[str] = []
            for line in response.iter_lines():
                if line.startswith(":"):  # the opening comment, then heartbeats
                    self.opened.set()
                elif line:
                    name, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if name == "id":
                        event_id = value
                    elif name == "data":
                        data.append(value)
                elif event_id is not None:  # a blank line ends the event
                    event = orjson.loads("\n".join(data))
                    received = time.perf_counter()
                    position = int(event_id)
                    assert event["id"] == position
                    self.received[position] = received
                    self.last_id = position
                    event_id, data = None, []
                if self._done():
                    return


def feed_ids(store: Store, after: int) -> set[int]:
    """Positions after ``after`` of the events the feed sends (case events of its types)."""
    with store.connect() as conn:
        rows = conn.execute(
            SQL("SELECT notification_id FROM {}.{} WHERE notification_id > %s "
                "AND topic = ANY(%s)").format(Identifier(store.schema), Identifier(EVENTS_TABLE)),
            (after, [topic_of(t) for t in EVENT_TYPES]),
        ).fetchall()
    return {int(r[0]) for r in rows}


@dataclass
class Sse:
    latencies: list[float] = field(default_factory=list)
    commands: int = 0
    events: int = 0
    missing: int = 0  # commands whose feed events never came
    interval_ms: float = 0.0
    seconds: float = 0.0


def measure_sse(service: Service, store: Store, *, commands: int, interval_s: float,
                first_case: int) -> Sse:
    """The writer records commands one at a time; the SSE client notes when each arrives."""
    settings = Settings(jwt_secret=JWT_SECRET)
    subscriber = Principal(person_id="bench-feed", name="Bench Feed", organisation=KOMMUN,
                           unit="Systemet", roles=frozenset({Role.SERVICE}))
    ledger = store.ledger(individual_secret=SECRET, pool_size=2)
    try:
        head = ledger.recorder.max_notification_id() or 0
        client = SseClient(service.base_url, mint_token(subscriber, settings), head)
        client.start()
        if not client.opened.wait(START_TIMEOUT_S) or client.error is not None:
            raise RuntimeError(f"the SSE client did not connect: {client.error!r}")

        def calls() -> Iterator[tuple[str, Callable[[], Any]]]:
            n = first_case
            while True:
                yield from ledger_case(ledger, n)
                n += 1

        mix = calls()
        # Warm-up, untimed: one case (the writer's pool, the stream's wake-up path).
        for _ in range(len(MIX)):
            next(mix)[1]()
            time.sleep(interval_s)
        warm_head = ledger.recorder.max_notification_id() or 0
        committed: list[tuple[float, tuple[int, ...]]] = []
        started = time.perf_counter()
        for i in range(commands):
            due = started + i * interval_s
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            _, call = next(mix)
            result = call()
            committed.append((time.perf_counter(), result.notification_ids))
            if client.error is not None:
                raise RuntimeError(f"the SSE client failed: {client.error!r}")
        seconds = time.perf_counter() - started
        sent = feed_ids(store, warm_head)
        client.until = max(sent) if sent else warm_head
        client.join(SSE_DRAIN_TIMEOUT_S)
        client.stop.set()
        if client.error is not None:
            raise RuntimeError(f"the SSE client failed: {client.error!r}")
        result = Sse(commands=commands, interval_ms=interval_s * 1000, seconds=seconds)
        for commit, ids in committed:
            in_feed = [i for i in ids if i in sent]
            if not in_feed:
                continue  # a command with no event in the feed (none in this mix)
            last = max(in_feed)
            result.events += len(in_feed)
            if last in client.received:
                result.latencies.append(client.received[last] - commit)
            else:
                result.missing += 1
        return result
    finally:
        ledger.close()


# ------------------------------------------------------------------------ the run


@dataclass
class Result:
    server: str
    server_version: str
    clients: int
    rounds: int
    raw1_saves: int = 0
    raw1_seconds: float = 0.0
    rawn_saves: int = 0
    rawn_seconds: float = 0.0
    http_seconds: float = 0.0
    http: dict[str, list[float]] = field(default_factory=dict)
    cpu: Cpu = field(default_factory=Cpu)
    sse: Sse = field(default_factory=Sse)

    @property
    def latencies(self) -> list[float]:
        return [t for times in self.http.values() for t in times]

    @property
    def commands(self) -> int:
        return sum(len(v) for v in self.http.values())

    @property
    def http_rate(self) -> float:
        return self.commands / self.http_seconds

    @property
    def raw1_rate(self) -> float:
        return self.raw1_saves / self.raw1_seconds

    @property
    def rawn_rate(self) -> float:
        return self.rawn_saves / self.rawn_seconds


def measure(url: str, server: str, *, commands: int, clients: int, raw_saves: int, rounds: int,
            sse_commands: int, sse_interval_s: float, log_level: str,
            server_log: Path | None) -> Result:
    tag = uuid.uuid4().hex[:10]
    raw_store = Store(conninfo=url, schema=f"bench_{tag}_raw")
    http_store = Store(conninfo=url, schema=f"bench_{tag}_http")
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT current_setting('server_version')").fetchone()
        server_version = str(row[0]) if row else "?"
    result = Result(server, server_version, clients, rounds)
    cases = max(clients, round(commands / len(MIX)))
    per_client = split(cases, clients)
    if server_log is None:
        fd, name = tempfile.mkstemp(prefix="sip-http-bench-", suffix=".log")
        os.close(fd)
        log_path = Path(name)
    else:
        log_path = server_log
    service: Service | None = None
    raw_app = None
    https: list[httpx.Client] = []
    ok = False
    try:
        service = start_service(url, http_store.schema, log_path, log_level)
        print(f"service pid {service.process.pid} on {service.base_url}, schema "
              f"{http_store.schema}; {clients} clients, {cases} cases ({cases * len(MIX)} "
              f"commands) in {rounds} rounds", flush=True)
        settings = Settings(jwt_secret=JWT_SECRET)
        coordinator = Principal(person_id="bench-coordinator", name="Bench Samordnare",
                                organisation=KOMMUN, unit="Socialtjänsten",
                                roles=frozenset({Role.COORDINATOR}))
        headers = {"Authorization": f"Bearer {mint_token(coordinator, settings)}",
                   "Content-Type": "application/json"}
        https = [
            httpx.Client(base_url=service.base_url, headers=headers, timeout=REQUEST_TIMEOUT_S,
                         transport=httpx.HTTPTransport(socket_options=NO_DELAY, limits=ONE))
            for _ in range(clients)
        ]
        raw_app = raw_application(raw_store, pool_size=max(clients, 2))

        # Warm-up: one untimed case per client; raw saves in both modes.
        next_case = 0
        run_threads([lambda h=h, n=next_case + i: http_case(h, n, None)
                     for i, h in enumerate(https)])
        next_case += clients
        for i in range(len(MIX) * clients):
            raw_app.save(Registration(name=f"warm-up {i}"))
        run_threads([lambda: raw_app.save(Registration(name="warm-up"))
                     for _ in range(clients)])

        raw_done = 0
        cases_done = [0] * clients
        for r in range(rounds):
            # Raw, 1 thread.
            block = raw_saves * (r + 1) // rounds - raw_done
            for i in range(block):
                start = time.perf_counter()
                raw_app.save(Registration(name=f"registration {raw_done + i}"))
                result.raw1_seconds += time.perf_counter() - start
            result.raw1_saves += block

            # Raw, N threads.
            def saves(count: int, app: Any = raw_app) -> None:
                for _ in range(count):
                    app.save(Registration(name="concurrent"))

            result.rawn_seconds += run_threads([lambda c=c: saves(c)
                                                for c in split(block, clients)])
            result.rawn_saves += block
            raw_done += block

            # HTTP, N clients.
            work = []
            for c, http in enumerate(https):
                target = per_client[c] * (r + 1) // rounds
                numbers = list(range(next_case, next_case + target - cases_done[c]))
                next_case += len(numbers)
                cases_done[c] = target
                timings: dict[str, list[float]] = {}

                def drive(http: httpx.Client = http, numbers: list[int] = numbers,
                          timings: dict[str, list[float]] = timings) -> None:
                    for n in numbers:
                        http_case(http, n, timings)
                    for name, times in timings.items():
                        with _merge_lock:
                            result.http.setdefault(name, []).extend(times)

                work.append(drive)
            with psycopg.connect(url, autocommit=True) as probe:
                before = Cpu.sample(service.process.pid, probe)
                result.http_seconds += run_threads(work)
                result.cpu.add(before, Cpu.sample(service.process.pid, probe))
            print(f"  round {r + 1}/{rounds}: {result.commands} commands, "
                  f"{result.raw1_saves} raw saves", flush=True)

        result.sse = measure_sse(service, http_store, commands=sse_commands,
                                 interval_s=sse_interval_s, first_case=next_case)
        code = stop_service(service)
        if code != 0:
            raise RuntimeError(f"the service exited with {code}; its log ({log_path}):\n"
                               f"{service.log_tail()}")
        ok = True
        return result
    finally:
        for http in https:
            http.close()
        if service is not None:
            stop_service(service)
        if raw_app is not None:
            raw_app.close()
        drop_schemas(url, raw_store, http_store)  # the events' and the data keys'
        if ok and server_log is None:
            log_path.unlink(missing_ok=True)
        elif not ok:
            print(f"the service's log is kept in {log_path}", file=sys.stderr)


_merge_lock = threading.Lock()


def figures_of(result: Result, *, started: datetime, sse_commands: int,
               log_level: str) -> list[Figure]:
    n = result.clients
    run = {
        "time": started.isoformat(timespec="seconds"),
        "server": result.server,
        "server_version": result.server_version,
        "clients": n,
        "commands": result.commands,
        "sizes": {
            "commands": result.commands,
            "cases": result.commands // len(MIX),
            "clients": n,
            "rounds": result.rounds,
            "raw_saves": result.raw1_saves,
            "sse_commands": sse_commands,
        },
        "service": {
            "entry": "sip-ledger serve (uvicorn, a process of its own)",
            "pool_size": SERVICE_POOL_SIZE,
            "log": f"json {log_level}",
            "wait": True,
        },
        "python": platform.python_version(),
        "eventsourcing": package_version("eventsourcing"),
        "cpus": os.cpu_count(),
        "host": platform.node(),
    }
    latencies = result.latencies
    by_command = {
        name: {
            "count": len(times),
            "mean_ms": ms(statistics.fmean(times)),
            "p50_ms": ms(percentile(times, 0.50)),
            "p99_ms": ms(percentile(times, 0.99)),
            "max_ms": ms(max(times)),
        }
        for name in MIX if (times := result.http.get(name))
    }
    cpu = result.cpu
    per_command = {
        "service_ms": ms(cpu.service / result.commands) if cpu.readable else None,
        "bench_clients_ms": ms(cpu.bench / result.commands),
        "postgres_ms": ms(cpu.postgres / result.commands) if cpu.postgres_readable else None,
        "wall_ms_per_command": ms(result.http_seconds / result.commands),
    }
    how = (f"{n} concurrent HTTP clients (threads, keep-alive), each driving its own cases "
           f"through the mix {' → '.join(MIX)}, wait=true; from sending the request to having "
           "read the answer")
    raw_how = ("plain eventsourcing Application + PostgresFactory, one trivial aggregate (one "
               "event) created and saved per iteration, in the benchmark process")
    sse = result.sse
    sse_how = (f"from a command's commit (SipLedger call returned, writer in the benchmark "
               f"process, one command every {sse.interval_ms:g} ms) until an SSE client "
               "(/events/stream, role service, same process) had parsed the command's last "
               "feed event")

    def latency(name: str, q: float, goal: dict | None) -> Figure:
        figure: Figure = {
            "name": name, "value": ms(percentile(latencies, q)), "unit": "ms",
            "description": f"p{round(q * 100)} command latency at {how}",
            "clients": n, "samples": len(latencies), "by_command": by_command,
            "cpu_per_command": per_command, "run": run,
        }
        if goal:
            figure["goal"] = goal
        return figure

    def sse_figure(name: str, q: float, goal: dict | None) -> Figure:
        figure: Figure = {
            "name": name, "value": ms(percentile(sse.latencies, q)), "unit": "ms",
            "description": f"p{round(q * 100)} {sse_how}",
            "samples": len(sse.latencies), "events": sse.events, "missing": sse.missing,
            "max_ms": ms(max(sse.latencies)), "run": run,
        }
        if goal:
            figure["goal"] = goal
        return figure

    return [
        latency(LATENCY_P50, 0.50, None),
        latency(LATENCY_P99, 0.99, {"at_most": GOAL_LATENCY_P99_MS}),
        {
            "name": THROUGHPUT,
            "value": round(result.http_rate, 1),
            "unit": "commands/s",
            "baseline": RAW_N,
            "ratio": round(result.http_rate / result.rawn_rate, 3),
            "ratio_vs_1_thread": round(result.http_rate / result.raw1_rate, 3),
            "description": f"commands over the wall time of the HTTP blocks, {how}; ratio "
            f"against the raw library saves at {n} threads ({RAW_N}), ratio_vs_1_thread "
            f"against {RAW_1}",
            "clients": n,
            "seconds": round(result.http_seconds, 2),
            "cpu_per_command": per_command,
            "run": run,
        },
        {
            "name": RAW_1,
            "value": round(result.raw1_rate, 1),
            "unit": "saves/s",
            "description": f"{raw_how}; 1 thread, measured in the same run as {THROUGHPUT}",
            "threads": 1,
            "run": run,
        },
        {
            "name": RAW_N,
            "value": round(result.rawn_rate, 1),
            "unit": "saves/s",
            "description": f"{raw_how}; {n} threads (as many as the HTTP clients), saves over "
            f"the wall time, measured in the same run as {THROUGHPUT}",
            "threads": n,
            "run": run,
        },
        sse_figure(SSE_P50, 0.50, None),
        sse_figure(SSE_P99, 0.99, {"at_most": GOAL_SSE_P99_MS}),
    ]


def _verdict(figure: Figure) -> str:
    goal = figure.get("goal") or {}
    if "at_most" in goal:
        ok = figure["value"] <= goal["at_most"]
        return f"{'meets' if ok else 'above'} ≤ {goal['at_most']}"
    if "ratio" in figure:
        return f"ratio {figure['ratio']:.3f} (vs 1 thread {figure['ratio_vs_1_thread']:.3f})"
    return ""


def print_table(result: Result, figures: list[Figure], out: Path) -> None:
    print()
    print(f"server: {result.server} PostgreSQL {result.server_version}; "
          f"{result.clients} clients, {result.commands} commands")
    print(f"{'figure':<36}{'value':>10}  {'unit':<11} goal")
    for f in figures:
        print(f"{f['name']:<36}{f['value']:>10.1f}  {f['unit']:<11} {_verdict(f)}")
    print()
    by_command = figures[0]["by_command"]
    print(f"{'command':<18}{'count':>7}{'mean ms':>10}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for name, row in by_command.items():
        print(f"{name:<18}{row['count']:>7}{row['mean_ms']:>10.2f}{row['p50_ms']:>10.2f}"
              f"{row['p99_ms']:>10.2f}{row['max_ms']:>10.2f}")
    cpu = figures[0]["cpu_per_command"]
    print()
    print("CPU per command in the HTTP blocks (ms): "
          f"service {cpu['service_ms']}, benchmark clients {cpu['bench_clients_ms']}, "
          f"PostgreSQL {cpu['postgres_ms']}; wall {cpu['wall_ms_per_command']} "
          f"(× {result.clients} clients in flight)")
    sse = result.sse
    print(f"SSE: {len(sse.latencies)} commands ({sse.events} feed events) in "
          f"{sse.seconds:.1f} s, {sse.missing} missing; max "
          f"{ms(max(sse.latencies))} ms")
    print()
    print(f"written to {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.http", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=DEFAULT_COMMANDS,
                        help="HTTP commands to time (whole cases of 6; default %(default)s)")
    parser.add_argument("--clients", type=int, default=DEFAULT_CLIENTS,
                        help="concurrent HTTP clients, and threads of the raw baseline "
                        "(default %(default)s)")
    parser.add_argument("--raw-saves", type=int, default=None,
                        help="raw library saves to time in each mode (default: --commands)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="alternating raw/HTTP blocks (default %(default)s)")
    parser.add_argument("--sse-commands", type=int, default=DEFAULT_SSE_COMMANDS,
                        help="commands the SSE writer records (default %(default)s)")
    parser.add_argument("--sse-interval-ms", type=float, default=DEFAULT_SSE_INTERVAL_MS,
                        help="one SSE writer command this often (default %(default)s)")
    parser.add_argument("--service-log-level", default="INFO",
                        help="the service's SIP_LOG_LEVEL (default %(default)s, production's)")
    parser.add_argument("--service-log", type=Path, default=None,
                        help="keep the service's log in this file (default: a temporary file, "
                        "removed after a successful run)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="figures file, merged by name (default %(default)s)")
    parser.add_argument("--database-url", default=None,
                        help="PostgreSQL to use (default: $SIP_BENCH_DATABASE_URL, else embedded)")
    args = parser.parse_args(argv)
    for name in ("commands", "clients", "rounds", "sse_commands"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if args.sse_interval_ms < 0:
        parser.error("--sse-interval-ms must not be negative")
    raw_saves = args.raw_saves if args.raw_saves is not None else args.commands
    cases = max(args.clients, round(args.commands / len(MIX)))
    rounds = min(args.rounds, max(1, cases // args.clients), max(1, raw_saves))

    started = datetime.now(tz=UTC)
    url, server = server_url(args.database_url)
    configure_logging(level="WARNING")  # this process's ledger logs every command at info
    try:
        result = measure(
            url, server, commands=args.commands, clients=args.clients, raw_saves=raw_saves,
            rounds=rounds, sse_commands=args.sse_commands,
            sse_interval_s=args.sse_interval_ms / 1000, log_level=args.service_log_level,
            server_log=args.service_log,
        )
    finally:
        reset_logging()
    figures = figures_of(result, started=started, sse_commands=args.sse_commands,
                         log_level=args.service_log_level)
    merge_figures(args.out, figures)
    print_table(result, figures, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
