"""What a caller sees of a case: the response models of ``GET /cases/{id}`` (and of as-of), typed
all the way down, so a client generated from the OpenAPI document knows every field's shape.

The views are built in projections/access.py as plain JSON from the read side's case record
(projections/case_record.py) or from the aggregate (``record_of``); these models describe that
JSON exactly (a test compares the two) and validate it on the way out.

They are *output* models of their own rather than the domain's command value objects
(``domain.commands.Goal``, ``domain.parties.Person`` …), for two reasons:

- The commands' limits bind input only (domain/limits.py): a case recorded by an older release
  under looser limits must still read. An input model as a response model would check a stored
  value against today's limits and answer 500 where it should answer the case.
- FastAPI names a model's schema ``…-Input`` and ``…-Output`` once it is used both ways with a
  difference between the two; the request schemas clients already generate against keep their
  names only if responses do not reuse them.

The vocabulary is the domain's: every closed set of values is the domain's enum (``Stage``,
``OrganisationKind``, ``DeadlineKind``, ``PlanType`` …), so the schema lists the values.
Instants are the text recorded (ISO 8601; without an offset, Swedish local time), as the record
holds them: re-rendering them through ``datetime`` would change how they read (``+00:00`` as
``Z``).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from domain.case_state import Stage
from domain.commands import (
    ClosureReason,
    ConsentForm,
    ConsentGiverRole,
    ParticipantRole,
    PlanType,
    PresumedNeedGroup,
    ProposerKind,
    Reply,
    ResponsibleKind,
    Trigger,
)
from domain.deadlines import DeadlineKind
from domain.parties import OrganisationKind, Role

INSTANT_AS_RECORDED = ("An ISO 8601 instant as it was recorded; without an offset it is Swedish "
                       "local time.")
PERSONAL = "Personal data (R35): only in the full view."

STAGES = (
    "Where the case stands: `proposed` (R01), `active` (consent given, R10), "
    "`meeting_scheduled` (a principal convened the meeting, R02), `plan_established` (R25), "
    "`closing` (planning has ended by "
    "withdrawal R12 or a principal's closure R30; not every principal has documented its "
    "closure R31), `closed`, `declined` (R15)."
)


class OrganisationOut(BaseModel):
    """A principal of the case: the kommun (municipality) or the region."""

    id: str = Field(description="The organisation's id in the organisation directory.",
                    examples=["kommun-goteborg"])
    kind: OrganisationKind = Field(description="`kommun` or `region` (R02).",
                                   examples=["kommun"])
    name: str = Field(default="", description="The organisation's name.",
                      examples=["Göteborgs Stad"])
    region: str = Field(default="", description="The county (län) it sits in, by id.",
                        examples=["vastra-gotaland"])


class ConsentSummary(BaseModel):
    """The consent's reach and dates, without who gave it (R12, R13)."""

    number: int = Field(description="The consent's number within the case (1, 2, …).")
    valid_from: date = Field(description="R12: the first day it holds.")
    valid_until: date = Field(description="R12: the last day it holds.")
    withdrawn_on: date | None = Field(default=None, description="R12: the day it was "
                                      "withdrawn; null while it stands.")
    organisation_ids: list[str] = Field(
        description="R13: the organisations between which it lifts confidentiality.")


class ConsentGiverOut(BaseModel):
    """R10: one who gave consent."""

    role: ConsentGiverRole = Field(description="R10: the individual, a guardian or an "
                                   "administrator (förvaltare).")
    name: str = Field(description=f"The giver's name. {PERSONAL}")


class ConsentDetails(ConsentSummary):
    """The consent in full: who gave it, in which form, who else may be invited (R10–R14)."""

    givers: list[ConsentGiverOut] = Field(description="R10: who gave it.")
    form: ConsentForm = Field(description="R11: oral or written.")
    approved_persons: list[str] = Field(
        default=[], description=f"R14: private persons the individual approved to be invited. "
        f"{PERSONAL}")
    withdrawn_by: ConsentGiverRole | None = Field(
        default=None, description="R12: who withdrew it; null while it stands.")


class ClosureOut(BaseModel):
    """R30, R31: a principal's documented closure."""

    reason: ClosureReason = Field(description="R30: why planning closed for this principal.")
    on: date = Field(description="The day it was recorded.")
    by_unit: str | None = Field(default=None, description="The unit that documented it; null "
                                "in an as-of view (the aggregate does not keep it).")


class DeadlineOut(BaseModel):
    """A deadline of the case, as the command that set it computed it under its regional
    policy."""

    key: str = Field(description="The deadline's key within the case.")
    kind: DeadlineKind = Field(description="What is due (R05, R12, R16–R19, R31).")
    due: date = Field(description="The last day it may be met.")
    rule: str = Field(description="The rule id it comes from (DOMAIN.md).", examples=["R17"])
    policy_id: str = Field(description="The deadline policy it was computed under.")
    policy_version: int = Field(description="That policy's version.")
    responsible_organisation_id: str | None = Field(
        default=None, description="Who must meet it, where one organisation must.")
    set_on: date | None = Field(default=None, description="The day it was set; null in an "
                                "as-of view.")
    met_on: date | None = Field(default=None, description="The day it was met.")
    cancelled_on: date | None = Field(default=None, description="The day it was cancelled "
                                      "(planning ended first).")


class RestrictedCase(BaseModel):
    """A case without personal data: for closure after consent ends, and for supervisors."""

    view: Literal["restricted"] = "restricted"
    case_id: UUID
    version: int = Field(description="The case's version: send it as `expected_version`.")
    stage: Stage = Field(description=STAGES)
    policy_id: str = Field(description="The deadline policy the case runs under.")
    policy_version: int = Field(description="That policy's version.")
    proposed_on: date = Field(description="R01: the day the SIP was proposed.")
    municipality: OrganisationOut = Field(description="R02: the kommun, a principal.")
    region: OrganisationOut = Field(description="R02: the region, a principal.")
    county: str = Field(description="The county (län) of the case: its kommun's.",
                        examples=["vastra-gotaland"])
    parties: list[str] = Field(description="R13: the organisations party to the case: the "
                               "principals, those a consent names, those invited.")
    proposer_organisation_id: str = Field(description="The organisation that proposed it.")
    consent: ConsentSummary | None = Field(default=None, description="The current consent.")
    first_meeting_on: date | None = Field(default=None, description="R17: the day of the "
                                          "first SIP meeting.")
    plan_revision: int | None = Field(default=None, description="The plan's revision; null "
                                      "before a plan is established.")
    closures: dict[str, ClosureOut] = Field(default={}, description="R30, R31: each "
                                            "principal's closure, by organisation id.")
    deadlines: list[DeadlineOut] = Field(default=[], description="Every deadline, by due day.")
    declined_on: date | None = Field(default=None, description="R15: the day it was declined.")
    closed_on: date | None = Field(default=None, description="R31: the day it closed.")


class GuardianOut(BaseModel):
    """A registered guardian of a child (R10)."""

    name: str = Field(description=f"The guardian's name. {PERSONAL}")
    personal_identity_number: str | None = Field(
        default=None, description=f"The guardian's personal identity number, if recorded. "
        f"{PERSONAL}")


class IndividualOut(BaseModel):
    """The person the plan is for (den enskilde). Personal data (R35)."""

    personal_identity_number: str = Field(description="The individual's personal identity "
                                          "number (or coordination number).")
    name: str = Field(description="The individual's name.")
    guardians: list[GuardianOut] = Field(default=[], description="R10: registered guardians "
                                         "of a child; empty for an adult.")


class ActorOut(BaseModel):
    """A member of staff who acted on the case (R32). Personal data: their name."""

    person_id: str = Field(description="The person's id (e.g. HSA id).")
    name: str = Field(description=f"The person's name. {PERSONAL}")
    organisation_id: str
    organisation_kind: OrganisationKind
    unit: str
    role: Role = Field(description="The role they acted in.")


class DischargeOut(BaseModel):
    """R05: the proposal was started at discharge from inpatient care."""

    ready_for_discharge_at: str = Field(description="R05: when the patient was reported ready "
                                        f"for discharge. {INSTANT_AS_RECORDED}")
    named_care_contact_person_id: str = Field(description="R05: the named care contact's "
                                              "person id.")


class MeetingOut(BaseModel):
    """The current SIP meeting, convened by a principal (R02)."""

    number: int = Field(description="The meeting's number within the case.")
    at: str = Field(description=f"When it is held. {INSTANT_AS_RECORDED}")
    on: date = Field(description="The day it is held (Swedish local date).")
    place: str = Field(description=f"Where it is held. {PERSONAL}")
    invited_on: date = Field(description="R18: the day the invitations went out.")


class InvitationOut(BaseModel):
    """R21–R23: one invitee and their reply."""

    role: ParticipantRole = Field(description="R23: who is invited.")
    name: str = Field(description=f"The invitee's name. {PERSONAL}")
    organisation_id: str | None = Field(description="The invitee's organisation; null for a "
                                        "private person.")
    meeting_number: int = Field(description="The meeting the invitation is for.")
    reply: Reply | None = Field(description="R22: the answer; null until one is recorded.")
    comment: str = Field(description=f"The reply's comment. {PERSONAL}")


class ResponsibleOut(BaseModel):
    """R25: who is responsible for an intervention."""

    kind: ResponsibleKind
    name: str
    organisation_id: str | None


class InterventionOut(BaseModel):
    """R25: an intervention and who is responsible for it."""

    description: str
    responsible: ResponsibleOut


class GoalOut(BaseModel):
    """R27: a goal of the plan."""

    description: str
    measure: str
    target_date: date | None
    accepted_by_individual: bool


class PlanOut(BaseModel):
    """R24–R27: the current plan (its latest revision, R29). Personal data: its content."""

    revision: int = Field(description="R29: the revision (1 when established).")
    decided_on: date = Field(description="R26: the day it was decided at the meeting.")
    needs: list[str] = Field(description="R25: the individual's needs.")
    goals: list[GoalOut] = Field(description="R25, R27: the goals.")
    interventions: list[InterventionOut] = Field(description="R25: the interventions.")
    overall_responsibility: OrganisationKind = Field(description="R26: the principal with "
                                                     "overall responsibility.")
    coordination: str = Field(description="R25: how the interventions are coordinated.")
    follow_up_date: date = Field(description="R19: when the plan is followed up.")


class CorrectedFieldOut(BaseModel):
    """R32: one corrected field: the value the case held and the right one."""

    field: str = Field(description="The field, as `CorrectEntry.changes` names it.",
                       examples=["meeting_at"])
    old_value: str | None = Field(
        default=None, description="The value before this correction, as text; null where "
        "there was none. A place is personal data.")
    new_value: str = Field(description="The corrected value, as text: a day (YYYY-MM-DD), an "
                           "instant (ISO 8601), a place. A place is personal data.")


class CorrectionOut(BaseModel):
    """R32: a correction of an entry of the case. The case's values shown elsewhere in this
    view are the corrected ones: a value is corrected when a correction here names its entry's
    type, its item (the meeting's, consent's, plan revision's or follow-up's number) and its
    field."""

    version: int = Field(description="The correcting entry's version.")
    corrects_version: int = Field(description="The version of the entry corrected.")
    corrected_type: str | None = Field(
        default=None, description="The corrected entry's type (e.g. `MeetingConvened`); null "
        "if not recorded (a correction in words recorded before structured corrections).")
    item: int | None = Field(default=None, description="The number of the meeting, consent, "
                             "plan revision or follow-up corrected; null for a correction in "
                             "words only.")
    recorded_at: str | None = Field(default=None, description=f"When it was recorded. "
                                    f"{INSTANT_AS_RECORDED} Null in an as-of view.")
    on: date = Field(description="The day it was recorded (Swedish local date).")
    actor: ActorOut | None = Field(default=None, description="Who recorded it.")
    reason: str = Field(description=f"Why it was made. {PERSONAL}")
    correction: str = Field(default="", description=f"What is corrected, in words. {PERSONAL}")
    changes: list[CorrectedFieldOut] = Field(default=[], description="The fields corrected, "
                                             "each with the value before and the right one.")
    deadlines: list[str] = Field(default=[], description="The keys of the deadlines it "
                                 "recomputed (their new due days are in `deadlines`).")


class FullCase(RestrictedCase):
    """The case with its personal data, for those consent lets read it (R13)."""

    view: Literal["full"] = "full"  # type: ignore[assignment]
    individual: IndividualOut
    proposed_by: ProposerKind = Field(description="R01: who proposed the SIP.")
    proposer: ActorOut = Field(description="Who recorded the proposal.")
    need_assessed_by: OrganisationKind | None = Field(
        default=None, description="R04: the principal whose staff assessed the need.")
    triggers: list[Trigger] = Field(default=[], description="R08: why a SIP is needed.")
    presumed_need_groups: list[PresumedNeedGroup] = Field(
        default=[], description=f"R07: groups presumed to need a plan. {PERSONAL}")
    plan_type: PlanType = Field(description="R06: the kind of plan.")
    discharge: DischargeOut | None = Field(default=None, description="R05: set when proposed "
                                           "at discharge from inpatient care.")
    consent: ConsentDetails | None = Field(
        default=None, description="The current consent, with who gave it.")
    consents: int = Field(default=0, description="How many consents were recorded.")
    wishes_recorded: bool = Field(default=False, description="R20: the individual's wishes "
                                  "were recorded.")
    meeting: MeetingOut | None = Field(default=None, description="The current meeting.")
    meetings: int = Field(default=0, description="How many meetings were convened.")
    invitations: dict[str, InvitationOut] = Field(
        default={}, description="R21–R23: by participant key (an organisation's id, or "
        "`<role>:<name>` for a private person).")
    contact_person: ActorOut | None = Field(default=None, description="R24: the contact "
                                            "person, who convened the latest meeting.")
    plan: PlanOut | None = Field(default=None, description="The current plan.")
    follow_ups: int = Field(default=0, description="R19: how many follow-ups were recorded.")
    last_follow_up_on: date | None = Field(default=None, description="R19: the latest one.")
    plan_copies: int = Field(default=0, description="R28: copies of the plan issued.")
    corrections: list[CorrectionOut] = Field(
        default=[], description="R32: the corrections of the case's entries, in order; the "
        "values shown above are the corrected ones.")


CaseView = Annotated[FullCase | RestrictedCase, Field(discriminator="view")]
