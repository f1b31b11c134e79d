"""Deadline policies as versioned data, and the deadlines they set.

A case chooses its policy when it is proposed. Every deadline a command sets is computed when the
command runs and stored in its event together with the policy id and version, so replaying a case
never depends on today's configuration: a later version of a policy applies to later cases only.
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum

from pydantic import Field

from .errors import InvalidInput
from .parties import Frozen


class DeadlineKind(StrEnum):
    START = "start"  # R16: work starts without delay
    MEETING = "meeting"  # R17: meeting within the regional limit
    INVITATION_LEAD_TIME = "invitation_lead_time"  # R18: invitations at least N days ahead
    DISCHARGE_INVITATION = "discharge_invitation"  # R05: invitation within 3 days of the notice
    FOLLOW_UP = "follow_up"  # R19: follow-up by the date the plan names
    CONSENT_EXPIRY = "consent_expiry"  # R12: consent is time-limited
    CLOSURE_DOCUMENTATION = "closure_documentation"  # R31: each principal documents closure


RULE_OF = {
    DeadlineKind.START: "R16",
    DeadlineKind.MEETING: "R17",
    DeadlineKind.INVITATION_LEAD_TIME: "R18",
    DeadlineKind.DISCHARGE_INVITATION: "R05",
    DeadlineKind.FOLLOW_UP: "R19",
    DeadlineKind.CONSENT_EXPIRY: "R12",
    DeadlineKind.CLOSURE_DOCUMENTATION: "R31",
}


class DeadlinePolicy(Frozen):
    id: str
    version: int
    name: str
    # R16. "Without delay ... normally within a few days": the national default is 5 calendar
    # days, one working week, the longest reading of "a few days" that still reads as "soon".
    start_within_days: int = 5
    # R17: Västra Götaland, children and young people: the meeting within three weeks.
    meeting_within_days: int | None = None
    # R03/R17 apply to children and young people up to and including this age.
    up_to_age: int | None = None
    # R03: under the Västra Götaland agreement preschool/school may convene.
    school_may_convene: bool = False
    # R18: invitations at least three weeks ahead (Jönköping practice).
    invitation_lead_days: int | None = None
    # R05: lag (2017:612): invitation no later than 3 days after the ready-for-discharge notice.
    discharge_invitation_within_days: int = 3
    # R31: our choice: a principal documents closure within 14 days of what ended planning.
    closure_documentation_within_days: int = 14
    # What the dashboards call "due soon".
    due_soon_days: int = Field(default=3, ge=0)


_POLICIES: dict[tuple[str, int], DeadlinePolicy] = {
    (p.id, p.version): p
    for p in (
        DeadlinePolicy(id="national", version=1, name="Nationell standard (utan dröjsmål)"),
        DeadlinePolicy(
            id="vgr-barn-unga",
            version=1,
            name="Västra Götaland, barn och unga 0–20 år",
            meeting_within_days=21,
            up_to_age=20,
            school_may_convene=True,
        ),
        DeadlinePolicy(
            id="jonkoping",
            version=1,
            name="Jönköpings län (kallelse minst tre veckor i förväg)",
            invitation_lead_days=21,
        ),
    )
}


def current_policy(policy_id: str) -> DeadlinePolicy:
    versions = [p for (pid, _), p in _POLICIES.items() if pid == policy_id]
    if not versions:
        known = ", ".join(sorted({pid for pid, _ in _POLICIES}))
        raise InvalidInput(
            f"unknown deadline policy {policy_id!r}; known policies: {known}",
            field="deadline_policy",
        )
    return max(versions, key=lambda p: p.version)


def policy(policy_id: str, version: int) -> DeadlinePolicy:
    return _POLICIES[(policy_id, version)]


def known_policies() -> list[DeadlinePolicy]:
    return sorted(_POLICIES.values(), key=lambda p: (p.id, p.version))


class Deadline(Frozen):
    """One deadline of a case, as the command that set it computed it."""

    key: str  # unique within a case, e.g. "start", "follow_up:3", "closure:kommun-1"
    kind: DeadlineKind
    due: date
    rule: str
    policy_id: str
    policy_version: int
    responsible_organisation_id: str | None = None


def make_deadline(
    policy: DeadlinePolicy,
    kind: DeadlineKind,
    due: date,
    *,
    key: str | None = None,
    responsible: str | None = None,
) -> Deadline:
    return Deadline(
        key=key or kind.value,
        kind=kind,
        due=due,
        rule=RULE_OF[kind],
        policy_id=policy.id,
        policy_version=policy.version,
        responsible_organisation_id=responsible,
    )


def days_after(day: date, days: int) -> date:
    return day + timedelta(days=days)
