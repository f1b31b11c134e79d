"""A stored event still loads: an event log written by an earlier release (the committed
fixture tests/domain/fixtures/release-log.jsonl, recorded by record_release_log.py before the
domain was split into modules) is inserted raw into an empty event table and replayed by today's
ledger, and every case and register comes out exactly as that release replayed it
(release-cases.json: version, and every attribute with its type, but for what later releases
added). That release stored personal data in clear, and ``ReplyRecorded`` and ``EntryCorrected``
at version 1, which today's upcasters read; the log of the release that sealed personal data (and
uses every event type) is replayed by tests/domain/test_release_log_sealed.py.

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
    summarise,
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


def test_every_event_type_of_the_fixture_is_still_defined():
    # The release knew fewer event types than today's (so the newest fixture, not this one, is
    # checked to use every type: tests/domain/test_release_log_sealed.py), but each it wrote
    # must still be one today's aggregates define, under the same topic.
    assert SECRET == TEST_SECRET
    recorded = {row["topic"] for row in ROWS}
    assert recorded <= event_topics(SipCase) | event_topics(IndividualCases)
    assert recorded == set(EXPECTED["topics"])


# What later releases added to a case's state, and what a case from this log holds there: the
# log's release knew nothing of them, so they must come out empty (or, for the day of the last
# entry that retention counts from, the day of the case's last event).
ADDED_CASE_ATTRIBUTES = {
    "legal_hold": lambda case: None,
    "erasure": lambda case: None,
    "last_entry_on": lambda case: case.last_entry_on,
}
EMPTY = (None, "", False, {"tuple": []}, [], {"dict": []})
# Fields later releases added to a stored model that an upcaster fills from the event itself:
# EntryCorrected version 2 gives a correction its own version and author (domain/case.py;
# tests/domain/test_corrections.py checks they are the event's).
UPCAST_FIELDS = {("Correction", "version"), ("Correction", "by")}


def _same_or_added(expected, actual, path: str) -> list[str]:
    """Where ``actual`` (today's summary) differs from ``expected`` (the release's) other than by
    fields added since, holding their empty defaults (a model's new optional field)."""
    if isinstance(expected, dict) and isinstance(actual, dict) and "model" in expected:
        if expected["model"] != actual.get("model"):
            return [f"{path}: {expected['model']} became {actual.get('model')}"]
        problems: list[str] = []
        for name, value in actual["fields"].items():
            if name in expected["fields"]:
                problems += _same_or_added(expected["fields"][name], value, f"{path}.{name}")
            elif value not in EMPTY and (expected["model"], name) not in UPCAST_FIELDS:
                problems.append(f"{path}.{name}: added with {value!r}")
        problems += [f"{path}.{name}: gone" for name in expected["fields"]
                     if name not in actual["fields"]]
        return problems
    if isinstance(expected, dict) and isinstance(actual, dict) and expected.keys() == actual.keys():
        return [p for k in expected for p in _same_or_added(expected[k], actual[k], f"{path}.{k}")]
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [p for i, (e, a) in enumerate(zip(expected, actual, strict=True))
                for p in _same_or_added(e, a, f"{path}[{i}]")]
    return [] if expected == actual else [f"{path}: {expected!r} became {actual!r}"]


@pytest.mark.parametrize("case_id", sorted(EXPECTED["cases"]))
def test_each_recorded_case_replays_to_what_the_release_replayed(replayed, case_id):
    case = replayed.get_case(UUID(case_id))
    assert isinstance(case, SipCase)
    expected, actual = EXPECTED["cases"][case_id], summary(case)
    assert (actual["class"], actual["version"]) == (expected["class"], expected["version"])
    attributes = dict(map(tuple, actual["state"]["dict"]))
    recorded = dict(map(tuple, expected["state"]["dict"]))
    added = {name: attributes.pop(name) for name in list(attributes) if name not in recorded}
    assert set(added) <= set(ADDED_CASE_ATTRIBUTES), f"unexpected new attributes: {set(added)}"
    for name, value in added.items():
        assert value == summarise(ADDED_CASE_ATTRIBUTES[name](case)), name
    assert case.last_entry_on is not None and case.last_entry_on >= case.proposed_on
    assert list(attributes) == list(recorded)  # nothing gone, in the same order
    assert [p for name in recorded
            for p in _same_or_added(recorded[name], attributes[name], name)] == []


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
