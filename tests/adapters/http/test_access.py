"""Access to a case by consent (R13) and the read-access log (R33), through the HTTP service.

The must-show: a non-party organisation gets 403 and the attempt is in the access log; a
supervisor's responses contain no personal identity number; every successful read of personal
data has its access-log row.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from adapters.bootstrap import Services
from domain.commands import RecordClosure, WithdrawConsent
from domain.identity import individual_key
from domain.parties import Actor, Organisation, OrganisationKind, Role
from tests.conftest import TEST_SECRET
from tests.support import builders as b
from tests.support.http import MUNICIPALITY, OUTSIDER, REGION, Token

pytestmark = pytest.mark.store

FK = Organisation(id="fk", kind=OrganisationKind.FORSAKRINGSKASSAN, name="Försäkringskassan")
KOMMUN_STAFF = Actor(person_id="hsa-2001", name="Karin Kommunsson", organisation=MUNICIPALITY,
                     unit="Socialtjänsten Mölndal")
REGION_STAFF = Actor(person_id="hsa-3001", name="Rolf Regionsson", organisation=REGION,
                     unit="Psykiatrimottagningen")
INDIVIDUAL_NAME = "Kim Karlsson"  # what tests.builders.propose names the individual


@dataclass
class Case:
    case_id: UUID
    pin: str

    @property
    def url(self) -> str:
        return f"/cases/{self.case_id}"


def _propose(services: Services, actor: Actor = KOMMUN_STAFF) -> Case:
    cmd = b.propose(municipality=MUNICIPALITY, region=REGION)
    result = services.ledger.propose(cmd, actor)
    services.runner.wait_for(result.last_notification_id)
    return Case(result.case_id, cmd.individual.personal_identity_number)


def _settle(services: Services, result) -> None:
    assert services.runner.wait_for(result.last_notification_id)


@pytest.fixture(scope="module")
def cases(services: Services) -> dict[str, Case]:
    """unconsented: proposed by the municipality; consented: consent naming the municipality,
    the region and FK; withdrawn: consent given and withdrawn, closure documented by the
    municipality."""
    made = {name: _propose(services) for name in ("unconsented", "consented", "withdrawn")}
    for name in ("consented", "withdrawn"):
        _settle(services, services.ledger.record_consent(
            b.consent(made[name].case_id, organisations=(MUNICIPALITY.id, REGION.id, FK.id)),
            KOMMUN_STAFF))
    _settle(services, services.ledger.withdraw_consent(
        WithdrawConsent(case_id=made["withdrawn"].case_id), KOMMUN_STAFF))
    _settle(services, services.ledger.record_closure(
        RecordClosure(case_id=made["withdrawn"].case_id, reason="consent_withdrawn"),
        KOMMUN_STAFF))
    return made


def log_rows(services: Services, case_id: UUID) -> list[dict]:
    return services.access_log.for_case(case_id)


def row_of(services: Services, response) -> dict:
    """The access-log row the response's request wrote (its request id)."""
    request_id = response.headers["X-Request-ID"]
    rows = [r for r in services.access_log.query(limit=10_000) if r["request_id"] == request_id]
    assert len(rows) == 1, f"expected one access-log row for request {request_id}, got {rows}"
    return rows[0]


def personal(case: Case) -> tuple[str, ...]:
    return (case.pin, case.pin.replace("-", ""), INDIVIDUAL_NAME)


def assert_no_personal_data(text: str, case: Case) -> None:
    for value in (*personal(case), KOMMUN_STAFF.name, REGION_STAFF.name):
        assert value not in text


# ------------------------------------------------------------------------ refusals


def test_a_non_party_organisation_is_refused_and_the_attempt_is_logged(
    client: TestClient, services: Services, auth: Token, cases: dict[str, Case]
) -> None:
    case = cases["consented"]
    response = client.get(case.url, headers=auth(Role.COORDINATOR, OUTSIDER, unit="Vuxen",
                                                  person="hsa-9001"))
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/no-access")
    assert (problem["rule"], problem["field"]) == ("R13", "case_id")
    assert_no_personal_data(response.text, case)

    row = row_of(services, response)
    assert (row["outcome"], row["view"], row["action"]) == ("refused", None, "read_plan")
    assert (row["person_id"], row["organisation_id"], row["unit"]) == (
        "hsa-9001", OUTSIDER.id, "Vuxen")
    assert row["case_id"] == case.case_id
    assert row["individual_key"] == individual_key(case.pin, TEST_SECRET)
    assert "R13" in row["reason"]


@pytest.mark.parametrize("path", ["", "/history", "/as-of?at=2100-01-01T00:00:00Z"])
def test_every_read_of_a_case_refuses_a_non_party(
    client: TestClient, services: Services, auth: Token, cases: dict[str, Case], path: str
) -> None:
    case = cases["consented"]
    response = client.get(case.url + path, headers=auth(Role.COORDINATOR, OUTSIDER))
    assert response.status_code == 403
    assert response.json()["rule"] == "R13"
    assert row_of(services, response)["outcome"] == "refused"


def test_an_unknown_case_is_404(client: TestClient, auth: Token) -> None:
    response = client.get(f"/cases/{uuid4()}", headers=auth(Role.AUDITOR))
    assert response.status_code == 404
    assert response.json()["type"].endswith("/case-not-found")
    assert client.get("/cases/not-a-uuid", headers=auth()).status_code == 422


def test_reads_need_a_token(client: TestClient, cases: dict[str, Case]) -> None:
    assert client.get(cases["consented"].url).status_code == 401


# ------------------------------------------------------------------------ by consent


def test_an_organisation_named_by_a_valid_consent_reads_in_full_and_the_read_is_logged(
    client: TestClient, services: Services, auth: Token, cases: dict[str, Case]
) -> None:
    case = cases["consented"]
    for org, unit in ((REGION, "Psykiatrimottagningen"), (FK, "Lokalkontor"),
                      (MUNICIPALITY, "Socialtjänsten Mölndal")):
        response = client.get(case.url, headers=auth(Role.COORDINATOR, org, unit=unit))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["view"] == "full"
        assert body["individual"]["personal_identity_number"] == case.pin
        assert body["consent"]["givers"][0]["name"] == INDIVIDUAL_NAME
        row = row_of(services, response)
        assert (row["outcome"], row["view"], row["action"], row["organisation_id"],
                row["unit"]) == ("granted", "full", "read_plan", org.id, unit)
        assert row["individual_key"] == individual_key(case.pin, TEST_SECRET)


def test_before_consent_only_the_proposer_reads_in_full_the_other_principal_restricted(
    client: TestClient, auth: Token, cases: dict[str, Case]
) -> None:
    case = cases["unconsented"]
    own = client.get(case.url, headers=auth(Role.COORDINATOR, MUNICIPALITY))
    assert own.status_code == 200 and own.json()["view"] == "full"
    other = client.get(case.url, headers=auth(Role.COORDINATOR, REGION))
    assert other.status_code == 200
    assert other.json()["view"] == "restricted"
    assert_no_personal_data(other.text, case)
    # FK is in no consent here: not a party at all.
    assert client.get(case.url, headers=auth(Role.COORDINATOR, FK)).status_code == 403


def test_after_withdrawal_principals_get_the_closure_view_and_others_nothing(
    client: TestClient, services: Services, auth: Token, cases: dict[str, Case]
) -> None:
    case = cases["withdrawn"]
    for org in (MUNICIPALITY, REGION):
        response = client.get(case.url, headers=auth(Role.COORDINATOR, org))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["view"] == "restricted"
        assert_no_personal_data(response.text, case)
        assert "individual" not in body and "plan" not in body and "givers" not in body["consent"]
        assert body["stage"] == "closing"
        assert body["consent"]["withdrawn_on"] is not None
        assert set(body["closures"]) == {MUNICIPALITY.id}
        closure_deadlines = {d["key"]: d for d in body["deadlines"]
                             if d["kind"] == "closure_documentation"}
        assert closure_deadlines[f"closure:{REGION.id}"]["met_on"] is None
        assert closure_deadlines[f"closure:{MUNICIPALITY.id}"]["met_on"] is not None
        row = row_of(services, response)
        assert (row["outcome"], row["view"]) == ("granted", "restricted")
        assert "withdrawn" in row["reason"]
    # FK was named by the consent; with the consent withdrawn it has no access at all.
    refused = client.get(case.url, headers=auth(Role.COORDINATOR, FK))
    assert refused.status_code == 403
    assert row_of(services, refused)["outcome"] == "refused"


def test_history_and_as_of_follow_the_same_policy(
    client: TestClient, services: Services, auth: Token, cases: dict[str, Case]
) -> None:
    withdrawn = cases["withdrawn"]
    history = client.get(withdrawn.url + "/history", headers=auth(Role.COORDINATOR, REGION))
    assert history.status_code == 200
    body = history.json()
    assert body["view"] == "restricted"
    assert [e["event_type"] for e in body["events"]][:2] == ["SipProposed", "ConsentRecorded"]
    assert {e["actor_person_id"] for e in body["events"]} == {None}
    assert_no_personal_data(history.text, withdrawn)

    # As of now, the withdrawn case is read by the current record's access: restricted, even
    # though consent was valid at earlier instants.
    as_of = client.get(withdrawn.url + "/as-of", params={"at": "2100-01-01T00:00:00+01:00"},
                       headers=auth(Role.COORDINATOR, MUNICIPALITY))
    assert as_of.status_code == 200, as_of.text
    assert as_of.json()["case"]["view"] == "restricted"
    assert_no_personal_data(as_of.text, withdrawn)
    row = row_of(services, as_of)
    assert (row["action"], row["view"]) == ("read_as_of", "restricted")

    consented = cases["consented"]
    full = client.get(consented.url + "/history", headers=auth(Role.COORDINATOR, REGION))
    assert full.json()["view"] == "full"
    assert full.json()["events"][0]["actor_person_id"] == KOMMUN_STAFF.person_id
    assert row_of(services, full)["action"] == "read_history"


# ------------------------------------------------------------------------ supervisors


def test_a_supervisors_responses_contain_no_personal_identity_number(
    client: TestClient, services: Services, auth: Token, cases: dict[str, Case]
) -> None:
    supervisor = auth(Role.SUPERVISOR, MUNICIPALITY, unit="Socialtjänsten Mölndal",
                      person="hsa-5001")
    texts = []
    for case in cases.values():
        for path in ("", "/history", "/as-of?at=2100-01-01T00:00:00Z"):
            response = client.get(case.url + path, headers=supervisor)
            assert response.status_code == 200, response.text
            texts.append((case, response.text))
            body = response.json()
            assert (body.get("case") or body)["view"] == "restricted"
    for path in ("/cases", "/dashboard/deadlines", "/dashboard/counts", "/dashboard/adherence",
                 "/dashboard/first-meetings"):
        response = client.get(path, headers=supervisor)
        assert response.status_code == 200, (path, response.text)
        texts.extend((case, response.text) for case in cases.values())
    for case, text in texts:
        assert_no_personal_data(text, case)
    # A supervisor elsewhere sees nothing of these cases.
    outsider = auth(Role.SUPERVISOR, OUTSIDER)
    assert client.get(cases["consented"].url, headers=outsider).status_code == 403


# ------------------------------------------------------------------------ auditors


def test_an_auditor_reads_every_case_in_full_and_is_logged(
    client: TestClient, services: Services, auth: Token, cases: dict[str, Case]
) -> None:
    auditor = auth(Role.AUDITOR, Organisation(id="ivo", kind=OrganisationKind.OTHER,
                                              name="IVO"), unit="Tillsyn", person="hsa-7001")
    for case in cases.values():
        response = client.get(case.url, headers=auditor)
        assert response.status_code == 200
        assert response.json()["individual"]["personal_identity_number"] == case.pin
        row = row_of(services, response)
        assert (row["role"], row["view"], row["organisation_id"]) == ("auditor", "full", "ivo")
    listing = client.get("/cases", headers=auditor)
    assert listing.status_code == 200
    assert {c.case_id for c in cases.values()} <= {UUID(c["case_id"])
                                                   for c in listing.json()["cases"]}


def test_every_successful_read_of_personal_data_has_its_access_log_row(
    client: TestClient, services: Services, auth: Token, cases: dict[str, Case]
) -> None:
    readers = [auth(Role.COORDINATOR, REGION), auth(Role.AUDITOR),
               auth(Role.SERVICE, MUNICIPALITY)]
    full_reads = 0
    for case in cases.values():
        for headers in readers:
            for path in ("", "/history", "/as-of?at=2100-01-01T00:00:00Z"):
                response = client.get(case.url + path, headers=headers)
                if response.status_code != 200:
                    continue
                body = response.json()
                level = (body.get("case") or body)["view"]
                row = row_of(services, response)
                assert (row["outcome"], row["view"], row["case_id"]) == (
                    "granted", level, case.case_id)
                if level == "full":
                    full_reads += 1
                    assert row["individual_key"] == individual_key(case.pin, TEST_SECRET)
    assert full_reads >= 9


def test_a_read_whose_log_row_cannot_be_written_is_not_answered(
    client: TestClient, services: Services, auth: Token, cases: dict[str, Case],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(**kwargs):
        raise ConnectionError("log store down")

    monkeypatch.setattr(services.access_log, "record", broken)
    case = cases["consented"]
    response = client.get(case.url, headers=auth(Role.COORDINATOR, REGION))
    assert response.status_code == 503
    assert response.json()["rule"] == "R33"
    assert_no_personal_data(response.text, case)


# ------------------------------------------------------------------------ the access log routes


def test_only_auditors_read_the_access_log(
    client: TestClient, auth: Token, cases: dict[str, Case]
) -> None:
    for role in (Role.COORDINATOR, Role.SUPERVISOR, Role.SERVICE):
        assert client.get("/access-log", headers=auth(role)).status_code == 403
        response = client.post("/access-log/individual", headers=auth(role),
                               json={"personal_identity_number": cases["consented"].pin})
        assert response.status_code == 403


def test_an_auditor_searches_the_log_by_case_and_the_search_is_logged(
    client: TestClient, services: Services, auth: Token, cases: dict[str, Case]
) -> None:
    case = cases["consented"]
    client.get(case.url, headers=auth(Role.COORDINATOR, OUTSIDER))  # one refusal at least
    response = client.get("/access-log", params={"case_id": str(case.case_id)},
                          headers=auth(Role.AUDITOR))
    assert response.status_code == 200
    entries = response.json()["entries"]
    assert entries and {e["case_id"] for e in entries} == {str(case.case_id)}
    assert "refused" in {e["outcome"] for e in entries}
    assert case.pin not in response.text
    refused = client.get("/access-log", params={"case_id": str(case.case_id),
                                                "outcome": "refused"},
                         headers=auth(Role.AUDITOR)).json()["entries"]
    assert refused and {e["outcome"] for e in refused} == {"refused"}
    row = row_of(services, response)
    assert (row["action"], row["case_id"]) == ("read_access_log", case.case_id)
    bad = client.get("/access-log", params={"limit": 0}, headers=auth(Role.AUDITOR))
    assert bad.status_code == 422
    naive = client.get("/access-log", params={"since": "2026-01-01T00:00:00"},
                       headers=auth(Role.AUDITOR))
    assert naive.status_code == 422 and naive.json()["field"] == "since"


def test_an_auditor_learns_which_units_read_an_individuals_data(
    client: TestClient, services: Services, auth: Token, cases: dict[str, Case]
) -> None:
    case = cases["consented"]
    client.get(case.url, headers=auth(Role.COORDINATOR, REGION, unit="Psykiatrimottagningen"))
    client.get(case.url, headers=auth(Role.COORDINATOR, OUTSIDER, unit="Vuxen"))  # refused
    client.get(case.url, headers=auth(Role.SUPERVISOR, MUNICIPALITY, unit="Ledning"))  # no PII
    auditor = auth(Role.AUDITOR, unit="Internrevision")
    response = client.post("/access-log/individual", headers=auditor,
                           json={"personal_identity_number": case.pin.replace("-", "")})
    assert response.status_code == 200, response.text
    body = response.json()
    units = {(u["organisation_id"], u["unit"]) for u in body["units"]}
    assert (REGION.id, "Psykiatrimottagningen") in units
    assert (OUTSIDER.id, "Vuxen") not in units  # refused: read nothing
    assert (MUNICIPALITY.id, "Ledning") not in units  # the restricted view shows no personal data
    assert {r["case_id"] for r in body["reads"]} == {str(case.case_id)}
    assert case.pin not in response.text

    # The question itself is logged against the individual, and the next answer shows it.
    row = row_of(services, response)
    assert (row["action"], row["view"], row["individual_key"]) == (
        "read_access_log_individual", "full", individual_key(case.pin, TEST_SECRET))
    again = client.post("/access-log/individual", headers=auditor,
                        json={"personal_identity_number": case.pin}).json()
    assert "read_access_log_individual" in {r["action"] for r in again["reads"]}


def test_a_malformed_number_is_422_and_is_not_echoed(client: TestClient, auth: Token) -> None:
    for value in ("19121212-1213", "x" * 12, ""):
        response = client.post("/access-log/individual", headers=auth(Role.AUDITOR),
                               json={"personal_identity_number": value})
        assert response.status_code == 422
        assert response.json()["field"] == "personal_identity_number"
        if value:
            assert value not in response.text
