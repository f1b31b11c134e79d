"""The read-access log (R33) on a real PostgreSQL: rows go in committed, come out by case, by
person, by organisation and by individual (through the keyed hash, never the number), and can
never be changed or removed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from adapters.store import Store
from adapters.store.access_log import TABLE, AccessLog
from domain.errors import InvalidInput
from domain.identity import individual_key
from tests.conftest import TEST_SECRET
from tests.support import builders as b

pytestmark = pytest.mark.store

PIN = "19121212-1212"
OTHER_PIN = "19900101-0017"


def row(**overrides):
    fields = dict(
        person_id="hsa-1", organisation_id="kommun-molndal", organisation_kind="kommun",
        unit="Socialtjänsten", role="coordinator", action="read_plan", outcome="granted",
        view="full", request_id="req-1",
    )
    fields.update(overrides)
    return fields


@pytest.fixture
def access_log(fresh_store: Store) -> Iterator[AccessLog]:
    datastore = fresh_store.datastore()
    log = AccessLog(datastore, individual_secret=TEST_SECRET)
    log.setup()
    yield log
    datastore.close()


def test_setup_is_idempotent_and_works_before_and_after_the_ledger(fresh_store: Store) -> None:
    datastore = fresh_store.datastore()
    try:
        AccessLog(datastore, individual_secret=TEST_SECRET).setup()  # before the recorder
        ledger = fresh_store.ledger(individual_secret=TEST_SECRET)  # recorder replaces function
        ledger.close()
        log = AccessLog(datastore, individual_secret=TEST_SECRET)
        log.setup()
        log.setup()
        assert log.record(**row()) > 0
    finally:
        datastore.close()


def test_a_row_is_committed_and_keeps_the_individual_only_as_a_keyed_hash(
    access_log: AccessLog, fresh_store: Store
) -> None:
    case_id = uuid.uuid4()
    access_log.record(**row(case_id=case_id, personal_identity_number=PIN,
                            reason="party under consent 1"))
    # Another connection sees it: committed when record() returned.
    with fresh_store.connect() as conn:
        rows = conn.execute(
            SQL("SELECT * FROM {}.{}").format(Identifier(fresh_store.schema), Identifier(TABLE))
        ).fetchall()
    assert len(rows) == 1
    assert PIN not in repr(rows) and PIN.replace("-", "") not in repr(rows)
    [entry] = access_log.for_case(case_id)
    assert entry["individual_key"] == individual_key(PIN, TEST_SECRET)
    assert entry["case_id"] == case_id
    assert (entry["person_id"], entry["organisation_id"], entry["unit"], entry["action"],
            entry["outcome"], entry["view"], entry["request_id"]) == (
        "hsa-1", "kommun-molndal", "Socialtjänsten", "read_plan", "granted", "full", "req-1")
    assert entry["at"].tzinfo is not None


def test_the_same_individual_is_found_whatever_way_the_number_is_written(
    access_log: AccessLog
) -> None:
    access_log.record(**row(case_id=uuid.uuid4(), personal_identity_number="191212121212"))
    assert len(access_log.for_individual(PIN)) == 1
    assert access_log.for_individual(OTHER_PIN) == []
    with pytest.raises(InvalidInput):
        access_log.for_individual("not-a-number")


def test_an_individual_learns_which_units_read_their_personal_data(access_log: AccessLog) -> None:
    case_id = uuid.uuid4()
    access_log.record(**row(case_id=case_id, personal_identity_number=PIN))
    access_log.record(**row(case_id=case_id, personal_identity_number=PIN, action="read_history"))
    access_log.record(**row(case_id=case_id, personal_identity_number=PIN, person_id="hsa-2",
                            organisation_id="region-vg", organisation_kind="region",
                            unit="Psykiatrimottagningen"))
    # Restricted views show no personal data, refusals read nothing: neither is a read of it.
    access_log.record(**row(case_id=case_id, personal_identity_number=PIN, view="restricted",
                            unit="Vuxenenheten"))
    access_log.record(**row(case_id=case_id, personal_identity_number=PIN, view=None,
                            outcome="refused", organisation_id="kommun-boras",
                            reason="not a party"))
    access_log.record(**row(case_id=uuid.uuid4(), personal_identity_number=OTHER_PIN))

    reads = access_log.for_individual(PIN)
    assert [(r["organisation_id"], r["action"]) for r in reads] == [
        ("kommun-molndal", "read_plan"), ("kommun-molndal", "read_history"),
        ("region-vg", "read_plan"),
    ]
    with_refused = access_log.for_individual(PIN, include_refused=True)
    assert [r["outcome"] for r in with_refused].count("refused") == 1

    units = access_log.units_for_individual(PIN)
    assert [(u["organisation_id"], u["unit"], u["reads"], u["actions"]) for u in units] == [
        ("kommun-molndal", "Socialtjänsten", 2, ["read_history", "read_plan"]),
        ("region-vg", "Psykiatrimottagningen", 1, ["read_plan"]),
    ]
    assert units[0]["first_at"] <= units[0]["last_at"]


def test_query_filters_by_person_organisation_outcome_and_period(access_log: AccessLog) -> None:
    case_id = uuid.uuid4()
    access_log.record(**row(case_id=case_id))
    access_log.record(**row(case_id=case_id, person_id="hsa-2"))
    access_log.record(**row(case_id=case_id, organisation_id="region-vg", outcome="refused",
                            view=None))
    assert len(access_log.query(person_id="hsa-2")) == 1
    assert len(access_log.query(organisation_id="region-vg")) == 1
    assert len(access_log.query(outcome="refused")) == 1
    assert len(access_log.query(case_id=case_id, limit=2)) == 2
    now = datetime.now(UTC)
    assert len(access_log.query(since=now - timedelta(minutes=5))) == 3
    assert access_log.query(since=now + timedelta(minutes=5)) == []
    assert access_log.query(until=now - timedelta(minutes=5)) == []
    assert len(access_log.for_case(case_id, since=now - timedelta(minutes=5))) == 3


def test_bad_rows_are_refused_before_the_store(access_log: AccessLog) -> None:
    with pytest.raises(ValueError):
        access_log.record(**row(outcome="maybe"))
    with pytest.raises(ValueError):
        access_log.record(**row(view="partial"))
    with pytest.raises(InvalidInput):
        access_log.record(**row(personal_identity_number="19121212-1213"))
    assert access_log.query() == []


@pytest.mark.parametrize("change", [
    "UPDATE {} SET reason = 'edited'",
    "DELETE FROM {}",
    "TRUNCATE {}",
])
def test_the_log_is_append_only(access_log: AccessLog, fresh_store: Store, change: str) -> None:
    access_log.record(**row(case_id=uuid.uuid4(), personal_identity_number=PIN))
    table = SQL("{}.{}").format(Identifier(fresh_store.schema), Identifier(TABLE))
    with fresh_store.connect(autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(SQL(change).format(table))
    assert len(access_log.query()) == 1


def test_the_log_sits_beside_the_ledger_in_its_schema(fresh_store: Store) -> None:
    ledger = fresh_store.ledger(individual_secret=TEST_SECRET)
    datastore = fresh_store.datastore()
    try:
        ledger.propose(b.propose(), b.actor())
        log = AccessLog(datastore, individual_secret=TEST_SECRET)
        log.setup()
        log.record(**row())
        assert len(log.query()) == 1
    finally:
        datastore.close()
        ledger.close()
