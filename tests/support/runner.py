"""What the runner tests share: a log to project, the read models' rows, a reference build,
and the sip-ledger command line as a child process."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import psycopg
import structlog
from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL, Identifier

from adapters.demo.run import run_demo
from adapters.store import Store
from domain.commands import Individual
from projections.runner import ALL_MODELS, ReadModelRunner
from tests.conftest import ROOT, TEST_SECRET
from tests.support.builders import actor, consent, pin_born, propose

MODEL_NAMES = tuple(m.name for m in ALL_MODELS)
# Every table of the read models, with the primary key to sort its rows by.
TABLES = {
    "rm_case_plans": "case_id",
    "rm_deadline_cases": "case_id",
    "rm_deadlines": "case_id, key",
    "rm_case_history": "case_id, version",
}
CASE_TOPICS = "domain.case:SipCase.%"


@contextmanager
def quiet_logs() -> Iterator[None]:
    """Warnings and errors only (the ledger logs every command at debug level), and structlog
    as it was afterwards, so no other test sees the difference."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    try:
        yield
    finally:
        structlog.configure(**saved)


def write_demo_log(store: Store, cases: int, seed: int = 11) -> list[uuid.UUID]:
    """Write ``cases`` synthetic cases through the ledger's command path; their ids."""
    ledger = store.ledger(individual_secret=TEST_SECRET)
    try:
        return list(run_demo(ledger, cases, seed).case_ids)
    finally:
        ledger.close()


class Writer:
    """Sends commands of its own: a proposal for a new individual, then consent to it."""

    def __init__(self, ledger: Any, first_day: date = date(1951, 3, 1)) -> None:
        self.ledger = ledger
        self.day = first_day
        self.last_nid = 0
        self.commands = 0

    def one_case(self) -> int:
        self.day += timedelta(days=1)
        cmd = propose(individual=Individual(personal_identity_number=pin_born(self.day),
                                            name="Kim Karlsson"))
        result = self.ledger.propose(cmd, actor())
        result = self.ledger.record_consent(consent(result.case_id), actor())
        self.commands += 2
        self.last_nid = max(self.last_nid, result.last_notification_id or 0)
        return self.last_nid


def connect(store: Store) -> psycopg.Connection:
    return psycopg.connect(store.conninfo, autocommit=True)


def head(store: Store) -> int:
    with connect(store) as conn:
        row = conn.execute(
            SQL("SELECT coalesce(max(notification_id), 0) FROM {}.sipledger_events").format(
                Identifier(store.schema))
        ).fetchone()
    return row[0]


def positions(conn: psycopg.Connection, schema: str) -> dict[str, int]:
    """The live models' positions in rm_tracking ({} before the runner has set it up)."""
    exists = conn.execute("SELECT to_regclass(%s)", (f"{schema}.rm_tracking",)).fetchone()[0]
    if exists is None:
        return {}
    rows = conn.execute(
        SQL("SELECT application_name, notification_id FROM {}.rm_tracking "
            "WHERE application_name = ANY(%s)").format(Identifier(schema)),
        (list(MODEL_NAMES),),
    ).fetchall()
    return {name: nid or 0 for name, nid in rows}


def dump(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read model table, sorted by primary key."""
    with connect(store) as conn:
        return {
            table: conn.execute(
                SQL("SELECT * FROM {}.{} ORDER BY " + order).format(
                    Identifier(store.schema), Identifier(table))
            ).fetchall()
            for table, order in TABLES.items()
        }


def tracking_rows(store: Store) -> dict[str, int]:
    with connect(store) as conn:
        rows = conn.execute(
            SQL("SELECT application_name, notification_id FROM {}.rm_tracking").format(
                Identifier(store.schema))
        ).fetchall()
    return dict(rows)


def reference_dump(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """The read models built afresh from a copy of ``store``'s log in a schema of their own,
    in one pass with the default batch size: what any run over the same log must end with."""
    ref = Store(conninfo=store.conninfo, schema=f"ref_{uuid.uuid4().hex[:12]}")
    with connect(store) as conn:
        conn.execute(SQL("CREATE SCHEMA {}").format(Identifier(ref.schema)))
        conn.execute(
            SQL("CREATE TABLE {}.sipledger_events AS SELECT * FROM {}.sipledger_events").format(
                Identifier(ref.schema), Identifier(store.schema))
        )
    try:
        datastore = ref.datastore()
        try:
            runner = ReadModelRunner(datastore)
            runner.process_available()
        finally:
            datastore.close()
        return dump(ref)
    finally:
        with connect(store) as conn:
            conn.execute(SQL("DROP SCHEMA {} CASCADE").format(Identifier(ref.schema)))


def assert_complete(store: Store) -> None:
    """Against the log itself: one history row per case event (none missing, none twice),
    one plan and one dashboard row per case, each at the case's last version."""
    s = Identifier(store.schema)
    with connect(store) as conn:
        events, cases = conn.execute(
            SQL("SELECT count(*), count(DISTINCT originator_id) FROM {}.sipledger_events "
                "WHERE topic LIKE %s").format(s), (CASE_TOPICS,)
        ).fetchone()
        assert events > 0
        counts = {
            table: conn.execute(SQL("SELECT count(*) FROM {}.{}").format(s, Identifier(table)))
            .fetchone()[0]
            for table in TABLES
        }
        assert counts["rm_case_history"] == events
        assert counts["rm_case_plans"] == cases
        assert counts["rm_deadline_cases"] == cases
        history_vs_log = conn.execute(
            SQL(
                "SELECT count(*) FROM ("
                "(SELECT originator_id, originator_version, notification_id "
                " FROM {0}.sipledger_events WHERE topic LIKE %s "
                " EXCEPT SELECT case_id, version, notification_id FROM {0}.rm_case_history) "
                "UNION ALL "
                "(SELECT case_id, version, notification_id FROM {0}.rm_case_history "
                " EXCEPT SELECT originator_id, originator_version, notification_id "
                " FROM {0}.sipledger_events WHERE topic LIKE %s)) d"
            ).format(s),
            (CASE_TOPICS, CASE_TOPICS),
        ).fetchone()[0]
        assert history_vs_log == 0
        for table in ("rm_case_plans", "rm_deadline_cases"):
            stale = conn.execute(
                SQL(
                    "SELECT count(*) FROM {0}.{1} m JOIN ("
                    " SELECT originator_id, max(originator_version) AS v "
                    " FROM {0}.sipledger_events WHERE topic LIKE %s GROUP BY originator_id) e "
                    "ON e.originator_id = m.case_id WHERE m.version <> e.v"
                ).format(s, Identifier(table)),
                (CASE_TOPICS,),
            ).fetchone()[0]
            assert stale == 0, f"{table}: {stale} cases not at their last version"


def assert_equals_reference(store: Store) -> None:
    assert_complete(store)
    got, want = dump(store), reference_dump(store)
    for table in TABLES:
        assert len(got[table]) == len(want[table]), table
        assert got[table] == want[table], f"{table} differs from a fresh build"


@contextmanager
def tagged_datastore(store: Store, tag: str) -> Iterator[PostgresDatastore]:
    """The store's read-side pool, with its connections named ``tag`` in pg_stat_activity, so
    a test can find (and terminate) exactly this pool's backends."""
    datastore = store.datastore()
    datastore.pool.kwargs["application_name"] = tag
    try:
        yield datastore
    finally:
        datastore.close()


def backends(conn: psycopg.Connection, tag: str, query_like: str = "%") -> list[int]:
    rows = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND query LIKE %s "
        "AND pid <> pg_backend_pid()",
        (tag, query_like),
    ).fetchall()
    return [r[0] for r in rows]


def terminate(conn: psycopg.Connection, pids: list[int]) -> int:
    killed = 0
    for pid in pids:
        killed += bool(conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0])
    return killed


# ------------------------------------------------------------------ the command line


def cli_env(store: Store, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "SIP_DATABASE_URL": store.conninfo,
        "SIP_DATABASE_SCHEMA": store.schema,
        "SIP_LOG_FORMAT": "json",
        "SIP_LOG_LEVEL": "WARNING",
        "COLUMNS": "200",  # rich tables: room for every column
        **extra,
    }


CLI = [sys.executable, "-c", "from adapters.cli.root import main; main()"]


def cli_popen(store: Store, *args: str, **kwargs: Any) -> subprocess.Popen:
    return subprocess.Popen([*CLI, *args], cwd=ROOT, env=cli_env(store), **kwargs)


def cli_run(store: Store, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=ROOT, env=cli_env(store), capture_output=True,
                          text=True, timeout=timeout)
