"""Bulk mode for ``sip-ledger demo --bulk``: the same stories, many commands per transaction.

The normal path saves one command per transaction, with its command-log row (bench figure
``sip_commands_per_s``); a benchmark wants millions of events. ``BulkLedger`` offers the
SipLedger methods the demo's CaseWriter calls and decides each command with the very functions
SipLedger uses (``decide_proposal``, ``decide_on_case``: the same SipCase rules, the same R09
register), but keeps the aggregates in memory and saves a batch of whole stories at a time
through the library's own insert path (``ledger.save``), one transaction per batch.

For benchmark and demo loads only:

* no command-log rows are written, so commands are not idempotent: a repeated command id is
  decided again, not answered with its first result;
* results carry no notification ids (there are none before the batch is saved); ``flush`` saves
  what is pending, ``events_written`` counts the cases' events saved (as a command's result
  reports them);
* a refused command changes nothing (as in SipLedger); ``run_demo`` stops at the first refusal,
  and what was decided since the last save is then not written;
* run it on a store nobody else writes to meanwhile: a concurrent write to a register or case
  fails the whole save on the event table's primary key, it is not decided again.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from domain.case import SipCase
from domain.commands import (
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
from domain.context import Context
from domain.decisions import CaseMethod, decide_on_case, decide_proposal
from domain.identity import individual_key, normalise_personal_identity_number
from domain.individual import IndividualCases
from domain.ledger import CommandResult, SipLedger
from domain.parties import Actor

# A save is one transaction of whole stories, made once this many events are pending (so it holds
# at most one story more, ~25 events). Small on purpose: psycopg 3.3's Pipeline.sync(), which the
# library's insert path calls, stops sending once its commands are queued and waits for results,
# so an insert larger than the socket buffers hangs for good (server: active, ClientRead). On the
# embedded server's Unix socket here that starts at ~450 events of ~1 kB (a ~0.9 MB message);
# over TCP at ~5,000. Larger saves were no faster: 50 to 4,000 events per save gave the same rate.
MAX_EVENTS_PER_SAVE = 100


class BulkLedger:
    """Decides commands like SipLedger, on aggregates held in memory until the next save."""

    def __init__(
        self,
        ledger: SipLedger,
        *,
        max_events_per_save: int = MAX_EVENTS_PER_SAVE,
    ) -> None:
        self.ledger = ledger
        self.max_events_per_save = max_events_per_save
        self.events_written = 0
        # What this batch decided on: cases, and registers by id (None: known not to exist).
        self._cases: dict[UUID, SipCase] = {}
        self._registers: dict[UUID, IndividualCases | None] = {}
        # Pending events per aggregate as last counted, so the batch's total is kept cheaply.
        self._counted: dict[UUID, int] = {}
        self._pending_events = 0
        # On a store that held no register when the load began (the usual benchmark load), only
        # registers this load saved can be in the store: a new individual then costs no round
        # trip (one per case otherwise, ~15 % of the load's time).
        # The @event decorator makes the Registered class at import: no type checker sees it.
        registered = get_topic(IndividualCases.Registered)  # type: ignore[attr-defined]
        self._store_had_registers = bool(
            ledger.recorder.select_notifications(None, 1, topics=[registered])
        )
        self._saved_registers: set[UUID] = set()

    # ------------------------------------------------------------------ the commands

    def propose(self, cmd: ProposeSip, actor: Actor) -> CommandResult:
        # Save between stories rather than in the middle of one; any point would do.
        if self._pending_events >= self.max_events_per_save:
            self.flush()
        ctx = self._context(cmd, actor)
        case, aggregates = decide_proposal(cmd, ctx, self._register, self.ledger.individual_secret)
        return self._kept(case, aggregates)

    def decline(self, cmd: DeclineSip, actor: Actor) -> CommandResult:
        return self._on_case(cmd, actor, SipCase.decline)

    def record_consent(self, cmd: RecordConsent, actor: Actor) -> CommandResult:
        return self._on_case(cmd, actor, SipCase.record_consent)

    def withdraw_consent(self, cmd: WithdrawConsent, actor: Actor) -> CommandResult:
        return self._on_case(cmd, actor, SipCase.withdraw_consent)

    def record_wishes(self, cmd: RecordWishes, actor: Actor) -> CommandResult:
        return self._on_case(cmd, actor, SipCase.record_wishes)

    def convene(self, cmd: ConveneMeeting, actor: Actor) -> CommandResult:
        return self._on_case(cmd, actor, SipCase.convene)

    def record_reply(self, cmd: RecordReply, actor: Actor) -> CommandResult:
        return self._on_case(cmd, actor, SipCase.record_reply)

    def establish_plan(self, cmd: EstablishPlan, actor: Actor) -> CommandResult:
        return self._on_case(cmd, actor, SipCase.establish_plan)

    def record_follow_up(self, cmd: RecordFollowUp, actor: Actor) -> CommandResult:
        return self._on_case(cmd, actor, SipCase.record_follow_up)

    def issue_plan_copy(self, cmd: IssuePlanCopy, actor: Actor) -> CommandResult:
        return self._on_case(cmd, actor, SipCase.issue_plan_copy)

    def record_closure(self, cmd: RecordClosure, actor: Actor) -> CommandResult:
        return self._on_case(cmd, actor, SipCase.record_closure)

    def correct_entry(self, cmd: CorrectEntry, actor: Actor) -> CommandResult:
        return self._on_case(cmd, actor, SipCase.correct_entry)

    def place_legal_hold(self, cmd: PlaceLegalHold, actor: Actor) -> CommandResult:
        return self._on_case(cmd, actor, SipCase.place_legal_hold)

    def lift_legal_hold(self, cmd: LiftLegalHold, actor: Actor) -> CommandResult:
        return self._on_case(cmd, actor, SipCase.lift_legal_hold)

    def erase_personal_data(self, cmd: ErasePersonalData, actor: Actor) -> CommandResult:
        """Not batched: an erasure destroys the case's data keys once its event is recorded
        (R34), which a batch saved later cannot promise. What is pending is saved first, then
        the erasure goes through SipLedger's own path."""
        self.flush()
        return self.ledger.erase_personal_data(cmd, actor)

    # ------------------------------------------------------------------ the query the demo uses

    def open_cases_for(self, personal_identity_number: str) -> list[UUID]:
        """As SipLedger's, but seeing what this batch decided and has not saved yet."""
        register = self._register(normalise_personal_identity_number(personal_identity_number))
        return list(register.open_case_ids) if register else []

    # ------------------------------------------------------------------ saving

    def flush(self) -> int:
        """Save everything decided since the last save in one transaction; return the count."""
        pending = [
            aggregate
            for aggregate in (*self._cases.values(), *self._registers.values())
            if aggregate is not None and aggregate.pending_events
        ]
        try:
            recordings = self.ledger.save(*pending) if pending else []
            # The cases' events, as a command's result counts them (a register's are not the
            # command's to report: domain/ledger.py).
            registers = {a.id for a in pending if isinstance(a, IndividualCases)}
            written = sum(1 for r in recordings if r.domain_event.originator_id not in registers)
            self._saved_registers.update(registers)
        finally:
            # Forget the batch, saved or not (a save takes the pending events off the
            # aggregates even when it fails): what a later command needs is read back from the
            # store, so memory holds one batch (and the saved register ids) however many cases
            # are loaded.
            self._cases.clear()
            self._registers.clear()
            self._counted.clear()
            self._pending_events = 0
        self.events_written += written
        return written

    # ------------------------------------------------------------------ helpers

    def _context(self, cmd: Command, actor: Actor) -> Context:
        ctx = Context(
            actor=actor, now=self.ledger.clock(), command_id=cmd.command_id,
            occurred_at=cmd.occurred_at,
        )
        ctx.check_occurred_at()
        return ctx

    def _on_case(self, cmd: CaseCommand, actor: Actor, method: CaseMethod) -> CommandResult:
        ctx = self._context(cmd, actor)
        case = self._cases.get(cmd.case_id)
        if case is None:
            # A case from an earlier batch or run: as recorded in the store (raises CaseNotFound).
            case = self._cases[cmd.case_id] = self.ledger.get_case(cmd.case_id)
        return self._kept(case, decide_on_case(case, cmd, ctx, method, self._register))

    def _register(self, pin: str) -> IndividualCases | None:
        """The individual's register: this batch's copy, else the store's (read once a batch)."""
        register_id = IndividualCases.create_id(individual_key(pin, self.ledger.individual_secret))
        if register_id not in self._registers:
            in_store = self._store_had_registers or register_id in self._saved_registers
            self._registers[register_id] = self.ledger.stored_register(pin) if in_store else None
        return self._registers[register_id]

    def _kept(self, case: SipCase, aggregates: list[Aggregate]) -> CommandResult:
        for aggregate in aggregates:
            if isinstance(aggregate, IndividualCases):
                self._registers[aggregate.id] = aggregate  # a new one replaces "none yet"
            else:
                assert isinstance(aggregate, SipCase)  # a command saves cases and registers
                self._cases[aggregate.id] = aggregate
            count = len(aggregate.pending_events)
            self._pending_events += count - self._counted.get(aggregate.id, 0)
            self._counted[aggregate.id] = count
        # Known-good values: skip pydantic's validation, a noticeable cost per command here.
        return CommandResult.model_construct(
            case_id=case.id, version=case.version, notification_ids=(), replayed=False
        )
