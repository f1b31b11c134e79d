"""Concurrency on the real PostgreSQL: many writers on one case, and readers of the global log.

What must hold whatever the interleaving:
- a case's versions are consecutive 1..n, no gap, no duplicate;
- with an expected version exactly one writer of a round wins, and every loser is told the real
  current version;
- without one, the ledger decides again on the fresh state, and nothing is lost or doubled: each
  command either lands once (its events in the store, its row in the command log) or is refused
  with a conflict and writes nothing;
- notification ids are handed out in commit order, so a reader tailing the log never meets an id
  lower than one it has already passed, and after the writers stop it has seen every id;
- two processes (two ledgers, each with its own aggregate cache) never act on a stale cached copy:
  a write on one collides and is decided again, a refusal is re-checked on the stored state.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from uuid import UUID

import pytest
from psycopg.sql import SQL, Identifier

from adapters.store import Store
from domain.commands import ClosureReason, RecordClosure, RecordReply, RecordWishes, Reply, Wishes
from domain.errors import VersionConflict
from domain.ledger import CommandResult, SipLedger
from tests.conftest import TEST_SECRET
from tests.support.builders import KOMMUN, REGION, actor, consent, convene, propose

pytestmark = pytest.mark.store

THREADS = 8
# Proposals (each followed by a wishes command) per writer thread in the log-ordering test.
ORDERING_WRITES_PER_WRITER = 20
COORDINATOR = actor(KOMMUN)


# ---------------------------------------------------------------------------- helpers


def run_together(call: Callable[[Any], Any], inputs: Sequence[Any]) -> list[Any]:
    """Run ``call`` on each input in its own thread, all released at once by a barrier.

    Returns one outcome per input, in input order: the return value or the exception raised.
    """
    barrier = threading.Barrier(len(inputs), timeout=60)
    outcomes: list[Any] = [None] * len(inputs)

    def worker(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = call(inputs[i])
        except Exception as e:  # noqa: BLE001 - the test inspects every outcome
            outcomes[i] = e

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
        assert not t.is_alive(), "a writer thread hung"
    return outcomes


def case_rows(store: Store, case_id: UUID) -> list[tuple[int, int]]:
    """(version, notification id) of every stored event of the case, in version order."""
    table = SQL("{0}.{1}").format(Identifier(store.schema), Identifier("sipledger_events"))
    with store.connect() as conn:
        rows = conn.execute(
            SQL(
                "SELECT originator_version, notification_id FROM {0} "
                "WHERE originator_id = %s ORDER BY originator_version"
            ).format(table),
            (case_id,),
        ).fetchall()
    return [(int(v), int(n)) for v, n in rows]


def all_notification_ids(store: Store) -> list[int]:
    table = SQL("{0}.{1}").format(Identifier(store.schema), Identifier("sipledger_events"))
    with store.connect() as conn:
        rows = conn.execute(
            SQL("SELECT notification_id FROM {0} ORDER BY notification_id").format(table)
        ).fetchall()
    return [int(r[0]) for r in rows]


def command_ids_by_version(ledger: SipLedger, case_id: UUID) -> dict[int, UUID]:
    return {e.originator_version: e.command_id for e in ledger.events.get(case_id)}


def convened_case(ledger: SipLedger) -> UUID:
    case_id = ledger.propose(propose(), COORDINATOR).case_id
    ledger.record_consent(consent(case_id), COORDINATOR)
    ledger.convene(convene(case_id), COORDINATOR)
    return case_id


# ---------------------------------------------------------------------------- one case, 8 writers


def test_with_expected_version_exactly_one_writer_wins_each_round(
    ledger: SipLedger, store: Store
) -> None:
    case_id = ledger.propose(propose(), COORDINATOR).case_id
    rounds = 6
    for r in range(rounds):
        read_version = ledger.get_case(case_id).version
        commands = [
            RecordWishes(
                case_id=case_id,
                expected_version=read_version,
                wishes=Wishes(place=f"round {r}, writer {i}"),
            )
            for i in range(THREADS)
        ]
        outcomes = run_together(lambda c: ledger.record_wishes(c, COORDINATOR), commands)

        unexpected = [o for o in outcomes if not isinstance(o, CommandResult | VersionConflict)]
        assert not unexpected, unexpected
        wins = [(c, o) for c, o in zip(commands, outcomes, strict=True)
                if isinstance(o, CommandResult)]
        losses = [(c, o) for c, o in zip(commands, outcomes, strict=True)
                  if isinstance(o, VersionConflict)]
        assert len(wins) == 1, f"round {r}: {len(wins)} winners"
        assert len(losses) == THREADS - 1

        winner, result = wins[0]
        current = ledger.get_case(case_id)
        assert result.version == read_version + 1 == current.version
        assert current.wishes == winner.wishes
        for command, conflict in losses:
            assert conflict.case_id == case_id
            assert conflict.expected_version == read_version
            assert conflict.current_version == current.version
            # A loser wrote nothing, not even a command-log row.
            assert ledger.command_log.find_command(command.command_id) is None

    rows = case_rows(store, case_id)
    assert [v for v, _ in rows] == list(range(1, rounds + 2))
    notification_ids = [n for _, n in rows]
    assert notification_ids == sorted(set(notification_ids))


def test_without_expected_version_every_command_lands_once(
    ledger: SipLedger, store: Store
) -> None:
    case_id = convened_case(ledger)
    setup_version = ledger.get_case(case_id).version
    per_thread = 6
    sent: list[RecordWishes | RecordReply] = []
    successes: dict[UUID, CommandResult] = {}
    conflicts: dict[UUID, VersionConflict] = {}

    def send(command: RecordWishes | RecordReply) -> CommandResult:
        if isinstance(command, RecordWishes):
            return ledger.record_wishes(command, COORDINATOR)
        return ledger.record_reply(command, COORDINATOR)

    for step in range(per_thread):
        commands: list[RecordWishes | RecordReply] = [
            RecordWishes(case_id=case_id, wishes=Wishes(place=f"step {step}, writer {i}"))
            if (i + step) % 2
            else RecordReply(
                case_id=case_id, participant_key="region-vg", reply=Reply.ACCEPTED,
                comment=f"step {step}, writer {i}",
            )
            for i in range(THREADS)
        ]
        sent.extend(commands)
        for command, outcome in zip(commands, run_together(send, commands), strict=True):
            if isinstance(outcome, CommandResult):
                assert not outcome.replayed
                successes[command.command_id] = outcome
            elif isinstance(outcome, VersionConflict):
                # Only after MAX_ATTEMPTS lost races in a row; then nothing was written.
                assert outcome.expected_version is None
                conflicts[command.command_id] = outcome
            else:
                raise AssertionError(f"unexpected outcome {outcome!r}")

    assert len(successes) + len(conflicts) == len(sent) == THREADS * per_thread

    rows = case_rows(store, case_id)
    assert [v for v, _ in rows] == list(range(1, len(rows) + 1)), "gap or duplicate version"
    assert len(rows) == setup_version + len(successes)
    by_version = command_ids_by_version(ledger, case_id)
    written_after_setup = {by_version[v] for v in range(setup_version + 1, len(rows) + 1)}
    assert written_after_setup == set(successes), "a command lost, doubled or not reported"
    notification_of = dict(rows)
    for command_id, result in successes.items():
        assert by_version[result.version] == command_id
        assert result.notification_ids == (notification_of[result.version],)
        recorded = ledger.command_log.find_command(command_id)
        assert recorded is not None and recorded.last_version == result.version
    for command_id in conflicts:
        assert ledger.command_log.find_command(command_id) is None

    # The caller may simply send a refused command again: in the end every command lands.
    for command in sent:
        if command.command_id in conflicts:
            send(command)
    final = command_ids_by_version(ledger, case_id)
    assert {final[v] for v in range(setup_version + 1, len(final) + 1)} == {
        c.command_id for c in sent
    }
    assert sorted(final) == list(range(1, setup_version + len(sent) + 1))


# ---------------------------------------------------------------------------- the global log


def test_notification_ids_follow_commit_order_for_a_live_reader(fresh_store: Store) -> None:
    ledger = fresh_store.ledger(individual_secret=TEST_SECRET, pool_size=12)
    try:
        _check_readers_see_every_id_in_order(ledger, fresh_store)
    finally:
        ledger.close()


def _check_readers_see_every_id_in_order(ledger: SipLedger, store: Store) -> None:
    per_writer = ORDERING_WRITES_PER_WRITER
    # SipProposed, the individual's register (Registered, with the case), WishesRecorded
    events_per_iteration = 3
    expected_total = THREADS * per_writer * events_per_iteration
    writers_done = threading.Event()
    errors: list[BaseException] = []

    # Reader 1: the library's LISTEN/NOTIFY subscription.
    subscribed: list[int] = []
    subscription = ledger.recorder.subscribe(gt=None)

    def follow_subscription() -> None:
        try:
            with subscription:
                for notification in subscription:
                    subscribed.append(notification.id)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    # Reader 2: a poller that re-reads a window below its position on every poll, so an id that
    # became visible only after a higher one had been read (an out-of-commit-order id) is caught.
    polled: list[int] = []
    late: list[tuple[int, int]] = []

    def poll() -> None:
        try:
            seen: set[int] = set()
            last = 0
            while True:
                finished = writers_done.is_set()
                batch = ledger.recorder.select_notifications(max(1, last - 200), 500)
                for n in batch:
                    if n.id in seen:
                        continue
                    if n.id < last:
                        late.append((n.id, last))
                    seen.add(n.id)
                    polled.append(n.id)
                    last = max(last, n.id)
                if len(batch) < 500:  # caught up with what is committed
                    if finished:
                        return
                    time.sleep(0.002)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    def write(writer: int) -> None:
        try:
            for i in range(per_writer):
                case_id = ledger.propose(propose(), COORDINATOR).case_id
                ledger.record_wishes(
                    RecordWishes(case_id=case_id, wishes=Wishes(place=f"{writer}/{i}")),
                    COORDINATOR,
                )
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    readers = [threading.Thread(target=follow_subscription), threading.Thread(target=poll)]
    writers = [threading.Thread(target=write, args=(w,)) for w in range(THREADS)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join(timeout=120)
        assert not t.is_alive(), "a writer hung"
    writers_done.set()
    readers[1].join(timeout=60)

    deadline = time.monotonic() + 30
    while len(subscribed) < expected_total and time.monotonic() < deadline and not errors:
        time.sleep(0.01)
    subscription.stop()
    readers[0].join(timeout=30)
    assert not any(t.is_alive() for t in readers), "a reader hung"
    assert not errors, errors

    stored = all_notification_ids(store)
    assert len(stored) == expected_total
    # No command failed, so no transaction rolled back and the sequence has no holes either.
    assert stored == list(range(stored[0], stored[0] + expected_total))
    for name, seen in (("subscription", subscribed), ("poller", polled)):
        assert all(a < b for a, b in zip(seen, seen[1:], strict=False)), (
            f"{name} saw an id lower than one it had already seen"
        )
        assert seen == stored, f"{name} missed ids: {sorted(set(stored) - set(seen))[:10]}"
    assert not late, f"ids committed after a higher id had been read: {late[:10]}"


def test_case_and_register_versions_stay_consecutive_under_concurrent_proposals(
    fresh_store: Store,
) -> None:
    """Writers racing on the same individual's register: R09 speaks, nothing is doubled."""
    ledger = fresh_store.ledger(individual_secret=TEST_SECRET, pool_size=10)
    try:
        first = propose()
        outcomes = run_together(
            lambda cmd: ledger.propose(cmd, COORDINATOR),
            [first] + [
                propose(individual=first.individual) for _ in range(THREADS - 1)
            ],
        )
        wins = [o for o in outcomes if isinstance(o, CommandResult)]
        assert len(wins) == 1, outcomes
        refusals = [o for o in outcomes if not isinstance(o, CommandResult)]
        assert all(getattr(o, "rule", None) == "R09" for o in refusals), refusals
        pin = first.individual.personal_identity_number
        assert ledger.open_cases_for(pin) == [wins[0].case_id]
        with fresh_store.connect() as conn:
            counts = conn.execute(
                SQL(
                    "SELECT originator_id, count(*), max(originator_version) FROM {0}.{1} "
                    "GROUP BY originator_id"
                ).format(Identifier(fresh_store.schema), Identifier("sipledger_events"))
            ).fetchall()
        # One case (1 event) and one register (Registered, with the case), nothing else.
        assert sorted((c, m) for _, c, m in counts) == [(1, 1), (1, 1)]
    finally:
        ledger.close()


# ---------------------------------------------------------------------------- two processes
#
# Two ledgers on one store stand for two processes (the HTTP service and a CLI, say). Each keeps
# its own aggregate cache, so each can hold a copy the other has moved on from.


@pytest.fixture
def two_ledgers(fresh_store: Store) -> Iterator[tuple[SipLedger, SipLedger]]:
    here = fresh_store.ledger(individual_secret=TEST_SECRET)
    there = fresh_store.ledger(individual_secret=TEST_SECRET)
    assert here.repository.cache is not None, "these tests are about the aggregate cache"
    yield here, there
    here.close()
    there.close()


def test_a_write_on_a_stale_cached_case_is_decided_again(
    two_ledgers: tuple[SipLedger, SipLedger], fresh_store: Store
) -> None:
    here, there = two_ledgers
    case_id = here.propose(propose(), COORDINATOR).case_id  # cached here at version 1
    there.record_wishes(RecordWishes(case_id=case_id, wishes=Wishes(place="a")), COORDINATOR)

    plain = here.record_wishes(RecordWishes(case_id=case_id, wishes=Wishes(place="b")), COORDINATOR)
    assert plain.version == 3
    # The caller read version 3 (from either process); a stale copy here must not refuse it.
    there.record_wishes(RecordWishes(case_id=case_id, wishes=Wishes(place="c")), COORDINATOR)
    read = there.get_case(case_id).version
    expected = here.record_wishes(
        RecordWishes(case_id=case_id, expected_version=read, wishes=Wishes(place="d")),
        COORDINATOR,
    )
    assert expected.version == read + 1 == 5
    assert [v for v, _ in case_rows(fresh_store, case_id)] == [1, 2, 3, 4, 5]
    assert here.get_case(case_id).wishes == Wishes(place="d")
    assert there.get_case(case_id).wishes == Wishes(place="d")


def test_a_refusal_is_never_given_on_a_stale_cached_case(
    two_ledgers: tuple[SipLedger, SipLedger],
) -> None:
    here, there = two_ledgers
    case_id = here.propose(propose(), COORDINATOR).case_id  # cached here without consent
    there.record_consent(consent(case_id), COORDINATOR)

    # On the cached copy there is no consent (R10); on the stored state there is.
    result = here.convene(convene(case_id), COORDINATOR)
    assert result.version == 3
    assert here.get_case(case_id).current_meeting is not None


def test_a_stale_cached_register_is_not_trusted_when_a_case_ends(
    two_ledgers: tuple[SipLedger, SipLedger],
) -> None:
    here, there = two_ledgers
    first = propose()
    pin = first.individual.personal_identity_number
    kept = here.propose(first, COORDINATOR).case_id  # the register is cached here: [kept]
    ended = there.propose(
        propose(individual=first.individual, acknowledged_open_case_ids=(kept,)), COORDINATOR
    ).case_id
    assert there.open_cases_for(pin) == [kept, ended]

    for org in (KOMMUN, REGION):
        here.record_closure(
            RecordClosure(case_id=ended, reason=ClosureReason.COORDINATION_NOT_NEEDED),
            actor(org),
        )

    assert here.get_case(ended).is_ended
    assert there.open_cases_for(pin) == [kept]
    assert here.open_cases_for(pin) == [kept]
