"""Steps only ``features/samtycke.feature`` uses: consent given, received, declined."""

from __future__ import annotations

from datetime import date, time

from pytest_bdd import given, then, when

from domain.commands import (
    ConsentForm,
    ConsentGiverRole,
)

from ..context import Scenario
from ..vocabulary import local
from .common import _decline, step

# ================================================================================ consent


@given(step("att {givare:Givare} lämnar ett {form:Form} samtycke"))
@when(step("{givare:Givare} lämnar ett {form:Form} samtycke"))
def _draft_consent(sip: Scenario, givare, form):
    sip.draft_consent(givare, form)


@given(step('att samtycket togs emot av "{namn:Text}" {datum:Datum} klockan {tid:Tid}'))
def _received(sip: Scenario, namn: str, datum: date, tid: time):
    sip.consent_draft.update(received_by=namn, received_at=local(datum, tid))


@given(step('att samtycket togs emot av "{namn:Text}" men tidpunkten inte antecknades'))
def _received_no_time(sip: Scenario, namn: str):
    sip.consent_draft.update(received_by=namn)


@given(step("att samtycket gäller från {från:Datum} till och med {till:Datum}"))
def _consent_period(sip: Scenario, från: date, till: date):
    sip.consent_draft.update(valid_from=från, valid_until=till)


@given(step("att samtycket gäller informationsutbyte mellan {verksamheter:Verksamheter}"))
def _consent_organisations(sip: Scenario, verksamheter):
    sip.consent_draft.update(organisation_ids=tuple(o.id for o in verksamheter))


@given("att samtycket inte anger några verksamheter")
def _consent_no_organisations(sip: Scenario):
    sip.consent_draft.update(organisation_ids=())


@when(step("{aktör:Aktör} registrerar samtycket"))
def _record_consent(sip: Scenario, aktör):
    sip.attempt(lambda: sip.record_consent(aktör))


@given(step("att {aktör:Aktör} har registrerat samtycket"))
def _consent_recorded(sip: Scenario, aktör):
    sip.must(lambda: sip.record_consent(aktör))


@when(step("{vem:Avböjare} tackar nej till SIP"))
def _declines(sip: Scenario, vem):
    sip.attempt(lambda: _decline(sip, vem))


# ================================================================================ outcomes


@then(step('felet nämner "{text:Text}"'))
def _error_mentions(sip: Scenario, text: str):
    assert sip.error is not None and text in sip.error.message, sip.error


# ---- consent ---------------------------------------------------------------------------------


@then(step("samtycket är lämnat av {givare:Givare}"))
def _consent_givers(sip: Scenario, givare):
    consent = sip.case().current_consent
    assert set(consent.givers) == set(sip.givers(givare))


@then(step(
    'samtycket är dokumenterat som muntligt, mottaget av "{namn:Text}" {datum:Datum} '
    "klockan {tid:Tid}"
))
def _oral_consent(sip: Scenario, namn: str, datum: date, tid: time):
    consent = sip.case().current_consent
    assert consent.form is ConsentForm.ORAL
    assert consent.received_by == namn
    assert consent.received_at == local(datum, tid)


@then(step("samtycket gäller informationsutbyte mellan {verksamheter:Verksamheter}"))
def _consent_covers(sip: Scenario, verksamheter):
    assert set(sip.case().current_consent.organisation_ids) == {o.id for o in verksamheter}


@then(step("avböjandet är registrerat som lämnat av {vem}"))
def _declined_by(sip: Scenario, vem: str):
    expected = {
        "personen själv": ConsentGiverRole.INDIVIDUAL,
        "vårdnadshavarna": ConsentGiverRole.GUARDIAN,
    }[vem]
    declined = [e for e in sip.events() if type(e).__name__ == "SipDeclined"]
    assert len(declined) == 1 and ConsentGiverRole(declined[0].declined_by) is expected

