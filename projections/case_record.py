"""The read side's record of one case: a plain JSON document folded from the case's events.

Each read model keeps such a record per case (in its own table, so the models stay independent)
and derives its rows from it. The fold mirrors what the ``SipCase`` event methods do to state
(domain/case.py) — in particular the deadline bookkeeping: which deadlines an event meets, which
it cancels and which it adds. The deadlines themselves are never computed here: every due date
comes from the event, as the command computed it under its regional policy. A property test
(tests/projections/test_rebuild_equals_live.py) checks the fold against the aggregate.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, NotRequired, TypedDict

from domain.clock import local_date

from .events import CaseEvent, JSONObject, unwrap
from .personal import sealed_subject

# ------------------------------------------------------------------------ the record's shape
#
# Plain JSON, as stored in a read model's ``record`` column: days and instants are ISO strings,
# enumerations their values. The HTTP response models (adapters/http/case_views.py) describe the
# same fields as a caller sees them.


class OrganisationRecord(TypedDict):
    id: str
    kind: str  # domain.parties.OrganisationKind
    name: str
    region: str


class ActorRecord(TypedDict):
    """A member of staff who acted (R32), with their organisation flattened in."""

    person_id: str
    name: str
    organisation_id: str
    organisation_kind: str
    unit: str
    role: str  # domain.parties.Role


class GuardianRecord(TypedDict):
    name: str
    personal_identity_number: str | None


class IndividualRecord(TypedDict):
    personal_identity_number: str
    name: str
    guardians: list[GuardianRecord]


class DischargeRecord(TypedDict):
    ready_for_discharge_at: str
    named_care_contact_person_id: str


class ConsentGiverRecord(TypedDict):
    role: str  # domain.commands.ConsentGiverRole
    name: str


class ConsentRecord(TypedDict):
    """The current consent (R10–R14). ``withdrawn_by`` appears once it is withdrawn (R12)."""

    number: int
    givers: list[ConsentGiverRecord]
    form: str
    valid_from: str
    valid_until: str
    organisation_ids: list[str]
    approved_persons: list[str]
    withdrawn_on: str | None
    withdrawn_by: NotRequired[str]


class MeetingRecord(TypedDict):
    number: int
    at: str  # the instant as recorded
    on: str  # its Swedish local day
    place: str
    invited_on: str


class InvitationRecord(TypedDict):
    role: str  # domain.commands.ParticipantRole
    name: str
    organisation_id: str | None
    meeting_number: int
    reply: str | None  # domain.commands.Reply; None until one is recorded
    comment: str


class ResponsibleRecord(TypedDict):
    kind: str
    name: str
    organisation_id: str | None


class InterventionRecord(TypedDict):
    description: str
    responsible: ResponsibleRecord


class GoalRecord(TypedDict):
    description: str
    measure: str
    target_date: str | None
    accepted_by_individual: bool


class PlanRecord(TypedDict):
    """The current plan revision: its number and day, and its content
    (``domain.commands.PlanContent`` as JSON) spread beside them."""

    revision: int
    decided_on: str
    needs: list[str]
    goals: list[GoalRecord]
    interventions: list[InterventionRecord]
    overall_responsibility: str
    coordination: str
    follow_up_date: str


class ClosureRecord(TypedDict):
    reason: str  # domain.commands.ClosureReason
    on: str
    by_unit: str | None  # None for a case replayed from the log (the aggregate does not keep it)


class DeadlineRecord(TypedDict):
    """A deadline as its command computed it, and what became of it."""

    set_on: str | None  # None for a case replayed from the log
    kind: str  # domain.deadlines.DeadlineKind
    due: str
    rule: str
    policy_id: str
    policy_version: int
    responsible_organisation_id: str | None
    met_on: str | None
    cancelled_on: str | None


class CorrectedFieldRecord(TypedDict):
    """R32: one corrected field: the value the case held and the right one, as text (a personal
    field's values as stored: sealed, domain/personal.py)."""

    field: str  # a name of domain/rules/correction.py's CORRECTABLE
    old_value: Any
    new_value: Any


class CorrectionRecord(TypedDict):
    """R32: one correction of the case: which entry it corrects and how, who made it and when.
    ``changes`` is empty for a correction in words only (and for every correction recorded
    before structured corrections); ``deadlines`` names the deadlines it recomputed."""

    version: int  # the correcting entry's
    corrects_version: int
    corrected_type: str | None  # the corrected entry's event type; None if not recorded
    item: int | None  # the number of the meeting, consent, plan revision or follow-up
    recorded_at: str | None  # None for a case replayed from the log
    on: str
    actor: ActorRecord | None
    reason: Any  # text about the case: personal, sealed as stored
    correction: Any  # ditto
    changes: list[CorrectedFieldRecord]
    deadlines: list[str]  # keys of the deadlines recomputed


class Record(TypedDict):
    """One case, as the read models keep it."""

    case_id: str
    stage: str  # domain.case_state.Stage
    policy_id: str
    policy_version: int
    # None in the deadline model's copy, which keeps no personal data (projections/deadlines.py).
    individual: IndividualRecord | None
    proposed_on: str
    proposed_by: str  # domain.commands.ProposerKind
    proposer: ActorRecord
    municipality: OrganisationRecord
    region: OrganisationRecord
    county: str
    need_assessed_by: str | None
    triggers: list[str]
    presumed_need_groups: list[str]
    plan_type: str
    discharge: DischargeRecord | None
    parties: list[str]  # organisation ids: principals, those a consent names, those invited
    consent: ConsentRecord | None
    consents: int
    wishes_recorded: bool
    meeting: MeetingRecord | None
    meetings: int
    first_meeting_on: str | None
    invitations: dict[str, InvitationRecord]  # by participant key
    contact_person: ActorRecord | None
    plan: PlanRecord | None
    follow_ups: int
    last_follow_up_on: str | None
    plan_copies: int
    closures: dict[str, ClosureRecord]  # by organisation id
    declined_on: str | None
    closed_on: str | None
    # R32: every correction, in order; the values above are the corrected ones.
    corrections: list[CorrectionRecord]
    deadlines: dict[str, DeadlineRecord]  # by key ("start", "follow_up:3", ...)
    version: int
    # When the last event was recorded: kept by the read models, not by a replayed case.
    updated_at: NotRequired[str]


# ------------------------------------------------------------------------ from event JSON


def _org(value: Any) -> OrganisationRecord:
    org = unwrap(value)
    return {"id": org["id"], "kind": org["kind"], "name": org["name"], "region": org["region"]}


def _actor(value: Any) -> ActorRecord:
    actor = unwrap(value)
    org = actor["organisation"]
    return {
        "person_id": actor["person_id"],
        "name": actor["name"],
        "organisation_id": org["id"],
        "organisation_kind": org["kind"],
        "unit": actor["unit"],
        "role": actor["role"],
    }


def _participant_key(participant: JSONObject) -> str:
    # As domain.commands.Participant.key: the organisation, or the role and name of a person —
    # whose name is sealed: then their subject id, as in the reply's sealed key
    # (projections/personal.py gives the views the role:name keys back).
    org = participant.get("organisation")
    if org:
        return str(org["id"])
    subject = sealed_subject(participant["name"])
    return f"{participant['role']}:{subject if subject is not None else participant['name']}"


def _local_day(instant: str) -> str:
    return local_date(datetime.fromisoformat(instant)).isoformat()


# ------------------------------------------------------------------------ deadline bookkeeping


def _add_deadlines(record: Record, deadlines: list[Any], on: str) -> None:
    for value in deadlines:
        d = unwrap(value)
        record["deadlines"][d["key"]] = {
            "set_on": on,  # a dashboard as of an earlier day leaves it out
            "kind": d["kind"],
            "due": d["due"],
            "rule": d["rule"],
            "policy_id": d["policy_id"],
            "policy_version": d["policy_version"],
            "responsible_organisation_id": d.get("responsible_organisation_id"),
            "met_on": None,
            "cancelled_on": None,
        }


def _is_open(deadline: DeadlineRecord) -> bool:
    return deadline["met_on"] is None and deadline["cancelled_on"] is None


def _meet(record: Record, kind: str, on: str) -> None:
    for d in record["deadlines"].values():
        if d["kind"] == kind and _is_open(d):
            d["met_on"] = on


def _cancel_open(record: Record, on: str) -> None:
    for d in record["deadlines"].values():
        if _is_open(d):
            d["cancelled_on"] = on


def _add_party(record: Record, organisation_id: str | None) -> None:
    if organisation_id and organisation_id not in record["parties"]:
        record["parties"].append(organisation_id)


# ------------------------------------------------------------------------ one function per event


def _proposed(e: CaseEvent) -> Record:
    d = e.data
    municipality, region = _org(d["municipality"]), _org(d["region"])
    individual = unwrap(d["individual"])
    record: Record = {
        "case_id": str(e.case_id),
        "stage": "proposed",
        "policy_id": d["policy_id"],
        "policy_version": d["policy_version"],
        "individual": {
            "personal_identity_number": individual["personal_identity_number"],
            "name": individual["name"],
            "guardians": individual["guardians"],
        },
        "proposed_on": e.on,
        "proposed_by": d["proposed_by"],
        "proposer": _actor(d["actor"]),
        "municipality": municipality,
        "region": region,
        # The county the case belongs to: the municipality's (a region's id names it too).
        "county": municipality["region"],
        "need_assessed_by": d["need_assessed_by"],
        "triggers": d["triggers"],
        "presumed_need_groups": d["presumed_need_groups"],
        "plan_type": d["plan_type"],
        "discharge": unwrap(d["discharge"]),
        "parties": [municipality["id"], region["id"]],
        "consent": None,
        "consents": 0,
        "wishes_recorded": False,
        "meeting": None,
        "meetings": 0,
        "first_meeting_on": None,
        "invitations": {},
        "contact_person": None,
        "plan": None,
        "follow_ups": 0,
        "last_follow_up_on": None,
        "plan_copies": 0,
        "closures": {},
        "declined_on": None,
        "closed_on": None,
        "corrections": [],
        "deadlines": {},
        # Set again by ``fold`` after every event, the first one included.
        "version": e.version,
        "updated_at": e.recorded_at,
    }
    _add_deadlines(record, d["deadlines"], e.on)
    return record


def _declined(r: Record, e: CaseEvent) -> None:
    r["stage"] = "declined"
    r["declined_on"] = e.on
    _meet(r, "start", e.on)
    _cancel_open(r, e.on)


def _consent_recorded(r: Record, e: CaseEvent) -> None:
    consent = dict(unwrap(e.data["consent"]))
    _meet(r, "consent_expiry", e.on)
    r["consent"] = {
        "number": consent["number"],
        "givers": consent["givers"],
        "form": consent["form"],
        "valid_from": consent["valid_from"],
        "valid_until": consent["valid_until"],
        "organisation_ids": consent["organisation_ids"],
        "approved_persons": consent["approved_persons"],
        "withdrawn_on": consent["withdrawn_on"],
    }
    r["consents"] += 1
    for org_id in consent["organisation_ids"]:
        _add_party(r, org_id)
    _meet(r, "start", e.on)
    if r["stage"] == "proposed":
        r["stage"] = "active"
    _add_deadlines(r, e.data["deadlines"], e.on)


def _consent_withdrawn(r: Record, e: CaseEvent) -> None:
    consent = r["consent"]
    if consent is None:  # a TypeError, as the quarantine takes a fold's errors (POISON)
        raise TypeError("a consent withdrawn where none is recorded")
    consent["withdrawn_on"] = e.on
    consent["withdrawn_by"] = e.data["withdrawn_by"]
    r["stage"] = "closing"
    _cancel_open(r, e.on)
    _add_deadlines(r, e.data["deadlines"], e.on)


def _wishes_recorded(r: Record, e: CaseEvent) -> None:
    r["wishes_recorded"] = True


def _meeting_convened(r: Record, e: CaseEvent) -> None:
    meeting = unwrap(e.data["meeting"])
    meeting_on = _local_day(meeting["at"])
    r["meeting"] = {
        "number": meeting["number"],
        "at": meeting["at"],
        "on": meeting_on,
        "place": meeting["place"],
        "invited_on": meeting["invited_on"],
    }
    r["meetings"] += 1
    if r["first_meeting_on"] is None:
        r["first_meeting_on"] = meeting_on
    for invitation in meeting["invitations"]:
        participant = invitation["participant"]
        org = participant.get("organisation")
        r["invitations"][_participant_key(participant)] = {
            "role": participant["role"],
            "name": participant["name"],
            "organisation_id": org["id"] if org else None,
            "meeting_number": meeting["number"],
            "reply": None,
            "comment": "",
        }
        _add_party(r, org["id"] if org else None)
    r["contact_person"] = _actor(e.data["actor"])
    if r["stage"] in ("proposed", "active"):
        r["stage"] = "meeting_scheduled"
    _meet(r, "start", e.on)
    _meet(r, "discharge_invitation", e.on)
    _add_deadlines(r, e.data["deadlines"], e.on)
    _meet(r, "invitation_lead_time", e.on)


def _reply_recorded(r: Record, e: CaseEvent) -> None:
    key = e.data["participant_key"]
    subject = sealed_subject(key)
    if subject is None:
        invitation = r["invitations"][key]
    else:  # ReplyRecorded v2: the person's role in clear, their key sealed
        role = e.data["participant_role"]
        invitation = r["invitations"].get(f"{role}:{subject}") or _invited_in_clear(r, role)
    invitation["reply"] = e.data["reply"]
    invitation["comment"] = e.data["comment"]


def _invited_in_clear(r: Record, role: str) -> InvitationRecord:
    """A reply recorded by this release to a meeting convened by an earlier one, whose invitee's
    name (and key) is in clear: the one unanswered invitee in clear of that role. More than one
    cannot be told apart without the sealed name: the event is quarantined (KeyError)."""
    candidates = [i for key, i in r["invitations"].items()
                  if i["role"] == role and key == f"{role}:{i['name']}" and i["reply"] is None]
    if len(candidates) != 1:
        raise KeyError(f"no single unanswered invitee of role {role} for a sealed reply")
    return candidates[0]


def _revision(e: CaseEvent) -> PlanRecord:
    revision = unwrap(e.data["revision"])
    content = revision["content"]  # domain.commands.PlanContent: every field is required
    return {
        "revision": revision["revision"],
        "decided_on": revision["decided_on"],
        "needs": content["needs"],
        "goals": content["goals"],
        "interventions": content["interventions"],
        "overall_responsibility": content["overall_responsibility"],
        "coordination": content["coordination"],
        "follow_up_date": content["follow_up_date"],
    }


def _plan_established(r: Record, e: CaseEvent) -> None:
    plan = r["plan"] = _revision(e)
    r["stage"] = "plan_established"
    _meet(r, "meeting", plan["decided_on"])
    _add_deadlines(r, e.data["deadlines"], e.on)


def _plan_copy_issued(r: Record, e: CaseEvent) -> None:
    r["plan_copies"] += 1


def _follow_up_recorded(r: Record, e: CaseEvent) -> None:
    follow_up = unwrap(e.data["follow_up"])
    r["follow_ups"] += 1
    r["last_follow_up_on"] = follow_up["held_on"]
    _meet(r, "follow_up", follow_up["held_on"])
    _add_deadlines(r, e.data["deadlines"], e.on)


def _plan_revised(r: Record, e: CaseEvent) -> None:
    r["plan"] = _revision(e)


def _closure_recorded(r: Record, e: CaseEvent) -> None:
    closure = unwrap(e.data["closure"])
    if r["stage"] != "closing":
        _cancel_open(r, e.on)
        r["stage"] = "closing"
        _add_deadlines(r, e.data["deadlines"], e.on)
    r["closures"][closure["organisation_id"]] = {
        "reason": closure["reason"],
        "on": closure["on"],
        "by_unit": _actor(e.data["actor"])["unit"],
    }
    deadline = r["deadlines"].get(f"closure:{closure['organisation_id']}")
    if deadline is not None and _is_open(deadline):
        deadline["met_on"] = e.on


def _closed(r: Record, e: CaseEvent) -> None:
    r["stage"] = "closed"
    r["closed_on"] = e.on
    _cancel_open(r, e.on)


def _entry_corrected(r: Record, e: CaseEvent) -> None:
    # As SipCase._entry_corrected: the corrected values replace the recorded ones wherever the
    # record shows them, and recomputed deadlines fall due on their new day. A correction
    # recorded before structured corrections (EntryCorrected version 1) has no changes and no
    # deadlines (the event's upcaster says the same on the write side).
    c = unwrap(e.data["correction"])
    changes: list[CorrectedFieldRecord] = [
        {"field": ch["field"], "old_value": ch["old_value"], "new_value": ch["new_value"]}
        for ch in c.get("changes") or ()
    ]
    deadlines = [unwrap(d) for d in e.data.get("deadlines") or ()]
    r["corrections"].append({
        "version": e.version,
        "corrects_version": c["corrects_version"],
        "corrected_type": c.get("corrected_type"),
        "item": c.get("item"),
        "recorded_at": e.recorded_at,
        "on": e.on,
        "actor": _actor(e.data["actor"]),
        "reason": c["reason"],
        "correction": c["correction"],
        "changes": changes,
        "deadlines": [d["key"] for d in deadlines],
    })
    item = c.get("item")
    if changes and item is not None:
        _correct_values(r, c.get("corrected_type"), item, {ch["field"]: ch for ch in changes})
    for d in deadlines:
        deadline = r["deadlines"].get(d["key"])
        if deadline is None:  # never so on the write side; kept as a new one rather than lost
            _add_deadlines(r, [d], e.on)
        else:
            deadline["due"] = d["due"]


def _correct_values(
    r: Record, corrected_type: str | None, item: int, changes: dict[str, CorrectedFieldRecord]
) -> None:
    """The corrected values where the record shows the corrected item (it shows the current
    meeting, consent and plan, and the day of the last follow-up)."""
    new = {name: ch["new_value"] for name, ch in changes.items()}
    if corrected_type == "MeetingConvened":
        meeting = r["meeting"]
        if meeting is not None and meeting["number"] == item:
            if "meeting_at" in new:
                meeting["at"] = new["meeting_at"]
                meeting["on"] = _local_day(new["meeting_at"])
            if "place" in new:
                meeting["place"] = new["place"]
        if item == 1 and "meeting_at" in new:
            r["first_meeting_on"] = _local_day(new["meeting_at"])
    elif corrected_type == "ConsentRecorded":
        consent = r["consent"]
        if consent is not None and consent["number"] == item:
            if "valid_from" in new:
                consent["valid_from"] = new["valid_from"]
            if "valid_until" in new:
                consent["valid_until"] = new["valid_until"]
    elif corrected_type in ("PlanEstablished", "PlanRevised"):
        plan = r["plan"]
        if plan is not None and plan["revision"] == item and "follow_up_date" in new:
            plan["follow_up_date"] = new["follow_up_date"]
    elif corrected_type == "FollowUpRecorded" and "held_on" in new:
        if item == r["follow_ups"]:
            r["last_follow_up_on"] = new["held_on"]
        # The follow-up deadline it met was met on the day it was held: the corrected day.
        met = r["deadlines"].get(f"follow_up:{item}")
        if met is not None and met["met_on"] == changes["held_on"]["old_value"]:
            met["met_on"] = new["held_on"]


FOLDS: dict[str, Callable[[Record, CaseEvent], None]] = {
    "SipDeclined": _declined,
    "ConsentRecorded": _consent_recorded,
    "ConsentWithdrawn": _consent_withdrawn,
    "WishesRecorded": _wishes_recorded,
    "MeetingConvened": _meeting_convened,
    "ReplyRecorded": _reply_recorded,
    "PlanEstablished": _plan_established,
    "PlanCopyIssued": _plan_copy_issued,
    "FollowUpRecorded": _follow_up_recorded,
    "PlanRevised": _plan_revised,
    "ClosureRecorded": _closure_recorded,
    "SipClosed": _closed,
    "EntryCorrected": _entry_corrected,
    # R34: a hold or an erasure changes no planning fact the record shows; the personal data it
    # holds stays sealed, and reads as the erasure's marker once the keys are destroyed.
    "LegalHoldPlaced": lambda r, e: None,
    "LegalHoldLifted": lambda r, e: None,
    "PersonalDataErased": lambda r, e: None,
}


class UnknownEventType(Exception):
    """An event type this code does not know: the projection stops rather than guess."""


def fold(record: Record | None, event: CaseEvent) -> Record:
    """The record after ``event``; ``record`` is None before the case's first event."""
    if event.type == "SipProposed":
        record = _proposed(event)
    else:
        if record is None:
            raise UnknownEventType(
                f"{event.type} at notification {event.notification_id} for a case "
                f"({event.case_id}) this model has no record of"
            )
        try:
            apply = FOLDS[event.type]
        except KeyError:
            raise UnknownEventType(
                f"no projection for {event.type} (notification {event.notification_id})"
            ) from None
        apply(record, event)
    record["version"] = event.version
    record["updated_at"] = event.recorded_at
    return record
