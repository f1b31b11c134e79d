"""Steps only ``features/integritet.feature`` uses: what a refusal must not disclose (R35)."""

from __future__ import annotations

from pytest_bdd import then

from ..context import Scenario

# ================================================================================ outcomes


@then("felet röjer varken ärendet, personnumret eller personens namn")
def _error_discloses_nothing(sip: Scenario):
    # R35: what a refusal says goes to whoever proposed, party to the case or not; the adapter
    # decides whom to tell the open case's id (it is kept in the error, not in its text).
    assert sip.error is not None and sip.individual is not None
    pin = sip.individual.personal_identity_number
    digits = pin.replace("-", "")
    said = f"{sip.error.message} {sip.error}"
    for secret in (str(sip.case_id), pin, digits, digits[2:], sip.individual.name):
        assert secret not in said, (secret, said)

