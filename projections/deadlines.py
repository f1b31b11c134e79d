"""The deadline dashboard: every deadline of every case, its state as of any day, and how well
deadlines are kept.

A deadline's state depends on the day asked about, so it is computed in the query, not stored:
met on or before that day → met in time or met late (against its due date); cancelled (the case
ended or planning closed) → cancelled; otherwise overdue if due before that day, due soon if due
within N days, else open. The model holds no personal data: its case record drops the
individual and the plan text before it is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any, Literal, TypedDict
from uuid import UUID

from psycopg import Cursor
from psycopg.sql import SQL, Composable, Composed, Identifier

from domain.deadlines import current_policy

from .case_record import Record
from .read_model import CaseRecordModel, as_json
from .rows import the_row, typed_rows
from .storage import qualified

STATES = ("open", "due_soon", "overdue", "met_in_time", "met_late", "cancelled")
GROUPS = {
    "organisation": "responsible_organisation_id",
    "unit": "responsible_unit",
    "county": "county",
    "kind": "kind",
}
# Days from proposal to the first meeting, counted into these buckets (upper bounds inclusive).
MEETING_DAY_BUCKETS = (7, 14, 21, 30, 60, 90)


def default_due_soon_days() -> int:
    return current_policy("national").due_soon_days


# What a pending-deadline query reads besides the indexed columns.
PENDING_COLUMNS = (
    "case_id", "key", "kind", "rule", "policy_id", "responsible_organisation_id",
    "responsible_unit", "county", "met_on", "cancelled_on",
)


def _listed(indexed: str) -> Composable:
    return SQL(", ").join(Identifier(c) for c in PENDING_COLUMNS if c != indexed)


def _responsible_unit(record: Record, organisation_id: str | None) -> str | None:
    """The unit that answers for a deadline: the contact person's when they belong to the
    responsible organisation, else the proposer's, else none is known."""
    for actor in (record["contact_person"], record["proposer"]):
        if actor and actor["organisation_id"] == organisation_id:
            unit: str = actor["unit"]
            return unit
    return None


class DeadlineDashboard(CaseRecordModel):
    name = "deadlines"
    # 2: structured corrections (R32) move deadlines; the record's corrections are a list.
    schema_version = 2
    tables = ("rm_deadline_cases", "rm_deadlines")
    stores_whole_record = False  # record_row drops the individual, the plan and the discharge
    record_columns = (
        "case_id", "version", "stage", "municipality_id", "region_id", "county",
        "proposed_on", "first_meeting_on", "record",
    )
    deadline_columns = (
        "case_id", "key", "kind", "rule", "due", "policy_id", "policy_version",
        "responsible_organisation_id", "responsible_unit", "municipality_id", "region_id",
        "county", "set_on", "met_on", "cancelled_on", "settled_on", "pending",
    )

    def create_statements(self) -> list[SQL | Composed]:
        cases, deadlines = self.table("rm_deadline_cases"), self.table("rm_deadlines")
        return [
            # The GiST indexes below combine a text column with a date range.
            SQL("CREATE EXTENSION IF NOT EXISTS btree_gist"),
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                "case_id uuid PRIMARY KEY, version int NOT NULL, stage text NOT NULL, "
                "municipality_id text NOT NULL, region_id text NOT NULL, county text NOT NULL, "
                "proposed_on date NOT NULL, first_meeting_on date, record json NOT NULL)"
            ).format(cases),
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                "case_id uuid NOT NULL, key text NOT NULL, kind text NOT NULL, "
                "rule text NOT NULL, due date NOT NULL, policy_id text NOT NULL, "
                "policy_version int NOT NULL, responsible_organisation_id text, "
                "responsible_unit text, municipality_id text NOT NULL, region_id text NOT NULL, "
                "county text NOT NULL, set_on date NOT NULL, met_on date, cancelled_on date, "
                "settled_on date, pending daterange NOT NULL, "
                "PRIMARY KEY (case_id, key))"
            ).format(deadlines),
        ]

    def index_statements(self) -> list[SQL | Composed]:
        cases, deadlines = self.table("rm_deadline_cases"), self.table("rm_deadlines")
        return [
            # Days from proposal to first meeting, per county or municipality: index only.
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (county, proposed_on) "
                "INCLUDE (first_meeting_on)").format(self.index_name("cases_county"), cases),
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (municipality_id, proposed_on) "
                "INCLUDE (first_meeting_on)").format(self.index_name("cases_municipality"), cases),
            # "Pending on day D" is "D lies in [set_on, settled_on)": a GiST index on that period
            # (with btree_gist for the organisation, unit or county beside it) finds the deadlines
            # pending on any day without reading the ones settled before or set after it.
            # The due date beside them narrows "overdue" and "due within N days" in the index;
            # what the queries return rides along (INCLUDE), so they read the index alone.
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING gist "
                "(responsible_organisation_id, pending, due) INCLUDE ({})").format(
                self.index_name("pending_org"), deadlines, _listed("responsible_organisation_id")),
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING gist "
                "(responsible_unit, pending, due) INCLUDE ({})").format(
                self.index_name("pending_unit"), deadlines, _listed("responsible_unit")),
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING gist "
                "(county, pending, due) INCLUDE ({})").format(
                self.index_name("pending_county"), deadlines, _listed("county")),
            # Settled deadlines, counted by outcome, and adherence by due month: read from the
            # index alone (INCLUDE), never from the table.
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (responsible_organisation_id, settled_on) "
                "INCLUDE (kind, due, met_on, responsible_unit)").format(
                self.index_name("settled_org"), deadlines),
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (county, settled_on) "
                "INCLUDE (responsible_organisation_id, kind, due, met_on, responsible_unit)")
            .format(self.index_name("settled_county"), deadlines),
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (responsible_organisation_id, due) "
                "INCLUDE (set_on, met_on, cancelled_on, kind)").format(
                self.index_name("org_due"), deadlines),
        ]

    def record_row(self, record: Record) -> Sequence[Any]:
        # Only what the fold needs later: no personal data, no plan text, no corrections (their
        # reasons and values; the deadlines they recomputed are in the deadlines).
        slim = {k: v for k, v in record.items() if k not in ("individual", "plan", "discharge")}
        slim["individual"] = None
        slim["plan"] = None
        slim["discharge"] = None
        slim["corrections"] = []
        return (
            record["case_id"], record["version"], record["stage"], record["municipality"]["id"],
            record["region"]["id"], record["county"], record["proposed_on"],
            record["first_meeting_on"], as_json(slim),
        )

    def write_derived(self, curs: Cursor[Any], records: Sequence[Record]) -> None:
        columns = SQL(", ").join(Identifier(c) for c in self.deadline_columns)
        with curs.copy(
            SQL("COPY {} ({}) FROM STDIN").format(self.table("rm_deadlines"), columns)
        ) as copy:
            for r in records:
                for key, d in r["deadlines"].items():
                    org = d["responsible_organisation_id"]
                    settled = d["met_on"] or d["cancelled_on"]
                    set_on = d["set_on"]  # always kept by a read model (None only replayed)
                    if settled is not None and set_on is not None and settled < set_on:
                        # Met on a day before it was set (an action recorded late, dated back):
                        # it was never pending; count it settled from the day it was set.
                        settled = set_on
                    copy.write_row((
                        r["case_id"], key, d["kind"], d["rule"], d["due"], d["policy_id"],
                        d["policy_version"], org, _responsible_unit(r, org),
                        r["municipality"]["id"], r["region"]["id"], r["county"], d["set_on"],
                        d["met_on"], d["cancelled_on"], settled,
                        f"[{d['set_on']},{settled or ''})",
                    ))


# ------------------------------------------------------------------------ queries

# The state of a deadline as of %(as_of)s, due soon meaning due by %(soon)s.
STATE_SQL = SQL(
    "CASE "
    "WHEN met_on IS NOT NULL AND met_on <= %(as_of)s THEN "
    "  CASE WHEN met_on <= due THEN 'met_in_time' ELSE 'met_late' END "
    "WHEN cancelled_on IS NOT NULL AND cancelled_on <= %(as_of)s THEN 'cancelled' "
    "WHEN due < %(as_of)s THEN 'overdue' "
    "WHEN due <= %(soon)s THEN 'due_soon' "
    "ELSE 'open' END"
)


# A query's named parameters (psycopg's %(name)s), as it binds them.
Params = dict[str, object]


def _filters(
    organisation_id: str | None, unit: str | None, county: str | None, kind: str | None
) -> tuple[list[Composable], Params]:
    conditions: list[Composable] = []
    params: Params = {}
    for column, value in (
        ("responsible_organisation_id", organisation_id),
        ("responsible_unit", unit),
        ("county", county),
        ("kind", kind),
    ):
        if value is not None:
            conditions.append(SQL("{} = %({})s").format(Identifier(column), SQL(column)))
            params[column] = value
    return conditions, params


def _where(conditions: list[Composable]) -> Composable:
    return SQL(" WHERE ") + SQL(" AND ").join(conditions) if conditions else SQL("")


def _table(schema: str, base: str) -> Composable:
    return qualified(schema, base)


class PendingDeadlineRow(TypedDict):
    """A deadline pending on the day asked about (``GET /dashboard/deadlines``)."""

    case_id: UUID
    key: str
    kind: str
    rule: str
    due: date
    responsible_organisation_id: str | None
    responsible_unit: str | None
    county: str
    policy_id: str
    state: Literal["open", "due_soon", "overdue"]
    days_overdue: int


def pending_deadlines(
    curs: Cursor[Any],
    schema: str,
    *,
    as_of: date,
    within_days: int | None = None,
    organisation_id: str | None = None,
    unit: str | None = None,
    county: str | None = None,
    kind: str | None = None,
    overdue_only: bool = False,
    limit: int = 100,
) -> list[PendingDeadlineRow]:
    """Deadlines overdue, or due within ``within_days``, as of ``as_of``; most overdue first.

    A deadline met or cancelled after ``as_of`` counts as still pending on that day; one set after
    it (by a later command) did not exist yet.
    """
    soon = as_of + timedelta(days=default_due_soon_days() if within_days is None else within_days)
    conditions, params = _filters(organisation_id, unit, county, kind)
    # Pending on as_of: set by then, and not met and not cancelled by then.
    conditions.append(SQL("pending @> %(as_of)s::date"))
    conditions.append(SQL("due < %(as_of)s") if overdue_only else SQL("due <= %(soon)s"))
    params.update(as_of=as_of, soon=soon, limit=limit)
    return typed_rows(
        curs, PendingDeadlineRow,
        SQL(
            "SELECT case_id, key, kind, rule, due, responsible_organisation_id, "
            "responsible_unit, county, policy_id, {state} AS state, "
            "%(as_of)s::date - due AS days_overdue FROM {table}{where} "
            "ORDER BY due, case_id, key LIMIT %(limit)s"
        ).format(state=STATE_SQL, table=_table(schema, "rm_deadlines"), where=_where(conditions)),
        params,
    )


def deadline_counts(
    curs: Cursor[Any],
    schema: str,
    *,
    as_of: date,
    within_days: int | None = None,
    group_by: str = "kind",
    organisation_id: str | None = None,
    unit: str | None = None,
    county: str | None = None,
    kind: str | None = None,
    settled_within_days: int | None = None,
) -> dict[str, dict[str, int]]:
    """How many deadlines are in each state as of ``as_of``, per organisation, unit, county or
    kind: ``{group: {state: count}}``.

    Pending deadlines (open, due soon, overdue) are all counted. Settled ones (met in time, met
    late, cancelled) are counted since the beginning, or, with ``settled_within_days``, only
    those settled in that many days up to ``as_of`` — a dashboard's "how did the last month go",
    which reads a slice of the index instead of an organisation's or county's whole history.
    """
    if group_by not in GROUPS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPS)}")
    soon = as_of + timedelta(days=default_due_soon_days() if within_days is None else within_days)
    conditions, params = _filters(organisation_id, unit, county, kind)
    params.update(as_of=as_of, soon=soon)
    group = Identifier(GROUPS[group_by])
    table = _table(schema, "rm_deadlines")
    since: list[Composable] = []
    if settled_within_days is not None:
        since.append(SQL("settled_on > %(settled_since)s"))
        params["settled_since"] = as_of - timedelta(days=settled_within_days)
    # Two parts, each read through an index of its own: the deadlines pending that day (the
    # period index), and those settled by then (the settled_on indexes, index-only). A deadline
    # not yet set on that day is in neither.
    curs.execute(
        SQL(
            "SELECT {group} AS grp, CASE WHEN due < %(as_of)s THEN 'overdue' "
            "WHEN due <= %(soon)s THEN 'due_soon' ELSE 'open' END AS state, count(*) AS n "
            "FROM {table}{where} GROUP BY 1, 2 "
            "UNION ALL "
            "SELECT {group}, CASE WHEN met_on IS NULL THEN 'cancelled' "
            "WHEN met_on <= due THEN 'met_in_time' ELSE 'met_late' END, count(*) "
            "FROM {table}{settled} GROUP BY 1, 2"
        ).format(
            group=group, table=table,
            where=_where([*conditions, SQL("pending @> %(as_of)s::date")]),
            settled=_where([*conditions, SQL("settled_on <= %(as_of)s"), *since]),
        ),
        params,
    )
    counts: dict[str, dict[str, int]] = {}
    for row in curs.fetchall():
        in_group = counts.setdefault(row["grp"] or "", dict.fromkeys(STATES, 0))
        in_group[row["state"]] = row["n"]
    return counts


class _MonthCounts(TypedDict):
    month: str  # "YYYY-MM", of the due dates
    due: int
    met_in_time: int
    met_late: int
    unmet: int


class AdherenceMonthRow(_MonthCounts):
    """One month of ``GET /dashboard/adherence``."""

    share_met_in_time: float


def adherence_by_month(
    curs: Cursor[Any],
    schema: str,
    *,
    as_of: date,
    since: date,
    organisation_id: str | None = None,
    unit: str | None = None,
    county: str | None = None,
    kind: str | None = None,
) -> list[AdherenceMonthRow]:
    """Per month of the due date (from ``since`` up to ``as_of``): how many deadlines fell due,
    how many were met in time, met late, or are still unmet, and the share met in time.
    Cancelled deadlines are left out: nobody owed them any more."""
    conditions, params = _filters(organisation_id, unit, county, kind)
    conditions.append(SQL("due >= %(since)s AND due < %(as_of)s AND set_on <= %(as_of)s"))
    conditions.append(SQL("(cancelled_on IS NULL OR cancelled_on > due)"))
    params.update(as_of=as_of, since=since)
    rows = typed_rows(
        curs, _MonthCounts,
        SQL(
            "SELECT to_char(due, 'YYYY-MM') AS month, count(*) AS due, "
            "count(*) FILTER (WHERE met_on <= due) AS met_in_time, "
            "count(*) FILTER (WHERE met_on > due AND met_on <= %(as_of)s) AS met_late, "
            "count(*) FILTER (WHERE met_on IS NULL OR met_on > %(as_of)s) AS unmet "
            "FROM {table}{where} GROUP BY 1 ORDER BY 1"
        ).format(table=_table(schema, "rm_deadlines"), where=_where(conditions)),
        params,
    )
    return [{**row, "share_met_in_time": round(row["met_in_time"] / row["due"], 4)}
            for row in rows]


class FirstMeetingFigures(TypedDict):
    """``GET /dashboard/first-meetings``: cases with a first meeting, and days to it."""

    cases: int
    median_days: int | None  # None without any case
    p90_days: int | None
    histogram: dict[str, int]  # cases per bucket of days: "0-7", "8-14", ..., ">90"


def days_to_first_meeting(
    curs: Cursor[Any],
    schema: str,
    *,
    since: date | None = None,
    municipality_id: str | None = None,
    organisation_id: str | None = None,
    county: str | None = None,
) -> FirstMeetingFigures:
    """The distribution of days from proposal to the first meeting, over cases that have one:
    counts per bucket, the median and the 90th percentile. ``organisation_id`` takes the cases
    whose municipality or region it is."""
    conditions: list[Composable] = [SQL("first_meeting_on IS NOT NULL")]
    params: Params = {}
    if since is not None:
        conditions.append(SQL("proposed_on >= %(since)s"))
        params["since"] = since
    if municipality_id is not None:
        conditions.append(SQL("municipality_id = %(municipality_id)s"))
        params["municipality_id"] = municipality_id
    if organisation_id is not None:
        conditions.append(SQL("(municipality_id = %(organisation_id)s "
                              "OR region_id = %(organisation_id)s)"))
        params["organisation_id"] = organisation_id
    if county is not None:
        conditions.append(SQL("county = %(county)s"))
        params["county"] = county
    buckets = SQL(", ").join(
        SQL("count(*) FILTER (WHERE d <= {}) AS {}").format(n, Identifier(f"le_{n}"))
        for n in MEETING_DAY_BUCKETS
    )
    curs.execute(
        SQL(
            "SELECT count(*) AS cases, {buckets}, "
            "percentile_disc(0.5) WITHIN GROUP (ORDER BY d) AS median_days, "
            "percentile_disc(0.9) WITHIN GROUP (ORDER BY d) AS p90_days "
            "FROM (SELECT first_meeting_on - proposed_on AS d FROM {table}{where}) AS days"
        ).format(buckets=buckets, table=_table(schema, "rm_deadline_cases"),
                 where=_where(conditions)),
        params,
    )
    row = dict(the_row(curs))
    cumulative = [row.pop(f"le_{n}") for n in MEETING_DAY_BUCKETS]
    previous, histogram = 0, {}
    low = 0
    for n, total in zip(MEETING_DAY_BUCKETS, cumulative, strict=True):
        histogram[f"{low}-{n}"] = total - previous
        previous, low = total, n + 1
    histogram[f">{MEETING_DAY_BUCKETS[-1]}"] = row["cases"] - previous
    return {"cases": row["cases"], "median_days": row["median_days"],
            "p90_days": row["p90_days"], "histogram": histogram}
