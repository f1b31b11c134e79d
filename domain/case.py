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

from eventsourcing.domain import Aggregate, Snapshot, event

from . import deadlines as dl
from .case_state import (
    ENDED_STAGES,
    Closure,
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
    EstablishPlan,
    Individual,
    IssuePlanCopy,
    ParticipantRole,
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
from .parties import Actor, Organisation, OrganisationKind
from .plan import PlanRevision, check_plan
from .rules.closure import check_closure
from .rules.convening import check_convener, check_invitations
from .rules.convening import may_convene as _may_convene
from .rules.plan_copy import check_plan_copy_recipient
from .rules.proposal import check_proposal, proposal_deadlines
from .snapshot import SnapshotMismatch, check_shape, restore_types


class SipCase(Aggregate):
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
        self.presumed_need_groups = tuple(PresumedNeedGroup(g) for g in presumed_need_groups)
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
        """R09: an open SIP is one that has not ended (closed or declined)."""
        return not self.is_ended

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
        self._reply_recorded(
            participant_key=cmd.participant_key,
            reply=cmd.reply,
            comment=cmd.comment,
            **ctx.event_args(),
        )

    @event("ReplyRecorded")
    def _reply_recorded(
        self,
        participant_key: str,
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

    def correct_entry(self, cmd: CorrectEntry, ctx: Context) -> None:
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
        correction = Correction(
            corrects_version=cmd.corrects_version,
            reason=cmd.reason,
            correction=cmd.correction,
            on=ctx.on,
        )
        self._entry_corrected(correction=correction, **ctx.event_args())

    @event("EntryCorrected")
    def _entry_corrected(
        self,
        correction: Correction,
        actor: Actor,
        command_id: UUID,
        occurred_at: datetime | None,
        on: date,
    ) -> None:
        self.corrections.append(correction)

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
