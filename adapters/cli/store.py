"""``sip-ledger store grant-app-role``: set up the schema as its owner, and give the application
role what it needs and nothing that changes the log (adapters/store/roles.py, README "Running
append-only in production").

Runs on the configured connection (``SIP_DATABASE_URL``), which must be the owner's: the
migration role, not the role the service runs as. Errors are one line and an exit code, as in
every other sub-command.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import typer
from eventsourcing.persistence import PersistenceError

from adapters.bootstrap import StoreUnavailable, open_store, store_setting
from adapters.cli.errors import (
    EXIT_INVALID,
    EXIT_STORE,
    one_line,
    reporting_errors,
)
from adapters.logging import get_logger
from adapters.settings import Settings
from adapters.store import Store
from adapters.store.roles import (
    LOCKED_TABLES,
    AppRoleError,
    GrantReport,
    grant_app_role,
    set_up_schema,
)

log = get_logger(__name__)

app = typer.Typer(help="The store: database roles for running append-only.",
                  no_args_is_help=True)


@app.callback()
def store(ctx: typer.Context) -> None:
    """The store: database roles for running append-only."""
    if not isinstance(ctx.obj, Settings):  # run on its own, not under sip-ledger's callback
        ctx.obj = _settings()


@app.command("grant-app-role")
def grant_app_role_command(
    ctx: typer.Context,
    role: str = typer.Option(..., "--role", help="The role the service logs in as."),
    password_env: str | None = typer.Option(
        None, "--password-env", metavar="VAR",
        help="Set the role's password from this environment variable (never an argument).",
    ),
    create: bool = typer.Option(
        True, "--create/--no-create",
        help="Create the login role (needs CREATEROLE), or use an existing one.",
    ),
    setup: bool = typer.Option(
        True, "--setup/--no-setup",
        help="First create or update the tables as the owner (ledger, read models, access "
        "log), as a deployment must before the service starts as the application role.",
    ),
) -> None:
    """As the schema's owner: set up the tables, then grant ROLE SELECT and INSERT on the
    append-only tables, full DML on the read models, and no UPDATE, DELETE or TRUNCATE on the
    log."""
    settings: Settings = ctx.obj
    password = _password(password_env)
    with reporting_errors(), _owner_errors(settings) as store:
        if setup:
            position = set_up_schema(
                store.conninfo, store.schema,
                settings.individual_key.get_secret_value().encode(),
                keys_url=store.keys_url, kek=store.kek,
            )
            log.info("schema set up", schema=store.schema, read_model_position=position)
        try:
            report = grant_app_role(
                store.conninfo, store.schema, role, password=password, create=create,
                keys_url=store.keys_url,
            )
        except AppRoleError as error:
            typer.echo(f"error field {error.field}: {one_line(error.message)}", err=True)
            raise typer.Exit(EXIT_INVALID) from None
    _print(report)


def _settings() -> Settings:
    with reporting_errors():
        return Settings()


def _password(variable: str | None) -> str | None:
    if variable is None:
        return None
    value = os.environ.get(variable)
    if not value:
        typer.echo(f"error field --password-env: {variable} is not set or empty", err=True)
        raise typer.Exit(EXIT_INVALID)
    return value


@contextmanager
def _owner_errors(settings: Settings) -> Iterator[Store]:
    """The owner's store; a failure underneath is one line naming the setting, no password."""
    setting, secret = store_setting(settings)
    try:
        store = open_store(settings)
    except Exception as error:  # the embedded server's start-up
        raise StoreUnavailable(setting, error, secret=secret) from error
    try:
        yield store
    except psycopg.errors.InsufficientPrivilege as error:
        message = one_line(str(error).splitlines()[0] if str(error) else type(error).__name__)
        if secret:
            message = message.replace(secret, "***")
        typer.echo(f"error field SIP_DATABASE_URL: the connecting role may not do this (it must "
                   f"own the schema and its tables, and have CREATEROLE to create the role): "
                   f"{message}", err=True)
        raise typer.Exit(EXIT_STORE) from None
    except (psycopg.Error, PersistenceError) as error:
        raise StoreUnavailable(setting, error, secret=secret) from error


def _print(report: GrantReport) -> None:
    done = "created and granted" if report.created else "granted"
    typer.echo(f"role {report.role} {done} in schema {report.schema} "
               f"(PostgreSQL {report.server_version // 10000})")
    if report.password_set:
        typer.echo("  password set")
    typer.echo(f"  SELECT, INSERT: {', '.join(report.append_only)}")
    typer.echo(f"  {report.lock_privilege} (for the insert path's LOCK TABLE): "
               + ", ".join(t for t in report.append_only if t in LOCKED_TABLES))
    if report.read_models:
        typer.echo(f"  SELECT, INSERT, UPDATE, DELETE: {', '.join(report.read_models)}")
    if report.snapshots:
        typer.echo(f"  SELECT, INSERT: {', '.join(report.snapshots)} (snapshots)")
    if report.sequences:
        typer.echo(f"  USAGE: {', '.join(report.sequences)}")
    if report.not_granted:
        typer.echo(f"  nothing on: {', '.join(report.not_granted)}")
    for warning in report.warnings:
        typer.echo(f"warning: {one_line(warning)}", err=True)
