"""Who may read what of a case (R13): the decision — full, restricted or none, and why — and
what each level shows of a case record.

The decision is made here, on the read side, because it is a function of the case record
(projections/case_record.py, or ``replayed.record_of`` for a case as of an instant) and of the
caller's organisation and roles, stated with the domain's own types: the stages are
``domain.case_state.Stage`` and a consent's validity is ``domain.consent``'s. The HTTP routes ask
it through ``adapters/http/access.py`` (which waits for a current record, answers 403/503 and
writes the access log); the audit export uses the full view below too.

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
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, NotRequired, Protocol, TypedDict

from domain.case_state import ENDED_STAGES, Stage
from domain.consent import valid_on
from domain.parties import Organisation, Role
from domain.personal import Erased

from .case_record import (
    ActorRecord,
    ClosureRecord,
    ConsentGiverRecord,
    ConsentRecord,
    CorrectionRecord,
    DeadlineRecord,
    DischargeRecord,
    IndividualRecord,
    InvitationRecord,
    MeetingRecord,
    OrganisationRecord,
    PlanRecord,
    Record,
)

# Consent is given "only for this planning" (R13): once planning has ended — a principal's
# closure begun (R30, stage closing), the case closed or declined — it lifts nothing.
PLANNING_ENDED = frozenset({Stage.CLOSING, *ENDED_STAGES})


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


class Caller(Protocol):
    """Who asks, as far as the decision needs it: the verified token's organisation and roles
    (``adapters.identity.tokens.Principal`` is one)."""

    @property
    def organisation(self) -> Organisation: ...

    @property
    def roles(self) -> frozenset[Role]: ...


# ------------------------------------------------------------------------ facts of a record


def _day(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def consent_valid_on(consent: ConsentRecord | None, day: date) -> bool:
    """The domain's rule (``domain.consent.valid_on``) over a record's consent."""
    if consent is None:
        return False
    valid_from, valid_until = _day(consent["valid_from"]), _day(consent["valid_until"])
    assert valid_from is not None and valid_until is not None  # a consent always has both
    return valid_on(day, valid_from, valid_until, _day(consent.get("withdrawn_on")))


def planning_open(record: Record) -> bool:
    return Stage(record["stage"]) not in PLANNING_ENDED


def principal_ids(record: Record) -> set[str]:
    return {record["municipality"]["id"], record["region"]["id"]}


def proposer_organisation(record: Record) -> str:
    organisation_id: str = record["proposer"]["organisation_id"]
    return organisation_id


def role_names(caller: Caller) -> str:
    """The caller's roles, as the access log records a refusal's role."""
    return ",".join(sorted(r.value for r in caller.roles))


# ------------------------------------------------------------------------ the decision


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


def decide(record: Record, caller: Caller, today: date) -> Access:
    """The access ``caller`` has to the case ``record`` on ``today`` (the policy's decisions 1-5
    in ``adapters/http/access.py``)."""
    if Role.AUDITOR in caller.roles:
        return Access(Level.FULL, Role.AUDITOR.value, "auditor: reads every case, read-only")
    org = caller.organisation.id
    working = next((r for r in (Role.COORDINATOR, Role.SERVICE) if r in caller.roles), None)
    if working is not None:
        consent = record.get("consent")
        if planning_open(record):
            if (consent is not None and consent_valid_on(consent, today)
                    and org in consent["organisation_ids"]):
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
    if Role.SUPERVISOR in caller.roles and (
        org in record["parties"] or org == proposer_organisation(record)
    ):
        return Access(Level.RESTRICTED, Role.SUPERVISOR.value,
                      "supervisor of an organisation party to the case: no personal data")
    return Access(
        Level.NONE, role_names(caller),
        f"organisation {org} is not party to this case under a valid consent (R13)",
    )


# ------------------------------------------------------------------------ the views

# What each level shows of a case: the fields of the HTTP response models
# (adapters/http/case_views.py: RestrictedCase, FullCase and their parts), which validate them on
# the way out (tests/projections/test_access.py holds the field lists against those models).


class ConsentSummary(TypedDict):
    number: int
    valid_from: str
    valid_until: str
    withdrawn_on: str | None
    organisation_ids: list[str]


class ConsentDetails(ConsentSummary):
    givers: list[ConsentGiverRecord]
    form: str
    approved_persons: list[str]
    withdrawn_by: NotRequired[str]  # only once withdrawn (and not in a replayed case)


class DeadlineView(TypedDict):
    key: str
    kind: str
    due: str
    rule: str
    policy_id: str
    policy_version: int
    responsible_organisation_id: str | None
    set_on: str | None
    met_on: str | None
    cancelled_on: str | None


class _CaseView(TypedDict):
    """What both levels show, but the consent (each level shows its own part of it)."""

    view: str  # Level: "restricted" or "full"
    case_id: str
    version: int
    stage: str
    policy_id: str
    policy_version: int
    proposed_on: str
    municipality: OrganisationRecord
    region: OrganisationRecord
    county: str
    parties: list[str]
    proposer_organisation_id: str
    first_meeting_on: str | None
    plan_revision: int | None
    closures: dict[str, ClosureRecord]
    deadlines: list[DeadlineView]
    declined_on: str | None
    closed_on: str | None


class RestrictedView(_CaseView):
    consent: ConsentSummary | None


class FullView(_CaseView):
    consent: ConsentDetails | None
    individual: IndividualRecord
    proposed_by: str
    proposer: ActorRecord
    need_assessed_by: str | None
    triggers: list[str]
    presumed_need_groups: list[str]
    plan_type: str
    discharge: DischargeRecord | None
    consents: int
    wishes_recorded: bool
    meeting: MeetingRecord | None
    meetings: int
    invitations: dict[str, InvitationRecord]
    contact_person: ActorRecord | None
    plan: PlanRecord | None
    follow_ups: int
    last_follow_up_on: str | None
    plan_copies: int
    corrections: list[CorrectionRecord]  # R32: the values above are the corrected ones


CONSENT_SUMMARY_FIELDS = tuple(ConsentSummary.__annotations__)
CONSENT_DETAIL_FIELDS = tuple(ConsentDetails.__annotations__)  # the summary's first
DEADLINE_FIELDS = tuple(DeadlineView.__annotations__)[1:]  # but the key


def _org(value: OrganisationRecord) -> OrganisationRecord:
    return {"id": value.get("id", ""), "kind": value.get("kind", ""),
            "name": value.get("name", ""), "region": value.get("region", "")}


def _consent_summary(consent: ConsentRecord) -> ConsentSummary:
    return {
        "number": consent["number"],
        "valid_from": consent["valid_from"],
        "valid_until": consent["valid_until"],
        "withdrawn_on": consent.get("withdrawn_on"),
        "organisation_ids": consent["organisation_ids"],
    }


def _consent_details(consent: ConsentRecord) -> ConsentDetails:
    details: ConsentDetails = {
        "number": consent["number"],
        "valid_from": consent["valid_from"],
        "valid_until": consent["valid_until"],
        "withdrawn_on": consent.get("withdrawn_on"),
        "organisation_ids": consent["organisation_ids"],
        "givers": consent["givers"],
        "form": consent["form"],
        "approved_persons": consent["approved_persons"],
    }
    if "withdrawn_by" in consent:
        details["withdrawn_by"] = consent["withdrawn_by"]
    return details


def _deadline(key: str, d: DeadlineRecord) -> DeadlineView:
    return {
        "key": key,
        "kind": d["kind"],
        "due": d["due"],
        "rule": d["rule"],
        "policy_id": d["policy_id"],
        "policy_version": d["policy_version"],
        "responsible_organisation_id": d.get("responsible_organisation_id"),
        "set_on": d.get("set_on"),
        "met_on": d.get("met_on"),
        "cancelled_on": d.get("cancelled_on"),
    }


def restricted_view(record: Record) -> RestrictedView:
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
        "consent": None if consent is None else _consent_summary(consent),
        "first_meeting_on": record.get("first_meeting_on"),
        "plan_revision": plan["revision"] if plan else None,
        "closures": {
            org: {"reason": c["reason"], "on": c["on"], "by_unit": c.get("by_unit")}
            for org, c in record["closures"].items()
        },
        "deadlines": [_deadline(key, d) for key, d in deadlines],
        "declined_on": record.get("declined_on"),
        "closed_on": record.get("closed_on"),
    }


def full_view(record: Record) -> FullView:
    consent, individual = record.get("consent"), record["individual"]
    if individual is None:  # the deadline model's copy: only the plans model answers reads
        raise ValueError("a record kept without personal data has no full view")
    # The restricted view's fields in its order, the consent in full in its place.
    shared = restricted_view(record)
    return {
        "view": Level.FULL.value,
        "case_id": shared["case_id"],
        "version": shared["version"],
        "stage": shared["stage"],
        "policy_id": shared["policy_id"],
        "policy_version": shared["policy_version"],
        "proposed_on": shared["proposed_on"],
        "municipality": shared["municipality"],
        "region": shared["region"],
        "county": shared["county"],
        "parties": shared["parties"],
        "proposer_organisation_id": shared["proposer_organisation_id"],
        "consent": None if consent is None else _consent_details(consent),
        "first_meeting_on": shared["first_meeting_on"],
        "plan_revision": shared["plan_revision"],
        "closures": shared["closures"],
        "deadlines": shared["deadlines"],
        "declined_on": shared["declined_on"],
        "closed_on": shared["closed_on"],
        "individual": individual,
        "proposed_by": record["proposed_by"],
        "proposer": record["proposer"],
        "need_assessed_by": record.get("need_assessed_by"),
        "triggers": list(record.get("triggers") or ()),
        # After an erasure each group reads as the marker: no group is known any more.
        "presumed_need_groups": [g for g in record.get("presumed_need_groups") or ()
                                 if not isinstance(g, Erased)],
        "plan_type": record["plan_type"],
        "discharge": record.get("discharge"),
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
        "corrections": list(record.get("corrections") or []),
    }


def view(record: Record, level: Level) -> RestrictedView | FullView:
    """The JSON a caller at ``level`` sees of ``record``."""
    if level is Level.FULL:
        return full_view(record)
    if level is Level.RESTRICTED:
        return restricted_view(record)
    raise ValueError("no view without access")
