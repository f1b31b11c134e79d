"""The SipCase aggregate: one aggregate per SIP case, one event per SIP action.

Style (as the library's bankaccounts example): a public command method checks the rules against
the current state and the clock, then calls a private ``@event`` method that only changes state.
The private methods run again on replay, so they never look at the clock or raise.
"""

from __future__ import annotations

import copy
from dataclasses import is_dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, CanMutateAggregate, Snapshot, event

from . import deadlines as dl
from .case_state import (
    ENDED_STAGES,
    Closure,
    CorrectedField,
    Correction,
    DeadlineState,
    FollowUp,
    InvitationState,
    Meeting,
    Stage,
)
from .clock import local_date
from .commands import (
    ConsentGiverRole,
    ConveneMeeting,
    CorrectEntry,
    DeclineSip,
    Discharge,
    ErasePersonalData,
    EstablishPlan,
    Individual,
    IssuePlanCopy,
    LiftLegalHold,
    ParticipantRole,
    PlaceLegalHold,
    PlanType,
    PresumedNeedGroup,
    ProposerKind,
    ProposeSip,
    RecordClosure,
    RecordConsent,
    RecordFollowUp,
    RecordReply,
    RecordWishes,
    Reply,
    Trigger,
    Wishes,
    WithdrawConsent,
)
from .consent import Consent, check_consent, consent_from
from .context import Context
from .deadlines import Deadline, DeadlineKind, DeadlinePolicy
from .errors import CaseClosed, InvalidInput, NotAuthorised, RuleViolation
from .identity import age_on
from .parties import Actor, Organisation, OrganisationKind, Role
from .personal import is_erased
from .plan import PlanRevision, check_plan
from .retention import (
    ErasureState,
    ExemptionKind,
    LegalHold,
    retention_policy,
    retention_status,
)
from .rules.closure import check_closure
from .rules.convening import check_convener, check_invitations
from .rules.convening import may_convene as _may_convene
from .rules.correction import (
    CheckedChange,
    Entries,
    Entry,
    as_text,
    check_changes,
    check_consent_dates,
    check_entry_has_fields,
    check_follow_up,
    check_meeting_day,
    check_plan_follow_up,
    item_of,
    kind_of,
    stored_value,
    with_changes,
)
from .rules.plan_copy import check_plan_copy_recipient
from .rules.proposal import check_proposal, proposal_deadlines
from .rules.retention import (
    check_erasure,
    check_may_lift_hold,
    check_may_place_hold,
    check_not_erased,
    check_role,
)
from .snapshot import SnapshotMismatch, check_shape, restore_types

# The events that are no entry in the case file: acts on its retention, which neither start nor
# restart the period they concern (R34).
RETENTION_ACTS = frozenset({"LegalHoldPlaced", "LegalHoldLifted", "PersonalDataErased"})


class SipCase(Aggregate):
    class Event(Aggregate.Event):
        """Every event of a case. Its day is the case's last entry, from which retention counts
        (R34), unless it is a retention act: kept here, after the event's own method, so that no
        event type can forget it (it runs on replay too, and reads only the event)."""

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            on = vars(self).get("on")
            if on is not None and type(self).__name__ not in RETENTION_ACTS:
                # Never earlier than an entry already made: an entry backdated by occurred_at
                # (a correction of something long ago) is still an entry made now.
                previous = getattr(aggregate, "last_entry_on", None)
                aggregate.last_entry_on = on if previous is None else max(previous, on)

    # ------------------------------------------------------------------ proposal (R01–R09, R16)

    @classmethod
    def propose(cls, cmd: ProposeSip, ctx: Context) -> SipCase:
        pin, policy = check_proposal(cmd, ctx.actor, ctx.on)
        deadlines = proposal_deadlines(cmd, policy, ctx.on)
        individual = Individual(
            personal_identity_number=pin,
            name=cmd.individual.name,
            guardians=cmd.individual.guardians,
        )
        return cls(
            individual=individual,
            proposed_by=cmd.proposed_by,
            municipality=cmd.municipality,
            region=cmd.region,
            need_assessed_by=cmd.need_assessed_by,
            triggers=tuple(cmd.triggers),
            presumed_need_groups=tuple(cmd.presumed_need_groups),
            plan_type=cmd.plan_type,
            policy_id=policy.id,
            policy_version=policy.version,
            discharge=cmd.discharge,
            deadlines=deadlines,
            **ctx.event_args(),
        )

    @event("SipProposed")
    def __init__(
        self,
        individual: Individual,
        proposed_by: ProposerKind,
        municipality: Organisation,
        region: Organisation,
        need_assessed_by: OrganisationKind | None,
        triggers: tuple[Trigger, ...],
        presumed_need_groups: tuple[PresumedNeedGroup, ...],
        plan_type: PlanType,
        policy_id: str,
        policy_version: int,
        discharge: Discharge | None,
        deadlines: tuple[Deadline, ...],
        actor: Actor,
        command_id: UUID,
        occurred_at: datetime | None,
        on: date,
    ) -> None:
        self.individual = individual
        self.proposed_by = ProposerKind(proposed_by)
        self.municipality = municipality
        self.region = region
        # R04: one principal's judgement is enough; the duty then lies on both.
        self.need_assessed_by = OrganisationKind(need_assessed_by) if need_assessed_by else None
        self.triggers = tuple(Trigger(t) for t in triggers)
        # R07: for these groups a plan is presumed to be needed.
        # Sealed as the individual's (domain/personal.py): after an erasure, none is known.
        self.presumed_need_groups = tuple(
            PresumedNeedGroup(g) for g in presumed_need_groups if not is_erased(g))
        self.plan_type = PlanType(plan_type)
        self.policy_id = policy_id
        self.policy_version = policy_version
        self.discharge = discharge
        self.proposed_on = on
        self.proposer = actor
        self.stage = Stage.PROPOSED
        self.consents: list[Consent] = []
        self.wishes: Wishes | None = None
        self.meetings: list[Meeting] = []
        self.invitations: dict[str, InvitationState] = {}
        self.contact_person: Actor | None = None
        self.plan_revisions: list[PlanRevision] = []
        self.follow_ups: list[FollowUp] = []
        self.plan_copies: list[tuple[str, ParticipantRole, date]] = []
        self.closures: dict[str, Closure] = {}
        self.corrections: list[Correction] = []
        self.deadlines: dict[str, DeadlineState] = {}
        self._add_deadlines(deadlines)
        # R34: the day of the last entry (kept by SipCase.Event), a legal hold, the erasure.
        self.last_entry_on: date = on
        self.legal_hold: LegalHold | None = None
        self.erasure: ErasureState | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> SipCase:
        """A copy for the aggregate cache, made by knowing the state's shape.

        Everything a case holds is immutable (frozen pydantic values, enums, dates, UUIDs) except
        its lists and dicts, and the small dataclasses inside them. The generic deepcopy walks
        every date and UUID too, which cost more than a database round trip per command.
        """
        clone = copy.copy(self)
        for name, value in vars(self).items():
            if isinstance(value, list):
                setattr(clone, name, list(value))
            elif isinstance(value, dict):
                setattr(
                    clone,
                    name,
                    {k: copy.copy(v) if is_dataclass(v) else v for k, v in value.items()},
                )
        return clone

    # ------------------------------------------------------------------ queries on state

    @property
    def policy(self) -> DeadlinePolicy:
        return dl.policy(self.policy_id, self.policy_version)

    @property
    def principals(self) -> tuple[Organisation, Organisation]:
        return (self.municipality, self.region)

    @property
    def is_ended(self) -> bool:
        return self.stage in ENDED_STAGES

    @property
    def is_open(self) -> bool:
        """R09: an open SIP is one that has not ended (closed or declined) and whose personal
        data has not been erased (R34: an erased case no longer links its individual)."""
        return not self.is_ended and self.erasure is None

    @property
    def current_consent(self) -> Consent | None:
        return self.consents[-1] if self.consents else None

    @property
    def current_plan(self) -> PlanRevision | None:
        return self.plan_revisions[-1] if self.plan_revisions else None

    @property
    def current_meeting(self) -> Meeting | None:
        return self.meetings[-1] if self.meetings else None

    def age_on(self, day: date) -> int:
        return age_on(self.individual.personal_identity_number, day)

    def valid_consent_on(self, day: date) -> Consent | None:
        consent = self.current_consent
        return consent if consent is not None and consent.is_valid_on(day) else None

    def open_deadlines(self) -> list[DeadlineState]:
        return [d for d in self.deadlines.values() if d.is_open]

    # ------------------------------------------------------------------ guards

    def _check_not_ended(self) -> None:
        check_not_erased(self.erasure)  # R34 before all: nothing is added after erasure
        if self.is_ended:
            raise CaseClosed(self.id, self.stage.value)

    def _check_planning_open(self) -> None:
        """After consent is withdrawn or closure begins, planning actions stop (R30)."""
        self._check_not_ended()
        if self.stage is Stage.CLOSING:
            raise RuleViolation(
                "planning has ended for this case; only closure may be recorded",
                field="case_id",
                rule="R30",
            )

    def _require_valid_consent(self, day: date, action: str) -> Consent:
        consent = self.valid_consent_on(day)
        if consent is None:
            raise RuleViolation(
                f"no valid consent on {day.isoformat()}: {action} needs the individual's consent",
                field="consent",
                rule="R10",
            )
        return consent

    # ------------------------------------------------------------------ decline (R15)

    def decline(self, cmd: DeclineSip, ctx: Context) -> None:
        self._check_not_ended()
        if self.consents:
            raise RuleViolation(
                "consent has been given; to stop planning, withdraw the consent instead",
                field="case_id",
                rule="R12",
            )
        self._declined(declined_by=cmd.declined_by, note=cmd.note, **ctx.event_args())

    @event("SipDeclined")
    def _declined(
        self,
        declined_by: ConsentGiverRole,
        note: str,
        actor: Actor,
        command_id: UUID,
        occurred_at: datetime | None,
        on: date,
    ) -> None:
        # R15: the refusal is recorded and the case ends; the person's care is not affected.
        self.stage = Stage.DECLINED
        self.declined_on = on
        self._meet(DeadlineKind.START, on)
        self._cancel_open_deadlines(on)

    # ------------------------------------------------------------------ consent (R10–R13)

    def record_consent(self, cmd: RecordConsent, ctx: Context) -> None:
        self._check_planning_open()
        check_consent(
            cmd,
            age=self.age_on(ctx.on),
            guardians=self.individual.guardians,
            today=ctx.today,
        )
        consent = consent_from(cmd, number=len(self.consents) + 1)
        policy = self.policy
        expiry = dl.make_deadline(
            policy,
            DeadlineKind.CONSENT_EXPIRY,
            consent.valid_until,
            key=f"consent_expiry:{consent.number}",
            responsible=(self.contact_person or ctx.actor).organisation.id,
        )
        self._consent_recorded(consent=consent, deadlines=(expiry,), **ctx.event_args())

    @event("ConsentRecorded")
    def _consent_recorded(
        self,
        consent: Consent,
        deadlines: tuple[Deadline, ...],
        actor: Actor,
        command_id: UUID,
        occurred_at: datetime | None,
        on: date,
    ) -> None:
        # A renewed consent replaces the earlier one; its expiry deadline is met by the renewal.
        self._meet(DeadlineKind.CONSENT_EXPIRY, on)
        self.consents.append(consent)
        self._meet(DeadlineKind.START, on)
        if self.stage is Stage.PROPOSED:
            self.stage = Stage.ACTIVE
        self._add_deadlines(deadlines)

    def withdraw_consent(self, cmd: WithdrawConsent, ctx: Context) -> None:
        self._check_planning_open()
        if self.current_consent is None:
            raise RuleViolation(
                "there is no consent to withdraw", field="case_id", rule="R12"
            )
        self._consent_withdrawn(
            withdrawn_by=cmd.withdrawn_by,
            note=cmd.note,
            deadlines=self._closure_deadlines(ctx.on),
            **ctx.event_args(),
        )

    @event("ConsentWithdrawn")
    def _consent_withdrawn(
        self,
        withdrawn_by: ConsentGiverRole,
        note: str,
        deadlines: tuple[Deadline, ...],
        actor: Actor,
        command_id: UUID,
        occurred_at: datetime | None,
        on: date,
    ) -> None:
        # R12/R30: consent can be withdrawn at any time, and planning then closes.
        consent = self.consents[-1]
        self.consents[-1] = consent.model_copy(update={"withdrawn_on": on})
        self.stage = Stage.CLOSING
        self._cancel_open_deadlines(on)
        self._add_deadlines(deadlines)

    def _closure_deadlines(self, on: date) -> tuple[Deadline, ...]:
        policy = self.policy
        return tuple(
            dl.make_deadline(
                policy,
                DeadlineKind.CLOSURE_DOCUMENTATION,
                dl.days_after(on, policy.closure_documentation_within_days),
                key=f"closure:{org.id}",
                responsible=org.id,
            )
            for org in self.principals
            if org.id not in self.closures
        )

    # ------------------------------------------------------------------ wishes (R20)

    def record_wishes(self, cmd: RecordWishes, ctx: Context) -> None:
        self._check_planning_open()
        self._wishes_recorded(wishes=cmd.wishes, **ctx.event_args())

    @event("WishesRecorded")
    def _wishes_recorded(
        self,
        wishes: Wishes,
        actor: Actor,
        command_id: UUID,
        occurred_at: datetime | None,
        on: date,
    ) -> None:
        self.wishes = wishes

    # ------------------------------------------------------------------ convening (R02, R03, R14,
    # R17, R18, R21, R22, R23, R24)

    def may_convene(self, actor: Actor, on: date) -> bool:
        return _may_convene(actor, self.principals, self.policy, self.age_on(on))

    def convene(self, cmd: ConveneMeeting, ctx: Context) -> None:
        self._check_planning_open()
        check_convener(ctx.actor, self.principals, self.policy, self.age_on(ctx.on))
        consent = self._require_valid_consent(ctx.on, "convening")
        meeting_on = local_date(cmd.meeting_at)
        if meeting_on < ctx.on:
            raise InvalidInput(
                "the meeting cannot be before the invitation", field="meeting_at"
            )
        check_invitations(cmd.invitations, consent)
        policy = self.policy
        deadlines: list[Deadline] = []
        if policy.invitation_lead_days is not None:
            # R18: invitations at least N days ahead of the meeting.
            deadlines.append(
                dl.make_deadline(
                    policy,
                    DeadlineKind.INVITATION_LEAD_TIME,
                    dl.days_after(meeting_on, -policy.invitation_lead_days),
                    key=f"invitation_lead_time:{len(self.meetings) + 1}",
                    responsible=ctx.actor.organisation.id,
                )
            )
        meeting = Meeting(
            number=len(self.meetings) + 1,
            at=cmd.meeting_at,
            place=cmd.place,
            invitations=cmd.invitations,
            invited_on=ctx.on,
        )
        self._meeting_convened(meeting=meeting, deadlines=tuple(deadlines), **ctx.event_args())

    @event("MeetingConvened")
    def _meeting_convened(
        self,
        meeting: Meeting,
        deadlines: tuple[Deadline, ...],
        actor: Actor,
        command_id: UUID,
        occurred_at: datetime | None,
        on: date,
    ) -> None:
        self.meetings.append(meeting)
        for invitation in meeting.invitations:
            self.invitations[invitation.participant.key] = InvitationState(
                invitation=invitation, meeting_number=meeting.number
            )
        # R24: the convening contact person is responsible for the meeting and the plan.
        self.contact_person = actor
        if self.stage in (Stage.PROPOSED, Stage.ACTIVE):
            self.stage = Stage.MEETING_SCHEDULED
        self._meet(DeadlineKind.START, on)
        self._meet(DeadlineKind.DISCHARGE_INVITATION, on)
        self._add_deadlines(deadlines)
        # The invitations go out now: the lead time is met in time or late, as the dates say.
        self._meet(DeadlineKind.INVITATION_LEAD_TIME, on)

    def record_reply(self, cmd: RecordReply, ctx: Context) -> None:
        self._check_planning_open()
        state = self.invitations.get(cmd.participant_key)
        if state is None:
            # The key of a person (role:name) is not echoed: no name in a refusal (R35).
            raise InvalidInput(
                "no invitation to this participant in this case",
                field="participant_key",
                rule="R22",
            )
        if cmd.reply is Reply.DECLINED and self.policy.school_may_convene and not cmd.comment:
            # R22 (Västra Götaland, children and young people): everyone convened is obliged to
            # take part, so a refusal must give its reason.
            raise RuleViolation(
                "everyone convened is obliged to take part; a declined reply must give a reason",
                field="comment",
                rule="R22",
            )
        participant = state.invitation.participant
        self._reply_recorded(
            participant_key=cmd.participant_key,
            participant_role=None if participant.organisation else participant.role,
            reply=cmd.reply,
            comment=cmd.comment,
            **ctx.event_args(),
        )

    class ReplyRecorded(Aggregate.Event):
        # Version 2 adds ``participant_role`` (a private person's role, in clear): the key
        # "role:name" is sealed as personal data (domain/personal.py), and the public feed still
        # says which kind of person answered. A version 1 event (its key in clear) gets it from
        # the key.
        class_version = 2

        participant_key: str
        participant_role: ParticipantRole | None
        reply: Reply
        comment: str
        actor: Actor
        command_id: UUID
        occurred_at: datetime | None
        on: date

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            role, sep, _ = str(state["participant_key"]).partition(":")
            state["participant_role"] = ParticipantRole(role) if sep else None

    @event(ReplyRecorded)
    def _reply_recorded(
        self,
        participant_key: str,
        participant_role: ParticipantRole | None,
        reply: Reply,
        comment: str,
        actor: Actor,
        command_id: UUID,
        occurred_at: datetime | None,
        on: date,
    ) -> None:
        state = self.invitations[participant_key]
        state.reply = Reply(reply)
        state.comment = comment

    # ------------------------------------------------------------------ the plan (R25–R28)

    def _check_writes_plan(self, actor: Actor) -> None:
        # R24: the contact person at the municipality or region writes the plan.
        principal_ids = {org.id for org in self.principals}
        is_contact = self.contact_person is not None and (
            actor.person_id == self.contact_person.person_id
        )
        if not is_contact and actor.organisation.id not in principal_ids:
            raise NotAuthorised(
                "the plan is written by the contact person or a principal of the case",
                field="actor",
                rule="R24",
            )

    def establish_plan(self, cmd: EstablishPlan, ctx: Context) -> None:
        self._check_planning_open()
        meeting = self.current_meeting
        if meeting is None:
            raise RuleViolation(
                "the plan is established at a meeting; convene one first",
                field="case_id",
                rule="R26",
            )
        if self.current_plan is not None:
            raise RuleViolation(
                "the case has a plan; revise it at a follow-up",
                field="case_id",
                rule="R29",
            )
        self._check_writes_plan(ctx.actor)
        self._require_valid_consent(ctx.on, "establishing a plan")
        meeting_on = local_date(meeting.at)
        if ctx.on < meeting_on:
            raise RuleViolation(
                f"the plan is decided at the meeting on {meeting_on.isoformat()}, which has not "
                "been held yet",
                field="occurred_at",
                rule="R26",
            )
        check_plan(cmd.plan, meeting_on=meeting_on)
        revision = PlanRevision(revision=1, content=cmd.plan, decided_on=meeting_on)
        self._plan_established(
            revision=revision,
            deadlines=(self._follow_up_deadline(cmd.plan.follow_up_date, 1),),
            **ctx.event_args(),
        )

    def _follow_up_deadline(self, due: date, number: int) -> Deadline:
        return dl.make_deadline(
            self.policy,
            DeadlineKind.FOLLOW_UP,
            due,
            key=f"follow_up:{number}",
            responsible=(self.contact_person.organisation.id if self.contact_person else None),
        )

    @event("PlanEstablished")
    def _plan_established(
        self,
        revision: PlanRevision,
        deadlines: tuple[Deadline, ...],
        actor: Actor,
        command_id: UUID,
        occurred_at: datetime | None,
        on: date,
    ) -> None:
        self.plan_revisions.append(revision)
        self.stage = Stage.PLAN_ESTABLISHED
        self._meet(DeadlineKind.MEETING, revision.decided_on)
        self._add_deadlines(deadlines)

    def issue_plan_copy(self, cmd: IssuePlanCopy, ctx: Context) -> None:
        self._check_not_ended()
        if self.current_plan is None:
            raise RuleViolation("there is no plan to copy yet", field="case_id", rule="R28")
        check_plan_copy_recipient(
            cmd,
            self.individual.name,
            self.invitations.values(),
            self.valid_consent_on(ctx.on),
            ctx.on,
        )
        self._plan_copy_issued(
            recipient_name=cmd.recipient_name,
            recipient_role=cmd.recipient_role,
            revision=self.current_plan.revision,
            **ctx.event_args(),
        )

    @event("PlanCopyIssued")
    def _plan_copy_issued(
        self,
        recipient_name: str,
        recipient_role: ParticipantRole,
        revision: int,
        actor: Actor,
        command_id: UUID,
        occurred_at: datetime | None,
        on: date,
    ) -> None:
        self.plan_copies.append((recipient_name, ParticipantRole(recipient_role), on))

    # ------------------------------------------------------------------ follow-up (R19, R29)

    def record_follow_up(self, cmd: RecordFollowUp, ctx: Context) -> None:
        self._check_planning_open()
        plan = self.current_plan
        if plan is None:
            raise RuleViolation(
                "there is no plan to follow up yet", field="case_id", rule="R29"
            )
        self._check_writes_plan(ctx.actor)
        if cmd.held_on < plan.decided_on:
            raise InvalidInput(
                "the follow-up cannot be before the plan was made", field="held_on", rule="R29"
            )
        if cmd.held_on > ctx.today:
            raise InvalidInput("a follow-up is recorded once held", field="held_on", rule="R29")
        if cmd.next_follow_up_date <= cmd.held_on:
            raise InvalidInput(
                "a new follow-up is booked after this one",
                field="next_follow_up_date",
                rule="R29",
            )
        revision = None
        if cmd.revised_plan is not None:
            self._require_valid_consent(ctx.on, "revising the plan")
            if cmd.revised_plan.follow_up_date != cmd.next_follow_up_date:
                raise InvalidInput(
                    "the revised plan's follow-up date is the next follow-up date",
                    field="revised_plan.follow_up_date",
                    rule="R19",
                )
            check_plan(cmd.revised_plan, meeting_on=cmd.held_on, field="revised_plan")
            revision = PlanRevision(
                revision=plan.revision + 1, content=cmd.revised_plan, decided_on=cmd.held_on
            )
        follow_up = FollowUp(
            held_on=cmd.held_on,
            what_happened=cmd.what_happened,
            what_remains=cmd.what_remains,
            new_needs=cmd.new_needs,
            next_follow_up_date=cmd.next_follow_up_date,
        )
        number = len(self.follow_ups) + 2
        self._follow_up_recorded(
            follow_up=follow_up,
            deadlines=(self._follow_up_deadline(cmd.next_follow_up_date, number),),
            **ctx.event_args(),
        )
        if revision is not None:
            self._plan_revised(revision=revision, **ctx.event_args())

    @event("FollowUpRecorded")
    def _follow_up_recorded(
        self,
        follow_up: FollowUp,
        deadlines: tuple[Deadline, ...],
        actor: Actor,
        command_id: UUID,
        occurred_at: datetime | None,
        on: date,
    ) -> None:
        self.follow_ups.append(follow_up)
        self._meet(DeadlineKind.FOLLOW_UP, follow_up.held_on)
        self._add_deadlines(deadlines)

    @event("PlanRevised")
    def _plan_revised(
        self,
        revision: PlanRevision,
        actor: Actor,
        command_id: UUID,
        occurred_at: datetime | None,
        on: date,
    ) -> None:
        self.plan_revisions.append(revision)

    # ------------------------------------------------------------------ closure (R30, R31)

    def record_closure(self, cmd: RecordClosure, ctx: Context) -> None:
        self._check_not_ended()
        org = ctx.actor.organisation
        check_closure(cmd, org, self.principals, self.closures, self.current_consent)
        closure = Closure(organisation_id=org.id, reason=cmd.reason, note=cmd.note, on=ctx.on)
        remaining = [p.id for p in self.principals if p.id not in self.closures and p.id != org.id]
        deadlines = () if self.stage is Stage.CLOSING else self._closure_deadlines(ctx.on)
        self._closure_recorded(closure=closure, deadlines=deadlines, **ctx.event_args())
        if not remaining:
            self._closed(**ctx.event_args())

    @event("ClosureRecorded")
    def _closure_recorded(
        self,
        closure: Closure,
        deadlines: tuple[Deadline, ...],
        actor: Actor,
        command_id: UUID,
        occurred_at: datetime | None,
        on: date,
    ) -> None:
        if self.stage is not Stage.CLOSING:
            # R30: planning closes; the remaining principals have a deadline to document it.
            self._cancel_open_deadlines(on)
            self.stage = Stage.CLOSING
            self._add_deadlines(deadlines)
        self.closures[closure.organisation_id] = closure
        key = f"closure:{closure.organisation_id}"
        if key in self.deadlines and self.deadlines[key].is_open:
            self.deadlines[key].met_on = on

    @event("SipClosed")
    def _closed(
        self,
        actor: Actor,
        command_id: UUID,
        occurred_at: datetime | None,
        on: date,
    ) -> None:
        # R31: closed as a whole when every principal party has documented closure.
        self.stage = Stage.CLOSED
        self.closed_on = on
        self._cancel_open_deadlines(on)

    # ------------------------------------------------------------------ corrections (R32)

    class EntryCorrected(Event):
        """R32: an entry corrected. Version 2 (structured corrections) added ``deadlines``: the
        deadlines the correction recomputed; its ``Correction`` also names the fields and their
        values (a version 1 correction reads with the defaults: free text only)."""

        class_version = 2

        correction: Correction
        deadlines: tuple[Deadline, ...]
        actor: Actor
        command_id: UUID
        occurred_at: datetime | None
        on: date

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # A correction recorded before recomputed no deadline; its Correction (decoded by
            # now) takes its version and author from the event, and keeps the defaults of the
            # rest: no type, no item, no changes (it was free text only).
            state["deadlines"] = ()
            state["correction"] = state["correction"].model_copy(
                update={"version": state["originator_version"], "by": state["actor"]}
            )

    def correct_entry(
        self, cmd: CorrectEntry, ctx: Context, entries: Entries | None = None
    ) -> None:
        """``entries`` finds an entry of this case in the log by version (the ledger reads it):
        a correction of fields needs the entry, to know its type and what it recorded. Without
        it only a correction in words can be recorded."""
        check_not_erased(self.erasure)  # R34: an erased case is not corrected either
        if cmd.corrects_version > self.version:
            raise InvalidInput(
                f"the case has no entry {cmd.corrects_version} (it is at version {self.version})",
                field="corrects_version",
                rule="R32",
            )
        if len(cmd.reason.strip()) < 3:
            raise InvalidInput(
                "a correction says why it is made", field="reason", rule="R32"
            )
        if not cmd.changes and not cmd.correction.strip():
            raise InvalidInput(
                "a correction names the fields it corrects (changes) or says in words what is "
                "corrected (correction)",
                field="correction",
                rule="R32",
            )
        entry = entries(cmd.corrects_version) if entries is not None else None
        item: int | None = None
        changes: tuple[CorrectedField, ...] = ()
        deadlines: tuple[Deadline, ...] = ()
        if cmd.changes:
            entry = check_entry_has_fields(entry, cmd.corrects_version)
            checked = check_changes(entry, cmd.changes)
            item = item_of(entry)
            changes, deadlines = self._corrected_fields(entry, item, checked, ctx, entries)
        correction = Correction(
            corrects_version=cmd.corrects_version,
            reason=cmd.reason,
            correction=cmd.correction,
            on=ctx.on,
            version=self.version + 1,  # this correction's own entry
            by=ctx.actor,
            corrected_type=entry.type if entry is not None else None,
            item=item,
            changes=changes,
            recomputed_deadlines=tuple(d.key for d in deadlines),
        )
        self._entry_corrected(correction=correction, deadlines=deadlines, **ctx.event_args())

    def _corrected_fields(
        self,
        entry: Entry,
        item: int,
        checked: list[CheckedChange],
        ctx: Context,
        entries: Entries | None,
    ) -> tuple[tuple[CorrectedField, ...], tuple[Deadline, ...]]:
        """The changes (with the values the case holds now) and the deadlines recomputed from
        the corrected dates; refused if the corrected entry would break its own rules."""
        new = {c.field: c.value for c in checked}
        where = {c.field: c.where for c in checked}
        deadlines: list[Deadline] = []
        current: Any
        if entry.type == "MeetingConvened":
            current = self.meetings[item - 1]
            old = {"meeting_at": current.at, "place": current.place}
            if "meeting_at" in new:
                assert isinstance(new["meeting_at"], datetime)
                meeting_on = local_date(new["meeting_at"])
                check_meeting_day(meeting_on, current.invited_on, where["meeting_at"])
                # R18: the invitations' lead time runs back from the meeting's day.
                lead = self.deadlines.get(f"invitation_lead_time:{item}")
                if lead is not None:
                    days = dl.policy(lead.deadline.policy_id,
                                     lead.deadline.policy_version).invitation_lead_days or 0
                    deadlines += self._moved(lead, dl.days_after(meeting_on, -days))
        elif entry.type == "ConsentRecorded":
            current = self.consents[item - 1]
            old = {"valid_from": current.valid_from, "valid_until": current.valid_until}
            valid = {**old, **new}
            check_consent_dates(valid["valid_from"], valid["valid_until"],
                                where.get("valid_until", where.get("valid_from", "changes")))
            if "valid_until" in new:
                # R12: the consent expires on its corrected last day.
                expiry = self.deadlines.get(f"consent_expiry:{item}")
                if expiry is not None:
                    deadlines += self._moved(expiry, valid["valid_until"])
        elif entry.type in ("PlanEstablished", "PlanRevised"):
            current = self.plan_revisions[item - 1]
            old = {"follow_up_date": current.content.follow_up_date}
            follow_up_date = new["follow_up_date"]
            assert isinstance(follow_up_date, date)
            check_plan_follow_up(follow_up_date, current.decided_on, where["follow_up_date"])
            # R19: the follow-up the plan names is due on its corrected date.
            key = self._plan_follow_up_key(entry, entries)
            if key is not None and key in self.deadlines:
                deadlines += self._moved(self.deadlines[key], follow_up_date)
        else:  # FollowUpRecorded
            current = self.follow_ups[item - 1]
            old = {"held_on": current.held_on, "next_follow_up_date": current.next_follow_up_date}
            dates = {**old, **new}
            check_follow_up(dates["held_on"], dates["next_follow_up_date"], ctx.today,
                            where.get("held_on", where.get("next_follow_up_date", "changes")))
            if "next_follow_up_date" in new:
                # R19: the next follow-up this one booked is due on the corrected date.
                booked = self.deadlines.get(f"follow_up:{item + 1}")
                if booked is not None:
                    deadlines += self._moved(booked, dates["next_follow_up_date"])
        changes = tuple(
            CorrectedField(field=c.field, old_value=as_text(old[c.field]), new_value=c.text)
            for c in checked
        )
        return changes, tuple(deadlines)

    def _plan_follow_up_key(self, entry: Entry, entries: Entries | None) -> str | None:
        """The deadline of the follow-up a plan revision names: the plan's own (``follow_up:1``)
        or the one booked by the follow-up the revision was made at, which its command recorded
        just before it (SipCase.record_follow_up)."""
        if entry.type == "PlanEstablished":
            return "follow_up:1"
        before = entries(entry.version - 1) if entries is not None else None
        if (before is None or before.type != "FollowUpRecorded"
                or before.values["command_id"] != entry.values["command_id"]):
            return None
        return f"follow_up:{item_of(before) + 1}"

    @staticmethod
    def _moved(state: DeadlineState, due: date) -> list[Deadline]:
        """The deadline due on ``due`` instead (nothing when the day stays the same)."""
        if state.deadline.due == due:
            return []
        return [state.deadline.model_copy(update={"due": due})]

    @event(EntryCorrected)
    def _entry_corrected(
        self,
        correction: Correction,
        deadlines: tuple[Deadline, ...],
        actor: Actor,
        command_id: UUID,
        occurred_at: datetime | None,
        on: date,
    ) -> None:
        self.corrections.append(correction)
        if correction.changes and correction.item is not None:
            self._apply_changes(correction, correction.item)
        for d in deadlines:
            # Recomputed: due on another day; whether and when it was met or cancelled stays.
            state = self.deadlines.get(d.key)
            self.deadlines[d.key] = DeadlineState(
                deadline=d,
                met_on=state.met_on if state else None,
                cancelled_on=state.cancelled_on if state else None,
            )

    def _apply_changes(self, correction: Correction, item: int) -> None:
        kind = correction.corrected_type
        values = {
            c.field: stored_value(kind_of(kind, c.field), c.new_value) for c in correction.changes
        }
        if kind == "MeetingConvened":
            self.meetings[item - 1] = with_changes(kind, self.meetings[item - 1], values)
        elif kind == "ConsentRecorded":
            self.consents[item - 1] = with_changes(kind, self.consents[item - 1], values)
        elif kind in ("PlanEstablished", "PlanRevised"):
            self.plan_revisions[item - 1] = with_changes(
                kind, self.plan_revisions[item - 1], values
            )
        elif kind == "FollowUpRecorded":
            self.follow_ups[item - 1] = with_changes(kind, self.follow_ups[item - 1], values)
            # The follow-up deadline it met was met on the day it was held: the corrected day.
            held = next((c for c in correction.changes if c.field == "held_on"), None)
            met = self.deadlines.get(f"follow_up:{item}")
            if held is not None and met is not None and met.met_on is not None and (
                met.met_on.isoformat() == held.old_value
            ):
                met.met_on = date.fromisoformat(held.new_value)

    # ------------------------------------------------------------------ retention (R34)

    @property
    def is_erased(self) -> bool:
        return self.erasure is not None

    @property
    def ended_on(self) -> date | None:
        """The day the case ended (closed or declined); None while it is open."""
        if self.stage is Stage.CLOSED:
            return self.closed_on
        if self.stage is Stage.DECLINED:
            return self.declined_on
        return None

    def trigger_event(self, event_class: type[CanMutateAggregate[UUID]], **kwargs: Any) -> None:
        # After erasure nothing more is recorded on the case, whichever command asks (R34); the
        # commands check it first, this is the guard no new command can forget.
        check_not_erased(self.erasure)
        super().trigger_event(event_class, **kwargs)

    def place_legal_hold(self, cmd: PlaceLegalHold, ctx: Context) -> None:
        check_not_erased(self.erasure)
        check_may_place_hold(ctx.actor, self.legal_hold)
        self._legal_hold_placed(reason=cmd.reason, reference=cmd.reference, **ctx.event_args())

    @event("LegalHoldPlaced")
    def _legal_hold_placed(
        self,
        reason: str,
        reference: str,
        actor: Actor,
        command_id: UUID,
        occurred_at: datetime | None,
        on: date,
    ) -> None:
        self.legal_hold = LegalHold(
            reason=reason, reference=reference, placed_on=on, placed_by=actor
        )

    def lift_legal_hold(self, cmd: LiftLegalHold, ctx: Context) -> None:
        check_not_erased(self.erasure)
        check_may_lift_hold(ctx.actor, self.legal_hold)
        self._legal_hold_lifted(reason=cmd.reason, **ctx.event_args())

    @event("LegalHoldLifted")
    def _legal_hold_lifted(
        self,
        reason: str,
        actor: Actor,
        command_id: UUID,
        occurred_at: datetime | None,
        on: date,
    ) -> None:
        self.legal_hold = None

    def erase_personal_data(
        self, cmd: ErasePersonalData, ctx: Context, subjects: tuple[str, ...] = ()
    ) -> None:
        """Record the erasure of the case's personal data; ``subjects`` are the data subjects
        whose keys the ledger destroys once it is recorded (none without a key store)."""
        check_not_erased(self.erasure)
        check_role(ctx.actor, Role.ARCHIVIST, "erasing personal data")
        policy = retention_policy(cmd.policy_id)
        status = retention_status(self, policy, ctx.on)
        override_reason = check_erasure(
            cmd.decision, cmd.override_reason, self.legal_hold, status
        )
        self._personal_data_erased(
            decision=cmd.decision,
            policy_id=policy.id,
            policy_version=policy.version,
            subjects=tuple(sorted(subjects)),
            override_reason=override_reason,
            starts_on=status.starts_on,
            due_on=status.due_on,
            exemptions=status.exemptions,
            **ctx.event_args(),
        )

    @event("PersonalDataErased")
    def _personal_data_erased(
        self,
        decision: str,
        policy_id: str,
        policy_version: int,
        subjects: tuple[str, ...],
        override_reason: str | None,
        starts_on: date | None,
        due_on: date | None,
        exemptions: tuple[ExemptionKind, ...],
        actor: Actor,
        command_id: UUID,
        occurred_at: datetime | None,
        on: date,
    ) -> None:
        # The status as computed (start, due day, exemptions) is kept in the event only: it says
        # on what grounds the erasure was decided, and replay needs none of it.
        self.erasure = ErasureState(
            on=on,
            decision=decision,
            policy_id=policy_id,
            policy_version=policy_version,
            subjects=tuple(subjects),
            override_reason=override_reason,
            erased_by=actor,
        )

    # ------------------------------------------------------------------ deadline bookkeeping

    def _add_deadlines(self, deadlines: tuple[Deadline, ...] | list[Deadline]) -> None:
        for d in deadlines:
            self.deadlines[d.key] = DeadlineState(deadline=d)

    def _meet(self, kind: DeadlineKind, on: date) -> None:
        for state in self.deadlines.values():
            if state.deadline.kind is kind and state.is_open:
                state.met_on = on

    def _cancel_open_deadlines(self, on: date) -> None:
        for state in self.deadlines.values():
            if state.is_open:
                state.cancelled_on = on


# ---------------------------------------------------------------------- snapshots


class CaseSnapshot(Snapshot):
    """The library's snapshot of a SipCase, restored to exactly the aggregate a replay gives.

    Taken by SipLedger every ``SNAPSHOT_INTERVAL`` versions (the library's
    ``snapshotting_intervals``) and stored through the application's mapper like an event (the
    topic ``domain.case:CaseSnapshot`` is part of the stored format). Snapshots are derived data:
    after a change to how SipCase's events apply, delete the rows of ``sipledger_snapshots``
    (or bump ``SipCase.class_version`` with an upcast), and reads replay from the events again.
    """

    @classmethod
    def take(cls, aggregate: Any) -> CaseSnapshot:
        snapshot = super().take(aggregate)
        check_shape(snapshot.state)  # refuse to store what could not be restored exactly
        return snapshot

    def mutate(self, _: None) -> SipCase:
        aggregate = super().mutate(None)
        if not isinstance(aggregate, SipCase):
            raise SnapshotMismatch(f"{self.topic} is not a SipCase")
        object.__setattr__(aggregate, "__dict__", restore_types(vars(aggregate)))
        return aggregate


# The library takes snapshots with the aggregate class's ``Snapshot`` (Application.take_snapshot).
SipCase.Snapshot = CaseSnapshot
