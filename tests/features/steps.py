"""Step definitions for the Swedish SIP features in ``features/``.

"Givet" steps set up a premise (and fail the scenario if the ledger refuses it); "När" steps run
one command through the ledger and keep its outcome; "Så" steps check the outcome and the case as
the ledger stores it. The words in braces are parse types from ``vocabulary.TYPES``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, time
from functools import partial

import parse
import pytest
from pytest_bdd import given, parsers, then, when

from domain.commands import (
    ConsentForm,
    ConsentGiverRole,
    CorrectEntry,
    DeclineSip,
    EstablishPlan,
    Goal,
    Intervention,
    IssuePlanCopy,
    PlanContent,
    RecordClosure,
    RecordFollowUp,
    RecordReply,
    RecordWishes,
    Reply,
    Responsible,
    ResponsibleKind,
    Wishes,
    WithdrawConsent,
)
from domain.deadlines import RULE_OF
from domain.errors import OpenSipExists
from domain.parties import OrganisationKind
from tests.builders import KOMMUN, REGION, pin_aged, pin_born, plan_content

from .context import Scenario
from .vocabulary import ACTORS, NAMED_CARE_CONTACT, TYPES, Who, local

# ---- parse types used only here ----------------------------------------------------------------

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


@given(step("att {verksamhet:Verksamhet} har bedömt att en SIP behövs"))
def _need_assessed_by(sip: Scenario, verksamhet):
    sip.proposal["need_assessed_by"] = verksamhet.kind


@given(step("att förslaget anger {verksamhet:Verksamhet} som kommunal huvudman"))
def _municipality(sip: Scenario, verksamhet):
    sip.proposal["municipality"] = verksamhet


@given(step("att planen ska vara en {plantyp:Plantyp}"))
def _plan_type(sip: Scenario, plantyp):
    sip.proposal["plan_type"] = plantyp


@given(step("att skälet till SIP är att {skäl:Skäl}"))
def _trigger(sip: Scenario, skäl):
    sip.proposal["triggers"] = (skäl,)


@given(step("att personen har {grupp:Målgrupp}"))
def _presumed_need(sip: Scenario, grupp):
    sip.proposal["presumed_need_groups"] = (*sip.proposal.get("presumed_need_groups", ()), grupp)


@given("att inget skäl är angivet")
@given("att inget annat skäl är angivet")
def _no_trigger(sip: Scenario):
    sip.proposal["triggers"] = ()


@given(step("att personen meddelades utskrivningsklar från sluten vård {datum:Datum}"))
def _discharge(sip: Scenario, datum: date):
    sip.proposal["discharge"] = dict(
        ready_for_discharge_at=local(datum, time(9)),
        named_care_contact_person_id=NAMED_CARE_CONTACT.person_id,
    )


@given("att förslaget bekräftar det öppna ärendet")
def _acknowledge(sip: Scenario):
    sip.proposal["acknowledged_open_case_ids"] = tuple(sip.open_cases())


@when(step("{aktör:Aktör} föreslår en SIP"))
def _propose(sip: Scenario, aktör):
    sip.attempt(lambda: sip.propose(aktör))


@when(step("{aktör:Aktör} registrerar att {förslagsställare:Förslagsställare} föreslår en SIP"))
def _propose_for(sip: Scenario, aktör, förslagsställare):
    sip.attempt(lambda: sip.propose(aktör, förslagsställare))


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


@when(step("{vem:Avböjare} tackar nej till SIP"))
def _declines(sip: Scenario, vem):
    sip.attempt(lambda: _decline(sip, vem))


@given(step("att {vem:Avböjare} har tackat nej till SIP"))
def _declined(sip: Scenario, vem):
    sip.must(lambda: _decline(sip, vem))


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


@when(step(
    "{aktör:Aktör} kallar till SIP-möte den {datum:Datum} och bjuder in {deltagare:Deltagarlista}"
))
def _convene(sip: Scenario, aktör, datum: date, deltagare):
    sip.attempt(lambda: sip.convene(aktör, datum, deltagare))


@when(step("{aktör:Aktör} kallar till SIP-möte den {datum:Datum} utan att bjuda in någon"))
def _convene_nobody(sip: Scenario, aktör, datum: date):
    sip.attempt(lambda: sip.convene(aktör, datum, ()))


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


@when(step(
    '{aktör:Aktör} registrerar att {deltagare:Deltagare} tackar nej med motiveringen "{x:Text}"'
))
def _declines_with_reason(sip: Scenario, aktör, deltagare: Who, x: str):
    _reply(sip, aktör, deltagare, Reply.DECLINED, x)


@when(step("{aktör:Aktör} registrerar att {deltagare:Deltagare} tackar nej utan motivering"))
def _declines_without_reason(sip: Scenario, aktör, deltagare: Who):
    _reply(sip, aktör, deltagare, Reply.DECLINED)


# ================================================================================ the plan


def _edit_plan(sip: Scenario, edit) -> None:
    sip.plan_edits.append(edit)


@given("att planen saknar behov")
def _no_needs(sip: Scenario):
    _edit_plan(sip, lambda p, _: p.update(needs=()))


@given("att planen saknar insatser")
def _no_interventions(sip: Scenario):
    _edit_plan(sip, lambda p, _: p.update(interventions=()))


@given("att planen saknar mål")
def _no_goals(sip: Scenario):
    _edit_plan(sip, lambda p, _: p.update(goals=()))


@given("att planen inte beskriver hur insatserna samordnas")
def _no_coordination(sip: Scenario):
    _edit_plan(sip, lambda p, _: p.update(coordination=""))


def _add_intervention(p: dict, description: str, responsible: Responsible) -> None:
    p["interventions"] = (
        *p["interventions"],
        Intervention(description=description, responsible=responsible),
    )


@given("att planen har en insats av en annan aktör utan namngiven ansvarig")
def _unnamed_other(sip: Scenario):
    other = Responsible(kind=ResponsibleKind.OTHER, name="")
    _edit_plan(sip, lambda p, _: _add_intervention(p, "Praktikplats", other))


@given(step('att planen har insatsen "{insats:Text}" som {ansvarig:Ansvarig} ansvarar för'))
def _intervention(sip: Scenario, insats: str, ansvarig: Responsible):
    _edit_plan(sip, lambda p, _: _add_intervention(p, insats, ansvarig))


@given(step("att {verksamhet:Verksamhet} får det övergripande ansvaret"))
def _overall(sip: Scenario, verksamhet):
    _edit_plan(sip, lambda p, _: p.update(overall_responsibility=verksamhet.kind))


@given(step("att planen ska följas upp {datum:Datum}"))
def _follow_up_date(sip: Scenario, datum: date):
    _edit_plan(sip, lambda p, _: p.update(follow_up_date=datum))


def _edit_goal(sip: Scenario, **changes) -> None:
    def edit(p: dict, _):
        first, *rest = p["goals"]
        p["goals"] = (first.model_copy(update=changes), *rest)

    _edit_plan(sip, edit)


@given(step(
    'att planens mål är "{mål:Text}", mäts som "{mått:Text}", ska vara nått {datum:Datum} '
    "och är accepterat av personen"
))
def _smart_goal(sip: Scenario, mål: str, mått: str, datum: date):
    goal = Goal(description=mål, measure=mått, target_date=datum, accepted_by_individual=True)
    _edit_plan(sip, lambda p, _: p.update(goals=(goal,)))


@given(step('att planens mål bara är formulerat som "{text:Text}"'))
def _vague_goal(sip: Scenario, text: str):
    _edit_goal(sip, description=text)


@given("att planens mål saknar mätetal")
def _goal_without_measure(sip: Scenario):
    _edit_goal(sip, measure="")


@given("att planens mål inte är accepterat av personen")
def _goal_not_accepted(sip: Scenario):
    _edit_goal(sip, accepted_by_individual=False)


@given("att planens mål saknar måldatum")
def _goal_without_date(sip: Scenario):
    _edit_goal(sip, target_date=None)


@given(step("att planens mål har måldatum {datum:Datum}"))
def _goal_date(sip: Scenario, datum: date):
    _edit_goal(sip, target_date=datum)


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


@then(step('felet nämner "{text:Text}"'))
def _error_mentions(sip: Scenario, text: str):
    assert sip.error is not None and text in sip.error.message, sip.error


@then(step('felet nämner inte "{text:Text}"'))
def _error_does_not_mention(sip: Scenario, text: str):
    # R35: neither the message nor the whole error as an adapter would print it.
    assert sip.error is not None, "the ledger accepted the command"
    assert text not in sip.error.message and text not in str(sip.error), sip.error


@then("felet röjer varken ärendet, personnumret eller personens namn")
def _error_discloses_nothing(sip: Scenario):
    # R35: what a refusal says goes to whoever proposed, party to the case or not; the adapter
    # decides whom to tell the open case's id (it is kept in the error, not in its text).
    assert sip.error is not None and sip.individual is not None
    pin = sip.individual.personal_identity_number
    digits = pin.replace("-", "")
    said = f"{sip.error.message} {sip.error}"
    for secret in (str(sip.case_id), pin, digits, digits[2:], sip.individual.name):
        assert secret not in said, (secret, said)


@then("felet pekar ut det öppna ärendet")
def _error_points_out(sip: Scenario):
    assert isinstance(sip.error, OpenSipExists)
    assert sip.error.open_case_ids == [sip.case_id]


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


@then(step("det finns {n:d} öppna SIP-ärenden för personen"))
def _n_open(sip: Scenario, n: int):
    assert len(sip.open_cases()) == n
    assert sip.case_id in sip.open_cases()


@then(step("förslaget är registrerat som lämnat av {förslagsställare:Förslagsställare}"))
def _proposed_by(sip: Scenario, förslagsställare):
    assert sip.case().proposed_by is förslagsställare


@then("både kommunen och regionen är huvudmän i ärendet")
def _both_principals(sip: Scenario):
    municipality, region = sip.case().principals
    assert (municipality.id, municipality.kind) == (KOMMUN.id, OrganisationKind.KOMMUN)
    assert (region.id, region.kind) == (REGION.id, OrganisationKind.REGION)


@then(step("ärendet är en {plantyp:Plantyp}"))
def _is_plan_type(sip: Scenario, plantyp):
    assert sip.case().plan_type is plantyp


@then(step("ärendet anger att en plan förutsätts behövas vid {grupp:Målgrupp}"))
def _presumed(sip: Scenario, grupp):
    case = sip.case()
    assert case.presumed_need_groups == (grupp,)
    assert case.triggers == ()


@then(step("ärendet anger skälet att {skäl:Skäl}"))
def _has_trigger(sip: Scenario, skäl):
    assert sip.case().triggers == (skäl,)


@then(step("{aktör:Aktör} är kontaktperson för ärendet"))
def _contact_person(sip: Scenario, aktör):
    assert sip.case().contact_person == aktör


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


# ---- the plan --------------------------------------------------------------------------------


def _content(sip: Scenario) -> PlanContent:
    plan = sip.case().current_plan
    assert plan is not None, "the case has no plan"
    return plan.content


@then(step('planen anger behovet "{behov:Text}"'))
def _plan_need(sip: Scenario, behov: str):
    assert behov in _content(sip).needs


@then(step('planen anger målet "{mål:Text}"'))
def _plan_goal(sip: Scenario, mål: str):
    assert mål in [g.description for g in _content(sip).goals]


@then(step('planen anger målet "{mål:Text}", mätt som "{mått:Text}", senast {datum:Datum}'))
def _plan_smart_goal(sip: Scenario, mål: str, mått: str, datum: date):
    goal = Goal(description=mål, measure=mått, target_date=datum, accepted_by_individual=True)
    assert goal in _content(sip).goals


@then(step('planen anger att {ansvarig:Ansvarig} ansvarar för "{insats:Text}"'))
def _plan_intervention(sip: Scenario, ansvarig: Responsible, insats: str):
    assert Intervention(description=insats, responsible=ansvarig) in _content(sip).interventions


@then(step("planen anger att {verksamhet:Verksamhet} har det övergripande ansvaret"))
def _plan_overall(sip: Scenario, verksamhet):
    assert _content(sip).overall_responsibility is verksamhet.kind


@then("planen anger hur insatserna samordnas")
def _plan_coordination(sip: Scenario):
    assert _content(sip).coordination.strip()


@then(step("planen ska följas upp {datum:Datum}"))
def _plan_follow_up(sip: Scenario, datum: date):
    assert _content(sip).follow_up_date == datum


@then(step("planen är reviderad till version {n:d}, beslutad {datum:Datum}"))
def _plan_revised(sip: Scenario, n: int, datum: date):
    plan = sip.case().current_plan
    assert (plan.revision, plan.decided_on) == (n, datum)


@then(step("planen har {n:d} uppföljningar"))
def _n_follow_ups(sip: Scenario, n: int):
    assert len(sip.case().follow_ups) == n


@then(step("en kopia av planen är lämnad till {mottagare:Deltagare}"))
def _copied(sip: Scenario, mottagare: Who):
    participant = sip.participant(mottagare)
    copies = [(name, role) for name, role, _ in sip.case().plan_copies]
    assert (participant.name, participant.role) in copies


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


@then(step("ärendet har ingen tidsfrist för {frist:Frist}"))
def _no_deadline(sip: Scenario, frist: str):
    assert frist not in sip.case().deadlines


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

