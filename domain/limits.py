"""What input the ledger accepts: the one place that says how long, which characters, which days.

Every command, every value object inside one and every query parameter uses these types, so a
value the store or the read models cannot hold (a NUL byte, a lone surrogate, a 10 MB note, the
year 9999) is refused at the edge as a 422 naming the field, never deep inside as a 500 or a
frozen read model.

- ``Annotated[str, Line(n)]``: single-line text of at most n characters, no control characters
  at all (names, places, units).
- ``Annotated[str, Text(n)]``: free text of at most n characters; newlines and tabs kept, other
  control characters refused (notes, descriptions, plan text).
- ``Identifier``: organisation, person, unit and policy ids: ``IDENTIFIER_PATTERN``, at most
  ``IDENTIFIER_MAX`` characters.
- ``Day`` and ``Instant``: between ``EARLIEST_DAY`` and ``LATEST_DAY`` (an instant by its own
  wall-clock date, so no offset can push it past what Python and PostgreSQL can hold).
- ``Annotated[tuple[T, ...], MaxItems(n)]``: a tuple of at most n items.

The limits bind *input* only. The same value objects are stored inside events, and an event
recorded by an older release under looser rules must still load: the stored-event decoder
validates with ``STORED`` as the pydantic context, and then these checks let everything through.
(pydantic-core would enforce a ``max_length`` or ``pattern`` given to ``Field`` whatever the
context, which is why the checks are validators here and the limits are only written into the
JSON schema, where the OpenAPI document shows them.)

``Line``, ``Text`` and ``MaxItems`` are annotated-types groups (pydantic unpacks them into their
validator and schema note) rather than functions returning a type, so a type checker reads every
field's type as plain ``str`` or ``tuple``: a call is no valid annotation.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from annotated_types import GroupedMetadata
from pydantic import AfterValidator, GetJsonSchemaHandler, ValidationInfo
from pydantic_core import CoreSchema, PydanticCustomError, PydanticKnownError

# A SIP concerns living people and plans for the coming years: anything outside is a typo or an
# attack, and beyond it dates stop fitting Python's datetime once a time zone is applied.
EARLIEST_DAY = date(1900, 1, 1)
LATEST_DAY = date(2100, 12, 31)

IDENTIFIER_MAX = 100
# Letters, digits and the separators ids use (HSA ids, slugs, e-mail-like ids); no spaces.
IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@|+-]*$"
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)

# Lengths by kind of field, in characters (code points).
NAME_MAX = 200  # a person's, an organisation's or a unit's name
PLACE_MAX = 300
SHORT_TEXT_MAX = 1_000  # a need, a goal, an intervention, a reason
NOTE_MAX = 4_000  # a note, a comment, how the plan is coordinated
LONG_TEXT_MAX = 8_000  # what happened at a follow-up, a correction

# Validation context of the stored-event decoder (domain/transcodings.py): no input checks.
# Free-form by pydantic's API (``model_validate(..., context=...)`` takes any dict).
STORED: dict[str, Any] = {"stored": True}

# The patterns the JSON schema shows for text: no control characters (Unicode Cc: C0, DEL, C1).
# The validators below also refuse lone surrogates (Cs: not encodable as UTF-8), but the pattern
# leaves them out: a surrogate is no Unicode scalar value, so regex engines that match scalar
# values (Rust's regex, which pydantic and a client generated from the OpenAPI document use)
# refuse a pattern naming one, and with it the whole schema.
_NOT_IN_A_LINE = r"\x00-\x1f\x7f-\x9f"
_NOT_IN_TEXT = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # keeps \t \n \r
LINE_PATTERN = f"^[^{_NOT_IN_A_LINE}]*$"
TEXT_PATTERN = f"^[^{_NOT_IN_TEXT}]*$"
_TEXT_KEEPS = frozenset("\t\n\r")


def _stored(info: ValidationInfo) -> bool:
    context = info.context
    return context is not None and bool(context.get("stored"))


@dataclass(frozen=True)
class _Documented:
    """Writes the limit into the field's JSON schema without pydantic-core enforcing it."""

    keywords: tuple[tuple[str, Any], ...]

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:  # pydantic's hook: a JSON schema, free-form JSON
        schema = handler(core_schema)
        schema.update(dict(self.keywords))
        return schema


def _length(value: str, min_length: int, max_length: int) -> None:
    if len(value) > max_length:
        raise PydanticKnownError("string_too_long", {"max_length": max_length})
    if len(value) < min_length:
        raise PydanticKnownError("string_too_short", {"min_length": min_length})


def _check_line(min_length: int, max_length: int) -> Any:
    def check(value: str, info: ValidationInfo) -> str:
        if _stored(info):
            return value
        _length(value, min_length, max_length)
        for ch in value:
            if unicodedata.category(ch) in ("Cc", "Cs"):
                raise PydanticCustomError(
                    "control_character",
                    "must be one line without control characters (code point {code_point})",
                    {"code_point": f"U+{ord(ch):04X}"},
                )
        return value

    return check


def _check_text(min_length: int, max_length: int) -> Any:
    def check(value: str, info: ValidationInfo) -> str:
        if _stored(info):
            return value
        _length(value, min_length, max_length)
        for ch in value:
            if ch not in _TEXT_KEEPS and unicodedata.category(ch) in ("Cc", "Cs"):
                raise PydanticCustomError(
                    "control_character",
                    "must not contain control characters other than newlines and tabs "
                    "(code point {code_point})",
                    {"code_point": f"U+{ord(ch):04X}"},
                )
        return value

    return check


def _string_schema(min_length: int, max_length: int, pattern: str) -> _Documented:
    keywords: list[tuple[str, Any]] = [("maxLength", max_length), ("pattern", pattern)]
    if min_length:
        keywords.append(("minLength", min_length))
    return _Documented(tuple(keywords))


@dataclass(frozen=True)
class Line(GroupedMetadata):
    """Single-line text: no control characters, at most ``max_length`` characters."""

    max_length: int
    min_length: int = 0

    def __iter__(self) -> Iterator[object]:
        yield AfterValidator(_check_line(self.min_length, self.max_length))
        yield _string_schema(self.min_length, self.max_length, LINE_PATTERN)


@dataclass(frozen=True)
class Text(GroupedMetadata):
    """Free text: newlines and tabs allowed, other control characters not."""

    max_length: int
    min_length: int = 0

    def __iter__(self) -> Iterator[object]:
        yield AfterValidator(_check_text(self.min_length, self.max_length))
        yield _string_schema(self.min_length, self.max_length, TEXT_PATTERN)


def _check_identifier(value: str, info: ValidationInfo) -> str:
    if _stored(info) or (len(value) <= IDENTIFIER_MAX and _IDENTIFIER.match(value)):
        return value
    if len(value) > IDENTIFIER_MAX:
        raise PydanticKnownError("string_too_long", {"max_length": IDENTIFIER_MAX})
    raise PydanticCustomError(
        "identifier",
        "must be an identifier: letters a-z, digits and . _ : @ | + - (no spaces), starting "
        "with a letter or digit",
    )


Identifier = Annotated[
    str,
    AfterValidator(_check_identifier),
    _Documented((("minLength", 1), ("maxLength", IDENTIFIER_MAX),
                 ("pattern", IDENTIFIER_PATTERN))),
]


def _check_optional_identifier(value: str, info: ValidationInfo) -> str:
    return value if value == "" else _check_identifier(value, info)


# An identifier that may be left empty (an organisation's county, when it has none).
IdentifierOrEmpty = Annotated[
    str,
    AfterValidator(_check_optional_identifier),
    _Documented((("maxLength", IDENTIFIER_MAX),
                 ("pattern", f"^$|{IDENTIFIER_PATTERN}"))),
]


def _out_of_range() -> PydanticCustomError:
    return PydanticCustomError(
        "date_out_of_range", "must lie between {earliest} and {latest}",
        {"earliest": EARLIEST_DAY.isoformat(), "latest": LATEST_DAY.isoformat()},
    )


def _check_day(value: date, info: ValidationInfo) -> date:
    if not _stored(info) and not EARLIEST_DAY <= value <= LATEST_DAY:
        raise _out_of_range()
    return value


def _check_instant(value: datetime, info: ValidationInfo) -> datetime:
    # By the wall-clock date as given: an offset of under a day then cannot carry the instant
    # outside the range datetime can represent, whatever is done with it later.
    if not _stored(info) and not EARLIEST_DAY <= value.date() <= LATEST_DAY:
        raise _out_of_range()
    return value


_RANGE_NOTE = f"between {EARLIEST_DAY.isoformat()} and {LATEST_DAY.isoformat()}"
# What a day or an instant accepts, in words. A field's own description replaces its type's, so
# the commands end theirs with these.
DAY_NOTE = f"A day (YYYY-MM-DD) {_RANGE_NOTE}."
INSTANT_NOTE = (f"An ISO 8601 instant {_RANGE_NOTE}; without an offset it is Swedish local "
                "time.")
Day = Annotated[
    date, AfterValidator(_check_day),
    _Documented((("description", DAY_NOTE),)),
]
Instant = Annotated[
    datetime, AfterValidator(_check_instant),
    _Documented((("description", INSTANT_NOTE),)),
]


def _check_items(max_items: int) -> Any:
    def check(value: tuple[Any, ...], info: ValidationInfo) -> tuple[Any, ...]:
        if not _stored(info) and len(value) > max_items:
            raise PydanticCustomError(
                "too_many_items", "must hold at most {max_items} items", {"max_items": max_items}
            )
        return value

    return check


@dataclass(frozen=True)
class MaxItems(GroupedMetadata):
    """A tuple of at most ``max_items`` items."""

    max_items: int

    def __iter__(self) -> Iterator[object]:
        yield AfterValidator(_check_items(self.max_items))
        yield _Documented((("maxItems", self.max_items),))


# ---- the field types, by what they hold ---------------------------------------------------

Name = Annotated[str, Line(NAME_MAX, min_length=1)]
NameOrEmpty = Annotated[str, Line(NAME_MAX)]
Place = Annotated[str, Line(PLACE_MAX, min_length=1)]
PlaceOrEmpty = Annotated[str, Line(PLACE_MAX)]
ShortText = Annotated[str, Text(SHORT_TEXT_MAX)]
Note = Annotated[str, Text(NOTE_MAX)]
LongText = Annotated[str, Text(LONG_TEXT_MAX)]
# The number's own format (domain/identity.py) is checked by the aggregate, naming the field;
# the validator only bounds what reaches it. The schema shows the format (12 digits, an optional
# - or + before the last four), not enforced here: the date and the check digit are the
# aggregate's to refuse, with the rest of the number's checks.
PERSONAL_IDENTITY_NUMBER_PATTERN = r"^[0-9]{8}[-+]?[0-9]{4}$"
PERSONAL_IDENTITY_NUMBER_FORMAT = (
    "Swedish personal identity number (personnummer) or coordination number "
    "(samordningsnummer, whose day is the birth day + 60): 12 digits as YYYYMMDD-NNNC or "
    "YYYYMMDDNNNC (+ is accepted as the separator too). The 10-digit form is refused: its "
    "century is ambiguous. The date must exist and C is the Luhn check digit over YYMMDDNNN; "
    "the number is stored as YYYYMMDD-NNNC."
)
PersonalIdentityNumberInput = Annotated[
    str, Line(20), _Documented((("pattern", PERSONAL_IDENTITY_NUMBER_PATTERN),)),
]
# An invitee's key: an organisation id, or "<role>:<name>" for a private person.
ParticipantKey = Annotated[str, Line(40 + NAME_MAX, min_length=1)]
# The highest version a command may name (a PostgreSQL integer).
VERSION_MAX = 2_147_483_647
