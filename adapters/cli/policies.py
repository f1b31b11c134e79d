"""``sip-ledger policies``: the deadline policies a case can be proposed under, with the rule
behind each term."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from domain.deadlines import DeadlinePolicy, known_policies


def policies() -> None:
    """List the deadline policies a case can be proposed under."""
    table = Table(title="Deadline policies", show_lines=True)
    table.add_column("id", no_wrap=True, style="bold")
    table.add_column("v", justify="right")
    table.add_column("name")
    table.add_column("deadlines and rights (rule)")
    for p in known_policies():
        table.add_row(p.id, str(p.version), p.name, "\n".join(_policy_terms(p)))
    Console().print(table)


def _policy_terms(p: DeadlinePolicy) -> list[str]:
    terms = [f"start within {p.start_within_days} d (R16)"]
    if p.meeting_within_days is not None:
        terms.append(f"meeting within {p.meeting_within_days} d (R17)")
    if p.up_to_age is not None:
        terms.append(f"applies up to {p.up_to_age} years (R03)")
    if p.school_may_convene:
        terms.append("school may convene (R03)")
    if p.invitation_lead_days is not None:
        terms.append(f"invite at least {p.invitation_lead_days} d ahead (R18)")
    terms.append(f"discharge invitation within {p.discharge_invitation_within_days} d (R05)")
    terms.append(f"closure documented within {p.closure_documentation_within_days} d (R31)")
    return terms
