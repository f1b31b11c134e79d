"""Who takes part: organisations, the actor behind every event, and the people in a case."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .limits import (
    PERSONAL_IDENTITY_NUMBER_FORMAT,
    Identifier,
    IdentifierOrEmpty,
    Name,
    NameOrEmpty,
    PersonalIdentityNumberInput,
)

# Said of every field that holds a private person's name or number, in the API's contract.
PERSONAL_DATA = (
    "Personal data (R35): send it in a request body only, never in a URL or a query string; "
    "no error message or application log line of the service repeats it."
)


class OrganisationKind(StrEnum):
    """What kind of organisation: ``kommun`` (the municipality: social services, elderly care,
    school as operator) and ``region`` (health care) are the principals (huvudmän, R02);
    ``skola`` (school, preschool, pupil health, R03), ``forsakringskassan`` (the social
    insurance agency), ``arbetsformedlingen`` (the public employment service),
    ``kriminalvarden`` (the prison and probation service) and ``other`` may take part (R23).
    Field names say ``municipality`` for the same thing as the kind ``kommun``."""

    KOMMUN = "kommun"  # municipality: social services, elderly care, school as operator
    REGION = "region"  # health care
    SKOLA = "skola"  # school, preschool, pupil health (R03)
    FORSAKRINGSKASSAN = "forsakringskassan"
    ARBETSFORMEDLINGEN = "arbetsformedlingen"
    KRIMINALVARDEN = "kriminalvarden"
    OTHER = "other"

    @property
    def is_principal(self) -> bool:
        """R02: only a municipality or a region is a principal (huvudman)."""
        return self in (OrganisationKind.KOMMUN, OrganisationKind.REGION)


PRINCIPAL_KINDS = (OrganisationKind.KOMMUN, OrganisationKind.REGION)


class Role(StrEnum):
    """A caller's role, from its token: ``coordinator`` (works cases: records and reads them),
    ``supervisor`` (follows cases without their personal data: restricted views, dashboards),
    ``auditor`` (reads, and only reads: cases, the access log, the event feed; and places and
    lifts legal holds, R34), ``service`` (a system: records commands, reads the event feed),
    ``archivist`` (culls personal data that falls due under a retention policy, R34)."""

    COORDINATOR = "coordinator"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    SERVICE = "service"
    ARCHIVIST = "archivist"


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Frozen:
        # Immutable values can be shared: copying a cached case then copies only its mutable
        # parts (copying the cached case is part of every command: bench figure
        # `sip_commands_per_s`, tests/benchmarks/run.py).
        return self


class Organisation(Frozen):
    """An organisation in a case: a principal, or one the consent names or the meeting
    invites."""

    id: Identifier = Field(
        description="The organisation's id, as the service's organisation directory and the "
        "callers' tokens name it: whether a caller is party to a case is decided by it (R13).",
        examples=["kommun-goteborg"],
    )
    kind: OrganisationKind = Field(description="What kind of organisation it is.",
                                   examples=["kommun"])
    name: NameOrEmpty = Field(default="", description="The organisation's name.",
                              examples=["Göteborgs Stad"])
    region: IdentifierOrEmpty = Field(
        default="",
        description="The county (län) the organisation sits in, by id; a case's `county` is "
        "its kommun's, and the dashboards group by it.",
        examples=["vastra-gotaland"],
    )


# The principals of every example in the API's contract.
EXAMPLE_KOMMUN = {"id": "kommun-goteborg", "kind": "kommun", "name": "Göteborgs Stad",
                  "region": "vastra-gotaland"}
EXAMPLE_REGION = {"id": "region-vg", "kind": "region", "name": "Västra Götalandsregionen",
                  "region": "vastra-gotaland"}


class Actor(Frozen):
    """Who recorded an action (R32): the person, their organisation and unit, and their role."""

    person_id: Identifier
    name: Name
    organisation: Organisation
    unit: NameOrEmpty = ""
    role: Role = Role.COORDINATOR


class Person(Frozen):
    """A named private person in a case: a guardian, a relative, a trustee. Personal data
    (R35)."""

    name: Name = Field(description=f"The person's name. {PERSONAL_DATA}",
                       examples=["Tolva Tolvansson"])
    personal_identity_number: PersonalIdentityNumberInput | None = Field(
        default=None,
        description=f"The person's {PERSONAL_IDENTITY_NUMBER_FORMAT} Optional. {PERSONAL_DATA}",
        examples=["19121212-1212"],
    )
