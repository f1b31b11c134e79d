"""Steps only ``features/kallelse.feature`` uses: wishes, invitations and replies."""

from __future__ import annotations

from datetime import date

from pytest_bdd import given, then, when

from domain.commands import (
    RecordWishes,
    Reply,
    Wishes,
)

from ..context import Scenario
from ..vocabulary import Who
from .common import _invited, _reply, step

# ================================================================================ preparation


_WISHES = {
    "plats": ("place", str),
    "tid på dagen": ("time_of_day", str),
    "längsta tid": ("longest_minutes", int),
    "det som kan störa": ("disturbances", str),
    "miljö": ("environment", str),
    "stöd": ("support", lambda v: tuple(s.strip() for s in v.split(","))),
    "tolkspråk": ("interpreter_language", str),
}


def _wishes(datatable: list[list[str]]) -> Wishes:
    fields = {}
    for key, value in datatable[1:]:  # the first row names the columns
        name, convert = _WISHES[key.casefold()]
        fields[name] = convert(value)
    return Wishes(**fields)


@when(step("{aktör:Aktör} antecknar personens önskemål inför mötet:"))
def _record_wishes(sip: Scenario, aktör, datatable):
    cmd = RecordWishes(case_id=sip.case_id, wishes=_wishes(datatable))
    sip.attempt(lambda: sip.ledger.record_wishes(cmd, aktör))


@then("ärendet har önskemålen:")
def _has_wishes(sip: Scenario, datatable):
    assert sip.case().wishes == _wishes(datatable)


# ================================================================================ invitations


@given(step(
    'att inbjudan till {deltagare:Deltagare} motiveras med "{skäl:Text}" '
    'och förväntar sig "{förväntan:Text}"'
))
def _invitation_text(sip: Scenario, deltagare: Who, skäl: str, förväntan: str):
    sip.invitation_edits.setdefault(deltagare.label.casefold(), {}).update(
        reason=skäl, expectation=förväntan
    )


@given(step("att inbjudan till {deltagare:Deltagare} inte säger varför de bjuds in"))
def _invitation_no_reason(sip: Scenario, deltagare: Who):
    sip.invitation_edits.setdefault(deltagare.label.casefold(), {})["reason"] = ""


@given(step("att inbjudan till {deltagare:Deltagare} inte säger vad som förväntas av dem"))
def _invitation_no_expectation(sip: Scenario, deltagare: Who):
    sip.invitation_edits.setdefault(deltagare.label.casefold(), {})["expectation"] = ""


@given(step("att inbjudan till {deltagare:Deltagare} inte anger vilken organisation som avses"))
def _invitation_no_organisation(sip: Scenario, deltagare: Who):
    sip.invitation_edits.setdefault(deltagare.label.casefold(), {})["organisation"] = None


@when(step("{aktör:Aktör} kallar till SIP-möte den {datum:Datum} utan att bjuda in någon"))
def _convene_nobody(sip: Scenario, aktör, datum: date):
    sip.attempt(lambda: sip.convene(aktör, datum, ()))


@when(step(
    '{aktör:Aktör} registrerar att {deltagare:Deltagare} tackar nej med motiveringen "{x:Text}"'
))
def _declines_with_reason(sip: Scenario, aktör, deltagare: Who, x: str):
    _reply(sip, aktör, deltagare, Reply.DECLINED, x)


@when(step("{aktör:Aktör} registrerar att {deltagare:Deltagare} tackar nej utan motivering"))
def _declines_without_reason(sip: Scenario, aktör, deltagare: Who):
    _reply(sip, aktör, deltagare, Reply.DECLINED)


# ---- invitations and replies ---------------------------------------------------------------------


@then(step(
    '{deltagare:Deltagare} är inbjuden till mötet med motiveringen "{skäl:Text}" '
    'och förväntan "{förväntan:Text}"'
))
def _invited_with(sip: Scenario, deltagare: Who, skäl: str, förväntan: str):
    invitation = _invited(sip, deltagare).invitation
    assert (invitation.reason, invitation.expectation) == (skäl, förväntan)


@then(step("svaret från {deltagare:Deltagare} är registrerat som ja"))
def _replied_yes(sip: Scenario, deltagare: Who):
    assert _invited(sip, deltagare).reply is Reply.ACCEPTED


@then(step('svaret från {deltagare:Deltagare} är registrerat som nej med motiveringen "{x:Text}"'))
def _replied_no(sip: Scenario, deltagare: Who, x: str):
    state = _invited(sip, deltagare)
    assert (state.reply, state.comment) == (Reply.DECLINED, x)


# ---- deadlines -------------------------------------------------------------------------------


@then(step("ärendet har ingen tidsfrist för {frist:Frist}"))
def _no_deadline(sip: Scenario, frist: str):
    assert frist not in sip.case().deadlines

