"""Who takes part: organisations, the actor behind every event, and the people in a case."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from .limits import Identifier, IdentifierOrEmpty, Name, NameOrEmpty, line


class OrganisationKind(StrEnum):
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
    COORDINATOR = "coordinator"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    SERVICE = "service"


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    def __deepcopy__(self, memo: dict | None = None) -> Frozen:
        # Immutable values can be shared: copying a cached case then copies only its mutable
        # parts (measured: a third of the time of copying every value object).
        return self


class Organisation(Frozen):
    id: Identifier
    kind: OrganisationKind
    name: NameOrEmpty = ""
    # Which region the organisation sits in (e.g. "vastra-gotaland"), for dashboards per region.
    region: IdentifierOrEmpty = ""


class Actor(Frozen):
    """Who recorded an action (R32): the person, their organisation and unit, and their role."""

    person_id: Identifier
    name: Name
    organisation: Organisation
    unit: NameOrEmpty = ""
    role: Role = Role.COORDINATOR


class Person(Frozen):
    """A named private person in a case: a guardian, a relative, a trustee."""

    name: Name
    personal_identity_number: line(20) | None = None
