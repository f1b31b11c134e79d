"""Who may read what of a case (R13), and the access log every read goes through (R33).

R13: consent names the organisations that may exchange information; only through it is
confidentiality lifted between them, and only for this planning. The policy is three levels,
decided per request from the case's **current** record (the plans read model) and the caller's
verified token:

``full``
    The case with its personal data: the individual (personal identity number, name,
    guardians), the consent's givers, the invitations, the meeting, the plan's content.
``restricted``
    What documenting closure and supervising deadlines need, and no personal data: the case id,
    stage, principals and parties (organisations), the consent's dates and organisations (not
    who gave it), closure per principal, every deadline, the plan's revision number. No names
    of anyone (neither the individual's nor staff's), no identity numbers, no plan text.
``none``
    403 (kind ``no-access``, rule R13, field ``case_id``); the refused attempt is logged.

Decisions, and why:

1. **Auditors read everything, in full.** Auditing the record is their task; they are
   read-only (the command routes refuse them). Their reads are logged like anyone's.
2. **A coordinator or service of an organisation reads in full while planning is open and**
   a) a consent valid today (recorded, not withdrawn, ``valid_from <= today <= valid_until``)
   names the organisation — confidentiality is lifted between the organisations it names
   (R13); or
   b) no consent has been recorded yet and the organisation is the proposer's — the proposing
   organisation's own record: it wrote down the individual and must be able to work the case
   (seek consent, record a refusal) before any consent exists, and nothing has crossed an
   organisation's boundary yet. The other principal does *not* read it in full before consent:
   that is exactly the boundary consent lifts.
   "Planning is open" means the stage is not ``closing``, ``closed`` or ``declined``: consent is
   given "only for this planning" (R13), so once planning has ended — by withdrawal (R12), by
   a principal's closure (R30) or by refusal (R15) — it no longer lifts confidentiality, even
   where ``valid_until`` lies ahead. A consent that has expired, or whose ``valid_from`` is still
   ahead, lifts nothing either.
3. **Otherwise a coordinator or service of a principal (the case's municipality or region) or
   of the proposing organisation reads the restricted view.** After withdrawal each principal
   must still document its closure (R31), and before consent the other principal must see that
   a case exists and what is due (R04: the duty arises for both) — neither needs personal data.
   Other organisations (FK, school, …) that were named only by a consent lose access with it.
4. **A supervisor reads the restricted view of their own organisation's cases** (the
   organisation is a party, or proposed the case) — never in full, even under consent:
   supervisors follow deadlines and workload, they do not plan.
5. **Anyone else is refused**, and the refusal is written to the access log with the reason.

Access is per organisation: which unit within an organisation may see a case (the organisation's
internal confidentiality, *inre sekretess*) is the organisation's own access control, expressed
by who it gives the roles to; the log records the unit of every read so it can be followed up.

**As-of reads** are decided on the current record too: a withdrawn consent withdraws the right
to read the case's personal data as it ever stood, and a consent given now covers the planning's
history. Lists and dashboards carry no personal data and are scoped to the caller's organisation
(auditors: any).

**Never from a stale or incomplete model.** The decision is only as current as the plans model
it is read from: a consent withdrawn a moment ago must already count. So a read of a case first
waits (up to ``SIP_PROJECTION_WAIT_S``) until the models it reads have applied every event
recorded before the request, and otherwise answers 503 ``read-models-behind`` with Retry-After;
a case with an event the model could not apply (projections/quarantine.py) is answered 503
``read-model-quarantined``: its parties and consent are unknown there.

**Logging (R33).** Every granted read of a case is logged — the full view because it shows
personal data, the restricted view too (cheap, and the R32 account of who looked at what is then
complete; the log's ``view`` column tells them apart, and what the individual learns is the full
reads). The row is committed before the answer is sent; a read whose row cannot be written is
answered 503 and shows nothing. A refused attempt is logged too; if that row cannot be written
the refusal still goes out (it shows nothing) and a warning is logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

import psycopg
from eventsourcing.persistence import OperationalError
from fastapi import Request
from pydantic import BaseModel, Field

from adapters.bootstrap import Services
from adapters.http.problems import ProblemError
from adapters.identity.tokens import Principal
from adapters.logging import get_logger
from domain.clock import local_date
from domain.errors import CaseNotFound
from domain.parties import Role
from projections.plans import current_plan
from projections.quarantine import quarantined_in_case

log = get_logger(__name__)

Record = dict[str, Any]
PLANNING_ENDED = frozenset({"closing", "closed", "declined"})


class Level(StrEnum):
    FULL = "full"
    RESTRICTED = "restricted"
    NONE = "none"


@dataclass(frozen=True)
class Access:
    """A decision: the level, the role it was granted under, and why (kept in the log)."""

    level: Level
    role: str
    reason: str

    @property
    def granted(self) -> bool:
        return self.level is not Level.NONE


# ------------------------------------------------------------------------ the policy


def _day(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def consent_valid_on(consent: Record | None, day: date) -> bool:
    """As ``domain.consent.Consent.is_valid_on``, over the record's JSON."""
    if consent is None:
        return False
    withdrawn = _day(consent.get("withdrawn_on"))
    if withdrawn is not None and withdrawn <= day:
        return False
    return _day(consent["valid_from"]) <= day <= _day(consent["valid_until"])


def planning_open(record: Record) -> bool:
    return record["stage"] not in PLANNING_ENDED


def principal_ids(record: Record) -> set[str]:
    return {record["municipality"]["id"], record["region"]["id"]}


def proposer_organisation(record: Record) -> str:
    return record["proposer"]["organisation_id"]


def _roles(caller: Principal) -> str:
    return ",".join(sorted(r.value for r in caller.roles))


def _restricted_reason(record: Record, today: date) -> str:
    consent = record.get("consent")
    if consent and consent.get("withdrawn_on"):
        return f"consent withdrawn on {consent['withdrawn_on']}: closure view only"
    if not planning_open(record):
        return f"planning has ended (stage {record['stage']}): closure view only"
    if consent is None:
        return "no consent yet: a principal sees no personal data before consent (R13)"
    if not consent_valid_on(consent, today):
        return f"consent {consent['number']} is not valid on {today.isoformat()}"
    return "the consent does not name this organisation (R13)"


def decide(record: Record, caller: Principal, today: date) -> Access:
    """The access ``caller`` has to the case ``record`` on ``today`` (see the module's text)."""
    if caller.is_auditor:
        return Access(Level.FULL, Role.AUDITOR.value, "auditor: reads every case, read-only")
    org = caller.organisation.id
    working = next((r for r in (Role.COORDINATOR, Role.SERVICE) if caller.has(r)), None)
    if working is not None:
        consent = record.get("consent")
        if planning_open(record):
            if consent_valid_on(consent, today) and org in consent["organisation_ids"]:
                return Access(
                    Level.FULL, working.value,
                    f"named by consent {consent['number']}, valid until "
                    f"{consent['valid_until']} (R13)",
                )
            if consent is None and org == proposer_organisation(record):
                return Access(Level.FULL, working.value,
                              "the proposing organisation's own record; no consent yet")
        if org in principal_ids(record) or org == proposer_organisation(record):
            return Access(Level.RESTRICTED, working.value, _restricted_reason(record, today))
    if caller.has(Role.SUPERVISOR) and (
        org in record["parties"] or org == proposer_organisation(record)
    ):
        return Access(Level.RESTRICTED, Role.SUPERVISOR.value,
                      "supervisor of an organisation party to the case: no personal data")
    return Access(
        Level.NONE, _roles(caller),
        f"organisation {org} is not party to this case under a valid consent (R13)",
    )


def no_access(detail: str, field: str = "case_id") -> ProblemError:
    return ProblemError(403, "No access", detail, kind="no-access", field=field, rule="R13")


def organisation_scope(
    services: Services, request: Request, caller: Principal, organisation_id: str | None,
    action: str, field: str = "organisation_id",
) -> str | None:
    """The organisation a list or dashboard is limited to: an auditor's choice (None: all),
    everyone else's own organisation; asking for another organisation is refused and logged."""
    if caller.is_auditor:
        return organisation_id
    own = caller.organisation.id
    if organisation_id is not None and organisation_id != own:
        # The asked-for id is the client's text, unchecked (a personal identity number, say):
        # neither logged nor echoed (R35).
        reason = f"{own} asked for another organisation's cases or figures"
        write_refusal(services, request, caller, action=action, reason=reason)
        raise no_access(f"{reason}: only your own organisation ({own}) may be asked for",
                        field=field)
    return own


# ------------------------------------------------------------------------ the record decided on

# The longest a read of a read model waits for a lock on its table (a rebuild's swap takes one
# for an instant; an operator's LOCK TABLE for as long as it likes) before it is answered 503.
READ_MODEL_LOCK_TIMEOUT_S = 1.0
BEHIND_RETRY_AFTER = "2"


def model_lock_timeout(services: Services) -> float:
    return max(0.05, min(READ_MODEL_LOCK_TIMEOUT_S, services.settings.projection_wait_s))


def read_models_behind(detail: str) -> ProblemError:
    return ProblemError(503, "Read models behind", detail, kind="read-models-behind",
                        headers={"Retry-After": BEHIND_RETRY_AFTER})


def await_current(services: Services, models: tuple[str, ...] = ("plans",)) -> None:
    """Return once ``models`` have applied every event recorded before this call (the log's
    head now), waiting up to ``SIP_PROJECTION_WAIT_S``; otherwise 503: a decision by consent is
    never made from a model that has not seen the latest consent (a withdrawal, say)."""
    head = services.ledger.recorder.max_notification_id() or 0
    wait = services.settings.projection_wait_s
    if services.runner.wait_for(head, wait, models=models):
        return
    log.warning("read refused: read models behind the log", models=list(models), head=head)
    raise read_models_behind(
        f"the read models ({', '.join(models)}) have not applied every event recorded before "
        f"this request within {wait:g} s; access by consent (R13) is not decided from a model "
        "behind the log. Try again shortly")


def current_record(services: Services, case_id: UUID,
                   models: tuple[str, ...] = ("plans",)) -> Record:
    """The case's record to decide access from and to answer with: from a plans model that is
    up to date with the log (``await_current``) and holds every event of the case."""
    await_current(services, models)
    try:
        with services.datastore.transaction(commit=False) as curs:
            curs.execute("SELECT set_config('lock_timeout', %s, true)",
                         (f"{int(model_lock_timeout(services) * 1000)}ms",))
            quarantined = quarantined_in_case(curs, services.schema, case_id, models)
            record = None if quarantined else current_plan(curs, services.schema, case_id)
    except (psycopg.errors.LockNotAvailable, OperationalError) as error:
        if not isinstance(error.__cause__ or error, psycopg.errors.LockNotAvailable):
            raise
        raise read_models_behind("the read model's table is locked (a rebuild's swap or "
                                 "maintenance); try again shortly") from None
    if quarantined:
        first = quarantined[0]
        log.warning("read refused: the read model quarantined an event of the case",
                    case_id=str(case_id), model=first.model,
                    notification_id=first.notification_id)
        raise ProblemError(
            503, "Case not readable from the read models",
            f"the {first.model} read model could not apply an event of this case "
            f"(notification {first.notification_id}, {first.event_type}); it is not answered "
            "from an incomplete record until the model is rebuilt (sip-ledger projections "
            "rebuild)",
            kind="read-model-quarantined", field="case_id", headers={"Retry-After": "60"},
        )
    if record is None:
        raise CaseNotFound(case_id)
    return record


# ------------------------------------------------------------------------ the access log


def today(services: Services) -> date:
    """Today in Sweden, by the ledger's clock (the same clock the commands are decided by)."""
    return local_date(services.ledger.clock())


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def _pin(record: Record | None) -> str | None:
    if record is None:
        return None
    return (record.get("individual") or {}).get("personal_identity_number")


def write_read(
    services: Services, request: Request, caller: Principal, access: Access, *, action: str,
    case_id: UUID | str | None = None, record: Record | None = None,
    personal_identity_number: str | None = None, view: str | None = None,
) -> None:
    """Log a granted read, committed before the caller sees anything; 503 if it cannot be."""
    try:
        services.access_log.record(
            person_id=caller.person_id, organisation_id=caller.organisation.id,
            organisation_kind=caller.organisation.kind.value, unit=caller.unit,
            role=access.role, action=action, outcome="granted", case_id=case_id,
            personal_identity_number=personal_identity_number or _pin(record),
            view=view, reason=access.reason, request_id=_request_id(request),
        )
    except Exception as error:
        log.error("access log unavailable: read not answered", action=action,
                  error=type(error).__name__)
        raise ProblemError(
            503, "Access log unavailable",
            "the read could not be logged (R33), so it is not answered; try again",
            kind="access-log-unavailable", rule="R33", headers={"Retry-After": "5"},
        ) from None


def write_refusal(
    services: Services, request: Request, caller: Principal, *, action: str, reason: str,
    case_id: UUID | str | None = None, record: Record | None = None,
) -> None:
    """Log a refused attempt. The refusal is answered even if this fails (it shows nothing)."""
    try:
        services.access_log.record(
            person_id=caller.person_id, organisation_id=caller.organisation.id,
            organisation_kind=caller.organisation.kind.value, unit=caller.unit,
            role=_roles(caller), action=action, outcome="refused", case_id=case_id,
            personal_identity_number=_pin(record), view=None, reason=reason,
            request_id=_request_id(request),
        )
    except Exception as error:
        log.warning("access log unavailable: refusal not logged", action=action,
                    error=type(error).__name__)


def authorise(
    services: Services, request: Request, caller: Principal, record: Record, action: str
) -> Access:
    """Decide; a refusal is logged and raised as 403. A grant is *not* logged here: log it
    with ``write_read`` once the answer is ready, right before sending it."""
    access = decide(record, caller, today(services))
    if not access.granted:
        write_refusal(services, request, caller, action=action, reason=access.reason,
                      case_id=record["case_id"], record=record)
        raise no_access(access.reason)
    return access


# ------------------------------------------------------------------------ the views


class OrganisationOut(BaseModel):
    id: str
    kind: str
    name: str = ""
    region: str = ""


class ConsentSummary(BaseModel):
    """The consent's reach and dates, without who gave it."""

    number: int
    valid_from: date
    valid_until: date
    withdrawn_on: date | None = None
    organisation_ids: list[str]


class ConsentDetails(ConsentSummary):
    givers: list[dict[str, Any]]
    form: str
    approved_persons: list[str] = []
    withdrawn_by: str | None = None


class ClosureOut(BaseModel):
    reason: str
    on: date
    by_unit: str | None = None


class DeadlineOut(BaseModel):
    key: str
    kind: str
    due: date
    rule: str
    policy_id: str
    policy_version: int
    responsible_organisation_id: str | None = None
    set_on: date | None = None
    met_on: date | None = None
    cancelled_on: date | None = None


class RestrictedCase(BaseModel):
    """A case without personal data: for closure after consent ends, and for supervisors."""

    view: Literal["restricted"] = "restricted"
    case_id: UUID
    version: int
    stage: str
    policy_id: str
    policy_version: int
    proposed_on: date
    municipality: OrganisationOut
    region: OrganisationOut
    county: str
    parties: list[str]
    proposer_organisation_id: str
    consent: ConsentSummary | None = None
    first_meeting_on: date | None = None
    plan_revision: int | None = None
    closures: dict[str, ClosureOut] = {}
    deadlines: list[DeadlineOut] = []
    declined_on: date | None = None
    closed_on: date | None = None


class IndividualOut(BaseModel):
    personal_identity_number: str
    name: str
    guardians: list[dict[str, Any]] = []


class FullCase(RestrictedCase):
    """The case with its personal data, for those consent lets read it (R13)."""

    view: Literal["full"] = "full"  # type: ignore[assignment]
    individual: IndividualOut
    proposed_by: str
    proposer: dict[str, Any]
    need_assessed_by: str | None = None
    triggers: list[str] = []
    presumed_need_groups: list[str] = []
    plan_type: str
    discharge: dict[str, Any] | None = None
    consent: ConsentDetails | None = None  # type: ignore[assignment]
    consents: int = 0
    wishes_recorded: bool = False
    meeting: dict[str, Any] | None = None
    meetings: int = 0
    invitations: dict[str, dict[str, Any]] = {}
    contact_person: dict[str, Any] | None = None
    plan: dict[str, Any] | None = None
    follow_ups: int = 0
    last_follow_up_on: date | None = None
    plan_copies: int = 0
    corrections: int = 0


CaseView = Annotated[FullCase | RestrictedCase, Field(discriminator="view")]


def _org(value: Record) -> Record:
    return {k: value.get(k, "") for k in ("id", "kind", "name", "region")}


def restricted_view(record: Record) -> Record:
    consent = record.get("consent")
    deadlines = sorted(record["deadlines"].items(), key=lambda kv: (str(kv[1]["due"]), kv[0]))
    plan = record.get("plan")
    return {
        "view": Level.RESTRICTED.value,
        "case_id": record["case_id"],
        "version": record["version"],
        "stage": record["stage"],
        "policy_id": record["policy_id"],
        "policy_version": record["policy_version"],
        "proposed_on": record["proposed_on"],
        "municipality": _org(record["municipality"]),
        "region": _org(record["region"]),
        "county": record["county"],
        "parties": list(record["parties"]),
        "proposer_organisation_id": proposer_organisation(record),
        "consent": None if consent is None else {
            k: consent.get(k)
            for k in ("number", "valid_from", "valid_until", "withdrawn_on", "organisation_ids")
        },
        "first_meeting_on": record.get("first_meeting_on"),
        "plan_revision": plan["revision"] if plan else None,
        "closures": {
            org: {"reason": c["reason"], "on": c["on"], "by_unit": c.get("by_unit")}
            for org, c in record["closures"].items()
        },
        "deadlines": [
            {"key": key, **{k: d.get(k) for k in DeadlineOut.model_fields if k != "key"}}
            for key, d in deadlines
        ],
        "declined_on": record.get("declined_on"),
        "closed_on": record.get("closed_on"),
    }


def full_view(record: Record) -> Record:
    consent = record.get("consent")
    return {
        **restricted_view(record),
        "view": Level.FULL.value,
        "individual": record["individual"],
        "proposed_by": record["proposed_by"],
        "proposer": record["proposer"],
        "need_assessed_by": record.get("need_assessed_by"),
        "triggers": list(record.get("triggers") or ()),
        "presumed_need_groups": list(record.get("presumed_need_groups") or ()),
        "plan_type": record["plan_type"],
        "discharge": record.get("discharge"),
        "consent": None if consent is None else {
            k: consent.get(k) for k in (*ConsentDetails.model_fields,) if k in consent
        },
        "consents": record.get("consents", 0),
        "wishes_recorded": record.get("wishes_recorded", False),
        "meeting": record.get("meeting"),
        "meetings": record.get("meetings", 0),
        "invitations": record.get("invitations") or {},
        "contact_person": record.get("contact_person"),
        "plan": record.get("plan"),
        "follow_ups": record.get("follow_ups", 0),
        "last_follow_up_on": record.get("last_follow_up_on"),
        "plan_copies": record.get("plan_copies", 0),
        "corrections": record.get("corrections", 0),
    }


def view(record: Record, level: Level) -> Record:
    """The JSON a caller at ``level`` sees of ``record``."""
    if level is Level.FULL:
        return full_view(record)
    if level is Level.RESTRICTED:
        return restricted_view(record)
    raise ValueError("no view without access")
