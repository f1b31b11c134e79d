"""``sip-ledger audit verify | checkpoint | checkpoints | public-key``: the audit trail.

``verify`` recomputes the hash chain from the raw rows and checks every signed checkpoint
(exit 0 when intact; otherwise one line naming the first broken position and its case, exit 1);
``checkpoint`` signs the chain's head now; ``checkpoints`` lists them or exports them as JSON
lines (with the public key) so a copy can be kept elsewhere; ``public-key`` prints the public
half of the signing key for verifiers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from adapters.audit.checkpoints import (
    AuditKeyError,
    Checkpoint,
    export_checkpoints,
    public_key_pem,
    read_checkpoints,
    read_exported,
    signing_key,
    trusted_public_keys,
    write_checkpoint,
)
from adapters.audit.verify import NoAuditChain, verify
from adapters.bootstrap import opened_datastore
from adapters.cli import audit_case
from adapters.cli.errors import EXIT_INVALID, one_line, reporting_errors
from adapters.cli.progress import progress_bar
from adapters.settings import Settings

EXIT_BROKEN = 1  # the chain or a checkpoint does not hold

app = typer.Typer(
    help="The audit trail: hash chain, signed checkpoints, verification.", no_args_is_help=True)


@contextmanager
def key_errors() -> Iterator[None]:
    try:
        yield
    except AuditKeyError as error:
        typer.echo(f"error field {error.source}: {one_line(error.message)}", err=True)
        raise typer.Exit(EXIT_INVALID) from None


@app.command("verify")
def verify_command(
    ctx: typer.Context,
    public_key: list[Path] = typer.Option(
        None, "--public-key", help="PEM file of a public key to trust (repeatable). Default: "
        "SIP_AUDIT_PUBLIC_KEY_FILE, else the signing key's public half."),
    checkpoints: Path | None = typer.Option(
        None, "--checkpoints", exists=True, dir_okay=False,
        help="An exported copy of the checkpoints (audit checkpoints --export) to hold the "
        "store to; its public keys are trusted only when no other key is given."),
    show_all: bool = typer.Option(False, "--all", help="List every problem, not only the first."),
) -> None:
    """Recompute the hash chain from the raw rows and check every checkpoint's signature."""
    settings: Settings = ctx.obj
    err = Console(stderr=True)
    with reporting_errors(), key_errors():
        keys = trusted_public_keys(settings, public_key or [])
        exported: list[Checkpoint] = []
        if checkpoints is not None:
            exported, carried = read_exported(checkpoints)
            if not keys:
                keys = carried
        with opened_datastore(settings) as datastore:
            progress = progress_bar("verifying the audit chain", err)
            with progress:
                task = progress.add_task("events", total=None)

                def advance(position: int, last: int) -> None:
                    progress.update(task, completed=position, total=max(last, 1))

                try:
                    report = verify(datastore, keys, advance, exported=exported)
                except NoAuditChain as error:
                    typer.echo(f"error: {error}", err=True)
                    raise typer.Exit(EXIT_BROKEN) from None
    first = report.first
    if first is not None:
        more = len(report.problems) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        typer.echo(f"broken at {first.describe()}{suffix}", err=True)
        if show_all:
            for problem in report.problems[1:]:
                typer.echo(f"  {problem.describe()}", err=True)
        raise typer.Exit(EXIT_BROKEN)
    anchored = (f"{report.checkpoints_verified} signed checkpoint"
                f"{'s' if report.checkpoints_verified != 1 else ''}")
    if report.last_verified_checkpoint is not None:
        anchored += f", the last at position {report.last_verified_checkpoint}"
    typer.echo(
        f"intact: {report.events} events up to position {report.last_position}, {anchored}; "
        f"chain head {report.chain_head.hex()} ({report.events_per_s:,.0f} events/s)")


@app.command("checkpoint")
def checkpoint_command(ctx: typer.Context) -> None:
    """Sign the chain's head now and record the checkpoint."""
    settings: Settings = ctx.obj
    with reporting_errors(), key_errors(), opened_datastore(settings, set_up=True) as datastore:
        key = signing_key(settings)
        assert key is not None
        checkpoint = write_checkpoint(datastore, key)
    if checkpoint is None:
        typer.echo("nothing new to sign: the last checkpoint is at the chain's head")
        return
    typer.echo(f"checkpoint at position {checkpoint.position}: chain hash "
               f"{checkpoint.chain_hash.hex()}, key {checkpoint.key_id}"
               + (" (development key)" if key.development else ""))


@app.command("checkpoints")
def checkpoints_command(
    ctx: typer.Context,
    export: Path | None = typer.Option(
        None, "--export", dir_okay=False,
        help="Write them as JSON lines (with the public key) to this file, '-' for stdout."),
    public_key: list[Path] = typer.Option(
        None, "--public-key", help="PEM file of the public key(s) to put in the export."),
) -> None:
    """List the signed checkpoints, or export them so a copy can be kept elsewhere."""
    settings: Settings = ctx.obj
    with reporting_errors(), key_errors():
        keys = trusted_public_keys(settings, public_key or [])
        with opened_datastore(settings) as datastore:
            checkpoints = read_checkpoints(datastore)
    if export is not None:
        if str(export) == "-":
            count = export_checkpoints(checkpoints, keys, typer.get_text_stream("stdout"))
        else:
            with export.open("w", encoding="utf-8") as out:
                count = export_checkpoints(checkpoints, keys, out)
            typer.echo(f"{count} checkpoints written to {export}", err=True)
        return
    table = Table(title=f"Audit checkpoints ({len(checkpoints)})")
    for column in ("position", "chain hash", "recorded at", "key", "signature"):
        table.add_column(column, justify="right" if column == "position" else "left")
    for c in checkpoints:
        key = keys.get(c.key_id)
        verdict = "unknown key" if key is None else ("valid" if c.signed_by(key) else "INVALID")
        table.add_row(str(c.position), c.chain_hash.hex()[:16] + "…",
                      c.recorded_at.isoformat(timespec="seconds"), c.key_id, verdict)
    Console().print(table)


@app.command("public-key")
def public_key_command(ctx: typer.Context) -> None:
    """Print the signing key's public half (PEM), for whoever verifies."""
    settings: Settings = ctx.obj
    with key_errors():
        key = signing_key(settings)
        assert key is not None
    typer.echo(public_key_pem(key.public_key), nl=False)
    typer.echo(f"key id {key.key_id} ({key.source})", err=True)


# ``audit case ID``: a case's history for an auditor (adapters/cli/audit_case.py).
app.command("case")(audit_case.case)
