"""The organisation directory: which organisations' staff may use the ledger, and what they are.

A token names its organisation (``org_id``, ``org_kind``), but a token is only as trustworthy
as whoever issued it, and an identity provider serving many bodies will happily sign a token
that says a school is a municipality. The directory is the ledger's own, configured list; a
token whose organisation is not in it, or whose kind or unit does not match, is refused, and the
directory's name and region are what events record (R32), never the token's.

The file (``SIP_ORGANISATIONS_FILE``) is TOML: an administrator edits it by hand, it takes
comments, and tomllib reads it without a dependency::

    [[organisation]]
    id = "kommun-goteborg"
    kind = "kommun"
    name = "Göteborgs stad"
    region = "vastra-gotaland"
    units = ["Socialtjänsten, vuxen", "Äldreomsorgen"]   # optional; left out: any unit

``sip-ledger serve --demo`` uses the demo population's organisations instead (any unit).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters.settings import Settings
from domain.limits import IDENTIFIER_MAX, IDENTIFIER_PATTERN
from domain.parties import Organisation, OrganisationKind

_ID_SHAPED = re.compile(IDENTIFIER_PATTERN)
# A personal identity number inside an id, even after a hyphen ("kommun-19121212-1212"); not
# the digits of an HSA id, which follow a letter ("SE2321000131-E000000000001").
_PERSONAL_NUMBER = re.compile(r"(?<![A-Za-z0-9])(?:\d{2})?\d{6}[-+]?\d{4}(?!\d)")


class DirectoryError(ValueError):
    """The directory file is missing or malformed; the message is one line naming the entry."""


class DirectoryEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    id: str = Field(pattern=IDENTIFIER_PATTERN, max_length=IDENTIFIER_MAX)  # as events hold
    kind: OrganisationKind
    name: str = Field(min_length=1, max_length=200)
    region: str = Field(default="", max_length=100)
    # The units staff may name in their tokens; empty: any unit.
    units: tuple[str, ...] = ()

    @property
    def organisation(self) -> Organisation:
        return Organisation(id=self.id, kind=self.kind, name=self.name, region=self.region)


class _DirectoryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organisation: list[DirectoryEntry] = Field(min_length=1)


@dataclass(frozen=True)
class Refusal:
    """Why the directory refuses a token's organisation: a short code and a sentence. Neither
    holds anything from the token but the organisation id, which is checked to be id-shaped."""

    reason: str  # unknown-organisation, organisation-kind-mismatch, unit-not-in-directory
    detail: str


class OrganisationDirectory:
    """The configured organisations, by id."""

    def __init__(self, entries: Iterable[DirectoryEntry]) -> None:
        self._entries: dict[str, DirectoryEntry] = {}
        for position, entry in enumerate(entries, start=1):
            if entry.id in self._entries:
                raise DirectoryError(f"organisation #{position} ({entry.id}): the id is listed "
                                     "twice")
            self._entries[entry.id] = entry

    @classmethod
    def of(cls, organisations: Iterable[Organisation]) -> OrganisationDirectory:
        """A directory of these organisations, any unit (the demo, tests)."""
        return cls(DirectoryEntry(id=o.id, kind=o.kind, name=o.name or o.id, region=o.region)
                   for o in organisations)

    @classmethod
    def load(cls, path: Path) -> OrganisationDirectory:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise DirectoryError(f"cannot read {path}: {error.strerror or error}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise DirectoryError(f"{path} is not valid TOML: {error}") from None
        try:
            parsed = _DirectoryFile.model_validate(data)
        except ValidationError as error:
            raise DirectoryError(_describe(error, data)) from None
        return cls(parsed.organisation)

    @classmethod
    def from_settings(cls, settings: Settings) -> OrganisationDirectory | None:
        """The directory the settings name, or None when they name none."""
        path = settings.organisations_file
        return cls.load(path) if path is not None else None

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, organisation_id: str) -> bool:
        return organisation_id in self._entries

    def get(self, organisation_id: str) -> Organisation | None:
        """The directory's record of an organisation, or None (the command line names an
        organisation by id alone, e.g. ``retention erase --organisation``)."""
        entry = self._entries.get(organisation_id)
        return entry.organisation if entry is not None else None

    def check(self, claimed: Organisation, unit: str) -> Organisation | Refusal:
        """The directory's own record of the organisation a token claims, or why not."""
        entry = self._entries.get(claimed.id)
        named = f"organisation {shown_id(claimed.id)}"
        if entry is None:
            return Refusal("unknown-organisation",
                           f"{named} is not in the organisation directory")
        if entry.kind is not claimed.kind:
            return Refusal("organisation-kind-mismatch",
                           f"{named} is a {entry.kind.value} in the organisation directory, "
                           f"not a {claimed.kind.value}")
        if entry.units and unit not in entry.units:
            return Refusal("unit-not-in-directory",
                           f"the token's unit is not one of {named}'s units in the "
                           "organisation directory")
        return entry.organisation


def shown_id(organisation_id: str) -> str:
    """An organisation id as a log line or a refusal may show it: quoted when id-shaped and no
    personal identity number (a token's claim is anyone's text), else a placeholder."""
    if (len(organisation_id) <= IDENTIFIER_MAX and _ID_SHAPED.match(organisation_id)
            and not _PERSONAL_NUMBER.search(organisation_id)):
        return repr(organisation_id)
    return "<not id-shaped>"


def _describe(error: ValidationError, data: object) -> str:
    """One line naming the bad entry (by position and id) and the field."""
    first = error.errors(include_input=False, include_url=False)[0]
    loc = list(first["loc"])
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    if len(loc) >= 2 and loc[0] == "organisation" and isinstance(loc[1], int):
        index = loc[1]
        entries = data.get("organisation") if isinstance(data, dict) else None
        entry_id = None
        if isinstance(entries, list) and index < len(entries) and isinstance(entries[index], dict):
            entry_id = entries[index].get("id")
        named = f" ({entry_id})" if isinstance(entry_id, str) and entry_id else ""
        where = ".".join(str(p) for p in loc[2:]) or "entry"
        return f"organisation #{index + 1}{named} field {where}: {first['msg']}{more}"
    where = ".".join(str(p) for p in loc) or "file"
    if where == "organisation" and first["type"] == "missing":
        return "the file lists no [[organisation]] table" + more
    return f"field {where}: {first['msg']}{more}"
