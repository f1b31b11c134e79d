"""How a SipCase comes back from a snapshot's state exactly as a replay builds it.

The snapshot class itself, ``CaseSnapshot``, stays in domain/case.py beside the aggregate: the
topic ``domain.case:CaseSnapshot`` is stored with every snapshot row, so moving the class would
change what is written. This module holds the rules it restores by, which name no aggregate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .case_state import Stage
from .commands import ParticipantRole, PlanType, PresumedNeedGroup, ProposerKind, Trigger
from .parties import OrganisationKind


class SnapshotMismatch(Exception):
    """A snapshot's state is not the shape this code restores exactly (taken by other code)."""


def _same(value: Any) -> Any:
    return value


# How each attribute of a SipCase comes back from a snapshot's state, in which the JSON
# transcoder left StrEnums as plain strings and tuples as lists (pydantic models, dates, datetimes
# and the DeadlineState / InvitationState dataclasses come back typed through the transcodings
# in domain/transcodings.py). Every attribute the aggregate has must be listed: a snapshot of a
# case with an attribute missing here is refused when taken and when restored, and
# tests/domain/test_snapshots.py fails. The library's own attributes come first, in the order a
# replay sets them.
LIBRARY_ATTRIBUTES = ("_id", "_version", "_created_on", "_modified_on", "_pending_events")
RESTORE: dict[str, Callable[[Any], Any]] = {
    "_created_on": _same,
    "_modified_on": _same,
    "individual": _same,
    "proposed_by": ProposerKind,
    "municipality": _same,
    "region": _same,
    "need_assessed_by": lambda value: OrganisationKind(value) if value else None,
    "triggers": lambda value: tuple(Trigger(t) for t in value),
    "presumed_need_groups": lambda value: tuple(PresumedNeedGroup(g) for g in value),
    "plan_type": PlanType,
    "policy_id": _same,
    "policy_version": _same,
    "discharge": _same,
    "proposed_on": _same,
    "proposer": _same,
    "stage": Stage,
    "consents": list,
    "wishes": _same,
    "meetings": list,
    "invitations": dict,
    "contact_person": _same,
    "plan_revisions": list,
    "follow_ups": list,
    "plan_copies": lambda value: [
        (name, ParticipantRole(role), on) for name, role, on in value
    ],
    "closures": dict,
    "corrections": list,
    "deadlines": dict,
    # R34: retention (domain/retention.py; the two models come back typed by their transcodings).
    "last_entry_on": _same,
    "legal_hold": _same,
    "erasure": _same,
    # Set only by the event that ends the case.
    "declined_on": _same,
    "closed_on": _same,
}
_SOMETIMES = frozenset({"declined_on", "closed_on"})


# A snapshot's state is the aggregate's ``__dict__``: attribute name to value of any type, so
# it stays free-form; RESTORE above is what gives each attribute back its type.
def check_shape(state: dict[str, Any]) -> None:
    unknown = [k for k in state if k not in RESTORE and k not in LIBRARY_ATTRIBUTES]
    missing = [k for k in RESTORE if k not in state and k not in _SOMETIMES]
    if unknown or missing:
        raise SnapshotMismatch(
            f"SipCase snapshot state has attributes without a restore rule {unknown} "
            f"or lacks {missing}: see RESTORE in domain/snapshot.py"
        )


def restore_types(state: dict[str, Any]) -> dict[str, Any]:
    """The aggregate's ``__dict__`` as a replay builds it, from a decoded snapshot's state."""
    check_shape(state)
    restored = {k: state[k] for k in LIBRARY_ATTRIBUTES}
    for name, value in state.items():
        if name not in restored:
            restored[name] = RESTORE[name](value)
    return restored
