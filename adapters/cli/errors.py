"""How the command line reports a refusal: one line naming the rule id and the field, and an
exit code that says which kind of problem it was. Shared by every sub-command."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import typer
from eventsourcing.persistence import PersistenceError
from pydantic import ValidationError

from adapters.bootstrap import StoreUnavailable
from adapters.logging import one_line
from adapters.settings import Settings
from adapters.store.keys import KeyStoreError
from domain.errors import SipError
from projections.read_side import ReadModelsNotSetUp

# Exit codes: what kind of problem it was, for scripts that call us.
EXIT_REFUSED = 1  # a SIP rule refused a command
EXIT_INVALID = 2  # a malformed value (a command field, a SIP_ setting); click uses 2 for usage
EXIT_STORE = 3  # PostgreSQL could not be reached or failed


def describe(error: BaseException) -> tuple[str, int]:
    """The one line an operator reads for a refusal, and the exit code."""
    if isinstance(error, SipError):
        rule = f" [{error.rule}]" if error.rule else ""
        where = f" field {error.field}" if error.field else ""
        return f"error{rule}{where}: {one_line(error.message)}", EXIT_REFUSED
    if isinstance(error, ValidationError):
        first = error.errors(include_input=False, include_url=False)[0]
        loc = ".".join(str(part) for part in first["loc"])
        if error.title == Settings.__name__:
            loc = f"SIP_{loc.upper()}"  # name the variable the operator sets
        more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
        return f"error field {loc}: {one_line(first['msg'])}{more}", EXIT_INVALID
    if isinstance(error, KeyStoreError):  # its message starts with the setting to fix
        return f"error field {one_line(str(error))}", EXIT_INVALID
    if isinstance(error, ReadModelsNotSetUp):
        return f"error field SIP_CREATE_TABLES: {one_line(str(error))}", EXIT_STORE
    if isinstance(error, StoreUnavailable):
        return f"error field {error.setting}: cannot use the store: {one_line(str(error))}", (
            EXIT_STORE
        )
    raise error


@contextmanager
def reporting_errors() -> Iterator[None]:
    try:
        yield
    except (SipError, ValidationError, StoreUnavailable, ReadModelsNotSetUp,
            KeyStoreError) as error:
        line, code = describe(error)
        typer.echo(line, err=True)
        raise typer.Exit(code) from None
    except (psycopg.Error, PersistenceError) as error:
        line, code = describe(StoreUnavailable("SIP_DATABASE_URL", error))
        typer.echo(line, err=True)
        raise typer.Exit(code) from None
