"""Small builders for valid commands, so each test states only what it is about."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from domain.commands import (
    ConsentGiver,
    ConveneMeeting,
    EstablishPlan,
    Goal,
    Individual,
    Intervention,
    Invitation,
    Participant,
    PlanContent,
    ProposeSip,
    RecordConsent,
    Responsible,
)
from domain.identity import check_digit_for
from domain.parties import Actor, Organisation, OrganisationKind, Person

KOMMUN = Organisation(id="kommun-boras", kind=OrganisationKind.KOMMUN, name="Borås stad",
                      region="vastra-gotaland")
REGION = Organisation(id="region-vg", kind=OrganisationKind.REGION, name="Västra Götalandsregionen",
                      region="vastra-gotaland")
SKOLA = Organisation(id="skola-sjuhalla", kind=OrganisationKind.SKOLA, name="Sjuhäradsskolan",
                     region="vastra-gotaland")
FK = Organisation(id="fk", kind=OrganisationKind.FORSAKRINGSKASSAN, name="Försäkringskassan")
AF = Organisation(id="af", kind=OrganisationKind.ARBETSFORMEDLINGEN, name="Arbetsförmedlingen")

_serials = itertools.count(1)


def pin_born(born: date) -> str:
    """A valid personal identity number for someone born on ``born`` (unique per call)."""
    serial = f"{next(_serials) % 1000:03d}"
    ymd = born.strftime("%Y%m%d")
    return f"{ymd}-{serial}{check_digit_for(ymd[2:] + serial)}"


def pin_aged(years: int, today: date | None = None) -> str:
    today = today or date.today()
    # Born on the 14th: not one of the research days (5th, 15th, 25th) that keep social-services
    # records from being culled (R34), so a builder's case is erasable when due.
    return pin_born(date(today.year - years, 1, 14) if today.month > 1 else
                    date(today.year - years - 1, 1, 14))


def actor(org: Organisation = KOMMUN, person_id: str = "anna", name: str = "Anna Andersson",
          unit: str = "Socialtjänsten") -> Actor:
    return Actor(person_id=person_id, name=name, organisation=org, unit=unit)


def propose(age: int = 40, *, guardians: tuple[str, ...] = (), **overrides) -> ProposeSip:
    fields = dict(
        individual=Individual(
            personal_identity_number=pin_aged(age),
            name="Kim Karlsson",
            guardians=tuple(Person(name=g) for g in guardians),
        ),
        municipality=KOMMUN,
        region=REGION,
        triggers=("coordination_requested",),
    )
    fields.update(overrides)
    return ProposeSip(**fields)


def consent(case_id: UUID, *, givers=(("individual", "Kim Karlsson"),), days: int = 365,
            organisations=(KOMMUN.id, REGION.id, FK.id, SKOLA.id), **overrides) -> RecordConsent:
    today = date.today()
    fields = dict(
        case_id=case_id,
        givers=tuple(ConsentGiver(role=r, name=n) for r, n in givers),
        form="written",
        valid_from=today,
        valid_until=today + timedelta(days=days),
        organisation_ids=tuple(organisations),
    )
    fields.update(overrides)
    return RecordConsent(**fields)


def invitation(org: Organisation = REGION, role: str | None = None) -> Invitation:
    return Invitation(
        participant=Participant(role=role or org.kind.value, name=org.name, organisation=org),
        reason="Behövs för vårdinsatserna",
        expectation="Ta med aktuell vårdplan",
    )


def convene(case_id: UUID, *, in_days: int = 0, invitations=None, **overrides) -> ConveneMeeting:
    fields = dict(
        case_id=case_id,
        meeting_at=datetime.now(UTC) + timedelta(days=in_days),
        place="Stadshuset, rum 3",
        invitations=tuple(invitations) if invitations is not None else (invitation(REGION),),
    )
    fields.update(overrides)
    return ConveneMeeting(**fields)


def plan_content(meeting_on: date, **overrides) -> PlanContent:
    fields = dict(
        needs=("Stöd i boendet", "Psykiatrisk behandling"),
        goals=(
            Goal(
                description="Bo kvar i egen lägenhet",
                measure="Inga avhysningshot under perioden",
                target_date=meeting_on + timedelta(days=180),
                accepted_by_individual=True,
            ),
        ),
        interventions=(
            Intervention(description="Boendestöd två gånger i veckan",
                         responsible=Responsible(kind="municipality")),
            Intervention(description="Samtalsbehandling", responsible=Responsible(kind="region")),
        ),
        overall_responsibility="kommun",
        coordination="Kommunens samordnare håller ihop insatserna och kallar till uppföljning",
        follow_up_date=meeting_on + timedelta(days=90),
    )
    fields.update(overrides)
    return PlanContent(**fields)


def establish(case_id: UUID, meeting_on: date, **overrides) -> EstablishPlan:
    return EstablishPlan(case_id=case_id, plan=plan_content(meeting_on, **overrides))
