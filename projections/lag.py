"""How far the read models stand behind the log, read in the caller's transaction.

One reading for everyone who asks: ``sip-ledger projections status`` (projections/rebuild.py)
and the service's ``/readyz`` and ``/metrics`` (adapters/http/routes/operations.py). It takes a
cursor, so each caller keeps its own transaction and limits (the probe gives the store a
couple of seconds, the command line as long as it takes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from psycopg import Cursor
from psycopg.sql import SQL

from .quarantine import Quarantine
from .rows import the_row
from .storage import EVENTS_TABLE, TRACKING_TABLE, qualified


@dataclass(frozen=True)
class Lag:
    """The log's head, where each model stands, and what that leaves unapplied."""

    head: int
    # Every tracking row: the live models' and any rebuild's (``<name>__next``).
    positions: dict[str, int]
    # Per model asked about: when the oldest event it has not applied was recorded (None: it
    # has applied the whole log, or that event's timestamp cannot be read).
    oldest_unprojected_at: dict[str, datetime | None]
    quarantined: dict[str, int]  # events set aside, per model asked about


def read_lag(curs: Cursor[Any], schema: str, models: Sequence[str],
             events_table: str = EVENTS_TABLE) -> Lag:
    """The models' ``Lag``: a handful of indexed queries, one per distinct lagging position."""
    events = qualified(schema, events_table)
    curs.execute(SQL("SELECT max(notification_id) AS head FROM {}").format(events))
    head = the_row(curs)["head"] or 0
    curs.execute(SQL("SELECT application_name, notification_id FROM {}").format(
        qualified(schema, TRACKING_TABLE)))
    positions = {row["application_name"]: row["notification_id"] or 0
                 for row in curs.fetchall()}
    oldest: dict[str, datetime | None] = {}
    next_after: dict[int, datetime | None] = {}  # several models often stand at one position
    for name in models:
        position = positions.get(name, 0)
        if position >= head:
            oldest[name] = None
            continue
        if position not in next_after:
            curs.execute(SQL("SELECT state FROM {} WHERE notification_id > %s "
                             "ORDER BY notification_id LIMIT 1").format(events), (position,))
            row = curs.fetchone()
            next_after[position] = recorded_at(row["state"]) if row else None
        oldest[name] = next_after[position]
    quarantined = Quarantine(schema).counts(curs, models)
    return Lag(head=head, positions=positions, oldest_unprojected_at=oldest,
               quarantined=quarantined)


def recorded_at(state: bytes) -> datetime | None:
    """An event's own timestamp (the library's JSON: ``{"_type_": …, "_data_": iso}``); None
    for an event whose state cannot be read that way: the lag and the runner still tell, and a
    status or probe must not fail on the very event that stalls the models."""
    try:
        value = orjson.loads(bytes(state)).get("timestamp")
        return datetime.fromisoformat(value["_data_"]) if isinstance(value, dict) else None
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
