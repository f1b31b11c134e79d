"""The Swedish words of the feature files and the domain values they stand for.

Each word list is also a parse type (``{aktör:Aktör}``), so that a step matches only the words a
coordinator would use, and the same step serves every actor, organisation or participant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time

import parse

from domain.case_state import Stage
from domain.clock import STOCKHOLM
from domain.commands import (
    ClosureReason,
    ConsentGiverRole,
    ParticipantRole,
    PlanType,
    PresumedNeedGroup,
    ProposerKind,
    Trigger,
)
from domain.parties import Actor, Organisation, OrganisationKind
from tests.support.builders import AF, FK, KOMMUN, REGION, SKOLA, actor

KRIMINALVARDEN = Organisation(
    id="kriminalvarden", kind=OrganisationKind.KRIMINALVARDEN, name="Kriminalvården"
)

# ---- organisations and the people who act for them ----------------------------------------

ORGANISATIONS: dict[str, Organisation] = {
    "kommunen": KOMMUN,
    "regionen": REGION,
    "skolan": SKOLA,
    "försäkringskassan": FK,
    "arbetsförmedlingen": AF,
    "kriminalvården": KRIMINALVARDEN,
}

NAMED_CARE_CONTACT = actor(REGION, "dagny", "Dagny Dahl", "Vårdcentralen Norrby")

ACTORS: dict[str, Actor] = {
    "kommunens samordnare": actor(KOMMUN, "anna", "Anna Andersson", "Socialtjänsten"),
    "regionens samordnare": actor(REGION, "rut", "Rut Rask", "Psykiatrimottagningen"),
    "den fasta vårdkontakten": NAMED_CARE_CONTACT,
    "skolans elevhälsa": actor(SKOLA, "sam", "Sam Svensson", "Elevhälsan"),
    "försäkringskassans handläggare": actor(FK, "fredrik", "Fredrik Fors", "Lokalkontor Borås"),
    "arbetsförmedlingens handläggare": actor(AF, "alma", "Alma Ahl", "Arbetsförmedlingen Borås"),
    # A principal, but not one of this case's: Borås's case is not Ulricehamn's to convene.
    "en annan kommuns samordnare": actor(
        Organisation(id="kommun-ulricehamn", kind=OrganisationKind.KOMMUN, name="Ulricehamn"),
        "ulla", "Ulla Ulf", "Socialtjänsten",
    ),
}

# ---- words of the proposal (R01, R06–R08) ---------------------------------------------------

PROPOSERS: dict[str, ProposerKind] = {
    "den enskilde": ProposerKind.INDIVIDUAL,
    "en närstående": ProposerKind.RELATIVE,
    "personal": ProposerKind.STAFF,
    "försäkringskassan": ProposerKind.FORSAKRINGSKASSAN,
    "någon annan": ProposerKind.OTHER,
}

PLAN_TYPES: dict[str, PlanType] = {
    "sip": PlanType.SIP,
    "vård-sip": PlanType.VARD_SIP,
    "rehab-sip": PlanType.REHAB_SIP,
}

TRIGGERS: dict[str, Trigger] = {
    "den enskilde har bett om samordning": Trigger.COORDINATION_REQUESTED,
    "kompetens från flera verksamheter behövs": Trigger.SEVERAL_COMPETENCES,
    "ansvaret är oklart": Trigger.RESPONSIBILITY_UNCLEAR,
    "insatserna måste ske samtidigt eller i viss ordning": Trigger.SIMULTANEOUS_OR_ORDERED,
    "personen bollas runt": Trigger.PASSED_AROUND,
}

PRESUMED_NEED_GROUPS: dict[str, PresumedNeedGroup] = {
    "psykisk sjukdom och missbruk": PresumedNeedGroup.PSYCHIATRIC_WITH_SUBSTANCE_ABUSE,
    "allvarlig psykisk sjukdom och funktionsnedsättning":
        PresumedNeedGroup.SEVERE_PSYCHIATRIC_WITH_DISABILITY,
    "demenssjukdom och annan somatisk sjukdom": PresumedNeedGroup.DEMENTIA_WITH_SOMATIC,
}

CLOSURE_REASONS: dict[str, ClosureReason] = {
    "målen är uppnådda": ClosureReason.GOALS_MET,
    "samordning inte längre behövs": ClosureReason.COORDINATION_NOT_NEEDED,
    "samtycket har återkallats": ClosureReason.CONSENT_WITHDRAWN,
}

STAGES: dict[str, Stage] = {
    "föreslaget": Stage.PROPOSED,
    "aktivt": Stage.ACTIVE,
    "kallat till möte": Stage.MEETING_SCHEDULED,
    "med fastställd plan": Stage.PLAN_ESTABLISHED,
    "under avslut": Stage.CLOSING,
    "avslutat": Stage.CLOSED,
    "avböjt": Stage.DECLINED,
}

# ---- who takes part (R14, R23) -------------------------------------------------------------

PERSON_ROLES: dict[str, ParticipantRole] = {
    "närstående": ParticipantRole.RELATIVE,
    "god man": ParticipantRole.TRUSTEE,
    "personligt ombud": ParticipantRole.PERSONAL_REPRESENTATIVE,
    "stödperson": ParticipantRole.SUPPORT_PERSON,
}


@dataclass(frozen=True)
class Who:
    """A participant as the feature names it; the individual's name is filled in by the case."""

    label: str
    role: ParticipantRole
    name: str | None = None  # None: the individual
    organisation: Organisation | None = None


INDIVIDUAL = Who("personen själv", ParticipantRole.INDIVIDUAL)

# ---- deadlines (R05, R12, R16–R19, R31) ----------------------------------------------------

_FIXED_DEADLINES = {
    "start av arbetet": "start",
    "sip-mötet": "meeting",
    "kallelse efter utskrivning": "discharge_invitation",
    "avslut hos kommunen": f"closure:{KOMMUN.id}",
    "avslut hos regionen": f"closure:{REGION.id}",
}
_NUMBERED_DEADLINES = {
    "kallelsen till möte": "invitation_lead_time",
    "uppföljning": "follow_up",
    "samtycke": "consent_expiry",
}


# ---- parse types -----------------------------------------------------------------------------


def _alternatives(words) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def _lookup(table: dict, kind: str):
    def convert(text: str):
        try:
            return table[text.casefold()]
        except KeyError:
            raise ValueError(f"unknown {kind}: {text!r}") from None

    return convert


def _typed(pattern: str, convert):
    return parse.with_pattern(pattern)(convert)


_ORG = f"(?:{_alternatives(ORGANISATIONS)})"
_PERSON = rf'(?:{_alternatives(PERSON_ROLES)}) "[^"]+"'
_WHO = rf"(?:personen själv|{_PERSON}|{_ORG})"
_GIVER = r'(?:personen själv|vårdnadshavaren "[^"]+"|vårdnadshavarna "[^"]+" och "[^"]+"|' \
    r'förvaltaren "[^"]+")'


def who(text: str) -> Who:
    text = text.strip()
    if text.casefold() == INDIVIDUAL.label:
        return INDIVIDUAL
    if text.casefold() in ORGANISATIONS:
        org = ORGANISATIONS[text.casefold()]
        return Who(text, ParticipantRole(org.kind.value), org.name, org)
    role, name = text.split(' "', 1)
    return Who(text, PERSON_ROLES[role.casefold()], name.rstrip('"'))


def _split_list(text: str) -> list[str]:
    # "a, b och c": names are in quotes and never contain ", " or " och ".
    head, _, last = text.rpartition(" och ")
    return [*head.split(", "), last] if head else [last]


def who_list(text: str) -> tuple[Who, ...]:
    return tuple(who(part) for part in _split_list(text))


def organisation_list(text: str) -> tuple[Organisation, ...]:
    return tuple(ORGANISATIONS[part.casefold()] for part in _split_list(text))


def givers(text: str) -> tuple[tuple[ConsentGiverRole, str | None], ...]:
    """Consent givers; a name of None means the individual."""
    if text.casefold() == "personen själv":
        return ((ConsentGiverRole.INDIVIDUAL, None),)
    names = re.findall(r'"([^"]+)"', text)
    role = (
        ConsentGiverRole.ADMINISTRATOR
        if text.casefold().startswith("förvaltaren")
        else ConsentGiverRole.GUARDIAN
    )
    return tuple((role, name) for name in names)


def deadline_key(text: str) -> str:
    text = text.casefold()
    if text in _FIXED_DEADLINES:
        return _FIXED_DEADLINES[text]
    words, _, number = text.rpartition(" ")
    return f"{_NUMBERED_DEADLINES[words]}:{int(number)}"


def a_date(text: str) -> date:
    return date.fromisoformat(text)


def a_time(text: str) -> time:
    return time.fromisoformat(text)


def local(day: date, at: time = time(12)) -> datetime:
    """A moment in Swedish local time."""
    return datetime.combine(day, at, tzinfo=STOCKHOLM)


_DEADLINE = rf"(?:{_alternatives(_FIXED_DEADLINES)}|(?:{_alternatives(_NUMBERED_DEADLINES)}) \d+)"

TYPES = {
    "Datum": _typed(r"\d{4}-\d{2}-\d{2}", a_date),
    "Tid": _typed(r"\d{2}:\d{2}", a_time),
    "Aktör": _typed(_alternatives(ACTORS), _lookup(ACTORS, "actor")),
    "Verksamhet": _typed(_ORG, _lookup(ORGANISATIONS, "organisation")),
    "Verksamheter": _typed(rf"{_ORG}(?:(?:, | och ){_ORG})*", organisation_list),
    "Deltagare": _typed(_WHO, who),
    "Deltagarlista": _typed(rf"{_WHO}(?:(?:, | och ){_WHO})*", who_list),
    "Givare": _typed(_GIVER, givers),
    "Förslagsställare": _typed(_alternatives(PROPOSERS), _lookup(PROPOSERS, "proposer")),
    "Plantyp": _typed(_alternatives(PLAN_TYPES), _lookup(PLAN_TYPES, "plan type")),
    "Skäl": _typed(_alternatives(TRIGGERS), _lookup(TRIGGERS, "trigger")),
    "Målgrupp": _typed(
        _alternatives(PRESUMED_NEED_GROUPS), _lookup(PRESUMED_NEED_GROUPS, "group")
    ),
    "Avslutsskäl": _typed(
        _alternatives(CLOSURE_REASONS), _lookup(CLOSURE_REASONS, "closure reason")
    ),
    "Stadium": _typed(_alternatives(STAGES), _lookup(STAGES, "stage")),
    "Frist": _typed(_DEADLINE, deadline_key),
}
