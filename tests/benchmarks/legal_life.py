"""Benchmark: the record's legal life (issue 12) — what sealing personal data costs, and erasure.

    python -m tests.benchmarks.legal_life [--commands N] [--erase-cases M] [--out var/bench.json]

One run, one server: SIP_BENCH_DATABASE_URL if set (or --database-url), else the embedded server
in var/bench-pgdata (the one tests/benchmarks/run.py uses). Every part works in fresh schemas,
dropped at the end in the event store's database and in the key store's.

1. **The command path sealed against the same path in clear.** Three SipLedgers, each on a
   schema of its own, run run.py's mix (propose → consent → wishes → convene → reply → plan) for
   the same individuals, in alternating blocks whose order turns each round, so that drift of
   the machine or the server falls on all alike:
   - ``sealed``: as the service opens it, personal data sealed per data subject under data keys
     kept in the key store (domain/personal.py, adapters/store/keys.py);
   - ``clear``: ``Store.ledger(sealed=False)``, personal data stored in clear — the only use of
     that switch, a baseline;
   - ``cold keys``: sealed, with the key store's cache of unwrapped data keys emptied before
     every command, so each command fetches its case's keys from the key store as a service does
     when commands on a case come more than ``KEY_CACHE_S`` apart (the usual case: days apart).
   Wall time per command (each ledger call, as run.py times it) and the process's CPU time per
   command (``time.process_time`` over the blocks) are kept.
2. **Erasure.** ``--erase-cases`` cases, each through the mix and closed by both principals
   (R30), are written by a ledger whose clock stands six years back, so that the social-services
   policy (five years after the last entry) makes them due today; individuals are born on days
   the policy does not exempt. Then a fresh ledger (cold caches, as a new process) erases them one
   by one through ``ledger.erase_personal_data`` as an archivist: read the case, record
   PersonalDataErased naming the live subjects, destroy the data keys. As many again, in a schema
   of their own, are erased by ``sip-ledger retention erase --due`` run in this process, the read
   models caught up beforehand (a running service keeps them so); its time covers opening the
   stores, listing the ended cases from the read model, judging each against the policy, erasing
   it, and vacuuming the key table. Afterwards both logs must verify and no live data key may be
   left, or the run fails.

Figures (merged by name into --out, see figures.py):
- sip_sealed_commands_per_s, sip_clear_commands_per_s and sealed_over_clear_commands_ratio
  (goal ≥ 0.9: sealing costs at most 10 %), with CPU ms per command and per-command latencies;
- sip_sealed_cold_keys_commands_per_s, with its ratio to the clear path;
- erasure_cases_per_s (the ledger's path, with per-case p50/p95) and erasure_cli_due_cases_per_s.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import hashlib
import platform
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from psycopg.sql import SQL, Identifier
from typer.testing import CliRunner

from adapters.audit.verify import verify
from adapters.logging import reset_logging
from adapters.store import AGGREGATE_CACHE_SIZE, Store
from adapters.store.keys import FileKek, keys_conninfo
from domain.clock import local_date
from domain.commands import (
    ClosureReason,
    ErasePersonalData,
    Individual,
    RecordClosure,
    RecordReply,
    RecordWishes,
    Reply,
    Wishes,
)
from domain.identity import check_digit_for
from domain.ledger import SipLedger
from domain.parties import Role
from projections.runner import ReadModelRunner
from tests.benchmarks.figures import Figure, merge_figures
from tests.benchmarks.run import (
    DEFAULT_OUT,
    MIX,
    SECRET,
    WARM_UP_CASES,
    Timings,
    _percentile,
    drop_schemas,
    run_case,
    server_url,
)
from tests.support.builders import KOMMUN, REGION, actor, consent, convene, establish, propose

SEALED = "sip_sealed_commands_per_s"
CLEAR = "sip_clear_commands_per_s"
RATIO = "sealed_over_clear_commands_ratio"
COLD = "sip_sealed_cold_keys_commands_per_s"
ERASE = "erasure_cases_per_s"
ERASE_CLI = "erasure_cli_due_cases_per_s"
FIGURE_NAMES = (SEALED, CLEAR, RATIO, COLD, ERASE, ERASE_CLI)
GOAL_RATIO = 0.9
# Sized so that a default run takes a few minutes on a small machine (2 cores).
DEFAULT_COMMANDS = 6_000
DEFAULT_ERASE_CASES = 500
# Benchmarks only: a key-encryption key anyone can derive, never a real one.
BENCH_KEK_BYTES = hashlib.sha256(b"sip-ledger benchmark key-encryption key only").digest()
DECISION = "KS 2031/bench"
ARCHIVIST = actor(KOMMUN, "arkiv-1", "Ada Arkivarie", "Kommunarkivet").model_copy(
    update={"role": Role.ARCHIVIST})
REGION_COORDINATOR = actor(REGION, "rut", "Rut Region", "Vårdcentralen")
# The erasure cases' last entry lies this far back: the social-services policy's five years and
# some days (a leap day, time zones).
WRITTEN_AGO = timedelta(days=6 * 365)
# Days of the month the social-services policy exempts (born on the 5th, 15th, 25th): avoided.
_DUE_DAYS = tuple(d for d in range(1, 29) if d not in (5, 15, 25))


def bench_kek() -> FileKek:
    return FileKek(BENCH_KEK_BYTES)


# ------------------------------------------------------------------------ 1. commands


@dataclass
class Arm:
    """One way of running the mix, on a ledger of its own."""

    name: str
    ledger: SipLedger
    timings: Timings = field(default_factory=Timings)
    cpu_seconds: float = 0.0
    profile: cProfile.Profile | None = None
    cold_keys: bool = False
    # Commands/s of each round's block, to pair with the other paths' blocks of that round.
    round_rates: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.timings.count / self.timings.total

    @property
    def cpu_ms_per_command(self) -> float:
        return self.cpu_seconds / self.timings.count * 1000

    def forget_keys(self) -> None:
        """Empty the key store's cache of unwrapped data keys (benchmark only: what a process
        holds after KEY_CACHE_S without touching the case)."""
        keys: Any = self.ledger.keys
        with keys._lock:
            keys._cache.clear()


@dataclass
class Commands:
    arms: dict[str, Arm]
    rounds: int

    @property
    def ratio(self) -> float:
        return self.arms["sealed"].rate / self.arms["clear"].rate

    @property
    def cold_ratio(self) -> float:
        return self.arms["cold"].rate / self.arms["clear"].rate

    def round_ratios(self, arm: str) -> list[float]:
        """``arm``'s rate over the clear path's, round by round: machine noise that hits one
        round (another process, a checkpoint) shows as one outlier, not a shift."""
        return [a / c for a, c in zip(self.arms[arm].round_rates,
                                      self.arms["clear"].round_rates, strict=True)]


def measure_commands(url: str, tag: str, *, commands: int, rounds: int, pool_size: int,
                     cache_size: int, profile: bool) -> Commands:
    stores = {name: Store(conninfo=url, schema=f"bench_{tag}_{name}", kek=bench_kek())
              for name in ("sealed", "clear", "cold")}
    arms: dict[str, Arm] = {}
    try:
        for name, store in stores.items():
            ledger = store.ledger(individual_secret=SECRET, pool_size=pool_size,
                                  cache_size=cache_size, sealed=name != "clear")
            arms[name] = Arm(name, ledger, cold_keys=name == "cold",
                             profile=cProfile.Profile() if profile else None)
        cases = max(1, round(commands / len(MIX)))
        for arm in arms.values():  # pools, prepared statements, the server's caches
            for n in range(WARM_UP_CASES):
                run_case(arm.ledger, n, Timings(), arm.forget_keys if arm.cold_keys else None)
        order = list(arms.values())
        done = 0
        for r in range(rounds):
            block = cases * (r + 1) // rounds - done
            first = WARM_UP_CASES + done
            for arm in order[r % len(order):] + order[:r % len(order)]:
                before = arm.forget_keys if arm.cold_keys else None
                if arm.profile is not None:
                    arm.profile.enable()
                cpu = time.process_time()
                count, total = arm.timings.count, arm.timings.total
                for n in range(first, first + block):  # the same individuals on every arm
                    run_case(arm.ledger, n, arm.timings, before)
                arm.cpu_seconds += time.process_time() - cpu
                arm.round_rates.append(
                    (arm.timings.count - count) / (arm.timings.total - total))
                if arm.profile is not None:
                    arm.profile.disable()
            done += block
        return Commands(arms, rounds)
    finally:
        for arm in arms.values():
            arm.ledger.close()
        drop_schemas(url, *stores.values())


# ------------------------------------------------------------------------ 2. erasure


def due_pin(n: int) -> str:
    """The n-th distinct personal identity number of an adult born on a day of the month the
    social-services policy does not exempt (distinct for n < 12,000)."""
    born = date(1950 + n // 300 % 40, 1 + n // 25 % 12, _DUE_DAYS[n % len(_DUE_DAYS)])
    ymd = born.strftime("%Y%m%d")
    serial = f"{100 + n % 900:03d}"
    return f"{ymd}-{serial}{check_digit_for(ymd[2:] + serial)}"


class ShiftedClock:
    """The real time moved back by ``shift``: a case written now reads as written then."""

    def __init__(self, shift: timedelta) -> None:
        self.shift = shift

    def __call__(self) -> datetime:
        return datetime.now(UTC) - self.shift


def closed_case(ledger: SipLedger, clock: ShiftedClock, n: int) -> UUID:
    """A case through the mix, then closed by both principals (R30), its days as of the clock."""
    coordinator = actor(KOMMUN)
    day = local_date(clock())
    individual = Individual(personal_identity_number=due_pin(n), name="Kim Karlsson")
    case_id = ledger.propose(propose(individual=individual), coordinator).case_id
    ledger.record_consent(consent(case_id, valid_from=day,
                                  valid_until=day + timedelta(days=365)), coordinator)
    ledger.record_wishes(RecordWishes(case_id=case_id, wishes=Wishes(
        place="hemma", longest_minutes=60)), coordinator)
    meeting = convene(case_id, meeting_at=clock())
    ledger.convene(meeting, coordinator)
    ledger.record_reply(RecordReply(case_id=case_id, participant_key="region-vg",
                                    reply=Reply.ACCEPTED), coordinator)
    ledger.establish_plan(establish(case_id, local_date(meeting.meeting_at)), coordinator)
    for who in (coordinator, REGION_COORDINATOR):
        ledger.record_closure(RecordClosure(case_id=case_id, reason=ClosureReason.GOALS_MET), who)
    return case_id


def write_due_cases(store: Store, cases: int) -> tuple[list[UUID], float]:
    clock = ShiftedClock(WRITTEN_AGO)
    ledger = store.ledger(individual_secret=SECRET, clock=clock)
    started = time.perf_counter()
    try:
        ids = [closed_case(ledger, clock, n) for n in range(cases)]
    finally:
        ledger.close()
    return ids, time.perf_counter() - started


@dataclass
class Erasure:
    cases: int
    seconds: float
    per_case: list[float] = field(default_factory=list)
    written_in_s: float = 0.0
    events: int = 0
    keys_destroyed: int = 0

    @property
    def rate(self) -> float:
        return self.cases / self.seconds


def erase_through_ledger(store: Store, ids: list[UUID]) -> Erasure:
    ledger = store.ledger(individual_secret=SECRET)  # a fresh one: nothing cached
    today = local_date(datetime.now(UTC))
    per_case: list[float] = []
    try:
        status = ledger.retention_status(ids[0], today)
        if not status.due:
            raise SystemExit(f"the benchmark's first case is not due: {status.reason}")
        started = time.perf_counter()
        for case_id in ids:
            t0 = time.perf_counter()
            ledger.erase_personal_data(ErasePersonalData(case_id=case_id, decision=DECISION),
                                       ARCHIVIST)
            per_case.append(time.perf_counter() - t0)
        seconds = time.perf_counter() - started
    finally:
        ledger.close()
    return Erasure(cases=len(ids), seconds=seconds, per_case=per_case)


def erase_through_cli(url: str, store: Store, ids: list[UUID], kek_file: Path) -> Erasure:
    datastore = store.datastore()
    try:
        runner = ReadModelRunner(datastore)
        try:
            runner.process_available()
        finally:
            runner.stop()
    finally:
        datastore.close()
    env = {
        "SIP_DATABASE_URL": url,
        "SIP_DATABASE_SCHEMA": store.schema,
        "SIP_INDIVIDUAL_KEY": SECRET.decode(),
        "SIP_KEK_FILE": str(kek_file),
        "SIP_LOG_FORMAT": "json",
        "SIP_LOG_LEVEL": "WARNING",
    }
    from adapters.cli.root import app  # the command line, only for this part

    started = time.perf_counter()
    try:
        result = CliRunner().invoke(app, [
            "retention", "erase", "--due", "--decision", DECISION, "--person", "arkiv-1",
            "--name", "Ada Arkivarie", "--organisation", KOMMUN.id, "--unit", "Kommunarkivet",
        ], env=env)
    finally:
        reset_logging()
    seconds = time.perf_counter() - started
    expected = f"erased {len(ids)} cases"
    if result.exit_code != 0 or expected not in result.output:
        raise SystemExit(f"sip-ledger retention erase --due did not erase the {len(ids)} cases "
                         f"(exit {result.exit_code}): {result.output.strip()[-500:]}")
    return Erasure(cases=len(ids), seconds=seconds)


def check_erased(url: str, store: Store, erasure: Erasure) -> None:
    """The log verifies, and no data key of the schema is left live."""
    datastore = store.datastore()
    try:
        report = verify(datastore, [])
    finally:
        datastore.close()
    if not report.intact:
        raise SystemExit(f"{store.schema} does not verify after the erasure: "
                         f"{report.first.describe() if report.first else '?'}")
    with psycopg.connect(store.keys_url or keys_conninfo(url)) as conn:
        row = conn.execute(SQL(
            "SELECT count(*) FILTER (WHERE wrapped IS NOT NULL), "
            "count(*) FILTER (WHERE erased_on IS NOT NULL) FROM {}.sip_data_keys"
        ).format(Identifier(store.schema))).fetchone()
    live, destroyed = (int(row[0]), int(row[1])) if row else (0, 0)
    if live:
        raise SystemExit(f"{store.schema}: {live} data keys are still live after the erasure")
    erasure.events = report.events
    erasure.keys_destroyed = destroyed


def measure_erasure(url: str, tag: str, *, cases: int) -> tuple[Erasure, Erasure]:
    ledger_store = Store(conninfo=url, schema=f"bench_{tag}_erase", kek=bench_kek())
    cli_store = Store(conninfo=url, schema=f"bench_{tag}_erasecli", kek=bench_kek())
    with tempfile.TemporaryDirectory(prefix="sip-bench-") as tmp:
        kek_file = Path(tmp) / "bench-kek.key"
        kek_file.write_bytes(base64.b64encode(BENCH_KEK_BYTES) + b"\n")
        try:
            ids, written = write_due_cases(ledger_store, cases)
            by_ledger = erase_through_ledger(ledger_store, ids)
            by_ledger.written_in_s = written
            check_erased(url, ledger_store, by_ledger)
            ids, written = write_due_cases(cli_store, cases)
            by_cli = erase_through_cli(url, cli_store, ids, kek_file)
            by_cli.written_in_s = written
            check_erased(url, cli_store, by_cli)
            return by_ledger, by_cli
        finally:
            drop_schemas(url, ledger_store, cli_store)


# ------------------------------------------------------------------------ figures


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _by_command(timings: Timings) -> dict[str, dict[str, Any]]:
    return {
        name: {
            "count": len(times),
            "mean_ms": _ms(statistics.fmean(times)),
            "p50_ms": _ms(statistics.median(times)),
            "p95_ms": _ms(_percentile(times, 0.95)),
        }
        for name, times in timings.seconds.items()
    }


def _spread(ratios: list[float]) -> dict[str, Any]:
    ordered = sorted(ratios)
    return {"median": round(statistics.median(ordered), 3), "min": round(ordered[0], 3),
            "max": round(ordered[-1], 3), "rounds": [round(r, 3) for r in ratios]}


def figures_of(result: Commands, by_ledger: Erasure, by_cli: Erasure, *,
               run: dict[str, Any]) -> list[Figure]:
    sealed, clear, cold = (result.arms[n] for n in ("sealed", "clear", "cold"))
    mix = " → ".join(MIX)

    def commands_figure(arm: Arm, name: str, description: str, **extra: Any) -> Figure:
        return {
            "name": name, "value": round(arm.rate, 1), "unit": "commands/s",
            **extra,
            "description": description,
            "commands": arm.timings.count,
            "cpu_ms_per_command": round(arm.cpu_ms_per_command, 3),
            "by_command": _by_command(arm.timings),
            "run": run,
        }

    return [
        commands_figure(sealed, SEALED, f"SipLedger commands, single-threaded, mix {mix}, "
                        "personal data sealed per data subject (as the service stores it)",
                        baseline=CLEAR, ratio=round(result.ratio, 3)),
        commands_figure(clear, CLEAR, "the same mix and individuals through the same path "
                        "with personal data stored in clear (Store.ledger(sealed=False)), "
                        "alternating with the sealed blocks in the same run"),
        {
            "name": RATIO, "value": round(result.ratio, 3), "unit": "ratio",
            "goal": {"at_least": GOAL_RATIO},
            "meets_goal": result.ratio >= GOAL_RATIO,
            "description": f"{SEALED} / {CLEAR}, same run, same server, alternating blocks",
            "by_round": _spread(result.round_ratios("sealed")),
            "cold_keys_by_round": _spread(result.round_ratios("cold")),
            "cpu_ms_per_command": {"sealed": round(sealed.cpu_ms_per_command, 3),
                                   "clear": round(clear.cpu_ms_per_command, 3),
                                   "cold_keys": round(cold.cpu_ms_per_command, 3)},
            "run": run,
        },
        commands_figure(cold, COLD, "as the sealed path, with the key store's cache of "
                        "unwrapped data keys emptied before each command (a case's keys "
                        "fetched from the key store, as when its commands come more than "
                        "KEY_CACHE_S apart)", baseline=CLEAR, ratio=round(result.cold_ratio, 3)),
        {
            "name": ERASE, "value": round(by_ledger.rate, 1), "unit": "cases/s",
            "description": "ledger.erase_personal_data by an archivist, one case after "
                           "another, from a fresh ledger: each case (8 commands, closed six "
                           "years ago) read and decrypted, PersonalDataErased "
                           "recorded, its data keys destroyed",
            "cases": by_ledger.cases,
            "seconds": round(by_ledger.seconds, 3),
            "per_case_p50_ms": _ms(statistics.median(by_ledger.per_case)),
            "per_case_p95_ms": _ms(_percentile(by_ledger.per_case, 0.95)),
            "keys_destroyed": by_ledger.keys_destroyed,
            "log_events_verified": by_ledger.events,
            "cases_written_in_s": round(by_ledger.written_in_s, 2),
            "run": run,
        },
        {
            "name": ERASE_CLI, "value": round(by_cli.rate, 1), "unit": "cases/s",
            "description": "sip-ledger retention erase --due in this process over a schema "
                           "whose ended cases are all due, read models caught up before: "
                           "open the stores, list the ended cases, judge each, erase it, "
                           "vacuum the key table",
            "cases": by_cli.cases,
            "seconds": round(by_cli.seconds, 3),
            "keys_destroyed": by_cli.keys_destroyed,
            "log_events_verified": by_cli.events,
            "cases_written_in_s": round(by_cli.written_in_s, 2),
            "run": run,
        },
    ]


def print_table(result: Commands, by_ledger: Erasure, by_cli: Erasure, server: str,
                server_version: str, out: Path) -> None:
    print()
    print(f"server: {server} PostgreSQL {server_version}; {result.rounds} alternating rounds")
    print(f"{'path':<22}{'commands':>9}{'per s':>10}{'cpu ms/cmd':>12}{'vs clear':>10}")
    clear = result.arms["clear"]
    for label, arm in (("sealed", result.arms["sealed"]), ("clear", clear),
                       ("sealed, cold keys", result.arms["cold"])):
        print(f"{label:<22}{arm.timings.count:>9}{arm.rate:>10.1f}{arm.cpu_ms_per_command:>12.3f}"
              f"{arm.rate / clear.rate:>10.3f}")
    verdict = "meets" if result.ratio >= GOAL_RATIO else "misses"
    spread = _spread(result.round_ratios("sealed"))
    print(f"{RATIO} = {result.ratio:.3f} ({verdict} the goal ≥ {GOAL_RATIO}); round by round "
          f"median {spread['median']:.3f}, {spread['min']:.3f}–{spread['max']:.3f}")
    print()
    print(f"{'command':<18}" + "".join(f"{a + ' p50':>14}" for a in ("sealed", "clear", "cold")))
    for name in MIX:
        cells = [statistics.median(result.arms[a].timings.seconds.get(name, [0.0])) * 1000
                 for a in ("sealed", "clear", "cold")]
        print(f"{name:<18}" + "".join(f"{c:>14.3f}" for c in cells))
    print()
    p50 = statistics.median(by_ledger.per_case) * 1000
    p95 = _percentile(by_ledger.per_case, 0.95) * 1000
    print(f"{ERASE} = {by_ledger.rate:.1f} cases/s ({by_ledger.cases} cases in "
          f"{by_ledger.seconds:.1f} s; per case p50 {p50:.1f} ms, p95 {p95:.1f} ms; "
          f"{by_ledger.keys_destroyed} keys destroyed, {by_ledger.events} events verify)")
    print(f"{ERASE_CLI} = {by_cli.rate:.1f} cases/s ({by_cli.cases} cases in "
          f"{by_cli.seconds:.1f} s; {by_cli.keys_destroyed} keys destroyed, "
          f"{by_cli.events} events verify)")
    print(f"written to {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.legal_life",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=DEFAULT_COMMANDS,
                        help="commands per path (whole cases of 6; default %(default)s)")
    parser.add_argument("--rounds", type=int, default=30,
                        help="alternating blocks per path (default %(default)s)")
    parser.add_argument("--erase-cases", type=int, default=DEFAULT_ERASE_CASES,
                        help="due cases erased by each path (default %(default)s)")
    parser.add_argument("--pool-size", type=int, default=5)
    parser.add_argument("--cache-size", type=int, default=AGGREGATE_CACHE_SIZE,
                        help="SipLedger's aggregate cache (0: off; default %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="figures file, merged by name (default %(default)s)")
    parser.add_argument("--database-url", default=None,
                        help="PostgreSQL to use (default: $SIP_BENCH_DATABASE_URL, else embedded)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="write cProfile stats of each path's blocks to PATH.<path>.prof")
    args = parser.parse_args(argv)
    if args.commands < 1 or args.rounds < 1 or args.erase_cases < 1:
        parser.error("--commands, --rounds and --erase-cases must be positive")
    rounds = min(args.rounds, max(1, args.commands // len(MIX)))

    started = datetime.now(tz=UTC)
    url, server = server_url(args.database_url)
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT current_setting('server_version')").fetchone()
        server_version = str(row[0]) if row else "?"
    tag = uuid.uuid4().hex[:10]
    result = measure_commands(url, tag, commands=args.commands, rounds=rounds,
                              pool_size=args.pool_size, cache_size=args.cache_size,
                              profile=args.profile is not None)
    by_ledger, by_cli = measure_erasure(url, tag, cases=args.erase_cases)
    run = {
        "time": started.isoformat(timespec="seconds"),
        "server": server,
        "server_version": server_version,
        "sizes": {"commands_per_path": result.arms["sealed"].timings.count,
                  "rounds": rounds, "pool_size": args.pool_size,
                  "aggregate_cache_size": args.cache_size, "erase_cases": args.erase_cases,
                  "threads": 1},
        "python": platform.python_version(),
        "eventsourcing": package_version("eventsourcing"),
        "cryptography": package_version("cryptography"),
        "host": platform.node(),
    }
    merge_figures(args.out, figures_of(result, by_ledger, by_cli, run=run))
    print_table(result, by_ledger, by_cli, server, server_version, args.out)
    if args.profile is not None:
        for name, arm in result.arms.items():
            if arm.profile is not None:
                path = args.profile.with_name(f"{args.profile.name}.{name}.prof")
                arm.profile.dump_stats(path)
                print(f"profile of the {name} path written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
