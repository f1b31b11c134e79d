"""Who may get a copy of the plan (R28, R12/R13). The copy's text is domain/plan_copy.py."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from ..case_state import InvitationState
from ..commands import IssuePlanCopy, ParticipantRole
from ..consent import Consent
from ..errors import RuleViolation


def check_plan_copy_recipient(
    cmd: IssuePlanCopy,
    individual_name: str,
    invitations: Iterable[InvitationState],
    consent: Consent | None,
    on: date,
) -> None:
    """The recipient is the individual, or someone invited to a meeting of the case whom the
    consent valid ``on`` that day (``consent``, or None) lets the plan go to."""
    name = cmd.recipient_name.casefold()
    recipient = None
    if cmd.recipient_role is ParticipantRole.INDIVIDUAL:
        allowed = name == individual_name.casefold()
    else:
        recipient = next(
            (
                s.invitation.participant
                for s in invitations
                if s.invitation.participant.name.casefold() == name
                and s.invitation.participant.role is cmd.recipient_role
            ),
            None,
        )
        allowed = recipient is not None
    if not allowed:
        raise RuleViolation(
            "a copy of the plan goes to the individual and to those at the meeting",
            field="recipient_name",
            rule="R28",
        )
    if recipient is not None:
        # R12/R13: the plan goes to anyone but the individual only while a valid consent
        # lifts confidentiality towards them; not after it is withdrawn or has run out.
        if consent is None:
            within = False
        elif recipient.organisation is not None:
            within = recipient.organisation.id in consent.organisation_ids
        else:
            within = name in {n.casefold() for n in consent.approved_persons}
        if not within:
            raise RuleViolation(
                f"no valid consent on {on.isoformat()} lets the plan go to this "
                "recipient; only the individual may get a copy now",
                field="consent",
                rule="R13",
            )
