"""Steps only ``features/rattelser.feature`` uses: corrections that name the entry and the field
(R32), and what the read side then shows of the case and its history.

The read side is checked as the read models fold it: the case's stored events, read from the
store as the models read them (projections/events.py), folded into the case record
(projections/case_record.py), seen through the full view (projections/access.py) and summarised
as the history (projections/history.py).
"""

from __future__ import annotations

from datetime import date

from pytest_bdd import then, when

from domain.commands import CorrectEntry, FieldChange
from projections.access import full_view
from projections.case_record import Record, fold
from projections.events import CaseEvent, decode
from projections.history import summarise

from ..context import Scenario
from .common import step


@when(step(
    '{aktör:Aktör} rättar fältet "{fält:Text}" i post {post:d} till "{värde:Text}" '
    'med motiveringen "{motivering:Text}"'
))
def _correct_field(sip: Scenario, aktör, fält: str, post: int, värde: str, motivering: str):
    sip.events_before = sip.events()
    cmd = CorrectEntry(
        case_id=sip.case_id, corrects_version=post, reason=motivering,
        changes=(FieldChange(field=fält, new_value=värde),),
    )
    sip.attempt(lambda: sip.ledger.correct_entry(cmd, aktör))


def _stored_events(sip: Scenario) -> list[CaseEvent]:
    """The case's events as the read models read them: the stored JSON, not domain objects."""
    decoded = []
    for stored in sip.ledger.recorder.select_events(sip.case_id):
        e = decode(0, stored.originator_id, stored.originator_version, stored.topic,
                   stored.state)
        assert e is not None
        decoded.append(e)
    return decoded


def _record(sip: Scenario) -> Record:
    record: Record | None = None
    for e in _stored_events(sip):
        record = fold(record, e)
    assert record is not None
    return record


@then(step(
    "ärendet visar mötet den {datum:Datum}, markerat som rättat i post {post:d} av {aktör:Aktör}"
))
def _meeting_shown_corrected(sip: Scenario, datum: date, post: int, aktör):
    view = full_view(_record(sip))
    meeting = view["meeting"]
    assert meeting is not None and meeting["on"] == datum.isoformat(), meeting
    # Marked as corrected: a correction names the meeting's entry type, its number and the field.
    [correction] = [c for c in view["corrections"] if c["version"] == post]
    assert (correction["corrected_type"], correction["item"]) == (
        "MeetingConvened", meeting["number"])
    [change] = correction["changes"]
    assert change["field"] == "meeting_at" and change["new_value"] == meeting["at"]
    assert correction["actor"] is not None
    assert correction["actor"]["person_id"] == aktör.person_id
    assert correction["recorded_at"] and correction["deadlines"] == ["invitation_lead_time:1"]
    # The aggregate agrees with the read side.
    assert sip.case().current_meeting.at.date() == datum


@then(step(
    "historiken visar mötet den {först:Datum} i post {post:d} "
    "och rättelsen till {rättat:Datum} i post {rättelse:d}"
))
def _history_shows_both(sip: Scenario, först: date, post: int, rättat: date, rättelse: int):
    summaries = {e.version: summarise(e) for e in _stored_events(sip)}
    assert först.isoformat() in summaries[post], summaries[post]
    assert rättat.isoformat() not in summaries[post]
    correction = summaries[rättelse]
    assert correction.startswith(f"Entry {post} (MeetingConvened) corrected"), correction
    assert f"meeting_at {först.isoformat()}" in correction
    assert f"→ {rättat.isoformat()}" in correction
