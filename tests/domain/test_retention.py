"""Retention (R34) in the domain: the policies as data, a case's retention status, legal holds,
and the erasure as a decided act after which nothing more is recorded on the case."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, Mapper, UUIDAsHex

from domain.case import RETENTION_ACTS, SipCase
from domain.case_state import Stage
from domain.clock import STOCKHOLM
from domain.commands import (
    CorrectEntry,
    DeclineSip,
    ErasePersonalData,
    LiftLegalHold,
    PlaceLegalHold,
    RecordClosure,
    RecordWishes,
    Wishes,
)
from domain.context import Context
from domain.errors import InvalidInput, NotAuthorised, RuleViolation
from domain.parties import Actor, Role
from domain.retention import (
    DEFAULT_RETENTION_POLICY,
    ExemptionKind,
    RetentionStart,
    add_years,
    known_retention_policies,
    retention_policy,
    retention_status,
)
from domain.transcodings import register_sip_transcodings
from tests.support import builders as b

COORDINATOR = b.actor()
REGION_COORDINATOR = b.actor(b.REGION, person_id="rut", name="Rut Rask")
AUDITOR = b.actor(person_id="greta", name="Greta Granskare").model_copy(
    update={"role": Role.AUDITOR}
)
ARCHIVIST = b.actor(person_id="arvid", name="Arvid Arkiv", unit="Arkivet").model_copy(
    update={"role": Role.ARCHIVIST}
)
SOCIAL = retention_policy("socialtjanst")


def at(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=STOCKHOLM)


def ctx(actor: Actor, day: date) -> Context:
    return Context(actor=actor, now=at(day), command_id=uuid.uuid4(), occurred_at=None)


def proposed(on: date, born: date = date(1980, 3, 4)) -> SipCase:
    cmd = b.propose()
    cmd = cmd.model_copy(update={"individual": cmd.individual.model_copy(
        update={"personal_identity_number": b.pin_born(born)})})
    return SipCase.propose(cmd, ctx(COORDINATOR, on))


def closed(on: date, born: date = date(1980, 3, 4)) -> SipCase:
    """A case proposed and closed by both principals on ``on``."""
    case = proposed(on, born)
    for actor in (COORDINATOR, REGION_COORDINATOR):
        case.record_closure(RecordClosure(case_id=case.id, reason="goals_met"), ctx(actor, on))
    assert case.stage is Stage.CLOSED
    return case


def erase(case: SipCase, day: date, *, decision: str = "KS 2031/123",
          override_reason: str | None = None, actor: Actor = ARCHIVIST,
          subjects: tuple[str, ...] = ("individual",)) -> None:
    cmd = ErasePersonalData(case_id=case.id, decision=decision, override_reason=override_reason)
    case.erase_personal_data(cmd, ctx(actor, day), subjects)


def hold(case: SipCase, day: date, actor: Actor = AUDITOR) -> None:
    case.place_legal_hold(
        PlaceLegalHold(case_id=case.id, reason="Tillsyn av IVO", reference="IVO 3.5-1/2031"),
        ctx(actor, day),
    )


def refused(error: type[Exception], field: str, run) -> Exception:
    with pytest.raises(error) as caught:
        run()
    assert caught.value.rule == "R34" and caught.value.field == field, caught.value
    return caught.value


# ---------------------------------------------------------------------- the policies


def test_the_policies_are_versioned_data_with_their_legal_references():
    ids = {(p.id, p.version) for p in known_retention_policies()}
    assert {("socialtjanst", 1), ("halso-och-sjukvard", 1), ("atkomstlogg", 1)} <= ids
    assert DEFAULT_RETENTION_POLICY == "socialtjanst"
    assert retention_policy("socialtjanst", 1) is SOCIAL
    assert (SOCIAL.period_years, SOCIAL.starts_at) == (5, RetentionStart.LAST_ENTRY)
    assert "2001:453" in SOCIAL.legal_reference and "2025:400" in SOCIAL.legal_reference
    research = SOCIAL.exemption(ExemptionKind.BORN_ON_RESEARCH_DAY)
    assert research is not None and research.birth_days == (5, 15, 25)
    assert "2001:937" in research.legal_reference
    assert SOCIAL.exemption(ExemptionKind.MUNICIPALITY).municipality_ids == ()
    health = retention_policy("halso-och-sjukvard")
    assert health.period_years == 10 and "2008:355" in health.legal_reference
    log = retention_policy("atkomstlogg")
    assert log.period_years == 5 and log.record_class == "access_log"
    for policy in known_retention_policies():
        assert policy.legal_reference
        assert all(e.legal_reference for e in policy.exemptions)


def test_an_unknown_policy_is_refused_naming_the_field():
    refused(InvalidInput, "policy_id", lambda: retention_policy("nope"))
    refused(InvalidInput, "policy_id", lambda: retention_policy("socialtjanst", 99))


def test_years_count_as_the_law_counts_them():
    assert add_years(date(2024, 2, 29), 5) == date(2029, 2, 28)
    assert add_years(date(2025, 3, 3), 5) == date(2030, 3, 3)
    assert SOCIAL.keep_until(date(2025, 3, 3)) == date(2030, 3, 3)
    assert SOCIAL.due_on(date(2025, 3, 3)) == date(2030, 3, 4)


@pytest.mark.parametrize("as_of", [date(2030, 3, 4), date(2029, 3, 1), date(2029, 2, 28),
                                   date(2031, 1, 1), date(2029, 3, 2)])
def test_the_latest_due_start_is_the_last_day_that_falls_due(as_of: date):
    policy = retention_policy("atkomstlogg")
    latest = policy.latest_due_start(as_of)
    assert policy.due_on(latest) <= as_of < policy.due_on(latest + timedelta(days=1))


# ---------------------------------------------------------------------- the status of a case


def test_a_case_closed_five_years_and_a_day_ago_is_due_exactly_five_years_is_not():
    case = closed(date(2025, 3, 3))
    exactly = retention_status(case, SOCIAL, date(2030, 3, 3))
    assert not exactly.due and exactly.due_on == date(2030, 3, 4)
    assert exactly.reason.startswith("kept until 2030-03-03")
    status = retention_status(case, SOCIAL, date(2030, 3, 4))
    assert status.due and status.exemptions == ()
    assert (status.starts_on, status.start_kind) == (date(2025, 3, 3), RetentionStart.LAST_ENTRY)
    assert (status.policy_id, status.policy_version, status.case_id) == ("socialtjanst", 1, case.id)
    assert status.reason.startswith("due since 2030-03-04: 5 years after the last entry")


def test_an_open_case_is_never_due():
    case = proposed(date(2010, 1, 11))
    status = retention_status(case, SOCIAL, date(2030, 1, 1))
    assert not status.due and status.starts_on is None and status.due_on is None
    assert "open" in status.reason


def test_a_declined_case_is_due_five_years_after_its_last_entry():
    case = proposed(date(2020, 1, 10))
    case.decline(DeclineSip(case_id=case.id), ctx(COORDINATOR, date(2020, 2, 1)))
    assert retention_status(case, SOCIAL, date(2025, 2, 2)).due
    assert not retention_status(case, SOCIAL, date(2025, 2, 1)).due


def test_the_period_runs_from_the_last_entry_not_the_closure():
    case = closed(date(2025, 3, 3))
    case.correct_entry(
        CorrectEntry(case_id=case.id, corrects_version=2, reason="Fel skäl angavs",
                     correction="Skälet var att samordning inte längre behövs"),
        ctx(COORDINATOR, date(2026, 1, 5)),
    )
    assert case.last_entry_on == date(2026, 1, 5) and case.ended_on == date(2025, 3, 3)
    assert not retention_status(case, SOCIAL, date(2030, 3, 4)).due
    assert retention_status(case, SOCIAL, date(2031, 1, 6)).due
    # A policy that counts from the closure would not move.
    by_closure = SOCIAL.model_copy(update={"starts_at": RetentionStart.CLOSURE})
    assert retention_status(case, by_closure, date(2030, 3, 4)).due


@pytest.mark.parametrize("born", [date(1980, 5, 5), date(1980, 5, 15), date(1980, 5, 25)])
def test_people_born_on_a_research_day_are_exempt(born: date):
    case = closed(date(2020, 1, 10), born=born)
    status = retention_status(case, SOCIAL, date(2031, 1, 1))
    assert not status.due and status.exemptions == (ExemptionKind.BORN_ON_RESEARCH_DAY,)
    assert status.reason.startswith("exempt: the individual was born on a research day")


def test_a_coordination_number_counts_its_birth_day_less_sixty():
    case = closed(date(2020, 1, 10))
    pin = "19800575-" + case.individual.personal_identity_number[-4:]  # born on the 15th
    individual = case.individual.model_copy(update={"personal_identity_number": pin})
    case.individual = individual
    assert retention_status(case, SOCIAL, date(2031, 1, 1)).exemptions == (
        ExemptionKind.BORN_ON_RESEARCH_DAY,
    )


def test_the_research_exemption_is_the_social_services_policys_only():
    case = closed(date(2010, 1, 10), born=date(1980, 5, 15))
    assert retention_status(case, retention_policy("halso-och-sjukvard"), date(2021, 1, 1)).due


def test_a_municipality_the_policy_names_is_exempt():
    case = closed(date(2010, 1, 10))
    research = SOCIAL.exemption(ExemptionKind.MUNICIPALITY)
    named = research.model_copy(update={"municipality_ids": (b.KOMMUN.id,)})
    policy = SOCIAL.model_copy(update={"version": 2, "exemptions": (named,)})
    status = retention_status(case, policy, date(2031, 1, 1))
    assert not status.due and status.exemptions == (ExemptionKind.MUNICIPALITY,)
    assert status.policy_version == 2


def test_health_records_are_kept_ten_years():
    case = closed(date(2010, 1, 10))
    health = retention_policy("halso-och-sjukvard")
    assert not retention_status(case, health, date(2020, 1, 10)).due
    assert retention_status(case, health, date(2020, 1, 11)).due


def test_a_held_case_is_not_due_until_the_hold_is_lifted():
    case = closed(date(2020, 1, 10))
    hold(case, date(2024, 6, 1))
    status = retention_status(case, SOCIAL, date(2031, 1, 1))
    assert not status.due and status.exemptions == (ExemptionKind.LEGAL_HOLD,)
    assert "otherwise due since 2025-01-11" in status.reason
    case.lift_legal_hold(LiftLegalHold(case_id=case.id, reason="Tillsynen är klar"),
                         ctx(AUDITOR, date(2026, 1, 1)))
    # Holds are no entries: the period still runs from the closure day.
    assert case.last_entry_on == date(2020, 1, 10)
    assert retention_status(case, SOCIAL, date(2031, 1, 1)).due


def test_an_erased_case_is_not_due_again():
    case = closed(date(2020, 1, 10))
    erase(case, date(2025, 1, 11))
    status = retention_status(case, SOCIAL, date(2031, 1, 1))
    assert not status.due and status.exemptions == (ExemptionKind.ALREADY_ERASED,)
    assert status.reason == "the personal data was erased on 2025-01-11 (decision KS 2031/123)"


def test_an_erased_number_is_no_birth_day():
    case = closed(date(2010, 1, 10), born=date(1980, 5, 15))
    case.individual = case.individual.model_copy(update={
        "personal_identity_number": "uppgifter gallrade 2031-05-02, beslut KS-2031-12"})
    assert retention_status(case, SOCIAL, date(2031, 1, 1)).due


# ---------------------------------------------------------------------- the last entry


def test_every_event_but_the_retention_acts_is_an_entry():
    case = proposed(date(2025, 1, 2))
    assert case.last_entry_on == date(2025, 1, 2)
    case.record_wishes(RecordWishes(case_id=case.id, wishes=Wishes(place="Hemma")),
                       ctx(COORDINATOR, date(2025, 1, 3)))
    assert case.last_entry_on == date(2025, 1, 3)
    hold(case, date(2025, 1, 4))
    assert case.last_entry_on == date(2025, 1, 3)
    case.record_closure(RecordClosure(case_id=case.id, reason="goals_met"),
                        ctx(COORDINATOR, date(2025, 1, 5)))
    assert case.last_entry_on == date(2025, 1, 5)
    assert RETENTION_ACTS == {"LegalHoldPlaced", "LegalHoldLifted", "PersonalDataErased"}


def test_the_last_entry_comes_from_the_days_the_events_happened():
    case = proposed(date(2025, 1, 2))
    yesterday = datetime(2025, 1, 9, 10, tzinfo=UTC)
    case.record_wishes(
        RecordWishes(case_id=case.id, wishes=Wishes(place="Hemma"), occurred_at=yesterday),
        Context(actor=COORDINATOR, now=at(date(2025, 1, 10)), command_id=uuid.uuid4(),
                occurred_at=yesterday),
    )
    assert case.last_entry_on == date(2025, 1, 9)


# ---------------------------------------------------------------------- legal holds


def test_only_an_auditor_places_or_lifts_a_hold():
    case = closed(date(2020, 1, 10))
    refused(NotAuthorised, "actor", lambda: hold(case, date(2024, 1, 1), actor=COORDINATOR))
    refused(NotAuthorised, "actor", lambda: hold(case, date(2024, 1, 1), actor=ARCHIVIST))
    hold(case, date(2024, 1, 1))
    refused(NotAuthorised, "actor", lambda: case.lift_legal_hold(
        LiftLegalHold(case_id=case.id, reason="Klart"), ctx(COORDINATOR, date(2024, 2, 1))))


def test_one_hold_at_a_time_and_none_to_lift_is_refused():
    case = closed(date(2020, 1, 10))
    lift = LiftLegalHold(case_id=case.id, reason="Klart")
    refused(RuleViolation, "case_id",
            lambda: case.lift_legal_hold(lift, ctx(AUDITOR, date(2024, 1, 1))))
    hold(case, date(2024, 1, 1))
    assert case.legal_hold is not None
    assert (case.legal_hold.placed_on, case.legal_hold.reference) == (
        date(2024, 1, 1), "IVO 3.5-1/2031")
    assert case.legal_hold.placed_by == AUDITOR
    refused(RuleViolation, "case_id", lambda: hold(case, date(2024, 1, 2)))
    case.lift_legal_hold(lift, ctx(AUDITOR, date(2024, 2, 1)))
    assert case.legal_hold is None
    hold(case, date(2024, 3, 1))  # a new hold after the lift
    assert case.legal_hold.placed_on == date(2024, 3, 1)


def test_an_open_case_may_be_held():
    case = proposed(date(2025, 1, 2))
    hold(case, date(2025, 1, 3))
    assert case.legal_hold is not None and case.is_open


# ---------------------------------------------------------------------- erasure


def test_an_archivist_erases_a_due_case_and_the_act_is_recorded():
    case = closed(date(2020, 1, 10))
    erase(case, date(2025, 1, 11), subjects=("person:ab", "individual"))
    erased = case.erasure
    assert case.is_erased and erased is not None
    assert (erased.on, erased.decision, erased.policy_id, erased.policy_version) == (
        date(2025, 1, 11), "KS 2031/123", "socialtjanst", 1)
    assert erased.subjects == ("individual", "person:ab") and erased.override_reason is None
    assert erased.erased_by == ARCHIVIST
    [event] = [e for e in case.collect_events() if type(e).__name__ == "PersonalDataErased"]
    assert (event.starts_on, event.due_on, event.exemptions) == (
        date(2020, 1, 10), date(2025, 1, 11), ())


@pytest.mark.parametrize("actor", [COORDINATOR, AUDITOR])
def test_only_an_archivist_erases(actor: Actor):
    case = closed(date(2020, 1, 10))
    refused(NotAuthorised, "actor", lambda: erase(case, date(2025, 2, 1), actor=actor))
    assert not case.is_erased


@pytest.mark.parametrize("decision", ["", "   "])
def test_an_erasure_without_a_decision_is_refused(decision: str):
    case = closed(date(2020, 1, 10))
    refused(InvalidInput, "decision", lambda: erase(case, date(2025, 2, 1), decision=decision))
    assert not case.is_erased and case.version == 4  # proposed, two closures, closed


def test_a_held_case_is_never_erased_not_even_with_an_override():
    case = closed(date(2020, 1, 10))
    hold(case, date(2024, 1, 1))
    error = refused(RuleViolation, "case_id", lambda: erase(case, date(2025, 2, 1)))
    assert "legal hold" in str(error)
    refused(RuleViolation, "case_id",
            lambda: erase(case, date(2025, 2, 1), override_reason="Begäran om radering"))


def test_a_case_not_yet_due_is_erased_only_with_an_override_which_is_recorded():
    case = closed(date(2020, 1, 10))
    error = refused(RuleViolation, "override_reason", lambda: erase(case, date(2025, 1, 10)))
    assert "not due" in str(error) and "kept until 2025-01-10" in str(error)
    refused(InvalidInput, "override_reason",
            lambda: erase(case, date(2025, 1, 10), override_reason="  "))
    erase(case, date(2025, 1, 10), override_reason="Den enskilde har begärt radering")
    assert case.erasure.override_reason == "Den enskilde har begärt radering"


def test_an_exempt_case_is_never_erased_not_even_with_an_override():
    """An override moves the day, never what the law itself keeps (R34: research records)."""
    case = closed(date(2010, 1, 10), born=date(1980, 5, 15))
    refused(RuleViolation, "case_id", lambda: erase(case, date(2025, 1, 10)))
    refused(RuleViolation, "case_id", lambda: erase(
        case, date(2025, 1, 10), override_reason="Forskningsundantaget gäller inte här"))
    assert not case.is_erased
    assert retention_status(case, retention_policy("socialtjanst"), date(2025, 1, 10)
                            ).exemptions == (ExemptionKind.BORN_ON_RESEARCH_DAY,)


def test_an_unknown_policy_is_refused():
    case = closed(date(2020, 1, 10))
    cmd = ErasePersonalData(case_id=case.id, decision="KS 1", policy_id="okand")
    refused(InvalidInput, "policy_id",
            lambda: case.erase_personal_data(cmd, ctx(ARCHIVIST, date(2025, 2, 1))))


def test_an_open_case_erased_with_an_override_is_no_longer_open():
    case = proposed(date(2025, 1, 2))
    assert case.is_open
    erase(case, date(2025, 1, 3), override_reason="Felaktigt upplagt ärende")
    assert case.is_erased and not case.is_open and not case.is_ended


def test_after_erasure_every_command_is_refused_naming_r34():
    case = closed(date(2020, 1, 10))
    erase(case, date(2025, 1, 11))
    version = case.version
    day = date(2025, 2, 1)
    for run in (
        lambda: erase(case, day),
        lambda: hold(case, day),
        lambda: case.lift_legal_hold(LiftLegalHold(case_id=case.id, reason="x"),
                                     ctx(AUDITOR, day)),
        lambda: case.record_closure(RecordClosure(case_id=case.id, reason="goals_met"),
                                    ctx(COORDINATOR, day)),
        lambda: case.correct_entry(
            CorrectEntry(case_id=case.id, corrects_version=2, reason="Fel skäl",
                         correction="Annat skäl"), ctx(COORDINATOR, day)),
        lambda: case.record_wishes(RecordWishes(case_id=case.id, wishes=Wishes(place="Hemma")),
                                   ctx(COORDINATOR, day)),
    ):
        error = refused(RuleViolation, "case_id", run)
        assert "culled" in str(error)
    assert case.version == version


def test_the_guard_holds_for_any_event_whatever_the_command():
    case = proposed(date(2025, 1, 2))
    erase(case, date(2025, 1, 3), override_reason="Felaktigt upplagt ärende")
    # Straight to an event method, past every command's own checks.
    refused(RuleViolation, "case_id", lambda: case._legal_hold_lifted(
        reason="x", **ctx(AUDITOR, date(2025, 1, 4)).event_args()))


# ---------------------------------------------------------------------- stored and replayed


def mapper() -> Mapper:
    transcoder = JSONTranscoder()
    for t in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(t)
    register_sip_transcodings(transcoder)
    return Mapper(transcoder=transcoder)


def test_the_retention_events_round_trip_and_replay_to_the_same_state():
    case = closed(date(2020, 1, 10), born=date(1980, 5, 14))
    hold(case, date(2024, 1, 1))
    case.lift_legal_hold(LiftLegalHold(case_id=case.id, reason="Klart"),
                         ctx(AUDITOR, date(2024, 2, 1)))
    hold(case, date(2024, 3, 1))
    case.lift_legal_hold(LiftLegalHold(case_id=case.id, reason="Klart"),
                         ctx(AUDITOR, date(2024, 4, 1)))
    erase(case, date(2025, 1, 11), override_reason="Begäran", subjects=("individual", "person:x"))
    m = mapper()
    replayed = None
    for e in case.collect_events():
        replayed = m.to_domain_event(m.to_stored_event(e)).mutate(replayed)
    assert replayed is not None and replayed.__dict__ == case.__dict__
    assert replayed.erasure.subjects == ("individual", "person:x")
    assert replayed.last_entry_on == date(2020, 1, 10)


# ---------------------------------------------------------------------- through the ledger


@pytest.fixture
def closed_case(ledger, clock):
    """A case closed by both principals on 2020-01-10, recorded through the ledger."""
    clock.set(at(date(2020, 1, 10)))
    cmd = b.propose()
    cmd = cmd.model_copy(update={"individual": cmd.individual.model_copy(
        update={"personal_identity_number": b.pin_born(date(1980, 3, 4))})})
    case_id = ledger.propose(cmd, COORDINATOR).case_id
    for actor in (COORDINATOR, REGION_COORDINATOR):
        ledger.record_closure(RecordClosure(case_id=case_id, reason="goals_met"), actor)
    return case_id


def test_the_ledger_tells_a_cases_status(ledger, closed_case):
    status = ledger.retention_status(closed_case, date(2025, 1, 11))
    assert status.due and status.policy_id == DEFAULT_RETENTION_POLICY
    assert not ledger.retention_status(closed_case, date(2025, 1, 10)).due
    health = ledger.retention_status(closed_case, date(2025, 1, 11), "halso-och-sjukvard")
    assert not health.due and health.due_on == date(2030, 1, 11)


def test_the_ledger_records_the_erasure_then_destroys_the_keys(ledger, clock, closed_case):
    keys = ledger.keys
    assert keys is not None and keys.has_live_keys(closed_case)
    subjects = sorted(keys.live_subjects(closed_case))
    clock.set(at(date(2025, 1, 11)))
    cmd = ErasePersonalData(case_id=closed_case, decision="KS 2025/7")
    result = ledger.erase_personal_data(cmd, ARCHIVIST)
    assert not result.replayed and result.version == 5
    assert not keys.has_live_keys(closed_case)
    case = ledger.get_case(closed_case)
    assert case.erasure.subjects == tuple(subjects) and "individual" in subjects
    marker = "uppgifter gallrade 2025-01-11, beslut KS 2025/7"
    assert case.individual.name == marker == case.individual.personal_identity_number
    # The same command again: its first result, nothing written.
    before = ledger.recorder.max_notification_id()
    assert ledger.erase_personal_data(cmd, ARCHIVIST).replayed
    assert ledger.recorder.max_notification_id() == before
    # Another erasure of the erased case is refused.
    refused(RuleViolation, "case_id", lambda: ledger.erase_personal_data(
        ErasePersonalData(case_id=closed_case, decision="KS 2025/8"), ARCHIVIST))


def test_an_erasure_interrupted_before_its_keys_are_destroyed_is_finished_by_a_repeat(
    ledger, clock, closed_case, monkeypatch
):
    keys = ledger.keys
    assert keys is not None
    clock.set(at(date(2025, 1, 11)))

    def crash(*_args, **_kwargs):
        raise RuntimeError("the process died between the two steps")

    monkeypatch.setattr(keys, "destroy_case", crash)
    with pytest.raises(RuntimeError):
        ledger.erase_personal_data(ErasePersonalData(case_id=closed_case, decision="KS 1"),
                                   ARCHIVIST)
    monkeypatch.undo()
    assert ledger.get_case(closed_case).is_erased and keys.has_live_keys(closed_case)
    before = ledger.recorder.max_notification_id()
    clock.set(at(date(2025, 2, 1)))
    # A rerun under another command id (and another decision) only finishes what was recorded.
    result = ledger.erase_personal_data(
        ErasePersonalData(case_id=closed_case, decision="KS 2"), ARCHIVIST)
    assert result.replayed and result.version == 5 and result.notification_ids == ()
    assert ledger.recorder.max_notification_id() == before
    assert not keys.has_live_keys(closed_case)
    erasure = keys.erasure_of(closed_case)
    assert (erasure.on, erasure.decision) == (date(2025, 1, 11), "KS 1")


def test_a_refused_erasure_writes_nothing_and_destroys_nothing(ledger, clock, closed_case):
    clock.set(at(date(2025, 1, 10)))
    before = ledger.recorder.max_notification_id()
    for cmd, actor, field in (
        (ErasePersonalData(case_id=closed_case, decision="KS 1"), ARCHIVIST, "override_reason"),
        (ErasePersonalData(case_id=closed_case, decision=" "), ARCHIVIST, "decision"),
        (ErasePersonalData(case_id=closed_case, decision="KS 1", override_reason="x"),
         COORDINATOR, "actor"),
    ):
        with pytest.raises((RuleViolation, InvalidInput)) as caught:
            ledger.erase_personal_data(cmd, actor)
        assert (caught.value.rule, caught.value.field) == ("R34", field)
    assert ledger.recorder.max_notification_id() == before
    assert ledger.keys.has_live_keys(closed_case)


def test_holds_through_the_ledger(ledger, clock, closed_case):
    clock.set(at(date(2024, 6, 1)))
    ledger.place_legal_hold(PlaceLegalHold(case_id=closed_case, reason="Tillsyn"), AUDITOR)
    assert ledger.retention_status(closed_case, date(2031, 1, 1)).exemptions == (
        ExemptionKind.LEGAL_HOLD,)
    clock.set(at(date(2025, 6, 1)))
    refused(RuleViolation, "case_id", lambda: ledger.erase_personal_data(
        ErasePersonalData(case_id=closed_case, decision="KS 1"), ARCHIVIST))
    ledger.lift_legal_hold(LiftLegalHold(case_id=closed_case, reason="Klart"), AUDITOR)
    assert ledger.get_case(closed_case).last_entry_on == date(2020, 1, 10)
    assert ledger.erase_personal_data(
        ErasePersonalData(case_id=closed_case, decision="KS 1"), ARCHIVIST).version == 7


def test_an_open_case_erased_with_an_override_leaves_its_individuals_register(ledger, clock):
    clock.set(at(date(2025, 1, 2)))
    cmd = b.propose()
    cmd = cmd.model_copy(update={"individual": cmd.individual.model_copy(
        update={"personal_identity_number": b.pin_born(date(1980, 3, 4))})})
    case_id = ledger.propose(cmd, COORDINATOR).case_id
    pin = cmd.individual.personal_identity_number
    assert ledger.open_cases_for(pin) == [case_id]
    ledger.erase_personal_data(ErasePersonalData(
        case_id=case_id, decision="KS 2025/9", override_reason="Felaktigt upplagt ärende"),
        ARCHIVIST)
    assert ledger.open_cases_for(pin) == []
    # A new proposal for the person is no second SIP (R09).
    assert ledger.propose(cmd.model_copy(update={"command_id": uuid.uuid4()}), COORDINATOR)
