"""The synthetic population of the demo: organisations, staff and individuals.

Municipalities and regions are real public bodies in five counties; everybody in them is made up.
Names come from lists of common Swedish names. Personal identity numbers are valid (date of
birth, serial whose third digit gives the sex, Luhn check digit) but invented: a made-up number
may still belong to a real person, so demo data stays in demo databases.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from domain.identity import check_digit_for
from domain.parties import Actor, Organisation, OrganisationKind

# ---------------------------------------------------------------- organisations


def _org(id: str, kind: OrganisationKind, name: str, region: str = "") -> Organisation:
    return Organisation(id=id, kind=kind, name=name, region=region)


K, R, S = OrganisationKind.KOMMUN, OrganisationKind.REGION, OrganisationKind.SKOLA


@dataclass(frozen=True)
class Area:
    """A county: its region, some of its municipalities (each with a school), its policy."""

    key: str
    region: Organisation
    kommuner: tuple[tuple[Organisation, Organisation], ...]  # (kommun, one of its schools)
    weight: int
    # The policy for children and young people here, and for everyone else.
    young_policy: str = "national"
    policy: str = "national"


def _area(key, region_name, region_id, kommuner, weight, **policies) -> Area:
    return Area(
        key=key,
        region=_org(region_id, R, region_name, key),
        kommuner=tuple(
            (_org(kid, K, kname, key), _org(sid, S, sname, key))
            for kid, kname, sid, sname in kommuner
        ),
        weight=weight,
        **policies,
    )


AREAS: tuple[Area, ...] = (
    _area(
        "vastra-gotaland",
        "Västra Götalandsregionen",
        "region-vg",
        [
            ("kommun-goteborg", "Göteborgs stad", "skola-hagaskolan", "Hagaskolan"),
            ("kommun-boras", "Borås stad", "skola-sjuhalla", "Sjuhäradsskolan"),
            ("kommun-trollhattan", "Trollhättans stad", "skola-stromsskolan", "Strömsskolan"),
            ("kommun-skovde", "Skövde kommun", "skola-billinge", "Billingeskolan"),
            ("kommun-uddevalla", "Uddevalla kommun", "skola-kvarnberg", "Kvarnbergsskolan"),
        ],
        weight=35,
        young_policy="vgr-barn-unga",
    ),
    _area(
        "jonkoping",
        "Region Jönköpings län",
        "region-jonkoping",
        [
            ("kommun-jonkoping", "Jönköpings kommun", "skola-ekhagen", "Ekhagsskolan"),
            ("kommun-varnamo", "Värnamo kommun", "skola-gustavsbergsskolan", "Gustavsbergsskolan"),
            ("kommun-nassjo", "Nässjö kommun", "skola-runneryd", "Runnerydsskolan"),
            ("kommun-gislaved", "Gislaveds kommun", "skola-oxelskolan", "Oxelskolan"),
        ],
        weight=20,
        young_policy="jonkoping",
        policy="jonkoping",
    ),
    _area(
        "stockholm",
        "Region Stockholm",
        "region-stockholm",
        [
            ("kommun-stockholm", "Stockholms stad", "skola-vasaskolan", "Vasaskolan"),
            ("kommun-huddinge", "Huddinge kommun", "skola-stuvsta", "Stuvstaskolan"),
            ("kommun-sodertalje", "Södertälje kommun", "skola-hovsjo", "Hovsjöskolan"),
            ("kommun-nacka", "Nacka kommun", "skola-sickla", "Sicklaskolan"),
        ],
        weight=20,
    ),
    _area(
        "skane",
        "Region Skåne",
        "region-skane",
        [
            ("kommun-malmo", "Malmö stad", "skola-rosengard", "Rosengårdsskolan"),
            (
                "kommun-helsingborg",
                "Helsingborgs stad",
                "skola-drottninghog",
                "Drottninghögsskolan",
            ),
            ("kommun-lund", "Lunds kommun", "skola-vaster", "Västerskolan"),
            ("kommun-kristianstad", "Kristianstads kommun", "skola-naset", "Näsets skola"),
        ],
        weight=15,
    ),
    _area(
        "vasterbotten",
        "Region Västerbotten",
        "region-vasterbotten",
        [
            ("kommun-umea", "Umeå kommun", "skola-ersboda", "Ersbodaskolan"),
            ("kommun-skelleftea", "Skellefteå kommun", "skola-anderstorp", "Anderstorpsskolan"),
            ("kommun-lycksele", "Lycksele kommun", "skola-tannbergs", "Tannbergsskolan"),
        ],
        weight=10,
    ),
)

FK = _org("fk", OrganisationKind.FORSAKRINGSKASSAN, "Försäkringskassan")
AF = _org("af", OrganisationKind.ARBETSFORMEDLINGEN, "Arbetsförmedlingen")
KRIMINALVARDEN = _org("kriminalvarden", OrganisationKind.KRIMINALVARDEN, "Kriminalvården")


def organisations() -> tuple[Organisation, ...]:
    """Every organisation of the demo: the directory ``serve --demo`` accepts tokens of."""
    found: list[Organisation] = []
    for area in AREAS:
        found.append(area.region)
        for kommun, school in area.kommuner:
            found += [kommun, school]
    return (*found, FK, AF, KRIMINALVARDEN)

# Units staff work in, by kind of organisation: what an actor's "unit" says (R32).
UNITS = {
    K: (
        "Socialtjänsten, barn och unga",
        "Socialtjänsten, vuxen",
        "Äldreomsorgen",
        "Biståndsenheten",
        "LSS-handläggning",
    ),
    R: (
        "Vårdcentralen",
        "Vuxenpsykiatrin",
        "Barn- och ungdomspsykiatrin",
        "Habiliteringen",
        "Geriatriska kliniken",
    ),
    S: ("Elevhälsan",),
    OrganisationKind.FORSAKRINGSKASSAN: ("Sjukförsäkring",),
    OrganisationKind.ARBETSFORMEDLINGEN: ("Rehabilitering till arbete",),
    OrganisationKind.KRIMINALVARDEN: ("Frivården",),
}

# ---------------------------------------------------------------- names

FEMALE = (
    "Anna",
    "Eva",
    "Maria",
    "Karin",
    "Sara",
    "Lena",
    "Emma",
    "Kerstin",
    "Ingrid",
    "Malin",
    "Elsa",
    "Alice",
    "Maja",
    "Ebba",
    "Wilma",
    "Astrid",
    "Saga",
    "Linnea",
    "Birgitta",
    "Marianne",
    "Amira",
    "Fatima",
    "Leila",
    "Sofia",
    "Nora",
    "Elin",
    "Agnes",
    "Greta",
    "Britt",
    "Margareta",
)
MALE = (
    "Lars",
    "Anders",
    "Johan",
    "Per",
    "Erik",
    "Karl",
    "Mikael",
    "Peter",
    "Jan",
    "Nils",
    "William",
    "Liam",
    "Noah",
    "Hugo",
    "Elias",
    "Oscar",
    "Lucas",
    "Adam",
    "Ali",
    "Omar",
    "Gunnar",
    "Sven",
    "Bengt",
    "Göran",
    "Olle",
    "Filip",
    "Axel",
    "Viktor",
    "Hassan",
    "Yusuf",
)
SURNAMES = (
    "Andersson",
    "Johansson",
    "Karlsson",
    "Nilsson",
    "Eriksson",
    "Larsson",
    "Olsson",
    "Persson",
    "Svensson",
    "Gustafsson",
    "Pettersson",
    "Jonsson",
    "Jansson",
    "Hansson",
    "Bengtsson",
    "Lindberg",
    "Lindström",
    "Lindqvist",
    "Berglund",
    "Sandberg",
    "Forsberg",
    "Sjöberg",
    "Wallin",
    "Engström",
    "Lundgren",
    "Mohammed",
    "Hussein",
    "Ahmadi",
    "Nyström",
    "Holm",
    "Bergström",
    "Axelsson",
    "Hedlund",
    "Ek",
    "Åberg",
    "Öberg",
    "Sundberg",
    "Falk",
)


def synthetic_name(rng: random.Random, female: bool, surname: str | None = None) -> str:
    first = rng.choice(FEMALE if female else MALE)
    return f"{first} {surname or rng.choice(SURNAMES)}"


@dataclass(frozen=True)
class SyntheticIndividual:
    """The individual of a story (the domain's ``Person`` is a guardian, relative or trustee)."""

    personal_identity_number: str
    name: str
    female: bool
    born: date


class Staff:
    """A fixed roster per organisation, so the same coordinators recur across cases."""

    PER_ORGANISATION = 4

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(f"staff:{seed}")
        self._roster: dict[str, list[Actor]] = {}

    def of(self, org: Organisation, rng: random.Random, unit: str | None = None) -> Actor:
        roster = self._roster.setdefault(org.id, [])
        if len(roster) < self.PER_ORGANISATION:
            n = len(roster) + 1
            female = self._rng.random() < 0.7
            roster.append(
                Actor(
                    person_id=f"{org.id}-{n:02d}",
                    name=synthetic_name(self._rng, female),
                    organisation=org,
                    unit=self._rng.choice(UNITS.get(org.kind, ("",))),
                )
            )
        actor = rng.choice(roster)
        return actor.model_copy(update={"unit": unit}) if unit else actor


def synthetic_individual(
    rng: random.Random, ages: tuple[int, int], proposed_on: date, used: set[str]
) -> SyntheticIndividual:
    """Someone aged within ``ages`` on the day of the proposal, with a number not in ``used``."""
    female = rng.random() < 0.5
    age = rng.randint(*ages)
    # The day ``age`` years before the proposal (29 February falls back to the 28th).
    anniversary = date(proposed_on.year - age, proposed_on.month, min(proposed_on.day, 28))
    while True:
        # Born within the year before that day: exactly ``age`` on the day of the proposal.
        born = anniversary - timedelta(days=rng.randint(1, 360))
        # The third serial digit is odd for men, even for women.
        serial = f"{rng.randint(0, 99):02d}{rng.choice('02468' if female else '13579')}"
        ymd = born.strftime("%Y%m%d")
        pin = f"{ymd}-{serial}{check_digit_for(ymd[2:] + serial)}"
        if pin not in used:
            used.add(pin)
            return SyntheticIndividual(pin, synthetic_name(rng, female), female, born)
