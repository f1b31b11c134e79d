"""Consent (R10–R14): who gives it, in what form, for how long, and for which organisations."""

from __future__ import annotations

from datetime import date, datetime

from .commands import ConsentForm, ConsentGiver, ConsentGiverRole, RecordConsent
from .errors import InvalidInput, RuleViolation
from .parties import Frozen, Person

ADULT_AGE = 18


class Consent(Frozen):
    number: int
    givers: tuple[ConsentGiver, ...]
    form: ConsentForm
    received_by: str | None = None
    received_at: datetime | None = None
    valid_from: date
    valid_until: date
    organisation_ids: tuple[str, ...]
    approved_persons: tuple[str, ...] = ()
    withdrawn_on: date | None = None

    def is_valid_on(self, day: date) -> bool:
        return valid_on(day, self.valid_from, self.valid_until, self.withdrawn_on)


def valid_on(
    day: date, valid_from: date, valid_until: date, withdrawn_on: date | None = None
) -> bool:
    """Whether a consent lifts confidentiality on ``day`` (R12, R13): within its dates and not
    withdrawn by then. A function of the dates alone, so the read side decides access (R13) by
    the same rule from a record's dates without rebuilding a ``Consent``."""
    withdrawn = withdrawn_on is not None and withdrawn_on <= day
    return not withdrawn and valid_from <= day <= valid_until


def check_consent(
    cmd: RecordConsent, *, age: int, guardians: tuple[Person, ...], today: date
) -> None:
    """Refuse a consent that the rules do not accept; names the field and the rule."""
    if not cmd.givers:
        raise InvalidInput("consent needs at least one giver", field="givers", rule="R10")
    roles = {g.role for g in cmd.givers}
    if age < ADULT_AGE:
        # R10: for a child under 18 the guardians consent, each registered guardian.
        given = {g.name.casefold() for g in cmd.givers if g.role is ConsentGiverRole.GUARDIAN}
        if not given:
            raise RuleViolation(
                "the individual is under 18: the guardians must consent", field="givers", rule="R10"
            )
        # Named by their place in the individual's guardians, never by name (R35).
        missing = [
            f"individual.guardians[{i}]"
            for i, p in enumerate(guardians)
            if p.name.casefold() not in given
        ]
        if missing:
            raise RuleViolation(
                f"every guardian must consent; missing: {', '.join(missing)}",
                field="givers",
                rule="R10",
            )
    elif not roles & {ConsentGiverRole.INDIVIDUAL, ConsentGiverRole.ADMINISTRATOR}:
        # R10: from 18 the person's own consent is required (or their administrator's).
        raise RuleViolation(
            "the individual is 18 or older: their own consent (or an administrator's) is required",
            field="givers",
            rule="R10",
        )
    if cmd.form is ConsentForm.ORAL:
        # R11: oral consent must be documented: who received it and when.
        if not cmd.received_by:
            raise InvalidInput(
                "oral consent must name who received it", field="received_by", rule="R11"
            )
        if cmd.received_at is None:
            raise InvalidInput(
                "oral consent must say when it was received", field="received_at", rule="R11"
            )
    # R12: consent is time-limited.
    if cmd.valid_until < cmd.valid_from:
        raise InvalidInput("valid_until is before valid_from", field="valid_until", rule="R12")
    if cmd.valid_until < today:
        raise InvalidInput("valid_until is in the past", field="valid_until", rule="R12")
    # R13: consent names the organisations that may exchange information.
    if not cmd.organisation_ids:
        raise InvalidInput(
            "consent must name the organisations that may exchange information",
            field="organisation_ids",
            rule="R13",
        )


def consent_from(cmd: RecordConsent, number: int) -> Consent:
    return Consent(
        number=number,
        givers=cmd.givers,
        form=cmd.form,
        received_by=cmd.received_by,
        received_at=cmd.received_at,
        valid_from=cmd.valid_from,
        valid_until=cmd.valid_until,
        organisation_ids=cmd.organisation_ids,
        approved_persons=cmd.approved_persons,
    )
