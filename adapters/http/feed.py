"""The event feed for backend services: catch-up pages and a live Server-Sent Events stream.

- ``GET /events?after=&limit=&type=&case_id=``: a page of events after a position, in log order,
  as ``FeedPage``. ``next_after`` is the position read up to, filtered-out events included, so a
  filtered subscriber moves on through stretches of the log that hold nothing for it.
- ``GET /events/stream``: the same events as SSE (``id:`` the position, ``event:`` the type,
  ``data:`` the JSON), from ``Last-Event-ID`` (a reconnecting client's header) or ``after``,
  then live; a comment line every ``SIP_FEED_HEARTBEAT_S`` seconds keeps proxies from closing an
  idle stream.
- ``GET /events/schemas``: each event type's schema id and public and personal field names.

Roles service and auditor. The JSON shapes are adapters/feed_events.py's; personal data only
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

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import orjson
import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier, Literal
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from domain.parties import Role
from projections.events import unwrap
from projections.plans import CurrentPlans
from projections.quarantine import Quarantine
from projections.runner import EVENTS_TABLE

from ..feed_events import (
    EVENT_TYPES,
    FeedEventType,
    FeedPage,
    FeedSchema,
    catalogue,
    feed_event_from_row,
    topic_of,
)
from ..logging import get_logger
from ..tokens import FEED_PERSONAL_SCOPE, Principal
from .access import Level, decide, read_models_behind, today
from .deps import requires
from .deps import services as get_services
from .problems import PROBLEM_RESPONSES, ProblemError

log = get_logger(__name__)

MAX_LIMIT = 1000
STREAM_BATCH = 500
# A type filter alone scans the log by position; each read looks at most this many positions
# ahead, so a rare type costs a bounded query per page (next_after moves on regardless).
SCAN_WINDOW = 100_000
POLL_INTERVAL_S = 1.0
MAX_POSITION = 2**63 - 1  # a bigint
RETRY_MS = 2000  # the SSE "retry:" a client waits before reconnecting
# Logs the reads of personal data (R33): the cases read, each with its individual.
ReadLogger = Callable[[dict[UUID, str | None]], None]
# Which of these cases (the page's, in order) the caller may read in full now, given the log's
# head the page was read at (R13; see the module doc).
FullAccess = Callable[[list[UUID], int], set[UUID]]


class ReadModelsBehind(Exception):
    """The read models have not applied the log's head: consent cannot be decided yet."""


TRANSIENT = (psycopg.OperationalError, psycopg.InterfaceError, OperationalError, InterfaceError)


@dataclass
class FeedRead:
    """What one read of the log found: the events (feed JSON dicts), the position read up to,
    the log's head, and whether the reader has reached the head."""

    events: list[Any] = field(default_factory=list)
    next_after: int = 0
    head: int = 0
    caught_up: bool = True
    # With personal data: each case the events are of, and its individual's personal identity
    # number, for the access log (R33).
    cases: dict[UUID, str | None] = field(default_factory=dict)


class EventFeed:
    """Reads the log for the feed, and wakes live streams when it grows (see the module doc)."""

    def __init__(
        self,
        datastore: PostgresDatastore,
        *,
        heartbeat_s: float = 15.0,
        events_table: str = EVENTS_TABLE,
        poll_interval: float = POLL_INTERVAL_S,
    ) -> None:
        self.datastore = datastore
        self.heartbeat_s = heartbeat_s
        self.poll_interval = poll_interval
        # The library's recorder, for its channel name and head query (as the read models').
        self.log_reader = PostgresApplicationRecorder(datastore, events_table_name=events_table)
        self.channel = self.log_reader.channel_name
        self.events = SQL("{}.{}").format(Identifier(datastore.schema), Identifier(events_table))
        self._proposals = SQL(
            "SELECT originator_id, state FROM {} WHERE originator_id = ANY(%s) "
            "AND originator_version = 1 AND topic = %s"
        ).format(self.events)
        self.head = 0  # the highest position the listener has seen
        self.clients = 0  # connected streams (for metrics)
        self.stopping = threading.Event()
        self.listening = threading.Event()
        self.thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._waiters: dict[asyncio.Future[None], asyncio.AbstractEventLoop] = {}

    # -------------------------------------------------------------- reading

    def read(
        self,
        after: int,
        limit: int,
        *,
        types: Sequence[str] | None = None,
        case_id: UUID | None = None,
        personal: bool = False,
        may_read: FullAccess | None = None,
    ) -> FeedRead:
        """Up to ``limit`` case events after ``after`` (of ``types``, of ``case_id``), as feed
        JSON dicts; with ``personal``, the personal part for the cases ``may_read`` allows (all
        if it is None)."""
        with self.datastore.get_connection() as conn:
            row = conn.execute(self.log_reader.max_notification_id_statement).fetchone()
            head = (row["max"] if row else None) or 0
            upper = head
            if types and case_id is None:
                upper = min(head, after + SCAN_WINDOW)
            if upper <= after:
                return FeedRead(next_after=after, head=head, caught_up=upper >= head)
            query, params = self._query(after, upper, limit, types, case_id)
            curs = conn.cursor(row_factory=tuple_row, binary=True)
            curs.execute(query, params)
            rows = curs.fetchall()
        page_full = len(rows) >= limit
        next_after = rows[-1][0] if page_full else upper
        shown: set[UUID] = set()
        if personal and rows:
            case_ids = list(dict.fromkeys(r[1] for r in rows))
            shown = set(case_ids) if may_read is None else may_read(case_ids, head)
        events = []
        for r in rows:
            e = feed_event_from_row(r[0], r[1], r[2], r[3], r[4], personal=r[1] in shown)
            if e is not None:
                events.append(e)
        read = FeedRead(events, next_after, head, caught_up=not page_full and upper >= head)
        if shown:
            read.cases = self.individuals(c for c in dict.fromkeys(r[1] for r in rows)
                                          if c in shown)
        return read

    def individuals(self, case_ids: Iterable[UUID]) -> dict[UUID, str | None]:
        """Each case's individual (personal identity number), from the case's first event."""
        ids = list(case_ids)
        with self.datastore.get_connection() as conn:
            curs = conn.cursor(row_factory=tuple_row, binary=True)
            curs.execute(self._proposals, (ids, topic_of("SipProposed")))
            found = {case_id: orjson.loads(state) for case_id, state in curs.fetchall()}
        return {
            case_id: unwrap(found[case_id]["individual"])["personal_identity_number"]
            if case_id in found else None
            for case_id in ids
        }

    def _query(
        self, after: int, upper: int, limit: int, types: Sequence[str] | None,
        case_id: UUID | None,
    ) -> tuple[Composed, list[Any]]:
        topics = [topic_of(t) for t in (types or EVENT_TYPES)]
        where = [SQL("notification_id > %s"), SQL("notification_id <= %s"), SQL("topic = ANY(%s)")]
        params: list[Any] = [after, upper, topics]
        if case_id is not None:
            where.append(SQL("originator_id = %s"))
            params.append(case_id)
        query = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
            "WHERE {} ORDER BY notification_id LIMIT {}"
        ).format(self.events, SQL(" AND ").join(where), Literal(limit))
        return query, params

    # -------------------------------------------------------------- live

    def start(self) -> "EventFeed":
        self.stopping.clear()
        self.thread = threading.Thread(target=self._listen, name="event-feed-listen",
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening and end every open stream (they see ``stopping`` when woken)."""
        self.stopping.set()
        self._ring()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout)

    async def wait(self, position: int, timeout: float) -> bool:
        """Until the log's head passes ``position`` (True), the feed stops (True) or
        ``timeout`` seconds pass (False)."""
        if self.head > position or self.stopping.is_set():
            return True
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        with self._lock:
            self._waiters[waiter] = loop
        try:
            # Checked again once registered: a ring in between is not lost.
            if self.head > position or self.stopping.is_set():
                return True
            done, _ = await asyncio.wait({waiter}, timeout=timeout)
            return bool(done)
        finally:
            with self._lock:
                self._waiters.pop(waiter, None)
            waiter.cancel()

    def _ring(self) -> None:
        with self._lock:
            waiters = list(self._waiters.items())
        for waiter, loop in waiters:
            try:
                loop.call_soon_threadsafe(_resolve, waiter)
            except RuntimeError:  # that loop has closed
                pass

    def _see_head(self, conn: psycopg.Connection[Any]) -> None:
        row = conn.execute(self.log_reader.max_notification_id_statement).fetchone()
        head = (row["max"] if row else None) or 0
        if head > self.head:
            self.head = head
            self._ring()

    def _listen(self) -> None:
        failures = 0
        while not self.stopping.is_set():
            try:
                with self.datastore.get_connection() as conn:
                    conn.execute(SQL("LISTEN {}").format(Identifier(self.channel)))
                    self.listening.set()
                    if failures:
                        log.info("feed LISTEN connection restored", attempts=failures)
                    failures = 0
                    try:
                        self._see_head(conn)  # whatever was recorded while we were away
                        while not self.stopping.is_set():
                            # Woken by a NOTIFY; the timeout is the poll that covers a lost one.
                            for _ in conn.notifies(timeout=self.poll_interval, stop_after=1):
                                pass
                            self._see_head(conn)
                    finally:
                        self.listening.clear()
                    # Back to the pool: it must not go on receiving (and buffering) NOTIFYs.
                    conn.execute(SQL("UNLISTEN {}").format(Identifier(self.channel)))
            except Exception as error:  # noqa: BLE001 - the listener must outlive any error
                failures += 1
                pause = min(0.1 * 2**failures, 5.0)
                if isinstance(error, TRANSIENT):
                    log.warning("feed LISTEN connection lost; retrying",
                                error=type(error).__name__, pause_s=pause)
                else:
                    log.error("feed listener failed; retrying", error=type(error).__name__,
                              pause_s=pause, exc_info=error)
                self.stopping.wait(pause)
        self.listening.clear()

    async def stream(
        self,
        after: int,
        *,
        types: Sequence[str] | None,
        case_id: UUID | None,
        personal: bool,
        log_reads: ReadLogger | None = None,
        may_read: FullAccess | None = None,
    ) -> AsyncIterator[ServerSentEvent]:
        """The SSE messages for one client: everything after ``after``, then live.

        With personal data, ``log_reads`` is given the cases of each batch before it is sent;
        if it fails (the access log cannot be written), the stream ends unsent: the client
        resumes later from the last event it got."""
        position = after
        failures = 0
        self.clients += 1
        try:
            yield ServerSentEvent(comment=f"sip-ledger event feed after {position}",
                                  retry=RETRY_MS)
            while not self.stopping.is_set():
                try:
                    read = await run_in_threadpool(
                        self._read_serialised, position, types, case_id, personal, log_reads,
                        may_read)
                except (*TRANSIENT, ReadModelsBehind) as error:
                    failures += 1
                    pause = min(0.2 * 2**failures, 5.0)
                    log.warning("feed read failed; retrying", error=type(error).__name__,
                                pause_s=pause)
                    await asyncio.sleep(pause)
                    continue
                except Exception as error:  # noqa: BLE001 - e.g. the access log: end unsent
                    log.error("feed stream ended: a read could not be completed",
                              error=type(error).__name__)
                    return
                failures = 0
                for event_id, event_type, payload in read.events:
                    yield ServerSentEvent(data=payload, id=str(event_id), event=event_type)
                position = read.next_after
                if read.caught_up:
                    # Woken by the listener; on a timeout the loop reads anyway (cheap), so a
                    # stream goes on even if the listener is down.
                    await self.wait(position, self.heartbeat_s)
        finally:
            self.clients -= 1

    def _read_serialised(
        self, after: int, types: Sequence[str] | None, case_id: UUID | None, personal: bool,
        log_reads: "ReadLogger | None", may_read: "FullAccess | None" = None,
    ) -> FeedRead:
        read = self.read(after, STREAM_BATCH, types=types, case_id=case_id, personal=personal,
                         may_read=may_read)
        if read.cases and log_reads is not None:
            log_reads(read.cases)
        read.events = [(e["id"], e["type"], orjson.dumps(e).decode()) for e in read.events]
        return read


def _resolve(waiter: "asyncio.Future[None]") -> None:
    if not waiter.done():
        waiter.set_result(None)


def personal_for(caller: Principal) -> bool:
    """Personal data in the feed: the scope feed:personal, and the role service or auditor."""
    return FEED_PERSONAL_SCOPE in caller.scopes and (
        caller.has(Role.SERVICE) or caller.has(Role.AUDITOR)
    )


FEED_READ_ACTION = "read_feed"


def full_access(services: Any, caller: Principal) -> FullAccess:
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
        with services.datastore.get_connection() as conn:
            rows = conn.execute(
                SQL("SELECT p.case_id, p.record FROM {} p WHERE p.case_id = ANY(%s) "
                    "AND NOT EXISTS (SELECT 1 FROM {} q WHERE q.case_id = p.case_id "
                    "AND q.model = %s)").format(
                    CurrentPlans(services.schema).table("rm_case_plans"),
                    Quarantine(services.schema).table),
                (case_ids, PLANS),
            ).fetchall()
        day = today(services)
        return {row["case_id"] for row in rows
                if decide(row["record"], caller, day).level is Level.FULL}

    return may_read


PLANS = CurrentPlans.name  # the model access by consent is decided from


def access_logger(services: Any, request: Request, caller: Principal) -> ReadLogger:
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


def _build_router() -> APIRouter:
    router = APIRouter(tags=["feed"])
    # A caller without the role is refused, and the refusal logged (R33, R35).
    subscriber = requires(Role.SERVICE, Role.AUDITOR, action=FEED_READ_ACTION)
    refusals = {k: v for k, v in PROBLEM_RESPONSES.items() if k in (401, 403, 422, 503)}

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
        after: int = Query(0, ge=0, le=MAX_POSITION, description="Position to read after"),
        limit: int = Query(100, ge=1, le=MAX_LIMIT),
        types: list[FeedEventType] | None = Query(None, alias="type"),
        case_id: UUID | None = Query(None),
        caller: Principal = Depends(subscriber),
        services: Any = Depends(get_services),
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
                raise ProblemError(
                    503, "Access log unavailable",
                    "the read could not be logged (R33), so it is not answered; try again",
                    kind="access-log-unavailable", rule="R33", headers={"Retry-After": "5"},
                ) from None
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
        after: int | None = Query(None, ge=0, le=MAX_POSITION),
        types: list[FeedEventType] | None = Query(None, alias="type"),
        case_id: UUID | None = Query(None),
        last_event_id: int | None = Header(None, alias="Last-Event-ID", ge=0, le=MAX_POSITION),
        caller: Principal = Depends(subscriber),
        services: Any = Depends(get_services),
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
