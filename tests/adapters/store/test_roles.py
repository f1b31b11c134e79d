"""Append-only by privilege: the application's database role cannot UPDATE, DELETE or TRUNCATE the
event table (nor the command log or the access log), cannot drop or disable the triggers that
refuse those too, and can still record commands and feed the read models.

Each test makes a role of its own (roles are cluster-wide: unique names, DROP OWNED BY + DROP
ROLE at the end) and logs in as it with the test server's URL and the role's name and password.
Runs on whichever server SIP_TEST_DATABASE_URL names (CI: PostgreSQL 15 and the embedded 18):
from PostgreSQL 17 the role gets MAINTAIN on the event table for the library's LOCK TABLE, before
that UPDATE, which the trigger then refuses row by row.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import psycopg
import pytest
import typer
from psycopg.conninfo import make_conninfo
from psycopg.sql import SQL, Identifier, Literal
from typer.testing import CliRunner

from adapters.cli import root as cli
from adapters.cli import store as store_cli
from adapters.logging import reset_logging
from adapters.store import Store
from adapters.store.access_log import AccessLog
from adapters.store.keys import keys_conninfo
from adapters.store.roles import (
    AppRoleError,
    GrantReport,
    grant_app_role,
    lock_privilege,
    set_up_schema,
)
from domain.ledger import SipLedger
from projections.runner import ReadModelRunner
from tests.support import builders as b

pytestmark = pytest.mark.store

SECRET = b"test-individual-key"


@dataclass
class AppRole:
    name: str
    password: str
    owner_store: Store  # the schema, as the owner (the test server's own user) sees it

    @property
    def store(self) -> Store:
        """The same database and schema, logged in as the application role."""
        conninfo = make_conninfo(self.owner_store.conninfo, user=self.name,
                                 password=self.password)
        return Store(conninfo=conninfo, schema=self.owner_store.schema)

    def connect(self, **kwargs) -> psycopg.Connection:
        return self.store.connect(**kwargs)


def _new_role_name(kind: str = "app") -> str:
    return f"sip_{kind}_test_{uuid.uuid4().hex[:10]}"


def _drop_role(database_url: str, name: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone():
            conn.execute(SQL("DROP OWNED BY {}").format(Identifier(name)))
            # And what it owns or was granted in the key store's database.
            with psycopg.connect(keys_conninfo(database_url), autocommit=True) as keys:
                keys.execute(SQL("DROP OWNED BY {}").format(Identifier(name)))
            conn.execute(SQL("DROP ROLE {}").format(Identifier(name)))


@pytest.fixture
def role_names(database_url: str) -> Iterator[Callable[[str], str]]:
    """New role names, each dropped at the end of the test (with whatever it was granted)."""
    made: list[str] = []

    def new(kind: str = "app") -> str:
        made.append(_new_role_name(kind))
        return made[-1]

    yield new
    for name in reversed(made):
        _drop_role(database_url, name)


def _app_ledger(role: AppRole) -> SipLedger:
    """The ledger as the application role, without the start-up set-up (CREATE_TABLE=n): the
    role may not run DDL; the owner's set-up made the tables (see test_the_start_up_...).
    What SIP_CREATE_TABLES=false is to do for the service."""
    return replace(role.store, create_tables=False).ledger(
        individual_secret=SECRET, pool_size=2, cache_size=0)


def _app_runner(datastore) -> ReadModelRunner:
    """The read-model runner as the application role, set up without DDL: the positions are
    read, nothing is created (the owner's set-up built the tables, rows and indexes). What the
    runner's set-up is to do under SIP_CREATE_TABLES=false."""
    runner = ReadModelRunner(datastore, create_tables=False)
    runner.setup()
    return runner


def _server_version(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.info.server_version


def _setup_and_grant(store: Store, name: str) -> tuple[AppRole, GrantReport]:
    set_up_schema(store.conninfo, store.schema, SECRET)
    password = secrets.token_urlsafe(18)
    report = grant_app_role(store.conninfo, store.schema, name, password=password)
    return AppRole(name=name, password=password, owner_store=store), report


# ---------------------------------------------------------------- one role and log per module


@pytest.fixture(scope="module")
def granted(database_url: str) -> Iterator[tuple[AppRole, GrantReport]]:
    """A schema set up by the owner, a role granted on it, and a case recorded by that role."""
    schema = f"test_roles_{uuid.uuid4().hex[:10]}"
    store = Store(conninfo=database_url, schema=schema)
    name = _new_role_name()
    try:
        role, report = _setup_and_grant(store, name)
        ledger = _app_ledger(role)
        try:
            ledger.propose(b.propose(), b.actor())
        finally:
            ledger.close()
        yield role, report
    finally:
        _drop_role(database_url, name)
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(schema)))


def _fingerprint(store: Store, table: str) -> tuple:
    qualified = SQL("{}.{}").format(Identifier(store.schema), Identifier(table))
    with store.connect() as conn:
        return conn.execute(
            SQL("SELECT count(*), md5(string_agg(t::text, '' ORDER BY t::text)) FROM {} t")
            .format(qualified)
        ).fetchone()


def _triggers(store: Store, table: str) -> list[tuple[str, str]]:
    with store.connect() as conn:
        return conn.execute(
            "SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = %s::regclass "
            "AND NOT tgisinternal ORDER BY tgname",
            (f'"{store.schema}"."{table}"',),
        ).fetchall()


APPEND_ONLY = ("sipledger_events", "sipledger_commands", "sipledger_chain", "sip_access_log")
CHANGES = {
    "update": "UPDATE {t} SET {c} = {c}",
    "delete": "DELETE FROM {t}",
    "truncate": "TRUNCATE {t}",
    "disable all triggers": "ALTER TABLE {t} DISABLE TRIGGER ALL",
    "disable the trigger": "ALTER TABLE {t} DISABLE TRIGGER {trigger}",
    "drop the trigger": "DROP TRIGGER {trigger} ON {t}",
    "drop the table": "DROP TABLE {t}",
    "rename the table": "ALTER TABLE {t} RENAME TO {other}",
}
COLUMN = {"sipledger_events": "state", "sipledger_commands": "command",
          "sipledger_chain": "hash", "sip_access_log": "unit"}


@pytest.mark.parametrize("table", APPEND_ONLY)
@pytest.mark.parametrize("change", CHANGES)
def test_the_app_role_cannot_change_an_append_only_table(
    granted: tuple[AppRole, GrantReport], database_url: str, table: str, change: str
) -> None:
    role, report = granted
    owner = role.owner_store
    if table not in report.append_only:
        pytest.skip(f"no {table} in this version of the set-up")
    if table == "sip_access_log":  # a row to change, written by the application role
        with role.store.datastore(pool_size=1, max_overflow=0) as datastore:
            AccessLog(datastore, SECRET).record(
                person_id="anna", organisation_id="kommun-boras", organisation_kind="kommun",
                unit="Socialtjänsten", role="coordinator", action="read_plan",
                outcome="granted", view="full", case_id=uuid.uuid4(),
            )
    before = _fingerprint(owner, table), _triggers(owner, table)
    assert before[0][0] > 0, "a change to no rows would prove nothing"
    statement = SQL(CHANGES[change]).format(
        t=SQL("{}.{}").format(Identifier(owner.schema), Identifier(table)),
        c=Identifier(COLUMN[table]),
        trigger=Identifier(f"{table}_append_only"),
        other=Identifier(f"{table}_old"),
    )
    with role.connect(autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == role.name
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
            conn.execute(statement)
    # Which lock refused: the privileges, except for UPDATE of the event table before
    # PostgreSQL 17, where the role holds UPDATE (for LOCK TABLE) and the trigger refuses.
    if change == "update" and table == "sipledger_events" and report.lock_privilege == "UPDATE":
        assert "append-only" in str(refused.value)
    elif change in ("update", "delete", "truncate"):
        assert "permission denied" in str(refused.value)
    else:
        assert "must be owner" in str(refused.value)
    assert (_fingerprint(owner, table), _triggers(owner, table)) == before


SESSION_CHANGES = {
    # The trigger's function: replaced by one that lets everything through, the triggers would
    # stay in place and enabled, and refuse nothing.
    "replace the trigger function": (
        "CREATE OR REPLACE FUNCTION {s}.sip_refuse_change() RETURNS trigger LANGUAGE plpgsql "
        "AS $$ BEGIN RETURN OLD; END $$"
    ),
    "drop the trigger function": "DROP FUNCTION {s}.sip_refuse_change() CASCADE",
    # Triggers do not fire for a session in replica mode.
    "replica mode": "SET session_replication_role = replica",
    "create a table": "CREATE TABLE {s}.sip_mine (x int)",
    "drop the schema": "DROP SCHEMA {s} CASCADE",
    "reset the event sequence": "SELECT setval('{s}.sipledger_events_notification_id_seq', 1)",
}


@pytest.mark.parametrize("change", SESSION_CHANGES)
def test_the_app_role_cannot_get_around_the_triggers(
    granted: tuple[AppRole, GrantReport], change: str
) -> None:
    role, _ = granted
    statement = SESSION_CHANGES[change].format(s=f'"{role.owner_store.schema}"')
    with role.connect(autocommit=True) as conn, pytest.raises(
        psycopg.errors.InsufficientPrivilege
    ):
        conn.execute(statement)


def test_the_app_role_records_commands_and_feeds_the_read_models(
    granted: tuple[AppRole, GrantReport],
) -> None:
    role, _ = granted
    ledger = _app_ledger(role)
    try:
        proposed = ledger.propose(b.propose(), b.actor())  # the insert path's LOCK TABLE holds
        consent = b.consent(proposed.case_id)
        consented = ledger.record_consent(consent, b.actor())
        again = ledger.record_consent(consent, b.actor())  # found in the command log
    finally:
        ledger.close()
    assert consented.version > proposed.version
    assert again.replayed and again.version == consented.version

    with role.store.datastore(pool_size=2, max_overflow=2) as datastore:
        runner = _app_runner(datastore)
        try:
            runner.process_available()
        finally:
            runner.stop()
        assert min(runner.positions.values()) >= consented.last_notification_id
        with datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT current_user AS who, stage FROM {}.rm_case_plans "
                             "WHERE case_id = %s").format(Identifier(role.store.schema)),
                         (proposed.case_id,))
            row = curs.fetchone()
    assert row is not None and row["who"] == role.name


def test_the_grants_are_exactly_the_ones_meant(
    granted: tuple[AppRole, GrantReport], database_url: str
) -> None:
    role, report = granted
    version = _server_version(database_url)
    assert report.lock_privilege == lock_privilege(version)
    assert report.lock_privilege == ("MAINTAIN" if version >= 170000 else "UPDATE")
    assert {"sipledger_events", "sipledger_commands", "sip_access_log"} <= set(
        report.append_only)
    assert {"rm_tracking", "rm_models", "rm_case_plans"} <= set(report.read_models)
    assert report.snapshots == ["sipledger_snapshots"]
    schema = role.owner_store.schema
    with psycopg.connect(database_url) as conn:
        owners = conn.execute(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = %s", (schema,)
        ).fetchall()
        assert (role.name,) not in owners
        assert not conn.execute("SELECT has_schema_privilege(%s, %s, 'CREATE')",
                                (role.name, schema)).fetchone()[0]
        for table in report.append_only:
            granted_now = {
                privilege
                for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "TRIGGER",
                                  "REFERENCES")
                if conn.execute("SELECT has_table_privilege(%s, %s, %s)",
                                (role.name, f'"{schema}"."{table}"', privilege)).fetchone()[0]
            }
            expected = {"SELECT", "INSERT"}
            if table == "sipledger_events" and report.lock_privilege == "UPDATE":
                expected.add("UPDATE")
            assert granted_now == expected, table
        # Snapshots are read and added to by the application (a case's replay starts there).
        for privilege, held in (("SELECT", True), ("INSERT", True), ("UPDATE", False),
                                ("DELETE", False)):
            assert conn.execute("SELECT has_table_privilege(%s, %s, %s)",
                                (role.name, f'"{schema}"."sipledger_snapshots"', privilege)
                                ).fetchone()[0] is held, privilege


def test_the_start_up_set_up_is_the_owners(granted: tuple[AppRole, GrantReport]) -> None:
    """Why the service must start without DDL when it runs as the application role: each of
    the set-ups it runs today needs CREATE on the schema or ownership of the tables."""
    role, _ = granted
    env = role.store.eventsourcing_env(pool_size=1, cache_size=0)  # CREATE_TABLE=y
    with pytest.raises(Exception, match="permission denied|must be owner"):
        SipLedger(env=env, individual_secret=SECRET, keys=None).close()
    with role.store.datastore(pool_size=1, max_overflow=0) as datastore:
        with pytest.raises(Exception, match="permission denied|must be owner"):
            AccessLog(datastore, SECRET).setup()
        with pytest.raises(Exception, match="permission denied|must be owner"):
            ReadModelRunner(datastore).setup()


# ---------------------------------------------------------------- the grant itself


def test_a_non_superuser_owner_sets_up_and_grants(
    fresh_store: Store, database_url: str, role_names: Callable[[str], str]
) -> None:
    """The production shape: a migration role that owns the schema (no superuser) runs the
    set-up and creates and grants the application role."""
    owner, app = role_names("owner"), role_names("app")
    owner_password = secrets.token_urlsafe(18)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}").format(
            Identifier(owner), Literal(owner_password)))
        conn.execute(SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(
            Identifier(fresh_store.schema), Identifier(owner)))
        # Store.ensure_schema and AccessLog.setup run CREATE SCHEMA IF NOT EXISTS, which
        # PostgreSQL checks against CREATE on the database even when the schema exists: the
        # owner needs it (it usually owns the database; revoked by DROP OWNED BY at the end).
        database = conn.execute("SELECT current_database()").fetchone()[0]
        conn.execute(SQL("GRANT CREATE ON DATABASE {} TO {}").format(
            Identifier(database), Identifier(owner)))
        conn.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")  # a DBA's one-off
    # The key store's database, made by the DBA for the owner (adapters/store/keys.py).
    fresh_store.key_store().close()
    with psycopg.connect(keys_conninfo(database_url), autocommit=True) as conn:
        conn.execute(SQL("GRANT CREATE, CONNECT ON DATABASE {} TO {}").format(
            Identifier(conn.info.dbname), Identifier(owner)))
        conn.execute(SQL("DROP SCHEMA {} CASCADE").format(Identifier(fresh_store.schema)))
        conn.execute(SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(
            Identifier(fresh_store.schema), Identifier(owner)))
    owner_store = Store(
        conninfo=make_conninfo(database_url, user=owner, password=owner_password),
        schema=fresh_store.schema,
    )
    role, report = _setup_and_grant(owner_store, app)
    assert report.created and report.password_set
    ledger = _app_ledger(role)
    try:
        ledger.propose(b.propose(), b.actor())
    finally:
        ledger.close()
    events = SQL("{}.sipledger_events").format(Identifier(fresh_store.schema))
    with role.connect(autocommit=True) as conn:
        for statement in ("UPDATE {} SET state = state", "DELETE FROM {}"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(SQL(statement).format(events))
    # The owner can: the triggers are its own to drop, deliberately (R34 culling).
    with owner_store.connect() as conn:
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
                            ).fetchone() == (False,)
        conn.execute(SQL("ALTER TABLE {} DISABLE TRIGGER sipledger_events_append_only")
                     .format(events))
        conn.rollback()


def _scram_matches(verifier: str, password: str) -> bool:
    """Whether a SCRAM-SHA-256 verifier (RFC 5803, as pg_authid keeps it) is ``password``'s."""
    method, rest = verifier.split("$", 1)
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key = keys.split(":")[0]
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt),
                                 int(iterations))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return method == "SCRAM-SHA-256" and (
        base64.b64encode(hashlib.sha256(client_key).digest()).decode() == stored_key)


def test_the_password_is_stored_as_a_scram_verifier(
    fresh_store: Store, database_url: str, role_names: Callable[[str], str]
) -> None:
    """The password reaches the server only as libpq's verifier (servers with
    password_encryption = scram-sha-256, the default), and it is the password's."""
    role, report = _setup_and_grant(fresh_store, role_names("app"))
    assert report.password_set
    with psycopg.connect(database_url) as conn:
        if conn.execute("SHOW password_encryption").fetchone()[0] != "scram-sha-256":
            pytest.skip("the server stores md5 hashes")
        row = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s",
                           (role.name,)).fetchone()
    assert row is not None and row[0].startswith("SCRAM-SHA-256$")
    assert _scram_matches(row[0], role.password)
    assert not _scram_matches(row[0], role.password + "x")


def test_granting_again_is_idempotent_and_creating_twice_is_refused(
    fresh_store: Store, role_names: Callable[[str], str]
) -> None:
    name = role_names("app")
    role, first = _setup_and_grant(fresh_store, name)
    again = grant_app_role(fresh_store.conninfo, fresh_store.schema, name, create=False)
    assert (again.append_only, again.read_models) == (first.append_only, first.read_models)
    assert not again.created and not again.password_set
    with pytest.raises(AppRoleError, match="exists already"):
        grant_app_role(fresh_store.conninfo, fresh_store.schema, name)


def test_unsafe_roles_are_refused(
    fresh_store: Store, database_url: str, role_names: Callable[[str], str]
) -> None:
    set_up_schema(fresh_store.conninfo, fresh_store.schema, SECRET)
    with psycopg.connect(database_url) as conn:
        owner = conn.execute("SELECT current_user").fetchone()[0]
    with pytest.raises(AppRoleError, match="owner"):
        grant_app_role(fresh_store.conninfo, fresh_store.schema, owner, create=False)
    member = role_names("member")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(SQL("CREATE ROLE {} LOGIN").format(Identifier(member)))
        conn.execute(SQL("GRANT {} TO {}").format(Identifier(owner), Identifier(member)))
    with pytest.raises(AppRoleError, match="superuser|member of"):
        grant_app_role(fresh_store.conninfo, fresh_store.schema, member, create=False)
    with pytest.raises(AppRoleError, match="does not exist"):
        grant_app_role(fresh_store.conninfo, fresh_store.schema, role_names("app"),
                       create=False)
    with pytest.raises(AppRoleError, match="plain role name"):
        grant_app_role(fresh_store.conninfo, fresh_store.schema, 'x"; DROP TABLE y; --')


def test_the_grant_needs_the_set_up_first(
    fresh_store: Store, role_names: Callable[[str], str]
) -> None:
    fresh_store.ensure_schema()
    with pytest.raises(AppRoleError, match="run the set-up"):
        grant_app_role(fresh_store.conninfo, fresh_store.schema, role_names("app"))


# ---------------------------------------------------------------- the command line


def _cli() -> typer.Typer:
    """sip-ledger's root as cli.py makes it, with the store sub-app registered as the lead
    will (app.add_typer(store_cli.app, name="store"))."""
    root = typer.Typer(pretty_exceptions_enable=False)
    root.callback()(cli.setup)
    root.add_typer(store_cli.app, name="store")
    return root


def _invoke(database_url: str, schema: str, *args: str, **env: str):
    environment = {
        "SIP_DATABASE_URL": database_url,
        "SIP_DATABASE_SCHEMA": schema,
        "SIP_LOG_FORMAT": "json",
        **env,
    }
    try:
        return CliRunner().invoke(_cli(), ["store", *args], env=environment)
    finally:
        reset_logging()


def _error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error")]


def test_cli_grant_app_role(
    fresh_store: Store, database_url: str, role_names: Callable[[str], str]
) -> None:
    name = role_names("app")
    result = _invoke(database_url, fresh_store.schema, "grant-app-role", "--role", name,
                     "--password-env", "SIP_TEST_APP_PASSWORD",
                     SIP_TEST_APP_PASSWORD=secrets.token_urlsafe(18))
    assert result.exit_code == 0, result.output
    assert f"role {name} created and granted" in result.stdout
    assert "sipledger_events" in result.stdout

    again = _invoke(database_url, fresh_store.schema, "grant-app-role", "--role", name)
    assert again.exit_code == 2
    assert _error_lines(again) == [
        f"error field --role: role {name} exists already (use --no-create)"
    ]
    granted_again = _invoke(database_url, fresh_store.schema, "grant-app-role", "--role", name,
                            "--no-create", "--no-setup")
    assert granted_again.exit_code == 0, granted_again.output


def test_cli_errors_are_one_line(fresh_store: Store, database_url: str) -> None:
    unset = _invoke(database_url, fresh_store.schema, "grant-app-role", "--role", "sip_app",
                    "--password-env", "SIP_TEST_NO_SUCH_VARIABLE")
    assert unset.exit_code == 2
    assert _error_lines(unset) == [
        "error field --password-env: SIP_TEST_NO_SUCH_VARIABLE is not set or empty"
    ]
    unreachable = _invoke("postgresql://sip:hunter2@127.0.0.1:1/sip", fresh_store.schema,
                          "grant-app-role", "--role", "sip_app")
    assert unreachable.exit_code == 3
    lines = _error_lines(unreachable)
    assert len(lines) == 1 and lines[0].startswith("error field SIP_DATABASE_URL:")
    assert "hunter2" not in unreachable.stderr


def test_the_service_runs_as_the_app_role_without_creating_anything(
    granted: tuple[AppRole, GrantReport],
) -> None:
    """SIP_CREATE_TABLES=false: the whole service (ledger, read models, access log, feed) on
    the owner's tables, as a role without DDL rights."""
    from adapters.bootstrap import open_services
    from adapters.settings import Settings

    role, _ = granted
    services = open_services(Settings(create_tables=False),
                             replace(role.store, create_tables=False), individual_secret=SECRET)
    try:
        result = services.ledger.propose(b.propose(), b.actor())
        assert services.runner.wait_for(result.last_notification_id, 10)
        with services.datastore.transaction(commit=False) as curs:
            curs.execute("SELECT current_user AS who")
            assert curs.fetchone()["who"] == role.name
    finally:
        services.close()


def test_without_the_owners_set_up_the_runner_says_what_to_run(fresh_store: Store) -> None:
    from projections.read_side import ReadModelsNotSetUp

    fresh_store.ensure_schema()
    with fresh_store.datastore(pool_size=1, max_overflow=1) as datastore:
        runner = ReadModelRunner(datastore, create_tables=False)
        with pytest.raises(ReadModelsNotSetUp, match="grant-app-role"):
            runner.setup()
