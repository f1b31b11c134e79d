"""Structured corrections (R32) on the aggregate: a correction names the entry's version, the
fields and their right values, and why; the case then holds the corrected values, a deadline
computed from a corrected date is recomputed and recorded in the correction's event, and the
corrected entry itself is never touched. And versioned events: EntryCorrected is at class
version 2, and a version 1 event (as the previous release stored it) still loads."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    UUIDAsHex,
)

from domain.case import SipCase
from domain.case_state import Correction
from domain.clock import STOCKHOLM, local_date
from domain.commands import CORRECTABLE_FIELDS, CorrectEntry, FieldChange, RecordFollowUp
from domain.context import Context
from domain.errors import InvalidInput, SipError
from domain.rules.correction import (
    CORRECTABLE,
    PERSONAL_CORRECTABLE,
    Entry,
    correctable_fields_text,
    entry_of,
)
from domain.transcodings import register_sip_transcodings
from tests.support import builders as b

FIXTURES = Path(__file__).resolve().parent / "fixtures"
COORDINATOR = b.actor()


def ctx(now: datetime) -> Context:
    return Context(actor=COORDINATOR, now=now, command_id=uuid.uuid4(), occurred_at=None)


def mapper() -> Mapper:
    transcoder = JSONTranscoder()
    for t in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(t)
    register_sip_transcodings(transcoder)
    return Mapper(transcoder=transcoder)


class Story:
    """A case under the Jönköping policy (an R18 lead-time deadline per meeting) with every
    correctable entry, and its events kept as the log would hold them."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        self.events: list = []
        self.case = SipCase.propose(b.propose(age=40, deadline_policy="jonkoping"),
                                    ctx(self.now))
        self._keep()
        self.case.record_consent(b.consent(self.case.id, valid_from=date(2026, 3, 2),
                                           valid_until=date(2027, 3, 1)), ctx(self.now))  # v2
        self._keep()
        self.meeting_at = datetime(2026, 4, 10, 13, 0, tzinfo=STOCKHOLM)
        self.case.convene(b.convene(self.case.id, meeting_at=self.meeting_at), ctx(self.now))  # v3
        self._keep()
        meeting_on = self.meeting_at.date()
        self.case.establish_plan(b.establish(self.case.id, meeting_on),
                                 ctx(self.meeting_at))  # v4
        self._keep()

    def _keep(self) -> None:
        self.events += self.case.collect_events()

    def entry(self, version: int) -> Entry | None:
        return entry_of(self.events[version - 1]) if 1 <= version <= len(self.events) else None

    def follow_up(self, held_on: date, next_date: date, revised: bool = False) -> None:
        self.now = datetime.combine(held_on, datetime.min.time(), tzinfo=STOCKHOLM)
        self.case.record_follow_up(
            RecordFollowUp(
                case_id=self.case.id, held_on=held_on, what_happened="Boendestödet är igång",
                next_follow_up_date=next_date,
                revised_plan=b.plan_content(held_on, follow_up_date=next_date) if revised
                else None,
            ),
            ctx(self.now),
        )
        self._keep()

    def correct(self, version: int, *changes: tuple[str, str], text: str = "") -> None:
        cmd = CorrectEntry(
            case_id=self.case.id, corrects_version=version, reason="Fel uppgift angavs",
            changes=tuple(FieldChange(field=f, new_value=v) for f, v in changes),
            correction=text,
        )
        self.case.correct_entry(cmd, ctx(self.now), entries=self.entry)
        self._keep()

    def refused(self, version: int, *changes: tuple[str, str], text: str = "") -> SipError:
        before = len(self.events)
        with pytest.raises(SipError) as refusal:
            self.correct(version, *changes, text=text)
        assert len(self.events) == before and not self.case.collect_events()
        return refusal.value


@pytest.fixture
def story() -> Story:
    return Story()


def last_event(story: Story):
    event = story.events[-1]
    assert type(event).__name__ == "EntryCorrected"
    return event


def replayed(story: Story) -> SipCase:
    m = mapper()
    case = None
    for e in story.events:
        case = m.to_domain_event(m.to_stored_event(e)).mutate(case)
    assert case is not None
    return case


# ---------------------------------------------------------------------- the table


def test_the_commands_description_lists_the_table():
    assert CORRECTABLE_FIELDS == correctable_fields_text()


def test_the_table_names_fields_of_real_event_types_and_personal_ones_among_them():
    assert set(CORRECTABLE) <= {
        name for name, value in vars(SipCase).items() if isinstance(value, type)
    }
    assert PERSONAL_CORRECTABLE == {"place"}
    assert PERSONAL_CORRECTABLE <= {f for fields in CORRECTABLE.values() for f in fields}


# ---------------------------------------------------------------------- the meeting (R18)


def test_a_corrected_meeting_time_changes_the_meeting_and_its_lead_time_deadline(story):
    lead = story.case.deadlines["invitation_lead_time:1"]
    assert lead.deadline.due == date(2026, 3, 20)  # 21 days before 10 April
    met_on = lead.met_on
    story.correct(3, ("meeting_at", "2026-04-17T13:00:00+02:00"))

    meeting = story.case.meetings[0]
    assert meeting.at == datetime.fromisoformat("2026-04-17T13:00:00+02:00")
    assert meeting.place == "Stadshuset, rum 3"
    lead = story.case.deadlines["invitation_lead_time:1"]
    assert lead.deadline.due == date(2026, 3, 27)
    assert lead.met_on == met_on  # met when the invitations went out, as before

    event = last_event(story)
    assert type(event).class_version == 2
    assert [d.key for d in event.deadlines] == ["invitation_lead_time:1"]
    assert event.deadlines[0].due == date(2026, 3, 27)
    [correction] = story.case.corrections
    assert (correction.corrects_version, correction.corrected_type, correction.item) == (
        3, "MeetingConvened", 1)
    assert correction.version == 5 and correction.by == COORDINATOR
    [change] = correction.changes
    assert change.field == "meeting_at"
    assert change.old_value == story.meeting_at.isoformat()
    assert change.new_value == "2026-04-17T13:00:00+02:00"
    # The corrected entry is untouched: the log keeps both.
    assert story.events[2].meeting.at == story.meeting_at


def test_a_corrected_place_is_recorded_with_both_values(story):
    story.correct(3, ("place", "Stadshuset, rum 5"))
    assert story.case.meetings[0].place == "Stadshuset, rum 5"
    [change] = story.case.corrections[0].changes
    assert (change.old_value, change.new_value) == ("Stadshuset, rum 3", "Stadshuset, rum 5")
    assert last_event(story).deadlines == ()  # the place computes no deadline


def test_a_second_correction_records_the_first_ones_value_as_the_old_one(story):
    story.correct(3, ("meeting_at", "2026-04-17T13:00:00+02:00"))
    story.correct(3, ("meeting_at", "2026-04-24T10:00:00+02:00"))
    first, second = story.case.corrections
    assert second.changes[0].old_value == first.changes[0].new_value
    assert story.case.deadlines["invitation_lead_time:1"].deadline.due == date(2026, 4, 3)


# ---------------------------------------------------------------------- consent, plan, follow-up


def test_a_corrected_valid_until_moves_the_consent_expiry_deadline(story):
    until = story.case.consents[0].valid_until + timedelta(days=-30)
    story.correct(2, ("valid_until", until.isoformat()))
    assert story.case.consents[0].valid_until == until
    assert story.case.deadlines["consent_expiry:1"].deadline.due == until
    assert [d.key for d in last_event(story).deadlines] == ["consent_expiry:1"]


def test_a_corrected_valid_from_computes_no_deadline(story):
    valid_from = story.case.consents[0].valid_from + timedelta(days=1)
    story.correct(2, ("valid_from", valid_from.isoformat()))
    assert story.case.consents[0].valid_from == valid_from
    assert last_event(story).deadlines == ()


def test_a_corrected_plan_follow_up_date_moves_the_follow_up_deadline(story):
    story.correct(4, ("follow_up_date", "2026-08-01"))
    assert story.case.current_plan.content.follow_up_date == date(2026, 8, 1)
    assert story.case.deadlines["follow_up:1"].deadline.due == date(2026, 8, 1)


def test_a_revised_plans_follow_up_date_moves_the_deadline_its_follow_up_booked(story):
    story.follow_up(date(2026, 6, 1), date(2026, 9, 1), revised=True)  # v5 follow-up, v6 revision
    assert [type(e).__name__ for e in story.events[4:6]] == ["FollowUpRecorded", "PlanRevised"]
    story.correct(6, ("follow_up_date", "2026-09-15"))
    assert story.case.plan_revisions[1].content.follow_up_date == date(2026, 9, 15)
    assert story.case.deadlines["follow_up:2"].deadline.due == date(2026, 9, 15)


def test_a_corrected_follow_up_moves_the_next_deadline_and_the_day_it_met_the_last(story):
    story.follow_up(date(2026, 6, 1), date(2026, 9, 1))  # v5
    assert story.case.deadlines["follow_up:1"].met_on == date(2026, 6, 1)
    story.correct(5, ("held_on", "2026-05-29"), ("next_follow_up_date", "2026-09-10"))
    follow_up = story.case.follow_ups[0]
    assert (follow_up.held_on, follow_up.next_follow_up_date) == (
        date(2026, 5, 29), date(2026, 9, 10))
    assert story.case.deadlines["follow_up:1"].met_on == date(2026, 5, 29)
    assert story.case.deadlines["follow_up:2"].deadline.due == date(2026, 9, 10)
    assert story.case.corrections[0].item == 1


def test_a_correction_in_words_stays_possible_and_names_the_entrys_type(story):
    story.correct(1, text="Förslaget kom från personen själv")
    [correction] = story.case.corrections
    assert correction.correction == "Förslaget kom från personen själv"
    assert correction.corrected_type == "SipProposed" and correction.changes == ()


# ---------------------------------------------------------------------- refusals (R32)


def test_a_field_the_entry_does_not_have_is_refused_naming_the_field(story):
    error = story.refused(3, ("valid_until", "2026-05-01"))
    assert (error.field, error.rule) == ("changes[0].field", "R32")
    error = story.refused(3, ("place", "Rum 5"), ("colour", "blå"))
    assert error.field == "changes[1].field"
    error = story.refused(1, ("place", "Rum 5"))  # a proposal has no correctable field
    assert error.field == "changes[0].field"


def test_a_value_of_the_wrong_type_is_refused_naming_the_value_but_not_repeating_it(story):
    error = story.refused(3, ("meeting_at", "nästa torsdag"))
    assert (error.field, error.rule) == ("changes[0].new_value", "R32")
    assert "nästa torsdag" not in str(error)
    error = story.refused(2, ("valid_until", "2026-02-30"))
    assert error.field == "changes[0].new_value"


def test_a_version_the_case_does_not_have_is_refused(story):
    error = story.refused(99, ("place", "Rum 5"))
    assert (error.field, error.rule) == ("corrects_version", "R32")


def test_a_field_named_twice_is_refused(story):
    error = story.refused(3, ("place", "Rum 5"), ("place", "Rum 6"))
    assert error.field == "changes[1].field"


def test_a_correction_cannot_make_an_entry_the_rules_refuse(story):
    error = story.refused(3, ("meeting_at", "2026-02-01T10:00:00+01:00"))  # before the invitation
    assert error.field == "changes[0].new_value"
    error = story.refused(2, ("valid_until", "2020-01-01"))
    assert (error.field, error.rule) == ("changes[0].new_value", "R12")
    error = story.refused(4, ("follow_up_date", "2026-04-01"))
    assert (error.field, error.rule) == ("changes[0].new_value", "R19")


def test_a_correction_with_neither_changes_nor_words_is_refused(story):
    error = story.refused(3)
    assert (error.field, error.rule) == ("correction", "R32")


def test_a_correction_of_fields_needs_the_entry_from_the_log(story):
    cmd = CorrectEntry(case_id=story.case.id, corrects_version=3, reason="Fel plats",
                       changes=(FieldChange(field="place", new_value="Rum 5"),))
    with pytest.raises(SipError) as refusal:
        story.case.correct_entry(cmd, ctx(story.now))  # no entries: nothing to read it from
    assert (refusal.value.field, refusal.value.rule) == ("corrects_version", "R32")


def test_the_command_refuses_a_value_the_store_could_not_hold():
    with pytest.raises(ValueError):
        FieldChange(field="place", new_value="Rum\x005")


# ---------------------------------------------------------------------- stored, replayed, upcast


def test_corrections_round_trip_and_replay_to_the_same_state(story):
    story.follow_up(date(2026, 6, 1), date(2026, 9, 1), revised=True)
    story.correct(3, ("meeting_at", "2026-04-17T13:00:00+02:00"), ("place", "Rum 5"))
    story.correct(2, ("valid_until", "2026-12-31"))
    story.correct(6, ("follow_up_date", "2026-09-15"))
    story.correct(5, ("held_on", "2026-05-30"))
    stored = mapper().to_stored_event(story.events[-1])
    assert json.loads(stored.state)["class_version"] == 2
    assert replayed(story).__dict__ == story.case.__dict__


def test_a_version_1_entry_corrected_still_loads_with_the_defaults():
    """The previous release stored EntryCorrected without class_version and without deadlines
    (tests/domain/fixtures/release-log.jsonl): the upcaster gives it what version 2 has."""
    rows = [json.loads(line) for line in (FIXTURES / "release-log.jsonl").read_text().splitlines()]
    [row] = [r for r in rows if r["topic"].endswith(".EntryCorrected")]
    assert "class_version" not in json.loads(row["state"])
    event = mapper().to_domain_event(StoredEvent(
        originator_id=uuid.UUID(row["originator_id"]),
        originator_version=row["originator_version"],
        topic=row["topic"], state=row["state"].encode("utf-8"),
    ))
    assert type(event) is SipCase.EntryCorrected
    assert event.deadlines == ()
    correction = event.correction
    assert isinstance(correction, Correction)
    assert correction.corrects_version == 4 and correction.reason == "Fel plats angiven"
    assert correction.version == row["originator_version"]
    assert correction.by == event.actor
    assert (correction.corrected_type, correction.item, correction.changes) == (None, None, ())


def test_the_meeting_day_follows_a_correction_across_midnight(story):
    story.correct(3, ("meeting_at", "2026-04-16T23:30:00+00:00"))  # 01:30 on the 17th in Sweden
    assert local_date(story.case.meetings[0].at) == date(2026, 4, 17)
    assert story.case.deadlines["invitation_lead_time:1"].deadline.due == date(2026, 3, 27)


def test_invalid_input_is_the_kind_of_refusal(story):
    assert isinstance(story.refused(3, ("colour", "blå")), InvalidInput)
