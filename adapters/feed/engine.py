"""The event feed's engine: reads the log for backend services, in pages and as a live stream
that a LISTEN thread wakes. The HTTP routes (adapters/http/routes/feed.py, where the whole
contract is described) serve it; a broker relay can read it the same way.

The JSON shapes are adapters/feed/events.py's. Which cases a caller may read in full is the
caller's question (``FullAccess``), asked once per page.
"""

# No `from __future__ import annotations`, as in the routes that use these types.

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import orjson
import psycopg
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Literal
from sse_starlette import ServerSentEvent
from starlette.concurrency import run_in_threadpool

from adapters.feed.events import EVENT_TYPES, FeedEventBody, feed_event_from_row, topic_of
from adapters.logging import get_logger
from domain.personal import Sealer, is_erased
from projections.events import unwrap
from projections.listen import TRANSIENT, back_off, listen
from projections.personal import unseal
from projections.storage import EVENTS_TABLE, qualified

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




@dataclass
class FeedRead:
    """What one read of the log found: the events (feed JSON dicts), the position read up to,
    the log's head, and whether the reader has reached the head."""

    events: list[FeedEventBody] = field(default_factory=list)
    next_after: int = 0
    head: int = 0
    caught_up: bool = True
    # With personal data: each case the events are of, and its individual's personal identity
    # number, for the access log (R33).
    cases: dict[UUID, str | None] = field(default_factory=dict)
    # For a stream: each event as (id, type, its JSON), serialised off the event loop.
    serialised: list[tuple[int, str, str]] = field(default_factory=list)


class EventFeed:
    """Reads the log for the feed, and wakes live streams when it grows (see the module doc)."""

    def __init__(
        self,
        datastore: PostgresDatastore,
        *,
        heartbeat_s: float = 15.0,
        events_table: str = EVENTS_TABLE,
        poll_interval: float = POLL_INTERVAL_S,
        keys: Sealer | None = None,
    ) -> None:
        self.datastore = datastore
        # Opens personal data for a subscriber allowed to read it (feed:personal).
        self.keys = keys
        self.heartbeat_s = heartbeat_s
        self.poll_interval = poll_interval
        # The library's recorder, for its channel name and head query (as the read models').
        self.log_reader = PostgresApplicationRecorder(datastore, events_table_name=events_table)
        self.channel = self.log_reader.channel_name
        self.events = qualified(datastore.schema, events_table)
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
        events: list[FeedEventBody] = []
        for r in rows:
            e = feed_event_from_row(r[0], r[1], r[2], r[3], r[4], personal=r[1] in shown,
                                    keys=self.keys)
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
        return {case_id: self._pin(found.get(case_id)) for case_id in ids}

    def _pin(self, proposed: Any) -> str | None:
        if proposed is None:
            return None
        pin = unseal(unwrap(proposed["individual"])["personal_identity_number"], self.keys)
        return None if is_erased(pin) else str(pin)  # an erased case names no one

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
        # Any error is retried: this thread alone wakes the live streams.
        listen(
            self.datastore, self.channel, stopping=self.stopping, listening=self.listening,
            on_wake=self._see_head, on_quiet=self._see_head, poll_interval=self.poll_interval,
            on_lost=_listen_lost, on_restored=_listen_restored, survive_any_error=True,
        )

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
                    pause = back_off(failures, first=0.2)
                    log.warning("feed read failed; retrying", error=type(error).__name__,
                                pause_s=pause)
                    await asyncio.sleep(pause)
                    continue
                except Exception as error:  # noqa: BLE001 - e.g. the access log: end unsent
                    log.error("feed stream ended: a read could not be completed",
                              error=type(error).__name__)
                    return
                failures = 0
                for event_id, event_type, payload in read.serialised:
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
        read.serialised = [(e["id"], e["type"], orjson.dumps(e).decode()) for e in read.events]
        return read


def _resolve(waiter: "asyncio.Future[None]") -> None:
    if not waiter.done():
        waiter.set_result(None)


def _listen_lost(error: BaseException, failures: int, pause: float) -> None:
    if isinstance(error, TRANSIENT):
        log.warning("feed LISTEN connection lost; retrying", error=type(error).__name__,
                    pause_s=pause)
    else:
        log.error("feed listener failed; retrying", error=type(error).__name__, pause_s=pause,
                  exc_info=error)


def _listen_restored(failures: int) -> None:
    log.info("feed LISTEN connection restored", attempts=failures)
