"""The read models' queries on a small, fixed set of cases whose dates the test sets.

Six cases, all proposed on Monday 2 March 2026 by Borås (national policy: the start is due five
days later, on 7 March):

A  proposed, nothing more: its start is never met.
B  consent recorded on 20 March as given on 10 March (occurred_at): its start met late.
C  consent 4 March, meeting convened by the region for 16 March (a relative invited), plan
   established there, a copy to the individual, follow-up held 10 June (due 14 June).
D  proposed by the region's named care contact at discharge (notice 2 March: the invitation is
   due 5 March), consent 3 March for the principals only, meeting convened 6 March (late) for 9
   March.
E  consent 3 March valid to 20 March, withdrawn 5 March (the expiry is cancelled, closure is due
   from both principals by 19 March), closure documented by Borås 10 March, never by the region.
F  consent and meeting convened on 2 March, the meeting on 15 April.

The clock runs at 09:00 UTC, so every recording day is the same day in Stockholm.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from psycopg.sql import SQL, Identifier

from domain.commands import (
    Discharge,
    Invitation,
    IssuePlanCopy,
    Participant,
    ParticipantRole,
    RecordClosure,
    RecordFollowUp,
    RecordReply,
    WithdrawConsent,
)
from projections.deadlines import (
    STATES,
    adherence_by_month,
    days_to_first_meeting,
    deadline_counts,
    pending_deadlines,
)
from projections.history import case_as_of, case_history, version_at
from projections.personal import unseal
from projections.plans import CurrentPlans, current_plan, list_cases
from projections.rebuild import rebuild, status
from projections.runner import ALL_MODELS, ReadModelRunner
from tests.support import builders as b
from tests.support.read_models import TABLES, Env, head, schema_env, snapshot

pytestmark = pytest.mark.store

KOMMUN_ACTOR = b.actor()  # Anna at Borås' Socialtjänsten
REGION_ACTOR = b.actor(b.REGION, person_id="rita", name="Rita Region",
                       unit="Psykiatrimottagningen")
RELATIVE = "Lisa Karlsson"


def day(month: int, dom: int, hour: int = 9) -> datetime:
    return datetime(2026, month, dom, hour, tzinfo=UTC)


def d(month: int, dom: int) -> date:
    return date(2026, month, dom)


def consent(case_id: UUID, valid_from: date, valid_until: date, **overrides):
    return b.consent(case_id, valid_from=valid_from, valid_until=valid_until, **overrides)


def build_cases(ledger, clock) -> dict[str, UUID]:
    ids: dict[str, UUID] = {}
    clock.set(day(3, 2))
    for name in "ABCEF":
        ids[name] = ledger.propose(b.propose(age=45), KOMMUN_ACTOR).case_id
    discharge = Discharge(ready_for_discharge_at=day(3, 2, 8), named_care_contact_person_id="rita")
    ids["D"] = ledger.propose(b.propose(age=45, discharge=discharge), REGION_ACTOR).case_id
    ledger.record_consent(consent(ids["F"], d(3, 2), d(9, 2)), KOMMUN_ACTOR)
    ledger.convene(b.convene(ids["F"], meeting_at=day(4, 15)), KOMMUN_ACTOR)

    clock.set(day(3, 3))
    ledger.record_consent(
        consent(ids["D"], d(3, 3), d(9, 3), organisations=(b.KOMMUN.id, b.REGION.id)),
        REGION_ACTOR,
    )
    ledger.record_consent(consent(ids["E"], d(3, 3), d(3, 20)), KOMMUN_ACTOR)

    clock.set(day(3, 4))
    ledger.record_consent(
        consent(ids["C"], d(3, 4), d(9, 4), approved_persons=(RELATIVE,)), KOMMUN_ACTOR
    )
    relative = Invitation(participant=Participant(role=ParticipantRole.RELATIVE, name=RELATIVE),
                          reason="Stöttar Kim hemma", expectation="Berätta hur vardagen ser ut")
    ledger.convene(
        b.convene(ids["C"], meeting_at=day(3, 16), invitations=(b.invitation(b.REGION), relative)),
        REGION_ACTOR,
    )

    clock.set(day(3, 5))
    ledger.withdraw_consent(WithdrawConsent(case_id=ids["E"]), KOMMUN_ACTOR)

    clock.set(day(3, 6))
    ledger.convene(b.convene(ids["D"], meeting_at=day(3, 9)), REGION_ACTOR)

    clock.set(day(3, 10))
    ledger.record_closure(RecordClosure(case_id=ids["E"], reason="consent_withdrawn"),
                          KOMMUN_ACTOR)

    clock.set(day(3, 16))
    ledger.record_reply(RecordReply(case_id=ids["C"], participant_key=f"relative:{RELATIVE}",
                                    reply="accepted"), KOMMUN_ACTOR)
    ledger.establish_plan(b.establish(ids["C"], d(3, 16)), REGION_ACTOR)
    ledger.issue_plan_copy(IssuePlanCopy(case_id=ids["C"], recipient_name="Kim Karlsson",
                                         recipient_role=ParticipantRole.INDIVIDUAL), REGION_ACTOR)

    clock.set(day(3, 20))
    ledger.record_consent(
        consent(ids["B"], d(3, 10), d(9, 10), occurred_at=day(3, 10)), KOMMUN_ACTOR
    )

    clock.set(day(6, 10))
    ledger.record_follow_up(
        RecordFollowUp(case_id=ids["C"], held_on=d(6, 10), what_happened="Boendestödet är igång",
                       next_follow_up_date=d(9, 10)),
        REGION_ACTOR,
    )
    return ids


@pytest.fixture(scope="module")
def world(database_url, session_clock) -> Iterator[tuple[Env, dict[str, UUID]]]:
    """The six cases, projected by a runner; the queries only read."""
    with schema_env(database_url, session_clock) as env:
        try:
            ids = build_cases(env.ledger, session_clock)
        finally:
            session_clock.fixed = None
        ReadModelRunner(env.datastore, batch_size=7).process_available()
        yield env, ids


@pytest.fixture
def curs(world):
    env, _ = world
    with env.datastore.transaction(commit=False) as curs:
        yield curs


@pytest.fixture
def ids(world) -> dict[str, UUID]:
    return world[1]


@pytest.fixture
def schema(world) -> str:
    return world[0].schema


def names_of(ids: dict[str, UUID], rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    by_id = {v: k for k, v in ids.items()}
    return [(by_id[r["case_id"]], r["key"]) for r in rows]


def counts(**states: int) -> dict[str, int]:
    return {state: states.get(state, 0) for state in STATES}


# ------------------------------------------------------------------------ pending deadlines


def test_a_start_deadline_is_due_soon_on_its_day_and_overdue_the_day_after(curs, schema, ids):
    rows = pending_deadlines(curs, schema, as_of=d(3, 7))
    # B's start was met on 10 March: on the 7th it was still pending.
    assert sorted(names_of(ids, rows)) == [("A", "start"), ("B", "start")]
    assert {(r["state"], r["days_overdue"], r["due"]) for r in rows} == {("due_soon", 0, d(3, 7))}
    assert pending_deadlines(curs, schema, as_of=d(3, 7), overdue_only=True) == []

    rows = pending_deadlines(curs, schema, as_of=d(3, 8), overdue_only=True)
    assert sorted(names_of(ids, rows)) == [("A", "start"), ("B", "start")]
    assert {(r["state"], r["days_overdue"]) for r in rows} == {("overdue", 1)}
    assert {r["responsible_organisation_id"] for r in rows} == {b.KOMMUN.id}
    assert {r["responsible_unit"] for r in rows} == {"Socialtjänsten"}
    assert {(r["kind"], r["rule"], r["policy_id"]) for r in rows} == {("start", "R16", "national")}


def test_a_deadline_met_after_the_day_asked_about_is_pending_on_that_day(curs, schema, ids):
    on_the_9th = pending_deadlines(curs, schema, as_of=d(3, 9), overdue_only=True)
    assert sorted(names_of(ids, on_the_9th)) == [("A", "start"), ("B", "start")]
    on_the_12th = pending_deadlines(curs, schema, as_of=d(3, 12), overdue_only=True)
    assert names_of(ids, on_the_12th) == [("A", "start")]
    assert on_the_12th[0]["days_overdue"] == 5


def test_a_deadline_set_after_the_day_asked_about_did_not_exist_on_that_day(curs, schema, ids):
    # E's closure deadlines (due 19 March) were set by the withdrawal on 5 March.
    closure = {"kind": "closure_documentation", "within_days": 30}
    assert pending_deadlines(curs, schema, as_of=d(3, 4), **closure) == []
    on_the_5th = pending_deadlines(curs, schema, as_of=d(3, 5), **closure)
    assert sorted(names_of(ids, on_the_5th)) == [
        ("E", f"closure:{b.KOMMUN.id}"), ("E", f"closure:{b.REGION.id}")
    ]
    assert deadline_counts(curs, schema, as_of=d(3, 4), **closure) == {}


def test_pending_deadlines_filter_and_order(curs, schema, ids):
    # 20 March: A's start and the region's closure of E (due the 19th) are overdue; E's
    # consent expiry was cancelled when the consent was withdrawn.
    rows = pending_deadlines(curs, schema, as_of=d(3, 20), overdue_only=True)
    assert names_of(ids, rows) == [("A", "start"), ("E", "closure:region-vg")]
    assert [r["days_overdue"] for r in rows] == [13, 1]
    region = pending_deadlines(curs, schema, as_of=d(3, 20), overdue_only=True,
                               organisation_id=b.REGION.id)
    assert names_of(ids, region) == [("E", "closure:region-vg")]
    # Nobody at the region has acted in E: its closure has no responsible unit.
    assert region[0]["responsible_unit"] is None
    assert names_of(ids, pending_deadlines(curs, schema, as_of=d(3, 20), overdue_only=True,
                                           unit="Socialtjänsten")) == [("A", "start")]
    assert pending_deadlines(curs, schema, as_of=d(3, 20), kind="discharge_invitation") == []
    assert len(pending_deadlines(curs, schema, as_of=d(3, 20), overdue_only=True, limit=1)) == 1


def test_due_soon_window_and_a_deadline_met_on_the_day_after_it_was_due(curs, schema, ids):
    # D's discharge invitation: due 5 March, met 6 March.
    on_the_5th = pending_deadlines(curs, schema, as_of=d(3, 5), within_days=0)
    assert names_of(ids, on_the_5th) == [("D", "discharge_invitation")]
    assert on_the_5th[0]["state"] == "due_soon"
    assert on_the_5th[0]["responsible_unit"] == "Psykiatrimottagningen"
    assert pending_deadlines(curs, schema, as_of=d(3, 4), within_days=0) == []
    # Three days ahead (the policy's default) from the 2nd reaches the 5th, not the 7th.
    assert names_of(ids, pending_deadlines(curs, schema, as_of=d(3, 2))) == [
        ("D", "discharge_invitation")
    ]
    assert pending_deadlines(curs, schema, as_of=d(3, 6), kind="discharge_invitation") == []
    counts_on_6th = deadline_counts(curs, schema, as_of=d(3, 6), kind="discharge_invitation")
    assert counts_on_6th == {"discharge_invitation": counts(met_late=1)}


# ------------------------------------------------------------------------ counts


def test_deadline_counts_by_kind(curs, schema):
    assert deadline_counts(curs, schema, as_of=d(6, 20), group_by="kind") == {
        "start": counts(overdue=1, met_late=1, met_in_time=4),
        "discharge_invitation": counts(met_late=1),
        "consent_expiry": counts(open=4, cancelled=1),
        "follow_up": counts(met_in_time=1, open=1),
        "closure_documentation": counts(met_in_time=1, overdue=1),
    }


def test_deadline_counts_by_organisation_and_unit(curs, schema):
    assert deadline_counts(curs, schema, as_of=d(6, 20), group_by="organisation") == {
        b.KOMMUN.id: counts(overdue=1, met_late=1, met_in_time=4, open=3, cancelled=1),
        b.REGION.id: counts(overdue=1, met_late=1, met_in_time=2, open=2),
    }
    # The unit: the contact person's where they answer for the deadline, else the proposer's.
    assert deadline_counts(curs, schema, as_of=d(6, 20), group_by="unit") == {
        "Socialtjänsten": counts(overdue=1, met_late=1, met_in_time=4, open=3, cancelled=1),
        "Psykiatrimottagningen": counts(met_late=1, met_in_time=2, open=2),
        "": counts(overdue=1),  # E's closure by the region: no one there has acted
    }
    assert deadline_counts(curs, schema, as_of=d(6, 20), group_by="county",
                           organisation_id=b.REGION.id) == {
        "vastra-gotaland": counts(overdue=1, met_late=1, met_in_time=2, open=2),
    }
    with pytest.raises(ValueError):
        deadline_counts(curs, schema, as_of=d(6, 20), group_by="individual")


def test_deadline_counts_of_settled_deadlines_within_a_window(curs, schema):
    everything = deadline_counts(curs, schema, as_of=d(6, 20), group_by="kind")
    last_month = deadline_counts(curs, schema, as_of=d(6, 20), group_by="kind",
                                 settled_within_days=30)
    settled = ("met_in_time", "met_late", "cancelled")
    # Pending deadlines are counted alike; of the settled, only C's follow-up (held 10 June).
    for kind, states in everything.items():
        pending = {s: n for s, n in states.items() if s not in settled}
        assert {s: n for s, n in last_month.get(kind, {}).items() if s not in settled} == (
            pending if any(pending.values()) else {})
    assert {k: {s: n for s, n in v.items() if s in settled and n}
            for k, v in last_month.items() if any(v[s] for s in settled)} == {
        "follow_up": {"met_in_time": 1}}


def test_deadline_counts_due_soon_window(curs, schema):
    # 17 March: the region's closure of E is due on the 19th, within three days, not within one.
    closure = {"kind": "closure_documentation"}
    assert deadline_counts(curs, schema, as_of=d(3, 17), **closure) == {
        "closure_documentation": counts(due_soon=1, met_in_time=1)}
    assert deadline_counts(curs, schema, as_of=d(3, 17), within_days=1, **closure) == {
        "closure_documentation": counts(open=1, met_in_time=1)}


# ------------------------------------------------------------------------ adherence


def test_adherence_by_month(curs, schema):
    months = adherence_by_month(curs, schema, as_of=d(7, 1), since=d(3, 1))
    # March: six starts (A never, B late, four in time), D's discharge invitation (late), E's two
    # closures (Borås in time, the region never); E's consent expiry (due 20 March) was
    # cancelled before it fell due and is left out. June: C's follow-up, held in time.
    assert months == [
        {"month": "2026-03", "due": 9, "met_in_time": 5, "met_late": 2, "unmet": 2,
         "share_met_in_time": 0.5556},
        {"month": "2026-06", "due": 1, "met_in_time": 1, "met_late": 0, "unmet": 0,
         "share_met_in_time": 1.0},
    ]


def test_adherence_as_of_a_day_counts_what_was_met_later_as_unmet(curs, schema):
    # As of 9 March only what fell due before then: the six starts and D's invitation. B's start,
    # met on the 10th, was unmet then.
    assert adherence_by_month(curs, schema, as_of=d(3, 9), since=d(3, 1)) == [
        {"month": "2026-03", "due": 7, "met_in_time": 4, "met_late": 1, "unmet": 2,
         "share_met_in_time": 0.5714},
    ]
    region = adherence_by_month(curs, schema, as_of=d(7, 1), since=d(3, 1),
                                organisation_id=b.REGION.id)
    assert [(m["month"], m["due"], m["met_in_time"], m["met_late"], m["unmet"],
             m["share_met_in_time"]) for m in region] == [
        ("2026-03", 3, 1, 1, 1, 0.3333), ("2026-06", 1, 1, 0, 0, 1.0)]
    assert adherence_by_month(curs, schema, as_of=d(7, 1), since=d(4, 1), kind="start") == []


# ------------------------------------------------------------------------ days to first meeting


def test_days_to_first_meeting(curs, schema):
    # D: 7 days, C: 14, F: 44.
    assert days_to_first_meeting(curs, schema) == {
        "cases": 3, "median_days": 14, "p90_days": 44,
        "histogram": {"0-7": 1, "8-14": 1, "15-21": 0, "22-30": 0, "31-60": 1, "61-90": 0,
                      ">90": 0},
    }
    assert days_to_first_meeting(curs, schema, municipality_id=b.KOMMUN.id)["cases"] == 3
    assert days_to_first_meeting(curs, schema, county="vastra-gotaland")["cases"] == 3
    none = days_to_first_meeting(curs, schema, since=d(3, 3))
    assert (none["cases"], none["median_days"], sum(none["histogram"].values())) == (0, None, 0)
    assert days_to_first_meeting(curs, schema, county="jonkoping")["cases"] == 0


# ------------------------------------------------------------------------ current plans


def _names(ids: dict[str, UUID], rows: list[dict[str, Any]]) -> set[str]:
    by_id = {v: k for k, v in ids.items()}
    return {by_id[r["case_id"]] for r in rows}


def test_list_cases_by_organisation_unit_and_stage(curs, schema, ids):
    assert _names(ids, list_cases(curs, schema)) == set("ABCDEF")
    assert _names(ids, list_cases(curs, schema, organisation_id=b.REGION.id)) == set("ABCDEF")
    # Försäkringskassan is within every consent but D's.
    assert _names(ids, list_cases(curs, schema, organisation_id=b.FK.id)) == set("BCEF")
    assert _names(ids, list_cases(curs, schema, organisation_id="af")) == set()
    assert _names(ids, list_cases(curs, schema, unit="Psykiatrimottagningen")) == {"C", "D"}
    assert _names(ids, list_cases(curs, schema, unit="Socialtjänsten")) == set("ABCEF")
    stages = {name: list_cases(curs, schema, stage=stage) for name, stage in (
        ("A", "proposed"), ("B", "active"), ("C", "plan_established"), ("E", "closing"))}
    for name, rows in stages.items():
        assert _names(ids, rows) == {name}
    assert _names(ids, list_cases(curs, schema, stage="meeting_scheduled")) == {"D", "F"}
    assert _names(ids, list_cases(curs, schema, stage="meeting_scheduled",
                                  unit="Psykiatrimottagningen")) == {"D"}


def test_list_cases_pages_by_case_id_and_holds_no_personal_data(curs, schema, ids, world):
    everything = list_cases(curs, schema)
    assert [r["case_id"] for r in everything] == sorted(ids.values())
    first = list_cases(curs, schema, limit=4)
    rest = list_cases(curs, schema, limit=4, after=first[-1]["case_id"])
    assert first + rest == everything and len(rest) == 2
    assert set(everything[0]) == {"case_id", "version", "stage", "municipality_id", "region_id",
                                  "county", "parties", "units", "proposed_on", "updated_at"}
    env, _ = world
    for case_id in ids.values():
        pin = env.ledger.get_case(case_id).individual.personal_identity_number
        assert pin not in repr(everything)
    assert "Kim" not in repr(everything)


def test_current_plan_is_the_case_record(world, curs, schema, ids):
    stored = current_plan(curs, schema, ids["C"])
    # The model keeps personal data sealed (projections/personal.py); a read opens it.
    assert RELATIVE not in repr(stored)
    record = unseal(stored, world[0].ledger.keys)
    assert record["stage"] == "plan_established"
    assert (record["plan"]["revision"], record["plan"]["decided_on"]) == (1, "2026-03-16")
    assert record["invitations"][f"relative:{RELATIVE}"]["reply"] == "accepted"
    assert record["contact_person"]["person_id"] == "rita"
    assert (record["follow_ups"], record["last_follow_up_on"], record["plan_copies"]) == (
        1, "2026-06-10", 1)
    assert current_plan(curs, schema, UUID(int=1)) is None


# ------------------------------------------------------------------------ history


def test_case_history_in_order_with_who_and_when(curs, schema, ids):
    history = case_history(curs, schema, ids["C"])
    assert [(h["version"], h["event_type"]) for h in history] == list(enumerate(
        ["SipProposed", "ConsentRecorded", "MeetingConvened", "ReplyRecorded",
         "PlanEstablished", "PlanCopyIssued", "FollowUpRecorded"], start=1))
    assert [h["on_day"] for h in history] == [d(3, 2), d(3, 4), d(3, 4), d(3, 16), d(3, 16),
                                              d(3, 16), d(6, 10)]
    assert [h["notification_id"] for h in history] == sorted(h["notification_id"]
                                                              for h in history)
    assert [h["recorded_at"] for h in history] == sorted(h["recorded_at"] for h in history)
    plan = history[4]
    assert (plan["actor_person_id"], plan["actor_organisation_id"],
            plan["actor_organisation_kind"], plan["actor_unit"], plan["actor_role"]) == (
        "rita", b.REGION.id, "region", "Psykiatrimottagningen", "coordinator")
    assert plan["summary"] == (
        "Plan established (revision 1, decided 2026-03-16): 2 needs, 1 goals, "
        "2 interventions; follow-up by 2026-06-14")
    # The meeting's time as in Stockholm (09:00 UTC is 10:00 there in March).
    assert history[2]["summary"] == "Meeting 1 convened for 2026-03-16 10:00, 2 invited"
    assert history[3]["summary"] == "Reply from relative: accepted"
    assert history[5]["summary"] == "Copy of plan revision 1 issued to the individual"
    assert all(h["occurred_at"] is None for h in history)

    # B's consent was recorded on 20 March as given on the 10th.
    [_, consent_b] = case_history(curs, schema, ids["B"])
    assert consent_b["occurred_at"] == day(3, 10)
    assert consent_b["on_day"] == d(3, 10)
    assert case_history(curs, schema, UUID(int=1)) == []


def test_history_summaries_hold_no_identity_number_or_name(curs, schema, ids, world):
    env, _ = world
    forbidden = {"Kim", "Karlsson", "Lisa", "Maria", "Jonas", "Stöd i boendet", "Bo kvar"}
    for case_id in ids.values():
        pin = env.ledger.get_case(case_id).individual.personal_identity_number
        # Every way of writing it: 12 digits with or without the dash, and 10 digits.
        digits = pin.replace("-", "").replace("+", "")
        forbidden |= {pin, digits, digits[2:], f"{digits[2:8]}-{digits[8:]}"}
    summaries = [h["summary"] for case_id in ids.values()
                 for h in case_history(curs, schema, case_id)]
    assert len(summaries) == 20
    leaks = [(s, f) for s in summaries for f in forbidden if f in s]
    assert not leaks


def test_naive_times_from_a_caller_are_swedish_local_time_in_the_history(env, clock):
    """As in the domain (domain/clock.py): never silently UTC, nor the database's time zone."""
    clock.set(day(6, 20))
    case_id = env.ledger.propose(b.propose(age=45), KOMMUN_ACTOR).case_id
    env.ledger.record_consent(
        consent(case_id, d(6, 10), d(9, 10), occurred_at=datetime(2026, 6, 10, 10, 0)),
        KOMMUN_ACTOR,
    )
    env.ledger.convene(b.convene(case_id, meeting_at=datetime(2026, 6, 30, 14, 0)),
                       KOMMUN_ACTOR)
    ReadModelRunner(env.datastore).process_available()
    with env.datastore.transaction(commit=False) as curs:
        _, consented, convened = case_history(curs, env.schema, case_id)
    # 10:00 in Stockholm in June (summer time) is 08:00 UTC.
    assert consented["occurred_at"] == datetime(2026, 6, 10, 8, 0, tzinfo=UTC)
    assert consented["on_day"] == d(6, 10)
    assert convened["summary"] == "Meeting 1 convened for 2026-06-30 14:00, 1 invited"


# ------------------------------------------------------------------------ the case as of an instant


@pytest.fixture
def env(database_url, clock) -> Iterator[Env]:
    with schema_env(database_url, clock) as env:
        yield env


def test_case_as_of_an_instant_between_events(env, clock):
    clock.set(day(3, 2))
    case_id = env.ledger.propose(b.propose(age=45), KOMMUN_ACTOR).case_id
    time.sleep(0.01)
    clock.set(day(3, 3))
    env.ledger.record_consent(consent(case_id, d(3, 3), d(9, 3)), KOMMUN_ACTOR)
    time.sleep(0.01)
    clock.set(day(3, 4))
    env.ledger.convene(b.convene(case_id, meeting_at=day(3, 20)), KOMMUN_ACTOR)
    ReadModelRunner(env.datastore).process_available()

    with env.datastore.transaction(commit=False) as curs:
        recorded = [h["recorded_at"] for h in case_history(curs, env.schema, case_id)]
        assert len(recorded) == 3 and recorded == sorted(set(recorded))
        # The recording time is the library's event timestamp, as the aggregate has it.
        for version, instant in enumerate(recorded, start=1):
            assert env.ledger.get_case(case_id, version=version).modified_on == instant

        tick = timedelta(microseconds=1)
        assert version_at(curs, env.schema, case_id, recorded[0] - tick) is None
        assert case_as_of(env.ledger, curs, env.schema, case_id, recorded[0] - tick) is None
        expected = [
            (recorded[0], 1, "proposed"),
            (recorded[0] + (recorded[1] - recorded[0]) / 2, 1, "proposed"),
            (recorded[1] - tick, 1, "proposed"),
            (recorded[1], 2, "active"),
            (recorded[2] - tick, 2, "active"),
            (recorded[2], 3, "meeting_scheduled"),
            (recorded[2] + timedelta(days=365), 3, "meeting_scheduled"),
        ]
        for instant, version, stage in expected:
            case = case_as_of(env.ledger, curs, env.schema, case_id, instant)
            assert (case.id, case.version, case.stage.value) == (case_id, version, stage), instant
        assert case_as_of(env.ledger, curs, env.schema, UUID(int=1), recorded[2]) is None


# ------------------------------------------------------------------------ rebuild and status


def _status(env: Env) -> dict[str, Any]:
    return {s.name: s for s in status(env.datastore)}


def _table_names(env: Env) -> tuple[set[str], set[str]]:
    with env.datastore.transaction(commit=False) as curs:
        curs.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (env.schema,))
        tables = {r["tablename"] for r in curs.fetchall()}
        curs.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s", (env.schema,))
        indexes = {r["indexname"] for r in curs.fetchall()}
    return tables, indexes


def test_rebuild_swaps_in_new_tables_and_status_reports_no_lag(env, clock):
    ids = build_cases(env.ledger, clock)
    before_anything = _status(env)
    assert {s.position for s in before_anything.values()} == {0}
    assert all(s.lag == head(env.datastore) and s.built_version is None
               for s in before_anything.values())

    live = ReadModelRunner(env.datastore, batch_size=5)
    live.process_available(until=10)
    # More is recorded than the models have seen.
    lagging = _status(env)
    last = head(env.datastore)
    assert {(s.position, s.lag) for s in lagging.values()} == {(10, last - 10)}
    assert all(s.oldest_unprojected_at is not None for s in lagging.values())
    assert all(s.built_version == s.schema_version and not s.needs_rebuild
               for s in lagging.values())

    # An interrupted rebuild of the plans left its tables and its position behind.
    ReadModelRunner(env.datastore, [CurrentPlans(env.schema).beside()]).process_available(until=4)
    assert _status(env)["plans"].rebuilding_at == 4
    with env.datastore.transaction(commit=False) as curs:
        curs.execute(SQL("SELECT built_at FROM {}.rm_models WHERE name = 'plans'").format(
            Identifier(env.schema)))
        built_before = curs.fetchone()["built_at"]

    progress: list[tuple[int, int]] = []
    assert rebuild(env.datastore, CurrentPlans, batch_size=4,
                   on_progress=lambda p, h: progress.append((p, h))) == last
    assert progress[-1] == (last, last)
    assert [p for p, _ in progress] == sorted(p for p, _ in progress)
    plans = _status(env)["plans"]
    assert (plans.position, plans.head, plans.lag, plans.rebuilding_at) == (last, last, 0, None)
    assert plans.oldest_unprojected_at is None
    assert plans.built_at > built_before
    assert _status(env)["deadlines"].lag == last - 10  # the others have not moved

    for model in ALL_MODELS:
        if model is not CurrentPlans:
            assert rebuild(env.datastore, model, batch_size=3) == last
    for s in status(env.datastore):
        assert (s.position, s.head, s.lag, s.rebuilding_at) == (last, last, 0, None), s
        assert s.oldest_unprojected_at is None and s.built_version == s.schema_version

    # Only the live table set is left, under the live names, its indexes too.
    tables, indexes = _table_names(env)
    assert set(TABLES) <= tables
    assert not [t for t in tables if "__" in t]
    assert not [i for i in indexes if "__" in i]
    assert {"rm_plans_parties", "rm_plans_units", "rm_deadlines_pending_org"} <= indexes

    # The live runner goes on over the swapped-in tables from where the rebuild stood.
    live.process_available()
    assert set(live.positions.values()) == {last}
    clock.set(day(6, 11))
    result = env.ledger.record_closure(RecordClosure(case_id=ids["E"], reason="consent_withdrawn"),
                                       REGION_ACTOR)
    live.process_available()
    with env.datastore.transaction(commit=False) as curs:
        assert _names(ids, list_cases(curs, env.schema, stage="closed")) == {"E"}
    # Up to the log's head: the closure's own event and the individual's register's after it.
    assert result.last_notification_id is not None
    assert {s.position for s in status(env.datastore)} == {head(env.datastore)}
    assert head(env.datastore) >= result.last_notification_id

    # And the swapped-in rows are those of a model built once from the whole log.
    fresh = ReadModelRunner(env.datastore, [cls(env.schema, "__check") for cls in ALL_MODELS])
    fresh.process_available()
    assert snapshot(env.datastore, "__check") == snapshot(env.datastore)


def test_rebuild_while_the_live_runner_runs_and_commands_arrive(env, clock):
    clock.set(day(3, 2))
    live = ReadModelRunner(env.datastore, batch_size=3, poll_interval=0.05).start()
    case_ids = []
    try:
        for _ in range(5):
            case_ids.append(env.ledger.propose(b.propose(age=45), KOMMUN_ACTOR).case_id)

        def write() -> None:
            for case_id in case_ids:
                env.ledger.record_consent(consent(case_id, d(3, 2), d(9, 2)), KOMMUN_ACTOR)
                env.ledger.convene(b.convene(case_id, meeting_at=day(3, 9)), KOMMUN_ACTOR)

        writer = threading.Thread(target=write)
        writer.start()
        for model in ALL_MODELS:
            rebuild(env.datastore, model, batch_size=2)
        writer.join()
        last = head(env.datastore)
        assert live.wait_for(last, timeout=10)
    finally:
        live.stop()
    assert {s.lag for s in status(env.datastore)} == {0}
    fresh = ReadModelRunner(env.datastore, [cls(env.schema, "__check") for cls in ALL_MODELS])
    fresh.process_available()
    rows = snapshot(env.datastore)
    assert rows == snapshot(env.datastore, "__check")
    assert {r["stage"] for r in rows["rm_case_plans"]} == {"meeting_scheduled"}


def test_a_model_built_by_older_code_is_rebuilt_before_it_is_fed(env, clock):
    build_cases(env.ledger, clock)
    ReadModelRunner(env.datastore).process_available()
    expected = snapshot(env.datastore)
    # Pretend the dashboard's tables come from code before `pending` existed.
    with env.datastore.transaction(commit=True) as curs:
        curs.execute(SQL("ALTER TABLE {}.rm_deadlines DROP COLUMN pending").format(
            Identifier(env.schema)))
        curs.execute(SQL("UPDATE {}.rm_models SET schema_version = 0 WHERE name = 'deadlines'")
                     .format(Identifier(env.schema)))
    assert _status(env)["deadlines"].needs_rebuild

    runner = ReadModelRunner(env.datastore)
    runner.setup()  # rebuilds the dashboard beside the old tables and swaps it in
    assert not _status(env)["deadlines"].needs_rebuild
    assert snapshot(env.datastore) == expected
    clock.set(day(7, 1))
    env.ledger.propose(b.propose(age=30), KOMMUN_ACTOR)
    runner.process_available()  # fed as usual afterwards
    assert {s.lag for s in _status(env).values()} == {0}
