"""Bad input on the real PostgreSQL: refused with the field (and rule) named, and nothing written.

"Nothing written" is checked on the whole log: the highest notification id is the same before and
after the refused command, and the case has as many events as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from psycopg.sql import SQL, Identifier
from pydantic import ValidationError

from adapters.store import Store
from domain.clock import local_date
from domain.commands import (
    ClosureReason,
    Individual,
    ProposeSip,
    RecordClosure,
    RecordWishes,
    Wishes,
)
from domain.errors import CaseClosed, InvalidInput, NotAuthorised, SipError
from domain.identity import check_digit_for
from domain.ledger import SipLedger
from domain.parties import Actor
from tests.support.builders import (
    FK,
    KOMMUN,
    REGION,
    actor,
    consent,
    convene,
    establish,
    invitation,
    propose,
)

pytestmark = pytest.mark.store

COORDINATOR = actor(KOMMUN)
PIN_FIELD = "individual.personal_identity_number"


def events_of(store: Store, case_id: UUID) -> int:
    with store.connect() as conn:
        row = conn.execute(
            SQL("SELECT count(*) FROM {0}.{1} WHERE originator_id = %s").format(
                Identifier(store.schema), Identifier("sipledger_events")
            ),
            (case_id,),
        ).fetchone()
    assert row is not None
    return int(row[0])


@contextmanager
def nothing_written(ledger: SipLedger) -> Iterator[None]:
    before = ledger.recorder.max_notification_id()
    yield
    assert ledger.recorder.max_notification_id() == before, "a refused command wrote events"


def refused(
    ledger: SipLedger,
    call: Callable[[], Any],
    error: type[SipError],
    *,
    field: str,
    rule: str | None,
) -> SipError:
    with nothing_written(ledger), pytest.raises(error) as caught:
        call()
    assert caught.value.field == field
    assert caught.value.rule == rule
    assert field in str(caught.value)
    if rule:
        assert str(caught.value).startswith(f"[{rule}]")
    return caught.value


def convened_case(ledger: SipLedger, by: Actor = COORDINATOR) -> UUID:
    case_id = ledger.propose(propose(), by).case_id
    ledger.record_consent(consent(case_id), by)
    ledger.convene(convene(case_id), by)
    return case_id


# ---------------------------------------------------------------------------- identity numbers


def _with_pin(pin: str) -> ProposeSip:
    return propose(individual=Individual(personal_identity_number=pin, name="Kim Karlsson"))


def _valid_pin(ymd: str, serial: str) -> str:
    return f"{ymd}-{serial}{check_digit_for(ymd[2:] + serial)}"


@pytest.mark.parametrize(
    ("pin", "what"),
    [
        ("19850412-123", "too few digits"),
        ("8504121234", "ten-digit form, century unknown"),
        ("1985-04-12-1234", "dashes in the date"),
        ("19850412-12X4", "a letter"),
        ("", "empty"),
    ],
)
def test_a_badly_formatted_personal_identity_number_is_refused(
    ledger: SipLedger, pin: str, what: str
) -> None:
    error = refused(
        ledger, lambda: ledger.propose(_with_pin(pin), COORDINATOR), InvalidInput,
        field=PIN_FIELD, rule=None,
    )
    assert "YYYYMMDD-NNNC" in error.message


@pytest.mark.parametrize(
    "ymd",
    ["19850230", "19851301", "19850015", "20230229", "19850192"],  # 92 - 60 = 32: no such day
)
def test_a_personal_identity_number_with_an_impossible_date_is_refused(
    ledger: SipLedger, ymd: str
) -> None:
    pin = _valid_pin(ymd, "123")  # the check digit is right; the date is not
    error = refused(
        ledger, lambda: ledger.propose(_with_pin(pin), COORDINATOR), InvalidInput,
        field=PIN_FIELD, rule=None,
    )
    assert "date" in error.message


def test_a_personal_identity_number_with_a_wrong_check_digit_is_refused(ledger: SipLedger) -> None:
    good = _valid_pin("19850412", "123")
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    error = refused(
        ledger, lambda: ledger.propose(_with_pin(bad), COORDINATOR), InvalidInput,
        field=PIN_FIELD, rule=None,
    )
    assert "check digit" in error.message
    # The same number with the right digit is accepted: the refusal was about the digit alone.
    assert ledger.propose(_with_pin(good), COORDINATOR).version == 1


def test_a_guardians_bad_personal_identity_number_names_the_guardian(ledger: SipLedger) -> None:
    good = _valid_pin("19800101", "456")
    wrong_digit = good[:-1] + str((int(good[-1]) + 5) % 10)
    command = propose(
        age=12,
        individual=Individual(
            personal_identity_number=_valid_pin("20140412", "321"),
            name="Kim Karlsson",
            guardians=({"name": "Eva Karlsson", "personal_identity_number": wrong_digit},),
        ),
    )
    refused(
        ledger, lambda: ledger.propose(command, COORDINATOR), InvalidInput,
        field="individual.guardians[0].personal_identity_number", rule=None,
    )


# ---------------------------------------------------------------------------- shape (pydantic)


def test_an_unknown_organisation_kind_is_refused_naming_the_field(ledger: SipLedger) -> None:
    payload = propose().model_dump(mode="json")
    payload["municipality"]["kind"] = "landsting"
    with nothing_written(ledger), pytest.raises(ValidationError) as caught:
        ProposeSip.model_validate(payload)
    errors = caught.value.errors()
    assert [e["loc"] for e in errors] == [("municipality", "kind")]
    assert errors[0]["type"] == "enum"
    assert "landsting" in str(caught.value)


def test_an_actor_of_an_unknown_organisation_kind_is_refused(ledger: SipLedger) -> None:
    payload = COORDINATOR.model_dump(mode="json")
    payload["organisation"]["kind"] = "sjukhus"
    with nothing_written(ledger), pytest.raises(ValidationError) as caught:
        Actor.model_validate(payload)
    assert [e["loc"] for e in caught.value.errors()] == [("organisation", "kind")]


# ---------------------------------------------------------------------------- rules


def test_a_follow_up_date_before_the_meeting_is_refused_r19(
    ledger: SipLedger, store: Store
) -> None:
    case_id = convened_case(ledger)
    meeting_on = local_date(ledger.get_case(case_id).current_meeting.at)  # type: ignore[union-attr]
    count = events_of(store, case_id)
    for follow_up in (meeting_on - timedelta(days=1), meeting_on):
        command = establish(case_id, meeting_on, follow_up_date=follow_up)
        refused(
            ledger, lambda c=command: ledger.establish_plan(c, COORDINATOR), InvalidInput,
            field="plan.follow_up_date", rule="R19",
        )
    assert events_of(store, case_id) == count
    # The same plan with a later follow-up date is accepted.
    assert ledger.establish_plan(establish(case_id, meeting_on), COORDINATOR).version == count + 1


def test_consent_valid_until_in_the_past_is_refused_r12(ledger: SipLedger, store: Store) -> None:
    case_id = ledger.propose(propose(), COORDINATOR).case_id
    today = date.today()
    command = consent(
        case_id, valid_from=today - timedelta(days=60), valid_until=today - timedelta(days=2)
    )
    refused(
        ledger, lambda: ledger.record_consent(command, COORDINATOR), InvalidInput,
        field="valid_until", rule="R12",
    )
    assert events_of(store, case_id) == 1
    assert ledger.get_case(case_id).consents == []


def test_overall_responsibility_for_a_non_principal_is_refused_r26(
    ledger: SipLedger, store: Store
) -> None:
    case_id = convened_case(ledger)
    meeting_on = local_date(ledger.get_case(case_id).current_meeting.at)  # type: ignore[union-attr]
    count = events_of(store, case_id)
    for kind in ("skola", "forsakringskassan", "other"):
        command = establish(case_id, meeting_on, overall_responsibility=kind)
        refused(
            ledger, lambda c=command: ledger.establish_plan(c, COORDINATOR), InvalidInput,
            field="plan.overall_responsibility", rule="R26",
        )
    assert events_of(store, case_id) == count
    assert ledger.get_case(case_id).current_plan is None


def test_a_command_on_a_closed_case_is_refused_r31(ledger: SipLedger, store: Store) -> None:
    case_id = ledger.propose(propose(), COORDINATOR).case_id
    ledger.record_consent(consent(case_id), COORDINATOR)
    for org in (KOMMUN, REGION):
        ledger.record_closure(
            RecordClosure(case_id=case_id, reason=ClosureReason.GOALS_MET), actor(org)
        )
    assert ledger.get_case(case_id).is_ended
    count = events_of(store, case_id)
    attempts: list[Callable[[], Any]] = [
        lambda: ledger.record_wishes(
            RecordWishes(case_id=case_id, wishes=Wishes(place="hemma")), COORDINATOR
        ),
        lambda: ledger.record_consent(consent(case_id), COORDINATOR),
        lambda: ledger.convene(convene(case_id), COORDINATOR),
        lambda: ledger.record_closure(
            RecordClosure(case_id=case_id, reason=ClosureReason.GOALS_MET), actor(REGION)
        ),
    ]
    for attempt in attempts:
        refused(ledger, attempt, CaseClosed, field="case_id", rule="R31")
    assert events_of(store, case_id) == count


def test_forsakringskassan_may_not_convene_r02(ledger: SipLedger, store: Store) -> None:
    case_id = ledger.propose(propose(), COORDINATOR).case_id
    ledger.record_consent(consent(case_id), COORDINATOR)
    count = events_of(store, case_id)
    handler = actor(FK, person_id="fredrik", name="Fredrik Handläggare")
    command = convene(case_id, invitations=(invitation(REGION),))
    error = refused(
        ledger, lambda: ledger.convene(command, handler), NotAuthorised,
        field="actor.organisation.kind", rule="R02",
    )
    assert "forsakringskassan" in error.message
    assert events_of(store, case_id) == count
    # A principal may convene the same meeting.
    assert ledger.convene(command.model_copy(update={"command_id": uuid4()}), COORDINATOR)


def test_an_action_dated_in_the_future_is_refused(ledger: SipLedger) -> None:
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    refused(
        ledger,
        lambda: ledger.propose(propose(occurred_at=tomorrow), COORDINATOR),
        InvalidInput,
        field="occurred_at",
        rule="R32",
    )
    # A few seconds ahead (a caller's clock running fast) is still accepted.
    soon = datetime.now(UTC) + timedelta(seconds=30)
    assert ledger.propose(propose(occurred_at=soon), COORDINATOR).version == 1
