"""How a command is decided on aggregates, apart from where they are read from and saved to.

SipLedger (domain/ledger.py) decides on the store, one command per transaction; the demo's bulk
loader on aggregates it keeps in memory between saves. Sharing these keeps the two from drifting
apart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventsourcing.domain import Aggregate

from .case import SipCase
from .commands import CaseCommand, ProposeSip
from .context import Context
from .errors import OpenSipExists, VersionConflict
from .identity import individual_key, normalise_personal_identity_number
from .individual import IndividualCases

FindRegister = Callable[[str], IndividualCases | None]
CaseMethod = Callable[[SipCase, Any, Context], None]


def decide_proposal(
    cmd: ProposeSip, ctx: Context, find_register: FindRegister, individual_secret: bytes
) -> tuple[SipCase, list[Aggregate]]:
    """A new case, and its individual's register (R09: one open SIP per individual).

    ``find_register`` gives the register for a normalised personal identity number, or None
    when the individual has none yet.
    """
    pin = normalise_personal_identity_number(
        cmd.individual.personal_identity_number,
        field="individual.personal_identity_number",
    )
    register = find_register(pin)
    open_ids = register.open_case_ids if register else []
    unseen = [i for i in open_ids if i not in cmd.acknowledged_open_case_ids]
    if unseen:
        raise OpenSipExists(unseen)  # R09
    case = SipCase.propose(cmd, ctx)
    if register is None:
        key = individual_key(pin, individual_secret)
        register = IndividualCases(key=key, first_case_id=case.id)
    else:
        register.case_opened(case.id)
    return case, [case, register]


def decide_on_case(
    case: SipCase,
    cmd: CaseCommand,
    ctx: Context,
    method: CaseMethod,
    find_register: FindRegister,
) -> list[Aggregate]:
    """Run ``method`` on the case; a case that ends leaves its individual's register (R09)."""
    if cmd.expected_version is not None and case.version != cmd.expected_version:
        raise VersionConflict(case.id, cmd.expected_version, case.version)
    was_open = case.is_open
    method(case, cmd, ctx)
    if was_open and not case.is_open:
        register = find_register(case.individual.personal_identity_number)
        if register is not None and case.id in register.open_case_ids:
            register.case_ended(case.id)
            return [case, register]
    return [case]
