"""Rebuilding a read model beside the live one, and the models' status.

A rebuild fills a second table set (``<table>__next``) from the start of the log, with a
tracking row of its own, while the live model goes on serving and being fed. When it has caught
up, one transaction swaps it in:

1. lock the live model's tracking row — a live runner's batch for this model waits here, and
   the position cannot move under us;
2. apply to the new tables whatever the live model has seen beyond the rebuild's position;
3. rename the live tables away, the new ones into their names, drop the old ones and give the
   new indexes the live names;
4. set the live position to the rebuild's and drop the rebuild's tracking row;
5. the rebuild's quarantine (events it could not apply, projections/quarantine.py) replaces the
   live model's: an event the rebuilt model could apply (a fixed release) leaves it.

Readers see the old model until the commit and the new one after it, never a half-built one
(the renames wait for running queries and block new ones only for the instant of the swap).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import orjson
from eventsourcing.postgres import PostgresDatastore
from psycopg import Cursor
from psycopg.sql import SQL, Identifier

from .quarantine import Quarantined
from .read_model import NEXT_SUFFIX, ReadModel
from .runner import ALL_MODELS, BATCH_SIZE, EVENTS_TABLE, ReadModelRunner, ReadSide, decode_batch

Progress = Callable[[int, int], None]  # (position, head)


def rebuild(
    datastore: PostgresDatastore,
    model_class: type[ReadModel],
    *,
    events_table: str = EVENTS_TABLE,
    batch_size: int = BATCH_SIZE,
    on_progress: Progress | None = None,
) -> int:
    """Rebuild ``model_class`` from the whole log beside the live model and swap it in;
    returns the position the swapped-in model stands at."""
    live = model_class(datastore.schema)
    beside = live.beside()
    store = ReadSide(datastore, events_table)
    store.setup([live])  # a model never built before is created (empty), then rebuilt
    with datastore.transaction(commit=True) as curs:
        # An earlier rebuild that was interrupted leaves its tables; start them afresh.
        _drop_tables(curs, beside)
        curs.execute(
            SQL("DELETE FROM {} WHERE application_name = %s").format(store.tracking_table),
            (beside.tracking_name,),
        )
        store.quarantine.clear(curs, beside.tracking_name)
        store.create_tables(curs, beside)
    runner = ReadModelRunner(datastore, [beside], events_table=events_table,
                             batch_size=batch_size)
    runner.setup()
    # Catch up in rounds: the log grows while we read it; stop when a round finds little.
    while True:
        head = store.head()
        if on_progress is not None:
            on_progress(runner.positions[beside.tracking_name], head)
        read = runner.process_available(
            until=head,
            on_batch=None if on_progress is None else partial(_reached, on_progress, head=head),
        )
        if read < batch_size:
            break
    # The indexes, built once from the rows (outside the swap, which holds the live position).
    runner.create_indexes()
    return _swap(store, live, beside, batch_size, on_progress)


def _reached(on_progress: Progress, position: int, *, head: int) -> None:
    on_progress(position, head)


def _swap(store: ReadSide, live: ReadModel, beside: ReadModel, batch_size: int,
          on_progress: Progress | None) -> int:
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
        curs.execute("SELECT pg_notify(%s, %s)", ("rm_progress", f"{live.name}:{position}"))
    if on_progress is not None:
        on_progress(position, position)
    return position


def _table(model: ReadModel, name: str) -> Any:
    return SQL("{}.{}").format(Identifier(model.schema), Identifier(name))


def _drop_tables(curs: Cursor[Any], model: ReadModel) -> None:
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


# ------------------------------------------------------------------------ status


@dataclass(frozen=True)
class ModelStatus:
    name: str
    position: int
    head: int
    schema_version: int  # of the code
    built_version: int | None  # of the tables in the store
    built_at: datetime | None
    rebuilding_at: int | None  # a rebuild's position, while one runs (or was interrupted)
    oldest_unprojected_at: datetime | None
    quarantined: int = 0  # events set aside (projections/quarantine.py)

    @property
    def lag(self) -> int:
        return max(self.head - self.position, 0)

    @property
    def needs_rebuild(self) -> bool:
        return self.built_version is not None and self.built_version != self.schema_version


def status(datastore: PostgresDatastore, events_table: str = EVENTS_TABLE) -> list[ModelStatus]:
    store = ReadSide(datastore, events_table)
    store.tracking.create_table()
    head = store.head()
    result = []
    with datastore.transaction(commit=False) as curs:
        curs.execute("SELECT to_regclass(%s) AS t", (f"{datastore.schema}.rm_models",))
        has_models = curs.fetchone()["t"] is not None
        built: dict[str, Any] = {}
        if has_models:
            curs.execute(SQL("SELECT * FROM {}").format(store.models_table))
            built = {row["name"]: row for row in curs.fetchall()}
        curs.execute(SQL("SELECT * FROM {}").format(store.tracking_table))
        positions = {row["application_name"]: row["notification_id"] for row in curs.fetchall()}
        quarantined = _quarantine_counts(curs, store)
        for cls in ALL_MODELS:
            position = positions.get(cls.name) or 0
            oldest = None
            if position < head:
                curs.execute(
                    SQL("SELECT state FROM {}.{} WHERE notification_id > %s "
                        "ORDER BY notification_id LIMIT 1").format(
                        Identifier(datastore.schema), Identifier(events_table)),
                    (position,),
                )
                row = curs.fetchone()
                if row is not None:
                    oldest = _recorded_at(bytes(row["state"]))
            result.append(ModelStatus(
                name=cls.name,
                position=position,
                head=head,
                schema_version=cls.schema_version,
                built_version=built[cls.name]["schema_version"] if cls.name in built else None,
                built_at=built[cls.name]["built_at"] if cls.name in built else None,
                rebuilding_at=positions.get(cls.name + NEXT_SUFFIX),
                oldest_unprojected_at=oldest,
                quarantined=quarantined.get(cls.name, 0),
            ))
    return result


def _quarantine_counts(curs: Cursor[Any], store: ReadSide) -> dict[str, int]:
    curs.execute("SELECT to_regclass(%s) AS t", (store.quarantine.table.as_string(curs),))
    if curs.fetchone()["t"] is None:
        return {}
    return store.quarantine.counts(curs, [m.name for m in ALL_MODELS])


def quarantined_events(datastore: PostgresDatastore,
                       events_table: str = EVENTS_TABLE) -> list[Quarantined]:
    """The live models' quarantined events, in model and log order."""
    store = ReadSide(datastore, events_table)
    with datastore.transaction(commit=False) as curs:
        if not _quarantine_counts(curs, store):
            return []
        return store.quarantine.entries(curs, models=[m.name for m in ALL_MODELS])


def _recorded_at(state: bytes) -> datetime | None:
    value = orjson.loads(state).get("timestamp")
    return datetime.fromisoformat(value["_data_"]) if isinstance(value, dict) else None
