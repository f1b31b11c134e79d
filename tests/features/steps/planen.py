"""Steps only ``features/planen.feature`` uses: the plan's content and its copies."""

from __future__ import annotations

from datetime import date

from pytest_bdd import given, then

from domain.commands import (
    Goal,
    Intervention,
    Responsible,
    ResponsibleKind,
)

from ..context import Scenario
from ..vocabulary import Who
from .common import _content, _edit_plan, step

# ================================================================================ the plan


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


# ---- the plan --------------------------------------------------------------------------------


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


@then(step("en kopia av planen är lämnad till {mottagare:Deltagare}"))
def _copied(sip: Scenario, mottagare: Who):
    participant = sip.participant(mottagare)
    copies = [(name, role) for name, role, _ in sip.case().plan_copies]
    assert (participant.name, participant.role) in copies

