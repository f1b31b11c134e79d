"""The R13 access decision on the read side (projections/access.py): stated with the domain's own
stages and consent rule, and its views shaped as the HTTP response models expect. The decision's
behaviour through the service is in tests/adapters/http/test_access.py."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.http.case_views import ConsentDetails, ConsentSummary, DeadlineOut
from adapters.identity.tokens import Principal
from domain.case_state import ENDED_STAGES, Stage
from domain.consent import valid_on
from domain.parties import Organisation, OrganisationKind, Role
from projections import access
from projections.access import Level, consent_valid_on, decide, planning_open

TODAY = date(2026, 3, 2)
KOMMUN = Organisation(id="kommun-a", kind=OrganisationKind.KOMMUN, name="A", region="r")
REGION = Organisation(id="region-r", kind=OrganisationKind.REGION, name="R", region="r")
SCHOOL = Organisation(id="skola-s", kind=OrganisationKind.SKOLA, name="S", region="r")


def _record(stage: Stage, consent: dict[str, object] | None) -> dict[str, object]:
    return {
        "case_id": "c", "stage": stage.value, "consent": consent,
        "municipality": {"id": KOMMUN.id}, "region": {"id": REGION.id},
        "parties": [KOMMUN.id, REGION.id, SCHOOL.id],
        "proposer": {"organisation_id": KOMMUN.id},
    }


def _consent(**changes: object) -> dict[str, object]:
    return {"number": 1, "valid_from": "2026-01-01", "valid_until": "2026-12-31",
            "withdrawn_on": None, "organisation_ids": [KOMMUN.id, REGION.id, SCHOOL.id],
            **changes}


def _caller(org: Organisation, *roles: Role) -> Principal:
    return Principal(person_id="p", name="n", organisation=org, roles=frozenset(roles))


@pytest.mark.parametrize("stage", list(Stage))
def test_planning_has_ended_exactly_in_closing_and_the_domains_ended_stages(stage: Stage) -> None:
    ended = stage is Stage.CLOSING or stage in ENDED_STAGES
    assert planning_open(_record(stage, None)) is not ended


days = st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31))


@given(day=days, start=days, length=st.integers(0, 400),
       withdrawn=st.one_of(st.none(), days))
def test_a_records_consent_is_valid_by_the_domains_own_rule(
    day: date, start: date, length: int, withdrawn: date | None
) -> None:
    until = start + timedelta(days=length)
    record_consent = _consent(valid_from=start.isoformat(), valid_until=until.isoformat(),
                              withdrawn_on=withdrawn.isoformat() if withdrawn else None)
    assert consent_valid_on(record_consent, day) is valid_on(day, start, until, withdrawn)


def test_a_consent_named_organisation_reads_in_full_only_while_planning_is_open() -> None:
    school = _caller(SCHOOL, Role.COORDINATOR)
    assert decide(_record(Stage.ACTIVE, _consent()), school, TODAY).level is Level.FULL
    for stage in (Stage.CLOSING, *ENDED_STAGES):
        assert decide(_record(stage, _consent()), school, TODAY).level is Level.NONE
    kommun = _caller(KOMMUN, Role.COORDINATOR)
    closing = decide(_record(Stage.CLOSING, _consent()), kommun, TODAY)
    assert (closing.level, closing.reason) == (
        Level.RESTRICTED, "planning has ended (stage closing): closure view only")


def test_the_views_name_the_fields_of_the_response_models() -> None:
    """The views pick a consent's and a deadline's fields by name; the HTTP models must hold the
    same names, or a field would silently go missing from an answer."""
    assert access.CONSENT_SUMMARY_FIELDS == tuple(ConsentSummary.model_fields)
    assert access.CONSENT_DETAIL_FIELDS == tuple(ConsentDetails.model_fields)
    assert ("key", *access.DEADLINE_FIELDS) == tuple(DeadlineOut.model_fields)
