"""Stories: what happens in each synthetic case, and on which day, planned from a seed.

A story fixes who the individual is, which principals and deadline policy, how far the case
comes (its outcome) and the day of every step, as offsets from the proposal. ``today`` is where
"now" falls in the story: a story whose follow-up date lies before ``today`` and which records no
follow-up leaves an overdue deadline; one whose steps come later than its policy allows has its
deadlines met late. Everything is drawn from one seeded generator, so a seed (and a day) always
gives the same stories.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import TypeVar

from adapters.demo.population import (
    AF,
    AREAS,
    FK,
    KRIMINALVARDEN,
    Area,
    Staff,
    SyntheticIndividual,
    synthetic_individual,
    synthetic_name,
)
from domain.commands import PlanType, PresumedNeedGroup, ProposerKind, Trigger
from domain.identity import age_on
from domain.parties import Actor, Organisation


class Outcome(StrEnum):
    """How far a story goes before "today"."""

    PROPOSED = "proposed"
    DECLINED = "declined"
    CONSENTED = "consented"
    CONVENED = "convened"
    PLAN_ESTABLISHED = "plan_established"
    FOLLOWED_UP = "followed_up"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    CLOSED_BY_ONE = "closed_by_one"
    CLOSED_BY_BOTH = "closed_by_both"


OUTCOME_WEIGHTS = {
    Outcome.PROPOSED: 10,
    Outcome.DECLINED: 6,
    Outcome.CONSENTED: 11,
    Outcome.CONVENED: 14,
    Outcome.PLAN_ESTABLISHED: 17,
    Outcome.FOLLOWED_UP: 13,
    Outcome.CONSENT_WITHDRAWN: 7,
    Outcome.CLOSED_BY_ONE: 8,
    Outcome.CLOSED_BY_BOTH: 14,
}
ENDED_OUTCOMES = (Outcome.DECLINED, Outcome.CLOSED_BY_BOTH)


class Profile(StrEnum):
    CHILD = "child"  # under 18: the guardians consent (R10)
    YOUNG = "young"  # 18–20: own consent; Västra Götaland's agreement still applies (R03)
    ADULT = "adult"  # psychiatry, substance abuse, rehabilitation
    ELDERLY = "elderly"  # dementia with somatic disease: presumed need (R07)


Choice = TypeVar("Choice")
PROFILE_WEIGHTS = {Profile.CHILD: 25, Profile.YOUNG: 15, Profile.ADULT: 35, Profile.ELDERLY: 25}
AGES = {
    Profile.CHILD: (2, 16),
    Profile.YOUNG: (18, 20),
    Profile.ADULT: (23, 64),
    Profile.ELDERLY: (72, 94),
}

# Share of stories where things happen later than the policy allows.
LATE_SHARE = 0.3
# Roughly one story in this many is a deliberate second proposal for someone with an open case.
SECOND_PROPOSAL_EVERY = 15


@dataclass
class Timeline:
    """Day offsets from the proposal; ``None`` where the story never gets there."""

    today: int
    decline: int | None = None
    consent: int | None = None
    convene: int | None = None
    meeting: int | None = None
    follow_up_due: int | None = None
    follow_up_held: int | None = None
    next_follow_up: int | None = None
    withdraw: int | None = None
    closures: tuple[int, ...] = ()


@dataclass
class CaseStory:
    number: int
    outcome: Outcome
    late: bool
    profile: Profile
    area: Area
    kommun: Organisation
    school: Organisation
    policy: str
    person: SyntheticIndividual
    guardians: tuple[str, ...]
    relative: str
    administrator: str | None
    discharge: bool
    plan_type: PlanType
    triggers: tuple[Trigger, ...]
    groups: tuple[PresumedNeedGroup, ...]
    proposed_by: ProposerKind
    proposer: Actor
    coordinator: Actor  # records consent, convenes, writes the plan (R24)
    kommun_closer: Actor
    region_closer: Actor
    guests: tuple[Organisation, ...]  # FK, AF, school, Kriminalvården as the case needs
    timeline: Timeline
    correction: bool
    second_of: int | None = None  # the story number whose open case this proposal acknowledges
    rng_seed: int = 0  # for the details decided while writing (replies, texts)

    @property
    def consent_organisations(self) -> tuple[str, ...]:
        """R13: the organisations that may exchange information: principals and guests."""
        return (self.kommun.id, self.area.region.id, *(g.id for g in self.guests))


def _weighted(rng: random.Random, weights: Mapping[Choice, float]) -> Choice:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def plan_cases(count: int, seed: int, today: date) -> list[CaseStory]:
    """The stories for ``count`` cases: the same seed and day give the same stories."""
    rng = random.Random(seed)
    staff = Staff(seed)
    # Every outcome at least once when there is room, so a small demo still shows each stage.
    outcomes = list(Outcome) if count >= len(Outcome) else []
    outcomes += [_weighted(rng, OUTCOME_WEIGHTS) for _ in range(count - len(outcomes))]
    rng.shuffle(outcomes)
    used_pins: set[str] = set()
    stories: list[CaseStory] = []
    seconds_done: set[int] = set()
    for number, outcome in enumerate(outcomes):
        target = None
        if outcome in (Outcome.PROPOSED, Outcome.CONSENTED):
            target = _second_proposal_target(rng, stories, seconds_done, number)
        if target is not None:
            seconds_done.add(target.number)
            stories.append(_second_story(rng, staff, number, outcome, target))
        else:
            stories.append(_story(rng, staff, number, outcome, today, used_pins))
    return stories


def _second_proposal_target(
    rng: random.Random, stories: list[CaseStory], done: set[int], number: int
) -> CaseStory | None:
    if number < SECOND_PROPOSAL_EVERY // 2 or rng.randrange(SECOND_PROPOSAL_EVERY) != 0:
        return None
    candidates = [
        s
        for s in stories
        if s.outcome not in ENDED_OUTCOMES
        and s.second_of is None
        and s.number not in done
        # Over 20 now would take the young policy away from a Västra Götaland case (R17).
        and s.profile in (Profile.ADULT, Profile.ELDERLY)
    ]
    return rng.choice(candidates) if candidates else None


def _story(
    rng: random.Random,
    staff: Staff,
    number: int,
    outcome: Outcome,
    today: date,
    used_pins: set[str],
) -> CaseStory:
    late = rng.random() < LATE_SHARE
    profile = _weighted(rng, PROFILE_WEIGHTS)
    area = _weighted(rng, {a: a.weight for a in AREAS})
    kommun, school = rng.choice(area.kommuner)
    region = area.region
    discharge = (profile is Profile.ELDERLY and rng.random() < 0.5) or (
        profile is Profile.ADULT and rng.random() < 0.15
    )
    young = profile in (Profile.CHILD, Profile.YOUNG)
    policy = area.young_policy if young else area.policy
    timeline = _timeline(rng, outcome, late, policy=policy, discharge=discharge)
    proposed_on = today - timedelta(days=timeline.today)
    person = synthetic_individual(rng, AGES[profile], proposed_on, used_pins)
    surname = person.name.split()[-1]

    guardians: tuple[str, ...] = ()
    if profile is Profile.CHILD:
        guardians = (synthetic_name(rng, True, surname),)
        if rng.random() < 0.75:
            guardians += (synthetic_name(rng, False, surname if rng.random() < 0.7 else None),)
    relative = synthetic_name(rng, rng.random() < 0.6, surname)
    administrator = (
        synthetic_name(rng, rng.random() < 0.5)
        if profile is Profile.ELDERLY and rng.random() < 0.5
        else None
    )

    groups: tuple[PresumedNeedGroup, ...] = ()
    triggers: list[Trigger] = rng.sample(list(Trigger), rng.randint(1, 3))
    guests: list[Organisation] = []
    plan_type = PlanType.SIP
    if profile is Profile.CHILD:
        guests.append(school)
    elif profile is Profile.YOUNG:
        guests.append(school if rng.random() < 0.5 else AF)
    elif profile is Profile.ADULT:
        groups = (
            rng.choice(
                [
                    PresumedNeedGroup.PSYCHIATRIC_WITH_SUBSTANCE_ABUSE,
                    PresumedNeedGroup.SEVERE_PSYCHIATRIC_WITH_DISABILITY,
                ]
            ),
        )
        if rng.random() < 0.3:
            triggers = []  # the presumed need alone is reason enough (R07)
        guests += [g for g in (FK, AF) if rng.random() < 0.5]
        if groups[0] is PresumedNeedGroup.PSYCHIATRIC_WITH_SUBSTANCE_ABUSE and rng.random() < 0.2:
            guests.append(KRIMINALVARDEN)
        if guests and rng.random() < 0.6:
            plan_type = PlanType.REHAB_SIP
    else:
        groups = (PresumedNeedGroup.DEMENTIA_WITH_SOMATIC,)
        plan_type = PlanType.VARD_SIP if rng.random() < 0.6 else PlanType.SIP
    if discharge and plan_type is PlanType.SIP:
        plan_type = PlanType.VARD_SIP

    # R01: anyone may propose; the actor is whoever recorded it.
    if discharge:
        # R05: the named care contact in the region's outpatient care takes the initiative.
        proposed_by = ProposerKind.STAFF
        proposer = staff.of(region, rng, unit="Vårdcentralen")
    else:
        proposed_by, proposer = _proposer(rng, staff, profile, kommun, region, school, guests)

    # Drawn whatever the dates say, so the draws that follow never depend on the day.
    school_convenes = rng.random() < 0.4
    if discharge:
        coordinator = proposer
    elif (
        school_convenes
        and policy == "vgr-barn-unga"
        and school in guests
        # R03 asks the age on the day the school convenes: still 20 or younger then.
        and age_on(person.personal_identity_number, proposed_on + timedelta(days=60)) <= 20
    ):
        coordinator = staff.of(school, rng)  # R03: school may convene here
    else:
        coordinator = staff.of(kommun if rng.random() < 0.7 else region, rng)

    return CaseStory(
        number=number,
        outcome=outcome,
        late=late,
        profile=profile,
        area=area,
        kommun=kommun,
        school=school,
        policy=policy,
        person=person,
        guardians=guardians,
        relative=relative,
        administrator=administrator,
        discharge=discharge,
        plan_type=plan_type,
        triggers=tuple(triggers),
        groups=groups,
        proposed_by=proposed_by,
        proposer=proposer,
        coordinator=coordinator,
        kommun_closer=staff.of(kommun, rng),
        region_closer=staff.of(region, rng),
        guests=tuple(guests),
        timeline=timeline,
        correction=rng.random() < 0.05,
        rng_seed=rng.getrandbits(32),
    )


def _second_story(
    rng: random.Random, staff: Staff, number: int, outcome: Outcome, first: CaseStory
) -> CaseStory:
    """A second plan beside an open one (R09): e.g. a rehab-SIP beside a care SIP.

    The proposer has seen the open case and says so; the new case is young (proposed or
    consented recently), whatever the first one has come to.
    """
    timeline = _timeline(rng, outcome, False, policy=first.area.policy, discharge=False)
    timeline.today = min(timeline.today, 3)  # after the first case's steps, in the world too
    if timeline.consent is not None:
        timeline.consent = min(timeline.consent, timeline.today)
    plan_type = PlanType.REHAB_SIP if first.plan_type is not PlanType.REHAB_SIP else PlanType.SIP
    return CaseStory(
        number=number,
        outcome=outcome,
        late=False,
        profile=first.profile,
        area=first.area,
        kommun=first.kommun,
        school=first.school,
        policy=first.area.policy,
        person=first.person,
        guardians=first.guardians,
        relative=first.relative,
        administrator=first.administrator,
        discharge=False,
        plan_type=plan_type,
        triggers=(Trigger.SEVERAL_COMPETENCES,),
        groups=first.groups,
        proposed_by=ProposerKind.STAFF,
        proposer=staff.of(first.area.region, rng),
        coordinator=staff.of(first.kommun, rng),
        kommun_closer=staff.of(first.kommun, rng),
        region_closer=staff.of(first.area.region, rng),
        guests=first.guests,
        timeline=timeline,
        correction=False,
        second_of=first.number,
        rng_seed=rng.getrandbits(32),
    )


def _proposer(
    rng: random.Random,
    staff: Staff,
    profile: Profile,
    kommun: Organisation,
    region: Organisation,
    school: Organisation,
    guests: list[Organisation],
) -> tuple[ProposerKind, Actor]:
    roll = rng.random()
    if profile is Profile.CHILD and roll < 0.4:
        return ProposerKind.STAFF, staff.of(school, rng)
    if FK in guests and roll < 0.3:
        return ProposerKind.FORSAKRINGSKASSAN, staff.of(FK, rng)
    if roll < 0.55:
        return ProposerKind.STAFF, staff.of(kommun, rng)
    if roll < 0.75:
        return ProposerKind.STAFF, staff.of(region, rng)
    # The individual or a relative asks; the social services record it.
    kind = ProposerKind.INDIVIDUAL if roll < 0.87 else ProposerKind.RELATIVE
    return kind, staff.of(kommun, rng)


def _timeline(
    rng: random.Random, outcome: Outcome, late: bool, *, policy: str, discharge: bool
) -> Timeline:
    """Offsets (days from the proposal) for each step, and where "today" falls."""
    r = rng.randint
    if outcome is Outcome.PROPOSED:
        # R16: the start deadline is five days; a late story has left it open past due.
        return Timeline(today=r(8, 30) if late else r(0, 4))
    if outcome is Outcome.DECLINED:
        decline = r(1, 10)
        return Timeline(today=decline + r(0, 60), decline=decline)

    if discharge:
        consent = r(0, 1)
        # R05: the invitation no later than three days after the ready-for-discharge notice.
        convene = r(5, 9) if late else r(consent, 3)
    else:
        consent = r(7, 16) if late else r(0, 3)  # R16: late stories start after five days
        convene = consent + (r(4, 10) if late else r(0, 3))
    if policy == "jonkoping":
        lead = r(8, 18) if late else r(21, 28)  # R18: three weeks' notice
    elif policy == "vgr-barn-unga":
        # R17: the meeting within three weeks of the proposal.
        lead = r(24, 40) - convene if late else r(min(5, 21 - convene), 21 - convene)
        lead = max(lead, 2)
    elif discharge:
        lead = r(2, 7)
    else:
        lead = r(7, 21)
    meeting = convene + lead
    follow_up_due = meeting + rng.choice([60, 90, 120, 180])
    held = follow_up_due + r(5, 25) if late else follow_up_due - r(0, 7)
    next_follow_up = held + rng.choice([90, 120, 180])
    t = Timeline(today=0, consent=consent)

    if outcome is Outcome.CONSENTED:
        t.today = consent + (r(5, 20) if late else r(0, 6))
        return t
    t.convene, t.meeting = convene, meeting
    if outcome is Outcome.CONVENED:
        # Late: the meeting has been held but no plan recorded yet.
        t.today = meeting + r(2, 10) if late else r(convene, meeting - 1)
        return t
    t.follow_up_due = follow_up_due
    if outcome is Outcome.PLAN_ESTABLISHED:
        # Late: the follow-up date has passed with no follow-up recorded (R19).
        t.today = follow_up_due + r(3, 40) if late else r(meeting + 1, follow_up_due - 1)
        return t
    if outcome is Outcome.FOLLOWED_UP:
        t.follow_up_held, t.next_follow_up = held, next_follow_up
        t.today = r(held, next_follow_up - 1)
        return t
    if outcome is Outcome.CONSENT_WITHDRAWN or (
        outcome is Outcome.CLOSED_BY_BOTH and rng.random() < 0.3
    ):
        # Withdrawn while preparing, or after the plan was made (R12, R30).
        if rng.random() < 0.5:
            t.convene = t.meeting = t.follow_up_due = None
            t.withdraw = consent + r(2, 20)
        else:
            t.withdraw = meeting + r(5, (follow_up_due - meeting) - 1)
        if outcome is Outcome.CONSENT_WITHDRAWN:
            # Late: neither principal has documented the closure within 14 days (R31).
            t.today = t.withdraw + (r(16, 40) if late else r(0, 10))
            return t
        first = t.withdraw + r(0, 5)
    elif rng.random() < 0.5:
        t.follow_up_held, t.next_follow_up = held, next_follow_up
        first = held + r(0, 7)  # the goals were met at the follow-up
    else:
        first = meeting + r(20, (follow_up_due - meeting) - 1)
    if outcome is Outcome.CLOSED_BY_ONE:
        t.closures = (first,)
        t.today = first + (r(16, 45) if late else r(0, 12))
        return t
    second = first + (r(15, 30) if late else r(0, 10))
    t.closures = (first, second)
    t.today = second + r(0, 90)
    return t
