"""Proposing a SIP (R01–R09, R16, R17): who may propose what, and the deadlines a proposal sets."""

from __future__ import annotations

from datetime import date

from .. import deadlines as dl
from ..clock import local_date
from ..commands import ProposeSip
from ..deadlines import Deadline, DeadlineKind, DeadlinePolicy
from ..errors import InvalidInput, NotAuthorised
from ..identity import age_on, normalise_personal_identity_number
from ..parties import Actor, Organisation, OrganisationKind


def check_proposal(cmd: ProposeSip, actor: Actor, on: date) -> tuple[str, DeadlinePolicy]:
    """The individual's normalised personal identity number and the deadline policy that
    applies, once the proposal keeps the rules; the first rule it breaks is raised."""
    pin = normalise_personal_identity_number(
        cmd.individual.personal_identity_number, field="individual.personal_identity_number"
    )
    for i, guardian in enumerate(cmd.individual.guardians):
        if guardian.personal_identity_number:
            normalise_personal_identity_number(
                guardian.personal_identity_number,
                field=f"individual.guardians[{i}].personal_identity_number",
            )
    if cmd.municipality.kind is not OrganisationKind.KOMMUN:
        raise InvalidInput(
            "the municipal principal must be an organisation of kind 'kommun'",
            field="municipality.kind",
            rule="R02",
        )
    if cmd.region.kind is not OrganisationKind.REGION:
        raise InvalidInput(
            "the regional principal must be an organisation of kind 'region'",
            field="region.kind",
            rule="R02",
        )
    if cmd.need_assessed_by is not None and not cmd.need_assessed_by.is_principal:
        raise InvalidInput(
            "the need is assessed by a principal: kommun or region",
            field="need_assessed_by",
            rule="R04",
        )
    if not cmd.triggers and not cmd.presumed_need_groups:
        raise InvalidInput(
            "say why a SIP is needed (a trigger) or which presumed-need group applies",
            field="triggers",
            rule="R08",
        )
    policy = dl.current_policy(cmd.deadline_policy)
    age = age_on(pin, on)
    if policy.up_to_age is not None and age > policy.up_to_age:
        raise InvalidInput(
            f"policy {policy.id!r} applies to children and young people up to "
            f"{policy.up_to_age} years; the individual is {age}",
            field="deadline_policy",
            rule="R17",
        )
    if cmd.discharge is not None:
        # R05: at discharge the named care contact in outpatient care takes the initiative.
        if actor.person_id != cmd.discharge.named_care_contact_person_id:
            raise NotAuthorised(
                "a discharge-initiated SIP is proposed by the named care contact",
                field="discharge.named_care_contact_person_id",
                rule="R05",
            )
        if actor.organisation.kind is not OrganisationKind.REGION:
            raise NotAuthorised(
                "the named care contact works in the region's outpatient care",
                field="actor.organisation.kind",
                rule="R05",
            )
    return pin, policy


def proposal_deadlines(
    cmd: ProposeSip, policy: DeadlinePolicy, on: date
) -> tuple[Deadline, ...]:
    """The deadlines a proposal made on ``on`` sets (R16, R17, R05)."""
    # The start is owed by the principal that judged the need (R04); at discharge by the
    # region (R05); otherwise by the municipality, which usually receives proposals.
    if cmd.need_assessed_by is not None:
        starter = _principal_for(cmd, cmd.need_assessed_by)
    else:
        starter = cmd.region if cmd.discharge else cmd.municipality
    deadlines = [
        dl.make_deadline(
            policy,
            DeadlineKind.START,
            dl.days_after(on, policy.start_within_days),
            responsible=starter.id,
        )
    ]
    if policy.meeting_within_days is not None:
        deadlines.append(
            dl.make_deadline(
                policy,
                DeadlineKind.MEETING,
                dl.days_after(on, policy.meeting_within_days),
                responsible=cmd.municipality.id,
            )
        )
    if cmd.discharge is not None:
        notice_day = local_date(cmd.discharge.ready_for_discharge_at)
        deadlines.append(
            dl.make_deadline(
                policy,
                DeadlineKind.DISCHARGE_INVITATION,
                dl.days_after(notice_day, policy.discharge_invitation_within_days),
                responsible=cmd.region.id,
            )
        )
    return tuple(deadlines)


def _principal_for(cmd: ProposeSip, kind: OrganisationKind) -> Organisation:
    return cmd.municipality if kind is OrganisationKind.KOMMUN else cmd.region
