"""The HTTP side of access to a case: waiting for a current record, the 403 and 503 answers, and
the access log every read goes through (R33).

The decision itself (levels full / restricted / none, and the policy with its reasons) is the
read side's: ``projections/access.py``. This module asks it for every read of a case and answers
with its view.

**Never from a stale or incomplete model.** The decision is only as current as the plans model
it is read from: a consent withdrawn a moment ago must already count. So a read of a case first
waits (up to ``SIP_PROJECTION_WAIT_S``) until the models it reads have applied every event
recorded before the request, and otherwise answers 503 ``read-models-behind`` with Retry-After;
a case with an event the model could not apply (projections/quarantine.py) is answered 503
``read-model-quarantined``: its parties and consent are unknown there.

**Logging (R33).** Every granted read of a case is logged — the full view because it shows
personal data, the restricted view too (cheap, and the R32 account of who looked at what is then
complete; the log's ``view`` column tells them apart, and what the individual learns is the full
reads). The row is committed before the answer is sent; a read whose row cannot be written is
answered 503 and shows nothing. A refused attempt is logged too; if that row cannot be written
the refusal still goes out (it shows nothing) and a warning is logged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any
from uuid import UUID

from fastapi import Request
from psycopg import Cursor

from adapters.bootstrap import Services
from adapters.http.problems import ProblemError
from adapters.identity.tokens import Principal
from adapters.logging import get_logger
from adapters.store import deadline
from domain.clock import local_date
from domain.errors import CaseNotFound
from domain.personal import is_erased
from projections.access import Access, decide, role_names
from projections.case_record import Record
from projections.personal import unseal
from projections.plans import current_plan
from projections.quarantine import quarantined_in_case
from projections.timeouts import set_local_timeouts, timed_out

log = get_logger(__name__)

# The decision and the views are made on the read side (projections/access.py), from the record
# and the domain's own types; this module is the HTTP side of it: waiting for a current record,
# 403/503 problems and the access log. The response models are case_views.py's.


def no_access(detail: str, field: str = "case_id") -> ProblemError:
    return ProblemError(403, "No access", detail, kind="no-access", field=field, rule="R13")


def organisation_scope(
    services: Services, request: Request, caller: Principal, organisation_id: str | None,
    action: str, field: str = "organisation_id",
) -> str | None:
    """The organisation a list or dashboard is limited to: an auditor's choice (None: all),
    everyone else's own organisation; asking for another organisation is refused and logged."""
    if caller.is_auditor:
        return organisation_id
    own = caller.organisation.id
    if organisation_id is not None and organisation_id != own:
        # The asked-for id is the client's text, unchecked (a personal identity number, say):
        # neither logged nor echoed (R35).
        reason = f"{own} asked for another organisation's cases or figures"
        write_refusal(services, request, caller, action=action, reason=reason)
        raise no_access(f"{reason}: only your own organisation ({own}) may be asked for",
                        field=field)
    return own


# ------------------------------------------------------------------------ the record decided on

# The longest a read of a read model waits for a lock on its table (a rebuild's swap takes one
# for an instant; an operator's LOCK TABLE for as long as it likes) before it is answered 503.
READ_MODEL_LOCK_TIMEOUT_S = 1.0
BEHIND_RETRY_AFTER = "2"


def model_lock_timeout(services: Services) -> float:
    return max(0.05, min(READ_MODEL_LOCK_TIMEOUT_S, services.settings.projection_wait_s))


def read_models_behind(detail: str) -> ProblemError:
    return ProblemError(503, "Read models behind", detail, kind="read-models-behind",
                        headers={"Retry-After": BEHIND_RETRY_AFTER})


def await_current(services: Services, models: tuple[str, ...] = ("plans",)) -> None:
    """Return once ``models`` have applied every event recorded before this call (the log's
    head now), waiting up to ``SIP_PROJECTION_WAIT_S``; otherwise 503: a decision by consent is
    never made from a model that has not seen the latest consent (a withdrawal, say)."""
    head = services.ledger.recorder.max_notification_id() or 0
    wait = services.settings.projection_wait_s
    if services.runner.wait_for(head, wait, models=models):
        return
    log.warning("read refused: read models behind the log", models=list(models), head=head)
    raise read_models_behind(
        f"the read models ({', '.join(models)}) have not applied every event recorded before "
        f"this request within {wait:g} s; access by consent (R13) is not decided from a model "
        "behind the log. Try again shortly")


@contextmanager
def read_model_transaction(services: Services) -> Iterator[Cursor[Any]]:
    """A read-only transaction on the read models that never hangs: it waits for a lock on a
    model's table at most ``model_lock_timeout`` and runs no statement past the request's
    deadline (adapters/http/deadline.py, when one is set); either answers 503
    ``read-models-behind``. Every read of a read model an HTTP route makes goes through it."""
    left = deadline.remaining()
    try:
        with services.datastore.transaction(commit=False) as curs:
            set_local_timeouts(curs, lock=model_lock_timeout(services), statement=left)
            yield curs
    except Exception as error:
        if not timed_out(error):
            raise
        raise read_models_behind("the read model's table is locked (a rebuild's swap or "
                                 "maintenance) or too slow to answer; try again "
                                 "shortly") from None


def current_record(services: Services, case_id: UUID,
                   models: tuple[str, ...] = ("plans",)) -> Record:
    """The case's record to decide access from and to answer with: from a plans model that is
    up to date with the log (``await_current``) and holds every event of the case."""
    await_current(services, models)
    with read_model_transaction(services) as curs:
        quarantined = quarantined_in_case(curs, services.schema, case_id, models)
        record = None if quarantined else current_plan(curs, services.schema, case_id)
    if quarantined:
        first = quarantined[0]
        log.warning("read refused: the read model quarantined an event of the case",
                    case_id=str(case_id), model=first.model,
                    notification_id=first.notification_id)
        raise ProblemError(
            503, "Case not readable from the read models",
            f"the {first.model} read model could not apply an event of this case "
            f"(notification {first.notification_id}, {first.event_type}); it is not answered "
            "from an incomplete record until the model is rebuilt (sip-ledger projections "
            "rebuild)",
            kind="read-model-quarantined", field="case_id", headers={"Retry-After": "60"},
        )
    if record is None:
        raise CaseNotFound(case_id)
    # The model keeps personal data sealed (projections/personal.py): opened for this answer.
    opened: Record = unseal(record, services.ledger.keys)
    return opened


# ------------------------------------------------------------------------ the access log


def today(services: Services) -> date:
    """Today in Sweden, by the ledger's clock (the same clock the commands are decided by)."""
    return local_date(services.ledger.clock())


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def _pin(record: Record | None) -> str | None:
    if record is None:
        return None
    individual = record.get("individual")
    pin = individual["personal_identity_number"] if individual else None
    # An erased individual's number reads as the erasure's marker: the read is logged without it.
    return None if pin is None or is_erased(pin) else pin


def access_log_unavailable() -> ProblemError:
    """A read whose access-log row could not be written is not answered (R33)."""
    return ProblemError(
        503, "Access log unavailable",
        "the read could not be logged (R33), so it is not answered; try again",
        kind="access-log-unavailable", rule="R33", headers={"Retry-After": "5"},
    )


def write_read(
    services: Services, request: Request, caller: Principal, access: Access, *, action: str,
    case_id: UUID | str | None = None, record: Record | None = None,
    personal_identity_number: str | None = None, view: str | None = None,
) -> None:
    """Log a granted read, committed before the caller sees anything; 503 if it cannot be."""
    try:
        services.access_log.record(
            person_id=caller.person_id, organisation_id=caller.organisation.id,
            organisation_kind=caller.organisation.kind.value, unit=caller.unit,
            role=access.role, action=action, outcome="granted", case_id=case_id,
            personal_identity_number=personal_identity_number or _pin(record),
            view=view, reason=access.reason, request_id=_request_id(request),
        )
    except Exception as error:
        log.error("access log unavailable: read not answered", action=action,
                  error=type(error).__name__)
        raise access_log_unavailable() from None


def write_refusal(
    services: Services, request: Request, caller: Principal, *, action: str, reason: str,
    case_id: UUID | str | None = None, record: Record | None = None,
) -> None:
    """Log a refused attempt. The refusal is answered even if this fails (it shows nothing)."""
    try:
        services.access_log.record(
            person_id=caller.person_id, organisation_id=caller.organisation.id,
            organisation_kind=caller.organisation.kind.value, unit=caller.unit,
            role=role_names(caller), action=action, outcome="refused", case_id=case_id,
            personal_identity_number=_pin(record), view=None, reason=reason,
            request_id=_request_id(request),
        )
    except Exception as error:
        log.warning("access log unavailable: refusal not logged", action=action,
                    error=type(error).__name__)


def authorise(
    services: Services, request: Request, caller: Principal, record: Record, action: str
) -> Access:
    """Decide; a refusal is logged and raised as 403. A grant is *not* logged here: log it
    with ``write_read`` once the answer is ready, right before sending it."""
    access = decide(record, caller, today(services))
    if not access.granted:
        write_refusal(services, request, caller, action=action, reason=access.reason,
                      case_id=record["case_id"], record=record)
        raise no_access(access.reason)
    return access
