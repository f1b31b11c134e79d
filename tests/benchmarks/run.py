"""Benchmark: SIP commands per second against the raw library's saves per second.

    python -m tests.benchmarks.run [--commands N] [--raw-saves M] [--out var/bench.json]

One run, one server: SIP_BENCH_DATABASE_URL if set (or --database-url), else the embedded server
in var/bench-pgdata. Each run works in fresh schemas, dropped at the end.

Figures:
- raw_library_saves_per_s: a plain eventsourcing Application with the library's own
  PostgresFactory saving a trivial aggregate with one event, one aggregate created and saved per
  iteration. This is the floor every event-sourced write on this server pays: one transaction
  with the library's table lock, NOTIFY and insert.
- sip_commands_per_s: commands through SipLedger, single-threaded, for the mix a case goes
  through (propose, consent, wishes, convene, reply, plan), over all commands of the mix, with
  personal data sealed as the service stores it (legal_life.py sets it against the same path in
  clear). Its ``ratio`` is commands/s divided by raw saves/s; the goal is at least 0.8.

The two are measured in alternating blocks, so a drift of the machine or the server during the
run falls on both. Figures are merged by name into the output file (see figures.py).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from psycopg.sql import SQL, Identifier

from adapters.store import AGGREGATE_CACHE_SIZE, Store, start_embedded_postgres
from adapters.store.keys import keys_conninfo
from domain.clock import local_date
from domain.commands import (
    Individual,
    RecordReply,
    RecordWishes,
    Reply,
    Wishes,
)
from domain.identity import check_digit_for
from domain.ledger import SipLedger
from tests.benchmarks.figures import Figure, merge_figures
from tests.support.builders import KOMMUN, actor, consent, convene, establish, propose

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "var" / "bench.json"
DEFAULT_PGDATA = ROOT / "var" / "bench-pgdata"
RAW = "raw_library_saves_per_s"
SIP = "sip_commands_per_s"
GOAL = 0.8
MIX = ("propose", "record_consent", "record_wishes", "convene", "record_reply", "establish_plan")
# Sized so that a default run takes 30-60 s on a small machine (2 cores, embedded server).
DEFAULT_COMMANDS = 9_000
WARM_UP_CASES = 3
SECRET = b"benchmark-individual-key"


# ------------------------------------------------------------------------ the raw baseline


class Registration(Aggregate):
    """The most trivial aggregate: created with one event, never changed."""

    @event("Registered")
    def __init__(self, name: str) -> None:
        self.name = name


def raw_application(store: Store, pool_size: int) -> Application[uuid.UUID]:
    """A plain library Application on the library's own PostgresFactory, in its own schema."""
    store.ensure_schema()
    env = store.eventsourcing_env(pool_size)
    env.pop("APPLICATION_RECORDER_TOPIC")  # the library's own recorder, not ours
    return Application(env=env)


# ------------------------------------------------------------------------ the SIP command mix


@dataclass
class Timings:
    seconds: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, elapsed: float) -> None:
        self.seconds.setdefault(name, []).append(elapsed)

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.seconds.values())

    @property
    def total(self) -> float:
        return sum(sum(v) for v in self.seconds.values())


def pin_for(n: int) -> str:
    """The n-th distinct, valid personal identity number of an adult (born 1950-1990)."""
    born = date(1950, 1, 1) + timedelta(days=n // 900)
    ymd = born.strftime("%Y%m%d")
    serial = f"{100 + n % 900:03d}"
    return f"{ymd}-{serial}{check_digit_for(ymd[2:] + serial)}"


def run_case(ledger: SipLedger, n: int, timings: Timings,
             before_each: Callable[[], None] | None = None) -> None:
    """One case through the mix; each ledger call timed on its own (``before_each`` runs,
    untimed, before each call)."""
    coordinator = actor(KOMMUN)

    def timed(name: str, call: Callable[[], Any]) -> Any:
        if before_each is not None:
            before_each()
        start = time.perf_counter()
        result = call()
        timings.add(name, time.perf_counter() - start)
        return result

    individual = Individual(personal_identity_number=pin_for(n), name="Kim Karlsson")
    proposal = propose(individual=individual)
    case_id = timed("propose", lambda: ledger.propose(proposal, coordinator)).case_id
    consent_cmd = consent(case_id)
    timed("record_consent", lambda: ledger.record_consent(consent_cmd, coordinator))
    wishes = RecordWishes(case_id=case_id, wishes=Wishes(place="hemma", longest_minutes=60))
    timed("record_wishes", lambda: ledger.record_wishes(wishes, coordinator))
    convene_cmd = convene(case_id)
    timed("convene", lambda: ledger.convene(convene_cmd, coordinator))
    reply = RecordReply(case_id=case_id, participant_key="region-vg", reply=Reply.ACCEPTED)
    timed("record_reply", lambda: ledger.record_reply(reply, coordinator))
    plan = establish(case_id, local_date(convene_cmd.meeting_at))
    timed("establish_plan", lambda: ledger.establish_plan(plan, coordinator))


# ------------------------------------------------------------------------ the run


@dataclass
class Result:
    raw_saves: int
    raw_seconds: float
    sip: Timings
    server_version: str
    server: str

    @property
    def raw_rate(self) -> float:
        return self.raw_saves / self.raw_seconds

    @property
    def sip_rate(self) -> float:
        return self.sip.count / self.sip.total

    @property
    def ratio(self) -> float:
        return self.sip_rate / self.raw_rate


def server_url(explicit: str | None) -> tuple[str, str]:
    url = explicit or os.environ.get("SIP_BENCH_DATABASE_URL")
    if url:
        return url, "external"
    return start_embedded_postgres(DEFAULT_PGDATA), "embedded"


def drop_schemas(url: str, *stores: Store) -> None:
    """Drop the stores' schemas: the events' and the data keys' (the key store keeps a schema of
    the same name in its own database, adapters/store/keys.py)."""
    for store in stores:
        for conninfo in (url, store.keys_url or keys_conninfo(url)):
            try:
                conn = psycopg.connect(conninfo, autocommit=True)
            except psycopg.OperationalError:
                continue  # no key store database: a run that never opened one
            with conn:
                conn.execute(SQL("DROP SCHEMA IF EXISTS {0} CASCADE").format(
                    Identifier(store.schema)))


def measure(
    url: str, server: str, *, commands: int, raw_saves: int, rounds: int, pool_size: int,
    cache_size: int = AGGREGATE_CACHE_SIZE, profile: cProfile.Profile | None = None,
) -> Result:
    tag = uuid.uuid4().hex[:10]
    raw_store = Store(conninfo=url, schema=f"bench_{tag}_raw")
    sip_store = Store(conninfo=url, schema=f"bench_{tag}_sip")
    cases = max(1, round(commands / len(MIX)))
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT current_setting('server_version')").fetchone()
        server_version = str(row[0]) if row else "?"
    raw_app = raw_application(raw_store, pool_size)
    ledger = sip_store.ledger(
        individual_secret=SECRET, pool_size=pool_size, cache_size=cache_size
    )
    try:
        # Warm up both: pools, prepared statements, the server's caches.
        warm = Timings()
        for n in range(WARM_UP_CASES):
            run_case(ledger, n, warm)
        for i in range(WARM_UP_CASES * len(MIX)):
            raw_app.save(Registration(name=f"warm-up {i}"))

        sip = Timings()
        raw_seconds = 0.0
        next_case = WARM_UP_CASES
        raw_done = 0
        for r in range(rounds):
            # Raw block.
            block = raw_saves * (r + 1) // rounds - raw_done
            for i in range(block):
                start = time.perf_counter()
                raw_app.save(Registration(name=f"registration {raw_done + i}"))
                raw_seconds += time.perf_counter() - start
            raw_done += block
            # SIP block.
            block_cases = cases * (r + 1) // rounds - (next_case - WARM_UP_CASES)
            if profile is not None:
                profile.enable()
            for n in range(next_case, next_case + block_cases):
                run_case(ledger, n, sip)
            if profile is not None:
                profile.disable()
            next_case += block_cases
        return Result(raw_done, raw_seconds, sip, server_version, server)
    finally:
        ledger.close()
        raw_app.close()
        drop_schemas(url, raw_store, sip_store)


def figures_of(
    result: Result, *, started: datetime, rounds: int, pool_size: int, cache_size: int
) -> list[Figure]:
    run = {
        "time": started.isoformat(timespec="seconds"),
        "server": result.server,
        "server_version": result.server_version,
        "sizes": {
            "raw_saves": result.raw_saves,
            "commands": result.sip.count,
            "cases": result.sip.count // len(MIX),
            "rounds": rounds,
            "pool_size": pool_size,
            "aggregate_cache_size": cache_size,
            "threads": 1,
        },
        "python": platform.python_version(),
        "eventsourcing": package_version("eventsourcing"),
        "host": platform.node(),
    }
    by_command = {
        name: {
            "count": len(times),
            "mean_ms": round(statistics.fmean(times) * 1000, 3),
            "p50_ms": round(statistics.median(times) * 1000, 3),
            "p95_ms": round(_percentile(times, 0.95) * 1000, 3),
        }
        for name, times in result.sip.seconds.items()
    }
    return [
        {
            "name": RAW,
            "value": round(result.raw_rate, 1),
            "unit": "saves/s",
            "description": "plain eventsourcing Application + PostgresFactory, one trivial "
            "aggregate (one event) created and saved per iteration",
            "run": run,
        },
        {
            "name": SIP,
            "value": round(result.sip_rate, 1),
            "unit": "commands/s",
            "baseline": RAW,
            "ratio": round(result.ratio, 3),
            "goal": {"ratio_at_least": GOAL},
            "description": "SipLedger commands, single-threaded, mix " + " → ".join(MIX),
            "by_command": by_command,
            "run": run,
        },
    ]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def print_table(result: Result, figures: list[Figure], out: Path) -> None:
    sip = figures[1]
    print()
    print(f"server: {result.server} PostgreSQL {result.server_version}")
    print(f"{'figure':<28}{'value':>12}  unit")
    print(f"{RAW:<28}{result.raw_rate:>12.1f}  saves/s   ({result.raw_saves} saves)")
    print(f"{SIP:<28}{result.sip_rate:>12.1f}  commands/s ({result.sip.count} commands)")
    verdict = "meets" if result.ratio >= GOAL else "below"
    print(f"{'ratio':<28}{result.ratio:>12.3f}  ({verdict} the goal ≥ {GOAL})")
    print()
    print(f"{'command':<18}{'count':>7}{'mean ms':>10}{'p50 ms':>10}{'p95 ms':>10}{'per s':>10}")
    for name in MIX:
        row = sip["by_command"].get(name)
        if row:
            per_s = 1000 / row["mean_ms"] if row["mean_ms"] else float("inf")
            print(f"{name:<18}{row['count']:>7}{row['mean_ms']:>10.3f}{row['p50_ms']:>10.3f}"
                  f"{row['p95_ms']:>10.3f}{per_s:>10.1f}")
    print(f"{'raw save':<18}{result.raw_saves:>7}"
          f"{result.raw_seconds / result.raw_saves * 1000:>10.3f}")
    print()
    print(f"written to {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=DEFAULT_COMMANDS,
                        help="SIP commands to time (whole cases of 6; default %(default)s)")
    parser.add_argument("--raw-saves", type=int, default=None,
                        help="raw library saves to time (default: as many as --commands)")
    parser.add_argument("--rounds", type=int, default=10,
                        help="alternating raw/SIP blocks (default %(default)s)")
    parser.add_argument("--pool-size", type=int, default=5)
    parser.add_argument("--cache-size", type=int, default=AGGREGATE_CACHE_SIZE,
                        help="SipLedger's aggregate cache (0: off; default %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="figures file, merged by name (default %(default)s)")
    parser.add_argument("--database-url", default=None,
                        help="PostgreSQL to use (default: $SIP_BENCH_DATABASE_URL, else embedded)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="write cProfile stats of the SIP blocks to this file")
    args = parser.parse_args(argv)
    if args.commands < 1 or args.rounds < 1:
        parser.error("--commands and --rounds must be positive")
    raw_saves = args.raw_saves if args.raw_saves is not None else args.commands
    rounds = min(args.rounds, max(1, args.commands // len(MIX)), max(1, raw_saves))

    started = datetime.now(tz=UTC)
    url, server = server_url(args.database_url)
    profile = cProfile.Profile() if args.profile else None
    result = measure(url, server, commands=args.commands, raw_saves=raw_saves, rounds=rounds,
                     pool_size=args.pool_size, cache_size=args.cache_size, profile=profile)
    figures = figures_of(result, started=started, rounds=rounds, pool_size=args.pool_size,
                         cache_size=args.cache_size)
    merge_figures(args.out, figures)
    print_table(result, figures, args.out)
    if profile is not None:
        profile.dump_stats(args.profile)
        print(f"profile written to {args.profile}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
