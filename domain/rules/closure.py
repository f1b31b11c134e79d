"""Documenting closure (R30, R31): each principal of the case, once, for a true reason."""

from __future__ import annotations

from collections.abc import Container

from ..commands import ClosureReason, RecordClosure
from ..consent import Consent
from ..errors import InvalidInput, NotAuthorised, RuleViolation
from ..parties import Organisation


def check_closure(
    cmd: RecordClosure,
    organisation: Organisation,
    principals: tuple[Organisation, Organisation],
    closed_by: Container[str],
    current_consent: Consent | None,
) -> None:
    """``organisation`` may document closure now; ``closed_by`` holds the ids of the principals
    that already have."""
    municipality, region = principals
    if organisation.id not in {p.id for p in principals}:
        raise NotAuthorised(
            "closure is documented by each principal party of the case "
            f"({municipality.id}, {region.id})",
            field="actor.organisation.id",
            rule="R31",
        )
    if organisation.id in closed_by:
        raise RuleViolation(
            f"{organisation.id} has already documented closure", field="actor.organisation.id",
            rule="R31",
        )
    if cmd.reason is ClosureReason.CONSENT_WITHDRAWN and (
        current_consent is None or current_consent.withdrawn_on is None
    ):
        raise InvalidInput(
            "the consent has not been withdrawn", field="reason", rule="R30"
        )
