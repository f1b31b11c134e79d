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
from typing import Any

from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL

from .lag import read_lag
from .quarantine import Quarantined
from .read_model import NEXT_SUFFIX, ReadModel
from .read_side import ReadSide
from .rows import the_row
from .runner import ALL_MODELS, BATCH_SIZE, rebuild_beside
from .storage import EVENTS_TABLE, MODELS_TABLE, qualified

Progress = Callable[[int, int], None]  # (position, head)


def rebuild(
    datastore: PostgresDatastore,
    model_class: type[ReadModel],
    *,
    events_table: str = EVENTS_TABLE,
    batch_size: int = BATCH_SIZE,
    on_progress: Progress | None = None,
) -> int:
    """Rebuild ``model_class`` from the whole log beside the live model and swap it in (see the
    module doc); returns the position the swapped-in model stands at."""
    return rebuild_beside(datastore, model_class, events_table=events_table,
                          batch_size=batch_size, on_progress=on_progress)


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
    names = [cls.name for cls in ALL_MODELS]
    with datastore.transaction(commit=False) as curs:
        curs.execute("SELECT to_regclass(%s) AS t",
                     (qualified(datastore.schema, MODELS_TABLE).as_string(curs),))
        has_models = the_row(curs)["t"] is not None
        built: dict[str, Any] = {}
        if has_models:
            curs.execute(SQL("SELECT * FROM {}").format(store.models_table))
            built = {row["name"]: row for row in curs.fetchall()}
        lag = read_lag(curs, datastore.schema, names, events_table)
    return [
        ModelStatus(
            name=cls.name,
            position=lag.positions.get(cls.name, 0),
            head=lag.head,
            schema_version=cls.schema_version,
            built_version=built[cls.name]["schema_version"] if cls.name in built else None,
            built_at=built[cls.name]["built_at"] if cls.name in built else None,
            rebuilding_at=lag.positions.get(cls.name + NEXT_SUFFIX),
            oldest_unprojected_at=lag.oldest_unprojected_at[cls.name],
            quarantined=lag.quarantined.get(cls.name, 0),
        )
        for cls in ALL_MODELS
    ]


def quarantined_events(datastore: PostgresDatastore,
                       events_table: str = EVENTS_TABLE) -> list[Quarantined]:
    """The live models' quarantined events, in model and log order."""
    store = ReadSide(datastore, events_table)
    with datastore.transaction(commit=False) as curs:
        if not store.quarantine.counts(curs, [m.name for m in ALL_MODELS]):
            return []
        return store.quarantine.entries(curs, models=[m.name for m in ALL_MODELS])
