"""A case replayed from the log (as it stood at an instant, or at a version) in the shape of the
read side's case record (projections/case_record.py), so the same access decision and views
(projections/access.py) apply to it: ``GET /cases/{id}/as-of`` and the audit export use it."""

from __future__ import annotations

from datetime import date
from typing import Any

from domain.case import SipCase
from domain.clock import local_date

from .case_record import Record


def _actor(actor: Any) -> Record | None:
    if actor is None:
        return None
    return {
        "person_id": actor.person_id, "name": actor.name,
        "organisation_id": actor.organisation.id,
        "organisation_kind": actor.organisation.kind.value,
        "unit": actor.unit, "role": actor.role.value,
    }


def record_of(case: SipCase) -> Record:
    """The aggregate's state in the shape of the read side's case record
    (projections/case_record.py), so the same views apply to a case as of an instant.

    The aggregate does not keep which unit documented a closure, nor the day a deadline was
    set: those are None here."""
    parties = [case.municipality.id, case.region.id]
    for given in case.consents:
        parties.extend(o for o in given.organisation_ids if o not in parties)
    for state in case.invitations.values():
        org = state.invitation.participant.organisation
        if org is not None and org.id not in parties:
            parties.append(org.id)
    meeting = case.current_meeting
    plan = case.current_plan
    consent = case.current_consent
    return {
        "case_id": str(case.id),
        "version": case.version,
        "stage": case.stage.value,
        "policy_id": case.policy_id,
        "policy_version": case.policy_version,
        "individual": case.individual.model_dump(mode="json"),
        "proposed_on": case.proposed_on.isoformat(),
        "proposed_by": case.proposed_by.value,
        "proposer": _actor(case.proposer),
        "municipality": case.municipality.model_dump(mode="json"),
        "region": case.region.model_dump(mode="json"),
        "county": case.municipality.region,
        "need_assessed_by": case.need_assessed_by.value if case.need_assessed_by else None,
        "triggers": [t.value for t in case.triggers],
        "presumed_need_groups": [g.value for g in case.presumed_need_groups],
        "plan_type": case.plan_type.value,
        "discharge": case.discharge.model_dump(mode="json") if case.discharge else None,
        "parties": parties,
        "consent": consent.model_dump(mode="json") if consent else None,
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
        "contact_person": _actor(case.contact_person),
        "plan": None if plan is None else {
            "revision": plan.revision, "decided_on": plan.decided_on.isoformat(),
            **plan.content.model_dump(mode="json"),
        },
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
        "corrections": len(case.corrections),
        "deadlines": {
            key: {
                **s.deadline.model_dump(mode="json"), "set_on": None,
                "met_on": _iso(s.met_on), "cancelled_on": _iso(s.cancelled_on),
            }
            for key, s in case.deadlines.items()
        },
    }


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None
