"""The chain in the store: written with every insert, no fork under concurrent writers, a log
recorded before the chain got its chain once, and the chain's table is append-only."""

from __future__ import annotations

import threading

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from adapters.audit.chain import GENESIS, canonical_bytes, chain_hash
from adapters.audit.checkpoints import write_checkpoint
from adapters.audit.verify import verify
from adapters.store import Store
from domain.commands import RecordWishes, Wishes
from tests.conftest import TEST_SECRET
from tests.support import builders as b
from tests.support.audit import Audited, write_cases

pytestmark = pytest.mark.store


def _recomputed(log: Audited) -> list[tuple[int, bytes]]:
    rows = log.query("SELECT notification_id, originator_id, originator_version, topic, state "
                     "FROM {e} ORDER BY notification_id", e="sipledger_events")
    h, out = GENESIS, []
    for nid, case_id, version, topic, state in rows:
        h = chain_hash(h, canonical_bytes(case_id, version, topic, bytes(state)))
        out.append((nid, h))
    return out


def test_every_event_gets_its_chain_row_in_the_same_transaction(audited: Audited) -> None:
    write_cases(audited.ledger, 3)
    chain = audited.query("SELECT notification_id, hash FROM {c} ORDER BY 1", c="sipledger_chain")
    assert chain == _recomputed(audited)
    assert len(chain) == 9
    # A refused command writes nothing, neither event nor chain row.
    case_id = audited.query("SELECT originator_id FROM {e} WHERE notification_id = 1",
                            e="sipledger_events")[0][0]
    with pytest.raises(Exception):  # noqa: B017 - whichever SIP rule refuses it
        audited.ledger.record_consent(b.consent(case_id, days=-10), b.actor())
    assert len(audited.query("SELECT 1 FROM {c}", c="sipledger_chain")) == 9


def test_eight_concurrent_writers_leave_one_unforked_chain(audited: Audited) -> None:
    ledger = audited.store.ledger(individual_secret=TEST_SECRET, pool_size=8)
    errors: list[BaseException] = []
    barrier = threading.Barrier(8, timeout=60)

    def writer(n: int) -> None:
        try:
            barrier.wait()
            for _ in range(6):
                case_id = ledger.propose(b.propose(), b.actor()).case_id
                ledger.record_wishes(RecordWishes(case_id=case_id, wishes=Wishes(
                    place="hemma", longest_minutes=30 + n)), b.actor())
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        ledger.close()
    assert not errors, errors
    events = audited.query("SELECT count(*) FROM {e}", e="sipledger_events")[0][0]
    assert events == 8 * 6 * 3
    chain = audited.query("SELECT notification_id, hash FROM {c} ORDER BY 1", c="sipledger_chain")
    assert chain == _recomputed(audited)  # one chain over the log in notification order
    assert len({h for _, h in chain}) == len(chain)  # no two rows chained from the same hash
    assert write_checkpoint(audited.datastore, audited.key) is not None
    assert verify(audited.datastore, [audited.key.public_key]).intact


def _drop_chain(log: Audited) -> None:
    """The store as a version before the chain left it: no chain table."""
    with log.store.connect(autocommit=True) as conn:
        conn.execute(SQL("DROP TABLE {}").format(log.table("sipledger_chain")))


def test_a_log_recorded_before_the_chain_gets_its_chain_when_the_ledger_opens(
    audited: Audited,
) -> None:
    write_cases(audited.ledger, 4)
    live = audited.query("SELECT notification_id, hash FROM {c} ORDER BY 1", c="sipledger_chain")
    _drop_chain(audited)

    reopened = audited.store.ledger(individual_secret=TEST_SECRET)
    try:
        backfilled = audited.query("SELECT notification_id, hash FROM {c} ORDER BY 1",
                                   c="sipledger_chain")
        assert backfilled == live  # the same chain the live path wrote
        write_cases(reopened, 1)  # and the live path goes on from it
    finally:
        reopened.close()
    assert verify(audited.datastore, []).intact


def test_a_chain_that_is_gone_is_not_made_again_when_there_are_checkpoints(
    audited: Audited,
) -> None:
    write_cases(audited.ledger, 2)
    write_checkpoint(audited.datastore, audited.key)
    audited.tamper("DELETE FROM {chain}")

    audited.store.ledger(individual_secret=TEST_SECRET).close()

    assert audited.query("SELECT count(*) FROM {c}", c="sipledger_chain") == [(0,)]
    report = verify(audited.datastore, [audited.key.public_key])
    assert (report.first.position, report.first.kind) == (1, "unchained")


@pytest.mark.parametrize("table", ["sipledger_chain", "sipledger_checkpoints"])
@pytest.mark.parametrize("change", ["UPDATE {} SET {} = {}", "DELETE FROM {}", "TRUNCATE {}"])
def test_the_chain_and_checkpoints_are_append_only(
    audited: Audited, table: str, change: str
) -> None:
    write_cases(audited.ledger, 1)
    write_checkpoint(audited.datastore, audited.key)
    column = "hash" if table == "sipledger_chain" else "chain_hash"
    with audited.store.connect(autocommit=True) as conn:
        statement = SQL(change).format(audited.table(table), Identifier(column),
                                       Identifier(column))
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(statement)


def test_two_ledgers_on_one_store_share_one_chain(fresh_store: Store) -> None:
    one = fresh_store.ledger(individual_secret=TEST_SECRET)
    two = fresh_store.ledger(individual_secret=TEST_SECRET, cache_size=0)
    datastore = fresh_store.datastore()
    try:
        for _ in range(3):
            write_cases(one, 1)
            write_cases(two, 1)
        assert verify(datastore, []).events == 18
        assert verify(datastore, []).intact
    finally:
        one.close()
        two.close()
        datastore.close()
