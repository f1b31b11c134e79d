"""Synthetic SIP cases, written through the real command path (``sip-ledger demo``).

``plan_cases`` draws the stories from a seed (demo_stories, on the population of
demo_population); ``run_demo`` tells each story to the ledger one command at a time
(demo_writer), never writing events directly; ``take_census`` reads the cases back to say where
they stand today. With ``bulk=True`` the same commands are decided on the same rules but saved
many cases per transaction, without command log (demo_bulk), for benchmark-sized loads.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from uuid import UUID

from adapters.demo.bulk import BulkLedger
from adapters.demo.stories import CaseStory, plan_cases
from adapters.demo.writer import CaseWriter, DemoRun
from adapters.logging import get_logger
from domain.case import SipCase
from domain.clock import local_date, utc_now
from domain.ledger import SipLedger

__all__ = ["CaseCensus", "DemoRun", "plan_cases", "run_demo", "take_census"]

log = get_logger(__name__)


def run_demo(
    ledger: SipLedger,
    count: int,
    seed: int,
    *,
    today: date | None = None,
    on_case: Callable[[], None] | None = None,
    bulk: bool = False,
) -> DemoRun:
    """Plan ``count`` stories from ``seed`` and write them to the ledger.

    ``bulk``: decide them the same way, but save many cases per transaction and keep no command
    log (see demo_bulk); for benchmark and demo loads, where commands need not be idempotent.
    """
    now = utc_now()
    today = today or local_date(now)
    stories = plan_cases(count, seed, today)
    run = DemoRun()
    log.info("demo started", cases=count, seed=seed, bulk=bulk)
    started = time.perf_counter()
    if bulk:
        bulk_ledger = BulkLedger(ledger)
        _write_stories(bulk_ledger, stories, today, now, run, on_case)
        bulk_ledger.flush()
        # Bulk results carry no notification ids, so count what the saves wrote.
        run.events = bulk_ledger.events_written
    else:
        _write_stories(ledger, stories, today, now, run, on_case)
    run.seconds = time.perf_counter() - started
    log.info(
        "demo finished",
        cases=len(run.case_ids),
        commands=run.commands,
        events=run.events,
        seconds=round(run.seconds, 2),
        commands_per_second=round(run.commands_per_second, 1),
    )
    return run


def _write_stories(
    ledger: SipLedger | BulkLedger,
    stories: Sequence[CaseStory],
    today: date,
    now: datetime,
    run: DemoRun,
    on_case: Callable[[], None] | None,
) -> None:
    # The number each story's individual got, for a later second proposal about them.
    pins: dict[int, str] = {}
    for story in stories:
        writer = CaseWriter(ledger, story, today, run, now)
        case_id = writer.write(pins.get(story.second_of) if story.second_of is not None else None)
        pins[story.number] = writer.pin
        run.case_ids.append(case_id)
        log.debug(
            "case written",
            case_id=str(case_id),
            outcome=story.outcome.value,
            policy=story.policy,
            municipality=story.kommun.id,
            region=story.area.region.id,
            second_proposal=story.second_of is not None,
        )
        if on_case is not None:
            on_case()


@dataclass
class CaseCensus:
    """Where the cases stand today: per stage, and their deadlines."""

    stages: Counter[str] = field(default_factory=Counter)
    overdue_deadlines: int = 0
    cases_with_overdue: int = 0
    met_late: int = 0


def take_census(ledger: SipLedger, case_ids: Sequence[UUID], today: date) -> CaseCensus:
    census = CaseCensus()
    for case_id in case_ids:
        case: SipCase = ledger.get_case(case_id)
        census.stages[case.stage.value] += 1
        overdue = [d for d in case.open_deadlines() if d.deadline.due < today]
        census.overdue_deadlines += len(overdue)
        census.cases_with_overdue += bool(overdue)
        census.met_late += sum(
            1 for d in case.deadlines.values() if d.met_on is not None and d.met_on > d.deadline.due
        )
    return census
