"""``sip-ledger retention due | erase``: which cases' personal data falls due for culling (R34),
and erasing it as a decided act.

``due`` lists every ended case (closed or declined) with its retention status under a policy
(domain/retention.py): the policy id and version, what starts the period and on which day, the
day it falls due, the exemptions and holds that keep it, and why; and how many access-log rows
the ``atkomstlogg`` policy lets go. The candidates come from the current-plans read model (its
``stage`` column, caught up first), so nothing but ended cases is read from the log; each
candidate's status is the ledger's (it reads the case, decrypting the personal identity number
for the birth-day exemption).

``erase`` records one erasure per case through the ledger (who decided, the decision
reference, the policy, which subjects), which then destroys the subjects' data keys. Every
case's command id is a UUIDv5 of the decision and the case, so a rerun is the same command: the
ledger answers the first result and writes nothing. ``--due`` also takes every case already
erased whose keys survive (a run stopped between the event and the key destruction), so a run
stopped at any point is finished by the next one. A refusal (no decision, not due without
``--override``, a legal hold) is one line naming R34; with ``--case`` nothing is written.

``erase --access-log`` culls the access log's rows older than its own retention period, through
the store's one narrow way past its append-only guard (adapters/store/access_log.py), and logs
what it did as counts.
"""

from __future__ import annotations

import getpass
import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID

import typer
from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL
from rich.console import Console
from rich.table import Table

from adapters.bootstrap import opened_datastore, opened_ledger, secret_of
from adapters.cli.errors import EXIT_INVALID, EXIT_REFUSED, describe, one_line, reporting_errors
from adapters.cli.progress import progress_bar
from adapters.identity.organisations import OrganisationDirectory, Refusal
from adapters.logging import get_logger
from adapters.settings import Settings
from adapters.store.access_log import AccessLog
from domain.case_state import ENDED_STAGES
from domain.clock import STOCKHOLM, local_date, utc_now
from domain.commands import ErasePersonalData
from domain.errors import InvalidInput, RuleViolation, SipError
from domain.ledger import SipLedger
from domain.parties import Actor, Organisation, OrganisationKind, Role
from domain.retention import (
    DEFAULT_RETENTION_POLICY,
    ExemptionKind,
    RetentionPolicy,
    RetentionStatus,
    retention_policy,
)
from projections.events import CASE_TOPIC_PREFIX
from projections.plans import list_cases
from projections.runner import ReadModelRunner
from projections.storage import EVENTS_TABLE, qualified

log = get_logger(__name__)

app = typer.Typer(
    help="Retention (R34): which cases' personal data falls due, and erasing it as a decided "
    "act.",
    no_args_is_help=True,
)

# The access log's own retention policy (R33): its period starts at each read.
ACCESS_LOG_POLICY = "atkomstlogg"
# Erasure command ids: UUIDv5 of "<decision>\n<case id>" in this namespace, so the same decision
# on the same case is the same command however often it is run.
ERASURE_NAMESPACE = uuid.UUID("2f7a1c9e-5b3d-4e8a-9c61-0d4b7e2a9f35")
# Read-model pages of ended cases.
PAGE = 1000


def erasure_command_id(decision: str, case_id: UUID) -> UUID:
    return uuid.uuid5(ERASURE_NAMESPACE, f"{decision.strip()}\n{case_id}")


def _refuse(field: str, message: str) -> typer.Exit:
    typer.echo(f"error field {field}: {one_line(message)}", err=True)
    return typer.Exit(EXIT_INVALID)


def _parse_day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise _refuse(field, f"not a day (YYYY-MM-DD): {text!r}") from None


def access_log_cutoff(policy: RetentionPolicy, as_of: date) -> datetime:
    """The instant before which access-log rows fall due on ``as_of``: a row read on day D is due
    once D is the policy's latest due start or earlier (Swedish days, as every day in the
    ledger), i.e. the row was read before the next day began."""
    after = policy.latest_due_start(as_of) + timedelta(days=1)
    return datetime.combine(after, time(), tzinfo=STOCKHOLM)


# ---------------------------------------------------------------------------- the candidates


def ended_case_ids(datastore: PostgresDatastore) -> list[UUID]:
    """Every ended case the current-plans model knows, by case id (no personal data read)."""
    schema = datastore.schema or "public"
    ids: list[UUID] = []
    with datastore.transaction(commit=False) as curs:
        for stage in ENDED_STAGES:
            after: UUID | None = None
            while True:
                rows = list_cases(curs, schema, stage=stage.value, limit=PAGE, after=after)
                ids.extend(row["case_id"] for row in rows)
                if len(rows) < PAGE:
                    break
                after = rows[-1]["case_id"]
    return sorted(ids)


def erased_case_ids(datastore: PostgresDatastore) -> list[UUID]:
    """Every case with a recorded erasure, from the log itself (PersonalDataErased events)."""
    with datastore.transaction(commit=False) as curs:
        curs.execute(
            SQL("SELECT originator_id FROM {} WHERE topic = %s").format(
                qualified(datastore.schema or "public", EVENTS_TABLE)),
            (f"{CASE_TOPIC_PREFIX}PersonalDataErased",),
        )
        return [row["originator_id"] for row in curs.fetchall()]


def _caught_up(settings: Settings, datastore: PostgresDatastore) -> None:
    """The read models up to the log's head, so a case ended a moment ago is a candidate."""
    runner = ReadModelRunner(datastore, create_tables=settings.create_tables)
    try:
        runner.process_available()
    finally:
        runner.stop()


def _subjects(ledger: SipLedger, case_id: UUID) -> list[str]:
    keys = getattr(ledger, "keys", None)
    return list(keys.live_subjects(case_id)) if keys is not None else []


def _has_live_keys(ledger: SipLedger, case_id: UUID) -> bool:
    keys = getattr(ledger, "keys", None)
    return bool(keys is not None and keys.has_live_keys(case_id))


def status_json(status: RetentionStatus, subjects: list[str]) -> dict[str, Any]:
    return {
        "case_id": str(status.case_id),
        "due": status.due,
        "due_on": status.due_on.isoformat() if status.due_on else None,
        "starts_on": status.starts_on.isoformat() if status.starts_on else None,
        "start_kind": status.start_kind,
        "policy_id": status.policy_id,
        "policy_version": status.policy_version,
        "exemptions": list(status.exemptions),
        "legal_hold": ExemptionKind.LEGAL_HOLD in status.exemptions,
        "erased": ExemptionKind.ALREADY_ERASED in status.exemptions,
        "subjects": subjects,
        "reason": status.reason,
    }


# ---------------------------------------------------------------------------- due


@app.command("due")
def due(
    ctx: typer.Context,
    as_of: str | None = typer.Option(
        None, "--as-of", help="The day to judge on (YYYY-MM-DD). Default: today (Swedish time)."),
    policy: str | None = typer.Option(
        None, "--policy", help=f"A retention policy id (default: {DEFAULT_RETENTION_POLICY})."),
    as_json: bool = typer.Option(False, "--json", help="JSON on stdout instead of a table."),
) -> None:
    """Which ended cases' personal data falls due for culling, and why (R34).

    Per case: the policy and its version, what starts the period and on which day, the day it
    falls due, the exemptions and holds that keep it. Cases erased already are never due. Also
    how many access-log rows the access log's own policy (atkomstlogg) lets go."""
    settings: Settings = ctx.obj
    day = _parse_day(as_of, "as_of") if as_of is not None else local_date(utc_now())
    err = Console(stderr=True)
    with reporting_errors():
        chosen = retention_policy(policy) if policy is not None else None
        access_policy = retention_policy(ACCESS_LOG_POLICY)
        with opened_ledger(settings) as ledger, opened_datastore(settings) as datastore:
            _caught_up(settings, datastore)
            candidates = ended_case_ids(datastore)
            rows: list[dict[str, Any]] = []
            progress = progress_bar("judging ended cases", err)
            with progress:
                task = progress.add_task("cases", total=len(candidates))
                for case_id in candidates:
                    status = ledger.retention_status(
                        case_id, day, chosen.id if chosen else None)
                    subjects = _subjects(ledger, case_id) if status.due else []
                    rows.append(status_json(status, subjects))
                    progress.advance(task)
            cutoff = access_log_cutoff(access_policy, day)
            access = _access_log(settings, datastore)
            access_due = access.count_before(cutoff)
    due_count = sum(1 for r in rows if r["due"])
    access_json = {
        "policy_id": access_policy.id, "policy_version": access_policy.version,
        "before": cutoff.isoformat(), "rows_due": access_due,
    }
    log.info("retention judged", as_of=day.isoformat(), cases=len(rows), due=due_count,
             access_log_rows_due=access_due)
    if as_json:
        typer.echo(json.dumps({
            "as_of": day.isoformat(),
            "policy_id": chosen.id if chosen else None,
            "cases": rows,
            "due": due_count,
            "access_log": access_json,
        }, ensure_ascii=False, indent=2))
        return
    _print_table(rows, day, due_count, access_json)


def _print_table(rows: list[dict[str, Any]], day: date, due_count: int,
                 access: dict[str, Any]) -> None:
    out = Console()
    if not out.is_terminal:  # piped: whole case ids and reasons, not squeezed into 80 columns
        out = Console(width=200)
    table = Table(title=f"Retention as of {day.isoformat()}: {due_count} of {len(rows)} ended "
                        "cases due")
    table.add_column("case", no_wrap=True, min_width=36)
    for column in ("due", "policy", "starts", "due on", "exemptions", "subjects", "why"):
        table.add_column(column)
    for row in sorted(rows, key=lambda r: (not r["due"], r["due_on"] or "", r["case_id"])):
        table.add_row(
            row["case_id"], "yes" if row["due"] else "no",
            f"{row['policy_id']} v{row['policy_version']}",
            f"{row['start_kind']} {row['starts_on'] or '-'}", row["due_on"] or "-",
            ", ".join(row["exemptions"]) or "-", str(len(row["subjects"])) if row["due"] else "-",
            row["reason"],
        )
    out.print(table)
    out.print(f"access log ({access['policy_id']} v{access['policy_version']}): "
              f"{access['rows_due']} rows read before {access['before']} are due")


# ---------------------------------------------------------------------------- erase


@dataclass
class ErasureRun:
    """What one ``erase`` did, case by case."""

    erased: list[UUID] = field(default_factory=list)  # recorded now
    finished: list[UUID] = field(default_factory=list)  # recorded before; keys destroyed now
    unchanged: list[UUID] = field(default_factory=list)  # a rerun: nothing left to do
    refused: list[tuple[UUID, str]] = field(default_factory=list)


def archivist(settings: Settings, person: str, name: str | None, organisation: str,
              org_kind: OrganisationKind | None, unit: str) -> Actor:
    """The actor an erasure records: the archivist named by the options. With an organisation
    directory configured (SIP_ORGANISATIONS_FILE) the organisation must be in it (with the kind
    given, and one of its units where it lists them), and the directory's record (kind, name,
    region) is what the event names, as for a token."""
    directory = OrganisationDirectory.from_settings(settings)
    if directory is None:
        org = Organisation(id=organisation, kind=org_kind or OrganisationKind.KOMMUN)
    else:
        known = directory.get(organisation)
        kind = org_kind or (known.kind if known is not None else OrganisationKind.KOMMUN)
        entry = directory.check(Organisation(id=organisation, kind=kind), unit)
        if isinstance(entry, Refusal):
            raise InvalidInput(entry.detail, field="organisation")
        org = entry
    return Actor(person_id=person, name=name or person, organisation=org, unit=unit,
                 role=Role.ARCHIVIST)


@app.command("erase")
def erase(
    ctx: typer.Context,
    decision: str | None = typer.Option(
        None, "--decision", help="The erasure decision's reference (required, R34), e.g. "
        "'KS 2031/123'."),
    case: str | None = typer.Option(None, "--case", help="Erase this case (a UUID)."),
    due_cases: bool = typer.Option(
        False, "--due", help="Erase every case due today, and finish every erasure whose keys "
        "survive."),
    access_log: bool = typer.Option(
        False, "--access-log", help="Cull the access log's rows older than its own retention "
        "period (policy atkomstlogg)."),
    override: str | None = typer.Option(
        None, "--override", help="With --case: erase a case not yet due, for this reason "
        "(recorded)."),
    policy: str | None = typer.Option(
        None, "--policy", help=f"Retention policy id (default: {DEFAULT_RETENTION_POLICY})."),
    person: str | None = typer.Option(
        None, "--person", help="The archivist's person id (default: the operating-system "
        "user)."),
    name: str | None = typer.Option(
        None, "--name", help="The archivist's name as the event records it (default: the "
        "person id)."),
    organisation: str | None = typer.Option(
        None, "--organisation", help="The archivist's organisation id (required for cases; "
        "in the organisation directory when SIP_ORGANISATIONS_FILE is set)."),
    org_kind: OrganisationKind | None = typer.Option(
        None, "--org-kind", help="Kind of organisation (default: the directory's, else "
        "kommun)."),
    unit: str = typer.Option("", "--unit", help="The archivist's unit."),
) -> None:
    """Erase personal data as a decided act (R34): record the erasure, then destroy the keys.

    Idempotent and resumable: a rerun with the same decision writes nothing new, and --due also
    finishes every recorded erasure whose data keys survive. A case not due is refused unless
    --override gives the reason; a case under legal hold is always refused."""
    settings: Settings = ctx.obj
    targets = [flag for flag, given in (("--case", case is not None), ("--due", due_cases),
                                        ("--access-log", access_log)) if given]
    if len(targets) != 1:
        raise _refuse("case", "give exactly one of --case ID, --due or --access-log")
    if override is not None and case is None:
        raise _refuse("override", "--override erases one case not yet due: only with --case")
    case_id: UUID | None = None
    if case is not None:
        try:
            case_id = UUID(case.strip())
        except ValueError:
            raise _refuse("case_id", f"not a case id (a UUID): {case!r}") from None
    with reporting_errors():
        if decision is None or not decision.strip():
            raise RuleViolation("an erasure is a decided act: give the decision's reference "
                                "(--decision)", field="decision", rule="R34")
        decision = decision.strip()
        person_id = (person or _os_user()).strip()
        if not person_id:
            raise InvalidInput("the archivist's person id is empty", field="person")
        if access_log:
            _cull_access_log(settings, decision, person_id)
            return
        if not organisation:
            raise InvalidInput("the archivist's organisation is required (--organisation)",
                               field="organisation")
        actor = archivist(settings, person_id, name, organisation, org_kind, unit)
        chosen = retention_policy(policy or DEFAULT_RETENTION_POLICY)
        with opened_ledger(settings) as ledger:
            if case_id is not None:
                run = ErasureRun()
                _erase_one(ledger, run, case_id, decision, chosen.id, override, actor)
            else:
                with opened_datastore(settings) as datastore:
                    run = _erase_due(settings, ledger, datastore, decision, chosen.id, actor)
            if run.erased or run.finished:
                _vacuum_keys(ledger)
    for _case_id, line in run.refused:
        typer.echo(line, err=True)
    log.info("erasure run", decision=decision, policy_id=chosen.id, erased=len(run.erased),
             finished=len(run.finished), unchanged=len(run.unchanged), refused=len(run.refused))
    typer.echo(f"erased {len(run.erased)} cases, finished {len(run.finished)} earlier "
               f"erasures, {len(run.unchanged)} already done, {len(run.refused)} refused "
               f"(decision {decision}, policy {chosen.id} v{chosen.version})")
    if run.refused:
        raise typer.Exit(EXIT_REFUSED)


def _erase_one(ledger: SipLedger, run: ErasureRun, case_id: UUID, decision: str,
               policy_id: str, override: str | None, actor: Actor) -> None:
    """One case's erasure through the ledger; a refusal is kept for the summary, never half
    written (the ledger records the event and only then destroys the keys)."""
    had_keys = _has_live_keys(ledger, case_id)
    cmd = ErasePersonalData(
        command_id=erasure_command_id(decision, case_id), case_id=case_id, decision=decision,
        policy_id=policy_id, override_reason=override,
    )
    try:
        result = ledger.erase_personal_data(cmd, actor)
    except SipError as error:
        line, _ = describe(error)
        run.refused.append((case_id, f"{line} (case {case_id})"))
        log.warning("erasure refused", case_id=str(case_id), rule=error.rule, field=error.field)
        return
    if not result.replayed and result.notification_ids:
        run.erased.append(case_id)
    elif had_keys:
        run.finished.append(case_id)
    else:
        run.unchanged.append(case_id)
    log.info("personal data erased", case_id=str(case_id), decision=decision,
             policy_id=policy_id, version=result.version, replayed=result.replayed,
             keys_were_live=had_keys)


def _erase_due(settings: Settings, ledger: SipLedger, datastore: PostgresDatastore,
               decision: str, policy_id: str, actor: Actor) -> ErasureRun:
    """Every case due today, and every erased case whose keys survive, one by one: a run
    stopped anywhere leaves each case untouched, erased with keys to finish, or done, and the
    next run takes it from there."""
    run = ErasureRun()
    today = local_date(utc_now())
    err = Console(stderr=True)
    _caught_up(settings, datastore)
    # Ended cases, and every case with a recorded erasure (an open case erased with an override
    # whose run stopped before its keys were destroyed is finished too).
    candidates = sorted(set(ended_case_ids(datastore)) | set(erased_case_ids(datastore)))
    progress = progress_bar("erasing personal data", err)
    with progress:
        task = progress.add_task("cases", total=len(candidates))
        for case_id in candidates:
            if _to_erase(ledger, case_id, today, policy_id):
                _erase_one(ledger, run, case_id, decision, policy_id, None, actor)
            progress.advance(task)
    return run


def _vacuum_keys(ledger: SipLedger) -> None:
    """Reclaim the destroyed keys' old row versions now rather than at autovacuum's leisure
    (adapters/store/keys.py): until then a wrapped copy of each key lies in the table's pages."""
    vacuum = getattr(getattr(ledger, "keys", None), "vacuum", None)
    if vacuum is not None:
        vacuum()


def _to_erase(ledger: SipLedger, case_id: UUID, today: date, policy_id: str) -> bool:
    keys = getattr(ledger, "keys", None)
    if keys is not None and keys.erasure_of(case_id) is not None and not keys.has_live_keys(
            case_id):
        # Erased and finished (tombstones are written only after the event): nothing to do,
        # and no need to read the case, so a run resumed after a crash skips its done part fast.
        return False
    status = ledger.retention_status(case_id, today, policy_id)
    if status.due:
        return True
    # An erasure recorded before a crash, its keys not yet destroyed: finish it.
    return (ExemptionKind.ALREADY_ERASED in status.exemptions
            and _has_live_keys(ledger, case_id))


def _access_log(settings: Settings, datastore: PostgresDatastore) -> AccessLog:
    access = AccessLog(datastore, individual_secret=secret_of(settings))
    if settings.create_tables:  # else the owner's set-up made it (and its culling function)
        access.setup()
    return access


def _cull_access_log(settings: Settings, decision: str, person_id: str) -> None:
    """Delete the access-log rows past the atkomstlogg period (never less than the store's own
    floor of five years, R33), and log it as counts."""
    policy = retention_policy(ACCESS_LOG_POLICY)
    today = local_date(utc_now())
    cutoff = access_log_cutoff(policy, today)
    with opened_datastore(settings) as datastore:
        access = _access_log(settings, datastore)
        # The store judges "five years ago" by its own clock and time zone: never ask it for
        # more than that (a day boundary an hour apart would be refused as too young).
        cutoff = min(cutoff, access.cull_floor())
        culled = access.cull(cutoff)
    log.info("access log culled", decision=decision, policy_id=policy.id,
             policy_version=policy.version, before=cutoff.isoformat(), rows=culled,
             by=person_id)
    typer.echo(f"culled {culled} access-log rows read before {cutoff.isoformat()} "
               f"(decision {decision}, policy {policy.id} v{policy.version})")


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return os.environ.get("USER", "")
