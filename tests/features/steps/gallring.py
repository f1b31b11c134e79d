"""Steps only ``features/gallring.feature`` uses: retention status, legal holds and erasure (R34).

The status is asked of the ledger (``retention_status``: the case as stored, its personal
identity number opened for the birth day) as of the scenario's today; holds and erasures run
through the ledger like every other command, by an auditor and an archivist of the kommun.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from pytest_bdd import given, then, when

from domain.commands import ErasePersonalData, LiftLegalHold, PlaceLegalHold, RecordClosure
from domain.parties import Role
from domain.retention import DEFAULT_RETENTION_POLICY, ExemptionKind, RetentionStatus
from tests.support.builders import KOMMUN, actor, pin_born

from ..context import Scenario
from ..vocabulary import ACTORS
from .common import step

GRANSKAREN = actor(KOMMUN, "greta", "Greta Granskare", "Internrevisionen").model_copy(
    update={"role": Role.AUDITOR}
)
ARKIVARIEN = actor(KOMMUN, "arvid", "Arvid Arkivarie", "Kommunarkivet").model_copy(
    update={"role": Role.ARCHIVIST}
)

EXEMPTIONS = {
    "att personen är född på en forskningsdag": ExemptionKind.BORN_ON_RESEARCH_DAY,
    "att ärendet är spärrat": ExemptionKind.LEGAL_HOLD,
}


@dataclass
class Retention:
    """What a scenario of gallring.feature remembers besides the ``sip`` scenario."""

    policy_id: str = DEFAULT_RETENTION_POLICY


@pytest.fixture
def retention() -> Retention:
    return Retention()


def _status(sip: Scenario, retention: Retention) -> RetentionStatus:
    assert sip.case_id is not None
    return sip.ledger.retention_status(sip.case_id, sip.today, retention.policy_id)


# ================================================================================ the case


@given(step('att gallringen följer riktlinjen "{policy:Text}"'))
def _policy(retention: Retention, policy: str):
    retention.policy_id = policy


@given(step(
    "ett avslutat SIP-ärende för en person född {född:Datum} med sista anteckningen {datum:Datum}"
))
def _closed_case(sip: Scenario, född: date, datum: date):
    sip.set_today(datum)
    sip.new_individual(pin_born(född), "Kim Karlsson")
    sip.must(lambda: sip.propose(ACTORS["kommunens samordnare"]))
    for who in ("kommunens samordnare", "regionens samordnare"):
        cmd = RecordClosure(case_id=sip.case_id, reason="goals_met")
        sip.must(lambda cmd=cmd, who=who: sip.ledger.record_closure(cmd, ACTORS[who]))
    assert sip.case().ended_on == datum


# ================================================================================ legal holds


def _hold(sip: Scenario, motivering: str):
    cmd = PlaceLegalHold(case_id=sip.case_id, reason=motivering, reference="IVO 3.5-1/2029")
    return sip.ledger.place_legal_hold(cmd, GRANSKAREN)


@given(step('att granskaren har spärrat ärendet med motiveringen "{motivering:Text}"'))
def _held(sip: Scenario, motivering: str):
    sip.must(lambda: _hold(sip, motivering))


@when(step('granskaren häver spärren med motiveringen "{motivering:Text}"'))
def _lifts(sip: Scenario, motivering: str):
    cmd = LiftLegalHold(case_id=sip.case_id, reason=motivering)
    sip.attempt(lambda: sip.ledger.lift_legal_hold(cmd, GRANSKAREN))


# ================================================================================ erasure


@when(step('arkivarien gallrar ärendets personuppgifter enligt beslutet "{beslut:Text}"'))
@when(step(
    'arkivarien gallrar ärendets personuppgifter enligt beslutet "{beslut:Text}" '
    'med motiveringen "{motivering:Text}"'
))
def _erases(sip: Scenario, retention: Retention, beslut: str, motivering: str | None = None):
    cmd = ErasePersonalData(case_id=sip.case_id, decision=beslut, policy_id=retention.policy_id,
                            override_reason=motivering)
    sip.attempt(lambda: sip.ledger.erase_personal_data(cmd, ARKIVARIEN))


# ================================================================================ outcomes


@then(step("ska ärendets personuppgifter gallras från {datum:Datum}"))
def _due(sip: Scenario, retention: Retention, datum: date):
    status = _status(sip, retention)
    assert status.due, status.reason
    assert status.due_on == datum and status.policy_id == retention.policy_id


@then("ska ärendets personuppgifter inte gallras ännu")
def _not_due_yet(sip: Scenario, retention: Retention):
    status = _status(sip, retention)
    assert not status.due and status.exemptions == (), status.reason


@then("ska ärendets personuppgifter inte gallras")
def _not_due(sip: Scenario, retention: Retention):
    status = _status(sip, retention)
    assert not status.due, status.reason


@then(step("ärendets personuppgifter gallras tidigast {datum:Datum}"))
def _due_on(sip: Scenario, retention: Retention, datum: date):
    assert _status(sip, retention).due_on == datum


@then(step("undantaget är {undantag}"))
def _exemption(sip: Scenario, retention: Retention, undantag: str):
    assert _status(sip, retention).exemptions == (EXEMPTIONS[undantag],)


@then(step(
    'ärendets personuppgifter är gallrade {datum:Datum} enligt beslutet "{beslut:Text}" och '
    'riktlinjen "{policy:Text}" version {version:d}'
))
def _erased(sip: Scenario, datum: date, beslut: str, policy: str, version: int):
    erasure = sip.case().erasure
    assert erasure is not None, "the case is not erased"
    assert (erasure.on, erasure.decision, erasure.policy_id, erasure.policy_version) == (
        datum, beslut, policy, version)
    assert erasure.erased_by == ARKIVARIEN
    if sip.ledger.keys is not None:  # the data keys are gone with the data
        assert "individual" in erasure.subjects
        assert not sip.ledger.keys.has_live_keys(sip.case_id)


@then("ärendets personuppgifter är inte gallrade")
def _not_erased(sip: Scenario):
    assert sip.case().erasure is None
    if sip.ledger.keys is not None:
        assert sip.ledger.keys.has_live_keys(sip.case_id)


@then(step('gallringen är motiverad med "{motivering:Text}"'))
def _override(sip: Scenario, motivering: str):
    erasure = sip.case().erasure
    assert erasure is not None and erasure.override_reason == motivering


@then(step('personens namn visas som "{markering:Text}"'))
def _marker(sip: Scenario, markering: str):
    individual = sip.case().individual
    assert individual.name == markering
    assert individual.personal_identity_number == markering
