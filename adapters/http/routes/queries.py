"""Queries over the read models: a case's current plan, its history and how it stood at an
instant; lists of cases; the deadline dashboard.

Who sees what of a case is decided in ``projections/access.py`` (R13), and every granted read
of a case is logged before it is answered (R33). Lists and dashboards carry no personal data;
they are limited to the caller's own organisation (auditors: any, or all). Every read of a read
model goes through ``read_model_transaction`` (adapters/http/access.py): a locked or slow model
is answered 503, never waited on.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Literal, TypedDict
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from adapters.bootstrap import Services
from adapters.http.access import (
    Record,
    authorise,
    current_record,
    organisation_scope,
    read_model_transaction,
    today,
    write_read,
)
from adapters.http.auth import principal, services
from adapters.http.case_views import CaseView
from adapters.http.params import CaseId
from adapters.http.problems import PROBLEM_RESPONSES, OpenAPIResponses, ProblemError
from adapters.identity.tokens import Principal
from domain.case_state import Stage
from domain.clock import STOCKHOLM
from domain.deadlines import DeadlineKind
from domain.limits import LATEST_DAY, Day, Identifier, Instant, NameOrEmpty
from domain.parties import OrganisationKind, Role
from projections.access import FullView, Level, RestrictedView, view
from projections.deadlines import (
    AdherenceMonthRow,
    FirstMeetingFigures,
    PendingDeadlineRow,
    adherence_by_month,
    days_to_first_meeting,
    deadline_counts,
    pending_deadlines,
)
from projections.history import HistoryRow, case_as_of, case_history
from projections.plans import CaseListRow, list_cases
from projections.replayed import record_of

router = APIRouter(tags=["queries"])

Caller = Annotated[Principal, Depends(principal)]
Svc = Annotated[Services, Depends(services)]
# The days a dashboard may be asked about (as_of, since): the domain's days (``Day`` enforces
# domain/limits.py's range), but none before 2000: the domain reaches back to 1900 for what
# people bring with them, while deadlines are SIP's own and no dashboard of the last century
# means anything; a default ``since`` a year before ``as_of`` then stays a valid ``Day`` too.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), LATEST_DAY
AsOf = Annotated[Day | None, Query(description="the day asked about; default today (Sweden)")]
Unit = Annotated[NameOrEmpty | None, Query(description="a unit of the organisation")]
County = Annotated[Identifier | None, Query(description="a county, e.g. vastra-gotaland")]
WithinDays = Annotated[int | None, Query(
    ge=0, le=366, description="count a deadline due within this many days as due soon "
    "(default: the deadline policy's own margin)")]


# FastAPI's ``responses``: OpenAPI response objects, free-form by FastAPI's own signature.
def _problem_responses(*statuses: int) -> OpenAPIResponses:
    return {s: PROBLEM_RESPONSES[s] for s in statuses}


READ_RESPONSES = _problem_responses(401, 403, 404, 422, 503)
LIST_RESPONSES = _problem_responses(401, 403, 422, 503)


def _as_of(services: Services, as_of: date | None) -> date:
    day = as_of or today(services)
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ProblemError(422, "Invalid input", f"as_of must lie between {FIRST_DAY} and "
                           f"{LAST_DAY}", kind="invalid-input", field="as_of")
    return day


def _record(services: Services, case_id: UUID, models: tuple[str, ...] = ("plans",)) -> Record:
    # From a model up to date with the log and complete for the case, or 503 (access.py).
    return current_record(services, case_id, models)


# ------------------------------------------------------------------------ one case


@router.get(
    "/cases/{case_id}", response_model=CaseView, responses=READ_RESPONSES,
    summary="The case and its current plan, as the caller may see it (R13); every read is "
            "logged (R33)",
)
def read_case(
    case_id: CaseId, request: Request, caller: Caller, svc: Svc
) -> RestrictedView | FullView:
    """Who sees what (R13):

    - **full** (with personal data): auditors; a coordinator or service of an organisation
      named by a consent valid today while planning is open; before any consent, the proposing
      organisation (its own record);
    - **restricted** (no personal data: stage, organisations, consent dates, closures,
      deadlines): the principals and the proposer otherwise (e.g. after consent is withdrawn, to
      document closure), and supervisors of an organisation party to the case;
    - anyone else: 403 `no-access`, and the attempt is logged.

    Every read is written to the access log before it is answered (R33)."""
    record = _record(svc, case_id)
    access = authorise(svc, request, caller, record, "read_plan")
    body = view(record, access.level)
    write_read(svc, request, caller, access, action="read_plan", case_id=case_id,
               record=record, view=access.level.value)
    return body


class HistoryEntry(BaseModel):
    """One recorded event of the case (R32)."""

    version: int = Field(description="The event's version within the case")
    notification_id: int = Field(description="Its position in the log (the feed's id)")
    event_type: str = Field(description="The event's type", examples=["ConsentRecorded"])
    recorded_at: datetime = Field(description="When the ledger recorded it")
    occurred_at: datetime | None = Field(default=None, description="When it happened in the "
                                         "world, where that differs")
    on_day: date = Field(description="The day it happened (Swedish local date)")
    actor_person_id: str | None = Field(default=None, description="Who recorded it; null in "
                                        "the restricted view")
    actor_organisation_id: str
    actor_organisation_kind: OrganisationKind
    actor_unit: str
    actor_role: Role
    command_id: UUID = Field(description="The command that caused it")
    summary: str = Field(description="What happened, in words without personal data")


class CaseHistory(BaseModel):
    case_id: UUID
    view: Literal["full", "restricted"]
    events: list[HistoryEntry]


@router.get(
    "/cases/{case_id}/history", response_model=CaseHistory, responses=READ_RESPONSES,
    summary="Every event of the case in order, with who and when (R32; access R13, logged "
            "R33; no personal data in the summaries)",
)
def read_history(
    case_id: CaseId, request: Request, caller: Caller, svc: Svc
) -> CaseHistoryBody:
    record = _record(svc, case_id, ("plans", "history"))
    access = authorise(svc, request, caller, record, "read_history")
    with read_model_transaction(svc) as curs:
        events = case_history(curs, svc.schema, case_id)
    if access.level is Level.RESTRICTED:
        events = [{**e, "actor_person_id": None} for e in events]
    write_read(svc, request, caller, access, action="read_history", case_id=case_id,
               record=record, view=access.level.value)
    return {"case_id": case_id, "view": access.level.value, "events": events}


class CaseHistoryBody(TypedDict):
    case_id: UUID
    view: str
    events: list[HistoryRow]


class CaseAsOf(BaseModel):
    at: datetime
    version: int
    case: CaseView


class CaseAsOfBody(TypedDict):
    at: datetime
    version: int
    case: RestrictedView | FullView


@router.get(
    "/cases/{case_id}/as-of", response_model=CaseAsOf, responses=READ_RESPONSES,
    summary="The case as it stood at an instant, replayed from the log (R32; access by the "
            "current record R13, logged R33)",
)
def read_as_of(
    case_id: CaseId,
    request: Request,
    caller: Caller,
    svc: Svc,
    at: Annotated[Instant, Query(description="an ISO 8601 instant; without an offset it is "
                                              "Swedish local time")],
) -> CaseAsOfBody:
    """Access is decided by the case's *current* record: a withdrawn consent takes away the
    right to read the case's personal data as it ever stood, a consent now covers its past."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=STOCKHOLM)
    record = _record(svc, case_id)
    access = authorise(svc, request, caller, record, "read_as_of")
    with read_model_transaction(svc) as curs:
        case = case_as_of(svc.ledger, curs, svc.schema, case_id, at)
    if case is None:
        raise ProblemError(404, "Case not yet proposed", f"case {case_id} was not recorded "
                           f"by {at.isoformat()}", kind="case-not-found", field="at")
    body: CaseAsOfBody = {"at": at, "version": case.version,
                          "case": view(record_of(case), access.level)}
    write_read(svc, request, caller, access, action="read_as_of", case_id=case_id,
               record=record, view=access.level.value)
    return body


# ------------------------------------------------------------------------ lists


class CaseListItem(BaseModel):
    case_id: UUID
    version: int
    stage: Stage
    municipality_id: str
    region_id: str
    county: str
    parties: list[str]
    units: list[str]
    proposed_on: date
    updated_at: datetime


class CaseList(BaseModel):
    organisation_id: str | None
    cases: list[CaseListItem]
    next_after: UUID | None = None  # pass as ``after`` for the next page; None: no more


class CaseListBody(TypedDict):
    organisation_id: str | None
    cases: list[CaseListRow]
    next_after: UUID | None


@router.get(
    "/cases", response_model=CaseList, responses=LIST_RESPONSES,
    summary="Cases by organisation, unit and stage (no personal data)",
)
def list_cases_route(
    request: Request,
    caller: Caller,
    svc: Svc,
    organisation_id: Annotated[Identifier | None, Query(
        description="a party organisation; default (and for everyone but "
                                    "auditors, only) the caller's own")] = None,
    unit: Unit = None,
    stage: Annotated[Stage | None, Query(description="only cases at this stage")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="at most this many cases")] = 100,
    after: Annotated[UUID | None, Query(description="the last case id of the previous page "
                                                    "(`next_after`)")]
    = None,
) -> CaseListBody:
    scope = organisation_scope(svc, request, caller, organisation_id, "read_case_list")
    with read_model_transaction(svc) as curs:
        rows = list_cases(curs, svc.schema, organisation_id=scope, unit=unit, stage=stage,
                          limit=limit, after=after)
    return {
        "organisation_id": scope,
        "cases": rows,
        "next_after": rows[-1]["case_id"] if len(rows) == limit else None,
    }


# ------------------------------------------------------------------------ the dashboard


class PendingDeadline(BaseModel):
    case_id: UUID
    key: str
    kind: DeadlineKind
    rule: str
    due: date
    responsible_organisation_id: str | None = None
    responsible_unit: str | None = None
    county: str
    policy_id: str
    state: Literal["open", "due_soon", "overdue"]
    days_overdue: int


class PendingDeadlines(BaseModel):
    as_of: date
    organisation_id: str | None
    deadlines: list[PendingDeadline]


class PendingDeadlinesBody(TypedDict):
    as_of: date
    organisation_id: str | None
    deadlines: list[PendingDeadlineRow]


Kind = Annotated[DeadlineKind | None, Query(description="one kind of deadline")]
OrganisationFilter = Annotated[Identifier | None, Query(
    description="the responsible organisation; default (and for everyone but "
                                "auditors, only) the caller's own")]


@router.get(
    "/dashboard/deadlines", response_model=PendingDeadlines, responses=LIST_RESPONSES,
    tags=["dashboard"], summary="Deadlines overdue or due soon, most overdue first",
)
def dashboard_deadlines(
    request: Request,
    caller: Caller,
    svc: Svc,
    as_of: AsOf = None,
    within_days: WithinDays = None,
    organisation_id: OrganisationFilter = None,
    unit: Unit = None,
    county: County = None,
    kind: Kind = None,
    overdue_only: Annotated[bool, Query(description="only deadlines already overdue")] = False,
    limit: Annotated[int, Query(ge=1, le=1000, description="at most this many deadlines")] = 100,
) -> PendingDeadlinesBody:
    day = _as_of(svc, as_of)
    scope = organisation_scope(svc, request, caller, organisation_id, "read_dashboard")
    with read_model_transaction(svc) as curs:
        rows = pending_deadlines(
            curs, svc.schema, as_of=day, within_days=within_days, organisation_id=scope,
            unit=unit, county=county, kind=kind.value if kind else None,
            overdue_only=overdue_only, limit=limit,
        )
    return {"as_of": day, "organisation_id": scope, "deadlines": rows}


class StateCounts(BaseModel):
    open: int = 0
    due_soon: int = 0
    overdue: int = 0
    met_in_time: int = 0
    met_late: int = 0
    cancelled: int = 0


class DeadlineCounts(BaseModel):
    as_of: date
    organisation_id: str | None
    group_by: str
    counts: dict[str, StateCounts]


class DeadlineCountsBody(TypedDict):
    as_of: date
    organisation_id: str | None
    group_by: str
    counts: dict[str, dict[str, int]]  # {group: {state: count}}


@router.get(
    "/dashboard/counts", response_model=DeadlineCounts, responses=LIST_RESPONSES,
    tags=["dashboard"], summary="Deadlines per state, grouped by organisation, unit, county or "
                                "kind",
)
def dashboard_counts(
    request: Request,
    caller: Caller,
    svc: Svc,
    as_of: AsOf = None,
    within_days: WithinDays = None,
    group_by: Annotated[Literal["organisation", "unit", "county", "kind"], Query(
        description="what the counts are grouped by")] = "kind",
    organisation_id: OrganisationFilter = None,
    unit: Unit = None,
    county: County = None,
    kind: Kind = None,
    settled_within_days: Annotated[int | None, Query(
        ge=1, le=3660, description="count settled deadlines of this many days only")] = 30,
) -> DeadlineCountsBody:
    day = _as_of(svc, as_of)
    scope = organisation_scope(svc, request, caller, organisation_id, "read_dashboard")
    with read_model_transaction(svc) as curs:
        counts = deadline_counts(
            curs, svc.schema, as_of=day, within_days=within_days, group_by=group_by,
            organisation_id=scope, unit=unit, county=county, kind=kind.value if kind else None,
            settled_within_days=settled_within_days,
        )
    return {"as_of": day, "organisation_id": scope, "group_by": group_by, "counts": counts}


class AdherenceMonth(BaseModel):
    month: str
    due: int
    met_in_time: int
    met_late: int
    unmet: int
    share_met_in_time: float


class Adherence(BaseModel):
    as_of: date
    since: date
    organisation_id: str | None
    months: list[AdherenceMonth]


class AdherenceBody(TypedDict):
    as_of: date
    since: date
    organisation_id: str | None
    months: list[AdherenceMonthRow]


@router.get(
    "/dashboard/adherence", response_model=Adherence, responses=LIST_RESPONSES,
    tags=["dashboard"], summary="Per month: deadlines due, met in time, met late, unmet",
)
def dashboard_adherence(
    request: Request,
    caller: Caller,
    svc: Svc,
    as_of: AsOf = None,
    since: Annotated[Day | None, Query(description="default: a year before as_of")] = None,
    organisation_id: OrganisationFilter = None,
    unit: Unit = None,
    county: County = None,
    kind: Kind = None,
) -> AdherenceBody:
    day = _as_of(svc, as_of)
    start = since or day - timedelta(days=365)
    if not FIRST_DAY <= start <= day:
        raise ProblemError(422, "Invalid input", f"since must lie between {FIRST_DAY} and "
                           "as_of", kind="invalid-input", field="since")
    scope = organisation_scope(svc, request, caller, organisation_id, "read_dashboard")
    with read_model_transaction(svc) as curs:
        months = adherence_by_month(
            curs, svc.schema, as_of=day, since=start, organisation_id=scope, unit=unit,
            county=county, kind=kind.value if kind else None,
        )
    return {"as_of": day, "since": start, "organisation_id": scope, "months": months}


class FirstMeetings(BaseModel):
    organisation_id: str | None
    since: date | None
    cases: int
    median_days: int | None = None
    p90_days: int | None = None
    histogram: dict[str, int]


class FirstMeetingsBody(FirstMeetingFigures):
    organisation_id: str | None
    since: date | None


@router.get(
    "/dashboard/first-meetings", response_model=FirstMeetings, responses=LIST_RESPONSES,
    tags=["dashboard"], summary="Days from proposal to the first meeting: buckets, median, p90",
)
def dashboard_first_meetings(
    request: Request,
    caller: Caller,
    svc: Svc,
    since: Annotated[Day | None, Query(description="cases proposed on or after")] = None,
    organisation_id: Annotated[Identifier | None, Query(
        description="the case's municipality or region; for everyone but "
                                    "auditors, only the caller's own")] = None,
    county: County = None,
) -> FirstMeetingsBody:
    if since is not None and not FIRST_DAY <= since <= LAST_DAY:
        raise ProblemError(422, "Invalid input", f"since must lie between {FIRST_DAY} and "
                           f"{LAST_DAY}", kind="invalid-input", field="since")
    scope = organisation_scope(svc, request, caller, organisation_id, "read_dashboard",
                               field="organisation_id")
    with read_model_transaction(svc) as curs:
        figures = days_to_first_meeting(curs, svc.schema, since=since, organisation_id=scope,
                                        county=county)
    return {"organisation_id": scope, "since": since, **figures}
