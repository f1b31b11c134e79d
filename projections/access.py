"""Who may read what of a case (R13): the decision — full, restricted or none, and why — and
what each level shows of a case record.

The policy in words (its reasons, and how a read waits for a current record and is logged) is
in ``adapters/http/access.py``, which makes the decision for the HTTP routes; the audit export
uses the full view below too. The decision is made here, on the read side, because it is a
function of the case record (projections/case_record.py, or ``replayed.record_of`` for a case as
of an instant) and of the caller's organisation and roles, stated with the domain's own types:
the stages are ``domain.case_state.Stage`` and a consent's validity is ``domain.consent``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, Protocol

from domain.case_state import ENDED_STAGES, Stage
from domain.consent import valid_on
from domain.parties import Organisation, Role

from .case_record import Record

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


def consent_valid_on(consent: Record | None, day: date) -> bool:
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

# What each level shows of a consent and of a deadline: the fields of the HTTP response models
# (adapters/http/case_views.py: ConsentSummary, ConsentDetails, DeadlineOut), which validate them.
CONSENT_SUMMARY_FIELDS = ("number", "valid_from", "valid_until", "withdrawn_on",
                          "organisation_ids")
CONSENT_DETAIL_FIELDS = (*CONSENT_SUMMARY_FIELDS, "givers", "form", "approved_persons",
                         "withdrawn_by")
DEADLINE_FIELDS = ("kind", "due", "rule", "policy_id", "policy_version",
                   "responsible_organisation_id", "set_on", "met_on", "cancelled_on")


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
            k: consent.get(k) for k in CONSENT_SUMMARY_FIELDS
        },
        "first_meeting_on": record.get("first_meeting_on"),
        "plan_revision": plan["revision"] if plan else None,
        "closures": {
            org: {"reason": c["reason"], "on": c["on"], "by_unit": c.get("by_unit")}
            for org, c in record["closures"].items()
        },
        "deadlines": [
            {"key": key, **{k: d.get(k) for k in DEADLINE_FIELDS}} for key, d in deadlines
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
            k: consent.get(k) for k in CONSENT_DETAIL_FIELDS if k in consent
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
