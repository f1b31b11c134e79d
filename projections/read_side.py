"""The read side in the store: the log the read models are fed from, their positions in it
(tracking), the code version each model's tables were built by, and the events a model set
aside (projections/quarantine.py).

``ReadSide`` reads the log in batches and applies a batch to one model in the caller's
transaction, exactly once (the position is locked and moved in the same transaction);
``swap_in`` puts a model rebuilt beside the live one in its place. The runner
(projections/runner.py) and the rebuild (projections/rebuild.py) are both built on these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresTrackingRecorder,
)
from psycopg import Cursor
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from .case_record import Record, fold
from .events import CaseEvent, decode
from .quarantine import HELD_BEHIND, POISON, Quarantine, Quarantined, describe
from .read_model import NEXT_SUFFIX, Folds, ReadModel
from .rows import the_row
from .storage import EVENTS_TABLE, MODELS_TABLE, PROGRESS_CHANNEL, TRACKING_TABLE, qualified

# A notification as read: (notification id, case id, version, topic, state).
LoggedRow = tuple[int, UUID, int, str, bytes]


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
    events: list[CaseEvent] = []
    unreadable: list[tuple[int, UUID, str, BaseException]] = []
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
        self.tracking_table = qualified(self.schema, TRACKING_TABLE)
        self.models_table = qualified(self.schema, MODELS_TABLE)
        events = qualified(self.schema, events_table)
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
            if not the_row(curs)["found"]:
                raise ReadModelsNotSetUp(f"no read models in schema {self.schema}")
            curs.execute("SELECT to_regclass(%s) IS NOT NULL AS found",
                         (self.quarantine.table.as_string(curs),))
            if not the_row(curs)["found"]:
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
        format: its dict rows and Notification objects are a visible share of the per-event cost
        at catch-up rates (bench figure `read_models_catch_up_events_per_s`).
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


def swap_in(store: ReadSide, live: ReadModel, beside: ReadModel, batch_size: int,
            on_progress: Callable[[int, int], None] | None) -> int:
    """Swap the caught-up ``beside`` model in for ``live`` in one transaction (see
    projections/rebuild.py); returns the position the swapped-in model stands at."""
    with store.datastore.transaction(commit=True) as curs:
        live_position = store.lock_position(curs, live.tracking_name)
        position, held = store.lock_position_held(curs, beside.tracking_name)
        # What the live model has that the rebuild has not yet: apply it here, under the lock
        # (in savepoints, so an event it cannot apply is quarantined, not the swap failed).
        while position < live_position:
            notifications = store.read(position, batch_size, stop=live_position)
            if not notifications:
                break
            quarantined: list[Quarantined] = []
            position = store.apply(curs, beside, decode_batch(notifications), position, held,
                                   isolate=True, quarantined=quarantined)
            held.update((q.case_id, q.notification_id) for q in quarantined
                        if q.case_id is not None and q.case_id not in held)
        for base in live.tables:
            old = base + "__old"
            curs.execute(SQL("DROP TABLE IF EXISTS {}").format(_table(live, old)))
            curs.execute(SQL("ALTER TABLE IF EXISTS {} RENAME TO {}").format(
                _table(live, base), Identifier(old)))
            curs.execute(SQL("ALTER TABLE {} RENAME TO {}").format(
                _table(live, base + NEXT_SUFFIX), Identifier(base)))
            curs.execute(SQL("DROP TABLE IF EXISTS {}").format(_table(live, old)))
        _rename_indexes(curs, live)
        curs.execute(
            SQL("UPDATE {} SET notification_id = %s WHERE application_name = %s")
            .format(store.tracking_table),
            (position, live.tracking_name),
        )
        curs.execute(
            SQL("DELETE FROM {} WHERE application_name = %s").format(store.tracking_table),
            (beside.tracking_name,),
        )
        store.quarantine.move(curs, beside.tracking_name, live.tracking_name)
        curs.execute(
            SQL("INSERT INTO {} (name, schema_version, built_at) VALUES (%s, %s, now()) "
                "ON CONFLICT (name) DO UPDATE SET schema_version = EXCLUDED.schema_version, "
                "built_at = EXCLUDED.built_at").format(store.models_table),
            (live.name, live.schema_version),
        )
        curs.execute("SELECT pg_notify(%s, %s)", (PROGRESS_CHANNEL, f"{live.name}:{position}"))
    if on_progress is not None:
        on_progress(position, position)
    return position


def _table(model: ReadModel, name: str) -> Any:
    return qualified(model.schema, name)


def drop_tables(curs: Cursor[Any], model: ReadModel) -> None:
    for name in model.table_names():
        curs.execute(SQL("DROP TABLE IF EXISTS {}").format(_table(model, name)))


def _rename_indexes(curs: Cursor[Any], live: ReadModel) -> None:
    """Give the swapped-in tables' indexes (and primary keys) the names of the live set."""
    curs.execute(
        "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = ANY(%s) "
        "AND indexname LIKE %s",
        (live.schema, list(live.tables), f"%{NEXT_SUFFIX}%"),
    )
    for row in curs.fetchall():
        name = row["indexname"]
        curs.execute(SQL("ALTER INDEX {} RENAME TO {}").format(
            _table(live, name), Identifier(name.replace(NEXT_SUFFIX, "", 1))))
