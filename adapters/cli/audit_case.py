"""``sip-ledger audit case ID``: a case's complete history for an auditor, as JSON or HTML,
checkable against the hash chain (built by adapters/audit/export/)."""

from __future__ import annotations

import getpass
import os
import sys
from datetime import datetime
from pathlib import Path
from uuid import UUID

import typer

from adapters.audit.checkpoints import AuditKeyError, trusted_public_keys
from adapters.audit.export import (
    EXPORT_ACTION,
    FORMATS,
    ExportedBy,
    export_case,
    render_html,
    render_json,
)
from adapters.bootstrap import opened_datastore, opened_ledger
from adapters.cli.errors import EXIT_INVALID, one_line, reporting_errors
from adapters.logging import get_logger
from adapters.settings import Settings
from adapters.store.access_log import AccessLog
from domain.clock import STOCKHOLM
from domain.errors import InvalidInput
from domain.personal import is_erased
from projections.runner import ReadModelRunner

log = get_logger(__name__)


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant; without an offset it is Swedish local time (as in the API)."""
    try:
        instant = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"not an ISO 8601 instant: {text!r}", field="as_of") from None
    return instant if instant.tzinfo else instant.replace(tzinfo=STOCKHOLM)


def _refuse(field: str, message: str) -> typer.Exit:
    typer.echo(f"error field {field}: {one_line(message)}", err=True)
    return typer.Exit(EXIT_INVALID)


def case(
    ctx: typer.Context,
    case_id: str = typer.Argument(..., help="The case id (a UUID)."),
    as_of: str | None = typer.Option(
        None, "--as-of", help="An ISO 8601 instant; without an offset, Swedish local time. "
        "Default: now."),
    format: str = typer.Option("json", "--format", help="json or html."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the copy to this file (default: stdout)."),
    auditor: str | None = typer.Option(
        None, "--auditor", help="The auditor's person id for the access log "
        "(default: the operating-system user)."),
    organisation: str = typer.Option(
        "", "--organisation", help="The auditor's organisation id for the access log "
        "(default: unknown)."),
) -> None:
    """A case's complete history for an auditor, checkable against the hash chain.

    Every event with actor and times, corrections linked (R32), the case as of the instant, the
    access-log rows (R33), and the chain hashes with the nearest signed checkpoint. The export
    is itself written to the access log (R33) before it is shown."""
    fmt = format.strip().lower()
    if fmt not in FORMATS:
        raise _refuse("format", f"unknown format {format!r}; use json or html")
    try:
        case_uuid = UUID(case_id.strip())
    except ValueError:
        raise _refuse("case_id", f"not a case id (a UUID): {case_id!r}") from None
    try:
        instant = parse_instant(as_of) if as_of is not None else None
    except InvalidInput as error:
        raise _refuse("as_of", error.message) from None
    person = (auditor or _os_user()).strip()
    if not person:
        raise _refuse("auditor", "the auditor's person id is empty")
    if output is not None and not (output.parent.is_dir()
                                   and os.access(output.parent, os.W_OK)):
        # Before the export is logged: a copy that cannot be written is not one that was shown.
        raise _refuse("output", f"cannot write to the folder of {output}")
    settings = ctx.obj if isinstance(ctx.obj, Settings) else None
    with reporting_errors():
        settings = settings or Settings()
        secret = settings.individual_key.get_secret_value().encode()
        try:
            public_keys = trusted_public_keys(settings)
        except AuditKeyError as error:
            raise _refuse(error.source.split(" ", 1)[0], str(error)) from None
        with opened_ledger(settings) as ledger, opened_datastore(settings) as datastore:
            ReadModelRunner(datastore).process_available()
            access_log = AccessLog(datastore, individual_secret=secret)
            access_log.setup()
            current = ledger.get_case(case_uuid)  # CaseNotFound: one line
            export = export_case(ledger, datastore, access_log, case_uuid, instant,
                                 public_keys=public_keys)
            exported_by: ExportedBy = {
                "person_id": person, "organisation_id": organisation or "unknown",
                "organisation_kind": "other", "unit": "", "role": "auditor",
            }
            # R33: the copy shows personal data, so it is logged before anyone sees it.
            export["access_log_id"] = access_log.record(
                **exported_by, action=EXPORT_ACTION, outcome="granted", case_id=case_uuid,
                # An erased individual reads as the erasure's marker: logged without a number.
                personal_identity_number=None if is_erased(pin := (
                    current.individual.personal_identity_number)) else pin,
                view="full", reason=f"sip-ledger audit case --format {fmt}",
            )
            export["exported_by"] = exported_by
    text = render_json(export) if fmt == "json" else render_html(export)
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as error:
            raise _refuse("output", f"cannot write {output}: {error.strerror}") from None
    log.info("case exported for audit", case_id=str(case_uuid), events=export["event_count"],
             format=fmt, as_of=export["as_of"], to_file=output is not None)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return os.environ.get("USER", "")
