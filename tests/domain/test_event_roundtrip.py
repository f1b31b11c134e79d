"""Every event type survives the library's mapper (JSON transcodings) and replays to the same
state: what is stored is the whole truth, and replay never depends on the clock."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from uuid import UUID

from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, Mapper, UUIDAsHex
from pydantic import BaseModel

from domain.case import SipCase
from domain.case_state import Stage
from domain.commands import (
    CorrectEntry,
    ErasePersonalData,
    IssuePlanCopy,
    LiftLegalHold,
    PlaceLegalHold,
    RecordClosure,
    RecordFollowUp,
    RecordReply,
    RecordWishes,
    Wishes,
    WithdrawConsent,
)
from domain.context import Context
from domain.parties import Role
from domain.transcodings import register_sip_transcodings
from tests.support import builders as b


def ctx(actor, now, occurred_at=None):
    return Context(actor=actor, now=now, command_id=uuid.uuid4(), occurred_at=occurred_at)


def mapper() -> Mapper:
    transcoder = JSONTranscoder()
    for t in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(t)
    register_sip_transcodings(transcoder)
    return Mapper(transcoder=transcoder)


def full_life() -> tuple[SipCase, list]:
    now = datetime.now(UTC)
    coordinator = b.actor()
    region_actor = b.actor(b.REGION, person_id="rita", name="Rita Region")
    case = SipCase.propose(b.propose(age=40, deadline_policy="jonkoping"), ctx(coordinator, now))
    case.record_consent(b.consent(case.id), ctx(coordinator, now))
    case.record_wishes(
        RecordWishes(case_id=case.id, wishes=Wishes(place="Hemma", support=("bildstöd",))),
        ctx(coordinator, now),
    )
    case.convene(b.convene(case.id, in_days=30), ctx(coordinator, now))
    case.record_reply(
        RecordReply(case_id=case.id, participant_key=b.REGION.id, reply="accepted"),
        ctx(region_actor, now),
    )
    meeting_at = case.current_meeting.at
    case.establish_plan(b.establish(case.id, meeting_at.date()), ctx(coordinator, meeting_at))
    case.issue_plan_copy(
        IssuePlanCopy(case_id=case.id, recipient_name="Kim Karlsson", recipient_role="individual"),
        ctx(coordinator, meeting_at),
    )
    later = now + timedelta(days=60)
    case.record_follow_up(
        RecordFollowUp(
            case_id=case.id,
            held_on=later.date(),
            what_happened="Boendestödet är igång",
            new_needs=("Sysselsättning",),
            revised_plan=b.plan_content(
                later.date(), follow_up_date=later.date() + timedelta(days=90)
            ),
            next_follow_up_date=later.date() + timedelta(days=90),
        ),
        ctx(coordinator, later),
    )
    case.correct_entry(
        CorrectEntry(case_id=case.id, corrects_version=3, reason="Fel plats angiven",
                     correction="Platsen är mottagningen, inte hemmet"),
        ctx(coordinator, later),
    )
    case.withdraw_consent(WithdrawConsent(case_id=case.id), ctx(coordinator, later))
    case.record_closure(RecordClosure(case_id=case.id, reason="consent_withdrawn"),
                        ctx(coordinator, later))
    case.record_closure(RecordClosure(case_id=case.id, reason="consent_withdrawn"),
                        ctx(region_actor, later))
    # R34: a legal hold placed and lifted, then the erasure (before it is due: an override).
    auditor = b.actor(person_id="greta", name="Greta Granskare").model_copy(
        update={"role": Role.AUDITOR})
    archivist = b.actor(person_id="arvid", name="Arvid Arkiv").model_copy(
        update={"role": Role.ARCHIVIST})
    case.place_legal_hold(PlaceLegalHold(case_id=case.id, reason="Tillsyn av IVO",
                                         reference="IVO 3.5-1/2031"), ctx(auditor, later))
    case.lift_legal_hold(LiftLegalHold(case_id=case.id, reason="Tillsynen är klar"),
                         ctx(auditor, later))
    case.erase_personal_data(
        ErasePersonalData(case_id=case.id, decision="KS 2031/123",
                          override_reason="Den enskilde har begärt radering"),
        ctx(archivist, later), ("individual",),
    )
    events = case.collect_events()
    return case, events


def test_every_event_round_trips_and_replays_to_the_same_state():
    case, events = full_life()
    assert case.stage is Stage.CLOSED
    names = [type(e).__name__ for e in events]
    for expected in ("SipProposed", "ConsentRecorded", "WishesRecorded", "MeetingConvened",
                     "ReplyRecorded", "PlanEstablished", "PlanCopyIssued", "FollowUpRecorded",
                     "PlanRevised", "EntryCorrected", "ConsentWithdrawn", "ClosureRecorded",
                     "SipClosed", "LegalHoldPlaced", "LegalHoldLifted", "PersonalDataErased"):
        assert expected in names
    m = mapper()
    replayed = None
    for e in events:
        stored = m.to_stored_event(e)
        assert b"Kim Karlsson" in stored.state or type(e).__name__ != "SipProposed"
        replayed = m.to_domain_event(stored).mutate(replayed)
    assert replayed is not None
    assert replayed.__dict__ == case.__dict__


def test_deadlines_are_stored_in_the_event_not_recomputed_on_replay():
    case, events = full_life()
    proposed = events[0]
    assert [d.kind.value for d in proposed.deadlines] == ["start"]
    assert proposed.deadlines[0].policy_id == "jonkoping"
    convened = next(e for e in events if type(e).__name__ == "MeetingConvened")
    lead = convened.deadlines[0]
    assert lead.kind.value == "invitation_lead_time" and lead.rule == "R18"
    # Invitations sent 30 days before the meeting: within the 21-day lead time.
    assert case.deadlines[lead.key].met_on <= lead.due


def test_a_copy_of_a_case_shares_no_mutable_state_with_it():
    import copy
    from dataclasses import is_dataclass

    case, _ = full_life()
    clone = copy.deepcopy(case)
    assert clone.__dict__ == case.__dict__
    for name, value in vars(case).items():
        if isinstance(value, list | dict | set):
            assert getattr(clone, name) is not value, name
            inner = value.values() if isinstance(value, dict) else value
            copied = getattr(clone, name)
            copied_inner = copied.values() if isinstance(copied, dict) else copied
            for a, b in zip(inner, copied_inner, strict=True):
                if is_dataclass(a) or isinstance(a, list | dict | set):
                    assert a is not b, name
        else:
            # Everything else must be immutable, or the copy would share it.
            frozen_model = isinstance(value, BaseModel) and value.model_config.get("frozen")
            assert frozen_model or isinstance(
                value, int | str | tuple | type(None) | date | UUID | Enum
            ), f"{name} is mutable: {type(value)}"
    # And the copy changes independently of the original.
    key = next(iter(clone.deadlines))
    clone.deadlines[key].met_on = None
    clone.consents.append(clone.consents[0])
    assert case.deadlines[key].met_on is not None or case.deadlines[key].cancelled_on is not None
    assert len(case.consents) == len(clone.consents) - 1
