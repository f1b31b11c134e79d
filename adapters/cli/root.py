"""The ``sip-ledger`` command line: typer, rich progress, one-line errors.

A refusal (a SIP rule, a malformed value, an unreachable store) is something an operator acts on,
so it is printed as one line naming the rule id and the field, never as a traceback; the exit
code says which kind it was. A traceback still means a bug.
"""

from __future__ import annotations

import random

import typer
from rich.console import Console
from rich.table import Table

from adapters.bootstrap import opened_ledger
from adapters.cli import audit as audit_cli
from adapters.cli import projections as projections_cli
from adapters.cli import serve as serve_cli
from adapters.cli import store as store_cli
from adapters.cli.errors import (
    EXIT_INVALID,
    one_line,
    reporting_errors,
)
from adapters.cli.progress import progress_bar
from adapters.demo.run import run_demo, take_census
from adapters.logging import configure_logging, get_logger
from adapters.settings import Settings
from domain.case_state import Stage
from domain.clock import local_date, utc_now
from domain.deadlines import DeadlinePolicy, known_policies

log = get_logger(__name__)

app = typer.Typer(
    name="sip-ledger",
    help="SIP Ledger: an event-sourced ledger for samordnad individuell plan (SIP).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def setup(ctx: typer.Context) -> None:
    """Read the SIP_ settings and set up logging before any command runs."""
    with reporting_errors():
        settings = Settings()
    try:
        configure_logging(settings.log_format, settings.log_level)
    except ValueError as error:  # an unknown level name
        typer.echo(f"error field SIP_LOG_LEVEL: {one_line(str(error))}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    ctx.obj = settings


@app.command()
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


@app.command()
def policies() -> None:
    """List the deadline policies a case can be proposed under."""
    table = Table(title="Deadline policies", show_lines=True)
    table.add_column("id", no_wrap=True, style="bold")
    table.add_column("v", justify="right")
    table.add_column("name")
    table.add_column("deadlines and rights (rule)")
    for p in known_policies():
        table.add_row(p.id, str(p.version), p.name, "\n".join(_policy_terms(p)))
    Console().print(table)


def _policy_terms(p: DeadlinePolicy) -> list[str]:
    terms = [f"start within {p.start_within_days} d (R16)"]
    if p.meeting_within_days is not None:
        terms.append(f"meeting within {p.meeting_within_days} d (R17)")
    if p.up_to_age is not None:
        terms.append(f"applies up to {p.up_to_age} years (R03)")
    if p.school_may_convene:
        terms.append("school may convene (R03)")
    if p.invitation_lead_days is not None:
        terms.append(f"invite at least {p.invitation_lead_days} d ahead (R18)")
    terms.append(f"discharge invitation within {p.discharge_invitation_within_days} d (R05)")
    terms.append(f"closure documented within {p.closure_documentation_within_days} d (R31)")
    return terms


app.add_typer(projections_cli.app, name="projections")
app.add_typer(audit_cli.app, name="audit")
app.add_typer(store_cli.app, name="store")
app.command("serve")(serve_cli.serve)
app.command("token")(serve_cli.token)


def main() -> None:
    app()
