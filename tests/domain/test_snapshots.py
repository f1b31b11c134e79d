"""A case's snapshot (domain.case.CaseSnapshot, the library's Snapshot) restores exactly the
aggregate a replay gives: the same attributes in the same order, of the same types (enums, tuples,
dataclasses, pydantic models, dates, datetimes), compared by ``repr(vars(...))`` after the
snapshot has gone through the application's mapper (JSON transcodings) as the store keeps it.

No store here: SipLedger needs a recorder with a command log
(tests/adapters/store/test_snapshots.py takes and reads snapshots through it); the mapper is built
with SipLedger's own transcodings.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from eventsourcing.persistence import JSONTranscoder, Mapper

from domain import snapshot as snapshot_module
from domain.case import CaseSnapshot, SipCase
from domain.case_state import DeadlineState, InvitationState, Stage
from domain.commands import (
    CorrectEntry,
    DeclineSip,
    Discharge,
    Invitation,
    IssuePlanCopy,
    Participant,
    RecordClosure,
    RecordFollowUp,
    RecordReply,
    RecordWishes,
    Reply,
    Wishes,
)
from domain.context import Context
from domain.ledger import SNAPSHOT_INTERVAL, SipLedger
from domain.parties import OrganisationKind
from tests.domain.test_event_roundtrip import full_life
from tests.support import builders as b

LIBRARY = {"_id", "_version", "_created_on", "_modified_on", "_pending_events"}


def app_mapper() -> Mapper:
    """The mapper with exactly the transcodings SipLedger registers (its method uses only the
    application's key store, so it is called on an instance that was never opened, without
    one: sealing is tests/adapters/store/test_sealing.py's)."""
    transcoder = JSONTranscoder()
    unopened = object.__new__(SipLedger)
    unopened.keys = None
    SipLedger.register_transcodings(unopened, transcoder)
    return Mapper(transcoder=transcoder)


def ctx(actor, now, occurred_at=None) -> Context:
    return Context(actor=actor, now=now, command_id=uuid.uuid4(), occurred_at=occurred_at)


def rich_life() -> tuple[SipCase, list]:
    """A case that goes through every command but decline, with the optional parts filled in:
    a discharge, a judged need, presumed-need groups, oral and renewed consent, two meetings
    with an organisation and a person invited, replies both ways, plan copies, follow-ups with
    and without a revision, corrections, closure by goals met."""
    now = datetime.now(UTC)
    coordinator = b.actor()
    nurse = b.actor(b.REGION, person_id="nils", name="Nils Nilsson", unit="Psykiatrin")
    proposal = b.propose(
        age=52,
        triggers=("several_competences", "passed_around"),
        presumed_need_groups=("psychiatric_with_substance_abuse",),
        need_assessed_by="region",
        plan_type="vard-sip",
        proposed_by="staff",
        discharge=Discharge(ready_for_discharge_at=now - timedelta(hours=3),
                            named_care_contact_person_id="nils"),
    )
    case = SipCase.propose(proposal, ctx(nurse, now))
    case.record_consent(
        b.consent(case.id, form="oral", received_by="Nils Nilsson",
                  received_at=now - timedelta(hours=1), approved_persons=("Eva Karlsson",)),
        ctx(nurse, now),
    )
    case.record_wishes(
        RecordWishes(case_id=case.id, wishes=Wishes(place="Hemma", longest_minutes=45,
                                                    support=("bildstöd", "tolk"),
                                                    interpreter_language="arabiska")),
        ctx(coordinator, now),
    )
    relative = Invitation(participant=Participant(role="relative", name="Eva Karlsson"),
                          reason="Stöd till Kim", expectation="Berätta hur vardagen ser ut")
    case.convene(b.convene(case.id, in_days=2, invitations=(b.invitation(b.REGION), relative)),
                 ctx(coordinator, now))
    case.record_reply(
        RecordReply(case_id=case.id, participant_key=b.REGION.id, reply="accepted",
                    comment="Vi kommer två"),
        ctx(nurse, now),
    )
    case.record_reply(
        RecordReply(case_id=case.id, participant_key="relative:Eva Karlsson", reply="declined",
                    comment="Bortrest"),
        ctx(coordinator, now),
    )
    case.convene(b.convene(case.id, in_days=3, invitations=(b.invitation(b.REGION),)),
                 ctx(coordinator, now))
    meeting_at = case.current_meeting.at
    case.establish_plan(b.establish(case.id, meeting_at.date()), ctx(coordinator, meeting_at))
    for name, role in (("Kim Karlsson", "individual"), (b.REGION.name, "region")):
        case.issue_plan_copy(
            IssuePlanCopy(case_id=case.id, recipient_name=name, recipient_role=role),
            ctx(coordinator, meeting_at),
        )
    later = meeting_at + timedelta(days=40)
    case.record_follow_up(
        RecordFollowUp(case_id=case.id, held_on=later.date(), what_happened="Stödet är igång",
                       next_follow_up_date=later.date() + timedelta(days=30)),
        ctx(coordinator, later),
    )
    later = later + timedelta(days=30)
    case.record_consent(b.consent(case.id, valid_from=later.date(),
                                  valid_until=later.date() + timedelta(days=300)),
                        ctx(coordinator, later))
    case.record_follow_up(
        RecordFollowUp(
            case_id=case.id, held_on=later.date(), what_happened="Ny bostad",
            what_remains="Arbete", new_needs=("Sysselsättning",),
            revised_plan=b.plan_content(later.date(),
                                        follow_up_date=later.date() + timedelta(days=60)),
            next_follow_up_date=later.date() + timedelta(days=60),
        ),
        ctx(coordinator, later),
    )
    case.correct_entry(CorrectEntry(case_id=case.id, corrects_version=4, reason="Fel tid",
                                    correction="Förmiddag, inte eftermiddag"),
                       ctx(coordinator, later))
    case.record_closure(RecordClosure(case_id=case.id, reason="goals_met", note="Klart"),
                        ctx(coordinator, later))
    case.record_closure(RecordClosure(case_id=case.id, reason="goals_met"), ctx(nurse, later))
    assert case.stage is Stage.CLOSED
    return case, case.collect_events()


def declined_life() -> tuple[SipCase, list]:
    now = datetime.now(UTC)
    case = SipCase.propose(b.propose(age=30), ctx(b.actor(), now))
    case.decline(DeclineSip(case_id=case.id, declined_by="individual", note="Vill inte"),
                 ctx(b.actor(), now))
    assert case.stage is Stage.DECLINED
    return case, case.collect_events()


LIVES = {"full": full_life, "rich": rich_life, "declined": declined_life}


def replays(events: list, mapper: Mapper) -> list[SipCase]:
    """The case after each event, replayed from the stored events as the repository does."""
    stored = [mapper.to_domain_event(mapper.to_stored_event(e)) for e in events]
    states, aggregate = [], None
    for event in stored:
        aggregate = event.mutate(aggregate)
        states.append(aggregate)
        aggregate = _copy(aggregate)  # later events must not change the state kept here
    return states


def _copy(aggregate: SipCase) -> SipCase:
    return copy.deepcopy(aggregate)


def restored(aggregate: SipCase, mapper: Mapper) -> SipCase:
    snapshot = CaseSnapshot.take(aggregate)
    stored = mapper.to_stored_event(snapshot)
    assert stored.topic == "domain.case:CaseSnapshot"
    return mapper.to_domain_event(stored).mutate(None)


@pytest.mark.parametrize("life", sorted(LIVES))
def test_a_snapshot_restores_exactly_the_replayed_case_at_every_version(life):
    _, events = LIVES[life]()
    mapper = app_mapper()
    for replayed in replays(events, mapper):
        back = restored(replayed, mapper)
        assert type(back) is SipCase
        assert repr(vars(back)) == repr(vars(replayed)), f"version {replayed.version}"
        assert vars(back) == vars(replayed)


@pytest.mark.parametrize("life", sorted(LIVES))
def test_the_events_after_a_snapshot_replay_onto_it_as_onto_the_replay(life):
    _, events = LIVES[life]()
    mapper = app_mapper()
    stored = [mapper.to_domain_event(mapper.to_stored_event(e)) for e in events]
    whole = replays(events, mapper)[-1]
    for k, at_k in enumerate(replays(events, mapper)):
        aggregate = restored(at_k, mapper)
        for event in stored[k + 1:]:
            aggregate = event.mutate(aggregate)
        assert repr(vars(aggregate)) == repr(vars(whole)), f"from the snapshot at {k + 1}"


def test_the_snapshot_class_is_the_one_the_library_takes():
    # Application.take_snapshot uses the aggregate class's ``Snapshot``.
    assert SipCase.Snapshot is CaseSnapshot
    assert SipLedger.snapshotting_intervals == {SipCase: SNAPSHOT_INTERVAL}


def test_every_attribute_of_a_case_has_a_restore_rule():
    """A new SipCase attribute must get a rule in domain.snapshot.RESTORE (and a life above that
    sets it): without one a snapshot is refused, and this test names the attribute."""
    seen: set[str] = set()
    mapper = app_mapper()
    for life in LIVES.values():
        _, events = life()
        for replayed in replays(events, mapper):
            seen |= set(vars(replayed))
    rules = set(snapshot_module.RESTORE) | set(snapshot_module.LIBRARY_ATTRIBUTES)
    assert seen - rules == set(), "attributes without a restore rule"
    assert rules - seen == set(), "restore rules for attributes no case here has: extend a life"


def test_a_snapshot_of_another_shape_is_refused_when_taken_and_when_restored():
    case, events = full_life()
    mapper = app_mapper()
    replayed = replays(events, mapper)[-1]
    replayed.new_attribute = "x"
    with pytest.raises(snapshot_module.SnapshotMismatch, match="new_attribute"):
        CaseSnapshot.take(replayed)
    del replayed.new_attribute
    snapshot = CaseSnapshot.take(replayed)
    for state in ({**snapshot.state, "new_attribute": "x"},
                  {k: v for k, v in snapshot.state.items() if k != "stage"}):
        other = CaseSnapshot(originator_id=snapshot.originator_id,
                             originator_version=snapshot.originator_version,
                             timestamp=snapshot.timestamp, topic=snapshot.topic, state=state)
        decoded = mapper.to_domain_event(mapper.to_stored_event(other))
        with pytest.raises(snapshot_module.SnapshotMismatch):
            decoded.mutate(None)


def test_the_state_dataclasses_round_trip_with_their_types():
    case, _ = rich_life()
    transcoder = app_mapper().transcoder
    for state in [*case.invitations.values(), *case.deadlines.values()]:
        back = transcoder.decode(transcoder.encode(state))
        assert type(back) is type(state) and repr(back) == repr(state)
    declined = next(s for s in case.invitations.values() if s.reply is Reply.DECLINED)
    back = transcoder.decode(transcoder.encode(replace(declined, reply=None)))
    assert isinstance(back, InvitationState) and back.reply is None
    open_deadline = next(iter(case.deadlines.values()))
    back = transcoder.decode(transcoder.encode(replace(open_deadline, met_on=None,
                                                       cancelled_on=None)))
    assert isinstance(back, DeadlineState) and back.is_open
    # The rich life sets what the full life leaves out.
    assert case.need_assessed_by is OrganisationKind.REGION and case.discharge is not None
