"""Legal holds and erasure (R34): who may place, lift and erase, and when an erasure is refused.

An erasure is a decided act: it names its decision, it never touches a held case, and it culls a
case before the policy makes it due only with a recorded reason. A refused erasure writes
nothing, so every check here runs before the event is recorded.
"""

from __future__ import annotations

from ..errors import InvalidInput, NotAuthorised, RuleViolation
from ..parties import Actor, Role
from ..retention import ErasureState, ExemptionKind, LegalHold, RetentionStatus

ERASED = "the case's personal data has been culled; nothing more may be recorded on it"


def check_not_erased(erasure: ErasureState | None) -> None:
    """After erasure every command on the case is refused: the record of what happened stays,
    and nothing is added to a case whose personal data is gone."""
    if erasure is not None:
        raise RuleViolation(ERASED, field="case_id", rule="R34")


def check_role(actor: Actor, role: Role, action: str) -> None:
    if actor.role is not role:
        raise NotAuthorised(
            f"{action} is for the role {role.value!r}, not {actor.role.value!r}",
            field="actor", rule="R34",
        )


def check_may_place_hold(actor: Actor, hold: LegalHold | None) -> None:
    check_role(actor, Role.AUDITOR, "placing a legal hold")
    if hold is not None:
        raise RuleViolation(
            f"the case is under legal hold since {hold.placed_on.isoformat()}; lift it before "
            "placing another",
            field="case_id", rule="R34",
        )


def check_may_lift_hold(actor: Actor, hold: LegalHold | None) -> None:
    check_role(actor, Role.AUDITOR, "lifting a legal hold")
    if hold is None:
        raise RuleViolation("the case is not under legal hold", field="case_id", rule="R34")


def check_erasure(
    decision: str,
    override_reason: str | None,
    hold: LegalHold | None,
    status: RetentionStatus,
) -> str | None:
    """The erasure may be recorded (by an archivist: ``check_role`` first): gives the override
    reason to record (None when the case is due). ``status`` is the case's retention status on
    the erasure's day under its policy."""
    if not decision.strip():
        raise InvalidInput(
            "an erasure is a decided act: give the decision's reference", field="decision",
            rule="R34",
        )
    if hold is not None:
        raise RuleViolation(
            f"the case is under legal hold since {hold.placed_on.isoformat()}; a held case is "
            "never erased",
            field="case_id", rule="R34",
        )
    if override_reason is not None and not override_reason.strip():
        raise InvalidInput(
            "an override says why the case is erased before it is due", field="override_reason",
            rule="R34",
        )
    kept_by_law = [e for e in status.exemptions
                   if e in (ExemptionKind.BORN_ON_RESEARCH_DAY, ExemptionKind.MUNICIPALITY)]
    if kept_by_law:
        # An override covers an earlier day, never what the law itself keeps (R34: records
        # kept for research, or in a named municipality).
        raise RuleViolation(
            f"the case is kept by law under {status.policy_id} version {status.policy_version} "
            f"({', '.join(e.value for e in kept_by_law)}); no override erases it",
            field="case_id", rule="R34",
        )
    if not status.due and override_reason is None:
        raise RuleViolation(
            f"the case is not due for erasure under {status.policy_id} version "
            f"{status.policy_version} ({status.reason}); an earlier erasure needs "
            "override_reason",
            field="override_reason", rule="R34",
        )
    return override_reason
