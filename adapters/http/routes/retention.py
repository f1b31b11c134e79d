"""Retention over HTTP (R34): an auditor places and lifts a legal hold on a case, an archivist
erases a case's personal data as a decided act.

The routes work like the other commands (routes/commands.py: the domain's command model as the
body, ``Idempotency-Key`` as the command id, the caller as the recorded actor, the answer once
the read models have applied it), with two differences, each for a reason:

- **Roles.** A legal hold is the auditor's (who otherwise only reads: a hold is what keeps the
  evidence an audit needs), an erasure the archivist's; ``coordinator`` and ``service`` may do
  neither (403 naming the roles). The domain checks the actor's role again (R34).
- **Whose case.** An auditor reads every case (the supervisory authority is party to none), so a
  hold needs no party to the case; an archivist erases for its own organisation, so an erasure
  needs the archivist's organisation to be party to the case, as every other write does (R13).

Refusals are the domain's and name R34 and the field (422): an erasure without a decision, of a
case not yet due without ``override_reason``, of a held case or one erased already; a second
hold, lifting none. Nothing is written then. The ledger records an erasure before it destroys
the keys; a repeated erasure command finishes the destruction and writes nothing new.
"""

# No `from __future__ import annotations`: FastAPI reads the body models from the signatures of
# routes made in a loop, which string annotations would hide.

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Depends, Response

from adapters.bootstrap import Services
from adapters.http.auth import requires, services
from adapters.http.params import CaseId
from adapters.http.problems import PROBLEM_RESPONSES
from adapters.http.routes.commands import (
    IDEMPOTENCY_KEY,
    WAIT,
    CommandAccepted,
    answer,
    body_model,
    build,
    command_id_for,
    run_case_command,
)
from adapters.identity.tokens import Principal
from domain.commands import CaseCommand, ErasePersonalData, LiftLegalHold, PlaceLegalHold
from domain.parties import Role

router = APIRouter(tags=["retention"], responses=PROBLEM_RESPONSES)


class RetentionRoute:
    """One route: its path under the case, command, ledger method, the role that may send it,
    whether the caller's organisation must be party to the case, and its summary."""

    def __init__(self, path: str, command: type[CaseCommand], method: str, role: Role,
                 party_only: bool, summary: str) -> None:
        self.path, self.command, self.method = path, command, method
        self.role, self.party_only, self.summary = role, party_only, summary


RETENTION_ROUTES = [
    RetentionRoute(
        "legal-hold", PlaceLegalHold, "place_legal_hold", Role.AUDITOR, False,
        "Place a legal hold on a case (R34): it is never erased while held; auditors only"),
    RetentionRoute(
        "legal-hold/lift", LiftLegalHold, "lift_legal_hold", Role.AUDITOR, False,
        "Lift the case's legal hold (R34); auditors only"),
    RetentionRoute(
        "erasure", ErasePersonalData, "erase_personal_data", Role.ARCHIVIST, True,
        "Erase the case's personal data as a decided act (R34): the erasure is recorded, then "
        "its data subjects' keys are destroyed; refused without a decision, before the case is "
        "due (unless override_reason says why), and under legal hold; archivists only"),
]


def _vacuum_keys(svc: Services) -> None:
    """After an erasure, reclaim the destroyed keys' old row versions at once (a wrapped copy
    of each lies in the key table's pages until VACUUM; adapters/store/keys.py)."""
    vacuum = getattr(svc.ledger.keys, "vacuum", None)
    if vacuum is not None:
        vacuum()


def _route(spec: RetentionRoute) -> None:
    body_type = body_model(spec.command)
    allowed: Callable[..., Awaitable[Principal]] = requires(spec.role)

    def endpoint(
        case_id: CaseId,
        body: body_type,  # type: ignore[valid-type]
        response: Response,
        svc: Services = Depends(services),
        caller: Principal = Depends(allowed),
        idempotency_key: str | None = IDEMPOTENCY_KEY,
        wait: bool = WAIT,
    ) -> CommandAccepted:
        command_id = command_id_for(idempotency_key, caller)
        cmd = build(spec.command, {**dict(body), "case_id": case_id, "command_id": command_id})
        result = run_case_command(svc, caller, spec.method, cmd, caller.actor(spec.role),
                                  party_only=spec.party_only)
        if spec.command is ErasePersonalData:
            _vacuum_keys(svc)
        return answer(svc, result, command_id, response, wait)

    endpoint.__name__ = spec.method
    router.add_api_route(
        f"/cases/{{case_id}}/{spec.path}", endpoint, methods=["POST"],
        response_model=CommandAccepted, summary=spec.summary, name=spec.method,
    )


for _spec in RETENTION_ROUTES:
    _route(_spec)
