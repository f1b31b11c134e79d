"""The application's database role: what it may do to the ledger's tables, granted by the owner.

Append-only has two locks, and this module is the second. The first is the trigger
(``sip_refuse_change``, created by the recorder's and the access log's set-up) that refuses
UPDATE, DELETE and TRUNCATE whoever asks. The second is that the role the service connects as
lacks the privileges in the first place, and does not own the tables, so it can neither drop
nor disable the triggers (only a table's owner can ``ALTER TABLE … DISABLE TRIGGER`` or
``DROP TRIGGER``), nor drop or alter the tables.

Two roles, then (README, "Running append-only in production"):

- **the owner** (a migration role): owns the schema and the tables, runs the set-up
  (``set_up_schema``), runs ``grant_app_role``, and is the only one who could ever cull.
- **the application role**: logs in as the service; on the append-only tables it may SELECT and
  INSERT; on the read models (``rm_*``, disposable, rebuilt from the log) full DML; USAGE on the
  schema and the sequences; no CREATE on the schema.

One wrinkle: the library's insert path takes ``LOCK TABLE <events> IN EXCLUSIVE MODE`` (that lock
is what keeps notification ids in commit order). LOCK TABLE in any mode above ROW EXCLUSIVE needs
MAINTAIN, UPDATE, DELETE or TRUNCATE on the table (PostgreSQL docs, LOCK, Notes); MAINTAIN
exists from PostgreSQL 17. So on 17 and later the role gets MAINTAIN on the event table (VACUUM,
ANALYZE, REINDEX, CLUSTER, LOCK TABLE: nothing that changes a row); on 16 and older it gets
UPDATE on that one table, and every UPDATE of a row is refused by the trigger.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.sql import SQL, Composable, Identifier, Literal

from adapters.store import Store
from adapters.store.access_log import AccessLog
from adapters.store.keys import KeyEncryptionKey, keys_conninfo
from projections.runner import ReadModelRunner
from projections.storage import (
    ACCESS_LOG_TABLE,
    CHAIN_TABLE,
    CHECKPOINTS_TABLE,
    COMMANDS_TABLE,
    EVENTS_TABLE,
    SNAPSHOTS_TABLE,
    qualified,
)

# The tables that are only ever appended to: the ledger's events and command log, the hash chain
# and its checkpoints, and the read-access log (R33). Those that exist get SELECT and INSERT.
APPEND_ONLY_TABLES = (
    EVENTS_TABLE,
    COMMANDS_TABLE,
    CHAIN_TABLE,
    CHECKPOINTS_TABLE,
    ACCESS_LOG_TABLE,
)
# Append-only tables the application must be able to LOCK beyond ROW EXCLUSIVE (the library's
# insert path locks the event table IN EXCLUSIVE MODE).
LOCKED_TABLES = (EVENTS_TABLE,)
# Without these the grant is pointless: the set-up has not been run in this schema.
REQUIRED_TABLES = (EVENTS_TABLE, COMMANDS_TABLE)
# Snapshots of cases: derived from the events, written by the application as cases grow and
# only ever read and added to; clearing stale ones after a change of code is the owner's act.
SNAPSHOT_TABLES = (SNAPSHOTS_TABLE,)
SNAPSHOT_PRIVILEGES = ("SELECT", "INSERT")
# Read models and their tracking: disposable, rebuilt from the log, so full DML.
READ_MODEL_PREFIX = "rm_"
READ_MODEL_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
# On an append-only table, these the application role must not have (whatever the source: a
# grant to PUBLIC or to a role it belongs to counts as well). UPDATE is allowed on a locked
# table before PostgreSQL 17 (see the module docstring); the trigger refuses it row by row.
FORBIDDEN_ON_APPEND_ONLY = ("UPDATE", "DELETE", "TRUNCATE", "TRIGGER")
MAINTAIN_SINCE = 170000  # server_version_num of PostgreSQL 17

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class AppRoleError(Exception):
    """The role cannot be made a safe application role (one line, names what to change)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass
class GrantReport:
    """What ``grant_app_role`` did, for the command line and the tests."""

    role: str
    schema: str
    server_version: int
    lock_privilege: str  # MAINTAIN (PostgreSQL 17+) or UPDATE, on LOCKED_TABLES
    created: bool = False
    password_set: bool = False
    append_only: list[str] = field(default_factory=list)
    read_models: list[str] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    sequences: list[str] = field(default_factory=list)
    not_granted: list[str] = field(default_factory=list)  # tables of the schema left alone
    missing: list[str] = field(default_factory=list)  # append-only tables not (yet) there
    warnings: list[str] = field(default_factory=list)


def lock_privilege(server_version: int) -> str:
    """The privilege that lets a non-owner LOCK a table IN EXCLUSIVE MODE on this server."""
    return "MAINTAIN" if server_version >= MAINTAIN_SINCE else "UPDATE"


def grant_app_role(
    conninfo_of_owner: str,
    schema: str,
    app_role: str,
    password: str | None = None,
    create: bool = True,
    keys_url: str | None = None,
) -> GrantReport:
    """Grant ``app_role`` what the service needs in ``schema``, and nothing that changes the log.

    Run it as the schema's owner (the role that ran the set-up, ``set_up_schema``), after every
    set-up that may have created tables: it is idempotent, and a table created later (a new
    append-only table, a rebuilt read model) has no grants until it runs again. ``create``
    creates the login role (the owner then needs CREATEROLE); otherwise the role must exist.
    ``password`` is sent as a SCRAM verifier computed here by libpq, never in clear text.

    Everything happens in one transaction, which is rolled back unless the role's effective
    privileges (including any it has through PUBLIC or roles it belongs to) come out as intended.
    """
    if not ROLE_NAME.match(app_role):
        raise AppRoleError(
            "--role", f"{app_role!r} is not a plain role name (lower case, digits, _; 1-63)"
        )
    with psycopg.connect(conninfo_of_owner, autocommit=False) as conn:
        report = _grant(conn, schema, app_role, password, create)
        conn.commit()
    _grant_keys(keys_url or keys_conninfo(conninfo_of_owner), schema, app_role)
    return report


def _grant_keys(conninfo_of_keys_owner: str, schema: str, role: str) -> None:
    """In the key store's database (adapters/store/keys.py): the role reads and creates data
    keys and destroys them (an erasure sets the wrapped key to NULL), and reads the KEK's check
    value; it may not delete a key's row (its tombstone) or rewrite the check value."""
    r, s = Identifier(role), Identifier(schema)
    with psycopg.connect(conninfo_of_keys_owner, autocommit=False) as conn:
        dbname = conn.info.dbname
        conn.execute(SQL("GRANT CONNECT ON DATABASE {} TO {}").format(Identifier(dbname), r))
        conn.execute(SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, r))
        conn.execute(SQL("REVOKE CREATE ON SCHEMA {} FROM {}").format(s, r))
        keys, check = qualified(schema, "sip_data_keys"), qualified(schema, "sip_key_store")
        conn.execute(SQL("REVOKE ALL ON TABLE {} FROM {}").format(keys, r))
        conn.execute(SQL("GRANT SELECT, INSERT, UPDATE (wrapped, kek_id, erased_on, decision) "
                         "ON TABLE {} TO {}").format(keys, r))
        conn.execute(SQL("REVOKE ALL ON TABLE {} FROM {}").format(check, r))
        conn.execute(SQL("GRANT SELECT ON TABLE {} TO {}").format(check, r))
        conn.commit()


def _grant(
    conn: psycopg.Connection[Any], schema: str, role: str, password: str | None, create: bool
) -> GrantReport:
    version = conn.info.server_version
    report = GrantReport(role=role, schema=schema, server_version=version,
                         lock_privilege=lock_privilege(version))
    owner = conn.execute("SELECT current_user").fetchone()[0]  # type: ignore[index]
    if role == owner:
        raise AppRoleError("--role", f"{role} is the role running the grant (the owner)")
    schema_owner = _one(conn, "SELECT pg_get_userbyid(nspowner) FROM pg_namespace "
                              "WHERE nspname = %s", schema)
    if schema_owner is None:
        raise AppRoleError("SIP_DATABASE_SCHEMA",
                           f"schema {schema} does not exist: run the set-up first")
    relations = conn.execute(
        "SELECT c.relname, c.relkind, pg_get_userbyid(c.relowner) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'S') ORDER BY c.relname",
        (schema,),
    ).fetchall()
    tables = {name: table_owner for name, kind, table_owner in relations if kind != "S"}
    sequences = [name for name, kind, _ in relations if kind == "S"]
    if missing := [t for t in REQUIRED_TABLES if t not in tables]:
        raise AppRoleError("SIP_DATABASE_SCHEMA", f"schema {schema} has no {missing[0]}: "
                           "run the set-up as the owner first")

    exists = _one(conn, "SELECT 1 FROM pg_roles WHERE rolname = %s", role) is not None
    password_sql = _password_sql(conn, role, password) if password else None
    if create:
        if exists:
            raise AppRoleError("--role", f"role {role} exists already (use --no-create)")
        statement = SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                        "NOREPLICATION NOBYPASSRLS").format(Identifier(role))
        if password_sql is not None:
            statement = statement + SQL(" PASSWORD ") + password_sql
        conn.execute(statement)
        report.created = True
        report.password_set = password_sql is not None
    else:
        if not exists:
            raise AppRoleError("--role", f"role {role} does not exist (leave out --no-create)")
        if password_sql is not None:
            conn.execute(SQL("ALTER ROLE {} PASSWORD ").format(Identifier(role)) + password_sql)
            report.password_set = True

    _refuse_unsafe_role(conn, role, schema_owner, set(tables.values()))

    r = Identifier(role)
    s = Identifier(schema)
    conn.execute(SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, r))
    conn.execute(SQL("REVOKE CREATE ON SCHEMA {} FROM {}").format(s, r))
    for name in APPEND_ONLY_TABLES:
        if name not in tables:
            report.missing.append(name)
            continue
        t = qualified(schema, name)
        conn.execute(SQL("REVOKE ALL ON TABLE {} FROM {}").format(t, r))
        privileges = ["SELECT", "INSERT"]
        if name in LOCKED_TABLES:
            privileges.append(report.lock_privilege)
        conn.execute(SQL("GRANT {} ON TABLE {} TO {}").format(_privileges(privileges), t, r))
        report.append_only.append(name)
    for name in tables:
        if name in APPEND_ONLY_TABLES:
            continue
        if name in SNAPSHOT_TABLES:
            t = qualified(schema, name)
            conn.execute(SQL("REVOKE ALL ON TABLE {} FROM {}").format(t, r))
            conn.execute(SQL("GRANT {} ON TABLE {} TO {}").format(
                _privileges(SNAPSHOT_PRIVILEGES), t, r))
            report.snapshots.append(name)
        elif name.startswith(READ_MODEL_PREFIX):
            t = qualified(schema, name)
            conn.execute(SQL("REVOKE ALL ON TABLE {} FROM {}").format(t, r))
            conn.execute(SQL("GRANT {} ON TABLE {} TO {}").format(
                _privileges(READ_MODEL_PRIVILEGES), t, r))
            report.read_models.append(name)
        else:
            report.not_granted.append(name)
    for name in sequences:
        q = qualified(schema, name)
        conn.execute(SQL("REVOKE ALL ON SEQUENCE {} FROM {}").format(q, r))
        conn.execute(SQL("GRANT USAGE ON SEQUENCE {} TO {}").format(q, r))
        report.sequences.append(name)

    problems = check_app_role(conn, schema, role, report)
    if problems:
        raise AppRoleError("--role", f"{role}: " + "; ".join(problems))
    if _one(conn, "SELECT has_database_privilege(%s, current_database(), 'CONNECT')",
            role) is False:
        report.warnings.append(f"{role} may not CONNECT to this database: the database's owner "
                               "must GRANT CONNECT")
    if _one(conn, "SELECT has_schema_privilege(%s, %s, 'CREATE')", role, schema):
        report.warnings.append(
            f"{role} may still CREATE in schema {schema} (through PUBLIC or a role it belongs "
            f"to): REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC")
    return report


def check_app_role(
    conn: psycopg.Connection[Any], schema: str, role: str, report: GrantReport
) -> list[str]:
    """What is wrong with ``role``'s effective privileges on the tables ``report`` lists."""
    problems: list[str] = []
    for name in report.append_only:
        qualified = f'"{schema}"."{name}"'
        for privilege in ("SELECT", "INSERT"):
            if not _has(conn, role, qualified, privilege):
                problems.append(f"no {privilege} on {name} (is the grantor its owner?)")
        forbidden = list(FORBIDDEN_ON_APPEND_ONLY)
        if name in LOCKED_TABLES:
            if not _has(conn, role, qualified, report.lock_privilege):
                problems.append(f"no {report.lock_privilege} on {name}: LOCK TABLE would fail")
            if report.lock_privilege == "UPDATE":
                forbidden.remove("UPDATE")
        problems.extend(
            f"{privilege} on append-only {name} (through PUBLIC or a role it belongs to)"
            for privilege in forbidden
            if _has(conn, role, qualified, privilege)
        )
    for names, privileges in ((report.read_models, READ_MODEL_PRIVILEGES),
                              (report.snapshots, SNAPSHOT_PRIVILEGES)):
        for name in names:
            qualified = f'"{schema}"."{name}"'
            problems.extend(
                f"no {privilege} on {name} (is the grantor its owner?)"
                for privilege in privileges
                if not _has(conn, role, qualified, privilege)
            )
    for name in report.sequences:
        if not _one(conn, "SELECT has_sequence_privilege(%s, %s, 'USAGE')",
                    role, f'"{schema}"."{name}"'):
            problems.append(f"no USAGE on sequence {name}")
    return problems


def _refuse_unsafe_role(
    conn: psycopg.Connection[Any], role: str, schema_owner: str, owners: set[str]
) -> None:
    """Privileges cannot hold back a superuser, an owner, or a member of the owner's role (who
    may SET ROLE to it or inherit its rights): refuse to call such a role an application role."""
    row = conn.execute(
        "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", (role,)
    ).fetchone()
    if row is not None and row[0]:
        raise AppRoleError("--role", f"{role} is a superuser: no privilege or trigger binds it")
    for owner in sorted(owners | {schema_owner}):
        if _one(conn, "SELECT pg_has_role(%s, %s, 'MEMBER')", role, owner):
            what = "owns" if owner == role else f"is a member of {owner}, which owns"
            raise AppRoleError(
                "--role", f"{role} {what} the schema or its tables: it could drop the triggers"
            )


def _password_sql(conn: psycopg.Connection[Any], role: str, password: str) -> Composable:
    # libpq hashes the password as the server's password_encryption says (SCRAM-SHA-256 by
    # default), so the clear text never reaches the server or its statement log.
    verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), None)
    return Literal(verifier.decode())


def _privileges(names: tuple[str, ...] | list[str]) -> Composable:
    return SQL(", ").join(SQL(name) for name in names)  # fixed keywords, never user input


def _has(conn: psycopg.Connection[Any], role: str, table: str, privilege: str) -> bool:
    return bool(_one(conn, "SELECT has_table_privilege(%s, %s, %s)", role, table, privilege))


def _one(conn: psycopg.Connection[Any], query: str, *params: Any) -> Any:
    row = conn.execute(query, params).fetchone()
    return None if row is None else row[0]


# ---------------------------------------------------------------------------- the owner's set-up


def set_up_schema(conninfo_of_owner: str, schema: str, individual_secret: bytes,
                  keys_url: str | None = None, kek: KeyEncryptionKey | None = None) -> int:
    """Create everything the service uses in ``schema``, as the owner, so that the application
    role finds it all there: the ledger's tables and triggers (opening the ledger runs the
    recorder's set-up), the read models (built or rebuilt, caught up, indexed) and the access log.

    Returns the read models' position. Idempotent; run it before ``grant_app_role`` on every
    deployment, since the application role may not create or alter tables.
    """
    store = Store(conninfo=conninfo_of_owner, schema=schema, keys_url=keys_url, kek=kek)
    ledger = store.ledger(individual_secret=individual_secret, pool_size=1, cache_size=0)
    ledger.close()
    datastore = store.datastore(pool_size=2, max_overflow=2)
    try:
        AccessLog(datastore, individual_secret).setup()
        runner = ReadModelRunner(datastore)
        try:
            runner.setup()
            # Catching up as the owner also creates the indexes a model built from scratch gets
            # only once it has caught up: the application role could not create them.
            runner.process_available()
            return min(runner.positions.values(), default=0)
        finally:
            runner.stop()
    finally:
        datastore.close()
