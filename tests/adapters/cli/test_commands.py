"""The sip-ledger command line, run in-process against the test PostgreSQL.

Each run gets a schema of its own (SIP_DATABASE_SCHEMA), dropped afterwards, so the counts below
are the run's own and nothing else's.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date

import psycopg
import pytest
from psycopg.sql import SQL, Identifier
from typer.testing import CliRunner, Result

from adapters.cli.root import app
from adapters.demo import writer as demo_writer
from adapters.demo.run import plan_cases
from adapters.logging import (
    PERSONAL_IDENTITY_NUMBER,
    configure_logging,
    get_logger,
    redact_personal_data,
    reset_logging,
)
from adapters.store import Store
from domain.case import SipCase
from domain.case_state import Stage
from domain.clock import local_date, utc_now
from domain.commands import ConveneMeeting
from domain.ledger import SipLedger
from domain.parties import Actor, Organisation, OrganisationKind

pytestmark = pytest.mark.store

SECRET = b"test-individual-key"

Invoke = Callable[..., Result]


def _drop(database_url: str, schema: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(SQL("DROP SCHEMA IF EXISTS {0} CASCADE").format(Identifier(schema)))


def _new_schema() -> str:
    return f"test_cli_{uuid.uuid4().hex[:10]}"


def _runner(database_url: str) -> Callable[..., Result]:
    """Invoke the CLI with the test database; keyword arguments set SIP_ variables."""
    runner = CliRunner()

    def invoke(*args: str, schema: str, **env: str) -> Result:
        environment = {
            "SIP_DATABASE_URL": database_url,
            "SIP_DATABASE_SCHEMA": schema,
            "SIP_LOG_FORMAT": "json",
            "SIP_LOG_LEVEL": "INFO",
            **{f"SIP_{k.upper()}": v for k, v in env.items()},
        }
        try:
            return runner.invoke(app, list(args), env=environment)
        finally:
            reset_logging()

    return invoke


@pytest.fixture(scope="module")
def invoke(database_url: str) -> Callable[..., Result]:
    return _runner(database_url)


@pytest.fixture
def schema(database_url: str) -> Iterator[str]:
    name = _new_schema()
    yield name
    _drop(database_url, name)


def _ledger(database_url: str, schema: str) -> SipLedger:
    return Store(conninfo=database_url, schema=schema).ledger(individual_secret=SECRET)


def _case_ids(database_url: str, schema: str) -> list[uuid.UUID]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            SQL(
                "SELECT DISTINCT originator_id FROM {0}.sipledger_events "
                "WHERE topic LIKE 'domain.case:SipCase.%'"
            ).format(Identifier(schema))
        ).fetchall()
    return [row[0] for row in rows]


def _cases(database_url: str, schema: str) -> list[SipCase]:
    ledger = _ledger(database_url, schema)
    try:
        return [ledger.get_case(i) for i in _case_ids(database_url, schema)]
    finally:
        ledger.close()


def _error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error")]


# ---------------------------------------------------------------- a demo of 30 cases


@pytest.fixture(scope="module")
def demo_30(database_url: str, invoke: Invoke) -> Iterator[tuple[Result, str]]:
    """One run of ``demo --cases 30`` with every log line at DEBUG, shared by the tests below."""
    schema = _new_schema()
    result = invoke("demo", "--cases", "30", "--seed", "7", schema=schema, log_level="DEBUG")
    yield result, schema
    _drop(database_url, schema)


def test_demo_exits_0_and_writes_exactly_the_cases_asked_for(demo_30, database_url):
    result, schema = demo_30
    assert result.exit_code == 0, result.output
    assert len(_case_ids(database_url, schema)) == 30
    assert "events written" in result.stdout
    assert "overdue deadlines today" in result.stdout


def test_demo_cases_stand_at_several_stages_some_overdue_some_ended(demo_30, database_url):
    result, schema = demo_30
    assert result.exit_code == 0, result.output
    cases = _cases(database_url, schema)
    today = local_date(utc_now())
    stages = Counter(case.stage for case in cases)
    assert len(stages) >= 5, stages
    assert stages[Stage.DECLINED] + stages[Stage.CLOSED] >= 1, stages
    overdue = [case for case in cases if any(d.deadline.due < today for d in case.open_deadlines())]
    assert overdue, "no case has an overdue open deadline"
    late = [
        d
        for case in cases
        for d in case.deadlines.values()
        if d.met_on is not None and d.met_on > d.deadline.due
    ]
    assert late, "no deadline was met late"
    # The summary counts what the store holds.
    for stage, n in stages.items():
        assert re.search(rf"{stage.value}\s*│\s*{n}\s*│", result.stdout), (stage, result.stdout)


def test_demo_covers_the_kinds_of_case_the_domain_knows(demo_30, database_url):
    _, schema = demo_30
    cases = _cases(database_url, schema)
    today = local_date(utc_now())
    assert {c.policy_id for c in cases} == {"national", "vgr-barn-unga", "jonkoping"}
    assert any(c.age_on(today) < 18 and c.individual.guardians for c in cases)
    assert any(c.presumed_need_groups for c in cases)
    assert len({c.municipality.id for c in cases}) >= 5
    assert len({c.region.id for c in cases}) >= 3
    pins = [c.individual.personal_identity_number for c in cases]
    assert all(re.fullmatch(r"\d{8}-\d{4}", pin) for pin in pins)


def test_demo_logs_carry_command_ids_and_no_personal_data(demo_30, database_url):
    result, schema = demo_30
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    commands = [line for line in lines if line.get("event") == "command recorded"]
    assert len(commands) > 30
    assert all(uuid.UUID(line["command_id"]) and line["command"] for line in commands)
    assert {line["command"] for line in commands} >= {"propose", "record_consent", "convene"}

    cases = _cases(database_url, schema)
    personal = {c.individual.personal_identity_number for c in cases}
    personal |= {c.individual.name for c in cases}
    personal |= {g.name for c in cases for g in c.individual.guardians}
    logged = result.stderr
    assert not [p for p in personal if p in logged]
    assert not re.search(r"(?<![\w-])\d{8}-?\d{4}(?![\w-])", logged)


def test_same_seed_gives_the_same_stage_distribution(invoke, database_url):
    first, second = _new_schema(), _new_schema()
    try:
        for schema in (first, second):
            result = invoke("demo", "--cases", "30", "--seed", "2024", schema=schema)
            assert result.exit_code == 0, result.output
        stages = [
            Counter(c.stage for c in _cases(database_url, schema)) for schema in (first, second)
        ]
        assert stages[0] == stages[1]
    finally:
        _drop(database_url, first)
        _drop(database_url, second)


def test_planned_stories_depend_on_the_seed_alone():
    today = date(2026, 3, 1)
    assert plan_cases(60, seed=5, today=today) == plan_cases(60, seed=5, today=today)
    assert plan_cases(60, seed=5, today=today) != plan_cases(60, seed=6, today=today)

    # On another day the dates move, but who and how far stay the same.
    def shape(day: date) -> list[tuple]:
        return [
            (s.outcome, s.profile, s.late, s.policy, s.kommun.id, s.coordinator.person_id)
            for s in plan_cases(200, seed=5, today=day)
        ]

    assert shape(today) == shape(date(2027, 8, 19))


def test_a_second_demo_run_in_the_same_store_does_not_trip_over_the_first(
    invoke, schema, database_url
):
    # The same seed draws the same people; R09 must not refuse their new cases.
    for _ in range(2):
        result = invoke("demo", "--cases", "20", "--seed", "3", schema=schema)
        assert result.exit_code == 0, result.output
    assert len(_case_ids(database_url, schema)) == 40


# ---------------------------------------------------------------- errors: one line, no traceback


def test_a_refused_command_prints_one_line_with_rule_and_field(invoke, schema, monkeypatch):
    fk = Organisation(id="fk", kind=OrganisationKind.FORSAKRINGSKASSAN, name="Försäkringskassan")
    convene = demo_writer.CaseWriter.convene

    def convened_by_fk(self, offset: int, meeting: int) -> None:
        # R02: FK may take part but not convene.
        self.story.coordinator = Actor(person_id="fk-1", name="Handläggare", organisation=fk)
        convene(self, offset, meeting)

    monkeypatch.setattr(demo_writer.CaseWriter, "convene", convened_by_fk)
    result = invoke("demo", "--cases", "30", "--seed", "1", schema=schema, log_level="ERROR")
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert re.match(r"^error \[R02\] field actor\.organisation\.kind: .+", lines[0]), lines[0]


def test_a_bad_setting_names_the_variable(invoke, schema):
    result = invoke("demo", "--cases", "1", schema="Not-A-Schema")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert _error_lines(result) == result.stderr.strip().splitlines()
    assert re.match(r"^error field SIP_DATABASE_SCHEMA: ", _error_lines(result)[0])


def test_an_unreachable_store_is_one_line_without_the_password(invoke, schema):
    url = "postgresql://sip:s3cret-pw@127.0.0.1:9/sip?connect_timeout=3"
    result = invoke("demo", "--cases", "1", schema=schema, database_url=url, log_level="ERROR")
    assert result.exit_code == 3
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error field SIP_DATABASE_URL: "), lines
    assert "s3cret-pw" not in result.output


def test_a_malformed_command_is_reported_by_field(invoke, schema, monkeypatch):
    def bad_meeting(self, offset: int, meeting: int) -> None:
        ConveneMeeting(case_id=self.case_id, meeting_at="not a time", place="x", invitations=())

    monkeypatch.setattr(demo_writer.CaseWriter, "convene", bad_meeting)
    result = invoke("demo", "--cases", "30", "--seed", "1", schema=schema, log_level="ERROR")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error field meeting_at: "), lines
    assert "not a time" not in lines[0]  # the input is not echoed: it could be personal data


def test_policies_lists_every_deadline_policy(invoke, schema):
    result = invoke("policies", schema=schema)
    assert result.exit_code == 0, result.output
    for policy_id in ("national", "vgr-barn-unga", "jonkoping"):
        assert policy_id in result.stdout


# ---------------------------------------------------------------- the log safety net


def test_redaction_masks_personal_numbers_and_drops_personal_fields(capsys):
    event = redact_personal_data(
        None,
        "info",
        {
            "event": "looked up 19850612-1234 and 198506121234",
            "name": "Kim Karlsson",
            "case_id": "12345678-1234-5678-1234-567812345678",
            "nested": {"guardians": ["A B"], "note": "pnr 20100101-0006"},
        },
    )
    assert event["event"] == "looked up [redacted] and [redacted]"
    assert event["name"] == "[redacted]"
    assert event["case_id"] == "12345678-1234-5678-1234-567812345678"  # a UUID is no number
    assert event["nested"] == {"guardians": "[redacted]", "note": "pnr [redacted]"}
    assert PERSONAL_IDENTITY_NUMBER.search("19850612-1234")


def test_json_logs_bind_the_command_to_every_line_including_library_records(capsys):
    from adapters.logging import command_context

    configure_logging("json", "INFO")
    try:
        command_id = uuid.uuid4()
        with command_context("convene", command_id, case_id="c-1"):
            get_logger("test").info("inside", individual="Kim Karlsson")
            logging.getLogger("some.library").warning("library says %s", "19850612-1234")
        get_logger("test").info("outside")
    finally:
        reset_logging()
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    inside, library, outside = lines
    assert inside["command_id"] == library["command_id"] == str(command_id)
    assert inside["command"] == "convene" and inside["case_id"] == "c-1"
    assert inside["individual"] == "[redacted]"
    assert library["event"] == "library says [redacted]"
    assert "command_id" not in outside
