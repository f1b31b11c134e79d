from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidInput
from domain.identity import (
    age_on,
    birth_date,
    check_digit_for,
    individual_key,
    normalise_personal_identity_number,
)


def make(born: date, serial: int, *, coordination: bool = False) -> str:
    day = born.day + (60 if coordination else 0)
    ymd = f"{born.year:04d}{born.month:02d}{day:02d}"
    s = f"{serial:03d}"
    return f"{ymd}-{s}{check_digit_for(ymd[2:] + s)}"


def test_a_known_valid_number_is_accepted_and_normalised():
    # 811218-9876 is the Swedish Tax Agency's classic example number.
    assert normalise_personal_identity_number("198112189876") == "19811218-9876"
    assert normalise_personal_identity_number(" 19811218-9876 ") == "19811218-9876"


@pytest.mark.parametrize(
    "value, reason",
    [
        ("8112189876", "12 digits"),
        ("19811218-987", "12 digits"),
        ("1981121898X6", "12 digits"),
        ("19810230-9876", "valid date"),
        ("19811318-9876", "valid date"),
        ("19811218-9875", "check digit"),
    ],
)
def test_bad_numbers_are_refused_naming_the_field(value, reason):
    with pytest.raises(InvalidInput) as err:
        normalise_personal_identity_number(value, field="individual.personal_identity_number")
    assert err.value.field == "individual.personal_identity_number"
    assert reason in err.value.message


@given(
    born=st.dates(min_value=date(1900, 1, 1), max_value=date(2026, 12, 31)),
    serial=st.integers(0, 999),
    coordination=st.booleans(),
)
def test_every_generated_number_round_trips(born, serial, coordination):
    pin = make(born, serial, coordination=coordination)
    assert normalise_personal_identity_number(pin) == pin
    assert birth_date(pin) == born


@given(
    born=st.dates(min_value=date(1900, 1, 1), max_value=date(2026, 12, 31)),
    serial=st.integers(0, 999),
    wrong=st.integers(1, 9),
)
def test_any_other_check_digit_is_refused(born, serial, wrong):
    pin = make(born, serial)
    bad = pin[:-1] + str((int(pin[-1]) + wrong) % 10)
    with pytest.raises(InvalidInput):
        normalise_personal_identity_number(bad)


def test_age_counts_whole_years():
    pin = make(date(2008, 6, 15), 123)
    assert age_on(pin, date(2026, 6, 14)) == 17
    assert age_on(pin, date(2026, 6, 15)) == 18


def test_individual_key_depends_on_the_secret_and_hides_the_number():
    pin = make(date(1990, 1, 1), 1)
    a, b = individual_key(pin, b"one"), individual_key(pin, b"two")
    assert a != b
    assert pin.replace("-", "") not in a
