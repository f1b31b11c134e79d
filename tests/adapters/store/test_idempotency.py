"""Idempotency on the real PostgreSQL: a command id is recorded once, whatever happens after.

A repeated command id returns the first result (``replayed=True``) and writes nothing, also after
a restart (the command log lives in the database, not in memory), also when the case has moved on
since, and also when both copies arrive at the same moment. A command id reused for a different
command is refused.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from uuid import UUID

import pytest
from psycopg.sql import SQL, Identifier

from adapters.store import Store
from domain.commands import ClosureReason, RecordClosure, RecordWishes, Wishes
from domain.errors import InvalidInput
from domain.ledger import CommandResult, SipLedger
from tests.conftest import TEST_SECRET
from tests.support.builders import KOMMUN, REGION, actor, consent, propose

pytestmark = pytest.mark.store

COORDINATOR = actor(KOMMUN)


@pytest.fixture
def own_ledger(fresh_store: Store) -> Iterator[SipLedger]:
    """A ledger on an empty schema of its own, so whole-log counts mean something."""
    ledger = fresh_store.ledger(individual_secret=TEST_SECRET, pool_size=6)
    yield ledger
    ledger.close()


def events_of(store: Store, originator_id: UUID) -> int:
    with store.connect() as conn:
        row = conn.execute(
            SQL("SELECT count(*) FROM {0}.{1} WHERE originator_id = %s").format(
                Identifier(store.schema), Identifier("sipledger_events")
            ),
            (originator_id,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def all_events(store: Store) -> int:
    with store.connect() as conn:
        row = conn.execute(
            SQL("SELECT count(*) FROM {0}.{1}").format(
                Identifier(store.schema), Identifier("sipledger_events")
            )
        ).fetchone()
    assert row is not None
    return int(row[0])


def same_result(replayed: CommandResult, first: CommandResult) -> None:
    assert replayed.replayed is True
    assert first.replayed is False
    assert replayed.model_dump(exclude={"replayed"}) == first.model_dump(exclude={"replayed"})


def test_a_repeated_proposal_returns_the_first_result_and_writes_nothing(
    own_ledger: SipLedger, fresh_store: Store
) -> None:
    command = propose()
    first = own_ledger.propose(command, COORDINATOR)
    max_id = own_ledger.recorder.max_notification_id()
    total = all_events(fresh_store)

    again = own_ledger.propose(command, COORDINATOR)

    same_result(again, first)
    assert events_of(fresh_store, first.case_id) == 1
    assert all_events(fresh_store) == total
    assert own_ledger.recorder.max_notification_id() == max_id
    assert own_ledger.open_cases_for(command.individual.personal_identity_number) == [
        first.case_id
    ]


def test_a_repeated_case_command_returns_the_first_result_and_writes_nothing(
    own_ledger: SipLedger, fresh_store: Store
) -> None:
    case_id = own_ledger.propose(propose(), COORDINATOR).case_id
    command = RecordWishes(case_id=case_id, wishes=Wishes(place="hemma", longest_minutes=45))
    first = own_ledger.record_wishes(command, COORDINATOR)
    assert first.version == 2
    max_id = own_ledger.recorder.max_notification_id()
    assert first.notification_ids == (max_id,)

    # The state allows the command again, so it is decided again; the command log refuses the
    # second write and the whole transaction, event included, is rolled back.
    again = own_ledger.record_wishes(command, COORDINATOR)

    same_result(again, first)
    assert events_of(fresh_store, case_id) == 2
    assert own_ledger.recorder.max_notification_id() == max_id
    assert own_ledger.get_case(case_id).version == 2


def test_a_repeated_command_still_gets_its_result_after_a_restart(fresh_store: Store) -> None:
    before = fresh_store.ledger(individual_secret=TEST_SECRET)
    try:
        proposal = propose()
        proposed = before.propose(proposal, COORDINATOR)
        wishes = RecordWishes(case_id=proposed.case_id, wishes=Wishes(place="biblioteket"))
        wished = before.record_wishes(wishes, COORDINATOR)
        max_id = before.recorder.max_notification_id()
        total = all_events(fresh_store)
    finally:
        before.close()

    after = fresh_store.ledger(individual_secret=TEST_SECRET)
    try:
        same_result(after.propose(proposal, COORDINATOR), proposed)
        same_result(after.record_wishes(wishes, COORDINATOR), wished)
        assert events_of(fresh_store, proposed.case_id) == 2
        assert all_events(fresh_store) == total
        assert after.recorder.max_notification_id() == max_id
    finally:
        after.close()


def test_a_repeated_command_gets_its_result_even_when_the_case_has_moved_on(
    own_ledger: SipLedger, fresh_store: Store
) -> None:
    case_id = own_ledger.propose(propose(), COORDINATOR).case_id
    own_ledger.record_consent(consent(case_id), COORDINATOR)
    wishes = RecordWishes(case_id=case_id, wishes=Wishes(place="hemma"))
    first = own_ledger.record_wishes(wishes, COORDINATOR)
    for org in (KOMMUN, REGION):
        own_ledger.record_closure(
            RecordClosure(case_id=case_id, reason=ClosureReason.GOALS_MET), actor(org)
        )
    count = events_of(fresh_store, case_id)
    max_id = own_ledger.recorder.max_notification_id()

    # Recording wishes on a closed case is refused (R31), but this is the same command again.
    same_result(own_ledger.record_wishes(wishes, COORDINATOR), first)
    assert events_of(fresh_store, case_id) == count
    assert own_ledger.recorder.max_notification_id() == max_id


def test_a_command_id_reused_for_another_command_is_refused(
    own_ledger: SipLedger, fresh_store: Store
) -> None:
    case_id = own_ledger.propose(propose(), COORDINATOR).case_id
    consent_command = consent(case_id)
    own_ledger.record_consent(consent_command, COORDINATOR)
    max_id = own_ledger.recorder.max_notification_id()
    reused = RecordWishes(
        command_id=consent_command.command_id, case_id=case_id, wishes=Wishes(place="hemma")
    )

    with pytest.raises(InvalidInput) as refused:
        own_ledger.record_wishes(reused, COORDINATOR)

    assert refused.value.field == "command_id"
    assert "record_consent" in str(refused.value)
    assert events_of(fresh_store, case_id) == 2
    assert own_ledger.recorder.max_notification_id() == max_id


def test_a_proposal_id_reused_for_a_case_command_is_refused(
    own_ledger: SipLedger, fresh_store: Store
) -> None:
    proposal = propose()
    case_id = own_ledger.propose(proposal, COORDINATOR).case_id
    max_id = own_ledger.recorder.max_notification_id()
    reused = RecordWishes(
        command_id=proposal.command_id, case_id=case_id, wishes=Wishes(place="hemma")
    )
    with pytest.raises(InvalidInput) as refused:
        own_ledger.record_wishes(reused, COORDINATOR)
    assert refused.value.field == "command_id"
    assert events_of(fresh_store, case_id) == 1
    assert own_ledger.recorder.max_notification_id() == max_id


def test_the_same_proposal_sent_twice_at_once_makes_one_case(
    own_ledger: SipLedger, fresh_store: Store
) -> None:
    rounds = 5
    for _ in range(rounds):
        command = propose()
        barrier = threading.Barrier(2, timeout=30)
        outcomes: list[object] = [None, None]

        def send(i: int, command=command, barrier=barrier, outcomes=outcomes) -> None:
            barrier.wait()
            try:
                outcomes[i] = own_ledger.propose(command, COORDINATOR)
            except Exception as e:  # noqa: BLE001 - inspected below
                outcomes[i] = e

        threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        a, b = outcomes
        assert isinstance(a, CommandResult) and isinstance(b, CommandResult), outcomes
        first, replayed = (a, b) if b.replayed else (b, a)
        same_result(replayed, first)
        assert events_of(fresh_store, first.case_id) == 1
        assert own_ledger.open_cases_for(command.individual.personal_identity_number) == [
            first.case_id
        ]

    with fresh_store.connect() as conn:
        row = conn.execute(
            SQL("SELECT count(*) FROM {0}.{1} WHERE topic LIKE %s").format(
                Identifier(fresh_store.schema), Identifier("sipledger_events")
            ),
            ("%SipProposed",),
        ).fetchone()
    assert row is not None and row[0] == rounds
    # Each proposal: the case's SipProposed and its register's Registered (with the case).
    assert all_events(fresh_store) == rounds * 2

