"""What a writer may learn of a case it did not ask to read (R35): the R09 answer to a proposal,
and the first result of a command id it repeats.

R35: only those with a right to know learn anything about an individual. Both answers here name
a case the caller did not name itself, so both reveal it only to an organisation that may read
the case — the same R13 decision as ``GET /cases/{id}`` (``access.decide``), made on the case
as recorded in the log (not the read model, which may lag behind it).

**R09 (an open SIP exists).** The domain refuses a second proposal for an individual with an
open SIP and keeps the open cases' ids in the error (``OpenSipExists``), naming none in its
text. Here the proposer is told:

- of the open cases it may read: their ids (``open_case_ids``), to review and acknowledge;
- of the others: only that an open SIP exists for the individual in which its organisation is
  not party, and to contact the principals. Neither the id nor who the principals are: the id
  would let any service token follow the case in the event feed, and the principals say where
  the individual lives and is cared for.

Telling anyone that a person has an open SIP is a read of personal data (R33, R35): each open
case found is written to the access log (action ``lookup_open_sip``, view ``full`` so that the
individual learns of it, the case, the individual's key, and whether the id was told), committed
before the answer; if it cannot be written the proposal is answered 503 and tells nothing. A
proposal that finds no open SIP writes the case instead, recorded in the log with its actor.

**Replayed command ids.** A repeated ``Idempotency-Key`` gives the command's first result (case
id, version, positions). A UUID key is taken as it is, so another organisation can learn one (a
feed subscriber sees every ``command_id``). The first result goes only to the organisation that
issued the command or one that may read its case; anyone else is answered as a fresh request
would be where it can (the case routes' 403/404 for a case it may not write to), else 409
``idempotency-key-in-use`` naming only the header — never the case. A key replayed on another
case's path than its own is 409 too, for any caller.
"""

from __future__ import annotations

from uuid import UUID

from fastapi import Request

from adapters.bootstrap import Services
from adapters.http.access import today, write_read
from adapters.http.problems import ProblemError
from adapters.identity.tokens import Principal
from domain.command_log import RecordedCommand
from domain.errors import CaseNotFound, OpenSipExists
from projections.access import Access, Level, decide
from projections.replayed import record_of

LOOKUP_ACTION = "lookup_open_sip"


def may_know(svc: Services, caller: Principal, case_id: UUID) -> bool:
    """Whether the caller's organisation may read the case (R13), decided on the log."""
    try:
        case = svc.ledger.get_case(case_id)
    except CaseNotFound:
        return False
    return decide(record_of(case), caller, today(svc)).granted


# ---------------------------------------------------------------------- R09


def open_sip_refusal(
    svc: Services, request: Request, caller: Principal, role: str, personal_identity_number: str,
    error: OpenSipExists,
) -> ProblemError:
    """The 422 R09 answer for this caller, each open case's lookup logged first (R33, R35)."""
    known = [c for c in error.open_case_ids if may_know(svc, caller, c)]
    for case_id in error.open_case_ids:
        told = case_id in known
        reason = (
            "R09 lookup: an open SIP exists; its id was told (the organisation may read it, R13)"
            if told else
            "R09 lookup: an open SIP exists; its id was withheld (not party to it, R35)"
        )
        write_read(svc, request, caller, Access(Level.FULL, role, reason),
                   action=LOOKUP_ACTION, case_id=case_id,
                   personal_identity_number=personal_identity_number, view=Level.FULL.value)
    # How many others there are is not told either: "one or more" is all a stranger learns.
    hidden = len(known) < len(error.open_case_ids)
    contact = "contact the individual's principals (the municipality and the region) about it"
    if known:
        detail = (f"an open SIP already exists for this individual: "
                  f"{', '.join(str(c) for c in known)}; review it, and to start a second one "
                  "anyway list it in acknowledged_open_case_ids")
        if hidden:
            detail += f"; another exists in a case your organisation is not party to: {contact}"
    else:
        detail = ("an open SIP already exists for this individual, in a case your organisation "
                  f"is not party to: {contact}")
    return ProblemError(
        422, "Refused by a SIP rule", detail, kind="rule-violation",
        field="acknowledged_open_case_ids", rule="R09",
        open_case_ids=[str(c) for c in known], open_sip_not_party=hidden,
    )


# ---------------------------------------------------------------------- replays


def key_in_use() -> ProblemError:
    return ProblemError(
        409, "Idempotency-Key in use",
        "this Idempotency-Key belongs to another request; send this one with a new key",
        kind="idempotency-key-in-use", field="Idempotency-Key",
    )


def issuer_of(svc: Services, prior: RecordedCommand) -> str | None:
    """The organisation that issued a recorded command: its first event's actor's."""
    events = svc.ledger.events.get(
        prior.case_id, gt=prior.first_version - 1, lte=prior.first_version)
    for event in events:
        actor = getattr(event, "actor", None)
        if actor is not None:
            return actor.organisation.id
    return None


def may_see_replay(svc: Services, caller: Principal, prior: RecordedCommand) -> bool:
    """The first result of ``prior`` goes to its issuer's organisation or one that may read
    its case."""
    return issuer_of(svc, prior) == caller.organisation.id or may_know(svc, caller,
                                                                        prior.case_id)


def check_replay(svc: Services, caller: Principal, command_id: UUID) -> None:
    """Raise 409 (``key_in_use``) unless the caller may see the command's first result."""
    prior = svc.ledger.command_log.find_command(command_id)
    if prior is not None and not may_see_replay(svc, caller, prior):
        raise key_in_use()
