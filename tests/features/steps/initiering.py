"""Steps only ``features/initiering.feature`` uses: the proposal and what the case records of it."""

from __future__ import annotations

from datetime import date, time

from pytest_bdd import given, then, when

from domain.errors import OpenSipExists
from domain.parties import OrganisationKind
from tests.support.builders import KOMMUN, REGION

from ..context import Scenario
from ..vocabulary import NAMED_CARE_CONTACT, local
from .common import step

# ================================================================================ the proposal


@given(step("att {verksamhet:Verksamhet} har bedömt att en SIP behövs"))
def _need_assessed_by(sip: Scenario, verksamhet):
    sip.proposal["need_assessed_by"] = verksamhet.kind


@given(step("att förslaget anger {verksamhet:Verksamhet} som kommunal huvudman"))
def _municipality(sip: Scenario, verksamhet):
    sip.proposal["municipality"] = verksamhet


@given(step("att planen ska vara en {plantyp:Plantyp}"))
def _plan_type(sip: Scenario, plantyp):
    sip.proposal["plan_type"] = plantyp


@given(step("att skälet till SIP är att {skäl:Skäl}"))
def _trigger(sip: Scenario, skäl):
    sip.proposal["triggers"] = (skäl,)


@given(step("att personen har {grupp:Målgrupp}"))
def _presumed_need(sip: Scenario, grupp):
    sip.proposal["presumed_need_groups"] = (*sip.proposal.get("presumed_need_groups", ()), grupp)


@given("att inget skäl är angivet")
@given("att inget annat skäl är angivet")
def _no_trigger(sip: Scenario):
    sip.proposal["triggers"] = ()


@given(step("att personen meddelades utskrivningsklar från sluten vård {datum:Datum}"))
def _discharge(sip: Scenario, datum: date):
    sip.proposal["discharge"] = dict(
        ready_for_discharge_at=local(datum, time(9)),
        named_care_contact_person_id=NAMED_CARE_CONTACT.person_id,
    )


@when(step("{aktör:Aktör} registrerar att {förslagsställare:Förslagsställare} föreslår en SIP"))
def _propose_for(sip: Scenario, aktör, förslagsställare):
    sip.attempt(lambda: sip.propose(aktör, förslagsställare))


# ================================================================================ outcomes


@then("felet pekar ut det öppna ärendet")
def _error_points_out(sip: Scenario):
    assert isinstance(sip.error, OpenSipExists)
    assert sip.error.open_case_ids == [sip.case_id]


# ================================================================================ the case


@then(step("det finns {n:d} öppna SIP-ärenden för personen"))
def _n_open(sip: Scenario, n: int):
    assert len(sip.open_cases()) == n
    assert sip.case_id in sip.open_cases()


@then(step("förslaget är registrerat som lämnat av {förslagsställare:Förslagsställare}"))
def _proposed_by(sip: Scenario, förslagsställare):
    assert sip.case().proposed_by is förslagsställare


@then("både kommunen och regionen är huvudmän i ärendet")
def _both_principals(sip: Scenario):
    municipality, region = sip.case().principals
    assert (municipality.id, municipality.kind) == (KOMMUN.id, OrganisationKind.KOMMUN)
    assert (region.id, region.kind) == (REGION.id, OrganisationKind.REGION)


@then(step("ärendet är en {plantyp:Plantyp}"))
def _is_plan_type(sip: Scenario, plantyp):
    assert sip.case().plan_type is plantyp


@then(step("ärendet anger att en plan förutsätts behövas vid {grupp:Målgrupp}"))
def _presumed(sip: Scenario, grupp):
    case = sip.case()
    assert case.presumed_need_groups == (grupp,)
    assert case.triggers == ()


@then(step("ärendet anger skälet att {skäl:Skäl}"))
def _has_trigger(sip: Scenario, skäl):
    assert sip.case().triggers == (skäl,)

