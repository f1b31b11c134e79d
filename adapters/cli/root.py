"""The ``sip-ledger`` command line: typer, rich progress, one-line errors. This module is the
typer app (the settings callback) and the one place every sub-command is registered; each
command lives in a module of its own (demo.py, policies.py, serve.py, token.py, and the groups
projections.py, audit.py, store.py, retention.py).

A refusal (a SIP rule, a malformed value, an unreachable store) is something an operator acts on,
so it is printed as one line naming the rule id and the field, never as a traceback; the exit
code says which kind it was. A traceback still means a bug.
"""

from __future__ import annotations

import typer

from adapters.cli import audit as audit_cli
from adapters.cli import demo as demo_cli
from adapters.cli import keys as keys_cli
from adapters.cli import policies as policies_cli
from adapters.cli import projections as projections_cli
from adapters.cli import retention as retention_cli
from adapters.cli import serve as serve_cli
from adapters.cli import store as store_cli
from adapters.cli import token as token_cli
from adapters.cli.errors import (
    EXIT_INVALID,
    one_line,
    reporting_errors,
)
from adapters.logging import configure_logging, get_logger
from adapters.settings import Settings

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


app.command("demo")(demo_cli.demo)
app.command("policies")(policies_cli.policies)
app.add_typer(projections_cli.app, name="projections")
app.add_typer(audit_cli.app, name="audit")
app.add_typer(store_cli.app, name="store")
app.add_typer(retention_cli.app, name="retention")
app.add_typer(keys_cli.app, name="keys")
app.command("serve")(serve_cli.serve)
app.command("token")(token_cli.token)


def main() -> None:
    app()
