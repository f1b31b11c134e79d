"""The read-access log (R33): every read of a case's personal data, and every refused attempt.

R33 (PDL 4:3, HSLF-FS 2016:40 4:9): a read of personal data is logged with the action, the unit,
the time, the user and the individual; the log is kept at least five years, and the individual
may learn which units read their data.

- **The individual** is identified by ``individual_key``: the keyed hash of the personal identity
  number (``domain.identity.individual_key``, the same secret as the ledger's R09 register). The
  number itself never enters the log, so the log can be read by auditors, exported and kept for
  years without being a register of who has a SIP; with the secret, "which units read this
  individual's data" is one index look-up (``for_individual``).
- **Append-only**: UPDATE and TRUNCATE are refused by triggers calling the same function the
  event table's triggers call (``sip_refuse_change``, created by the recorder; created here too,
  identically, when the log is set up before the ledger). DELETE is refused as well, by a guard
  of its own (``sip_access_log_cull_guard``), with one narrow exception: culling after the log's
  own retention period (R33, R34; see "Retention" below).
- **Retention**: ``cull(before)`` deletes the rows older than ``before`` through the owner's
  SECURITY DEFINER function ``sip_cull_access_log``, the only way past the guard: the function
  refuses a ``before`` less than five years ago (R33: the log is kept at least five years,
  whatever a policy says), and marks its own transaction (a transaction-local setting) so the
  guard lets exactly those rows go. EXECUTE is revoked from PUBLIC: the owner runs it
  (``sip-ledger retention erase --access-log``), or a role the owner grants it to; the
  application's role has neither it nor DELETE. Which period applies is the retention policy
  ``atkomstlogg`` (domain/retention.py); the floor here only stops a wrong policy or a wrong
  day from culling what the law says to keep.
- **Written before the answer**: ``record`` is one INSERT in a transaction of its own, committed
  when it returns. The HTTP layer calls it before it sends the data; if it fails, the read is not
  answered (see ``adapters/http/access.py``).
- ``view`` says what the read showed: ``full`` (personal data), ``restricted`` (no personal data:
  the closure or supervision view), or empty for reads of lists and of the log itself. What an
  individual may learn (``for_individual``) are the granted reads that showed personal data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NotRequired, TypedDict
from uuid import UUID

import psycopg
from eventsourcing.persistence import ProgrammingError
from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL, Composable, Composed, Identifier, Literal

from domain.errors import RuleViolation
from domain.identity import individual_key, normalise_personal_identity_number
from projections.rows import typed_rows
from projections.storage import ACCESS_LOG_TABLE, qualified

TABLE = ACCESS_LOG_TABLE
REFUSE_FUNCTION = "sip_refuse_change"
# Retention (R33, R34): the DELETE guard, the owner's culling function, the setting between them,
# and the least age of a row that may be culled whatever the policy (R33: at least five years).
CULL_GUARD_FUNCTION = "sip_access_log_cull_guard"
CULL_FUNCTION = "sip_cull_access_log"
CULL_SETTING = "sip.access_log_cull_before"
MIN_RETENTION_YEARS = 5
OUTCOMES = ("granted", "refused")
VIEWS = ("full", "restricted")
MAX_LIMIT = 10_000
# Serialises concurrent set-ups (two service processes starting at once).
_SETUP_LOCK = 0x51_50_41_4C  # "SPAL"

COLUMNS = (
    "id", "at", "person_id", "organisation_id", "organisation_kind", "unit", "role", "action",
    "case_id", "individual_key", "view", "outcome", "reason", "request_id",
)


class AccessLogRow(TypedDict):
    """One row of the log, as read back (the columns of COLUMNS)."""

    id: int
    at: datetime
    person_id: str
    organisation_id: str
    organisation_kind: str
    unit: str
    role: str
    action: str
    case_id: UUID | None
    individual_key: str | None  # the keyed hash, never the number itself
    view: str | None  # "full", "restricted", or None for lists and the log itself
    outcome: str  # "granted" or "refused"
    reason: str
    request_id: str | None


class AccessLogRecord(TypedDict):
    """One row to append (``record``'s keywords): ``record_many`` takes a list of them."""

    person_id: str
    organisation_id: str
    organisation_kind: str
    unit: str
    role: str
    action: str
    outcome: str
    case_id: NotRequired[UUID | str | None]
    personal_identity_number: NotRequired[str | None]  # hashed before it is written
    view: NotRequired[str | None]
    reason: NotRequired[str]
    request_id: NotRequired[str | None]


class UnitReadsRow(TypedDict):
    """Which unit read an individual's personal data: when first and last, how often, what."""

    organisation_id: str
    organisation_kind: str
    unit: str
    first_at: datetime
    last_at: datetime
    reads: int
    actions: list[str]


class AccessLog:
    """The access log in the store's schema, on the read side's connection pool."""

    def __init__(self, datastore: PostgresDatastore, individual_secret: bytes) -> None:
        self.datastore = datastore
        self.schema = datastore.schema or "public"
        self._secret = individual_secret
        self.table = qualified(self.schema, TABLE)
        self._columns = SQL(", ").join(Identifier(c) for c in COLUMNS)
        self._insert = SQL(
            "INSERT INTO {} (person_id, organisation_id, organisation_kind, unit, role, action, "
            "case_id, individual_key, view, outcome, reason, request_id) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"
        ).format(self.table)

    # ------------------------------------------------------------------ set-up

    def setup(self) -> None:
        """Create the table, its indexes and its append-only triggers if missing."""
        schema = Identifier(self.schema)
        refuse = qualified(self.schema, REFUSE_FUNCTION)
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(SQL("SELECT pg_advisory_xact_lock(%s)"), (_SETUP_LOCK,))
            curs.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
            curs.execute(
                SQL("SELECT to_regprocedure(%s) IS NOT NULL AS present"),
                (f'"{self.schema}".{REFUSE_FUNCTION}()',),
            )
            row = curs.fetchone()
            if not (row and row["present"]):
                # The same function the recorder creates (adapters/store/recorder.py).
                curs.execute(
                    SQL(
                        "CREATE OR REPLACE FUNCTION {refuse}() RETURNS trigger LANGUAGE plpgsql "
                        "AS $$ BEGIN RAISE EXCEPTION 'the SIP ledger is append-only: % on % "
                        "refused', TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege'; "
                        "END $$"
                    ).format(refuse=refuse)
                )
            for statement in self._create_statements(refuse):
                curs.execute(statement)
            for statement in self._retention_statements():
                curs.execute(statement)

    def _create_statements(self, refuse: Composable) -> list[Composed]:
        t = self.table
        return [
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                "id bigserial PRIMARY KEY, "
                "at timestamptz NOT NULL DEFAULT now(), "
                "person_id text NOT NULL, "
                "organisation_id text NOT NULL, "
                "organisation_kind text NOT NULL, "
                "unit text NOT NULL DEFAULT '', "
                "role text NOT NULL, "
                "action text NOT NULL, "
                "case_id uuid, "
                "individual_key text, "
                "view text CHECK (view IN ('full', 'restricted')), "
                "outcome text NOT NULL CHECK (outcome IN ('granted', 'refused')), "
                "reason text NOT NULL DEFAULT '', "
                "request_id text)"
            ).format(t),
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (case_id, at)").format(
                Identifier(f"{TABLE}_case_at"), t),
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (individual_key, at)").format(
                Identifier(f"{TABLE}_individual_at"), t),
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (person_id, at)").format(
                Identifier(f"{TABLE}_person_at"), t),
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (organisation_id, at)").format(
                Identifier(f"{TABLE}_organisation_at"), t),
            # DELETE has a guard of its own (_retention_statements); a log set up by an earlier
            # release had this trigger on UPDATE OR DELETE, and is replaced in place.
            SQL(
                "CREATE OR REPLACE TRIGGER {} BEFORE UPDATE ON {} "
                "FOR EACH ROW EXECUTE FUNCTION {}()"
            ).format(Identifier(f"{TABLE}_append_only"), t, refuse),
            SQL(
                "CREATE OR REPLACE TRIGGER {} BEFORE TRUNCATE ON {} "
                "FOR EACH STATEMENT EXECUTE FUNCTION {}()"
            ).format(Identifier(f"{TABLE}_no_truncate"), t, refuse),
        ]

    def _retention_statements(self) -> list[Composed]:
        """The DELETE guard and the culling function (see "Retention" in the module's
        docstring). The guard refuses a row unless this transaction's culling setting names an
        instant after the row and at least MIN_RETENTION_YEARS ago; only the culling function
        sets it. Same refusal text as ``sip_refuse_change``: a stray DELETE reads the same."""
        t = self.table
        guard = qualified(self.schema, CULL_GUARD_FUNCTION)
        cull = qualified(self.schema, CULL_FUNCTION)
        floor = SQL("make_interval(years => {})").format(Literal(MIN_RETENTION_YEARS))
        return [
            SQL(
                "CREATE OR REPLACE FUNCTION {guard}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "DECLARE cutoff text := current_setting({setting}, true); "
                "BEGIN "
                "IF cutoff IS NULL OR cutoff = '' OR OLD.at >= cutoff::timestamptz "
                "OR cutoff::timestamptz > now() - {floor} THEN "
                "RAISE EXCEPTION 'the SIP ledger is append-only: % on % refused', TG_OP, "
                "TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege'; "
                "END IF; "
                "RETURN OLD; "
                "END $$"
            ).format(guard=guard, setting=Literal(CULL_SETTING), floor=floor),
            SQL(
                "CREATE OR REPLACE TRIGGER {} BEFORE DELETE ON {} "
                "FOR EACH ROW EXECUTE FUNCTION {}()"
            ).format(Identifier(f"{TABLE}_cull_only"), t, guard),
            # SECURITY DEFINER: runs with the owner's DELETE, for whoever may EXECUTE it; the
            # search path is fixed so a caller's objects cannot stand in for the catalogue's.
            SQL(
                "CREATE OR REPLACE FUNCTION {cull}(cutoff timestamptz) RETURNS bigint "
                "LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$ "
                "DECLARE culled bigint; "
                "BEGIN "
                "IF cutoff IS NULL OR cutoff > now() - {floor} THEN "
                "RAISE EXCEPTION '[R33] the access log is kept at least {years} years: "
                "rows from % on may not be culled', cutoff "
                "USING ERRCODE = 'insufficient_privilege'; "
                "END IF; "
                "PERFORM set_config({setting}, cutoff::text, true); "
                "DELETE FROM {t} WHERE at < cutoff; "
                "GET DIAGNOSTICS culled = ROW_COUNT; "
                "PERFORM set_config({setting}, '', true); "
                "RETURN culled; "
                "END $$"
            ).format(cull=cull, floor=floor, years=SQL(str(MIN_RETENTION_YEARS)),
                     setting=Literal(CULL_SETTING), t=t),
            SQL("REVOKE ALL ON FUNCTION {}(timestamptz) FROM PUBLIC").format(cull),
        ]

    # ------------------------------------------------------------------ retention (R33, R34)

    def count_before(self, before: datetime) -> int:
        """How many rows are older than ``before`` (what ``cull(before)`` would delete)."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT count(*) AS n FROM {} WHERE at < %s").format(self.table),
                         (before,))
            row = curs.fetchone()
        return int(row["n"]) if row else 0

    def cull_floor(self) -> datetime:
        """The latest ``before`` the store lets ``cull`` take now: MIN_RETENTION_YEARS ago by
        the store's own clock and time zone."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT now() - make_interval(years => %s) AS floor"),
                         (MIN_RETENTION_YEARS,))
            row = curs.fetchone()
        assert row is not None
        floor: datetime = row["floor"]
        return floor

    def cull(self, before: datetime) -> int:
        """Delete the rows older than ``before``, in one transaction; returns how many. Refused
        by the store, as RuleViolation (R33) naming ``before``, for a ``before`` less than
        MIN_RETENTION_YEARS ago and for a role that may not EXECUTE the culling function."""
        try:
            with self.datastore.transaction(commit=True) as curs:
                curs.execute(SQL("SELECT {}(%s) AS culled").format(
                    qualified(self.schema, CULL_FUNCTION)), (before,))
                row = curs.fetchone()
        except ProgrammingError as error:
            if not isinstance(error.__cause__, psycopg.errors.InsufficientPrivilege):
                raise
            diag = error.__cause__.diag.message_primary or ""
            why = (diag.removeprefix("[R33] ") if diag.startswith("[R33]")
                   else f"the store refused to cull the access log ({diag})")
            raise RuleViolation(why, field="before", rule="R33") from None
        return int(row["culled"]) if row else 0

    # ------------------------------------------------------------------ writing

    def key_for(self, personal_identity_number: str) -> str:
        """The individual's key in the log (raises InvalidInput for a malformed number)."""
        pin = normalise_personal_identity_number(personal_identity_number)
        return individual_key(pin, self._secret)

    def record(
        self,
        *,
        person_id: str,
        organisation_id: str,
        organisation_kind: str,
        unit: str,
        role: str,
        action: str,
        outcome: str,
        case_id: UUID | str | None = None,
        personal_identity_number: str | None = None,
        view: str | None = None,
        reason: str = "",
        request_id: str | None = None,
    ) -> int:
        """Append one row and commit it; returns its id. Raises if it cannot be written, and
        then the read it logs must not be answered."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}")
        if view is not None and view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS} or None")
        key = self.key_for(personal_identity_number) if personal_identity_number else None
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                self._insert,
                (person_id, organisation_id, organisation_kind, unit, role, action,
                 case_id, key, view, outcome, reason, request_id),
                prepare=True,
            )
            row = curs.fetchone()
        assert row is not None
        return row["id"]

    def record_many(self, rows: list[AccessLogRecord]) -> None:
        """Append several rows (each as ``record``'s keywords) in one transaction, committed
        when it returns: a feed page's reads, one row per case, in one round of statements
        rather than one transaction per case. All or none are written."""
        values = []
        for row in rows:
            outcome, view = row["outcome"], row.get("view")
            if outcome not in OUTCOMES:
                raise ValueError(f"outcome must be one of {OUTCOMES}")
            if view is not None and view not in VIEWS:
                raise ValueError(f"view must be one of {VIEWS} or None")
            pin = row.get("personal_identity_number")
            values.append((
                row["person_id"], row["organisation_id"], row["organisation_kind"], row["unit"],
                row["role"], row["action"], row.get("case_id"),
                self.key_for(pin) if pin else None, view, outcome, row.get("reason", ""),
                row.get("request_id"),
            ))
        if not values:
            return
        with self.datastore.transaction(commit=True) as curs:
            curs.executemany(self._insert, values)

    # ------------------------------------------------------------------ reading

    def query(
        self,
        *,
        case_id: UUID | None = None,
        person_id: str | None = None,
        organisation_id: str | None = None,
        individual_key: str | None = None,
        outcome: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
    ) -> list[AccessLogRow]:
        """Rows matching every filter given, oldest first; ``since`` inclusive, ``until``
        exclusive."""
        conditions: list[Composable] = []
        params: list[Any] = []
        for column, value in (
            ("case_id", case_id),
            ("person_id", person_id),
            ("organisation_id", organisation_id),
            ("individual_key", individual_key),
            ("outcome", outcome),
        ):
            if value is not None:
                conditions.append(SQL("{} = %s").format(Identifier(column)))
                params.append(value)
        conditions.extend(self._period(since, until, params))
        return self._select(conditions, params, limit)

    def _select(
        self, conditions: list[Composable], params: list[Any], limit: int
    ) -> list[AccessLogRow]:
        where = SQL(" WHERE ") + SQL(" AND ").join(conditions) if conditions else SQL("")
        limit = max(1, min(int(limit), MAX_LIMIT))
        with self.datastore.transaction(commit=False) as curs:
            return typed_rows(
                curs, AccessLogRow,
                SQL("SELECT {} FROM {}{} ORDER BY at, id LIMIT %s").format(
                    self._columns, self.table, where),
                (*params, limit),
            )

    def for_case(
        self,
        case_id: UUID,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
    ) -> list[AccessLogRow]:
        """Every row about one case (granted and refused), oldest first."""
        return self.query(case_id=case_id, since=since, until=until, limit=limit)

    def all_for_case(self, case_id: UUID, until: datetime | None = None) -> list[AccessLogRow]:
        """Every row about one case (before ``until``), oldest first, however many: read in
        pages of MAX_LIMIT. The audit export's complete account of who looked (R33)."""
        rows: list[AccessLogRow] = []
        seen: set[int] = set()
        since: datetime | None = None
        while True:
            page = self.for_case(case_id, since=since, until=until, limit=MAX_LIMIT)
            fresh = [r for r in page if r["id"] not in seen]
            rows.extend(fresh)
            seen.update(r["id"] for r in fresh)
            if len(page) < MAX_LIMIT or not fresh:
                return rows
            since = page[-1]["at"]  # inclusive: rows at the same instant come again, seen skips

    def for_individual(
        self,
        personal_identity_number: str,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
        *,
        include_refused: bool = False,
    ) -> list[AccessLogRow]:
        """The reads of one individual's personal data, oldest first: granted reads that showed
        personal data (and, with ``include_refused``, the refused attempts too)."""
        shown: Composable = SQL("(outcome = 'granted' AND view = 'full')")
        if include_refused:
            shown = SQL("({} OR outcome = 'refused')").format(shown)
        conditions: list[Composable] = [SQL("individual_key = %s"), shown]
        params: list[Any] = [self.key_for(personal_identity_number)]
        conditions.extend(self._period(since, until, params))
        return self._select(conditions, params, limit)

    @staticmethod
    def _period(
        since: datetime | None, until: datetime | None, params: list[Any]
    ) -> list[Composable]:
        conditions: list[Composable] = []
        if since is not None:
            conditions.append(SQL("at >= %s"))
            params.append(since)
        if until is not None:
            conditions.append(SQL("at < %s"))
            params.append(until)
        return conditions

    def units_for_individual(
        self, personal_identity_number: str, since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[UnitReadsRow]:
        """Which units read the individual's personal data: per organisation and unit, the
        first and last read, how many, and which actions (R33)."""
        conditions: list[Composable] = [SQL("individual_key = %s"), SQL("outcome = 'granted'"),
                                        SQL("view = 'full'")]
        params: list[Any] = [self.key_for(personal_identity_number)]
        conditions.extend(self._period(since, until, params))
        with self.datastore.transaction(commit=False) as curs:
            return typed_rows(
                curs, UnitReadsRow,
                SQL(
                    "SELECT organisation_id, organisation_kind, unit, min(at) AS first_at, "
                    "max(at) AS last_at, count(*) AS reads, "
                    "array_agg(DISTINCT action ORDER BY action) AS actions "
                    "FROM {} WHERE {} GROUP BY organisation_id, organisation_kind, unit "
                    "ORDER BY min(at), organisation_id, unit"
                ).format(self.table, SQL(" AND ").join(conditions)),
                params,
            )
