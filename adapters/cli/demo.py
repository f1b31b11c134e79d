"""``sip-ledger demo``: synthetic SIP cases written through the real command path
(adapters/demo/), then a summary of their stages and deadlines."""

from __future__ import annotations

import random

import typer
from rich.console import Console
from rich.table import Table

from adapters.bootstrap import opened_ledger
from adapters.cli.errors import reporting_errors
from adapters.cli.progress import progress_bar
from adapters.demo.run import run_demo, take_census
from adapters.settings import Settings
from domain.case_state import Stage
from domain.clock import local_date, utc_now


def demo(
    ctx: typer.Context,
    cases: int = typer.Option(20, "--cases", "-n", min=1, help="How many SIP cases to create."),
    seed: int | None = typer.Option(
        None, "--seed", help="Random seed; the same seed gives the same cases. Default: random."
    ),
    bulk: bool = typer.Option(
        False,
        "--bulk",
        help="Save many commands per transaction, without command log: the same cases, "
        "several times faster. For benchmark and demo loads only.",
    ),
) -> None:
    """Create synthetic SIP cases through the real command path, and summarise them."""
    settings: Settings = ctx.obj
    seed = seed if seed is not None else random.SystemRandom().randrange(1_000_000)
    err = Console(stderr=True)
    with reporting_errors(), opened_ledger(settings) as ledger:
        progress = progress_bar("writing SIP cases", err)
        with progress:
            task = progress.add_task("cases", total=cases)
            run = run_demo(
                ledger, cases, seed, on_case=lambda: progress.advance(task), bulk=bulk
            )
        census = take_census(ledger, run.case_ids, local_date(utc_now()))

    out = Console()
    stages = Table(title=f"{len(run.case_ids)} SIP cases (seed {seed})")
    stages.add_column("stage")
    stages.add_column("cases", justify="right")
    for stage in Stage:
        if census.stages[stage.value]:
            stages.add_row(stage.value, str(census.stages[stage.value]))
    out.print(stages)
    figures = Table(show_header=False, box=None)
    figures.add_column(style="bold")
    figures.add_column(justify="right")
    figures.add_row("commands", str(run.commands))
    figures.add_row("events written", str(run.events))
    figures.add_row("seconds", f"{run.seconds:.2f}")
    figures.add_row("commands/s", f"{run.commands_per_second:.0f}")
    figures.add_row(
        "overdue deadlines today",
        f"{census.overdue_deadlines} (in {census.cases_with_overdue} cases)",
    )
    figures.add_row("deadlines met late", str(census.met_late))
    out.print(figures)
