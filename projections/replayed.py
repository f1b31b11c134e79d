"""A case replayed from the log (as it stood at an instant, or at a version) in the shape of the
read side's case record (projections/case_record.py), so the same access decision and views
(projections/access.py) apply to it: ``GET /cases/{id}/as-of`` and the audit export use it."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from domain.case import SipCase
from domain.case_state import Correction
from domain.clock import local_date
from domain.parties import Actor

from .case_record import (
    ActorRecord,
    ConsentRecord,
    CorrectionRecord,
    DeadlineRecord,
    DischargeRecord,
    IndividualRecord,
    OrganisationRecord,
    PlanRecord,
    Record,
)
from .events import JSONObject

# The record holds the values as the events store them: each part is read from the model's own
# JSON (``model_dump(mode="json")``, as domain/transcodings.py stores it), never re-rendered, so
# a replayed case shows an instant exactly as the read models do.


def _json(model: BaseModel) -> JSONObject:
    return model.model_dump(mode="json")


def _organisation(model: BaseModel) -> OrganisationRecord:
    o = _json(model)
    return {"id": o["id"], "kind": o["kind"], "name": o["name"], "region": o["region"]}


def _individual(model: BaseModel) -> IndividualRecord:
    i = _json(model)
    return {"personal_identity_number": i["personal_identity_number"], "name": i["name"],
            "guardians": i["guardians"]}


def _discharge(model: BaseModel | None) -> DischargeRecord | None:
    if model is None:
        return None
    d = _json(model)
    return {"ready_for_discharge_at": d["ready_for_discharge_at"],
            "named_care_contact_person_id": d["named_care_contact_person_id"]}


def _consent(model: BaseModel | None) -> ConsentRecord | None:
    if model is None:
        return None
    c = _json(model)
    return {
        "number": c["number"], "givers": c["givers"], "form": c["form"],
        "valid_from": c["valid_from"], "valid_until": c["valid_until"],
        "organisation_ids": c["organisation_ids"], "approved_persons": c["approved_persons"],
        "withdrawn_on": c["withdrawn_on"],
    }


def _deadline(model: BaseModel, met_on: date | None, cancelled_on: date | None) -> DeadlineRecord:
    d = _json(model)
    return {
        "kind": d["kind"], "due": d["due"], "rule": d["rule"], "policy_id": d["policy_id"],
        "policy_version": d["policy_version"],
        "responsible_organisation_id": d["responsible_organisation_id"],
        "set_on": None, "met_on": _iso(met_on), "cancelled_on": _iso(cancelled_on),
    }


def _plan(revision: int, decided_on: date, content: BaseModel) -> PlanRecord:
    c = _json(content)
    return {
        "revision": revision, "decided_on": decided_on.isoformat(),
        "needs": c["needs"], "goals": c["goals"], "interventions": c["interventions"],
        "overall_responsibility": c["overall_responsibility"],
        "coordination": c["coordination"], "follow_up_date": c["follow_up_date"],
    }


def _actor(actor: Actor) -> ActorRecord:
    return {
        "person_id": actor.person_id, "name": actor.name,
        "organisation_id": actor.organisation.id,
        "organisation_kind": actor.organisation.kind.value,
        "unit": actor.unit, "role": actor.role.value,
    }


def parties_of(case: SipCase) -> list[str]:
    """The organisations party to the case as recorded, in the case record's order: the
    principals, those within a consent, those invited. A command's access check asks it when
    the plans model does not have the case yet (adapters/http/routes/commands.py)."""
    parties = [case.municipality.id, case.region.id]
    for given in case.consents:
        parties.extend(o for o in given.organisation_ids if o not in parties)
    for state in case.invitations.values():
        org = state.invitation.participant.organisation
        if org is not None and org.id not in parties:
            parties.append(org.id)
    return parties


def record_of(case: SipCase) -> Record:
    """The aggregate's state in the shape of the read side's case record
    (projections/case_record.py), so the same views apply to a case as of an instant.

    The aggregate does not keep which unit documented a closure, nor the day a deadline was
    set: those are None here."""
    parties = parties_of(case)
    meeting = case.current_meeting
    plan = case.current_plan
    consent = case.current_consent
    return {
        "case_id": str(case.id),
        "version": case.version,
        "stage": case.stage.value,
        "policy_id": case.policy_id,
        "policy_version": case.policy_version,
        "individual": _individual(case.individual),
        "proposed_on": case.proposed_on.isoformat(),
        "proposed_by": case.proposed_by.value,
        "proposer": _actor(case.proposer),
        "municipality": _organisation(case.municipality),
        "region": _organisation(case.region),
        "county": case.municipality.region,
        "need_assessed_by": case.need_assessed_by.value if case.need_assessed_by else None,
        "triggers": [t.value for t in case.triggers],
        "presumed_need_groups": [g.value for g in case.presumed_need_groups],
        "plan_type": case.plan_type.value,
        "discharge": _discharge(case.discharge),
        "parties": parties,
        "consent": _consent(consent),
        "consents": len(case.consents),
        "wishes_recorded": case.wishes is not None,
        "meeting": None if meeting is None else {
            "number": meeting.number, "at": meeting.at.isoformat(),
            "on": local_date(meeting.at).isoformat(), "place": meeting.place,
            "invited_on": meeting.invited_on.isoformat(),
        },
        "meetings": len(case.meetings),
        "first_meeting_on": (
            local_date(case.meetings[0].at).isoformat() if case.meetings else None
        ),
        "invitations": {
            key: {
                "role": s.invitation.participant.role.value,
                "name": s.invitation.participant.name,
                "organisation_id": (s.invitation.participant.organisation.id
                                    if s.invitation.participant.organisation else None),
                "meeting_number": s.meeting_number,
                "reply": s.reply.value if s.reply else None,
                "comment": s.comment,
            }
            for key, s in case.invitations.items()
        },
        "contact_person": None if case.contact_person is None else _actor(case.contact_person),
        "plan": None if plan is None else _plan(plan.revision, plan.decided_on, plan.content),
        "follow_ups": len(case.follow_ups),
        "last_follow_up_on": (
            case.follow_ups[-1].held_on.isoformat() if case.follow_ups else None
        ),
        "plan_copies": len(case.plan_copies),
        "closures": {
            org: {"reason": c.reason.value, "on": c.on.isoformat(), "by_unit": None}
            for org, c in case.closures.items()
        },
        "declined_on": _iso(getattr(case, "declined_on", None)),
        "closed_on": _iso(getattr(case, "closed_on", None)),
        "corrections": [_correction(c) for c in case.corrections],
        "deadlines": {
            key: _deadline(s.deadline, s.met_on, s.cancelled_on)
            for key, s in case.deadlines.items()
        },
    }


def _correction(correction: Correction) -> CorrectionRecord:
    """R32: as the read side folds it (projections/case_record.py), from the correction the
    case keeps: when it was recorded is not kept (None), the rest is."""
    c = _json(correction)
    return {
        "version": c["version"],
        "corrects_version": c["corrects_version"],
        "corrected_type": c["corrected_type"],
        "item": c["item"],
        "recorded_at": None,
        "on": c["on"],
        "actor": None if correction.by is None else _actor(correction.by),
        "reason": c["reason"],
        "correction": c["correction"],
        "changes": [
            {"field": ch["field"], "old_value": ch["old_value"], "new_value": ch["new_value"]}
            for ch in c["changes"]
        ],
        "deadlines": c["recomputed_deadlines"],
    }


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None
