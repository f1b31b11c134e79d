"""Bulk mode (``sip-ledger demo --bulk``): the same cases as the command path, saved in batches.

The command path and bulk mode each write the same seed's stories into an empty schema of their
own; story by story the cases must come out alike. Case ids are random, so cases are matched by
story (``run.case_ids`` is in story order) and registers by the individual's number.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.sql import SQL, Identifier
from typer.testing import CliRunner

from adapters.cli.root import app
from adapters.demo.bulk import BulkLedger
from adapters.demo.run import plan_cases, run_demo, take_census
from adapters.logging import reset_logging
from adapters.store import Store
from domain.case import SipCase
from domain.clock import local_date, utc_now
from domain.commands import DeclineSip
from domain.errors import OpenSipExists
from domain.ledger import SipLedger
from tests.support import builders

pytestmark = pytest.mark.store

SECRET = b"test-individual-key"
CASES, SEED = 150, 4


@pytest.fixture
def other_store(database_url: str) -> Iterator[Store]:
    """A second empty schema, beside ``fresh_store``."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    yield Store(conninfo=database_url, schema=schema)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(SQL("DROP SCHEMA IF EXISTS {0} CASCADE").format(Identifier(schema)))


def _open(store: Store) -> Iterator[SipLedger]:
    ledger = store.ledger(individual_secret=SECRET)
    try:
        yield ledger
    finally:
        ledger.close()


@pytest.fixture
def normal_ledger(fresh_store: Store) -> Iterator[SipLedger]:
    yield from _open(fresh_store)


@pytest.fixture
def bulk_ledger(other_store: Store) -> Iterator[SipLedger]:
    yield from _open(other_store)


def _stored_events(store: Store) -> int:
    """The cases' events (what a command's result reports; the registers' are not counted)."""
    with store.connect() as conn:
        query = SQL("SELECT count(*) FROM {0}.sipledger_events "
                    "WHERE topic LIKE 'domain.case:%%'").format(Identifier(store.schema))
        return conn.execute(query).fetchone()[0]


def _shape(ledger: SipLedger, case: SipCase, story_of: dict[uuid.UUID, int]) -> dict:
    """What must be alike in both stores: everything but ids and recording times."""
    events = ledger.repository.event_store.get(case.id)
    return {
        "events": [type(e).__qualname__ for e in events],
        "version": case.version,
        "stage": case.stage,
        "pin": case.individual.personal_identity_number,
        "deadlines": {k: (d.deadline, d.met_on, d.cancelled_on) for k, d in case.deadlines.items()},
        "open_cases_of_individual": [
            story_of[i] for i in ledger.open_cases_for(case.individual.personal_identity_number)
        ],
    }


def test_bulk_mode_writes_the_same_cases_as_the_command_path(
    fresh_store, other_store, normal_ledger, bulk_ledger
):
    today = local_date(utc_now())
    stories = plan_cases(CASES, SEED, today)
    assert any(s.second_of is not None for s in stories), "no second proposal (R09) to compare"

    normal = run_demo(normal_ledger, CASES, SEED, today=today)
    bulk = run_demo(bulk_ledger, CASES, SEED, today=today, bulk=True)

    assert len(bulk.case_ids) == len(normal.case_ids) == CASES
    assert bulk.commands == normal.commands
    assert bulk.events == normal.events == _stored_events(fresh_store)
    assert _stored_events(other_store) == bulk.events
    normal_story = {case_id: n for n, case_id in enumerate(normal.case_ids)}
    bulk_story = {case_id: n for n, case_id in enumerate(bulk.case_ids)}
    for n, (normal_id, bulk_id) in enumerate(zip(normal.case_ids, bulk.case_ids, strict=True)):
        expected = _shape(normal_ledger, normal_ledger.get_case(normal_id), normal_story)
        actual = _shape(bulk_ledger, bulk_ledger.get_case(bulk_id), bulk_story)
        assert actual == expected, f"story {n}"
    assert take_census(bulk_ledger, bulk.case_ids, today) == take_census(
        normal_ledger, normal.case_ids, today
    )


def test_bulk_mode_keeps_one_open_case_per_individual_across_saves(bulk_ledger):
    # A save before every proposal: each register is read back from the store.
    bulk = BulkLedger(bulk_ledger, max_events_per_save=1)
    coordinator = builders.actor()
    first_cmd = builders.propose()
    pin = first_cmd.individual.personal_identity_number

    def again(**fields) -> object:
        return first_cmd.model_copy(update={"command_id": uuid.uuid4(), **fields})

    first = bulk.propose(first_cmd, coordinator)
    # Refused in the batch that holds the first case, and after it has been saved.
    with pytest.raises(OpenSipExists):
        bulk.propose(again(), coordinator)
    bulk.flush()
    assert bulk_ledger.open_cases_for(pin) == [first.case_id]
    with pytest.raises(OpenSipExists):
        bulk.propose(again(), coordinator)
    # A proposer who has seen the open case may start a second one (R09).
    second = bulk.propose(again(acknowledged_open_case_ids=(first.case_id,)), coordinator)
    bulk.flush()
    assert bulk_ledger.open_cases_for(pin) == [first.case_id, second.case_id]

    # A later bulk load, and the command path, see the same register.
    later = BulkLedger(bulk_ledger)
    with pytest.raises(OpenSipExists):
        later.propose(again(acknowledged_open_case_ids=(first.case_id,)), coordinator)
    with pytest.raises(OpenSipExists):
        bulk_ledger.propose(again(acknowledged_open_case_ids=(second.case_id,)), coordinator)

    # A case that ends leaves the register, also when it was saved in an earlier batch.
    later.decline(DeclineSip(case_id=first.case_id, note="Vill inte"), coordinator)
    later.flush()
    assert bulk_ledger.open_cases_for(pin) == [second.case_id]
    assert bulk_ledger.get_case(first.case_id).version == 2


def test_the_command_line_bulk_flag_prints_the_summary(database_url, other_store):
    environment = {
        "SIP_DATABASE_URL": database_url,
        "SIP_DATABASE_SCHEMA": other_store.schema,
        "SIP_LOG_LEVEL": "WARNING",
    }
    try:
        result = CliRunner().invoke(
            app, ["demo", "--cases", "40", "--seed", "7", "--bulk"], env=environment
        )
    finally:
        reset_logging()
    assert result.exit_code == 0, result.output
    assert "40 SIP cases (seed 7)" in result.stdout
    assert "events written" in result.stdout
    written = int(result.stdout.split("events written")[1].split()[0])
    assert written == _stored_events(other_store)
