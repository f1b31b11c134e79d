"""Telling a story to the ledger: one real command per step, on the story's days.

Every step goes through the SipLedger method a coordinator's request would use, so the rules
check it exactly as they check real work. Each command runs with its id and name bound to the
log context; what is logged is ids, command names, organisation ids and counts, nothing personal.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from uuid import UUID

from adapters.demo.bulk import BulkLedger
from adapters.demo.stories import CaseStory, Profile
from adapters.demo.texts import (
    COORDINATION,
    INVITATION_EXPECTATIONS,
    INVITATION_REASONS,
    OTHER_INTERVENTIONS,
    PLAN_TEXTS,
)
from adapters.logging import command_context, get_logger
from domain.clock import STOCKHOLM
from domain.commands import (
    ClosureReason,
    ConsentForm,
    ConsentGiver,
    ConsentGiverRole,
    ConveneMeeting,
    CorrectEntry,
    DeclineSip,
    Discharge,
    EstablishPlan,
    Goal,
    Individual,
    Intervention,
    Invitation,
    IssuePlanCopy,
    LiftLegalHold,
    Participant,
    ParticipantRole,
    PlaceLegalHold,
    PlanContent,
    ProposeSip,
    RecordClosure,
    RecordConsent,
    RecordFollowUp,
    RecordReply,
    RecordWishes,
    Reply,
    Responsible,
    ResponsibleKind,
    Wishes,
    WithdrawConsent,
)
from domain.identity import check_digit_for
from domain.ledger import CommandResult, SipLedger
from domain.parties import Actor, OrganisationKind, Person, Role

log = get_logger(__name__)

# R34: the share of closed cases an auditor places under legal hold (a complaint, a review), and
# of those the share whose hold is lifted again by the story's today.
HOLD_SHARE = 0.05
LIFTED_SHARE = 0.5


@dataclass
class DemoRun:
    """What a run wrote: its cases and how many commands and events it took."""

    case_ids: list[UUID] = field(default_factory=list)
    commands: int = 0
    events: int = 0
    seconds: float = 0.0

    @property
    def commands_per_second(self) -> float:
        return self.commands / self.seconds if self.seconds else 0.0


class CaseWriter:
    """Tells one story to the ledger, command by command, on the story's days."""

    def __init__(
        self,
        ledger: SipLedger | BulkLedger,
        story: CaseStory,
        today: date,
        run: DemoRun,
        now: datetime,
    ) -> None:
        self.ledger = ledger
        self.story = story
        self.run = run
        self.now = now
        self.day0 = today - timedelta(days=story.timeline.today)
        self.rng = random.Random(story.rng_seed)
        self._case_id: UUID | None = None  # set by the proposal
        self.pin = story.person.personal_identity_number
        self.versions: dict[str, int] = {}
        self.approved: tuple[str, ...] = ()  # R14: private persons within the consent
        self.invitations: list[Invitation] = []

    # -- helpers

    @property
    def case_id(self) -> UUID:
        """The case the story writes; every command after the proposal names it."""
        if self._case_id is None:
            raise RuntimeError("the story's case is not proposed yet")
        return self._case_id

    def at(self, offset: int, hour: int | None = None) -> datetime:
        """When a step on day ``offset`` happened: office hours, never later than now."""
        hour = hour if hour is not None else self.rng.randint(8, 15)
        instant = datetime.combine(
            self.day0 + timedelta(days=offset),
            clock_time(hour, self.rng.choice((0, 15, 30, 45))),
            tzinfo=STOCKHOLM,
        )
        return min(instant, self.now)

    def day(self, offset: int) -> date:
        return self.day0 + timedelta(days=offset)

    def send(self, name: str, method: Callable, cmd, actor: Actor) -> CommandResult:
        case_ids = {"case_id": str(self._case_id)} if self._case_id else {}
        with command_context(
            name, cmd.command_id, organisation_id=actor.organisation.id, **case_ids
        ):
            try:
                result = method(cmd, actor)
            except Exception as error:
                log.warning(
                    "command refused",
                    error=type(error).__name__,
                    rule=getattr(error, "rule", None),
                    field=getattr(error, "field", None),
                )
                raise
            log.debug(
                "command recorded",
                case_id=str(result.case_id),
                version=result.version,
                events=len(result.notification_ids),
            )
        self.run.commands += 1
        self.run.events += len(result.notification_ids)
        self.versions[name] = result.version
        return result

    # -- the story

    def write(self, pin: str | None = None) -> UUID:
        """Write the story; ``pin`` is the number a second proposal's first case used."""
        s, t = self.story, self.story.timeline
        self.propose(pin)
        if t.decline is not None:
            self.decline(t.decline)
            return self.case_id
        if t.consent is not None:
            self.consent(t.consent)
        if t.convene is not None:
            assert t.meeting is not None  # a story that convenes has its meeting day
            self.convene(t.convene, t.meeting)
            self.replies(t.convene, min(t.meeting, t.today))
            if s.correction:
                self.correct(min(t.convene + 1, t.today))
        if t.follow_up_due is not None:
            assert t.meeting is not None  # a plan is established at the meeting
            self.establish(t.meeting, t.follow_up_due)
            self.copies(t.meeting, t.today)
        if t.follow_up_held is not None:
            assert t.next_follow_up is not None  # a follow-up sets the next one's day
            self.follow_up(t.follow_up_held, t.next_follow_up)
        if t.withdraw is not None:
            self.withdraw(t.withdraw)
        for offset, closer in zip(t.closures, self._closers(), strict=False):
            self.close(offset, closer)
        # Drawn last, from the story's own generator: the stories before are as they were.
        if len(t.closures) == 2 and self.rng.random() < HOLD_SHARE:
            self.hold(self.rng.randint(t.closures[-1], t.today), t.today)
        return self.case_id

    def _closers(self) -> list[Actor]:
        closers = [self.story.kommun_closer, self.story.region_closer]
        self.rng.shuffle(closers)
        return closers

    def _unused_number(self, pin: str) -> str:
        """The story's number, or if an earlier run left an open case for it, a fresh one.

        Each story is about a person of its own; a demo run on a store that already holds
        demo cases must not bump into them (R09), except where a story means to.
        """
        while self.story.second_of is None and self.ledger.open_cases_for(pin):
            ymd = pin[:8]
            serial = f"{self.rng.randint(0, 99):02d}{pin[11]}"  # keeps the sex digit
            pin = f"{ymd}-{serial}{check_digit_for(ymd[2:] + serial)}"
        return pin

    def propose(self, pin: str | None) -> None:
        s = self.story
        self.pin = pin or self._unused_number(s.person.personal_identity_number)
        # R09: a second proposal is made by someone who has reviewed the open case(s).
        acknowledged = (
            tuple(self.ledger.open_cases_for(self.pin)) if s.second_of is not None else ()
        )
        individual = Individual(
            personal_identity_number=self.pin,
            name=s.person.name,
            guardians=tuple(Person(name=g) for g in s.guardians),
        )
        discharge = None
        if s.discharge:
            discharge = Discharge(
                ready_for_discharge_at=self.at(0, hour=9),
                named_care_contact_person_id=s.proposer.person_id,
            )
        assessed = self.rng.choice([None, OrganisationKind.KOMMUN, OrganisationKind.REGION])
        cmd = ProposeSip(
            occurred_at=self.at(0, hour=10),
            individual=individual,
            proposed_by=s.proposed_by,
            municipality=s.kommun,
            region=s.area.region,
            need_assessed_by=assessed,
            triggers=s.triggers,
            presumed_need_groups=s.groups,
            plan_type=s.plan_type,
            deadline_policy=s.policy,
            discharge=discharge,
            acknowledged_open_case_ids=acknowledged,
        )
        self._case_id = self.send("propose", self.ledger.propose, cmd, s.proposer).case_id

    def decline(self, offset: int) -> None:
        s = self.story
        by = (
            ConsentGiverRole.GUARDIAN if s.profile is Profile.CHILD else ConsentGiverRole.INDIVIDUAL
        )
        note = self.rng.choice(
            [
                "Vill inte ha en SIP just nu, nöjd med nuvarande insatser",
                "Avböjer samordnad plan; informerad om att vården fortsätter som förut",
                "Vill återkomma senare",
            ]
        )
        cmd = DeclineSip(
            case_id=self.case_id, occurred_at=self.at(offset), declined_by=by, note=note
        )
        self.send("decline", self.ledger.decline, cmd, s.coordinator)

    def consent(self, offset: int) -> None:
        s, t = self.story, self.story.timeline
        if s.profile is Profile.CHILD:
            givers = [ConsentGiver(role=ConsentGiverRole.GUARDIAN, name=g) for g in s.guardians]
            if s.person.born <= self.day(offset) - timedelta(days=365 * 15):
                # Not required under 18, but the child's own view is asked for too.
                givers.append(ConsentGiver(role=ConsentGiverRole.INDIVIDUAL, name=s.person.name))
        elif s.administrator:
            givers = [ConsentGiver(role=ConsentGiverRole.ADMINISTRATOR, name=s.administrator)]
        else:
            givers = [ConsentGiver(role=ConsentGiverRole.INDIVIDUAL, name=s.person.name)]
        # R11: oral consent (common at discharge) names who received it and when.
        oral = s.discharge or self.rng.random() < 0.3
        self.approved = self._private_guests()
        valid_from = self.day(offset)
        # R12: time-limited, typically a year; never already expired when recorded.
        valid_until = max(valid_from + timedelta(days=365), self.day(t.today) + timedelta(90))
        cmd = RecordConsent(
            case_id=self.case_id,
            occurred_at=self.at(offset),
            givers=tuple(givers),
            form=ConsentForm.ORAL if oral else ConsentForm.WRITTEN,
            received_by=s.coordinator.name if oral else None,
            received_at=self.at(offset) if oral else None,
            valid_from=valid_from,
            valid_until=valid_until,
            organisation_ids=s.consent_organisations,
            approved_persons=self.approved,
        )
        self.send("record_consent", self.ledger.record_consent, cmd, s.coordinator)
        if self.rng.random() < 0.7:
            self.wishes(offset)

    def _private_guests(self) -> tuple[str, ...]:
        """R14: the private persons the individual wants invited."""
        s = self.story
        if s.profile is Profile.CHILD:
            return tuple(dict.fromkeys(s.guardians))
        persons = [s.relative] if self.rng.random() < 0.6 else []
        if s.administrator:
            persons.append(s.administrator)
        # Synthetic names can coincide (a relative named as the administrator): one invitation.
        return tuple(dict.fromkeys(persons))

    def wishes(self, offset: int) -> None:
        s, r = self.story, self.rng
        support: tuple[str, ...] = ()
        language = ""
        if s.profile is Profile.CHILD or (s.groups and r.random() < 0.3):
            support = ("bildstöd",)
        if r.random() < 0.15:
            language = r.choice(["arabiska", "somaliska", "tigrinja", "persiska", "polska"])
            support += ("tolk",)
        wishes = Wishes(
            place=r.choice(["Hemma", "Vårdcentralen", "Skolan", "Kommunhuset", "Digitalt"]),
            time_of_day=r.choice(["förmiddag", "eftermiddag", ""]),
            longest_minutes=r.choice([30, 45, 60, 90]),
            disturbances=r.choice(["", "Många personer i rummet", "Starkt ljus", "Väntan"]),
            environment=r.choice(["", "Lugnt rum", "Nära utgång", "Samma rum som förra gången"]),
            support=support,
            interpreter_language=language,
        )
        cmd = RecordWishes(case_id=self.case_id, occurred_at=self.at(offset), wishes=wishes)
        self.send("record_wishes", self.ledger.record_wishes, cmd, s.coordinator)

    def _invitations(self) -> list[Invitation]:
        s = self.story
        orgs = [s.kommun, s.area.region, *s.guests]
        invitations = [
            Invitation(
                participant=Participant(
                    role=ParticipantRole(o.kind.value), name=o.name, organisation=o
                ),
                reason=INVITATION_REASONS[o.kind],
                expectation=INVITATION_EXPECTATIONS[o.kind],
            )
            for o in orgs
        ]
        invitations.append(
            Invitation(
                participant=Participant(role=ParticipantRole.INDIVIDUAL, name=s.person.name),
                reason="Planen görs tillsammans med dig",
                expectation="Berätta vad som är viktigt för dig",
            )
        )
        for name in self.approved:
            role = ParticipantRole.TRUSTEE if name == s.administrator else ParticipantRole.RELATIVE
            invitations.append(
                Invitation(
                    participant=Participant(role=role, name=name),
                    reason="Önskas av den enskilde"
                    if role is ParticipantRole.RELATIVE
                    else "Förvaltare med ansvar för den enskildes angelägenheter",
                    expectation="Bidra med kunskap om vardagen",
                )
            )
        return invitations

    def convene(self, offset: int, meeting: int) -> None:
        s = self.story
        place = self.rng.choice(
            [
                f"{s.kommun.name}, mötesrum {self.rng.randint(1, 9)}",
                "Vårdcentralen, konferensrummet",
                "Hemma hos den enskilde",
                f"{s.school.name}, elevhälsans rum"
                if s.profile is Profile.CHILD
                else "Digitalt möte",
            ]
        )
        self.invitations = self._invitations()
        cmd = ConveneMeeting(
            case_id=self.case_id,
            occurred_at=self.at(offset, hour=9),
            meeting_at=datetime.combine(
                self.day(meeting), clock_time(self.rng.randint(9, 14), 0), tzinfo=STOCKHOLM
            ),
            place=place,
            invitations=tuple(self.invitations),
        )
        self.send("convene", self.ledger.convene, cmd, s.coordinator)

    def replies(self, first: int, last: int) -> None:
        # R22: replies are recorded; in Västra Götaland a refusal must say why.
        for inv in self.invitations:
            p = inv.participant
            if p.role is ParticipantRole.INDIVIDUAL or self.rng.random() < 0.25:
                continue
            declined = self.rng.random() < 0.1
            cmd = RecordReply(
                case_id=self.case_id,
                occurred_at=self.at(min(first + self.rng.randint(0, 4), last)),
                participant_key=p.key,
                reply=Reply.DECLINED if declined else Reply.ACCEPTED,
                comment="Kan inte delta det datumet, skickar skriftligt underlag"
                if declined
                else "",
            )
            self.send("record_reply", self.ledger.record_reply, cmd, self.story.coordinator)

    def establish(self, meeting: int, follow_up_due: int) -> None:
        s = self.story
        cmd = EstablishPlan(
            case_id=self.case_id,
            occurred_at=self.at(meeting, hour=15),
            plan=self._plan(self.day(meeting), self.day(follow_up_due)),
        )
        self.send("establish_plan", self.ledger.establish_plan, cmd, s.coordinator)

    def _plan(self, decided_on: date, follow_up: date) -> PlanContent:
        s, r = self.story, self.rng
        needs, goals, kommun_does, region_does = PLAN_TEXTS[s.profile]
        others = [
            Intervention(
                description=OTHER_INTERVENTIONS[g.kind],
                responsible=Responsible(
                    kind=ResponsibleKind.OTHER, name=g.name, organisation_id=g.id
                ),
            )
            for g in s.guests
        ]
        regional_lead = s.discharge or s.profile is Profile.ELDERLY and r.random() < 0.5
        return PlanContent(
            needs=tuple(r.sample(needs, 2)),
            goals=tuple(
                Goal(
                    description=goal,
                    measure=measure,
                    target_date=decided_on + timedelta(days=r.choice([90, 120, 180, 270])),
                    accepted_by_individual=True,
                )
                for goal, measure in r.sample(goals, r.randint(1, 2))
            ),
            interventions=(
                Intervention(
                    description=r.choice(kommun_does),
                    responsible=Responsible(
                        kind=ResponsibleKind.MUNICIPALITY, organisation_id=s.kommun.id
                    ),
                ),
                Intervention(
                    description=r.choice(region_does),
                    responsible=Responsible(
                        kind=ResponsibleKind.REGION, organisation_id=s.area.region.id
                    ),
                ),
                *others,
            ),
            overall_responsibility=OrganisationKind.REGION
            if regional_lead
            else OrganisationKind.KOMMUN,
            coordination=r.choice(COORDINATION),
            follow_up_date=follow_up,
        )

    def copies(self, meeting: int, today: int) -> None:
        # R28: the individual gets a copy; so does everyone at the meeting.
        s = self.story
        offset = min(meeting + self.rng.randint(0, 2), today)
        recipients = [(s.person.name, ParticipantRole.INDIVIDUAL)]
        region = s.area.region
        if self.rng.random() < 0.5:
            recipients.append((region.name, ParticipantRole.REGION))
        for name, role in recipients:
            cmd = IssuePlanCopy(
                case_id=self.case_id,
                occurred_at=self.at(offset),
                recipient_name=name,
                recipient_role=role,
            )
            self.send("issue_plan_copy", self.ledger.issue_plan_copy, cmd, s.coordinator)

    def correct(self, offset: int) -> None:
        # R32: a mistake is corrected by a new, explained entry.
        cmd = CorrectEntry(
            case_id=self.case_id,
            occurred_at=self.at(offset),
            corrects_version=self.versions["convene"],
            reason="Fel rumsnummer i kallelsen",
            correction="Mötet hålls i rum 4, inte i det rum som angavs",
        )
        self.send("correct_entry", self.ledger.correct_entry, cmd, self.story.coordinator)

    def follow_up(self, held: int, next_due: int) -> None:
        s, r = self.story, self.rng
        revise = r.random() < 0.4
        cmd = RecordFollowUp(
            case_id=self.case_id,
            occurred_at=self.at(held, hour=14),
            held_on=self.day(held),
            what_happened=r.choice(
                [
                    "Insatserna har kommit igång enligt planen",
                    "Delvis genomfört; väntetid hos en av verksamheterna",
                    "Målen är till största delen nådda",
                ]
            ),
            what_remains=r.choice(["", "Fortsatt stöd i vardagen", "Utredning pågår"]),
            new_needs=("Stöd vid läkemedelshantering",) if r.random() < 0.3 else (),
            revised_plan=self._plan(self.day(held), self.day(next_due)) if revise else None,
            next_follow_up_date=self.day(next_due),
        )
        self.send("record_follow_up", self.ledger.record_follow_up, cmd, s.coordinator)

    def withdraw(self, offset: int) -> None:
        s = self.story
        by = (
            ConsentGiverRole.GUARDIAN
            if s.profile is Profile.CHILD
            else ConsentGiverRole.ADMINISTRATOR
            if s.administrator
            else ConsentGiverRole.INDIVIDUAL
        )
        cmd = WithdrawConsent(
            case_id=self.case_id,
            occurred_at=self.at(offset),
            withdrawn_by=by,
            note="Återkallat muntligt vid telefonsamtal",
        )
        self.send("withdraw_consent", self.ledger.withdraw_consent, cmd, s.coordinator)

    def hold(self, placed: int, today: int) -> None:
        # R34: an auditor of the kommun holds the closed case; some holds are lifted again.
        auditor = Actor(person_id=f"revisor.{self.story.kommun.id}", name="Gun Granskare",
                        organisation=self.story.kommun, unit="Internrevisionen",
                        role=Role.AUDITOR)
        cmd = PlaceLegalHold(
            case_id=self.case_id,
            occurred_at=self.at(placed),
            reason="Klagomål på handläggningen utreds",
            reference=f"IVO 3.5-{self.story.number + 1000}/{self.day(placed).year}",
        )
        self.send("place_legal_hold", self.ledger.place_legal_hold, cmd, auditor)
        if today > placed and self.rng.random() < LIFTED_SHARE:
            lift = LiftLegalHold(case_id=self.case_id, occurred_at=self.at(today),
                                 reason="Utredningen är avslutad")
            self.send("lift_legal_hold", self.ledger.lift_legal_hold, lift, auditor)

    def close(self, offset: int, closer: Actor) -> None:
        withdrawn = self.story.timeline.withdraw is not None
        reason = (
            ClosureReason.CONSENT_WITHDRAWN
            if withdrawn
            else self.rng.choice([ClosureReason.GOALS_MET, ClosureReason.COORDINATION_NOT_NEEDED])
        )
        cmd = RecordClosure(
            case_id=self.case_id,
            occurred_at=self.at(offset),
            reason=reason,
            note="Avslut dokumenterat i verksamhetens journal",
        )
        self.send("record_closure", self.ledger.record_closure, cmd, closer)
