"""Commands: what a coordinator asks the ledger to record, as pydantic models.

The models check shape (types, required fields). The SIP rules themselves are checked by the
SipCase aggregate, so that every refusal names its rule id from DOMAIN.md.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from uuid import UUID, uuid4

from pydantic import Field

from .parties import Frozen, Organisation, OrganisationKind, Person


class Trigger(StrEnum):
    """R08: reasons a SIP is needed."""

    COORDINATION_REQUESTED = "coordination_requested"
    SEVERAL_COMPETENCES = "several_competences"
    RESPONSIBILITY_UNCLEAR = "responsibility_unclear"
    SIMULTANEOUS_OR_ORDERED = "simultaneous_or_ordered"
    PASSED_AROUND = "passed_around"  # "bollas runt"


class PresumedNeedGroup(StrEnum):
    """R07: groups for whom a plan is presumed to be needed."""

    PSYCHIATRIC_WITH_SUBSTANCE_ABUSE = "psychiatric_with_substance_abuse"
    SEVERE_PSYCHIATRIC_WITH_DISABILITY = "severe_psychiatric_with_disability"
    DEMENTIA_WITH_SOMATIC = "dementia_with_somatic"


class PlanType(StrEnum):
    """R06: the region distinguishes plan types."""

    SIP = "sip"
    VARD_SIP = "vard-sip"
    REHAB_SIP = "rehab-sip"


class ProposerKind(StrEnum):
    """R01: anyone may propose."""

    INDIVIDUAL = "individual"
    RELATIVE = "relative"
    STAFF = "staff"
    FORSAKRINGSKASSAN = "forsakringskassan"
    OTHER = "other"


class ConsentGiverRole(StrEnum):
    INDIVIDUAL = "individual"
    GUARDIAN = "guardian"
    ADMINISTRATOR = "administrator"  # förvaltare


class ConsentForm(StrEnum):
    ORAL = "oral"
    WRITTEN = "written"


class ParticipantRole(StrEnum):
    """R23: who may be invited besides the principals."""

    KOMMUN = "kommun"
    REGION = "region"
    SKOLA = "skola"
    FORSAKRINGSKASSAN = "forsakringskassan"
    ARBETSFORMEDLINGEN = "arbetsformedlingen"
    KRIMINALVARDEN = "kriminalvarden"
    OTHER_ORGANISATION = "other_organisation"
    INDIVIDUAL = "individual"
    RELATIVE = "relative"
    TRUSTEE = "trustee"  # god man / förvaltare
    PERSONAL_REPRESENTATIVE = "personal_representative"  # personligt ombud
    SUPPORT_PERSON = "support_person"

    @property
    def is_organisation(self) -> bool:
        return self in _ORGANISATION_ROLES


_ORGANISATION_ROLES = {
    ParticipantRole.KOMMUN,
    ParticipantRole.REGION,
    ParticipantRole.SKOLA,
    ParticipantRole.FORSAKRINGSKASSAN,
    ParticipantRole.ARBETSFORMEDLINGEN,
    ParticipantRole.KRIMINALVARDEN,
    ParticipantRole.OTHER_ORGANISATION,
}


class Reply(StrEnum):
    ACCEPTED = "accepted"
    DECLINED = "declined"


class ResponsibleKind(StrEnum):
    MUNICIPALITY = "municipality"
    REGION = "region"
    OTHER = "other"


class ClosureReason(StrEnum):
    """R30: why planning closes."""

    GOALS_MET = "goals_met"
    COORDINATION_NOT_NEEDED = "coordination_not_needed"
    CONSENT_WITHDRAWN = "consent_withdrawn"


# ---- value objects used inside commands and events -------------------------------------------


class Individual(Frozen):
    personal_identity_number: str
    name: str = Field(min_length=1, max_length=200)
    # Registered guardians of a child under 18: each of them must consent (R10).
    guardians: tuple[Person, ...] = ()


class Discharge(Frozen):
    """R05: a proposal started at hospital discharge by the named care contact."""

    ready_for_discharge_at: datetime
    named_care_contact_person_id: str = Field(min_length=1)


class ConsentGiver(Frozen):
    role: ConsentGiverRole
    name: str = Field(min_length=1, max_length=200)


class Wishes(Frozen):
    """R20: the individual's wishes for the meeting."""

    place: str = ""
    time_of_day: str = ""
    longest_minutes: int | None = Field(default=None, ge=5, le=480)
    disturbances: str = ""
    environment: str = ""
    support: tuple[str, ...] = ()  # e.g. "bildstöd", "tolk"
    interpreter_language: str = ""


class Participant(Frozen):
    role: ParticipantRole
    name: str = Field(min_length=1, max_length=200)
    organisation: Organisation | None = None

    @property
    def key(self) -> str:
        return self.organisation.id if self.organisation else f"{self.role.value}:{self.name}"


class Invitation(Frozen):
    participant: Participant
    reason: str = ""  # R21: why this participant is invited
    expectation: str = ""  # R21: what is expected of them


class Goal(Frozen):
    """R27: SMART goals: specific, measurable, accepted, realistic, time-bound."""

    description: str
    measure: str = ""
    target_date: date | None = None
    accepted_by_individual: bool = False


class Responsible(Frozen):
    kind: ResponsibleKind
    name: str = ""  # required for "other"
    organisation_id: str | None = None


class Intervention(Frozen):
    description: str = Field(min_length=1)
    responsible: Responsible


class PlanContent(Frozen):
    """R25: what every plan states."""

    needs: tuple[str, ...]
    goals: tuple[Goal, ...]
    interventions: tuple[Intervention, ...]
    overall_responsibility: OrganisationKind  # R26: kommun or region only
    coordination: str
    follow_up_date: date  # R19


# ---- commands --------------------------------------------------------------------------------


class Command(Frozen):
    command_id: UUID = Field(default_factory=uuid4)
    # When it happened in the world, where that differs from when it is recorded.
    occurred_at: datetime | None = None


class CaseCommand(Command):
    case_id: UUID
    expected_version: int | None = Field(default=None, ge=1)


class ProposeSip(Command):
    individual: Individual
    proposed_by: ProposerKind = ProposerKind.STAFF
    municipality: Organisation
    region: Organisation
    need_assessed_by: OrganisationKind | None = None  # R04: one principal is enough
    triggers: tuple[Trigger, ...] = ()
    presumed_need_groups: tuple[PresumedNeedGroup, ...] = ()
    plan_type: PlanType = PlanType.SIP
    deadline_policy: str = "national"
    discharge: Discharge | None = None
    acknowledged_open_case_ids: tuple[UUID, ...] = ()


class DeclineSip(CaseCommand):
    declined_by: ConsentGiverRole = ConsentGiverRole.INDIVIDUAL
    note: str = ""


class RecordConsent(CaseCommand):
    givers: tuple[ConsentGiver, ...]
    form: ConsentForm
    received_by: str | None = None  # R11: who received oral consent
    received_at: datetime | None = None  # R11: when
    valid_from: date
    valid_until: date
    organisation_ids: tuple[str, ...]  # R13: who may exchange information
    approved_persons: tuple[str, ...] = ()  # R14: private persons the individual wants invited


class WithdrawConsent(CaseCommand):
    withdrawn_by: ConsentGiverRole = ConsentGiverRole.INDIVIDUAL
    note: str = ""


class RecordWishes(CaseCommand):
    wishes: Wishes


class ConveneMeeting(CaseCommand):
    meeting_at: datetime
    place: str = Field(min_length=1, max_length=300)
    invitations: tuple[Invitation, ...]


class RecordReply(CaseCommand):
    participant_key: str
    reply: Reply
    comment: str = ""


class EstablishPlan(CaseCommand):
    plan: PlanContent


class RecordFollowUp(CaseCommand):
    held_on: date
    what_happened: str = Field(min_length=1)
    what_remains: str = ""
    new_needs: tuple[str, ...] = ()
    revised_plan: PlanContent | None = None
    next_follow_up_date: date


class IssuePlanCopy(CaseCommand):
    recipient_name: str = Field(min_length=1)
    recipient_role: ParticipantRole


class RecordClosure(CaseCommand):
    reason: ClosureReason
    note: str = ""


class CorrectEntry(CaseCommand):
    corrects_version: int = Field(ge=1)
    reason: str
    correction: str = Field(min_length=1)
