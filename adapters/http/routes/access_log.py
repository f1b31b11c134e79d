"""The read-access log for auditors (R33): who read which case, and which units read an
individual's data.

Only auditors read the log. A personal identity number never goes in a URL (URLs end up in
proxy and server logs), so the question about an individual is a POST with the number in the
body; the log itself only ever holds the number's keyed hash.

Reading the log is itself logged: ``read_access_log`` for a search of the log (with the case id
when one was asked about), ``read_access_log_individual`` for the question about an individual,
with that individual's key and ``view = full``. The latter tells an auditor that a named person
has a SIP and who handled it, which is personal data, so the individual may learn of it like any
other read: it appears in the answer to the next such question (each answer is computed first,
then its own row is written, then it is sent — so an answer never lists itself). A caller
without the auditor role is refused 403 and the refusal logged under the same action, with no
individual (the number in a refused question is not looked at).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, TypedDict
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from adapters.bootstrap import Services
from adapters.http.access import write_read
from adapters.http.auth import requires, services
from adapters.http.problems import PROBLEM_RESPONSES, OpenAPIResponses, ProblemError
from adapters.identity.tokens import Principal
from adapters.store.access_log import AccessLogRow, UnitReadsRow
from domain.commands import EXAMPLE_PIN
from domain.limits import PERSONAL_IDENTITY_NUMBER_FORMAT, PERSONAL_IDENTITY_NUMBER_PATTERN
from domain.parties import PERSONAL_DATA, OrganisationKind, Role
from projections.access import Access, Level

router = APIRouter(tags=["access log"])

SEARCH_ACTION, INDIVIDUAL_ACTION = "read_access_log", "read_access_log_individual"
# A caller without the role is refused, and the refusal logged under the route's action.
Auditor = Annotated[Principal, Depends(requires(Role.AUDITOR, action=SEARCH_ACTION))]
IndividualAuditor = Annotated[
    Principal, Depends(requires(Role.AUDITOR, action=INDIVIDUAL_ACTION))]
Svc = Annotated[Services, Depends(services)]
# FastAPI's ``responses``: OpenAPI response objects, free-form by FastAPI's own signature.
RESPONSES: OpenAPIResponses = {
    s: PROBLEM_RESPONSES[s] for s in (401, 403, 422, 503)}


def _auditing(reason: str) -> Access:
    return Access(Level.FULL, Role.AUDITOR.value, reason)


def _period(since: datetime | None, until: datetime | None) -> None:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ProblemError(422, "Invalid input", f"{name} needs a time zone offset",
                               kind="invalid-input", field=name)
    if since is not None and until is not None and until < since:
        raise ProblemError(422, "Invalid input", "until is before since", kind="invalid-input",
                           field="until")


class AccessLogEntry(BaseModel):
    id: int
    at: datetime
    person_id: str
    organisation_id: str
    organisation_kind: OrganisationKind
    unit: str
    role: str
    action: str
    case_id: UUID | None = None
    individual_key: str | None = Field(
        default=None, description="keyed hash of the individual's personal identity number")
    view: Literal["full", "restricted"] | None = None
    outcome: Literal["granted", "refused"]
    reason: str
    request_id: str | None = None


class AccessLogPage(BaseModel):
    entries: list[AccessLogEntry]


class AccessLogPageBody(TypedDict):
    entries: list[AccessLogRow]


@router.get(
    "/access-log", response_model=AccessLogPage, responses=RESPONSES,
    summary="Search the access log (auditors): by case, person, organisation, outcome, period",
)
def search_access_log(
    request: Request,
    caller: Auditor,
    svc: Svc,
    case_id: Annotated[UUID | None, Query(
        description="Reads of this case (and refused attempts at it)")] = None,
    person_id: Annotated[str | None, Query(
        max_length=100, description="Reads by this person (the token's `sub`, e.g. an HSA id)",
        examples=["SE2321000131-E000000000001"])] = None,
    organisation_id: Annotated[str | None, Query(
        max_length=100, description="Reads by staff of this organisation",
        examples=["kommun-goteborg"])] = None,
    outcome: Annotated[Literal["granted", "refused"] | None, Query(
        description="Only granted reads, or only refused attempts")] = None,
    since: Annotated[datetime | None, Query(
        description="From this instant, inclusive; an ISO 8601 instant with an offset",
        examples=["2025-01-01T00:00:00+01:00"])] = None,
    until: Annotated[datetime | None, Query(
        description="Up to this instant, exclusive; an ISO 8601 instant with an offset",
        examples=["2026-01-01T00:00:00+01:00"])] = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="At most this many entries, "
                                "oldest first")] = 1000,
) -> AccessLogPageBody:
    _period(since, until)
    entries = svc.access_log.query(
        case_id=case_id, person_id=person_id, organisation_id=organisation_id, outcome=outcome,
        since=since, until=until, limit=limit,
    )
    write_read(svc, request, caller, _auditing("auditor: search of the access log"),
               action=SEARCH_ACTION, case_id=case_id)
    return {"entries": entries}


class IndividualQuestion(BaseModel):
    """R33: which units read an individual's personal data, asked by an auditor. The number
    goes in this body, never in a URL (R35)."""

    personal_identity_number: str = Field(
        min_length=10, max_length=20,
        description=f"The individual's {PERSONAL_IDENTITY_NUMBER_FORMAT} A malformed number is "
        f"refused (422). {PERSONAL_DATA}",
        examples=[EXAMPLE_PIN],
        json_schema_extra={"pattern": PERSONAL_IDENTITY_NUMBER_PATTERN},
    )
    since: datetime | None = Field(
        default=None, description="Reads from this instant, inclusive; with an offset",
        examples=["2025-01-01T00:00:00+01:00"])
    until: datetime | None = Field(
        default=None, description="Reads up to this instant, exclusive; with an offset",
        examples=["2026-01-01T00:00:00+01:00"])


class UnitReads(BaseModel):
    organisation_id: str
    organisation_kind: OrganisationKind
    unit: str
    first_at: datetime
    last_at: datetime
    reads: int
    actions: list[str]


class IndividualRead(BaseModel):
    at: datetime
    organisation_id: str
    organisation_kind: OrganisationKind
    unit: str
    person_id: str
    role: str
    action: str
    case_id: UUID | None = None


class IndividualReads(BaseModel):
    units: list[UnitReads] = Field(description="which units read the individual's personal data")
    reads: list[IndividualRead] = Field(description="each read, oldest first")


class IndividualReadsBody(TypedDict):
    units: list[UnitReadsRow]
    reads: list[AccessLogRow]  # sent as IndividualRead: its fields only


@router.post(
    "/access-log/individual", response_model=IndividualReads, responses=RESPONSES,
    summary="Which units read an individual's personal data (R33); the number goes in the body",
)
def individual_reads(
    question: IndividualQuestion, request: Request, caller: IndividualAuditor, svc: Svc
) -> IndividualReadsBody:
    _period(question.since, question.until)
    pin = question.personal_identity_number
    units = svc.access_log.units_for_individual(pin, since=question.since, until=question.until)
    reads = svc.access_log.for_individual(pin, since=question.since, until=question.until,
                                          limit=10_000)
    write_read(svc, request, caller,
               _auditing("auditor: which units read an individual's data (R33)"),
               action=INDIVIDUAL_ACTION, personal_identity_number=pin,
               view=Level.FULL.value)
    return {"units": units, "reads": reads}
