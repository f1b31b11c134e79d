"""The application service: one method per SIP command, on top of eventsourcing.Application.

Every command runs the same way (``_execute``): decide on the current state, then save the new
events together with a row in the command log, all in one transaction. The command log makes a
repeated command id return the first result and write nothing, also after a restart; optimistic
concurrency comes from the event table's primary key (case id, version).

Commands may decide on cached aggregates (the library's aggregate cache, when the environment
turns it on, without fast-forwarding). A cached copy can be stale when another process wrote, and
that is safe here: a decision that writes on stale state collides on the primary key, and the
copies are then evicted and the command decided again on state read from the store; a refusal is
never given on a cached copy alone, it is decided once more from the store first. The queries
(``get_case``, ``open_cases_for``) always read from the store.

Snapshots (the library's, issue 5): the ledger takes a snapshot of a case every
``SNAPSHOT_INTERVAL`` versions, right after the command's transaction (``snapshotting_intervals``;
the library keeps them in ``sipledger_snapshots`` through the same mapper as the events), and the
repository then starts a case from the latest snapshot at or below the version asked for and
replays only the events after it. ``domain.case.CaseSnapshot`` restores exactly the aggregate a
replay gives (tests/domain/test_snapshots.py, tests/adapters/store/test_snapshots.py), so commands
may be decided on it too. Snapshots are derived data: one that cannot be taken is logged and left
out, never failing the committed command, and one that cannot be read or restored is logged and
the case replayed from its events alone; either way only the read is slower.

Beside this module: the command log it writes through (domain/command_log.py), how a command is
decided on aggregates (domain/decisions.py) and the repository that replays past a snapshot it
cannot use (domain/repository.py).
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
    Repository,
)
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Mapper
from eventsourcing.utils import strtobool

from . import retention
from .case import SipCase
from .clock import utc_now
from .command_log import CommandEntry, CommandLog
from .commands import (
    CaseCommand,
    Command,
    ConveneMeeting,
    CorrectEntry,
    DeclineSip,
    ErasePersonalData,
    EstablishPlan,
    IssuePlanCopy,
    LiftLegalHold,
    PlaceLegalHold,
    ProposeSip,
    RecordClosure,
    RecordConsent,
    RecordFollowUp,
    RecordReply,
    RecordWishes,
    WithdrawConsent,
)
from .context import Context
from .decisions import CaseMethod, decide_on_case, decide_proposal
from .errors import CaseNotFound, InvalidInput, RuleViolation, SipError, VersionConflict
from .identity import individual_key, normalise_personal_identity_number
from .individual import IndividualCases
from .parties import Actor, Frozen, Role
from .personal import Sealer
from .repository import SnapshotTolerantRepository, not_snapshotted
from .retention import DEFAULT_RETENTION_POLICY, RetentionStatus, retention_policy
from .rules.correction import Entry, entry_of
from .rules.retention import check_role
from .transcodings import SealingMapper, register_sip_transcodings

# A command that loses a race without an expected version is decided again on the fresh state;
# after this many losses in a row the caller gets the conflict. 10 with a small random pause:
# eight writers released at once on one case then all land (measured: 5 attempts left ~30 % of
# them in conflict, 10 none).
MAX_ATTEMPTS = 10
RETRY_PAUSE_S = 0.002

# A snapshot of a case every this many versions: an as-of read or a command's read of an uncached
# case then replays at most this many events after the snapshot (what that costs: bench figures
# `as_of_500_events_snapshots_p95_ms` against `as_of_500_events_p95_ms`, tests/benchmarks/as_of.py),
# and a command whose events cross a multiple of it pays one read
# of up to this many events and one insert after its transaction.
SNAPSHOT_INTERVAL = 100

log = logging.getLogger(__name__)


class CommandResult(Frozen):
    case_id: UUID
    version: int
    notification_ids: tuple[int, ...]
    # True when the command id had been recorded before and nothing new was written.
    replayed: bool = False

    @property
    def last_notification_id(self) -> int | None:
        return max(self.notification_ids) if self.notification_ids else None


class SipLedger(Application[UUID]):
    name = "SipLedger"
    # The library turns snapshotting on for these (IS_SNAPSHOTTING_ENABLED=n in the environment
    # turns it off: no snapshots taken or read); the register (IndividualCases) is not snapshotted.
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {SipCase: SNAPSHOT_INTERVAL}

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        individual_secret: bytes,
        clock: Callable[[], datetime] = utc_now,
        keys: Sealer | None,
    ) -> None:
        # The data keys (domain/personal.py) personal values are sealed under; set before the
        # library builds its mapper. None only for a benchmark's baseline: nothing is sealed.
        self.keys = keys
        super().__init__(env)
        if not isinstance(self.recorder, CommandLog):
            raise TypeError(
                "SipLedger needs a recorder with a command log "
                "(set APPLICATION_RECORDER_TOPIC to adapters.store.recorder:SipRecorder)"
            )
        self.command_log: CommandLog = self.recorder
        self.individual_secret = individual_secret
        self.clock = clock

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_sip_transcodings(transcoder, self.keys)

    def construct_mapper(self) -> Mapper[UUID]:
        """The library's mapper, sealing personal data per data subject (domain/personal.py)."""
        if self.keys is None:
            return super().construct_mapper()
        return SealingMapper(self.construct_transcoder(), self.keys)

    def close(self) -> None:
        super().close()
        close_keys = getattr(self.keys, "close", None)
        if close_keys is not None:
            close_keys()

    # ------------------------------------------------------------------ snapshots

    def construct_repository(self) -> Repository[UUID]:
        """As the library's, with a repository that replays when a snapshot cannot be used."""
        cache_maxsize = self.env.get(self.AGGREGATE_CACHE_MAXSIZE)
        return SnapshotTolerantRepository(
            event_store=self.events,
            snapshot_store=self.snapshots,
            cache_maxsize=int(cache_maxsize) if cache_maxsize else None,
            fastforward=strtobool(self.env.get(self.AGGREGATE_CACHE_FASTFORWARD, "y")),
            fastforward_skipping=strtobool(
                self.env.get(self.AGGREGATE_CACHE_FASTFORWARD_SKIPPING, "n")
            ),
            deepcopy_from_cache=strtobool(self.env.get(self.DEEPCOPY_FROM_AGGREGATE_CACHE, "y")),
        )

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """The library's, called by ``save`` once the events are committed; a snapshot that
        fails is logged and left out, for the command has been recorded (a missing snapshot
        only makes reading the case slower)."""
        try:
            super()._take_snapshots(processing_event)
        except Exception:
            log.warning(
                "snapshot of %s not taken; the command is recorded, reads replay more events",
                ", ".join(str(i) for i in processing_event.aggregates),
                exc_info=True,
            )

    # ------------------------------------------------------------------ commands

    def propose(self, cmd: ProposeSip, actor: Actor) -> CommandResult:
        def decide(ctx: Context) -> tuple[SipCase, list[Aggregate]]:
            return decide_proposal(cmd, ctx, self._register, self.individual_secret)

        return self._execute("propose", cmd, actor, decide)

    def decline(self, cmd: DeclineSip, actor: Actor) -> CommandResult:
        return self._on_case("decline", cmd, actor, SipCase.decline)

    def record_consent(self, cmd: RecordConsent, actor: Actor) -> CommandResult:
        return self._on_case("record_consent", cmd, actor, SipCase.record_consent)

    def withdraw_consent(self, cmd: WithdrawConsent, actor: Actor) -> CommandResult:
        return self._on_case("withdraw_consent", cmd, actor, SipCase.withdraw_consent)

    def record_wishes(self, cmd: RecordWishes, actor: Actor) -> CommandResult:
        return self._on_case("record_wishes", cmd, actor, SipCase.record_wishes)

    def convene(self, cmd: ConveneMeeting, actor: Actor) -> CommandResult:
        return self._on_case("convene", cmd, actor, SipCase.convene)

    def record_reply(self, cmd: RecordReply, actor: Actor) -> CommandResult:
        return self._on_case("record_reply", cmd, actor, SipCase.record_reply)

    def establish_plan(self, cmd: EstablishPlan, actor: Actor) -> CommandResult:
        return self._on_case("establish_plan", cmd, actor, SipCase.establish_plan)

    def record_follow_up(self, cmd: RecordFollowUp, actor: Actor) -> CommandResult:
        return self._on_case("record_follow_up", cmd, actor, SipCase.record_follow_up)

    def issue_plan_copy(self, cmd: IssuePlanCopy, actor: Actor) -> CommandResult:
        return self._on_case("issue_plan_copy", cmd, actor, SipCase.issue_plan_copy)

    def record_closure(self, cmd: RecordClosure, actor: Actor) -> CommandResult:
        return self._on_case("record_closure", cmd, actor, SipCase.record_closure)

    def correct_entry(self, cmd: CorrectEntry, actor: Actor) -> CommandResult:
        def correct(case: SipCase, cmd: CorrectEntry, ctx: Context) -> None:
            # R32: a correction of fields reads the entry it corrects from the case's own log.
            case.correct_entry(cmd, ctx, entries=lambda version: self._entry(case.id, version))

        return self._on_case("correct_entry", cmd, actor, correct)

    def _entry(self, case_id: UUID, version: int) -> Entry | None:
        """The case's entry at ``version`` as recorded, or None if it has none."""
        for recorded in self.events.get(case_id, gt=version - 1, lte=version):
            return entry_of(recorded)
        return None

    # ------------------------------------------------------------------ retention (R34)

    def place_legal_hold(self, cmd: PlaceLegalHold, actor: Actor) -> CommandResult:
        return self._on_case("place_legal_hold", cmd, actor, SipCase.place_legal_hold)

    def lift_legal_hold(self, cmd: LiftLegalHold, actor: Actor) -> CommandResult:
        return self._on_case("lift_legal_hold", cmd, actor, SipCase.lift_legal_hold)

    def erase_personal_data(self, cmd: ErasePersonalData, actor: Actor) -> CommandResult:
        """Record the erasure of a case's personal data (R34), then destroy its data keys.

        Two stores, two steps, in this order: the event first (naming the data subjects whose
        keys are live), then the keys (``keys.destroy_case``, idempotent). A crash between the
        two leaves an erased case whose keys survive; erasing it again, under any command id,
        only finishes the destruction and returns the recorded erasure, writing nothing new
        (``_finish_erasure``). A repeat once the keys are gone gets the first result for the
        same command id, and is refused (R34: already erased) under another.
        """
        check_role(actor, Role.ARCHIVIST, "erasing personal data")
        case = self.get_case(cmd.case_id)
        if case.erasure is not None and self.keys is not None and self.keys.has_live_keys(case.id):
            return self._finish_erasure(cmd, case)
        subjects = tuple(self.keys.live_subjects(case.id)) if self.keys is not None else ()
        if self.keys is not None and case.erasure is None and not subjects:
            # Every sealed case has its individual's key: none means the case was recorded
            # before personal data was sealed (an earlier release), in clear, and destroying
            # keys would erase nothing while the event said it had.
            raise RuleViolation(
                "the case's personal data was recorded in clear by an earlier release, before "
                "it was sealed per data subject: destroying keys cannot erase it (a decided "
                "migration is needed: adapters/store/README.md)",
                field="case_id", rule="R34",
            )

        def erase(case: SipCase, cmd: ErasePersonalData, ctx: Context) -> None:
            case.erase_personal_data(cmd, ctx, subjects)

        result = self._on_case("erase_personal_data", cmd, actor, erase)
        if self.keys is not None:
            erasure = self.get_case(cmd.case_id).erasure
            assert erasure is not None  # recorded now, or by the command this one repeats
            self.keys.destroy_case(cmd.case_id, erasure.on, erasure.decision)
        # No copy of the case with its personal data in clear stays in the aggregate cache.
        self._forget(cmd.case_id)
        return result

    def _finish_erasure(self, cmd: ErasePersonalData, case: SipCase) -> CommandResult:
        """The second step of an erasure recorded earlier whose keys survived (a crash between
        the steps): destroy them, by the recorded day and decision, and write nothing."""
        erasure = case.erasure
        assert self.keys is not None and erasure is not None
        self.keys.destroy_case(case.id, erasure.on, erasure.decision)
        self._forget(case.id)
        prior = self._prior_result("erase_personal_data", cmd)
        if prior is not None:
            return prior
        # Nothing is recorded on a case after its erasure: its version is the erasure's.
        return CommandResult(case_id=case.id, version=case.version, notification_ids=(),
                             replayed=True)

    # ------------------------------------------------------------------ queries

    def get_case(self, case_id: UUID, version: int | None = None) -> SipCase:
        """The case as recorded in the store now (or at ``version``), never a cached copy."""
        if version is None:
            self._forget(case_id)
        return self._case(case_id, version)

    def _case(self, case_id: UUID, version: int | None = None) -> SipCase:
        """The case for a decision: from the aggregate cache when there is one."""
        try:
            case: object = self.repository.get(case_id, version=version)
        except AggregateNotFoundError:
            raise CaseNotFound(case_id) from None
        if not isinstance(case, SipCase):
            raise CaseNotFound(case_id)
        return case

    def retention_status(
        self, case_id: UUID, as_of: date, policy_id: str | None = None
    ) -> RetentionStatus:
        """Whether the case's personal data falls due on ``as_of`` (R34), read from the store
        (the birth day from its personal identity number), under ``policy_id`` or the
        default policy."""
        policy = retention_policy(policy_id or DEFAULT_RETENTION_POLICY)
        return retention.retention_status(self.get_case(case_id), policy, as_of)

    def open_cases_for(self, personal_identity_number: str) -> list[UUID]:
        register = self.stored_register(personal_identity_number)
        return list(register.open_case_ids) if register else []

    def stored_register(self, personal_identity_number: str) -> IndividualCases | None:
        """The individual's register (R09) as recorded in the store now, or None if none."""
        pin = normalise_personal_identity_number(personal_identity_number)
        return self._register(pin, fresh=True)

    # ------------------------------------------------------------------ the one command path

    def _on_case(
        self,
        name: str,
        cmd: CaseCommand,
        actor: Actor,
        method: CaseMethod,
    ) -> CommandResult:
        def decide(ctx: Context) -> tuple[SipCase, list[Aggregate]]:
            case = self._case(cmd.case_id)
            # Read the register fresh: a stale copy could miss the case and skip this write
            # unnoticed.
            return case, decide_on_case(
                case, cmd, ctx, method, lambda pin: self._register(pin, fresh=True)
            )

        return self._execute(name, cmd, actor, decide)

    def _execute(
        self,
        name: str,
        cmd: Command,
        actor: Actor,
        decide: Callable[[Context], tuple[SipCase, Sequence[Aggregate]]],
    ) -> CommandResult:
        refreshed = False
        for attempt in range(MAX_ATTEMPTS):
            ctx = Context(
                actor=actor, now=self.clock(), command_id=cmd.command_id,
                occurred_at=cmd.occurred_at,
            )
            try:
                ctx.check_occurred_at()
                case, aggregates = decide(ctx)
            except SipError:
                # A repeated command may no longer be allowed on today's state (the case has
                # moved on); it still gets its first result.
                if (prior := self._prior_result(name, cmd)) is not None:
                    return prior
                # Never refuse on a cached copy alone: decide once more on the stored state.
                if not refreshed and self._forget_state_of(cmd):
                    refreshed = True
                    continue
                raise
            entry = CommandEntry(command_id=cmd.command_id, command=name, case_id=case.id)
            try:
                recordings = self.save(*aggregates, command=entry)
            except IntegrityError:
                # Someone else wrote first, so any cached copies of these are stale.
                self._forget(*(aggregate.id for aggregate in aggregates))
                if (prior := self._prior_result(name, cmd)) is not None:
                    return prior
                if isinstance(cmd, CaseCommand) and cmd.expected_version is not None:
                    raise VersionConflict(
                        case.id, cmd.expected_version, self._current_version(case.id)
                    ) from None
                # Someone else wrote first (to this case, or for a proposal to the same
                # individual's register): decide again on the fresh state, where R09 speaks.
                # The random pause keeps the losers of one race from colliding again at once.
                time.sleep(random.uniform(0, RETRY_PAUSE_S * (attempt + 1)))
                continue
            case_events = [r for r in recordings if r.domain_event.originator_id == case.id]
            return CommandResult(
                case_id=case.id,
                version=case_events[-1].domain_event.originator_version,
                # The case's own events: the command log keeps no other aggregate's (see
                # adapters/store/recorder.py), so a repeat gives the same ids.
                notification_ids=tuple(r.notification.id for r in case_events),
            )
        current = self._current_version(cmd.case_id) if isinstance(cmd, CaseCommand) else 0
        case_id = cmd.case_id if isinstance(cmd, CaseCommand) else UUID(int=0)
        raise VersionConflict(case_id, None, current)

    def _prior_result(self, name: str, cmd: Command) -> CommandResult | None:
        prior = self.command_log.find_command(cmd.command_id)
        if prior is None:
            return None
        if prior.command != name:
            # Names the earlier command's kind and nothing of its case (no personal data, R35);
            # over HTTP a non-party's reused key on a case is refused before it gets here.
            raise InvalidInput(
                f"command id {cmd.command_id} was already used for {prior.command!r}",
                field="command_id",
            )
        return CommandResult(
            case_id=prior.case_id,
            version=prior.last_version,
            notification_ids=prior.notification_ids,
            replayed=True,
        )

    def _current_version(self, case_id: UUID) -> int:
        return self.get_case(case_id).version

    def _register_id(self, pin: str) -> UUID:
        return IndividualCases.create_id(individual_key(pin, self.individual_secret))

    def _register(self, pin: str, *, fresh: bool = False) -> IndividualCases | None:
        register_id = self._register_id(pin)
        if fresh:
            self._forget(register_id)
        try:
            # Registers are not snapshotted (not in the intervals): look for no snapshot.
            with not_snapshotted():
                register: object = self.repository.get(register_id)
        except AggregateNotFoundError:
            return None
        assert isinstance(register, IndividualCases)
        return register

    # ------------------------------------------------------------------ the aggregate cache

    def _forget(self, *aggregate_ids: UUID) -> bool:
        """Evict aggregates from the cache; True if any was there."""
        cache = self.repository.cache
        forgot = False
        if cache is not None:
            for aggregate_id in aggregate_ids:
                with contextlib.suppress(KeyError):
                    cache.get(aggregate_id, evict=True)
                    forgot = True
        return forgot

    def _forget_state_of(self, cmd: Command) -> bool:
        """Evict what a refused command was decided on; True if any of it came from the cache."""
        if isinstance(cmd, CaseCommand):
            return self._forget(cmd.case_id)
        if isinstance(cmd, ProposeSip):
            try:
                pin = normalise_personal_identity_number(cmd.individual.personal_identity_number)
            except SipError:
                return False
            return self._forget(self._register_id(pin))
        return False
