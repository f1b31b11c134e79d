"""``sip-ledger retention due | erase`` (R34), run in-process against the test PostgreSQL.

Each test gets a schema of its own with cases written six years ago (the ledger's clock set
back), so what falls due is the test's own: a declined case (due), one whose individual was born
on the 15th (exempt), one under legal hold (not due), one declined a year ago (not yet due) and
an open one (never a candidate).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from psycopg.sql import SQL, Identifier
from typer.testing import CliRunner, Result

from adapters.cli.retention import erasure_command_id
from adapters.cli.root import app
from adapters.logging import reset_logging
from adapters.store import Store
from adapters.store.access_log import TABLE as ACCESS_LOG_TABLE
from adapters.store.access_log import AccessLog
from domain.clock import local_date, utc_now
from domain.commands import DeclineSip, ErasePersonalData, Individual, PlaceLegalHold
from domain.ledger import SipLedger
from domain.parties import Actor, Role
from domain.personal import erased_marker
from tests.conftest import TEST_SECRET, Clock
from tests.support import builders as b
from tests.support.http import TEST_ORGANISATIONS_FILE

pytestmark = pytest.mark.store

NAME = "Kim Karlsson"
ARCHIVIST = ("--person", "arkiv-1", "--name", "Ada Arkivarie", "--organisation",
             "kommun-boras", "--unit", "Arkivet")
AUDITOR = Actor(person_id="granskare-1", name="Greta Granskare", organisation=b.KOMMUN,
                role=Role.AUDITOR)
SIX_YEARS_AGO = datetime.now(tz=UTC) - timedelta(days=6 * 365)

Invoke = Callable[..., Result]


@pytest.fixture
def schema(database_url: str) -> Iterator[str]:
    name = f"test_retcli_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(name)))


@pytest.fixture
def invoke(database_url: str, schema: str) -> Invoke:
    def run(*args: str, **env: str) -> Result:
        environment = {
            "SIP_DATABASE_URL": database_url,
            "SIP_DATABASE_SCHEMA": schema,
            "SIP_INDIVIDUAL_KEY": TEST_SECRET.decode(),
            "SIP_LOG_FORMAT": "json",
            **{f"SIP_{k.upper()}": v for k, v in env.items()},
        }
        try:
            return CliRunner().invoke(app, list(args), env=environment)
        finally:
            reset_logging()

    return run


@pytest.fixture
def store(database_url: str, schema: str) -> Store:
    return Store(conninfo=database_url, schema=schema)


@pytest.fixture
def ledger(store: Store) -> Iterator[tuple[SipLedger, Clock]]:
    clock = Clock()
    opened = store.ledger(individual_secret=TEST_SECRET, clock=clock)
    yield opened, clock
    opened.close()


@dataclass
class Cases:
    due: uuid.UUID
    research_day: uuid.UUID
    held: uuid.UUID
    recent: uuid.UUID
    open: uuid.UUID


def _declined(ledger: SipLedger, born: date) -> uuid.UUID:
    cmd = b.propose(individual=Individual(personal_identity_number=b.pin_born(born), name=NAME))
    case_id = ledger.propose(cmd, b.actor()).case_id
    ledger.decline(DeclineSip(case_id=case_id, note="Vill inte"), b.actor())
    return case_id


@pytest.fixture
def cases(ledger: tuple[SipLedger, Clock]) -> Cases:
    opened, clock = ledger
    clock.set(SIX_YEARS_AGO)
    due = _declined(opened, date(1980, 3, 3))
    research_day = _declined(opened, date(1980, 3, 15))
    held = _declined(opened, date(1981, 4, 4))
    open_case = opened.propose(
        b.propose(individual=Individual(personal_identity_number=b.pin_born(date(1982, 2, 2)),
                                        name=NAME)), b.actor()).case_id
    clock.set(datetime.now(tz=UTC) - timedelta(days=365))
    recent = _declined(opened, date(1983, 6, 6))
    clock.fixed = None
    opened.place_legal_hold(
        PlaceLegalHold(case_id=held, reason="Tillsyn pågår", reference="IVO 3.1-123/2031"),
        AUDITOR)
    return Cases(due=due, research_day=research_day, held=held, recent=recent, open=open_case)


def _events(store: Store) -> int:
    with store.connect() as conn:
        return conn.execute(SQL("SELECT count(*) FROM {}.sipledger_events").format(
            Identifier(store.schema))).fetchone()[0]


def _fresh(store: Store) -> SipLedger:
    """A ledger of its own (no cache): what the store holds now."""
    return store.ledger(individual_secret=TEST_SECRET, cache_size=0)


def _error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error")]


# ---------------------------------------------------------------------------- due


def test_due_as_json_names_policy_dates_exemptions_and_holds(invoke: Invoke, cases: Cases):
    result = invoke("retention", "due", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    by_case = {row["case_id"]: row for row in report["cases"]}
    assert set(by_case) == {str(c) for c in (cases.due, cases.research_day, cases.held,
                                             cases.recent)}  # the open case is no candidate
    due = by_case[str(cases.due)]
    assert due["due"] is True and due["exemptions"] == []
    assert (due["policy_id"], due["policy_version"], due["start_kind"]) == (
        "socialtjanst", 1, "last_entry")
    assert due["starts_on"] == local_date(SIX_YEARS_AGO).isoformat()
    assert date.fromisoformat(due["due_on"]) <= local_date(utc_now())
    assert "individual" in due["subjects"]
    assert by_case[str(cases.research_day)]["due"] is False
    assert by_case[str(cases.research_day)]["exemptions"] == ["born_on_research_day"]
    assert by_case[str(cases.held)]["due"] is False
    assert by_case[str(cases.held)]["legal_hold"] is True
    assert by_case[str(cases.recent)]["due"] is False
    assert by_case[str(cases.recent)]["exemptions"] == []
    assert report["due"] == 1
    assert report["access_log"]["policy_id"] == "atkomstlogg"
    assert report["access_log"]["rows_due"] == 0
    assert NAME not in result.stdout  # the status names no one


def test_due_as_a_table_and_as_of_another_day(invoke: Invoke, cases: Cases):
    result = invoke("retention", "due")
    assert result.exit_code == 0, result.output
    assert str(cases.due) in result.stdout
    assert "1 of 4 ended cases due" in " ".join(result.stdout.split())
    assert "access log" in result.stdout
    # Five years from the recent case's end, it is due too.
    later = local_date(utc_now()) + timedelta(days=5 * 366)
    result = invoke("retention", "due", "--as-of", later.isoformat(), "--json")
    assert result.exit_code == 0, result.output
    due = {row["case_id"] for row in json.loads(result.stdout)["cases"] if row["due"]}
    assert due == {str(cases.due), str(cases.recent)}


def test_due_refuses_a_bad_day_and_an_unknown_policy(invoke: Invoke, cases: Cases):
    result = invoke("retention", "due", "--as-of", "2031-13-01")
    assert result.exit_code == 2
    assert _error_lines(result) == [
        "error field as_of: not a day (YYYY-MM-DD): '2031-13-01'"]
    result = invoke("retention", "due", "--policy", "okand")
    assert result.exit_code != 0
    assert "policy_id" in _error_lines(result)[0] and "R34" in _error_lines(result)[0]


# ---------------------------------------------------------------------------- erase


def test_erase_a_case_then_a_rerun_writes_nothing(invoke: Invoke, cases: Cases, store: Store):
    result = invoke("retention", "erase", "--decision", "KS 2031/12", "--case", str(cases.due),
                    *ARCHIVIST)
    assert result.exit_code == 0, result.output
    assert "erased 1 cases" in result.stdout
    events = _events(store)
    ledger = _fresh(store)
    try:
        case = ledger.get_case(cases.due)
        assert case.is_erased
        assert case.erasure.decision == "KS 2031/12"
        assert (case.erasure.policy_id, case.erasure.policy_version) == ("socialtjanst", 1)
        assert case.erasure.erased_by.role == Role.ARCHIVIST
        assert case.erasure.erased_by.person_id == "arkiv-1"
        assert case.individual.name == erased_marker(local_date(utc_now()), "KS 2031/12")
        assert not ledger.keys.has_live_keys(cases.due)
    finally:
        ledger.close()

    again = invoke("retention", "erase", "--decision", "KS 2031/12", "--case", str(cases.due),
                   *ARCHIVIST)
    assert again.exit_code == 0, again.output
    assert "1 already done" in again.stdout
    assert _events(store) == events

    due = invoke("retention", "due", "--json")
    rows = {r["case_id"]: r for r in json.loads(due.stdout)["cases"]}
    assert rows[str(cases.due)]["due"] is False
    assert rows[str(cases.due)]["erased"] is True


@pytest.mark.parametrize("which, args, field", [
    ("due", ("--decision", "  "), "decision"),
    ("due", (), "decision"),
    ("recent", ("--decision", "KS 2031/12"), "override_reason"),
    ("held", ("--decision", "KS 2031/12"), "case_id"),
    ("held", ("--decision", "KS 2031/12", "--override", "Beslut i nämnden"), "case_id"),
])
def test_refusals_name_r34_and_write_nothing(
    invoke: Invoke, cases: Cases, store: Store, which: str, args: tuple[str, ...],
    field: str | None,
):
    events = _events(store)
    result = invoke("retention", "erase", "--case", str(getattr(cases, which)), *args,
                    *ARCHIVIST)
    assert result.exit_code == 1, result.output
    lines = _error_lines(result)
    assert len(lines) == 1 and lines[0].startswith("error [R34]")
    if field is not None:
        assert f"field {field}" in lines[0]
    assert _events(store) == events
    ledger = _fresh(store)
    try:
        assert not ledger.get_case(getattr(cases, which)).is_erased
        assert ledger.keys.has_live_keys(getattr(cases, which))
    finally:
        ledger.close()


def test_an_override_erases_a_case_not_yet_due_and_is_recorded(
    invoke: Invoke, cases: Cases, store: Store
):
    result = invoke("retention", "erase", "--decision", "KS 2031/13", "--case",
                    str(cases.recent), "--override", "Den enskilde begärde radering",
                    *ARCHIVIST)
    assert result.exit_code == 0, result.output
    ledger = _fresh(store)
    try:
        erasure = ledger.get_case(cases.recent).erasure
        assert erasure is not None and erasure.override_reason == "Den enskilde begärde radering"
    finally:
        ledger.close()


def test_erase_due_erases_the_due_cases_and_finishes_one_stopped_halfway(
    invoke: Invoke, cases: Cases, store: Store, ledger: tuple[SipLedger, Clock],
    monkeypatch: pytest.MonkeyPatch,
):
    # An erasure recorded by a run that died before it destroyed the keys: the event is there,
    # the keys are not gone. The override stands in for a case that was due then.
    opened, _ = ledger

    def died(*args: object, **kwargs: object) -> int:
        raise KeyboardInterrupt("killed between the event and the keys")

    monkeypatch.setattr(opened.keys, "destroy_case", died)
    actor = Actor(person_id="arkiv-1", name="Ada Arkivarie", organisation=b.KOMMUN,
                  unit="Arkivet", role=Role.ARCHIVIST)
    with pytest.raises(KeyboardInterrupt):
        opened.erase_personal_data(ErasePersonalData(
            command_id=erasure_command_id("KS 2031/12", cases.recent), case_id=cases.recent,
            decision="KS 2031/12", override_reason="Begärd radering"), actor)
    monkeypatch.undo()
    check = _fresh(store)
    try:
        assert check.get_case(cases.recent).is_erased
        assert check.keys.has_live_keys(cases.recent)
    finally:
        check.close()

    result = invoke("retention", "erase", "--decision", "KS 2031/12", "--due", *ARCHIVIST)
    assert result.exit_code == 0, result.output
    assert "erased 1 cases, finished 1 earlier erasures" in result.stdout
    check = _fresh(store)
    try:
        for case_id in (cases.due, cases.recent):
            assert check.get_case(case_id).is_erased
            assert not check.keys.has_live_keys(case_id)
        for case_id in (cases.research_day, cases.held, cases.open):
            assert not check.get_case(case_id).is_erased
            assert check.keys.has_live_keys(case_id)
    finally:
        check.close()

    events = _events(store)
    again = invoke("retention", "erase", "--decision", "KS 2031/12", "--due", *ARCHIVIST)
    assert again.exit_code == 0, again.output
    assert "erased 0 cases, finished 0 earlier erasures" in again.stdout
    assert _events(store) == events


def test_the_archivist_must_be_in_the_organisation_directory(invoke: Invoke, cases: Cases):
    result = invoke("retention", "erase", "--decision", "KS 2031/12", "--case", str(cases.due),
                    "--person", "arkiv-1", "--organisation", "kommun-okand",
                    organisations_file=str(TEST_ORGANISATIONS_FILE))
    assert result.exit_code == 1, result.output
    assert _error_lines(result)[0].startswith("error field organisation:")
    result = invoke("retention", "erase", "--decision", "KS 2031/12", "--case", str(cases.due),
                    *ARCHIVIST, organisations_file=str(TEST_ORGANISATIONS_FILE))
    assert result.exit_code == 0, result.output


def test_exactly_one_target(invoke: Invoke, cases: Cases):
    result = invoke("retention", "erase", "--decision", "KS 2031/12", *ARCHIVIST)
    assert result.exit_code == 2
    result = invoke("retention", "erase", "--decision", "KS 2031/12", "--due", "--case",
                    str(cases.due), *ARCHIVIST)
    assert result.exit_code == 2
    result = invoke("retention", "erase", "--decision", "KS 2031/12", "--due", "--override",
                    "x", *ARCHIVIST)
    assert result.exit_code == 2
    assert _error_lines(result)[0].startswith("error field override:")


# ---------------------------------------------------------------------------- the access log


def test_the_access_log_keeps_its_rows_until_its_own_period(
    invoke: Invoke, cases: Cases, store: Store
):
    datastore = store.datastore()
    try:
        AccessLog(datastore, individual_secret=TEST_SECRET).setup()
    finally:
        datastore.close()
    table = SQL("{}.{}").format(Identifier(store.schema), Identifier(ACCESS_LOG_TABLE))
    with store.connect(autocommit=True) as conn:
        for days in (6 * 365, 5 * 365 + 30, 4 * 365, 0):
            conn.execute(SQL(
                "INSERT INTO {} (at, person_id, organisation_id, organisation_kind, role, "
                "action, outcome) VALUES (now() - make_interval(days => %s), 'hsa-1', "
                "'kommun-boras', 'kommun', 'coordinator', 'read_plan', 'granted')").format(table),
                (days,))
    due = invoke("retention", "due", "--json")
    assert due.exit_code == 0, due.output
    assert json.loads(due.stdout)["access_log"]["rows_due"] == 2

    result = invoke("retention", "erase", "--access-log", "--decision", "KS 2031/14",
                    "--person", "dba-1")
    assert result.exit_code == 0, result.output
    assert "culled 2 access-log rows" in result.stdout
    culled = [json.loads(line) for line in result.stderr.splitlines()
              if '"access log culled"' in line]
    assert culled and culled[0]["rows"] == 2 and culled[0]["decision"] == "KS 2031/14"
    with store.connect() as conn:
        assert conn.execute(SQL("SELECT count(*) FROM {}").format(table)).fetchone()[0] == 2
    again = invoke("retention", "erase", "--access-log", "--decision", "KS 2031/14",
                   "--person", "dba-1")
    assert again.exit_code == 0 and "culled 0 access-log rows" in again.stdout

    no_decision = invoke("retention", "erase", "--access-log", "--person", "dba-1")
    assert no_decision.exit_code == 1
    assert _error_lines(no_decision)[0].startswith("error [R34] field decision:")
