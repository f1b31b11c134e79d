"""The plan copy for the individual and the participants (R28), in Swedish.

Citizen-facing text is Swedish; everything else in the system is English (see DOMAIN.md's
glossary for the mapping).
"""

from __future__ import annotations

from .case import SipCase
from .commands import ResponsibleKind
from .errors import RuleViolation

_RESPONSIBLE = {
    ResponsibleKind.MUNICIPALITY: "kommunen",
    ResponsibleKind.REGION: "regionen",
}
_OVERALL = {"kommun": "Kommunen", "region": "Regionen"}


def render_plan_copy(case: SipCase) -> str:
    revision = case.current_plan
    if revision is None:
        raise RuleViolation("there is no plan to copy yet", field="case_id", rule="R28")
    plan = revision.content
    lines = [
        "Samordnad individuell plan (SIP)",
        f"För: {case.individual.name}",
        f"Planen beslutad: {revision.decided_on.isoformat()} (version {revision.revision})",
        "",
        "Behov:",
        *(f"  - {need}" for need in plan.needs),
        "",
        "Mål:",
        *(
            f"  - {g.description} (mäts genom: {g.measure}; klart senast "
            f"{g.target_date.isoformat() if g.target_date else '–'})"
            for g in plan.goals
        ),
        "",
        "Insatser och vem som ansvarar:",
    ]
    for intervention in plan.interventions:
        r = intervention.responsible
        who = _RESPONSIBLE.get(r.kind) or r.name
        lines.append(f"  - {intervention.description}: {who}")
    lines += [
        "",
        f"Övergripande ansvar: {_OVERALL[plan.overall_responsibility.value]}",
        f"Så samordnas insatserna: {plan.coordination}",
        f"Planen följs upp: {plan.follow_up_date.isoformat()}",
    ]
    return "\n".join(lines) + "\n"
