"""The plan (R25–R27) and its revisions."""

from __future__ import annotations

from datetime import date

from .commands import PlanContent, ResponsibleKind
from .errors import InvalidInput
from .parties import Frozen


class PlanRevision(Frozen):
    revision: int
    content: PlanContent
    decided_on: date


def check_plan(plan: PlanContent, *, meeting_on: date, field: str = "plan") -> None:
    """Refuse a plan that lacks what R25 asks for, or breaks R19, R26 or R27."""
    if not plan.needs or not all(n.strip() for n in plan.needs):
        raise InvalidInput("the plan must state the needs", field=f"{field}.needs", rule="R25")
    if not plan.interventions:
        raise InvalidInput(
            "the plan must state the interventions", field=f"{field}.interventions", rule="R25"
        )
    for i, intervention in enumerate(plan.interventions):
        r = intervention.responsible
        if r.kind is ResponsibleKind.OTHER and not r.name.strip():
            raise InvalidInput(
                "an intervention by others must name who is responsible",
                field=f"{field}.interventions[{i}].responsible.name",
                rule="R25",
            )
    if not plan.coordination.strip():
        raise InvalidInput(
            "the plan must say how the interventions are coordinated",
            field=f"{field}.coordination",
            rule="R25",
        )
    if not plan.overall_responsibility.is_principal:
        raise InvalidInput(
            "overall responsibility lies with the municipality (kommun) or the region only",
            field=f"{field}.overall_responsibility",
            rule="R26",
        )
    if plan.follow_up_date <= meeting_on:
        raise InvalidInput(
            "the follow-up date must come after the meeting",
            field=f"{field}.follow_up_date",
            rule="R19",
        )
    if not plan.goals:
        raise InvalidInput("the plan must state the goals", field=f"{field}.goals", rule="R25")
    for i, goal in enumerate(plan.goals):
        where = f"{field}.goals[{i}]"
        if len(goal.description.strip()) < 5:
            raise InvalidInput("a goal must be specific", field=f"{where}.description", rule="R27")
        if not goal.measure.strip():
            raise InvalidInput("a goal must be measurable", field=f"{where}.measure", rule="R27")
        if goal.target_date is None or goal.target_date <= meeting_on:
            raise InvalidInput(
                "a goal must be time-bound, with a target date after the meeting",
                field=f"{where}.target_date",
                rule="R27",
            )
        if not goal.accepted_by_individual:
            raise InvalidInput(
                "a goal must be accepted by the individual",
                field=f"{where}.accepted_by_individual",
                rule="R27",
            )
