"""Benchmark: ``sip-ledger audit verify`` over a log of at least 1,000,000 events.

    python -m tests.benchmarks.audit [--cases N] [--schema bench_log] [--out var/bench.json]

One run, one server: SIP_BENCH_DATABASE_URL if set (or --database-url), else the embedded server
in var/bench-pgdata (the server the other benchmarks use).

The log is the read-model benchmark's (``read_models.open_log``, schema ``bench_log``): reused
when it holds ``--cases`` demo cases (200,000: about 1.7 million events), else topped up with
``run_demo(..., bulk=True)``, which saves through SipRecorder, so the chain is written with the
events. A log made before the chain existed gets its chain when the ledger opens it (the
recorder's set-up, timed here as ``backfill``).

The log must hold personal data sealed per data subject, as the ledger stores it since issue 12
(domain/personal.py): the hash chain covers the ciphertext, so this is the figure the issue asks
to stay unchanged. A log written before sealing (its first or last proposal with the personal
identity number in clear) is refused with one line: drop its schema to have it rebuilt.

A checkpoint is signed at the head with a fixed benchmark key (derived from a constant: for
benchmarks only, never a real key), then ``verify`` (adapters/audit/verify.py: every event
re-encoded and re-hashed, every checkpoint's signature checked) runs ``--repeats`` times over the
whole log; the figure is the median rate, each run's rate is kept beside it. The log must verify
intact, or the run fails.

Figure (merged by name into --out, see figures.py):
- audit_verify_events_per_s (goal ≥ 100,000), with the event count, over the sealed log
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from adapters.audit.checkpoints import SigningKey, write_checkpoint
from adapters.audit.verify import BATCH_SIZE, VerifyReport, verify
from adapters.logging import configure_logging, reset_logging
from adapters.store import Store
from tests.benchmarks.figures import Figure, merge_figures
from tests.benchmarks.read_models import (
    CHUNK_CASES,
    DEFAULT_SCHEMA,
    ISSUE_CASES,
    ISSUE_EVENTS,
    SECRET,
    open_log,
)
from tests.benchmarks.run import DEFAULT_OUT, server_url

VERIFY = "audit_verify_events_per_s"
FIGURE_NAMES = (VERIFY,)
GOAL_EVENTS_PER_S = 100_000
# Benchmarks only: a key anyone can derive, so the checkpoints in the kept log stay verifiable
# from one run to the next.
BENCH_KEY = SigningKey(
    Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"sip-ledger benchmark only").digest()),
    "benchmark",
)


def events_in(store: Store) -> int:
    with store.connect() as conn:
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                           (f'"{store.schema}"."sipledger_events"',)).fetchone()
        if not row or not row[0]:
            return 0
        row = conn.execute(f'SELECT count(*) FROM "{store.schema}".sipledger_events').fetchone()
    return int(row[0]) if row else 0


def chain_rows(store: Store) -> int:
    with store.connect() as conn:
        row = conn.execute(
            "SELECT CASE WHEN to_regclass(%s) IS NULL THEN 0 ELSE 1 END",
            (f'"{store.schema}"."sipledger_chain"',),
        ).fetchone()
        if not row or not row[0]:
            return 0
        row = conn.execute(f'SELECT count(*) FROM "{store.schema}".sipledger_chain').fetchone()
    return int(row[0]) if row else 0


# How a sealed value starts in the stored JSON (domain/personal.py SEALED).
_SEALED_MARK = b'{"_type_":"sealed"'
_PROPOSED_TOPIC = "domain.case:SipCase.SipProposed"


def sealed_log(store: Store) -> bool:
    """Whether the log's first and last proposals hold the personal identity number sealed (a
    log is written in order: one begun before sealing has clear proposals at its start)."""
    with store.connect() as conn:
        for order in ("ASC", "DESC"):
            row = conn.execute(
                f'SELECT state FROM "{store.schema}".sipledger_events WHERE topic = %s '
                f"ORDER BY notification_id {order} LIMIT 1", (_PROPOSED_TOPIC,),
            ).fetchone()
            if row is None:
                return False
            state = bytes(row[0])
            field = b'"personal_identity_number":'
            start = state.find(field)
            if start < 0 or not state[start + len(field):].startswith(_SEALED_MARK):
                return False
    return True


def measure(
    url: str, server: str, *, schema: str, cases: int, chunk: int, repeats: int, batch_size: int
) -> dict[str, Any]:
    store = Store(conninfo=url, schema=schema)
    store.ensure_schema()
    backfill = None
    before = events_in(store)
    if before and not chain_rows(store):
        # A log made before the chain existed: opening the ledger chains it (once).
        started = time.perf_counter()
        store.ledger(individual_secret=SECRET).close()
        seconds = time.perf_counter() - started
        backfill = {"events": before, "seconds": round(seconds, 2),
                    "events_per_s": round(before / seconds, 1)}
        print(f"backfill: the log had no chain; {before:,} events chained in {seconds:.1f} s",
              flush=True)
    log = open_log(store, cases, chunk)
    if not sealed_log(store):
        raise SystemExit(
            f"the log in schema {schema} holds personal data in clear (written before it was "
            "sealed, issue 12): drop the schema to have it rebuilt, or give another --schema")
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT current_setting('server_version')").fetchone()
        server_version = str(row[0]) if row else "?"
    datastore = store.datastore()
    try:
        checkpoint = write_checkpoint(datastore, BENCH_KEY)
        reports: list[VerifyReport] = []
        for n in range(repeats):
            report = verify(datastore, [BENCH_KEY.public_key], batch_size=batch_size)
            if not report.intact:
                raise SystemExit(f"the benchmark log does not verify: {report.first.describe()}")
            print(f"  verify {n + 1}/{repeats}: {report.events:,} events in "
                  f"{report.seconds:.2f} s ({report.events_per_s:,.0f} events/s), "
                  f"{report.checkpoints_verified} checkpoints", flush=True)
            reports.append(report)
    finally:
        datastore.close()
    return {
        "server": server,
        "server_version": server_version,
        "log": {
            "schema": schema, "events": log.events, "cases": log.cases, "reused": log.reused,
            "added_cases": log.added_cases, "issue_size": log.events >= ISSUE_EVENTS,
            "sealed": True,
        },
        "backfill": backfill,
        "checkpoint": checkpoint.position if checkpoint else None,
        "reports": reports,
        "batch_size": batch_size,
    }


def figures_of(result: dict[str, Any], *, started: datetime) -> list[Figure]:
    reports: list[VerifyReport] = result["reports"]
    rates = [r.events_per_s for r in reports]
    events = reports[0].events
    return [{
        "name": VERIFY,
        "value": round(statistics.median(rates), 1),
        "unit": "events/s",
        "goal": GOAL_EVENTS_PER_S,
        "meets_goal": statistics.median(rates) >= GOAL_EVENTS_PER_S,
        "events": events,
        "checkpoints_verified": reports[0].checkpoints_verified,
        "runs": [{"seconds": round(r.seconds, 3), "events_per_s": round(r.events_per_s, 1)}
                 for r in reports],
        "run": {
            "at": started.isoformat(timespec="seconds"),
            "server": result["server"],
            "server_version": result["server_version"],
            "log": result["log"],
            "backfill": result["backfill"],
            "batch_size": result["batch_size"],
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "psycopg": package_version("psycopg"),
        },
    }]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.audit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=ISSUE_CASES,
                        help="demo cases the log holds at least (default %(default)s)")
    parser.add_argument("--chunk-cases", type=int, default=CHUNK_CASES,
                        help="cases per run_demo call when topping up (default %(default)s)")
    parser.add_argument("--schema", default=DEFAULT_SCHEMA,
                        help="the log's schema, shared with read_models (default %(default)s)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="verify runs over the whole log (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE,
                        help="events per read (default %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="figures file, merged by name (default %(default)s)")
    parser.add_argument("--database-url", default=None,
                        help="PostgreSQL to use (default: $SIP_BENCH_DATABASE_URL, else embedded)")
    args = parser.parse_args(argv)
    for name in ("cases", "chunk_cases", "repeats", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    started = datetime.now(tz=UTC)
    url, server = server_url(args.database_url)
    configure_logging(level="WARNING")
    try:
        result = measure(url, server, schema=args.schema, cases=args.cases,
                         chunk=args.chunk_cases, repeats=args.repeats,
                         batch_size=args.batch_size)
    finally:
        reset_logging()
    figures = figures_of(result, started=started)
    merge_figures(args.out, figures)
    figure = figures[0]
    log = result["log"]
    print()
    print(f"server: {server} PostgreSQL {result['server_version']}; log {log['schema']}: "
          f"{log['events']:,} events, {log['cases']:,} cases"
          + ("" if log["issue_size"] else f" (below the issue's {ISSUE_EVENTS:,} events)"))
    if result["backfill"]:
        b = result["backfill"]
        print(f"backfill: {b['events']:,} events chained in {b['seconds']:.1f} s "
              f"({b['events_per_s']:,.0f} events/s)")
    goal = "meets" if figure["meets_goal"] else "misses"
    print(f"{VERIFY:<30} {figure['value']:>12,.0f}  events/s over {figure['events']:,} events "
          f"(median of {len(figure['runs'])}; {goal} the goal ≥ {GOAL_EVENTS_PER_S:,})")
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
