"""Commands: what a coordinator asks the ledger to record, as pydantic models.

The models check shape (types, required fields). The SIP rules themselves are checked by the
SipCase aggregate, so that every refusal names its rule id from DOMAIN.md.

Every field carries its description (format, allowed values, who may be named, the rule id) and
an example: the HTTP API takes these models as its request bodies, so this is the API's contract
as its clients read it in /openapi.json. The examples are one made-up case (Skatteverket's test
person Tolvan Tolvansson), never real personal data.

Vocabulary: the API says ``municipality`` in field names and ``ResponsibleKind`` and ``kommun``
as an organisation's kind; both mean the kommun, the principal for social services. Neither is
renamed: stored events and clients name them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from uuid import UUID, uuid4

from pydantic import Field

from .deadlines import known_policies
from .limits import (
    DAY_NOTE,
    INSTANT_NOTE,
    LONG_TEXT_MAX,
    NAME_MAX,
    PERSONAL_IDENTITY_NUMBER_FORMAT,
    PLACE_MAX,
    SHORT_TEXT_MAX,
    VERSION_MAX,
    Day,
    Identifier,
    Instant,
    Line,
    LongText,
    MaxItems,
    Name,
    NameOrEmpty,
    Note,
    ParticipantKey,
    PersonalIdentityNumberInput,
    Place,
    PlaceOrEmpty,
    ShortText,
    Text,
)
from .parties import (
    EXAMPLE_KOMMUN,
    EXAMPLE_REGION,
    PERSONAL_DATA,
    Frozen,
    Organisation,
    OrganisationKind,
    Person,
)
from .retention import DEFAULT_RETENTION_POLICY, known_retention_policies

# The made-up individual of every example.
EXAMPLE_NAME = "Tolvan Tolvansson"
EXAMPLE_PIN = "19121212-1212"


class Trigger(StrEnum):
    """R08: reasons a SIP is needed: ``coordination_requested`` (the individual or someone
    close asks for coordination), ``several_competences`` (competence from several
    organisations is needed), ``responsibility_unclear`` (who is responsible is unclear),
    ``simultaneous_or_ordered`` (interventions must come at once or in a given order),
    ``passed_around`` (the person feels passed around, "bollas runt")."""

    COORDINATION_REQUESTED = "coordination_requested"
    SEVERAL_COMPETENCES = "several_competences"
    RESPONSIBILITY_UNCLEAR = "responsibility_unclear"
    SIMULTANEOUS_OR_ORDERED = "simultaneous_or_ordered"
    PASSED_AROUND = "passed_around"  # "bollas runt"


class PresumedNeedGroup(StrEnum):
    """R07: groups for whom a plan is presumed to be needed: psychiatric illness with substance
    abuse; severe psychiatric illness with disability; dementia with other somatic disease."""

    PSYCHIATRIC_WITH_SUBSTANCE_ABUSE = "psychiatric_with_substance_abuse"
    SEVERE_PSYCHIATRIC_WITH_DISABILITY = "severe_psychiatric_with_disability"
    DEMENTIA_WITH_SOMATIC = "dementia_with_somatic"


class PlanType(StrEnum):
    """R06: the region distinguishes plan types: ``sip`` (the plain plan), ``vard-sip``
    (vård-SIP, after hospital care) and ``rehab-sip`` (rehabilitation)."""

    SIP = "sip"
    VARD_SIP = "vard-sip"
    REHAB_SIP = "rehab-sip"


class ProposerKind(StrEnum):
    """R01: anyone may propose: the ``individual``, a ``relative`` (närstående), ``staff`` of
    any organisation, ``forsakringskassan`` (the social insurance agency) or ``other``."""

    INDIVIDUAL = "individual"
    RELATIVE = "relative"
    STAFF = "staff"
    FORSAKRINGSKASSAN = "forsakringskassan"
    OTHER = "other"


class ConsentGiverRole(StrEnum):
    """R10: who gives consent: the ``individual``; a ``guardian`` (vårdnadshavare) for a child
    under 18; an ``administrator`` (förvaltare), who may consent for an adult."""

    INDIVIDUAL = "individual"
    GUARDIAN = "guardian"
    ADMINISTRATOR = "administrator"  # förvaltare


class ConsentForm(StrEnum):
    """R11: consent may be ``oral`` (then who received it, and when, is documented) or
    ``written``."""

    ORAL = "oral"
    WRITTEN = "written"


class ParticipantRole(StrEnum):
    """R23: who may be invited besides the principals. Organisations: ``kommun`` (the
    municipality), ``region``, ``skola`` (school, preschool, pupil health),
    ``forsakringskassan``, ``arbetsformedlingen``, ``kriminalvarden``, ``other_organisation``.
    Private persons: ``individual`` (the person the plan is for), ``relative`` (närstående),
    ``trustee`` (god man or förvaltare), ``personal_representative`` (personligt ombud),
    ``support_person``."""

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
    """R22: an invitee's answer: ``accepted`` or ``declined``."""

    ACCEPTED = "accepted"
    DECLINED = "declined"


class ResponsibleKind(StrEnum):
    """R25: who is responsible for an intervention: ``municipality`` (the kommun), ``region``,
    or ``other`` (someone else, named)."""

    MUNICIPALITY = "municipality"
    REGION = "region"
    OTHER = "other"


class ClosureReason(StrEnum):
    """R30: why planning closes: ``goals_met``, ``coordination_not_needed`` or
    ``consent_withdrawn`` (only once the consent has been withdrawn)."""

    GOALS_MET = "goals_met"
    COORDINATION_NOT_NEEDED = "coordination_not_needed"
    CONSENT_WITHDRAWN = "consent_withdrawn"


def _policies() -> str:
    """The known deadline policies in words, from the policies themselves (the newest version's
    name of each)."""
    names = {p.id: p.name for p in known_policies()}  # sorted by version: the newest wins
    return "; ".join(f"`{policy_id}`: {name}" for policy_id, name in names.items())


# ---- value objects used inside commands and events -------------------------------------------


class Individual(Frozen):
    """The person the plan is for (den enskilde). Personal data (R35)."""

    personal_identity_number: PersonalIdentityNumberInput = Field(
        description=f"The individual's {PERSONAL_IDENTITY_NUMBER_FORMAT} {PERSONAL_DATA}",
        examples=[EXAMPLE_PIN],
    )
    name: Name = Field(
        description=f"The individual's name. {PERSONAL_DATA}", examples=[EXAMPLE_NAME]
    )
    guardians: Annotated[tuple[Person, ...], MaxItems(10)] = Field(
        default=(),
        description="R10: every registered guardian (vårdnadshavare) of a child under 18: each "
        "of them must then consent, named the same way in the consent's givers. Empty for an "
        "adult.",
        examples=[[{"name": "Tolva Tolvansson"}]],
    )


class Discharge(Frozen):
    """R05: a proposal started at hospital discharge by the named care contact."""

    ready_for_discharge_at: Instant = Field(
        description="R05: when the hospital gave notice that the patient is ready for discharge "
        "(utskrivningsklar); the invitation is due within 3 days of it (lag 2017:612). "
        f"{INSTANT_NOTE}",
        examples=["2025-03-03T09:30:00+01:00"],
    )
    named_care_contact_person_id: Identifier = Field(
        description="R05: the person id (e.g. HSA id) of the named care contact (fast "
        "vårdkontakt) in the region's outpatient care, who takes the initiative: it must be the "
        "caller's own person id, and the caller's organisation a region.",
        examples=["SE2321000131-E000000000001"],
    )


class ConsentGiver(Frozen):
    """R10: one who gave consent."""

    role: ConsentGiverRole = Field(
        description="R10: from 18 the individual or their administrator (förvaltare) must be "
        "among the givers; under 18 every registered guardian must be.",
        examples=["individual"],
    )
    name: Name = Field(
        description="The giver's name; a guardian is matched against the individual's "
        f"guardians by name (case-insensitive, R10). {PERSONAL_DATA}",
        examples=[EXAMPLE_NAME],
    )


class Wishes(Frozen):
    """R20: the individual's wishes for the meeting."""

    place: PlaceOrEmpty = Field(
        default="", description="R20: where the individual wants to meet.",
        examples=["Hemma hos Tolvan"],
    )
    time_of_day: Annotated[str, Line(200)] = Field(
        default="", description="R20: what time of day suits the individual.",
        examples=["förmiddag"],
    )
    longest_minutes: int | None = Field(
        default=None, ge=5, le=480,
        description="R20: the longest the meeting may last, in minutes (5 to 480).",
        examples=[45],
    )
    disturbances: ShortText = Field(
        default="", description="R20: what may disturb the individual.",
        examples=["Starkt ljus, många människor"],
    )
    environment: ShortText = Field(
        default="", description="R20: the environment the individual needs.",
        examples=["Ett lugnt rum utan fönster mot gatan"],
    )
    support: Annotated[tuple[Annotated[str, Line(200)], ...], MaxItems(20)] = Field(
        default=(),
        description="R20: support the individual needs at the meeting, such as picture support "
        "(bildstöd) or an interpreter (tolk).",
        examples=[["bildstöd", "tolk"]],
    )
    interpreter_language: Annotated[str, Line(100)] = Field(
        default="", description="R20: the language an interpreter is needed for, if any.",
        examples=["arabiska"],
    )


class Participant(Frozen):
    """R23: who is invited: an organisation (by its contact) or a private person."""

    role: ParticipantRole = Field(
        description="R23: an organisation role (kommun, region, skola, forsakringskassan, "
        "arbetsformedlingen, kriminalvarden, other_organisation) needs `organisation`; a "
        "private person (relative, trustee, personal_representative, support_person) must be "
        "among the consent's approved_persons (R14); `individual` is the person themself.",
        examples=["forsakringskassan"],
    )
    name: Name = Field(
        description="The participant's name: the organisation's contact, or the private "
        f"person. {PERSONAL_DATA}",
        examples=["Försäkringskassan"],
    )
    organisation: Organisation | None = Field(
        default=None,
        description="The organisation, for an organisation role: its id must be among the "
        "consent's organisation_ids (R13, R14). Left out for a private person.",
        examples=[{"id": "fk", "kind": "forsakringskassan", "name": "Försäkringskassan"}],
    )

    @property
    def key(self) -> str:
        return self.organisation.id if self.organisation else f"{self.role.value}:{self.name}"


class Invitation(Frozen):
    """R21: an invitation to the meeting: who, why, and what is expected of them."""

    participant: Participant = Field(description="R23: who is invited; each at most once.")
    reason: ShortText = Field(
        default="",
        description="R21: why this participant is invited (required: not blank).",
        examples=["Behövs för frågan om sjukpenning"],
    )
    expectation: ShortText = Field(
        default="",
        description="R21: what is expected of the participant (required: not blank).",
        examples=["Ta med beslutsunderlag"],
    )


class Goal(Frozen):
    """R27: SMART goals: specific, measurable, accepted, realistic, time-bound."""

    description: ShortText = Field(
        description="R25, R27: the goal, specific (at least 5 characters).",
        examples=["Bo kvar i egen lägenhet"],
    )
    measure: ShortText = Field(
        default="", description="R27: how reaching the goal is measured (required: not blank).",
        examples=["Inga avhysningshot under perioden"],
    )
    target_date: Day | None = Field(
        default=None,
        description=f"R27: by when the goal is reached (required: after the meeting). {DAY_NOTE}",
        examples=["2025-09-30"],
    )
    accepted_by_individual: bool = Field(
        default=False,
        description="R27: the individual accepts the goal (required: true).",
        examples=[True],
    )


class Responsible(Frozen):
    """R25: who is responsible for an intervention."""

    kind: ResponsibleKind = Field(
        description="R25: `municipality` (the kommun), `region`, or `other` (then `name` is "
        "required).",
        examples=["municipality"],
    )
    name: NameOrEmpty = Field(
        default="", description="R25: who is responsible, required for kind `other`.",
        examples=["Arbetsförmedlingen"],
    )
    organisation_id: Identifier | None = Field(
        default=None, description="The responsible organisation's id, where it has one.",
        examples=["kommun-goteborg"],
    )


class Intervention(Frozen):
    """R25: an intervention (insats) and who is responsible for it."""

    description: Annotated[str, Text(SHORT_TEXT_MAX, min_length=1)] = Field(
        description="R25: the intervention.", examples=["Boendestöd två gånger i veckan"]
    )
    responsible: Responsible = Field(description="R25: who is responsible for it.")


class PlanContent(Frozen):
    """R25: what every plan states."""

    needs: Annotated[tuple[ShortText, ...], MaxItems(30)] = Field(
        description="R25: the individual's needs: at least one, none blank.",
        examples=[["Stöd i boendet", "Psykiatrisk behandling"]],
    )
    goals: Annotated[tuple[Goal, ...], MaxItems(30)] = Field(
        description="R25, R27: the goals: at least one, each SMART."
    )
    interventions: Annotated[tuple[Intervention, ...], MaxItems(50)] = Field(
        description="R25: the interventions and who is responsible for each: at least one."
    )
    overall_responsibility: OrganisationKind = Field(
        description="R26: which principal has overall responsibility (övergripande ansvar): "
        "`kommun` (the municipality) or `region` only; other kinds are refused.",
        examples=["kommun"],
    )
    coordination: Note = Field(
        description="R25: how the interventions are coordinated (required: not blank).",
        examples=["Kommunens samordnare håller ihop insatserna"],
    )
    follow_up_date: Day = Field(
        description=f"R19: when the plan is followed up, after the meeting. {DAY_NOTE}",
        examples=["2025-06-30"],
    )


# ---- commands --------------------------------------------------------------------------------


class Command(Frozen):
    command_id: UUID = Field(
        default_factory=uuid4,
        description="The command's id; over HTTP the Idempotency-Key header gives it.",
        examples=["5b0c8e52-7a3d-4f0e-9d1c-2e6f8a4b7c13"],
    )
    occurred_at: Instant | None = Field(
        default=None,
        description="When the action happened in the world, where that is earlier than it is "
        "recorded (e.g. consent received yesterday); at most 5 minutes ahead of the server's "
        "clock. Its day is the action's day for deadlines and consent. Left out: now. "
        f"{INSTANT_NOTE}",
        examples=["2025-03-03T14:00:00+01:00"],
    )


class CaseCommand(Command):
    case_id: UUID = Field(description="The case; over HTTP the path gives it.",
                          examples=["0d6f1a9e-3c1b-4e7a-9a52-8f6c2b1d4e90"])
    expected_version: int | None = Field(
        default=None, ge=1, le=VERSION_MAX,
        description="Optimistic concurrency: the case's version the caller last read (`version` "
        "of GET /cases/{case_id}); if the case has moved on the command is refused (409). Left "
        "out: no check.",
        examples=[3],
    )


class ProposeSip(Command):
    """R01: anyone may propose a SIP; the proposal opens a case for the individual with its two
    principals (huvudmän), the kommun and the region (R02)."""

    individual: Individual = Field(description="The person the plan is for.")
    proposed_by: ProposerKind = Field(
        default=ProposerKind.STAFF, description="R01: who proposed the SIP.",
        examples=["relative"],
    )
    municipality: Organisation = Field(
        description="R02: the municipal principal: the kommun, responsible for social services. "
        "Its kind must be `kommun` (the field's name and the kind's value mean the same).",
        examples=[EXAMPLE_KOMMUN],
    )
    region: Organisation = Field(
        description="R02: the regional principal, responsible for health care. Its kind must "
        "be `region`.",
        examples=[EXAMPLE_REGION],
    )
    need_assessed_by: OrganisationKind | None = Field(
        default=None,
        description="R04: which principal judged a plan to be needed (one is enough): `kommun` "
        "or `region` only, other kinds are refused. That principal owes the start. Left out: "
        "the kommun does, or at discharge the region.",
        examples=["region"],
    )
    triggers: Annotated[tuple[Trigger, ...], MaxItems(10)] = Field(
        default=(),
        description="R08: why a SIP is needed. A proposal gives at least one trigger or one "
        "presumed-need group.",
        examples=[["coordination_requested", "several_competences"]],
    )
    presumed_need_groups: Annotated[tuple[PresumedNeedGroup, ...], MaxItems(10)] = Field(
        default=(),
        description="R07: the groups the individual belongs to for whom a plan is presumed to "
        "be needed.",
        examples=[["psychiatric_with_substance_abuse"]],
    )
    plan_type: PlanType = Field(
        default=PlanType.SIP, description="R06: the type of plan.", examples=["sip"]
    )
    deadline_policy: Identifier = Field(
        default="national",
        description="R16–R18: the deadline policy the case follows, by id: "
        f"{_policies()}. A policy for children and young people refuses an older individual "
        "(R17).",
        examples=["national"],
    )
    discharge: Discharge | None = Field(
        default=None,
        description="R05: set when the proposal starts at hospital discharge; left out "
        "otherwise.",
    )
    acknowledged_open_case_ids: Annotated[tuple[UUID, ...], MaxItems(100)] = Field(
        default=(),
        description="R09: the individual's open cases the proposer has reviewed. A proposal "
        "for an individual with an open SIP is refused (422, R09) until every open case is "
        "listed here.",
        examples=[["0d6f1a9e-3c1b-4e7a-9a52-8f6c2b1d4e90"]],
    )


class DeclineSip(CaseCommand):
    """R15: the individual declines the SIP before consent is given; the case ends as
    declined, and their care is not affected. After consent, withdraw it instead (R12)."""

    declined_by: ConsentGiverRole = Field(
        default=ConsentGiverRole.INDIVIDUAL, description="R15: who declined.",
        examples=["individual"],
    )
    note: Note = Field(default="", description="A note on the refusal.",
                       examples=["Vill inte ha SIP just nu"])


class RecordConsent(CaseCommand):
    """R10–R14: the individual's consent: who gave it, in what form, for how long, and which
    organisations may exchange information."""

    givers: Annotated[tuple[ConsentGiver, ...], MaxItems(10)] = Field(
        description="R10: who gave consent: at least one. From 18 the individual or their "
        "administrator (förvaltare); under 18 every registered guardian.",
        examples=[[{"role": "individual", "name": EXAMPLE_NAME}]],
    )
    form: ConsentForm = Field(
        description="R11: `oral` or `written`; oral consent needs received_by and received_at.",
        examples=["written"],
    )
    received_by: NameOrEmpty | None = Field(
        default=None,
        description="R11: for oral consent, who received it (required then): the staff "
        "member's name.",
        examples=["Anna Andersson"],
    )
    received_at: Instant | None = Field(
        default=None,
        description=f"R11: for oral consent, when it was received (required then). {INSTANT_NOTE}",
        examples=["2025-03-03T10:15:00+01:00"],
    )
    valid_from: Day = Field(
        description=f"R12: the first day the consent holds. {DAY_NOTE}",
        examples=["2025-03-03"],
    )
    valid_until: Day = Field(
        description="R12: the last day the consent holds: not before valid_from, not in the "
        f"past. {DAY_NOTE}",
        examples=["2026-03-02"],
    )
    organisation_ids: Annotated[tuple[Identifier, ...], MaxItems(50)] = Field(
        description="R13: the ids of the organisations that may exchange information in this "
        "planning (at least one): only they may be invited (R14) and read the case's personal "
        "data.",
        examples=[["kommun-goteborg", "region-vg", "fk"]],
    )
    approved_persons: Annotated[tuple[Name, ...], MaxItems(50)] = Field(
        default=(),
        description="R14: the private persons (relatives, trustee, personal representative, "
        "support person) the individual agrees to invite, by name; an invitation to a private "
        f"person must match one (case-insensitive). {PERSONAL_DATA}",
        examples=[["Tolva Tolvansson"]],
    )


class WithdrawConsent(CaseCommand):
    """R12, R30: the consent is withdrawn; planning ends and each principal documents closure
    (R31)."""

    withdrawn_by: ConsentGiverRole = Field(
        default=ConsentGiverRole.INDIVIDUAL, description="R12: who withdrew the consent.",
        examples=["individual"],
    )
    note: Note = Field(default="", description="A note on the withdrawal.",
                       examples=["Återkallat muntligt vid telefonsamtal"])


class RecordWishes(CaseCommand):
    """R20: the individual's wishes for the meeting."""

    wishes: Wishes = Field(description="R20: the wishes, as the individual gave them.")


class ConveneMeeting(CaseCommand):
    """R02, R03, R21–R24: convene the SIP meeting. Only a principal of the case may (or a
    school under Västra Götaland's agreement for children and young people, R03), and only
    under a valid consent (R10)."""

    meeting_at: Instant = Field(
        description="When the meeting is held: not before today (R17, R18: the policy's "
        f"deadlines count from it). {INSTANT_NOTE}",
        examples=["2025-03-24T13:00:00+01:00"],
    )
    place: Place = Field(description="Where the meeting is held.",
                         examples=["Stadshuset, rum 3"])
    invitations: Annotated[tuple[Invitation, ...], MaxItems(50)] = Field(
        description="R21–R24: who is invited, at least one; each participant once. "
        "Organisations within the consent's organisation_ids, private persons among its "
        "approved_persons (R14).",
    )


class RecordReply(CaseCommand):
    """R22: an invitee's reply."""

    participant_key: ParticipantKey = Field(
        description="Which invitee replied, as the invitation named them: the organisation's id "
        "for an organisation, `<role>:<name>` for a private person (e.g. `relative:<name>`). "
        "The second form holds a person's name: personal data (R35), so it goes in the body "
        "only, never in a URL or a log, and a refusal does not repeat it.",
        examples=["fk"],
    )
    reply: Reply = Field(description="R22: the invitee's answer.", examples=["accepted"])
    comment: Note = Field(
        default="",
        description="R22: a comment; the reason is required for a declined reply under a "
        "policy where everyone convened is obliged to take part (vgr-barn-unga).",
        examples=["Kan inte komma, skickar skriftligt underlag"],
    )


class EstablishPlan(CaseCommand):
    """R24–R27: the plan, decided at the meeting (on or after its day) and recorded by the
    contact person who convened it or a principal of the case, under a valid consent."""

    plan: PlanContent = Field(description="R25: what the plan states.")


class RecordFollowUp(CaseCommand):
    """R29: a follow-up of the plan: what happened, what remains, new needs; the plan revised
    if need be; the next follow-up booked (R19)."""

    held_on: Day = Field(
        description=f"R29: the day the follow-up was held: not before the plan was made, not in "
        f"the future. {DAY_NOTE}",
        examples=["2025-06-30"],
    )
    what_happened: Annotated[str, Text(LONG_TEXT_MAX, min_length=1)] = Field(
        description="R29: what happened since the plan or the last follow-up.",
        examples=["Boendestödet har kommit igång"],
    )
    what_remains: LongText = Field(
        default="", description="R29: what remains to be done.",
        examples=["Samtalsbehandlingen har inte börjat"],
    )
    new_needs: Annotated[tuple[ShortText, ...], MaxItems(30)] = Field(
        default=(), description="R29: needs that have come up since.",
        examples=[["Stöd till sysselsättning"]],
    )
    revised_plan: PlanContent | None = Field(
        default=None,
        description="R29: the revised plan, if it is revised (under a valid consent); its "
        "follow_up_date is next_follow_up_date.",
    )
    next_follow_up_date: Day = Field(
        description=f"R19, R29: the next follow-up, after held_on. {DAY_NOTE}",
        examples=["2025-12-15"],
    )


class IssuePlanCopy(CaseCommand):
    """R28: a copy of the plan to the individual or to someone at the meeting; anyone but the
    individual only while a valid consent lets the plan go to them (R13)."""

    recipient_name: Name = Field(
        description="R28: who gets the copy: the individual, or an invitee of the case by the "
        f"name the invitation gave. {PERSONAL_DATA}",
        examples=[EXAMPLE_NAME],
    )
    recipient_role: ParticipantRole = Field(
        description="R28: the recipient's role: `individual`, or the invitee's role.",
        examples=["individual"],
    )


class RecordClosure(CaseCommand):
    """R30, R31: a principal documents closure. Each principal of the case records its own;
    the case is closed when both have."""

    reason: ClosureReason = Field(description="R30: why planning closes.",
                                  examples=["goals_met"])
    note: Note = Field(default="", description="A note on the closure.",
                       examples=["Målen i planen är uppnådda"])


CORRECTABLE_FIELDS = (
    "MeetingConvened: `meeting_at` (instant), `place` (place); ConsentRecorded: `valid_from` "
    "(day), `valid_until` (day); PlanEstablished: `follow_up_date` (day); PlanRevised: "
    "`follow_up_date` (day); FollowUpRecorded: `held_on` (day), `next_follow_up_date` (day)"
)


class FieldChange(Frozen):
    """R32: one field of the corrected entry and its right value."""

    field: Annotated[str, Line(100, min_length=1)] = Field(
        # The table is domain/rules/correction.py's CORRECTABLE (which imports this module, so
        # it is written out here; tests/domain/test_corrections.py holds the two together).
        description="R32: the field corrected, by the name the entry's command gave it. "
        f"Correctable: {CORRECTABLE_FIELDS}. Another field, or one the entry's type does "
        "not have, is refused naming `changes[i].field`; correct it in words instead.",
        examples=["meeting_at"],
    )
    new_value: Annotated[str, Line(PLACE_MAX, min_length=1)] = Field(
        description="R32: the right value, as text of the field's type: a day as YYYY-MM-DD, an "
        "instant as ISO 8601 (without an offset Swedish local time), a place as one line. A "
        "value of the wrong type is refused naming `changes[i].new_value`, never repeating the "
        "value. A place is personal data (R35).",
        examples=["2026-04-17T13:00:00+02:00"],
    )


class CorrectEntry(CaseCommand):
    """R32: a mistake is corrected by a new, explained entry; the history keeps both. Name the
    fields and their right values in `changes` (the case then shows the corrected values,
    marked as corrected, and recomputes a deadline computed from a corrected date); what has no
    field is corrected in words (`correction`). At least one of the two."""

    corrects_version: int = Field(
        ge=1, le=VERSION_MAX,
        description="R32: the version of the entry corrected (an event in GET "
        "/cases/{case_id}/history); not beyond the case's version.",
        examples=[3],
    )
    reason: ShortText = Field(
        description="R32: why the correction is made (at least 3 characters).",
        examples=["Fel datum angavs i kallelsen"],
    )
    changes: Annotated[tuple[FieldChange, ...], MaxItems(10)] = Field(
        default=(),
        description="R32: the fields corrected and their right values, each field once.",
        examples=[[{"field": "meeting_at", "new_value": "2026-04-17T13:00:00+02:00"}]],
    )
    correction: LongText = Field(
        default="",
        description="R32: what is corrected, in words: for what has no field in `changes` "
        "(required when `changes` is empty).",
        examples=["Mötet hölls i Stadshuset, rum 5"],
    )


# ---- retention (R34) -------------------------------------------------------------------------


def _retention_policies() -> str:
    """The retention policies in words (the newest version's name of each)."""
    names = {p.id: p.name for p in known_retention_policies()}
    return "; ".join(f"`{policy_id}`: {name}" for policy_id, name in names.items())


# A decision's or a file's reference (diarienummer): one line, as long as a name may be.
Reference = Annotated[str, Line(NAME_MAX)]


class PlaceLegalHold(CaseCommand):
    """R34: an auditor places a legal hold on a case (a review, a complaint, a court case): a
    held case is never erased. One hold at a time; the role `auditor` only."""

    reason: Annotated[str, Text(SHORT_TEXT_MAX, min_length=1)] = Field(
        description="R34: why the case is held. Sealed with the case's personal data.",
        examples=["Tillsyn av IVO pågår"],
    )
    reference: Reference = Field(
        default="",
        description="R34: the reference of the review or decision the hold is for (a "
        "diarienummer); no personal data.",
        examples=["IVO 3.5-12345/2031"],
    )


class LiftLegalHold(CaseCommand):
    """R34: an auditor lifts the case's legal hold; its retention then runs as before. The role
    `auditor` only, and only while a hold is placed."""

    reason: Annotated[str, Text(SHORT_TEXT_MAX, min_length=1)] = Field(
        description="R34: why the hold is lifted. Sealed with the case's personal data.",
        examples=["Tillsynen är avslutad"],
    )


class ErasePersonalData(CaseCommand):
    """R34: an archivist culls (gallrar) the case's personal data under a decision: the
    erasure is recorded (who, on which decision, under which policy version, which data
    subjects) and the subjects' data keys are then destroyed. Refused (R34) without a decision,
    for a case under legal hold, for a case already erased, and for a case not yet due under the
    policy unless `override_reason` says why. Every later command on the case is refused. The
    role `archivist` only."""

    decision: Reference = Field(
        description="R34: the reference of the decision to cull (required: blank is refused, "
        "naming R34); shown in every reader's marker, so no personal data.",
        examples=["KS 2031/123"],
    )
    policy_id: Identifier = Field(
        default=DEFAULT_RETENTION_POLICY,
        description=f"R34: the retention policy the erasure is decided under, by id: "
        f"{_retention_policies()}. Its newest version is recorded with the erasure.",
        examples=[DEFAULT_RETENTION_POLICY],
    )
    override_reason: Annotated[str, Text(SHORT_TEXT_MAX)] | None = Field(
        default=None,
        description="R34: why the case is erased although the policy does not make it due yet "
        "(or keeps it by an exemption); recorded with the erasure. Left out: the case must be "
        "due. A legal hold is never overridden. No personal data.",
        examples=["Den enskilde har begärt radering och inget undantag gäller"],
    )
