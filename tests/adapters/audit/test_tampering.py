"""Tampering with the store directly, as its owner would, and ``verify`` naming each with its
position (and case, where the row still says which).

The log: six cases proposed and consented (each proposal also writes the individual's register),
so three aggregates' events interleave; a signed checkpoint at the head. Each test tampers after
that checkpoint was made.
"""

from __future__ import annotations

import pytest

from adapters.audit.chain import GENESIS, canonical_bytes, chain_hash
from adapters.audit.checkpoints import write_checkpoint
from adapters.audit.verify import verify
from tests.support.audit import Audited, new_key, write_cases

pytestmark = pytest.mark.store


@pytest.fixture
def log(audited: Audited) -> Audited:
    write_cases(audited.ledger, 6)
    assert write_checkpoint(audited.datastore, audited.key) is not None
    return audited


def check(log: Audited, **kwargs):
    return verify(log.datastore, [log.key.public_key], **kwargs)


def test_an_intact_log_verifies(log: Audited) -> None:
    report = check(log)
    assert report.intact, report.problems
    assert report.events == log.head() == 18  # 6 x (proposal, register, consent)
    assert report.checkpoints_verified == 1 and report.last_verified_checkpoint == log.head()
    chain = log.query("SELECT hash FROM {c} ORDER BY notification_id DESC LIMIT 1",
                      c="sipledger_chain")
    assert report.chain_head == chain[0][0]


def test_one_byte_changed_in_a_state_is_named_with_its_position_and_case(log: Audited) -> None:
    position = 7
    case_id, version, _, state = log.event(position)
    flipped = bytes([state[20] ^ 0x01])
    log.tamper("UPDATE {events} SET state = overlay(state placing %s from 21 for 1) "
               "WHERE notification_id = %s", params=(flipped, position))
    assert log.event(position)[3] != state

    report = check(log)

    assert not report.intact
    first = report.first
    assert (first.position, first.kind, first.case_id, first.version) == (
        position, "altered", case_id, version)
    # Only that row: the verifier goes on from the stored hash, and the checkpoint still holds.
    assert [p.position for p in report.problems] == [position]
    assert report.checkpoints_verified == 1


def test_a_deleted_row_is_named_with_its_position_and_case(log: Audited) -> None:
    position = 10
    case_id, version, _, _ = log.event(position)
    log.tamper("DELETE FROM {events} WHERE notification_id = %s", params=(position,))

    report = check(log)

    first = report.first
    assert (first.position, first.kind) == (position, "deleted")
    assert (first.case_id, first.version) == (case_id, version)  # from the command log
    assert [p.position for p in report.problems] == [position]


def test_two_swapped_rows_are_both_named(log: Audited) -> None:
    low, high = 4, 9
    moved_to_low = log.event(high)
    log.tamper(
        "UPDATE {events} SET notification_id = -1 WHERE notification_id = %(low)s",
        "UPDATE {events} SET notification_id = %(low)s WHERE notification_id = %(high)s",
        "UPDATE {events} SET notification_id = %(high)s WHERE notification_id = -1",
        params={"low": low, "high": high},
    )

    report = check(log)

    first = report.first
    assert (first.position, first.kind) == (low, "altered")
    assert (first.case_id, first.version) == moved_to_low[:2]  # the row now found there
    assert [p.position for p in report.problems] == [low, high]


def test_a_forged_row_inserted_outside_the_ledger_is_named(log: Audited) -> None:
    case_id, version, topic, state = log.event(3)
    log.tamper("INSERT INTO {events} (originator_id, originator_version, topic, state) "
               "VALUES (%s, %s, %s, %s)", params=(case_id, 99, topic, state))
    forged = log.head()

    report = check(log)

    first = report.first
    assert (first.position, first.kind, first.case_id, first.version) == (
        forged, "unchained", case_id, 99)
    assert [p.position for p in report.problems] == [forged]


def test_a_gap_in_the_notification_ids_is_no_problem_but_a_row_forged_into_it_is(
    audited: Audited,
) -> None:
    """A rolled-back insert leaves a gap in the notification ids; the chain links the events
    around it. An attacker who knows the algorithm fills the gap with an event and a chain row
    hashed from its predecessor: the next event's stored hash was made from the real
    predecessor, so the chain breaks there."""
    write_cases(audited.ledger, 2)
    audited.query("SELECT nextval(pg_get_serial_sequence(%s, 'notification_id'))",
                  (f"{audited.store.schema}.sipledger_events",))
    gap = audited.head() + 1
    write_cases(audited.ledger, 2)
    write_checkpoint(audited.datastore, audited.key)
    assert gap not in [r[0] for r in audited.query("SELECT notification_id FROM {e}",
                                                    e="sipledger_events")]
    assert check(audited).intact

    case_id, _, topic, state = audited.event(3)
    before = audited.query("SELECT hash FROM {c} WHERE notification_id = %s", (gap - 1,),
                           c="sipledger_chain")[0][0]
    audited.tamper(
        "INSERT INTO {events} (originator_id, originator_version, topic, state, notification_id) "
        "VALUES (%s, %s, %s, %s, %s)", params=(case_id, 77, topic, state, gap))
    audited.tamper("INSERT INTO {chain} (notification_id, hash) VALUES (%s, %s)",
                   params=(gap, chain_hash(before, canonical_bytes(case_id, 77, topic, state))))

    report = check(audited)

    assert [(p.position, p.kind) for p in report.problems] == [(gap + 1, "altered")]


def test_an_altered_checkpoint_is_named_with_its_position(log: Audited) -> None:
    position = log.head()
    log.tamper("UPDATE {checkpoints} SET recorded_at = recorded_at - interval '1 day'")

    report = check(log)

    assert (report.first.position, report.first.kind) == (position, "checkpoint signature")
    assert report.checkpoints_verified == 0


def test_a_checkpoint_moved_to_another_hash_is_named(log: Audited) -> None:
    log.tamper("UPDATE {checkpoints} SET chain_hash = %s", params=(bytes(32),))
    assert check(log).first.kind == "checkpoint signature"


def test_a_rewritten_chain_is_caught_by_the_checkpoint(log: Audited) -> None:
    """The attacker changes an event and recomputes every chain row after it: no link breaks,
    but the signed checkpoint no longer matches."""
    position = 5
    log.tamper("UPDATE {events} SET state = overlay(state placing 'X' from 2 for 1) "
               "WHERE notification_id = %s", params=(position,))
    _rechain(log, after=position - 1)
    head = log.head()

    report = check(log)

    assert [(p.position, p.kind) for p in report.problems] == [(head, "checkpoint mismatch")]
    assert "from the start" in report.first.detail


def test_a_truncated_log_is_caught_by_the_checkpoint(log: Audited) -> None:
    head = log.head()
    log.tamper("DELETE FROM {events} WHERE notification_id > %s",
               "DELETE FROM {chain} WHERE notification_id > %s", params=(head - 2,))

    report = check(log)

    assert [(p.position, p.kind) for p in report.problems] == [(head, "truncated")]


def test_deleted_checkpoints_are_caught_by_an_exported_copy(log: Audited) -> None:
    from adapters.audit.checkpoints import read_checkpoints

    copy = read_checkpoints(log.datastore)
    head = log.head()
    log.tamper("DELETE FROM {events} WHERE notification_id > %s",
               "DELETE FROM {chain} WHERE notification_id > %s",
               "DELETE FROM {checkpoints}", params=(head - 2,))
    assert check(log).intact  # what the store alone says: a shorter, consistent log

    report = check(log, exported=copy)

    assert [(p.position, p.kind) for p in report.problems] == [
        (head, "checkpoint missing"), (head, "truncated")]


def test_a_checkpoint_signed_by_an_unknown_key_is_named(log: Audited) -> None:
    write_cases(log.ledger, 1)
    stranger = new_key()
    checkpoint = write_checkpoint(log.datastore, stranger)
    report = check(log)
    assert [(p.position, p.kind) for p in report.problems] == [
        (checkpoint.position, "checkpoint key")]
    assert stranger.key_id in report.first.detail


def test_a_null_state_is_named(log: Audited) -> None:
    log.tamper("UPDATE {events} SET state = NULL WHERE notification_id = 2")
    assert (check(log).first.position, check(log).first.kind) == (2, "malformed")


def test_small_batches_find_the_same(log: Audited) -> None:
    log.tamper("DELETE FROM {events} WHERE notification_id IN (3, 11)")
    log.tamper("UPDATE {events} SET state = overlay(state placing 'X' from 2 for 1) "
               "WHERE notification_id = 16")
    expected = [(3, "deleted"), (11, "deleted"), (16, "altered")]
    for batch_size in (1, 2, 5, 1000):
        report = check(log, batch_size=batch_size)
        assert [(p.position, p.kind) for p in report.problems] == expected, batch_size


def _rechain(log: Audited, *, after: int) -> None:
    """Recompute the chain rows after a position from the events as they now are."""
    rows = log.query("SELECT notification_id, originator_id, originator_version, topic, state "
                     "FROM {e} WHERE notification_id > %s ORDER BY notification_id", (after,),
                     e="sipledger_events")
    previous = log.query("SELECT hash FROM {c} WHERE notification_id = %s", (after,),
                         c="sipledger_chain")
    h = previous[0][0] if previous else GENESIS
    updates = []
    for nid, case_id, version, topic, state in rows:
        h = chain_hash(h, canonical_bytes(case_id, version, topic, bytes(state)))
        updates.append((nid, h))
    for nid, h in updates:
        log.tamper("UPDATE {chain} SET hash = %s WHERE notification_id = %s", params=(h, nid))
