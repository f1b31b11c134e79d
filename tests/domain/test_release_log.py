"""A stored event still loads: an event log written by an earlier release (the committed
fixture tests/domain/fixtures/release-log.jsonl, recorded by record_release_log.py before the
domain was split into modules) is inserted raw into an empty event table and replayed by today's
ledger, and every case and register comes out exactly as that release replayed it
(release-cases.json: version, and every attribute with its type).

When this fails after a change to the domain, stored events no longer load as they did: the
change must keep the stored topics (``domain.case:SipCase.<Event>``), the transcodings' names
(domain/transcodings.py) and the events' fields, or upcast. Never re-record the log to make it
pass; the point is that older code wrote it.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

import psycopg
import pytest
from eventsourcing.domain import DomainEvent
from psycopg.sql import SQL, Identifier

from adapters.store import Store
from domain.case import SipCase
from domain.commands import ProposeSip, RecordWishes, Wishes
from domain.errors import OpenSipExists
from domain.individual import IndividualCases
from domain.ledger import SipLedger
from tests.conftest import TEST_SECRET
from tests.domain.fixtures.record_release_log import (
    COORDINATOR,
    EVENTS_TABLE,
    SECRET,
    summary,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ROWS = [json.loads(line) for line in (FIXTURES / "release-log.jsonl").read_text().splitlines()]
EXPECTED = json.loads((FIXTURES / "release-cases.json").read_text())


def event_topics(cls: type) -> set[str]:
    """The topics of the events an aggregate class defines (as the library names them)."""
    return {
        f"{cls.__module__}:{cls.__qualname__}.{name}"
        for name, value in vars(cls).items()
        if isinstance(value, type) and issubclass(value, DomainEvent)
        and name not in {"Event", "Created", "Snapshot"}
    }


@contextmanager
def release_log_loaded(database_url: str) -> Iterator[SipLedger]:
    """Today's ledger on a schema of its own whose event table holds the recorded rows."""
    store = Store(conninfo=database_url, schema=f"test_release_{uuid.uuid4().hex[:12]}")
    ledger = store.ledger(individual_secret=TEST_SECRET)  # creates the empty tables
    try:
        with store.connect() as conn:
            insert = SQL(
                "INSERT INTO {}.{} (originator_id, originator_version, topic, state) "
                "VALUES (%s, %s, %s, %s)"
            ).format(Identifier(store.schema), Identifier(EVENTS_TABLE))
            for row in ROWS:
                raw = row["state"]
                state = (base64.b64decode(raw) if row["state_encoding"] == "base64"
                         else raw.encode("utf-8"))
                conn.execute(insert, (UUID(row["originator_id"]), row["originator_version"],
                                      row["topic"], state))
        yield ledger
    finally:
        ledger.close()
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA {} CASCADE").format(Identifier(store.schema)))


@pytest.fixture(scope="module")
def replayed(database_url: str) -> Iterator[SipLedger]:
    with release_log_loaded(database_url) as ledger:
        yield ledger


def stage_of(recorded: dict) -> str:
    return dict(map(tuple, recorded["state"]["dict"]))["stage"]["value"]


def test_the_fixture_uses_every_event_type_the_aggregates_define():
    # A new event type needs a new recording by the release that adds it, not this one's.
    assert SECRET == TEST_SECRET
    recorded = {row["topic"] for row in ROWS}
    assert event_topics(SipCase) <= recorded
    assert event_topics(IndividualCases) <= recorded
    assert recorded == set(EXPECTED["topics"])


@pytest.mark.parametrize("case_id", sorted(EXPECTED["cases"]))
def test_each_recorded_case_replays_to_what_the_release_replayed(replayed, case_id):
    case = replayed.get_case(UUID(case_id))
    assert isinstance(case, SipCase)
    assert summary(case) == EXPECTED["cases"][case_id]


@pytest.mark.parametrize("register_id", sorted(EXPECTED["registers"]))
def test_each_recorded_register_replays_to_what_the_release_replayed(replayed, register_id):
    register = replayed.repository.get(UUID(register_id))
    assert isinstance(register, IndividualCases)
    assert summary(register) == EXPECTED["registers"][register_id]


def test_the_recorded_cases_take_new_commands(database_url):
    """The open case goes on where the release left it, and the register the release wrote
    still holds it (R09): a second proposal for the same individual is refused."""
    open_ids = [UUID(i) for i, c in EXPECTED["cases"].items() if stage_of(c) == "active"]
    assert len(open_ids) == 1
    with release_log_loaded(database_url) as ledger:
        case = ledger.get_case(open_ids[0])
        pin = case.individual.personal_identity_number
        assert ledger.open_cases_for(pin) == open_ids
        result = ledger.record_wishes(
            RecordWishes(case_id=case.id, wishes=Wishes(place="Biblioteket")), COORDINATOR)
        assert result.version == case.version + 1
        assert ledger.get_case(case.id).wishes == Wishes(place="Biblioteket")
        with pytest.raises(OpenSipExists):
            ledger.propose(
                ProposeSip(individual=case.individual, municipality=case.municipality,
                           region=case.region, triggers=("coordination_requested",)),
                COORDINATOR,
            )
