"""Benchmark: a case as of an instant, for a case of 500 events.

    python -m tests.benchmarks.as_of [--events 500] [--runs 50] [--out var/bench.json]

One run, one server: SIP_BENCH_DATABASE_URL if set (or --database-url), else the embedded server
in var/bench-pgdata (the one tests/benchmarks/run.py uses), in a fresh schema dropped at the end.

One case is written through SipLedger's commands: propose, consent, wishes, convene, a reply, the
plan, and then follow-ups, wishes and corrections in turn until the case has ``--events`` events
(a follow-up adds a deadline each time, so the state grows as a real case's does). The instant
after each tenth of the events is noted, and the read models are brought up to date.

What is timed is what ``GET /cases/{id}/as-of`` and ``sip-ledger audit case --as-of`` do:
``projections.history.case_as_of`` — the history's index gives the version recorded at the
instant (``version_at``), and the library's repository replays the case up to it
(``ledger.get_case(id, version=…)``: read the events, decode them through the library's mapper,
apply them). ``--runs`` runs at each of several instants (late ones first among equals: the
latest instant replays every event), round-robin, after a warm-up; each timed from taking a
pooled connection to having the case.

The case is written by a SipLedger that takes the ledger's snapshots (the library's, a
``CaseSnapshot`` every ``--snapshot-every`` versions, by default SipLedger's own
``SNAPSHOT_INTERVAL``), as the service does. It is read two ways in the same run, round-robin:
- plain: a second SipLedger on the same schema with snapshots off (IS_SNAPSHOTTING_ENABLED=n),
  which replays every event up to the version — the baseline;
- snapshots: the writing ledger, whose ``repository.get(id, version=…)`` starts from the latest
  snapshot at or below the version and replays only the events after it.
Besides the tenths of the case, the instant just before the last tenth (version ``events - 1``)
is read: with a snapshot every 100 versions that is the worst case, 99 events after a snapshot.
Each instant's reads are checked to give the same case both ways (``repr(vars(case))``).

The case's personal data is sealed per data subject, as the service stores it (issue 12,
domain/personal.py): every read decrypts it (the snapshot's state as one sealed value, each
replayed event's personal fields one by one), with the data keys from the key store, cached by
the process as a service caches them. A second case, written the same way by a ledger that
stores personal data in clear (``Store.ledger(sealed=False)``, a baseline only), in a schema of
its own, is read at the same versions both ways in the same round-robin: what decryption costs.

Figures (merged by name into --out, see figures.py):
- as_of_500_events_p50_ms, as_of_500_events_p95_ms — plain, at the latest instant (every event
  replayed); goal p95 ≤ 50 ms. ``by_instant`` has p50/p95 at each instant, and the index
  look-up and the replay apart.
- as_of_500_events_snapshots_p50_ms, ..._p95_ms — with the ledger's snapshots, at the latest
  instant (``ratio`` to the plain figure); ``worst_instant`` gives p50/p95 both ways at the
  instant with the most events after its snapshot, and ``write`` the cost of taking snapshots:
  the commands' p50, and that of the commands after whose transaction a snapshot was taken
  (read the case at that version from the previous snapshot, encode and insert the snapshot).
  This is what the service reads, with decryption: goal p95 ≤ 50 ms (issue 12).
- as_of_500_events_clear_p50_ms, ..._p95_ms and as_of_500_events_snapshots_clear_p50_ms,
  ..._p95_ms — the same two reads of the case stored in clear (the baseline); each sealed
  figure's ``clear_baseline`` names its clear twin and the ratio sealed / clear.

Also timed and printed (in the figures' ``without_protocol_assert``): the plain replay with a
projector that skips the library's ``assert isinstance(event, CanMutateProtocol)`` per event
(``eventsourcing.application.project_aggregate``), a runtime Protocol check that costs about
20 µs an event on Python 3.11; ``python -O`` drops it too.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg

from adapters.store import Store
from domain.case import SipCase
from domain.clock import local_date
from domain.commands import (
    CorrectEntry,
    RecordFollowUp,
    RecordReply,
    RecordWishes,
    Reply,
    Wishes,
)
from domain.ledger import SNAPSHOT_INTERVAL, SipLedger
from projections.history import case_as_of, version_at
from projections.replayed import record_of
from projections.runner import ReadModelRunner
from tests.benchmarks.figures import Figure, merge_figures
from tests.benchmarks.run import DEFAULT_OUT, SECRET, _percentile, drop_schemas, server_url
from tests.support.builders import KOMMUN, actor, consent, convene, establish, propose

P50 = "as_of_500_events_p50_ms"
P95 = "as_of_500_events_p95_ms"
SNAP_P50 = "as_of_500_events_snapshots_p50_ms"
SNAP_P95 = "as_of_500_events_snapshots_p95_ms"
CLEAR_P50 = "as_of_500_events_clear_p50_ms"
CLEAR_P95 = "as_of_500_events_clear_p95_ms"
CLEAR_SNAP_P50 = "as_of_500_events_snapshots_clear_p50_ms"
CLEAR_SNAP_P95 = "as_of_500_events_snapshots_clear_p95_ms"
DEFAULT_SNAPSHOT_EVERY = SNAPSHOT_INTERVAL
GOAL_MS = 50.0
DEFAULT_EVENTS = 500
DEFAULT_RUNS = 50
WARM_UP = 5


def project_without_assert(aggregate: Any, events: Iterable[Any]) -> Any:
    """The library's ``project_aggregate`` without its per-event Protocol assert."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


class PlainProjection:
    """Reads a case as ``SipLedger.get_case(id, version)`` does, with the projector above."""

    def __init__(self, ledger: SipLedger) -> None:
        self.ledger = ledger

    def get_case(self, case_id: UUID, version: int | None = None) -> Any:
        return self.ledger.repository.get(case_id, version=version,
                                          projector_func=project_without_assert)


def writing_ledger(store: Store, every: int, *, sealed: bool = True) -> SipLedger:
    """The ledger that writes the case: SipLedger itself when it snapshots every ``every``
    versions (its own interval), else the same with that interval (0: no snapshots).
    ``sealed=False``: personal data in clear, the baseline."""
    if every == SNAPSHOT_INTERVAL:
        return store.ledger(individual_secret=SECRET, sealed=sealed)

    class BenchLedger(SipLedger):
        name = "SipLedger"  # the same tables
        snapshotting_intervals = {SipCase: every} if every else {}

    store.ensure_schema()
    return BenchLedger(env=store.eventsourcing_env(snapshots=every > 0),
                       individual_secret=SECRET, keys=store.key_store() if sealed else None)


def replaying_ledger(store: Store, *, sealed: bool = True) -> SipLedger:
    """A SipLedger on the same schema that neither reads nor takes snapshots."""
    return SipLedger(env=store.eventsourcing_env(pool_size=2, cache_size=0, snapshots=False),
                     individual_secret=SECRET, keys=store.key_store() if sealed else None)


@dataclass
class Result:
    events: int
    write_seconds: float
    server: str
    server_version: str
    # instant label -> (version at that instant, total, index, replay seconds per run)
    by_instant: dict[str, dict[str, Any]] = field(default_factory=dict)
    snapshot_every: int = 0
    with_snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    without_assert: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The same reads of the case stored in clear (the baseline), at the same versions.
    clear: dict[str, dict[str, Any]] = field(default_factory=dict)
    clear_with_snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Command latencies while writing the case: all, and those that took a snapshot.
    write: dict[str, Any] = field(default_factory=dict)

    @property
    def latest(self) -> dict[str, Any]:
        return max(self.by_instant.values(), key=lambda r: r["version"])

    @property
    def latest_with_snapshots(self) -> dict[str, Any] | None:
        if not self.with_snapshots:
            return None
        return max(self.with_snapshots.values(), key=lambda r: r["version"])

    @staticmethod
    def at_version(rows: dict[str, dict[str, Any]], version: int) -> dict[str, Any] | None:
        return next((r for r in rows.values() if r["version"] == version), None)

    @property
    def worst_with_snapshots(self) -> dict[str, Any] | None:
        """The instant with the most events to replay after its snapshot."""
        if not self.with_snapshots:
            return None
        every = self.snapshot_every
        return max(self.with_snapshots.values(),
                   key=lambda r: (r["version"] % every, r["version"]))


def build_case(
    ledger: SipLedger, events: int, latencies: list[tuple[int, int, float]] | None = None
) -> tuple[UUID, list[tuple[int, datetime]]]:
    """One case of ``events`` events; the instants after each tenth of them and after the
    event before the last, with the version. ``latencies`` gets (first version, last version,
    seconds) of each command after the plan."""
    coordinator = actor(KOMMUN)
    case_id = ledger.propose(propose(), coordinator).case_id
    ledger.record_consent(consent(case_id), coordinator)
    ledger.record_wishes(RecordWishes(case_id=case_id, wishes=Wishes(place="hemma")), coordinator)
    meeting = convene(case_id)
    ledger.convene(meeting, coordinator)
    ledger.record_reply(RecordReply(case_id=case_id, participant_key="region-vg",
                                    reply=Reply.ACCEPTED), coordinator)
    version = ledger.establish_plan(establish(case_id, local_date(meeting.meeting_at)),
                                    coordinator).version
    today = local_date(datetime.now(UTC))
    marks = {round(events * k / 10) for k in range(1, 11)} | {events - 1}
    instants: list[tuple[int, datetime]] = []
    n = 0
    while version < events:
        n += 1
        step = n % 3
        before = version
        t0 = time.perf_counter()
        if step == 0:
            cmd: Any = RecordFollowUp(
                case_id=case_id, held_on=today, what_happened=f"Uppföljning {n}: insatserna "
                "löper enligt plan", what_remains="Boendestödet fortsätter",
                next_follow_up_date=today + timedelta(days=30 + n % 60))
            version = ledger.record_follow_up(cmd, coordinator).version
        elif step == 1:
            cmd = RecordWishes(case_id=case_id, wishes=Wishes(
                place="hemma" if n % 2 else "på mottagningen", time_of_day="förmiddag",
                longest_minutes=30 + n % 60, support=("bildstöd",)))
            version = ledger.record_wishes(cmd, coordinator).version
        else:
            cmd = CorrectEntry(case_id=case_id, corrects_version=max(1, version - 1),
                               reason="Fel datum angavs", correction=f"Rätt uppgift {n}")
            version = ledger.correct_entry(cmd, coordinator).version
        if latencies is not None:
            latencies.append((before + 1, version, time.perf_counter() - t0))
        if version in marks:
            time.sleep(0.002)  # the instant lies strictly between two recordings
            instants.append((version, datetime.now(UTC)))
            time.sleep(0.002)
    if not instants or instants[-1][0] != version:
        instants.append((version, datetime.now(UTC)))
    return case_id, instants


def measure(url: str, server: str, *, events: int, runs: int, snapshot_every: int) -> Result:
    tag = uuid.uuid4().hex[:10]
    store = Store(conninfo=url, schema=f"bench_{tag}_asof")
    clear_store = Store(conninfo=url, schema=f"bench_{tag}_asof_clear")
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT current_setting('server_version')").fetchone()
        server_version = str(row[0]) if row else "?"
    ledger = writing_ledger(store, snapshot_every)
    clear_writer = writing_ledger(clear_store, snapshot_every, sealed=False)
    datastore = store.datastore()
    plain: SipLedger | None = None
    clear_plain: SipLedger | None = None
    try:
        latencies: list[tuple[int, int, float]] = []
        start = time.perf_counter()
        case_id, instants = build_case(ledger, events, latencies)
        write_seconds = time.perf_counter() - start
        ReadModelRunner(datastore).process_available()
        plain = replaying_ledger(store)
        # The baseline: the same case in clear, its instants at the same versions.
        clear_case_id, clear_instants = build_case(clear_writer, events)
        clear_datastore = clear_store.datastore()
        try:
            ReadModelRunner(clear_datastore).process_available()
        finally:
            clear_datastore.close()
        clear_plain = replaying_ledger(clear_store, sealed=False)
        clear_at = dict(clear_instants)
        # Several instants: the latest, the one before it (the most events after a snapshot),
        # and earlier ones.
        chosen = sorted({instants[-1], instants[-2], instants[len(instants) // 2], instants[0],
                         instants[max(0, len(instants) * 3 // 4)]}, key=lambda p: p[0])
        result = Result(events=chosen[-1][0], write_seconds=write_seconds, server=server,
                        server_version=server_version)
        # name -> (ledger, schema, case id, the instant of each version)
        sealed_at = dict(chosen)
        ledgers: dict[str, tuple[Any, str, UUID, dict[int, datetime]]] = {
            "plain": (plain, store.schema, case_id, sealed_at),
            "without_assert": (PlainProjection(plain), store.schema, case_id, sealed_at),
            "clear": (clear_plain, clear_store.schema, clear_case_id, clear_at),
        }
        if snapshot_every > 0:
            assert ledger.snapshots is not None
            taken = [s.originator_version for s in ledger.snapshots.get(case_id)]
            expected_snapshots = list(range(snapshot_every, result.events + 1, snapshot_every))
            assert taken == expected_snapshots, (taken, expected_snapshots)
            ledgers["snapshots"] = (ledger, store.schema, case_id, sealed_at)
            ledgers["clear_snapshots"] = (clear_writer, clear_store.schema, clear_case_id,
                                          clear_at)
            for version, _ in chosen:  # the same case either way
                assert repr(vars(ledger.get_case(case_id, version))) == repr(
                    vars(plain.get_case(case_id, version)))
                assert record_of(ledger.get_case(case_id, version)) == record_of(
                    plain.get_case(case_id, version))
            result.snapshot_every = snapshot_every
            took = [s for first, last, s in latencies
                    if any(first <= v <= last for v in expected_snapshots)]
            result.write = {
                "commands": len(latencies),
                "command_p50_ms": _ms(statistics.median(s for _, _, s in latencies)),
                "snapshot_commands": len(took),
                "snapshot_command_p50_ms": _ms(statistics.median(took)) if took else None,
                "snapshot_command_max_ms": _ms(max(took)) if took else None,
            }
        timings = {name: {v: {"total": [], "index": [], "replay": []} for v, _ in chosen}
                   for name in ledgers}
        # Round-robin over instants and both ledgers, so drift of the machine hits all alike.
        for round_ in range(WARM_UP + runs):
            for expected, _ in chosen:
                for name, (app, schema, the_case, instant_of) in ledgers.items():
                    instant = instant_of[expected]
                    t0 = time.perf_counter()
                    with datastore.transaction(commit=False) as curs:
                        t_index0 = time.perf_counter()
                        version = version_at(curs, schema, the_case, instant)
                        t_index = time.perf_counter() - t_index0
                    t_replay0 = time.perf_counter()
                    case = app.get_case(the_case, version=version)
                    t_replay = time.perf_counter() - t_replay0
                    total = time.perf_counter() - t0
                    assert version == expected and case.version == expected, (version, expected)
                    if round_ >= WARM_UP:
                        t = timings[name][expected]
                        t["total"].append(total)
                        t["index"].append(t_index)
                        t["replay"].append(t_replay)
        # The same through case_as_of in one call (what the API does), at the latest instant.
        with datastore.transaction(commit=False) as curs:
            case = case_as_of(ledger, curs, store.schema, case_id, chosen[-1][1])
        assert case is not None and case.version == chosen[-1][0]
        for name, into in (("plain", result.by_instant), ("snapshots", result.with_snapshots),
                           ("without_assert", result.without_assert),
                           ("clear", result.clear),
                           ("clear_snapshots", result.clear_with_snapshots)):
            if name not in timings:
                continue
            instant_of = ledgers[name][3]
            for version, _ in chosen:
                t = timings[name][version]
                into[instant_of[version].isoformat()] = {
                    "version": version,
                    "runs": len(t["total"]),
                    "p50_ms": _ms(statistics.median(t["total"])),
                    "p95_ms": _ms(_percentile(t["total"], 0.95)),
                    "index_p50_ms": _ms(statistics.median(t["index"])),
                    "replay_p50_ms": _ms(statistics.median(t["replay"])),
                    "replay_p95_ms": _ms(_percentile(t["replay"], 0.95)),
                }
        return result
    finally:
        for opened in (ledger, clear_writer, plain, clear_plain):
            if opened is not None:
                opened.close()
        datastore.close()
        drop_schemas(url, store, clear_store)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def figures_of(result: Result, *, started: datetime, runs: int) -> list[Figure]:
    latest = result.latest
    run = {
        "time": started.isoformat(timespec="seconds"),
        "server": result.server,
        "server_version": result.server_version,
        "sizes": {"events": result.events, "runs_per_instant": runs,
                  "instants": len(result.by_instant)},
        "case_written_in_s": round(result.write_seconds, 2),
        "python": platform.python_version(),
        "eventsourcing": package_version("eventsourcing"),
        "host": platform.node(),
    }
    common = {
        "description": f"case_as_of at the latest instant of a case of {result.events} events: "
                       "version_at (history index) + ledger.get_case(version=…) (library "
                       "replay through the mapper, personal data decrypted), no snapshots",
        "goal": {"p95_ms_at_most": GOAL_MS},
        "by_instant": result.by_instant,
        "without_protocol_assert": result.without_assert,
        "run": run,
    }
    clear = result.at_version(result.clear, latest["version"])
    figures = [
        {"name": P50, "value": latest["p50_ms"], "unit": "ms", **common,
         **_clear_baseline(CLEAR_P50, latest, clear, "p50_ms")},
        {"name": P95, "value": latest["p95_ms"], "unit": "ms", **common,
         **_clear_baseline(CLEAR_P95, latest, clear, "p95_ms")},
    ]
    if clear is not None:
        clear_common = {
            "description": f"as {P95}, of the same case written by a ledger that stores "
                           "personal data in clear (the baseline: nothing to decrypt), read "
                           "in the same round-robin",
            "by_instant": result.clear,
            "run": run,
        }
        figures += [
            {"name": CLEAR_P50, "value": clear["p50_ms"], "unit": "ms", **clear_common},
            {"name": CLEAR_P95, "value": clear["p95_ms"], "unit": "ms", **clear_common},
        ]
    snap = result.latest_with_snapshots
    worst = result.worst_with_snapshots
    if snap is not None and worst is not None:
        with_snapshots = {
            "description": f"as {P95}, read by the SipLedger that wrote the case, with its "
                           f"snapshots (the library's, domain.case.CaseSnapshot), one every "
                           f"{result.snapshot_every} versions; the baseline read by a SipLedger "
                           "with snapshots off, in the same run",
            "goal": {"p95_ms_at_most": GOAL_MS},
            "by_instant": result.with_snapshots,
            # The instant with the most events replayed after its snapshot, both ways.
            "worst_instant": {
                "snapshots": worst,
                "plain": result.at_version(result.by_instant, worst["version"]),
                "snapshots_clear": result.at_version(result.clear_with_snapshots,
                                                     worst["version"]),
            },
            "write": result.write,
            "run": {**run, "snapshot_every": result.snapshot_every},
        }
        clear_snap = result.at_version(result.clear_with_snapshots, snap["version"])
        figures += [
            {"name": SNAP_P50, "value": snap["p50_ms"], "unit": "ms", **with_snapshots,
             "baseline": P50, "ratio": round(snap["p50_ms"] / latest["p50_ms"], 3),
             **_clear_baseline(CLEAR_SNAP_P50, snap, clear_snap, "p50_ms")},
            {"name": SNAP_P95, "value": snap["p95_ms"], "unit": "ms", **with_snapshots,
             "baseline": P95, "ratio": round(snap["p95_ms"] / latest["p95_ms"], 3),
             **_clear_baseline(CLEAR_SNAP_P95, snap, clear_snap, "p95_ms")},
        ]
        if clear_snap is not None:
            clear_with_snapshots = {
                "description": f"as {SNAP_P95}, of the same case stored in clear (the "
                               "baseline), read in the same round-robin",
                "by_instant": result.clear_with_snapshots,
                "run": {**run, "snapshot_every": result.snapshot_every},
            }
            figures += [
                {"name": CLEAR_SNAP_P50, "value": clear_snap["p50_ms"], "unit": "ms",
                 **clear_with_snapshots},
                {"name": CLEAR_SNAP_P95, "value": clear_snap["p95_ms"], "unit": "ms",
                 **clear_with_snapshots},
            ]
    return figures


def _clear_baseline(name: str, sealed: dict[str, Any], clear: dict[str, Any] | None,
                    key: str) -> dict[str, Any]:
    """The sealed figure's twin in clear, and what decryption adds (sealed / clear)."""
    if clear is None or not clear[key]:
        return {}
    return {"clear_baseline": {"name": name, "value": clear[key],
                               "ratio": round(sealed[key] / clear[key], 3)}}


def print_table(result: Result, out: Path) -> None:
    print()
    print(f"server: {result.server} PostgreSQL {result.server_version}; case of "
          f"{result.events} events written in {result.write_seconds:.1f} s")
    tables = [("no snapshots", result.by_instant),
              ("no snapshots, projector without the library's Protocol assert",
               result.without_assert)]
    if result.with_snapshots:
        tables.append((f"the ledger's snapshots, every {result.snapshot_every} versions",
                       result.with_snapshots))
    tables.append(("stored in clear (baseline), no snapshots", result.clear))
    if result.clear_with_snapshots:
        tables.append((f"stored in clear (baseline), snapshots every {result.snapshot_every} "
                       "versions", result.clear_with_snapshots))
    for title, rows in tables:
        print(title)
        print(f"  {'instant (version)':<18}{'runs':>6}{'p50 ms':>9}{'p95 ms':>9}"
              f"{'index p50':>11}{'replay p50':>12}{'replay p95':>12}")
        for row in sorted(rows.values(), key=lambda r: r["version"]):
            print(f"  {'v' + str(row['version']):<18}{row['runs']:>6}{row['p50_ms']:>9.2f}"
                  f"{row['p95_ms']:>9.2f}{row['index_p50_ms']:>11.2f}"
                  f"{row['replay_p50_ms']:>12.2f}{row['replay_p95_ms']:>12.2f}")
    if result.write:
        w = result.write
        print(f"writing: {w['commands']} commands, p50 {w['command_p50_ms']} ms; the "
              f"{w['snapshot_commands']} that took a snapshot: p50 "
              f"{w['snapshot_command_p50_ms']} ms, max {w['snapshot_command_max_ms']} ms")
    worst = result.worst_with_snapshots
    for p50, p95, latest in ((P50, P95, result.latest),
                             (SNAP_P50, SNAP_P95, result.latest_with_snapshots),
                             ("  worst instant p50", "p95", worst)):
        if latest is None:
            continue
        verdict = "meets" if latest["p95_ms"] <= GOAL_MS else "misses"
        print(f"{p50} = {latest['p50_ms']:.2f} ms, {p95} = {latest['p95_ms']:.2f} ms "
              f"(v{latest['version']}; {verdict} the goal p95 ≤ {GOAL_MS:.0f} ms)")
    pairs: list[tuple[str, str, dict[str, Any] | None, dict[str, dict[str, Any]]]] = [
        (CLEAR_P50, CLEAR_P95, result.latest, result.clear),
        (CLEAR_SNAP_P50, CLEAR_SNAP_P95, result.latest_with_snapshots,
         result.clear_with_snapshots),
    ]
    for p50, p95, sealed, clear in pairs:
        twin = result.at_version(clear, sealed["version"]) if sealed is not None else None
        if sealed is None or twin is None:
            continue
        print(f"{p50} = {twin['p50_ms']:.2f} ms, {p95} = {twin['p95_ms']:.2f} ms "
              f"(baseline in clear; sealed / clear p95 = "
              f"{sealed['p95_ms'] / twin['p95_ms']:.2f})")
    print(f"written to {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.as_of", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS,
                        help="events of the case (at least 10; default %(default)s)")
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS,
                        help="timed runs at each instant (default %(default)s)")
    parser.add_argument("--snapshot-every", type=int, default=DEFAULT_SNAPSHOT_EVERY,
                        help="write the case with a snapshot every N versions (0: none, "
                        "only the plain replay is timed; default SipLedger's, %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="figures file, merged by name (default %(default)s)")
    parser.add_argument("--database-url", default=None,
                        help="PostgreSQL to use (default: $SIP_BENCH_DATABASE_URL, else embedded)")
    args = parser.parse_args(argv)
    if args.events < 10 or args.runs < 1 or args.snapshot_every < 0:
        parser.error("--events must be at least 10, --runs positive, --snapshot-every ≥ 0")
    started = datetime.now(tz=UTC)
    url, server = server_url(args.database_url)
    result = measure(url, server, events=args.events, runs=args.runs,
                     snapshot_every=args.snapshot_every)
    merge_figures(args.out, figures_of(result, started=started, runs=args.runs))
    print_table(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
