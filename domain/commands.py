"""Commands: what a coordinator asks the ledger to record, as pydantic models.

The models check shape (types, required fields). The SIP rules themselves are checked by the
SipCase aggregate, so that every refusal names its rule id from DOMAIN.md.
"""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID, uuid4

from pydantic import Field

from .limits import (
    LONG_TEXT_MAX,
    SHORT_TEXT_MAX,
    VERSION_MAX,
    Day,
    Identifier,
    Instant,
    LongText,
    Name,
    NameOrEmpty,
    Note,
    ParticipantKey,
    PersonalIdentityNumberInput,
    Place,
    PlaceOrEmpty,
    ShortText,
    few,
    line,
    text,
)
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
    personal_identity_number: PersonalIdentityNumberInput
    name: Name
    # Registered guardians of a child under 18: each of them must consent (R10).
    guardians: few(Person, 10) = ()


class Discharge(Frozen):
    """R05: a proposal started at hospital discharge by the named care contact."""

    ready_for_discharge_at: Instant
    named_care_contact_person_id: Identifier


class ConsentGiver(Frozen):
    role: ConsentGiverRole
    name: Name


class Wishes(Frozen):
    """R20: the individual's wishes for the meeting."""

    place: PlaceOrEmpty = ""
    time_of_day: line(200) = ""
    longest_minutes: int | None = Field(default=None, ge=5, le=480)
    disturbances: ShortText = ""
    environment: ShortText = ""
    support: few(line(200), 20) = ()  # e.g. "bildstöd", "tolk"
    interpreter_language: line(100) = ""


class Participant(Frozen):
    role: ParticipantRole
    name: Name
    organisation: Organisation | None = None

    @property
    def key(self) -> str:
        return self.organisation.id if self.organisation else f"{self.role.value}:{self.name}"


class Invitation(Frozen):
    participant: Participant
    reason: ShortText = ""  # R21: why this participant is invited
    expectation: ShortText = ""  # R21: what is expected of them


class Goal(Frozen):
    """R27: SMART goals: specific, measurable, accepted, realistic, time-bound."""

    description: ShortText
    measure: ShortText = ""
    target_date: Day | None = None
    accepted_by_individual: bool = False


class Responsible(Frozen):
    kind: ResponsibleKind
    name: NameOrEmpty = ""  # required for "other"
    organisation_id: Identifier | None = None


class Intervention(Frozen):
    description: text(SHORT_TEXT_MAX, min_length=1)
    responsible: Responsible


class PlanContent(Frozen):
    """R25: what every plan states."""

    needs: few(ShortText, 30)
    goals: few(Goal, 30)
    interventions: few(Intervention, 50)
    overall_responsibility: OrganisationKind  # R26: kommun or region only
    coordination: Note
    follow_up_date: Day  # R19


# ---- commands --------------------------------------------------------------------------------


class Command(Frozen):
    command_id: UUID = Field(default_factory=uuid4)
    # When it happened in the world, where that differs from when it is recorded.
    occurred_at: Instant | None = None


class CaseCommand(Command):
    case_id: UUID
    expected_version: int | None = Field(default=None, ge=1, le=VERSION_MAX)


class ProposeSip(Command):
    individual: Individual
    proposed_by: ProposerKind = ProposerKind.STAFF
    municipality: Organisation
    region: Organisation
    need_assessed_by: OrganisationKind | None = None  # R04: one principal is enough
    triggers: few(Trigger, 10) = ()
    presumed_need_groups: few(PresumedNeedGroup, 10) = ()
    plan_type: PlanType = PlanType.SIP
    deadline_policy: Identifier = "national"
    discharge: Discharge | None = None
    acknowledged_open_case_ids: few(UUID, 100) = ()


class DeclineSip(CaseCommand):
    declined_by: ConsentGiverRole = ConsentGiverRole.INDIVIDUAL
    note: Note = ""


class RecordConsent(CaseCommand):
    givers: few(ConsentGiver, 10)
    form: ConsentForm
    received_by: NameOrEmpty | None = None  # R11: who received oral consent
    received_at: Instant | None = None  # R11: when
    valid_from: Day
    valid_until: Day
    organisation_ids: few(Identifier, 50)  # R13: who may exchange information
    approved_persons: few(Name, 50) = ()  # R14: private persons the individual wants invited


class WithdrawConsent(CaseCommand):
    withdrawn_by: ConsentGiverRole = ConsentGiverRole.INDIVIDUAL
    note: Note = ""


class RecordWishes(CaseCommand):
    wishes: Wishes


class ConveneMeeting(CaseCommand):
    meeting_at: Instant
    place: Place
    invitations: few(Invitation, 50)


class RecordReply(CaseCommand):
    participant_key: ParticipantKey
    reply: Reply
    comment: Note = ""


class EstablishPlan(CaseCommand):
    plan: PlanContent


class RecordFollowUp(CaseCommand):
    held_on: Day
    what_happened: text(LONG_TEXT_MAX, min_length=1)
    what_remains: LongText = ""
    new_needs: few(ShortText, 30) = ()
    revised_plan: PlanContent | None = None
    next_follow_up_date: Day


class IssuePlanCopy(CaseCommand):
    recipient_name: Name
    recipient_role: ParticipantRole


class RecordClosure(CaseCommand):
    reason: ClosureReason
    note: Note = ""


class CorrectEntry(CaseCommand):
    corrects_version: int = Field(ge=1, le=VERSION_MAX)
    reason: ShortText
    correction: text(LONG_TEXT_MAX, min_length=1)
