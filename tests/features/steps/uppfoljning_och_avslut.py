"""Steps only ``features/uppfoljning_och_avslut.feature`` uses: follow-up, closure and
corrections."""

from __future__ import annotations

from datetime import date

from pytest_bdd import given, then, when

from domain.commands import (
    CorrectEntry,
    RecordClosure,
    RecordFollowUp,
)
from tests.support.builders import plan_content

from ..context import Scenario
from .common import _edit_plan, step

# ================================================================================ the plan


@given(step("att planen ska följas upp {datum:Datum}"))
def _follow_up_date(sip: Scenario, datum: date):
    _edit_plan(sip, lambda p, _: p.update(follow_up_date=datum))


# ================================================================================ follow-up


_FOLLOW_UP = {
    "hölls": ("held_on", date.fromisoformat),
    "vad har hänt": ("what_happened", str),
    "vad återstår": ("what_remains", str),
    "nya behov": ("new_needs", lambda v: tuple(s.strip() for s in v.split(","))),
    "nästa uppföljning": ("next_follow_up_date", date.fromisoformat),
    "reviderad plan följs upp": ("revised_plan", date.fromisoformat),
}


@when(step("{aktör:Aktör} registrerar uppföljningen:"))
def _follow_up(sip: Scenario, aktör, datatable):
    fields = {}
    for key, value in datatable:
        name, convert = _FOLLOW_UP[key.casefold()]
        fields[name] = convert(value)
    if "revised_plan" in fields:
        fields["revised_plan"] = plan_content(
            fields["held_on"], follow_up_date=fields["revised_plan"]
        )
    sip.follow_up = fields
    cmd = RecordFollowUp(case_id=sip.case_id, **fields)
    sip.attempt(lambda: sip.ledger.record_follow_up(cmd, aktör))


# ================================================================================ closure


def _close(sip: Scenario, aktör, skäl):
    cmd = RecordClosure(case_id=sip.case_id, reason=skäl)
    return sip.ledger.record_closure(cmd, aktör)


@when(step("{aktör:Aktör} dokumenterar avslut eftersom {skäl:Avslutsskäl}"))
def _closes(sip: Scenario, aktör, skäl):
    sip.attempt(lambda: _close(sip, aktör, skäl))


@given(step("att {aktör:Aktör} har dokumenterat avslut eftersom {skäl:Avslutsskäl}"))
def _closed(sip: Scenario, aktör, skäl):
    sip.must(lambda: _close(sip, aktör, skäl))


# ================================================================================ corrections


@when(step(
    '{aktör:Aktör} rättar post {post:d} med motiveringen "{motivering:Text}" '
    'och rättelsen "{rättelse:Text}"'
))
def _correct(sip: Scenario, aktör, post: int, motivering: str, rättelse: str):
    sip.events_before = sip.events()
    cmd = CorrectEntry(
        case_id=sip.case_id, corrects_version=post, reason=motivering, correction=rättelse
    )
    sip.attempt(lambda: sip.ledger.correct_entry(cmd, aktör))


# ---- the plan --------------------------------------------------------------------------------


@then(step("planen är reviderad till version {n:d}, beslutad {datum:Datum}"))
def _plan_revised(sip: Scenario, n: int, datum: date):
    plan = sip.case().current_plan
    assert (plan.revision, plan.decided_on) == (n, datum)


@then(step("planen har {n:d} uppföljningar"))
def _n_follow_ups(sip: Scenario, n: int):
    assert len(sip.case().follow_ups) == n


@then(step(
    "uppföljningen {datum:Datum} är registrerad med vad som har hänt, vad som återstår "
    "och nya behov"
))
def _follow_up_recorded(sip: Scenario, datum: date):
    [follow_up] = [f for f in sip.case().follow_ups if f.held_on == datum]
    assert follow_up.what_happened == sip.follow_up["what_happened"]
    assert follow_up.what_remains == sip.follow_up["what_remains"]
    assert follow_up.new_needs == sip.follow_up["new_needs"]
    assert follow_up.next_follow_up_date == sip.follow_up["next_follow_up_date"]


# ---- closure and corrections -----------------------------------------------------------------


@then(step("{huvudman:Huvudmans} avslut är dokumenterat med skälet att {skäl:Avslutsskäl}"))
def _closure_reason(sip: Scenario, huvudman, skäl):
    closure = sip.case().closures[huvudman.id]
    assert closure.reason is skäl
    assert closure.on == sip.today


@then(step('rättelsen av post {post:d} finns i ärendet med motiveringen "{motivering:Text}"'))
def _correction(sip: Scenario, post: int, motivering: str):
    [correction] = [c for c in sip.case().corrections if c.corrects_version == post]
    assert correction.reason == motivering


@then(step("post {post:d} är oförändrad"))
def _entry_unchanged(sip: Scenario, post: int):
    before, after = sip.events_before, sip.events()
    assert after[post - 1] == before[post - 1]
    assert after[: len(before)] == before
    assert type(after[-1]).__name__ == "EntryCorrected"

