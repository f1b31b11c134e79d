"""Steps that more than one feature file uses, the parse types they share and the ``sip`` fixture.

"Givet" steps set up a premise (and fail the scenario if the ledger refuses it); "När" steps run
one command through the ledger and keep its outcome; "Så" steps check the outcome and the case as
the ledger stores it. The words in braces are parse types from ``vocabulary.TYPES`` and those
below. A step that only one feature file uses lives in the module named after that file.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from functools import partial

import parse
import pytest
from pytest_bdd import given, parsers, then, when

from domain.commands import (
    ConsentForm,
    ConsentGiverRole,
    DeclineSip,
    EstablishPlan,
    IssuePlanCopy,
    PlanContent,
    RecordReply,
    Reply,
    Responsible,
    ResponsibleKind,
    WithdrawConsent,
)
from domain.deadlines import RULE_OF
from tests.support.builders import KOMMUN, REGION, pin_aged, pin_born, plan_content

from ..context import Scenario
from ..vocabulary import ACTORS, TYPES, Who

# ---- parse types used only by the steps ----------------------------------------------------------


_RESPONSIBLE = {"kommunen": ResponsibleKind.MUNICIPALITY, "regionen": ResponsibleKind.REGION}


@parse.with_pattern(r'kommunen|regionen|"[^"]+"')
def _responsible(text: str) -> Responsible:
    if text.startswith('"'):
        return Responsible(kind=ResponsibleKind.OTHER, name=text.strip('"'))
    return Responsible(kind=_RESPONSIBLE[text.casefold()])


@parse.with_pattern(r"skriftligt|muntligt")
def _form(text: str) -> ConsentForm:
    return ConsentForm.WRITTEN if text.casefold() == "skriftligt" else ConsentForm.ORAL


@parse.with_pattern(r"kommunens|regionens")
def _principal_genitive(text: str):
    return KOMMUN if text.casefold() == "kommunens" else REGION


@parse.with_pattern(r"personen|vårdnadshavarna")
def _decliner(text: str) -> ConsentGiverRole:
    return ConsentGiverRole.INDIVIDUAL if text == "personen" else ConsentGiverRole.GUARDIAN


@parse.with_pattern(r'[^"]*')
def _text(text: str) -> str:
    return text


TYPES = {
    **TYPES,
    "Text": _text,
    "Ansvarig": _responsible,
    "Form": _form,
    "Huvudmans": _principal_genitive,
    "Avböjare": _decliner,
}


step = partial(parsers.parse, extra_types=TYPES)


@pytest.fixture
def sip(ledger, clock) -> Iterator[Scenario]:
    scenario = Scenario(ledger=ledger, clock=clock)
    yield scenario
    # A refusal that no "Så avvisas det" step looked at would hide a broken scenario.
    assert scenario.error_checked, f"a refusal was never checked: {scenario.error}"


# ================================================================================ time


@given(step("att dagens datum är {datum:Datum}"))
@when(step("det har blivit {datum:Datum}"))
def _today(sip: Scenario, datum: date):
    sip.set_today(datum)


# ================================================================================ the individual


@given(step("en person som är {ålder:d} år"))
def _person(sip: Scenario, ålder: int):
    sip.new_individual(pin_aged(ålder, today=sip.today), "Kim Karlsson")


@given(step('ett barn som är {ålder:d} år med vårdnadshavarna "{a:Text}" och "{b:Text}"'))
@given(step('ett barn som är {ålder:d} år med vårdnadshavaren "{a:Text}"'))
def _child(sip: Scenario, ålder: int, a: str, b: str | None = None):
    guardians = (a, b) if b else (a,)
    sip.new_individual(pin_aged(ålder, today=sip.today), "Elin Lind", guardians)


@given(step("en ung vuxen född {datum:Datum}"))
def _young_adult(sip: Scenario, datum: date):
    sip.new_individual(pin_born(datum), "Alex Berg")


# ================================================================================ the proposal


@given(step('att riktlinjen för tidsfrister är "{policy:Text}"'))
def _policy(sip: Scenario, policy: str):
    sip.proposal["deadline_policy"] = policy


@given("att förslaget bekräftar det öppna ärendet")
def _acknowledge(sip: Scenario):
    sip.proposal["acknowledged_open_case_ids"] = tuple(sip.open_cases())


@when(step("{aktör:Aktör} föreslår en SIP"))
def _propose(sip: Scenario, aktör):
    sip.attempt(lambda: sip.propose(aktör))


@given(step("att {aktör:Aktör} har föreslagit en SIP"))
def _proposed(sip: Scenario, aktör):
    sip.must(lambda: sip.propose(aktör))


@given(step("ett SIP-ärende för en person som är {ålder:d} år"))
@given(step('ett SIP-ärende enligt riktlinjen "{policy:Text}" för en person som är {ålder:d} år'))
def _a_case(sip: Scenario, ålder: int, policy: str | None = None):
    _person(sip, ålder)
    if policy:
        sip.proposal["deadline_policy"] = policy
    sip.must(lambda: sip.propose(ACTORS["kommunens samordnare"]))


# ================================================================================ consent


def _consent(sip: Scenario, givers, verksamheter, deltagare=()) -> None:
    sip.draft_consent(givers, ConsentForm.WRITTEN)
    sip.consent_draft.update(
        organisation_ids=tuple(o.id for o in verksamheter),
        approved_persons=tuple(w.name for w in deltagare if w.name and not w.organisation),
    )


@given(step("att personen har samtyckt till informationsutbyte mellan {verksamheter:Verksamheter}"))
@given(step(
    "att personen har samtyckt till informationsutbyte mellan {verksamheter:Verksamheter} "
    "och vill att {deltagare:Deltagarlista} bjuds in"
))
def _has_consented(sip: Scenario, verksamheter, deltagare=()):
    _consent(sip, [(ConsentGiverRole.INDIVIDUAL, None)], verksamheter, deltagare)
    sip.must(lambda: sip.record_consent(ACTORS["kommunens samordnare"]))


@given(step(
    "att vårdnadshavarna har samtyckt till informationsutbyte mellan {verksamheter:Verksamheter}"
))
def _guardians_consented(sip: Scenario, verksamheter):
    _consent(sip, sip.guardian_givers(), verksamheter)
    sip.must(lambda: sip.record_consent(ACTORS["kommunens samordnare"]))


@when(step("personen samtycker till informationsutbyte mellan {verksamheter:Verksamheter}"))
def _consents(sip: Scenario, verksamheter):
    _consent(sip, [(ConsentGiverRole.INDIVIDUAL, None)], verksamheter)
    sip.attempt(lambda: sip.record_consent(ACTORS["kommunens samordnare"]))


def _withdraw(sip: Scenario):
    cmd = WithdrawConsent(case_id=sip.case_id, withdrawn_by=ConsentGiverRole.INDIVIDUAL)
    return sip.ledger.withdraw_consent(cmd, ACTORS["kommunens samordnare"])


@when("personen återkallar sitt samtycke")
def _withdraws(sip: Scenario):
    sip.attempt(lambda: _withdraw(sip))


@given("att personen har återkallat sitt samtycke")
def _withdrawn(sip: Scenario):
    sip.must(lambda: _withdraw(sip))


def _decline(sip: Scenario, role: ConsentGiverRole):
    cmd = DeclineSip(case_id=sip.case_id, declined_by=role, note="Vill inte ha SIP just nu")
    return sip.ledger.decline(cmd, ACTORS["kommunens samordnare"])


@given(step("att {vem:Avböjare} har tackat nej till SIP"))
def _declined(sip: Scenario, vem):
    sip.must(lambda: _decline(sip, vem))


# ================================================================================ invitations


@when(step(
    "{aktör:Aktör} kallar till SIP-möte den {datum:Datum} och bjuder in {deltagare:Deltagarlista}"
))
def _convene(sip: Scenario, aktör, datum: date, deltagare):
    sip.attempt(lambda: sip.convene(aktör, datum, deltagare))


@given(step(
    "att {aktör:Aktör} har kallat till SIP-möte den {datum:Datum} "
    "och bjudit in {deltagare:Deltagarlista}"
))
def _convened(sip: Scenario, aktör, datum: date, deltagare):
    sip.must(lambda: sip.convene(aktör, datum, deltagare))


def _reply(sip: Scenario, aktör, deltagare: Who, reply: Reply, comment: str = ""):
    cmd = RecordReply(
        case_id=sip.case_id,
        participant_key=sip.participant_key(deltagare),
        reply=reply,
        comment=comment,
    )
    sip.attempt(lambda: sip.ledger.record_reply(cmd, aktör))


@when(step("{aktör:Aktör} registrerar att {deltagare:Deltagare} tackar ja"))
def _accepts(sip: Scenario, aktör, deltagare: Who):
    _reply(sip, aktör, deltagare, Reply.ACCEPTED)


# ================================================================================ the plan


def _edit_plan(sip: Scenario, edit) -> None:
    sip.plan_edits.append(edit)


def _plan(sip: Scenario, meeting_on: date, **changes) -> PlanContent:
    fields = dict(plan_content(meeting_on, **changes))
    for edit in sip.plan_edits:
        edit(fields, meeting_on)
    return PlanContent(**fields)


def _establish(sip: Scenario, aktör):
    cmd = EstablishPlan(case_id=sip.case_id, plan=_plan(sip, sip.meeting_on()))
    return sip.ledger.establish_plan(cmd, aktör)


@when(step("{aktör:Aktör} fastställer planen"))
def _establishes(sip: Scenario, aktör):
    sip.attempt(lambda: _establish(sip, aktör))


@given(step("att {aktör:Aktör} har fastställt planen"))
def _established(sip: Scenario, aktör):
    sip.must(lambda: _establish(sip, aktör))
    sip.plan_edits.clear()


@when(step("{aktör:Aktör} lämnar en kopia av planen till {mottagare:Deltagare}"))
def _copy(sip: Scenario, aktör, mottagare: Who):
    participant = sip.participant(mottagare)
    cmd = IssuePlanCopy(
        case_id=sip.case_id, recipient_name=participant.name, recipient_role=participant.role
    )
    sip.attempt(lambda: sip.ledger.issue_plan_copy(cmd, aktör))


# ================================================================================ outcomes


@then("godtas det")
def _accepted(sip: Scenario):
    assert sip.error is None, f"refused: {sip.error}"
    assert sip.result is not None and not sip.result.replayed
    assert sip.ledger.recorder.max_notification_id() > (sip.notification_before or 0)


@then(step('avvisas det med regel "{regel:Text}"'))
def _refused(sip: Scenario, regel: str):
    assert sip.error is not None, "the ledger accepted the command"
    sip.error_checked = True
    assert sip.error.rule == regel, f"refused by {sip.error.rule}, not {regel}: {sip.error}"
    # Nothing was written: not to the log, and not to the case.
    assert sip.ledger.recorder.max_notification_id() == sip.notification_before
    if sip.case_id is not None:
        assert sip.case().version == sip.version_before


@then(step('felet gäller fältet "{fält:Text}"'))
def _error_field(sip: Scenario, fält: str):
    assert sip.error is not None and sip.error.field == fält, sip.error


@then(step('felet nämner inte "{text:Text}"'))
def _error_does_not_mention(sip: Scenario, text: str):
    # R35: neither the message nor the whole error as an adapter would print it.
    assert sip.error is not None, "the ledger accepted the command"
    assert text not in sip.error.message and text not in str(sip.error), sip.error


# ================================================================================ the case


@then(step("ärendet är {stadium:Stadium}"))
def _stage(sip: Scenario, stadium):
    assert sip.case().stage is stadium


@then("det finns ett öppet SIP-ärende för personen")
def _one_open(sip: Scenario):
    assert sip.open_cases() == [sip.case_id]


@then("det finns inget öppet SIP-ärende för personen")
def _none_open(sip: Scenario):
    assert sip.open_cases() == []


@then(step("{aktör:Aktör} är kontaktperson för ärendet"))
def _contact_person(sip: Scenario, aktör):
    assert sip.case().contact_person == aktör


# ---- invitations and replies ---------------------------------------------------------------------


def _invited(sip: Scenario, deltagare: Who):
    case = sip.case()
    state = case.invitations.get(sip.participant_key(deltagare))
    assert state is not None, f"{deltagare.label} is not invited"
    assert state.meeting_number == case.current_meeting.number
    return state


@then(step("{deltagare:Deltagare} är inbjuden till mötet"))
def _is_invited(sip: Scenario, deltagare: Who):
    _invited(sip, deltagare)


# ---- the plan --------------------------------------------------------------------------------


def _content(sip: Scenario) -> PlanContent:
    plan = sip.case().current_plan
    assert plan is not None, "the case has no plan"
    return plan.content


@then(step("planen ska följas upp {datum:Datum}"))
def _plan_follow_up(sip: Scenario, datum: date):
    assert _content(sip).follow_up_date == datum


# ---- deadlines -------------------------------------------------------------------------------


def _deadline(sip: Scenario, key: str):
    state = sip.case().deadlines.get(key)
    assert state is not None, f"no deadline {key!r}; the case has {sorted(sip.case().deadlines)}"
    return state


@then(step(
    'ärendet har en tidsfrist för {frist:Frist} med sista dag {datum:Datum} '
    'enligt regel "{regel:Text}"'
))
def _has_deadline(sip: Scenario, frist: str, datum: date, regel: str):
    state = _deadline(sip, frist)
    assert state.deadline.due == datum, f"due {state.deadline.due}, not {datum}"
    assert state.deadline.rule == regel == RULE_OF[state.deadline.kind]


@then(step("tidsfristen för {frist:Frist} är uppfylld {datum:Datum}"))
def _deadline_met_on(sip: Scenario, frist: str, datum: date):
    state = _deadline(sip, frist)
    assert state.met_on == datum and state.cancelled_on is None, state


@then(step("tidsfristen för {frist:Frist} hölls"))
def _deadline_kept(sip: Scenario, frist: str):
    state = _deadline(sip, frist)
    assert state.met_on is not None and state.met_on <= state.deadline.due, state


@then(step("tidsfristen för {frist:Frist} överskreds"))
def _deadline_missed(sip: Scenario, frist: str):
    state = _deadline(sip, frist)
    assert state.met_on is not None and state.met_on > state.deadline.due, state


@then(step("tidsfristen för {frist:Frist} är öppen"))
def _deadline_open(sip: Scenario, frist: str):
    assert _deadline(sip, frist).is_open


@then(step("tidsfristen för {frist:Frist} är avbruten {datum:Datum}"))
def _deadline_cancelled(sip: Scenario, frist: str, datum: date):
    state = _deadline(sip, frist)
    assert state.cancelled_on == datum and state.met_on is None, state


@then(step("tidsfristen för {frist:Frist} ligger hos {verksamhet:Verksamhet}"))
def _deadline_responsible(sip: Scenario, frist: str, verksamhet):
    assert _deadline(sip, frist).deadline.responsible_organisation_id == verksamhet.id

