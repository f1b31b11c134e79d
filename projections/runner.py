"""The projection runner: feeds the read models from the notification log, exactly once.

Why not the library's ``ProjectionRunner``: it applies one event per transaction and, between
events, waits on a subscription that pulls 500 at a time and is woken only by NOTIFY — about 700
events/s here, and after a lost LISTEN connection it stops. This runner keeps the library's
pieces that serve — its datastore (connection pool), its application recorder's channel and
head, its single-row tracking recorder for positions — and changes the loop (it also reads the
log with the library's query in tuple rows, see ``ReadSide.read``):

- It reads a batch of notifications after the lowest model position, decodes each event once
  (projections/events.py), and gives every model, in a transaction of its own and side by side
  with the others, the events after that model's position. The transaction first locks the
  model's tracking row and reads the position again under the lock, then applies the events,
  moves the position to the batch's last notification id and commits: a batch is applied wholly
  or not at all, and never twice, even with two runners or a rebuild's swap racing for it.
- A listener thread LISTENs on the events table's channel (the library NOTIFYs in every insert
  transaction) and wakes the loop. If that connection is lost the listener reconnects with
  back-off, and the loop polls every ``poll_interval`` seconds meanwhile, so nothing waits for
  a notification that never comes.
- Every batch transaction NOTIFYs ``rm_progress``, so a caller in another process can wait for
  its write to be visible (``wait_until_projected``); in-process callers wait on a condition.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError, Tracking
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresTrackingRecorder,
)
from psycopg import Cursor
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from .case_record import Record, fold
from .deadlines import DeadlineDashboard
from .events import CaseEvent, decode
from .history import CaseHistory
from .plans import CurrentPlans
from .quarantine import HELD_BEHIND, POISON, Quarantine, Quarantined, describe
from .read_model import Folds, ReadModel

EVENTS_TABLE = "sipledger_events"  # SipLedger's events, as the library names them
TRACKING_TABLE = "rm_tracking"
MODELS_TABLE = "rm_models"
PROGRESS_CHANNEL = "rm_progress"
ALL_MODELS: tuple[type[ReadModel], ...] = (CurrentPlans, DeadlineDashboard, CaseHistory)
# Events per read and per transaction. Large enough that a catch-up pays for a commit and a
# round trip per few thousand events; a live batch is whatever has arrived since the last one.
BATCH_SIZE = 2_000
POLL_INTERVAL_S = 1.0
# Lost connections and the like: the batch rolled back, so try again. (The library's datastore
# turns psycopg's errors into its own classes.)
TRANSIENT = (psycopg.OperationalError, psycopg.InterfaceError, OperationalError, InterfaceError)

Log = Callable[..., None]
# A notification as read: (notification id, case id, version, topic, state).
LoggedRow = tuple[int, UUID, int, str, bytes]


def _quiet(event: str, **fields: Any) -> None:
    pass


def model_named(name: str) -> type[ReadModel]:
    for model in ALL_MODELS:
        if model.name == name:
            return model
    known = ", ".join(m.name for m in ALL_MODELS)
    raise ValueError(f"unknown read model {name!r}; known: {known}")


@dataclass
class Batch:
    notifications: Sequence[LoggedRow]
    events: list[CaseEvent]
    folds: Folds = field(default_factory=dict)
    # Case events whose stored state cannot even be decoded: quarantined by every model.
    unreadable: list[tuple[int, UUID, str, BaseException]] = field(default_factory=list)

    @property
    def last_id(self) -> int:
        return self.notifications[-1][0]


def decode_batch(notifications: Sequence[LoggedRow]) -> Batch:
    """Decode a batch, and fold the records of the cases it begins (their first event is in it).

    Those records depend on nothing stored, so they are folded here, in the thread that reads
    ahead, once for all models (see Folds); during a catch-up that is nearly every case.
    """
    events = []
    unreadable = []
    for row in notifications:
        try:
            e = decode(*row)
        except ValueError as error:  # not JSON: no model can apply it
            unreadable.append((row[0], row[1], row[3].rpartition(".")[2], error))
            continue
        if e is not None:
            events.append(e)
    batch = Batch(notifications, events, unreadable=unreadable)
    begun: dict[UUID, Record] = {}
    unfoldable: set[UUID] = set()
    for e in events:
        if e.case_id in unfoldable:
            continue
        if e.type == "SipProposed" or e.case_id in begun:
            try:
                begun[e.case_id] = fold(begun.get(e.case_id), e)
            except POISON:
                # Left to the models, which fold it again in their own transactions and set
                # the event aside there (see _apply_model).
                begun.pop(e.case_id, None)
                unfoldable.add(e.case_id)
    for case_id, record in begun.items():
        batch.folds[(case_id, None, record["version"])] = record
    return batch


class ReadModelsNotSetUp(Exception):
    """A process that may not create tables found the read models missing or outdated: the
    owner's set-up (``sip-ledger store grant-app-role``) must run first."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"{problem}: run the owner's set-up (sip-ledger store grant-app-role) "
                         "before starting with SIP_CREATE_TABLES=false")


class ReadSide:
    """The read side in the store: the log it reads, and the tables the runner shares with
    rebuilds and status (tracking, model versions)."""

    def __init__(self, datastore: PostgresDatastore, events_table: str = EVENTS_TABLE) -> None:
        self.datastore = datastore
        self.schema = datastore.schema
        self.events_table = events_table
        self.log_reader = PostgresApplicationRecorder(datastore, events_table_name=events_table)
        self.tracking = PostgresTrackingRecorder(datastore, tracking_table_name=TRACKING_TABLE)
        self.quarantine = Quarantine(self.schema)
        self.tracking_table = SQL("{}.{}").format(
            Identifier(self.schema), Identifier(TRACKING_TABLE))
        self.models_table = SQL("{}.{}").format(Identifier(self.schema), Identifier(MODELS_TABLE))
        events = SQL("{}.{}").format(Identifier(self.schema), Identifier(events_table))
        select = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {} "
            "WHERE notification_id > %s"
        ).format(events)
        self._read = select + SQL(" ORDER BY notification_id LIMIT %s")
        self._read_until = select + SQL(
            " AND notification_id <= %s ORDER BY notification_id LIMIT %s"
        )

    def setup(self, models: Iterable[ReadModel]) -> set[str]:
        """Create what is missing: the tracking table, each model's tables, position 0.

        Returns the names of the models that stand at position 0, whose secondary indexes are
        left for ``create_indexes`` once they have caught up; the others get theirs now (a
        no-op when they exist).
        """
        self.tracking.create_table()
        deferred: set[str] = set()
        with self.datastore.transaction(commit=True) as curs:
            self.lock_ddl(curs)
            curs.execute(
                SQL(
                    "CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY, "
                    "schema_version int NOT NULL, built_at timestamptz NOT NULL DEFAULT now())"
                ).format(self.models_table)
            )
            for statement in self.quarantine.create_statements():
                curs.execute(statement)
            curs.execute(SQL("SELECT name, schema_version FROM {}").format(self.models_table))
            built = {row["name"]: row["schema_version"] for row in curs.fetchall()}
            for model in models:
                self.create_tables(curs, model)
                outdated = not model.suffix and built.get(model.name, model.schema_version) != (
                    model.schema_version)
                if self._position(curs, model.tracking_name) == 0:
                    deferred.add(model.tracking_name)
                elif not outdated:  # an outdated model is rebuilt, with its indexes
                    self.create_indexes(curs, model)
                if not model.suffix:
                    curs.execute(
                        SQL("INSERT INTO {} (name, schema_version) VALUES (%s, %s) "
                            "ON CONFLICT (name) DO NOTHING").format(self.models_table),
                        (model.name, model.schema_version),
                    )

        return deferred

    def attach(self, models: Iterable[ReadModel]) -> None:
        """Check that the owner's set-up built ``models`` as this code expects, creating nothing
        (a process without DDL rights: see ``ReadModelRunner(create_tables=False)``)."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute("SELECT to_regclass(%s) IS NOT NULL AS found",
                         (self.models_table.as_string(curs),))
            if not curs.fetchone()["found"]:
                raise ReadModelsNotSetUp(f"no read models in schema {self.schema}")
            curs.execute("SELECT to_regclass(%s) IS NOT NULL AS found",
                         (self.quarantine.table.as_string(curs),))
            if not curs.fetchone()["found"]:
                raise ReadModelsNotSetUp(f"no read-model quarantine in schema {self.schema}")
            curs.execute(SQL("SELECT name, schema_version FROM {}").format(self.models_table))
            built = {row["name"]: row["schema_version"] for row in curs.fetchall()}
        for model in models:
            version = built.get(model.name)
            if version is None:
                raise ReadModelsNotSetUp(f"read model {model.name} is not built in schema "
                                         f"{self.schema}")
            if version != model.schema_version:
                raise ReadModelsNotSetUp(
                    f"read model {model.name} was built by other code (schema version "
                    f"{version}, this code {model.schema_version}); it must be rebuilt")

    def built_versions(self) -> dict[str, int]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT name, schema_version FROM {}").format(self.models_table))
            return {row["name"]: row["schema_version"] for row in curs.fetchall()}

    def _position(self, curs: Cursor[Any], name: str) -> int:
        curs.execute(
            SQL("SELECT notification_id FROM {} WHERE application_name = %s")
            .format(self.tracking_table),
            (name,),
        )
        row = curs.fetchone()
        return (row["notification_id"] or 0) if row else 0

    def lock_ddl(self, curs: Cursor[Any]) -> None:
        """Two processes must not race on CREATE … IF NOT EXISTS (it is not atomic)."""
        curs.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{self.schema}.rm",))

    def create_indexes(self, curs: Cursor[Any], model: ReadModel) -> None:
        for statement in model.index_statements():
            curs.execute(statement)

    def create_tables(self, curs: Cursor[Any], model: ReadModel) -> None:
        for statement in model.create_statements():
            curs.execute(statement)
        curs.execute(
            SQL("INSERT INTO {} VALUES (%s, 0) ON CONFLICT DO NOTHING").format(self.tracking_table),
            (model.tracking_name,),
        )

    def position(self, name: str) -> int:
        return self.tracking.max_tracking_id(name) or 0

    def head(self) -> int:
        return self.log_reader.max_notification_id() or 0

    def read(self, after: int, limit: int, stop: int | None = None) -> Sequence[LoggedRow]:
        """Notifications after ``after`` (up to ``stop``), as plain rows.

        The same query as the library's ``select_notifications``, but with tuple rows in binary
        format: its dict rows and Notification objects cost ~7 µs per event at catch-up rates.
        """
        query = self._read_until if stop is not None else self._read
        params = (after, stop, limit) if stop is not None else (after, limit)
        with self.datastore.get_connection() as conn:
            curs = conn.cursor(row_factory=tuple_row, binary=True)
            curs.execute(query, params, prepare=True)
            return curs.fetchall()

    def lock_position(self, curs: Cursor[Any], name: str) -> int:
        curs.execute(
            SQL("SELECT notification_id FROM {} WHERE application_name = %s FOR UPDATE")
            .format(self.tracking_table),
            (name,),
        )
        row = curs.fetchone()
        if row is None:
            raise LookupError(f"read model {name!r} has no tracking row; run its set-up first")
        return row["notification_id"] or 0

    def lock_position_held(self, curs: Cursor[Any], name: str) -> tuple[int, dict[UUID, int]]:
        """``lock_position``, and in the same round trip the cases this model has set events
        of aside (projections/quarantine.py), each with its first quarantined notification id:
        read under the lock, so a second runner or a rebuild sees what the first set aside."""
        curs.execute(
            SQL("SELECT t.notification_id, ARRAY(SELECT q.case_id FROM {} q "
                "WHERE q.model = t.application_name AND q.case_id IS NOT NULL "
                "GROUP BY q.case_id ORDER BY min(q.notification_id)) AS held_cases, "
                "ARRAY(SELECT min(q.notification_id) FROM {} q "
                "WHERE q.model = t.application_name AND q.case_id IS NOT NULL "
                "GROUP BY q.case_id ORDER BY min(q.notification_id)) AS held_from "
                "FROM {} t WHERE t.application_name = %s FOR UPDATE OF t").format(
                self.quarantine.table, self.quarantine.table, self.tracking_table),
            (name,),
        )
        row = curs.fetchone()
        if row is None:
            raise LookupError(f"read model {name!r} has no tracking row; run its set-up first")
        return row["notification_id"] or 0, dict(zip(row["held_cases"], row["held_from"],
                                                     strict=True))

    def apply(
        self, curs: Cursor[Any], model: ReadModel, batch: Batch, position: int,
        held: dict[UUID, int] | None = None, *, isolate: bool = False,
        quarantined: list[Quarantined] | None = None,
    ) -> int:
        """Apply what of ``batch`` lies after ``position``; return the new position.

        ``held``: cases with a quarantined event (case id -> its notification id), whose later
        events are quarantined too. ``isolate``: apply in savepoints, splitting a failing run of
        events until the ones no attempt can apply are found, and quarantine those (the slow
        path, taken after the batch failed as a whole). What is quarantined is appended to
        ``quarantined`` and written in this transaction."""
        if batch.last_id <= position:
            return position
        held = dict(held or {})
        entries: list[Quarantined] = []
        for nid, case_id, event_type, error in batch.unreadable:
            if nid > position:
                entries.append(_entry(model, nid, case_id, event_type, error))
                held[case_id] = min(held.get(case_id, nid), nid)
        events = [e for e in batch.events if e.notification_id > position]
        events = _without_held(model, events, held, entries)
        if events and isolate:
            self._apply_isolating(curs, model, events, held, entries)
        elif events:
            model.apply(curs, events, batch.folds)
        self.quarantine.add(curs, entries)
        if quarantined is not None:
            quarantined.extend(entries)
        # The library's tracking insert: single-row, and only ever forwards.
        self.tracking._insert_tracking(curs, Tracking(model.tracking_name, batch.last_id))
        curs.execute(
            "SELECT pg_notify(%s, %s)", (PROGRESS_CHANNEL, f"{model.tracking_name}:{batch.last_id}")
        )
        return batch.last_id

    def _apply_isolating(self, curs: Cursor[Any], model: ReadModel, events: list[CaseEvent],
                         held: dict[UUID, int], entries: list[Quarantined]) -> None:
        """Apply ``events`` in log order, each run in a savepoint; a run that fails with an
        error of the data (POISON) is split in two, down to the single events that fail, which
        are quarantined (and their cases' later events held). Other errors go up: the whole
        batch is then retried."""
        events = _without_held(model, events, held, entries)
        if not events:
            return
        try:
            with curs.connection.transaction():  # a savepoint inside the batch's transaction
                model.apply(curs, events, {})
            return
        except POISON as error:
            if len(events) == 1:
                e = events[0]
                entries.append(_entry(model, e.notification_id, e.case_id, e.type, error))
                held[e.case_id] = min(held.get(e.case_id, e.notification_id), e.notification_id)
                return
        middle = len(events) // 2
        self._apply_isolating(curs, model, events[:middle], held, entries)
        self._apply_isolating(curs, model, events[middle:], held, entries)


def _entry(model: ReadModel, notification_id: int, case_id: UUID | None, event_type: str,
           error: BaseException | str) -> Quarantined:
    if isinstance(error, str):
        name, message = "Held", error
    else:
        name, message = describe(error)
    return Quarantined(model=model.tracking_name, notification_id=notification_id,
                       case_id=case_id, event_type=event_type, error=name, message=message)


def _without_held(model: ReadModel, events: list[CaseEvent], held: dict[UUID, int],
                  entries: list[Quarantined]) -> list[CaseEvent]:
    """``events`` less those of cases with an earlier quarantined event, which join the
    quarantine: folding them onto a record that lacks an event would misstate the case."""
    if not held:
        return events
    kept = []
    for e in events:
        first = held.get(e.case_id)
        if first is not None and first < e.notification_id:
            entries.append(_entry(model, e.notification_id, e.case_id, e.type, HELD_BEHIND))
        else:
            kept.append(e)
    return kept


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while batches are applied.

    A batch allocates hundreds of thousands of small dicts (the decoded events, the records);
    the collector, triggered by the allocations, walks them again and again although they hold
    no cycles and reference counting frees them. Measured on a 16,761-event log: decoding 22 →
    9 µs and folding 19 → 8 µs per event with the collector paused. The pause lasts one batch
    (a few hundred milliseconds at most), so other work in the process (the HTTP service) gets
    its collections between batches; was it paused already, it stays as it was.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class ReadModelRunner:
    """Feeds ``models`` from the log; ``run`` in a thread or a process of its own."""

    def __init__(
        self,
        datastore: PostgresDatastore,
        models: Sequence[ReadModel] | None = None,
        *,
        events_table: str = EVENTS_TABLE,
        batch_size: int = BATCH_SIZE,
        poll_interval: float = POLL_INTERVAL_S,
        log: Log = _quiet,
        create_tables: bool = True,
    ) -> None:
        self.store = ReadSide(datastore, events_table)
        # False: the tables exist (the owner's set-up built them); only use them.
        self.create_tables = create_tables
        self.channel = self.store.log_reader.channel_name
        self.models = list(models) if models is not None else [
            cls(datastore.schema) for cls in ALL_MODELS
        ]
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.log = log
        self.positions: dict[str, int] = {}
        self.progress = threading.Condition()
        self.stopping = threading.Event()
        self.woken = threading.Event()
        self.listener: threading.Thread | None = None
        self.thread: threading.Thread | None = None
        self.listening = threading.Event()
        self._appliers: ThreadPoolExecutor | None = None
        self.unindexed: set[str] = set()  # models built from scratch, indexes still to come
        # Failed attempts in a row (0: the last attempt went through), since when (wall clock)
        # and the last error's class: what /readyz calls "the runner keeps failing".
        self.failures = 0
        self.failing_since: float | None = None
        self.last_error: str | None = None

    # -------------------------------------------------------------- set-up and catch-up

    def setup(self) -> None:
        if self.create_tables:
            self.unindexed = self.store.setup(self.models)
            self._rebuild_outdated()
        else:
            self.store.attach(self.models)
        for model in self.models:
            self.positions[model.tracking_name] = self.store.position(model.tracking_name)

    def _rebuild_outdated(self) -> None:
        """A model whose tables were built by an older version of its code (``schema_version``
        in ``rm_models``) cannot be fed as it is: rebuild it beside the old tables first, which
        serve queries until the swap."""
        from .rebuild import rebuild  # rebuild uses the runner

        built = self.store.built_versions()
        for model in self.models:
            version = built.get(model.name)
            if not model.suffix and version is not None and version != model.schema_version:
                self.log("read model built by older code; rebuilding it", model=model.name,
                         built_version=version, schema_version=model.schema_version)
                rebuild(self.store.datastore, type(model), events_table=self.store.events_table,
                        batch_size=self.batch_size)

    def process_available(
        self, *, until: int | None = None, on_batch: Callable[[int], None] | None = None
    ) -> int:
        """Apply everything recorded so far (or up to ``until``); return how many notifications
        were read, calling ``on_batch`` with the position after each batch. Used by ``run`` and,
        on their own, by rebuilds and tests.

        While the models apply one batch, a second thread reads and decodes the next (after the
        batch's last id, where every model stands once it is applied): the read waits on the
        server, so it overlaps with the models' work instead of adding to it.
        """
        if not self.positions:
            self.setup()
        return self._process_available(until, on_batch)

    def _process_available(self, until: int | None, on_batch: Callable[[int], None] | None) -> int:
        read = 0
        batch = self._read_batch(min(self.positions.values()), until)
        reader: ThreadPoolExecutor | None = None
        try:
            while batch is not None and not self.stopping.is_set():
                # A full batch means more is waiting (a catch-up): read it ahead. A live batch
                # is applied at once, without a thread hand-over in the way.
                ahead = None
                if len(batch.notifications) >= self.batch_size:
                    reader = reader or ThreadPoolExecutor(1, thread_name_prefix="read-models-read")
                    ahead = reader.submit(self._read_batch, batch.last_id, until)
                with _collector_paused():
                    self.apply_batch(batch)
                read += len(batch.notifications)
                if on_batch is not None:
                    on_batch(batch.last_id)
                batch = ahead.result() if ahead else self._read_batch(batch.last_id, until)
        finally:
            if reader is not None:
                reader.shutdown(wait=True, cancel_futures=True)
        if batch is None and until is None and self.unindexed:
            self.create_indexes()  # caught up with the log: the models are ready to query
        return read

    def create_indexes(self) -> None:
        """Give the models built from scratch their secondary indexes (see index_statements)."""
        for model in self.models:
            if model.tracking_name in self.unindexed:
                with self.store.datastore.transaction(commit=True) as curs:
                    self.store.lock_ddl(curs)
                    self.store.create_indexes(curs, model)
                self.unindexed.discard(model.tracking_name)

    def _read_batch(self, start: int, until: int | None) -> Batch | None:
        if until is not None and start >= until:
            return None
        notifications = self.store.read(start, self.batch_size, stop=until)
        if not notifications:
            return None
        with _collector_paused():
            return decode_batch(notifications)

    def apply_batch(self, batch: Batch) -> None:
        """Each model applies the batch in a transaction of its own, the models side by side:
        while one waits for the server (COPY, commit), another folds and formats its rows."""
        due = [m for m in self.models if batch.last_id > self.positions[m.tracking_name]]
        if len(due) == 1:
            self._apply_model(due[0], batch)
        elif due:
            if self._appliers is None:
                self._appliers = ThreadPoolExecutor(
                    max_workers=len(self.models), thread_name_prefix="read-models-apply"
                )
            for future in [self._appliers.submit(self._apply_model, m, batch) for m in due]:
                future.result()

    def _apply_model(self, model: ReadModel, batch: Batch) -> None:
        """Apply the batch to one model. If an event in it cannot be applied (an error of its
        data, not of the connection), the batch is applied again event by event in savepoints,
        the events that fail are quarantined (projections/quarantine.py), and the position
        moves on past them: one bad event never stops the model."""
        name = model.tracking_name
        quarantined: list[Quarantined] = []
        try:
            new_position = self._apply_in_transaction(model, batch, quarantined, isolate=False)
        except POISON as error:
            self.log("read model cannot apply an event of the batch; isolating it", model=name,
                     error=type(error).__name__, after=batch.notifications[0][0],
                     until=batch.last_id)
            quarantined.clear()
            new_position = self._apply_in_transaction(model, batch, quarantined, isolate=True)
        for q in quarantined:
            # Ids, the event's type and the error's class only: the message may not name the
            # value (describe() strips quoted values), never the individual.
            self.log("event quarantined: the read model cannot apply it", model=name,
                     notification_id=q.notification_id, case_id=str(q.case_id),
                     event_type=q.event_type, error=q.error)
        with self.progress:
            self.positions[name] = new_position
            self.progress.notify_all()

    def _apply_in_transaction(self, model: ReadModel, batch: Batch,
                              quarantined: list[Quarantined], *, isolate: bool) -> int:
        with self.store.datastore.transaction(commit=True) as curs:
            position, held = self.store.lock_position_held(curs, model.tracking_name)
            # A read model is rebuilt from the log at will, so its commits need not wait for the
            # disk: a crash loses at most the last moments of batches, rows and position
            # together, and they are applied again. Visibility to readers is unchanged.
            curs.execute("SET LOCAL synchronous_commit = off")
            return self.store.apply(curs, model, batch, position, held, isolate=isolate,
                                    quarantined=quarantined)

    # -------------------------------------------------------------- running live

    def start(self) -> ReadModelRunner:
        """Run in a background thread (inside the service process)."""
        self.setup()
        self.thread = threading.Thread(target=self.run, name="read-models", daemon=True)
        self.thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self.woken.set()
        for thread in (self.thread, self.listener):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout)
        if self._appliers is not None:
            self._appliers.shutdown(wait=True)
            self._appliers = None

    def run(self) -> None:
        """Catch up, then follow the log until ``stop``."""
        if not self.positions:
            self.setup()
        self.listener = threading.Thread(target=self._listen, name="read-models-listen",
                                         daemon=True)
        self.listener.start()
        while not self.stopping.is_set():
            self.woken.clear()
            try:
                self.process_available()
            except Exception as error:
                # A lost connection, a timeout, a full disk, a lock: the batch rolled back, so
                # try again. Anything else (a bug, a missing table) is retried the same way
                # rather than ending the thread: it is logged, and /readyz reports a runner
                # that keeps failing. (An event's own bad data is quarantined, not raised.)
                self.failures += 1
                self.failing_since = self.failing_since or time.time()
                self.last_error = type(error).__name__
                pause = min(0.1 * 2 ** self.failures, 5.0)
                self.log("read model batch failed; retrying", error=type(error).__name__,
                         transient=isinstance(error, TRANSIENT), failures=self.failures,
                         pause_s=pause)
                self._refresh_positions_quietly()
                self.stopping.wait(pause)
                continue
            self.failures, self.failing_since, self.last_error = 0, None, None
            # Woken by NOTIFY; the timeout is the poll that covers a lost LISTEN connection.
            self.woken.wait(self.poll_interval)

    def _refresh_positions_quietly(self) -> None:
        try:
            for name in self.positions:
                self.positions[name] = self.store.position(name)
        except Exception:  # the store is still away: the next attempt refreshes them
            pass

    def _listen(self) -> None:
        failures = 0
        while not self.stopping.is_set():
            try:
                with self.store.datastore.get_connection() as conn:
                    conn.execute(SQL("LISTEN {}").format(Identifier(self.channel)))
                    self.listening.set()
                    if failures:
                        self.log("LISTEN connection restored", attempts=failures)
                    failures = 0
                    self.woken.set()  # anything recorded while we were away
                    while not self.stopping.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            self.woken.set()
                    # Back to the pool: it must not go on receiving (and buffering) NOTIFYs.
                    conn.execute(SQL("UNLISTEN {}").format(Identifier(self.channel)))
            except TRANSIENT as error:
                self.listening.clear()
                failures += 1
                self.log("LISTEN connection lost; polling until it is back",
                         error=type(error).__name__)
                self.stopping.wait(min(0.1 * 2 ** failures, 5.0))
        self.listening.clear()

    # -------------------------------------------------------------- read your writes

    def wait_for(self, notification_id: int, timeout: float = 5.0,
                 models: Iterable[str] | None = None) -> bool:
        """Block until every model (or those named) has applied ``notification_id``; False on
        timeout."""
        names = None if models is None else tuple(models)

        def reached() -> bool:
            positions = self.positions if names is None else {
                n: self.positions.get(n, 0) for n in names}
            return all(p >= notification_id for p in positions.values())

        with self.progress:
            return self.progress.wait_for(reached, timeout)


def wait_until_projected(
    datastore: PostgresDatastore,
    notification_id: int,
    *,
    models: Sequence[str] = tuple(m.name for m in ALL_MODELS),
    timeout: float = 5.0,
) -> bool:
    """Block until the named models (run by any process) have applied ``notification_id``.

    Listens on the runner's progress channel and checks the tracking rows whenever a batch
    commits, so it returns within a round trip of the commit. False on timeout.
    """
    deadline = time.monotonic() + timeout
    tracking = SQL("{}.{}").format(Identifier(datastore.schema), Identifier(TRACKING_TABLE))
    query = SQL(
        "SELECT count(*) AS reached FROM {} WHERE application_name = ANY(%s) "
        "AND notification_id >= %s"
    ).format(tracking)
    with datastore.get_connection() as conn:  # the library's connections autocommit
        conn.execute(SQL("LISTEN {}").format(Identifier(PROGRESS_CHANNEL)))
        # No runner has set up this schema yet: nothing is projected (rather than an error).
        exists = SQL("SELECT to_regclass(%s) IS NOT NULL AS found")
        found = False
        try:
            while True:
                if not found:
                    found = conn.execute(exists, (tracking.as_string(conn),)).fetchone()["found"]
                reached = conn.execute(query, (list(models), notification_id)).fetchone()[
                    "reached"] if found else 0
                if reached == len(models):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                for _ in conn.notifies(timeout=min(remaining, 0.5), stop_after=1):
                    pass
        finally:
            conn.execute(SQL("UNLISTEN {}").format(Identifier(PROGRESS_CHANNEL)))
