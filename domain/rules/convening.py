"""Convening a SIP meeting (R02, R03, R13, R14, R21, R23, R24): who may convene, and whom."""

from __future__ import annotations

from ..commands import Invitation, ParticipantRole
from ..consent import Consent
from ..deadlines import DeadlinePolicy
from ..errors import InvalidInput, NotAuthorised, RuleViolation
from ..parties import Actor, Organisation, OrganisationKind


def may_convene(
    actor: Actor,
    principals: tuple[Organisation, Organisation],
    policy: DeadlinePolicy,
    age: int,
) -> bool:
    """Whether ``actor`` may convene for a case of these principals under ``policy``, the
    individual being ``age`` years old on the day."""
    kind = actor.organisation.kind
    if kind.is_principal:
        # R02/R24: a principal of this case, not any municipality or region.
        return actor.organisation.id in {p.id for p in principals}
    return (
        kind is OrganisationKind.SKOLA
        and policy.school_may_convene
        and policy.up_to_age is not None
        and age <= policy.up_to_age
    )


def check_convener(
    actor: Actor,
    principals: tuple[Organisation, Organisation],
    policy: DeadlinePolicy,
    age: int,
) -> None:
    if may_convene(actor, principals, policy, age):
        return
    municipality, region = principals
    kind = actor.organisation.kind.value
    if actor.organisation.kind.is_principal:
        raise NotAuthorised(
            f"{actor.organisation.id!r} is not a principal of this case "
            f"({municipality.id}, {region.id}); only they may convene",
            field="actor.organisation.id",
            rule="R02",
        )
    raise NotAuthorised(
        f"an organisation of kind {kind!r} may not convene a SIP: only a principal "
        "(kommun or region) may, or school/preschool under Västra Götaland's agreement "
        "for children and young people (R03)",
        field="actor.organisation.kind",
        rule="R02",
    )


def check_invitations(invitations: tuple[Invitation, ...], consent: Consent) -> None:
    """Everyone invited is within the individual's consent, once, with a reason and what is
    expected of them."""
    if not invitations:
        raise InvalidInput("invite at least one participant", field="invitations", rule="R24")
    seen: set[str] = set()
    for i, invitation in enumerate(invitations):
        where = f"invitations[{i}]"
        p = invitation.participant
        if p.role.is_organisation:
            if p.organisation is None:
                raise InvalidInput(
                    "an organisation participant names its organisation",
                    field=f"{where}.participant.organisation",
                    rule="R23",
                )
            if p.organisation.id not in consent.organisation_ids:
                # R13/R14: only organisations within the individual's consent.
                raise RuleViolation(
                    f"organisation {p.organisation.id!r} is not within the individual's "
                    "consent; the individual decides who is invited",
                    field=f"{where}.participant.organisation.id",
                    rule="R14",
                )
        elif p.role is not ParticipantRole.INDIVIDUAL:
            approved = {n.casefold() for n in consent.approved_persons}
            if p.name.casefold() not in approved:
                # The message names the role, never the person (R35).
                raise RuleViolation(
                    f"this {p.role.value} is not among the persons the individual agreed "
                    "to invite",
                    field=f"{where}.participant.name",
                    rule="R14",
                )
        if not invitation.reason.strip():
            raise InvalidInput(
                "each invitation says why the participant is invited",
                field=f"{where}.reason",
                rule="R21",
            )
        if not invitation.expectation.strip():
            raise InvalidInput(
                "each invitation says what is expected of the participant",
                field=f"{where}.expectation",
                rule="R21",
            )
        if p.key in seen:
            # A person's key holds their name: not echoed (R35).
            raise InvalidInput(
                "this participant is invited twice", field=f"{where}.participant"
            )
        seen.add(p.key)
