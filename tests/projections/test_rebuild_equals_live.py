"""The read models are a function of the log: however they are fed, they hold the same rows.

Random valid command sequences on several cases, interleaved, go through the real SipLedger on a
real PostgreSQL (a schema of its own per example). The same log then feeds the read models three
ways, and every row of rm_case_plans, rm_deadline_cases, rm_deadlines and rm_case_history must
come out identical:

(a) live: a runner applies after every command (in step, or running in its thread and waited
    for), with a small batch size;
(b) rebuilt: ``rebuild()`` of every model from the start of the log, swapped in;
(c) interrupted: runners over a table set of their own (suffix ``__resume``), created afresh at
    random points, each feeding a random subset of the models up to a random position with a
    random batch size, and one last runner finishing the job.

And (d): for every case the read side agrees with the aggregate — its deadlines (due, kind, met,
cancelled, responsible), its stage and version, and what the case record says about consent,
meetings, plan, follow-ups, copies, closures and corrections — so the fold
(projections/case_record.py) cannot drift from domain/case.py unnoticed.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from domain.case import SipCase
from domain.clock import local_date
from domain.commands import (
    CorrectEntry,
    Discharge,
    FieldChange,
    IssuePlanCopy,
    ParticipantRole,
    RecordFollowUp,
)
from domain.errors import SipError
from domain.personal import Sealer
from domain.rules.correction import PERSONAL_CORRECTABLE
from projections.personal import unseal
from projections.rebuild import rebuild, status
from projections.runner import ALL_MODELS, ReadModelRunner
from tests.domain.test_case_properties import ACTORS, HEAD_STARTS, START, command
from tests.support import builders as b
from tests.support.read_models import TABLES, Env, head, schema_env, snapshot

pytestmark = pytest.mark.store

RESUME = "__resume"
# Each example costs about half a second; SIP_RM_EXAMPLES=200 for a longer search.
MAX_EXAMPLES = int(os.environ.get("SIP_RM_EXAMPLES", "20"))

# The domain property test's steps, and two it has not: a copy of the plan, a revised plan.
STEP_NAMES = [
    "consent", "short_consent", "wishes", "convene", "reply", "plan", "follow_up", "withdraw",
    "decline", "close_goals", "close_withdrawn", "correct", "copy_individual", "copy_region",
    "revise", "fix_meeting", "fix_consent", "fix_plan", "fix_follow_up",
]
STEPS = st.lists(
    st.tuples(
        st.sampled_from(STEP_NAMES),
        st.sampled_from(sorted(ACTORS)),
        st.sampled_from([0, 0, 1, 2, 5, 9, 20]),  # days that pass before the step
    ),
    max_size=10,
)
CASES = st.fixed_dictionaries({
    "age": st.sampled_from([12, 19, 45, 85]),
    "policy": st.sampled_from(["national", "vgr-barn-unga", "jonkoping"]),
    "discharge": st.booleans(),
    "head": HEAD_STARTS,
    "tail": STEPS,
})


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Case:
    """One case of an example: how it is proposed, and its steps still to come."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.age = spec["age"]
        self.guardians = ("Maria Lind", "Jonas Lind") if self.age < 18 else ()
        # Västra Götaland's policy for children and young people applies up to 20 (R17).
        self.policy = spec["policy"] if spec["policy"] != "vgr-barn-unga" or self.age <= 20 \
            else "national"
        self.discharge = spec["discharge"]
        self.steps = [(name, "kommun", 0) for name in spec["head"]] + spec["tail"]
        self.id = None


def _propose(env: Env, case: Case, now: datetime):
    overrides: dict[str, Any] = {"deadline_policy": case.policy}
    actor = ACTORS["kommun"]
    if case.discharge:
        # R05: the named care contact in the region's outpatient care proposes at discharge.
        actor = ACTORS["region"]
        overrides["discharge"] = Discharge(ready_for_discharge_at=now - timedelta(hours=20),
                                           named_care_contact_person_id=actor.person_id)
    return env.ledger.propose(b.propose(age=case.age, guardians=case.guardians, **overrides),
                              actor)


def _step(env: Env, case: Case, name: str, who: str, now: datetime):
    aggregate = env.ledger.get_case(case.id)
    today = now.date()
    if name in ("copy_individual", "copy_region"):
        recipient = (aggregate.individual.name, ParticipantRole.INDIVIDUAL) \
            if name == "copy_individual" else (b.REGION.name, ParticipantRole.REGION)
        method, cmd = SipCase.issue_plan_copy, IssuePlanCopy(
            case_id=case.id, recipient_name=recipient[0], recipient_role=recipient[1])
    elif name == "revise":
        next_date = today + timedelta(days=60)
        method, cmd = SipCase.record_follow_up, RecordFollowUp(
            case_id=case.id, held_on=today, what_happened="Boendet fungerar inte",
            next_follow_up_date=next_date,
            revised_plan=b.plan_content(today, follow_up_date=next_date),
        )
    elif name.startswith("fix_"):
        method, cmd = SipCase.correct_entry, _field_correction(env, aggregate, name)
    else:
        method, cmd = command(name, aggregate, now)
        if case.guardians and name in ("consent", "short_consent"):
            givers = tuple(("guardian", g) for g in case.guardians)
            cmd = cmd.model_copy(update={"givers": b.consent(case.id, givers=givers).givers})
    return getattr(env.ledger, method.__name__)(cmd, ACTORS[who])


# R32: a structured correction of the latest entry of a type, and the changes it makes.
_FIXES = {
    "fix_meeting": ("MeetingConvened", lambda c: (
        ("meeting_at", (c.current_meeting.at + timedelta(days=2)).isoformat()),
        ("place", "Rum 5"))),
    "fix_consent": ("ConsentRecorded", lambda c: (
        ("valid_until", (c.current_consent.valid_until - timedelta(days=3)).isoformat()),)),
    "fix_plan": ("PlanEstablished", lambda c: (
        ("follow_up_date", (c.current_plan.content.follow_up_date
                            + timedelta(days=7)).isoformat()),)),
    "fix_follow_up": ("FollowUpRecorded", lambda c: (
        ("held_on", (c.follow_ups[-1].held_on - timedelta(days=1)).isoformat()),
        ("next_follow_up_date", (c.follow_ups[-1].next_follow_up_date
                                 + timedelta(days=5)).isoformat()))),
}


def _field_correction(env: Env, aggregate: SipCase, name: str) -> CorrectEntry:
    entry_type, changes = _FIXES[name]
    versions = [e.originator_version for e in env.ledger.events.get(aggregate.id)
                if type(e).__name__ == entry_type]
    if not versions:  # nothing of the kind to correct: a field the proposal lacks, refused
        return CorrectEntry(case_id=aggregate.id, corrects_version=1, reason="Fel uppgift",
                            changes=(FieldChange(field="place", new_value="Rum 5"),))
    return CorrectEntry(
        case_id=aggregate.id, corrects_version=versions[-1], reason="Fel uppgift angavs",
        changes=tuple(FieldChange(field=f, new_value=v) for f, v in changes(aggregate)),
    )


def _interrupted_run(env: Env, data: st.DataObject) -> None:
    """A runner created afresh for some of the models, stopped at a random position."""
    classes = data.draw(
        st.lists(st.sampled_from(ALL_MODELS), min_size=1, max_size=3, unique=True),
        label="resumed models",
    )
    runner = ReadModelRunner(env.datastore, [cls(env.schema, RESUME) for cls in classes],
                             batch_size=data.draw(st.integers(1, 6), label="resume batch"))
    runner.process_available(until=data.draw(st.integers(0, head(env.datastore)),
                                             label="resume until"))


@settings(max_examples=MAX_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(specs=st.lists(CASES, min_size=1, max_size=4), data=st.data())
def test_live_rebuilt_and_resumed_models_hold_the_same_rows(database_url, specs, data):
    cases = [Case(spec) for spec in specs]
    # An interleaving of the cases' commands: a permutation of the case numbers, one per command.
    turns = [i for i, case in enumerate(cases) for _ in range(1 + len(case.steps))]
    order = data.draw(st.permutations(turns), label="interleaving")
    threaded = data.draw(st.booleans(), label="live runner in its thread")
    # Late in the UTC evening it is already tomorrow in Stockholm (CET and, from 29 March, CEST):
    # the read side must take the local day as the domain does.
    clock = Clock(START.replace(hour=data.draw(st.sampled_from([9, 22, 23]), label="hour")))

    with schema_env(database_url, clock) as env:
        live = ReadModelRunner(env.datastore, batch_size=data.draw(st.integers(1, 4)),
                               poll_interval=0.05)
        live.setup()
        if threaded:
            live.start()
        try:
            for i in order:
                case = cases[i]
                if case.id is None:
                    result = _propose(env, case, clock.now)
                    case.id = result.case_id
                else:
                    name, who, days = case.steps.pop(0)
                    clock.now += timedelta(days=days)
                    try:
                        result = _step(env, case, name, who, clock.now)
                    except SipError:
                        result = None  # refused: nothing recorded, nothing to project
                if result is not None:
                    if threaded:
                        assert live.wait_for(result.last_notification_id, timeout=10)
                    else:
                        live.process_available()
                if data.draw(st.integers(0, 4), label="interrupt here") == 0:
                    _interrupted_run(env, data)
            if threaded:
                assert live.wait_for(head(env.datastore), timeout=10)
        finally:
            live.stop()
        last = head(env.datastore)
        assert all(p == last for p in live.positions.values()), live.positions

        # (c) One more runner finishes what the interrupted ones left.
        ReadModelRunner(
            env.datastore, [cls(env.schema, RESUME) for cls in ALL_MODELS],
            batch_size=data.draw(st.integers(1, 50), label="final resume batch"),
        ).process_available()

        live_rows = snapshot(env.datastore)
        assert live_rows["rm_case_plans"], "no case reached the read side"
        events = live_rows["rm_case_history"]
        event(f"events recorded: {len(events) // 10 * 10}+")
        for event_type in sorted({r["event_type"] for r in events}):
            event(f"has {event_type}")
        for kind in sorted({r["kind"] for r in live_rows["rm_deadlines"]}):
            event(f"has a {kind} deadline")
        resumed_rows = snapshot(env.datastore, RESUME)
        for table in TABLES:
            assert resumed_rows[table] == live_rows[table], f"{table}: resumed differs from live"

        # (d) The read side agrees with the aggregates.
        for case in cases:
            assert_agrees_with_aggregate(live_rows, env.ledger.get_case(case.id),
                                         env.ledger.keys)

        # (b) Rebuilt from the log and swapped in.
        batch = data.draw(st.integers(1, 20), label="rebuild batch")
        for cls in data.draw(st.permutations(ALL_MODELS), label="rebuild order"):
            assert rebuild(env.datastore, cls, batch_size=batch) == last
        rebuilt_rows = snapshot(env.datastore)
        for table in TABLES:
            assert rebuilt_rows[table] == live_rows[table], f"{table}: rebuilt differs from live"
        for model in status(env.datastore):
            assert (model.position, model.lag, model.rebuilding_at) == (last, 0, None), model
            assert model.built_version == model.schema_version


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def assert_agrees_with_aggregate(rows: dict[str, list[dict[str, Any]]], case: SipCase,
                                 keys: Sealer | None) -> None:
    def of_case(table: str) -> list[dict[str, Any]]:
        return [r for r in rows[table] if r["case_id"] == case.id]

    # Deadlines: every one the aggregate has, as it has it, and no other.
    deadlines = {
        r["key"]: (r["kind"], r["due"], r["rule"], r["policy_id"], r["policy_version"],
                   r["responsible_organisation_id"], r["met_on"], r["cancelled_on"])
        for r in of_case("rm_deadlines")
    }
    assert deadlines == {
        key: (s.deadline.kind.value, s.deadline.due, s.deadline.rule, s.deadline.policy_id,
              s.deadline.policy_version, s.deadline.responsible_organisation_id, s.met_on,
              s.cancelled_on)
        for key, s in case.deadlines.items()
    }

    [plan_row] = of_case("rm_case_plans")
    [dashboard_row] = of_case("rm_deadline_cases")
    first_meeting_on = local_date(case.meetings[0].at) if case.meetings else None
    for row in (plan_row, dashboard_row):
        assert (row["stage"], row["version"]) == (case.stage.value, case.version)
        assert (row["municipality_id"], row["region_id"], row["proposed_on"]) == (
            case.municipality.id, case.region.id, case.proposed_on)
    assert dashboard_row["first_meeting_on"] == first_meeting_on

    # The model keeps personal data sealed (projections/personal.py); a read opens it.
    record = unseal(plan_row["record"], keys)
    assert record["deadlines"] == dashboard_row["record"]["deadlines"]
    assert (record["stage"], record["version"]) == (case.stage.value, case.version)
    assert record["first_meeting_on"] == _day(first_meeting_on)
    assert record["individual"]["personal_identity_number"] == \
        case.individual.personal_identity_number
    assert dashboard_row["record"]["individual"] is None, "personal data in the dashboard"
    assert record["consents"] == len(case.consents)
    consent = case.current_consent
    if consent is None:
        assert record["consent"] is None
    else:
        assert record["consent"]["number"] == consent.number
        assert record["consent"]["valid_until"] == _day(consent.valid_until)
        assert record["consent"]["withdrawn_on"] == _day(consent.withdrawn_on)
    assert record["meetings"] == len(case.meetings)
    assert record["wishes_recorded"] == (case.wishes is not None)
    assert {k: (v["reply"], v["meeting_number"]) for k, v in record["invitations"].items()} == {
        k: (s.reply.value if s.reply else None, s.meeting_number)
        for k, s in case.invitations.items()
    }
    assert (record["contact_person"] or {}).get("person_id") == (
        case.contact_person.person_id if case.contact_person else None)
    plan = case.current_plan
    if plan is None:
        assert record["plan"] is None
    else:
        assert (record["plan"]["revision"], record["plan"]["decided_on"],
                record["plan"]["follow_up_date"]) == (
            plan.revision, _day(plan.decided_on), _day(plan.content.follow_up_date))
    assert record["follow_ups"] == len(case.follow_ups)
    assert record["last_follow_up_on"] == (
        _day(case.follow_ups[-1].held_on) if case.follow_ups else None)
    assert record["plan_copies"] == len(case.plan_copies)
    # R32: every correction as the aggregate keeps it (a personal field's values are sealed
    # in the record: named only), and the corrected values where the record shows them.
    assert [
        (c["version"], c["corrects_version"], c["corrected_type"], c["item"],
         [(ch["field"],) if ch["field"] in PERSONAL_CORRECTABLE else
          (ch["field"], ch["old_value"], ch["new_value"]) for ch in c["changes"]],
         c["deadlines"], c["actor"]["person_id"])
        for c in record["corrections"]
    ] == [
        (c.version, c.corrects_version, c.corrected_type, c.item,
         [(ch.field,) if ch.field in PERSONAL_CORRECTABLE else
          (ch.field, ch.old_value, ch.new_value) for ch in c.changes],
         list(c.recomputed_deadlines), c.by.person_id if c.by else None)
        for c in case.corrections
    ]
    meeting = case.current_meeting
    if meeting is not None:
        assert datetime.fromisoformat(record["meeting"]["at"]) == meeting.at
        assert record["meeting"]["on"] == _day(local_date(meeting.at))
    if consent is not None:
        assert record["consent"]["valid_from"] == _day(consent.valid_from)
    assert {k: (v["reason"], v["on"]) for k, v in record["closures"].items()} == {
        k: (c.reason.value, _day(c.on)) for k, c in case.closures.items()
    }
    assert record["declined_on"] == _day(getattr(case, "declined_on", None))
    assert record["closed_on"] == _day(getattr(case, "closed_on", None))

    history = of_case("rm_case_history")
    assert [r["version"] for r in history] == list(range(1, case.version + 1))
    assert history[0]["event_type"] == "SipProposed"


def test_models_in_any_order_in_one_runner_hold_the_same_rows(database_url):
    """Regression: the deadline dashboard keeps a record without the personal data and the plan;
    when it folded a batch before the current plans did, the plans took its record for theirs
    (the shared folds of a batch) and lost the individual."""
    clock = Clock(START)
    with schema_env(database_url, clock) as env:
        case = Case({"age": 45, "policy": "national", "discharge": False, "tail": [],
                     "head": ("consent", "convene", "plan")})
        case.id = _propose(env, case, clock.now).case_id
        for name, who, _ in case.steps:
            _step(env, case, name, who, clock.now)
        ReadModelRunner(env.datastore).process_available()
        reversed_models = [cls(env.schema, RESUME) for cls in reversed(ALL_MODELS)]
        ReadModelRunner(env.datastore, reversed_models, batch_size=1).process_available()
        live, resumed = snapshot(env.datastore), snapshot(env.datastore, RESUME)
        [record] = [r["record"] for r in resumed["rm_case_plans"]]
        assert record["individual"] is not None and record["plan"] is not None
        assert resumed == live
