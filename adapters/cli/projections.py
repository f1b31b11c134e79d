"""``sip-ledger projections run | rebuild [NAME] | status``: the read models from the command line.

``run`` feeds the read models in a process of its own (the service runs the same runner in a
thread); ``rebuild`` rebuilds beside the live model and swaps it in, with a progress bar;
``status`` shows each model's position and lag, and the events a model has quarantined (could
not apply; projections/quarantine.py) with why, until a rebuild applies them.
"""

from __future__ import annotations

import gc
import signal
import threading

import typer
from rich.console import Console
from rich.table import Table

from adapters.bootstrap import opened_datastore
from adapters.cli.errors import EXIT_INVALID, reporting_errors
from adapters.cli.progress import progress_bar
from adapters.logging import get_logger
from adapters.settings import Settings
from domain.clock import utc_now
from projections.rebuild import quarantined_events, rebuild, status
from projections.runner import ALL_MODELS, BATCH_SIZE, POLL_INTERVAL_S, ReadModelRunner, model_named

log = get_logger(__name__)

app = typer.Typer(help="Read models: run, rebuild, status.", no_args_is_help=True)


@app.command("run")
def run(
    ctx: typer.Context,
    batch_size: int = typer.Option(BATCH_SIZE, min=1, help="Events per read and transaction."),
    poll_interval: float = typer.Option(
        POLL_INTERVAL_S, min=0.05, help="Seconds between polls when no NOTIFY arrives."
    ),
) -> None:
    """Feed the read models until stopped (Ctrl-C or SIGTERM)."""
    settings: Settings = ctx.obj
    with reporting_errors(), opened_datastore(settings) as datastore:
        runner = ReadModelRunner(
            datastore,
            batch_size=batch_size,
            poll_interval=poll_interval,
            log=lambda event, **fields: log.warning(event, **fields),
            create_tables=settings.create_tables,
        )
        runner.setup()
        # Everything alive now (modules, classes, pools) lives as long as the process: take it
        # out of the cyclic collector's sight, so its collections between batches walk only
        # what the batches made (a clear gain in bench figure `read_models_catch_up_events_per_s`).
        gc.freeze()
        log.info("read models started", positions=runner.positions)

        def stop(signum: int, frame: object) -> None:
            runner.stopping.set()
            runner.woken.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        reporter = threading.Thread(target=_report, args=(runner,), daemon=True)
        reporter.start()
        runner.run()
        runner.stop()
        log.info("read models stopped", positions=runner.positions)


def _report(runner: ReadModelRunner, every_s: float = 10.0) -> None:
    last = dict(runner.positions)
    while not runner.stopping.wait(every_s):
        if runner.positions != last:
            last = dict(runner.positions)
            log.info("read models progressed", positions=last)


@app.command("rebuild")
def rebuild_command(
    ctx: typer.Context,
    name: str | None = typer.Argument(
        None,
        help=f"The model to rebuild ({', '.join(m.name for m in ALL_MODELS)}); all if left out.",
    ),
    batch_size: int = typer.Option(BATCH_SIZE, min=1, help="Events per read and transaction."),
) -> None:
    """Rebuild read models from the whole log beside the live ones, then swap them in."""
    settings: Settings = ctx.obj
    try:
        models = [model_named(name)] if name else list(ALL_MODELS)
    except ValueError as error:
        typer.echo(f"error field NAME: {error}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    err = Console(stderr=True)
    with reporting_errors(), opened_datastore(settings) as datastore:
        for model in models:
            progress = progress_bar(f"rebuilding {model.name}", err)
            with progress:
                task = progress.add_task(model.name, total=None)

                def advance(position: int, head: int, task=task, progress=progress) -> None:
                    progress.update(task, completed=position, total=max(head, 1))

                position = rebuild(datastore, model, batch_size=batch_size, on_progress=advance)
            log.info("read model rebuilt", model=model.name, position=position)
            typer.echo(f"{model.name}: rebuilt and swapped in at notification {position}")


@app.command("status")
def status_command(ctx: typer.Context) -> None:
    """Each read model's position in the log, its lag, whether it needs a rebuild, and the
    events it has quarantined."""
    settings: Settings = ctx.obj
    with reporting_errors(), opened_datastore(settings) as datastore:
        rows = status(datastore)
        quarantine = quarantined_events(datastore)
    now = utc_now()
    table = Table(title="Read models")
    for column in ("model", "position", "head", "lag (events)", "oldest unprojected", "version",
                   "rebuild", "quarantined"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for s in rows:
        age = f"{(now - s.oldest_unprojected_at).total_seconds():.1f} s ago" if (
            s.oldest_unprojected_at) else "-"
        version = f"{s.built_version or '-'}" + (
            f" (code {s.schema_version}: rebuild needed)" if s.needs_rebuild else "")
        rebuilding = f"in progress at {s.rebuilding_at}" if s.rebuilding_at is not None else "-"
        table.add_row(s.name, str(s.position), str(s.head), str(s.lag), age, version, rebuilding,
                      str(s.quarantined))
    console = Console()
    console.print(table)
    if quarantine:
        # Ids, types and error classes only: nothing personal is kept in the quarantine.
        held = Table(title="Quarantined events (not applied; `projections rebuild` re-applies "
                           "them once the code can)")
        for column in ("model", "notification", "case", "event", "error", "since"):
            held.add_column(column)
        for q in quarantine:
            held.add_row(q.model, str(q.notification_id), str(q.case_id or "-"), q.event_type,
                         q.message, q.quarantined_at.isoformat(timespec="seconds")
                         if q.quarantined_at else "-")
        console.print(held)
