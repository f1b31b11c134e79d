"""Current plans: one row per case with where it stands and its current plan.

The row holds the whole case record (stage, parties, consent, meeting and replies, the current
plan revision, closure per principal) as JSON, and beside it the columns the lists filter on:
organisation, unit and stage. ``parties`` is every organisation that is party to the case (the
principals, those within the consent, those invited); ``units`` every unit that has acted in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, TypedDict
from uuid import UUID

from psycopg import Cursor
from psycopg.sql import SQL, Composable, Composed

from .case_record import Record
from .read_model import CaseRecordModel, as_json, as_text_array
from .rows import typed_rows
from .timeouts import set_local_timeouts


def _units(record: Record) -> list[str]:
    units: set[str | None] = {record["proposer"]["unit"]}
    if record["contact_person"]:
        units.add(record["contact_person"]["unit"])
    units.update(c["by_unit"] for c in record["closures"].values())
    return sorted(u for u in units if u)


# The model's one table: a row per case, its record beside the columns lists are filtered by.
PLANS_TABLE = "rm_case_plans"


class CurrentPlans(CaseRecordModel):
    name = "plans"
    schema_version = 2
    tables = (PLANS_TABLE,)
    record_columns = (
        "case_id", "version", "stage", "municipality_id", "region_id", "county",
        "parties", "units", "proposed_on", "updated_at", "record",
    )

    def create_statements(self) -> list[SQL | Composed]:
        t = self.table(PLANS_TABLE)
        return [
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                "case_id uuid PRIMARY KEY, version int NOT NULL, stage text NOT NULL, "
                "municipality_id text NOT NULL, region_id text NOT NULL, county text NOT NULL, "
                "parties text[] NOT NULL, units text[] NOT NULL, proposed_on date NOT NULL, "
                "updated_at timestamptz NOT NULL, record json NOT NULL)"
            ).format(t),
        ]

    def index_statements(self) -> list[SQL | Composed]:
        t = self.table(PLANS_TABLE)
        return [
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING gin (parties)").format(
                self.index_name("parties"), t),
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING gin (units)").format(
                self.index_name("units"), t),
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (stage)").format(
                self.index_name("stage"), t),
        ]

    def record_row(self, record: Record) -> Sequence[Any]:
        return (
            record["case_id"], record["version"], record["stage"],
            record["municipality"]["id"], record["region"]["id"], record["county"],
            as_text_array(record["parties"]), as_text_array(_units(record)),
            record["proposed_on"], record["updated_at"],
            as_json(record),
        )


# ------------------------------------------------------------------------ queries


def current_plan(curs: Cursor[Any], schema: str, case_id: UUID) -> Record | None:
    """The case record of one case, or None if the model has not seen it."""
    curs.execute(
        SQL("SELECT record FROM {} WHERE case_id = %s").format(
            CurrentPlans(schema).table(PLANS_TABLE)),
        (case_id,),
    )
    row = curs.fetchone()
    if row is None:
        return None
    record: Record = row["record"]  # a json column: psycopg gives it back decoded
    return record


def case_parties(datastore: Any, schema: str, case_id: UUID,
                 lock_timeout_s: float | None = None) -> list[str] | None:
    """The organisations party to a case (None if the model has not seen it): what a command's
    access check needs, without reading and decoding the whole record.

    ``lock_timeout_s``: give up (psycopg's LockNotAvailable) rather than wait longer for a lock
    on the table (a rebuild's swap, an operator's LOCK TABLE): the caller has the log to ask.
    Sent in one pipeline with the query, so it costs no round trip of its own."""
    query = SQL("SELECT parties FROM {} WHERE case_id = %s").format(
        CurrentPlans(schema).table(PLANS_TABLE))
    with datastore.get_connection() as conn:
        if lock_timeout_s is None:
            row = conn.execute(query, (case_id,)).fetchone()
        else:
            with conn.pipeline(), conn.transaction():
                set_local_timeouts(conn, lock=lock_timeout_s)
                row = conn.execute(query, (case_id,)).fetchone()
    return None if row is None else row["parties"]


class CaseListRow(TypedDict):
    """A case in a list: who is party to it and where it stands, no personal data."""

    case_id: UUID
    version: int
    stage: str
    municipality_id: str
    region_id: str
    county: str
    parties: list[str]
    units: list[str]
    proposed_on: date
    updated_at: datetime


def list_cases(
    curs: Cursor[Any],
    schema: str,
    *,
    organisation_id: str | None = None,
    unit: str | None = None,
    stage: str | None = None,
    limit: int = 100,
    after: UUID | None = None,
) -> list[CaseListRow]:
    """Cases by organisation (any party), unit and stage; no personal data in the rows.

    Ordered by case id and paged with ``after`` (the last case id of the previous page).
    """
    conditions: list[Composable] = []
    params: list[object] = []
    if organisation_id is not None:
        conditions.append(SQL("parties @> ARRAY[%s]::text[]"))
        params.append(organisation_id)
    if unit is not None:
        conditions.append(SQL("units @> ARRAY[%s]::text[]"))
        params.append(unit)
    if stage is not None:
        conditions.append(SQL("stage = %s"))
        params.append(stage)
    if after is not None:
        conditions.append(SQL("case_id > %s"))
        params.append(after)
    where = SQL(" WHERE ") + SQL(" AND ").join(conditions) if conditions else SQL("")
    return typed_rows(
        curs, CaseListRow,
        SQL(
            "SELECT case_id, version, stage, municipality_id, region_id, county, parties, units, "
            "proposed_on, updated_at FROM {}{} ORDER BY case_id LIMIT %s"
        ).format(CurrentPlans(schema).table(PLANS_TABLE), where),
        (*params, limit),
    )
