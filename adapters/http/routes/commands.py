"""Commands over HTTP: one POST per action of the ledger.

Each route takes the domain's own command model as its body (without ``command_id`` and
``case_id``, which come from the ``Idempotency-Key`` header and the path), records the action
through the ledger with the caller as the actor (R32), and answers with the case id, its new
version and the notification ids. By default it answers only once the read models have applied
the command, so the caller's next query sees it (``?wait=false`` answers at once).

``Idempotency-Key`` maps to the command id: a UUID is taken as it is, any other key is turned
into one (UUIDv5) within the caller's organisation, so two organisations' keys never meet. A
repeated key returns the first result with ``replayed: true`` and writes nothing — to the
organisation that issued it or one that may read its case; anyone else learns nothing of it
(disclosure.py, R35).

Writing to a case needs the caller's organisation to be party to it (a principal, within the
consent, or invited): the party list is read from the current-plans read model, and from the
log itself when the model does not say yes (it may lag; see check_party). The SIP rules
themselves (R01–R31) are the aggregate's; their refusals come back as 422 naming the rule.
"""

# No `from __future__ import annotations`: FastAPI reads the body models from the signatures of
# routes made in a loop, which string annotations would hide.

import uuid
from typing import Any, TypeVar
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError, create_model

from adapters.bootstrap import Services
from adapters.http.access import model_lock_timeout
from adapters.http.auth import requires, services
from adapters.http.disclosure import check_replay, key_in_use, may_see_replay, open_sip_refusal
from adapters.http.params import CaseId
from adapters.http.problems import PROBLEM_RESPONSES, ProblemError
from adapters.identity.tokens import Principal
from adapters.logging import command_context, get_logger
from domain.commands import (
    CaseCommand,
    Command,
    ConveneMeeting,
    CorrectEntry,
    DeclineSip,
    EstablishPlan,
    IssuePlanCopy,
    ProposeSip,
    RecordClosure,
    RecordConsent,
    RecordFollowUp,
    RecordReply,
    RecordWishes,
    WithdrawConsent,
)
from domain.errors import CaseNotFound, OpenSipExists
from domain.ledger import CommandResult, SipLedger
from domain.parties import Actor, Frozen, Role
from projections.plans import case_parties
from projections.replayed import parties_of
from projections.timeouts import timed_out

log = get_logger(__name__)

router = APIRouter(tags=["commands"], responses=PROBLEM_RESPONSES)
writer = requires(Role.COORDINATOR, Role.SERVICE)

# Keys that are not UUIDs become UUIDv5 names in this namespace, prefixed by the organisation.
IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1d3c52-53a8-4b8e-9b77-5e0f0b7c2a11")


class CommandAccepted(BaseModel):
    """What a recorded command answers."""

    case_id: UUID
    version: int
    command_id: UUID
    # The position of the command's last event in the global log (the event feed's id).
    notification_id: int | None
    notification_ids: list[int]
    # The command id had been recorded before: this is its first result, nothing new was written.
    replayed: bool
    # The read models have applied the command (false: ?wait=false, or they lag behind).
    projected: bool


def body_model(command: type[Command]) -> type[BaseModel]:
    """The command's model without the ids that the header and the path give."""
    # pydantic's create_model takes its fields as keyword arguments of any type.
    fields: dict[str, Any] = {
        name: (field.annotation, field)
        for name, field in command.model_fields.items()
        if name not in ("command_id", "case_id")
    }
    return create_model(command.__name__, __base__=Frozen, __doc__=command.__doc__, **fields)


def command_id_for(key: str | None, caller: Principal) -> UUID:
    if key is None:
        return uuid.uuid4()
    try:
        return UUID(key)
    except ValueError:
        return uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{caller.organisation.id}\n{key}")


C = TypeVar("C", bound=Command)


def build(command: type[C], values: dict[str, Any]) -> C:
    """``command`` from ``values`` not yet validated (hence untyped): the body's fields and the
    ids from the path and the header."""
    try:
        return command(**values)
    except ValidationError as error:
        # A check that only the whole command can make (a validator across fields).
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
        ) from None


def check_party(svc: Services, caller: Principal, case_id: UUID) -> None:
    """Only an organisation party to the case may write to it (R13).

    Asked of the plans model first (one indexed row, the common case). Parties are only ever
    added to a case, so the model's yes is true even if it lags; its no, or its not knowing the
    case (not yet applied, locked, or an event of it quarantined), is asked of the log itself:
    a lagging model never turns into 404 or 403, and a case that is not in the log is 404."""
    parties = _parties(svc, case_id)
    if parties is None or caller.organisation.id not in parties:
        parties = _parties_in_log(svc, case_id)  # CaseNotFound if the log has no such case
    if caller.organisation.id not in parties:
        log.warning("command refused: organisation not party to the case", case_id=str(case_id),
                    organisation_id=caller.organisation.id)
        raise ProblemError(
            403, "Not party to the case",
            f"organisation {caller.organisation.id} is not party to case {case_id}",
            kind="not-party", field="case_id", rule="R13",
        )


def _parties(svc: Services, case_id: UUID) -> list[str] | None:
    """The parties as the plans model has them; None if it does not have the case or its table
    stays locked (the log is asked then)."""
    try:
        return case_parties(svc.datastore, svc.schema, case_id,
                            lock_timeout_s=model_lock_timeout(svc))
    except Exception as error:
        if not timed_out(error):
            raise
        return None


def _parties_in_log(svc: Services, case_id: UUID) -> list[str]:
    """The parties of the case as recorded (the same organisations as the case record's
    ``parties``); CaseNotFound if the log has no such case."""
    return parties_of(svc.ledger.get_case(case_id))


def run_case_command(svc: Services, caller: Principal, method: str, cmd: CaseCommand,
                     actor: Actor, *, party_only: bool = True) -> CommandResult:
    """Run a command on a case for ``caller`` as ``actor``: only a party to the case may
    (``party_only``), and a repeat answers its first result even if the caller's standing has
    changed since — to its issuer (or one who may read the case); anyone else is refused as if
    the key were unknown (R35). Anything new must come from a party."""
    case_id, command_id = cmd.case_id, cmd.command_id
    with command_context(method, command_id, case_id=str(case_id),
                         organisation_id=caller.organisation.id):
        if party_only:
            try:
                check_party(svc, caller, case_id)
            except (ProblemError, CaseNotFound):
                prior = svc.ledger.command_log.find_command(command_id)
                if prior is None or prior.case_id != case_id or not may_see_replay(
                        svc, caller, prior):
                    raise
        result: CommandResult = getattr(SipLedger, method)(svc.ledger, cmd, actor)
        if result.replayed and result.case_id != case_id:
            # The key was used on another case: its result is not this path's to give.
            raise key_in_use()
    return result


def answer(
    svc: Services, result: CommandResult, command_id: UUID, response: Response, wait: bool
) -> CommandAccepted:
    last = result.last_notification_id
    projected = False
    if wait and last is not None:
        projected = svc.runner.wait_for(last, svc.settings.projection_wait_s)
    elif last is not None:
        projected = all(p >= last for p in svc.runner.positions.values())
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return CommandAccepted(
        case_id=result.case_id, version=result.version, command_id=command_id,
        notification_id=last, notification_ids=list(result.notification_ids),
        replayed=result.replayed, projected=projected,
    )


IDEMPOTENCY_KEY = Header(
    default=None, alias="Idempotency-Key", min_length=1, max_length=200,
    description="Makes the command safe to retry: the same key gives the first result again",
)
WAIT = Query(default=True, description="Answer once the read models have applied the command")


def _actor_role(caller: Principal) -> Role:
    return Role.COORDINATOR if caller.has(Role.COORDINATOR) else Role.SERVICE


# ---------------------------------------------------------------------- propose (a new case)

ProposeBody = body_model(ProposeSip)


@router.post("/cases", status_code=201, response_model=CommandAccepted,
             summary="Propose a SIP (R01, R02, R04–R08): opens a case; an open SIP for the "
                     "same individual is told as far as the caller may know (R09, R35)")
def propose(
    body: ProposeBody,  # type: ignore[valid-type]
    request: Request,
    response: Response,
    svc: Services = Depends(services),
    caller: Principal = Depends(writer),
    idempotency_key: str | None = IDEMPOTENCY_KEY,
    wait: bool = WAIT,
) -> CommandAccepted:
    command_id = command_id_for(idempotency_key, caller)
    cmd = build(ProposeSip, {**dict(body), "command_id": command_id})
    role = _actor_role(caller)
    with command_context("propose", command_id, organisation_id=caller.organisation.id):
        try:
            result = svc.ledger.propose(cmd, caller.actor(role))
        except OpenSipExists as error:
            # R09, told only as far as the caller may know (R35); the lookup is logged.
            raise open_sip_refusal(svc, request, caller, role.value,
                                   cmd.individual.personal_identity_number, error) from None
        if result.replayed:
            check_replay(svc, caller, command_id)
    response.headers["Location"] = f"/cases/{result.case_id}"
    if result.replayed:
        response.status_code = 200
    return answer(svc, result, command_id, response, wait)


# ---------------------------------------------------------------------- commands on a case

CASE_COMMANDS: list[tuple[str, type[CaseCommand], str, str]] = [
    ("decline", DeclineSip, "decline",
     "The individual declines the SIP (R15): the case ends as declined"),
    ("consent", RecordConsent, "record_consent", "Record consent (R10–R14)"),
    ("consent/withdrawal", WithdrawConsent, "withdraw_consent",
     "Record that consent is withdrawn (R12): planning closes (R30) and each principal "
     "documents its closure (R31)"),
    ("wishes", RecordWishes, "record_wishes", "Record the individual's wishes (R20)"),
    ("meeting", ConveneMeeting, "convene",
     "Convene the SIP meeting (R02, R03, R14, R17, R18, R21, R23, R24)"),
    ("replies", RecordReply, "record_reply", "Record an invitee's reply (R22)"),
    ("plan", EstablishPlan, "establish_plan", "Establish the plan (R19, R24–R27)"),
    ("follow-ups", RecordFollowUp, "record_follow_up",
     "Record a follow-up, revising the plan if need be (R19, R29)"),
    ("plan-copies", IssuePlanCopy, "issue_plan_copy", "Issue a copy of the plan (R28)"),
    ("closures", RecordClosure, "record_closure", "Record a principal's closure (R30, R31)"),
    ("corrections", CorrectEntry, "correct_entry",
     "Correct an earlier entry (R32): its fields and their right values, or in words; a "
     "corrected date recomputes the deadline computed from it (R12, R18, R19)"),
]


def _case_route(path: str, command: type[CaseCommand], method: str, summary: str) -> None:
    body_type = body_model(command)

    def endpoint(
        case_id: CaseId,
        body: body_type,  # type: ignore[valid-type]
        response: Response,
        svc: Services = Depends(services),
        caller: Principal = Depends(writer),
        idempotency_key: str | None = IDEMPOTENCY_KEY,
        wait: bool = WAIT,
    ) -> CommandAccepted:
        command_id = command_id_for(idempotency_key, caller)
        cmd = build(command, {**dict(body), "case_id": case_id, "command_id": command_id})
        result = run_case_command(svc, caller, method, cmd, caller.actor(_actor_role(caller)))
        return answer(svc, result, command_id, response, wait)

    endpoint.__name__ = method
    router.add_api_route(
        f"/cases/{{case_id}}/{path}", endpoint, methods=["POST"], response_model=CommandAccepted,
        summary=summary, name=method,
    )


for _path, _command, _method, _summary in CASE_COMMANDS:
    _case_route(_path, _command, _method, _summary)
