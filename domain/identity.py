"""Swedish personal identity numbers (personnummer) and coordination numbers (samordningsnummer).

Format: YYYYMMDD-NNNC or YYYYMMDDNNNC (12 digits; the 10-digit form is refused because its
century is ambiguous for a plan that may concern a person over 100). The day of a coordination
number is the birth day + 60. C is the Luhn check digit over the 10 digits YYMMDDNNN.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import date

from .errors import InvalidInput

_PATTERN = re.compile(r"^(\d{4})(\d{2})(\d{2})[-+]?(\d{3})(\d)$")


def _luhn_check_digit(digits: str) -> int:
    total = 0
    for i, ch in enumerate(digits):
        n = int(ch) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return (10 - total % 10) % 10


def normalise_personal_identity_number(value: str, field: str = "personal_identity_number") -> str:
    """Return the canonical form YYYYMMDD-NNNC, or raise InvalidInput naming the field."""
    if not isinstance(value, str):
        raise InvalidInput("personal identity number must be text", field=field)
    match = _PATTERN.match(value.strip())
    if not match:
        raise InvalidInput(
            "personal identity number must be 12 digits as YYYYMMDD-NNNC", field=field
        )
    year, month, day, serial, check = match.groups()
    day_n = int(day)
    if day_n > 60:  # samordningsnummer
        day_n -= 60
    try:
        date(int(year), int(month), day_n)
    except ValueError:
        raise InvalidInput(
            "personal identity number holds no valid date of birth", field=field
        ) from None
    if _luhn_check_digit(year[2:] + month + day + serial) != int(check):
        raise InvalidInput("personal identity number has a wrong check digit", field=field)
    return f"{year}{month}{day}-{serial}{check}"


def birth_date(pin: str) -> date:
    year, month, day = int(pin[0:4]), int(pin[4:6]), int(pin[6:8])
    return date(year, month, day - 60 if day > 60 else day)


def age_on(pin: str, on: date) -> int:
    born = birth_date(pin)
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def individual_key(pin: str, secret: bytes) -> str:
    """A keyed hash of the personal identity number.

    It lets the ledger find an individual's open cases (R09) without putting the number into an
    aggregate id or an index, where a plain hash could be reversed by trying every number.
    """
    return hmac.new(secret, pin.encode(), hashlib.sha256).hexdigest()


def check_digit_for(first_nine_of_ten: str) -> int:
    """The Luhn digit that completes YYMMDDNNN; used by synthetic data generators."""
    return _luhn_check_digit(first_nine_of_ten)
