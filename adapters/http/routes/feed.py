"""The event feed for backend services: catch-up pages and a live Server-Sent Events stream.

- ``GET /events?after=&limit=&type=&case_id=``: a page of events after a position, in log order,
  as ``FeedPage``. ``next_after`` is the position read up to, filtered-out events included, so a
  filtered subscriber moves on through stretches of the log that hold nothing for it.
- ``GET /events/stream``: the same events as SSE (``id:`` the position, ``event:`` the type,
  ``data:`` the JSON), from ``Last-Event-ID`` (a reconnecting client's header) or ``after``,
  then live; a comment line every ``SIP_FEED_HEARTBEAT_S`` seconds keeps proxies from closing an
  idle stream.
- ``GET /events/schemas``: each event type's schema id and public and personal field names.

Roles service and auditor. The JSON shapes are adapters/feed/events.py's; personal data only
for a token with the scope ``feed:personal``. Such a read is a read of personal data (R33): one
access-log row per case in each page or stream batch (action ``read_feed``, view ``full``, the
case's individual), committed before the events are sent; if the access log cannot be written,
the page is answered 503 and a stream ends, to be resumed from its ``Last-Event-ID``.

**The feed by consent (R13, R35).** The scope asks for personal data; it does not grant it.
An event carries its ``personal`` part only if the caller's organisation may read its case in
full — the same decision as ``GET /cases/{id}`` (``access.decide``): auditors always; a service
while planning is open and a consent valid today names its organisation (or, before any
consent, its organisation proposed the case). Every other case's events come in the public
shape, as to a token without the scope, and are not logged (they show no personal data).

*Decided now, not at the instant of the event.* The decision is made when the page is read, on
the case's current record, for every event of the case in the page, old or new. A legal record
needs consent withdrawn to stop disclosure (R13: "only for this planning"): decided at the
event's instant, a withdrawn or expired consent would go on disclosing everything recorded while
it held to anyone who reads the log again from the start, which is exactly what a withdrawal
forbids; decided now, the feed discloses what a case read would disclose today, no more. A
consent given later covers the planning's history, as it does for a case read. A subscriber that
needs to keep what it received while it was allowed keeps its own copy, under its own duty.

*Never on a stale record.* The records come from the plans read model, so before deciding, the
read waits (``SIP_PROJECTION_WAIT_S``) until the read models have applied the log's head as the
page read it: a consent withdrawn just before the read has taken effect. If they have not, a page
is answered 503 (``read-models-behind``, Retry-After) and a stream pauses and reads again. A case
with an event the model set aside (projections/quarantine.py) has no reliable consent there and
comes in the public shape until the model is rebuilt. Cost:
one query for the records of all the page's cases and one for their individuals, whatever the
page's length (auditors: the latter only).

Order and exactly once: the library's insert takes ``LOCK TABLE … IN EXCLUSIVE MODE``, so
notification ids commit in the order they are issued. A read first takes the log's head, then
the events after the client's position up to that head: every id up to the head has committed or
will never exist (a rolled-back insert leaves a gap that stays a gap). The stream sends events
in id order and moves its position only past what it has read, so a client that resumes from
the last id it received gets every later event once.

Live wake-up: one ``EventFeed`` per process runs a thread that LISTENs on the events table's
channel (the library NOTIFYs in every insert transaction), reads the head on each notification
and at least every second (the poll that covers a lost notification), and on a new head wakes
the waiting streams: each waits on an asyncio future of its own loop, resolved with
``call_soon_threadsafe``. A lost LISTEN connection is retried with back-off. Each stream reads
the store itself (in the thread pool), so its filters and scope are its own.
"""

# No `from __future__ import annotations`: the routes are made in a function
# and FastAPI must see their annotations as objects.

from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from psycopg.sql import SQL
from sse_starlette import EventSourceResponse

from adapters.bootstrap import Services
from adapters.feed.engine import (
    MAX_LIMIT,
    MAX_POSITION,
    EventFeed,
    FullAccess,
    ReadLogger,
    ReadModelsBehind,
)
from adapters.feed.events import (
    FeedEventType,
    FeedPage,
    FeedSchema,
    catalogue,
)
from adapters.http.access import (
    access_log_unavailable,
    read_model_transaction,
    read_models_behind,
    today,
)
from adapters.http.auth import requires
from adapters.http.auth import services as get_services
from adapters.http.problems import PROBLEM_RESPONSES, OpenAPIResponses, ProblemError
from adapters.identity.tokens import FEED_PERSONAL_SCOPE, Principal
from adapters.logging import get_logger
from domain.parties import Role
from projections.access import Level, decide
from projections.plans import PLANS_TABLE, CurrentPlans
from projections.quarantine import Quarantine

log = get_logger(__name__)

def personal_for(caller: Principal) -> bool:
    """Personal data in the feed: the scope feed:personal, and the role service or auditor."""
    return FEED_PERSONAL_SCOPE in caller.scopes and (
        caller.has(Role.SERVICE) or caller.has(Role.AUDITOR)
    )


FEED_READ_ACTION = "read_feed"


def full_access(services: Services, caller: Principal) -> FullAccess:
    """The R13 decision of a case read (``access.decide``), for all of a page's cases at once:
    one query for their current records, once the read models have applied ``head``."""

    def may_read(case_ids: list[UUID], head: int) -> set[UUID]:
        if caller.is_auditor:
            return set(case_ids)  # decide: auditors read every case in full
        if not services.runner.wait_for(head, services.settings.projection_wait_s,
                                        models=(PLANS,)):
            raise ReadModelsBehind()
        # A case with an event the model set aside (projections/quarantine.py) has an
        # incomplete record there: its consent is unknown, so it is not shown in full.
        # A locked or slow model is "behind" too: a page answers 503, a stream backs off.
        try:
            with read_model_transaction(services) as curs:
                rows = curs.execute(
                    SQL("SELECT p.case_id, p.record FROM {} p WHERE p.case_id = ANY(%s) "
                        "AND NOT EXISTS (SELECT 1 FROM {} q WHERE q.case_id = p.case_id "
                        "AND q.model = %s)").format(
                        CurrentPlans(services.schema).table(PLANS_TABLE),
                        Quarantine(services.schema).table),
                    (case_ids, PLANS),
                ).fetchall()
        except ProblemError as problem:
            if problem.kind != "read-models-behind":
                raise
            raise ReadModelsBehind() from None
        day = today(services)
        return {row["case_id"] for row in rows
                if decide(row["record"], caller, day).level is Level.FULL}

    return may_read


PLANS = CurrentPlans.name  # the model access by consent is decided from


def access_logger(services: Services, request: Request, caller: Principal) -> ReadLogger:
    """Writes one access-log row (R33) per case whose personal data the feed shows the caller,
    committed before the events are sent."""
    role = Role.SERVICE if caller.has(Role.SERVICE) else Role.AUDITOR
    request_id = getattr(request.state, "request_id", None)

    def log_reads(cases: dict[UUID, str | None]) -> None:
        # One transaction for the page's cases, not one per case.
        services.access_log.record_many([
            dict(
                person_id=caller.person_id, organisation_id=caller.organisation.id,
                organisation_kind=caller.organisation.kind.value, unit=caller.unit,
                role=role.value, action=FEED_READ_ACTION, outcome="granted", case_id=case_id,
                personal_identity_number=pin, view="full",
                reason=f"event feed with the scope {FEED_PERSONAL_SCOPE}: may read the case "
                       "in full now (R13)",
                request_id=request_id,
            )
            for case_id, pin in cases.items()
        ])

    return log_reads


# ---------------------------------------------------------------------- the routes

FILTERS_DOC = (
    "Filters: `type` (repeatable) keeps the named event types, `case_id` one case's events. "
    "Personal data (`personal`) only with the token scope `feed:personal`."
)


AFTER_DOC = ("The position to read after: a notification id (0: from the start of the log), "
             f"a non-negative integer up to {MAX_POSITION} (a PostgreSQL bigint)")
LIMIT_DOC = f"At most this many events in the page (1 to {MAX_LIMIT})"
TYPES = Query(None, alias="type", description="Keep only these event types (repeatable: "
              "`type=ConsentRecorded&type=ConsentWithdrawn`); default: every type",
              examples=[["ConsentRecorded"]])
# A filter, not a lookup: an id no case has (or a case whose personal data the caller may not
# read) gives the events the caller may see of it, none or in the public shape, never a 403 or
# 404 (README "Who learns that a case exists").
CASE_ID = Query(None, description="Keep only this case's events; an unknown id gives an "
                "empty page, not a 404", examples=["3fa85f64-5717-4562-b3fc-2c963f66afa6"])


def _build_router() -> APIRouter:
    router = APIRouter(tags=["feed"])
    # A caller without the role is refused, and the refusal logged (R33, R35).
    subscriber = requires(Role.SERVICE, Role.AUDITOR, action=FEED_READ_ACTION)
    refusals: OpenAPIResponses = {
        k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 422, 503)}

    @router.get(
        "/events",
        response_model=FeedPage,
        responses=refusals,
        summary="Catch up on the event feed",
        description=(
            "Case events after position `after`, in log order, at most `limit`. Ask again "
            "with `after=next_after` until `next_after` equals `head`. " + FILTERS_DOC
        ),
    )
    def catch_up(
        request: Request,
        after: int = Query(0, ge=0, le=MAX_POSITION, description=AFTER_DOC, examples=[0]),
        limit: int = Query(100, ge=1, le=MAX_LIMIT, description=LIMIT_DOC, examples=[100]),
        types: list[FeedEventType] | None = TYPES,
        case_id: UUID | None = CASE_ID,
        caller: Principal = Depends(subscriber),
        services: Services = Depends(get_services),
    ) -> Response:
        personal = personal_for(caller)
        try:
            read = services.feed.read(
                after, limit, types=[t.value for t in types or ()], case_id=case_id,
                personal=personal, may_read=full_access(services, caller) if personal else None,
            )
        except ReadModelsBehind:
            raise read_models_behind(
                "the plans read model has not applied every event recorded before this "
                "request; personal data by consent (R13) is not decided from a model behind "
                "the log. Try again shortly") from None
        if read.cases:
            try:
                access_logger(services, request, caller)(read.cases)
            except Exception as error:
                log.error("access log unavailable: feed page not answered",
                          error=type(error).__name__)
                raise access_log_unavailable() from None
        body = {"events": read.events, "next_after": read.next_after, "head": read.head}
        return Response(orjson.dumps(body), media_type="application/json")

    @router.get(
        "/events/stream",
        response_class=EventSourceResponse,
        responses={
            **refusals,
            200: {
                "description": (
                    "Server-Sent Events: `id:` the position, `event:` the type, `data:` a "
                    "FeedEvent as JSON; comment lines as heartbeats."
                ),
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            },
        },
        summary="Follow the event feed live (Server-Sent Events)",
        description=(
            "Every case event after `Last-Event-ID` (sent by a reconnecting client; it wins) "
            "or `after` (default 0: the whole log), then live as events are recorded. "
            + FILTERS_DOC
        ),
    )
    async def stream(
        request: Request,
        after: int | None = Query(None, ge=0, le=MAX_POSITION, examples=[0],
                                  description=AFTER_DOC + "; `Last-Event-ID` wins over it"),
        types: list[FeedEventType] | None = TYPES,
        case_id: UUID | None = CASE_ID,
        last_event_id: int | None = Header(
            None, alias="Last-Event-ID", ge=0, le=MAX_POSITION, examples=[1234],
            description="The id of the last event received, sent by a reconnecting "
                        "EventSource: the stream resumes after it"),
        caller: Principal = Depends(subscriber),
        services: Services = Depends(get_services),
    ) -> EventSourceResponse:
        feed: EventFeed = services.feed
        start = last_event_id if last_event_id is not None else (after or 0)
        personal = personal_for(caller)
        events = feed.stream(
            start, types=[t.value for t in types or ()], case_id=case_id, personal=personal,
            log_reads=access_logger(services, request, caller) if personal else None,
            may_read=full_access(services, caller) if personal else None,
        )
        return EventSourceResponse(
            events, ping=feed.heartbeat_s, send_timeout=max(30.0, 2 * feed.heartbeat_s),
        )

    @router.get(
        "/events/schemas",
        response_model=dict[str, FeedSchema],
        responses=refusals,
        summary="The feed's event types: schema versions and field names",
    )
    def schemas(caller: Principal = Depends(subscriber)) -> Response:
        return Response(orjson.dumps(catalogue()), media_type="application/json")

    return router


router = _build_router()
