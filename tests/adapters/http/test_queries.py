"""The query routes: lists of cases, the deadline dashboard and the case as of an instant, each
limited to the caller's organisation (auditors: any) and validated so nothing answers 500."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from adapters.bootstrap import Services
from domain.clock import local_date
from domain.parties import Actor, Role
from tests.support import builders as b
from tests.support.http import MUNICIPALITY, OUTSIDER, REGION, Token

pytestmark = pytest.mark.store

KOMMUN_STAFF = Actor(person_id="hsa-2001", name="Karin Kommunsson", organisation=MUNICIPALITY,
                     unit="Socialtjänsten Mölndal")


def settle(services: Services, result) -> UUID:
    assert services.runner.wait_for(result.last_notification_id)
    return result.case_id


@pytest.fixture(scope="module")
def today(services: Services) -> date:
    return local_date(services.ledger.clock())


@pytest.fixture(scope="module")
def cases(services: Services, today: date) -> dict[str, UUID]:
    """proposed (x2): nothing more, the municipality owes the start; planned: consent, a
    meeting today and a plan; elsewhere: a case of another municipality (Borås)."""
    ledger = services.ledger
    made = {}
    for name in ("proposed", "proposed_too", "planned"):
        made[name] = settle(services, ledger.propose(
            b.propose(municipality=MUNICIPALITY, region=REGION), KOMMUN_STAFF))
    planned = made["planned"]
    settle(services, ledger.record_consent(
        b.consent(planned, organisations=(MUNICIPALITY.id, REGION.id)), KOMMUN_STAFF))
    settle(services, ledger.convene(b.convene(planned), KOMMUN_STAFF))
    settle(services, ledger.establish_plan(b.establish(planned, today), KOMMUN_STAFF))
    boras = Actor(person_id="hsa-4001", name="Bo Borås", organisation=OUTSIDER, unit="Vuxen")
    made["elsewhere"] = settle(services, ledger.propose(
        b.propose(municipality=OUTSIDER, region=REGION), boras))
    return made


# ------------------------------------------------------------------------ lists


def test_a_coordinator_lists_their_own_organisations_cases_without_personal_data(
    client: TestClient, auth: Token, cases: dict[str, UUID]
) -> None:
    response = client.get("/cases", headers=auth(Role.COORDINATOR, MUNICIPALITY))
    assert response.status_code == 200
    body = response.json()
    assert body["organisation_id"] == MUNICIPALITY.id
    listed = {UUID(c["case_id"]) for c in body["cases"]}
    assert listed == {cases["proposed"], cases["proposed_too"], cases["planned"]}
    assert body["next_after"] is None
    row = body["cases"][0]
    assert set(row) == {"case_id", "version", "stage", "municipality_id", "region_id", "county",
                        "parties", "units", "proposed_on", "updated_at"}
    assert "Kim Karlsson" not in response.text


def test_the_region_lists_every_case_it_is_principal_of(
    client: TestClient, auth: Token, cases: dict[str, UUID]
) -> None:
    body = client.get("/cases", headers=auth(Role.SUPERVISOR, REGION)).json()
    assert {UUID(c["case_id"]) for c in body["cases"]} == set(cases.values())


def test_another_organisations_list_is_refused_and_logged(
    client: TestClient, services: Services, auth: Token, cases: dict[str, UUID]
) -> None:
    response = client.get("/cases", params={"organisation_id": OUTSIDER.id},
                          headers=auth(Role.SUPERVISOR, MUNICIPALITY, person="hsa-5001"))
    assert response.status_code == 403
    assert (response.json()["field"], response.json()["rule"]) == ("organisation_id", "R13")
    refused = services.access_log.query(person_id="hsa-5001", outcome="refused")
    assert [r["action"] for r in refused] == ["read_case_list"]


def test_an_auditor_lists_any_organisation_or_all(
    client: TestClient, auth: Token, cases: dict[str, UUID]
) -> None:
    boras = client.get("/cases", params={"organisation_id": OUTSIDER.id},
                       headers=auth(Role.AUDITOR)).json()
    assert [UUID(c["case_id"]) for c in boras["cases"]] == [cases["elsewhere"]]
    everything = client.get("/cases", headers=auth(Role.AUDITOR)).json()
    assert everything["organisation_id"] is None
    assert len(everything["cases"]) == len(cases)


def test_lists_page_by_case_id_and_filter_by_stage_and_unit(
    client: TestClient, auth: Token, cases: dict[str, UUID]
) -> None:
    headers = auth(Role.COORDINATOR, MUNICIPALITY)
    seen, after = [], None
    while True:
        params = {"limit": 1} | ({"after": after} if after else {})
        page = client.get("/cases", params=params, headers=headers).json()
        seen.extend(c["case_id"] for c in page["cases"])
        after = page["next_after"]
        if after is None:
            break
    assert seen == sorted(seen) and len(set(seen)) == 3
    planned = client.get("/cases", params={"stage": "plan_established"}, headers=headers).json()
    assert [UUID(c["case_id"]) for c in planned["cases"]] == [cases["planned"]]
    by_unit = client.get("/cases", params={"unit": "Socialtjänsten Mölndal"},
                         headers=headers).json()
    assert len(by_unit["cases"]) == 3
    assert client.get("/cases", params={"unit": "Nowhere"}, headers=headers).json()["cases"] == []


@pytest.mark.parametrize("params, field", [
    ({"limit": 0}, "limit"),
    ({"limit": 1001}, "limit"),
    ({"stage": "sleeping"}, "stage"),
    ({"after": "not-a-uuid"}, "after"),
    ({"organisation_id": "x" * 101}, "organisation_id"),
])
def test_bad_list_parameters_are_422(
    client: TestClient, auth: Token, params: dict, field: str
) -> None:
    response = client.get("/cases", params=params, headers=auth(Role.AUDITOR))
    assert response.status_code == 422
    assert response.json()["field"] == field


# ------------------------------------------------------------------------ the dashboard


def test_pending_deadlines_for_the_callers_organisation(
    client: TestClient, auth: Token, cases: dict[str, UUID], today: date
) -> None:
    later = (today + timedelta(days=10)).isoformat()
    response = client.get("/dashboard/deadlines", params={"as_of": later, "overdue_only": True},
                          headers=auth(Role.SUPERVISOR, MUNICIPALITY))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["organisation_id"] == MUNICIPALITY.id
    overdue = {(UUID(d["case_id"]), d["kind"]) for d in body["deadlines"]}
    assert overdue == {(cases["proposed"], "start"), (cases["proposed_too"], "start")}
    assert {d["state"] for d in body["deadlines"]} == {"overdue"}
    assert {d["days_overdue"] for d in body["deadlines"]} == {5}
    # The default day is today: the start deadlines are due in five days.
    soon = client.get("/dashboard/deadlines", params={"within_days": 5},
                      headers=auth(Role.COORDINATOR, MUNICIPALITY))
    assert soon.json()["as_of"] == today.isoformat()
    assert {(UUID(d["case_id"]), d["state"]) for d in soon.json()["deadlines"]} == {
        (cases["proposed"], "due_soon"), (cases["proposed_too"], "due_soon")}
    one = client.get("/dashboard/deadlines", params={"as_of": later, "limit": 1},
                     headers=auth(Role.COORDINATOR, MUNICIPALITY)).json()
    assert len(one["deadlines"]) == 1


def test_the_dashboard_of_another_organisation_is_refused_but_an_auditor_may(
    client: TestClient, auth: Token, cases: dict[str, UUID], today: date
) -> None:
    later = (today + timedelta(days=10)).isoformat()
    for path in ("/dashboard/deadlines", "/dashboard/counts", "/dashboard/adherence"):
        refused = client.get(path, params={"organisation_id": OUTSIDER.id},
                             headers=auth(Role.SUPERVISOR, MUNICIPALITY))
        assert refused.status_code == 403, path
    boras = client.get("/dashboard/deadlines", headers=auth(Role.AUDITOR),
                       params={"organisation_id": OUTSIDER.id, "as_of": later}).json()
    assert [UUID(d["case_id"]) for d in boras["deadlines"]] == [cases["elsewhere"]]


def test_counts_per_kind_and_per_organisation(
    client: TestClient, auth: Token, cases: dict[str, UUID], today: date
) -> None:
    later = (today + timedelta(days=10)).isoformat()
    mine = client.get("/dashboard/counts", params={"as_of": later},
                      headers=auth(Role.SUPERVISOR, MUNICIPALITY))
    assert mine.status_code == 200, mine.text
    counts = mine.json()["counts"]
    assert counts["start"]["overdue"] == 2
    assert counts["start"]["met_in_time"] == 1  # the planned case's start, met by its consent
    everyone = client.get("/dashboard/counts", params={"as_of": later,
                                                       "group_by": "organisation"},
                          headers=auth(Role.AUDITOR)).json()["counts"]
    assert everyone[MUNICIPALITY.id]["overdue"] == 2
    assert everyone[OUTSIDER.id]["overdue"] == 1


def test_adherence_per_month(
    client: TestClient, auth: Token, cases: dict[str, UUID], today: date
) -> None:
    later = today + timedelta(days=10)
    response = client.get("/dashboard/adherence",
                          params={"as_of": later.isoformat(),
                                  "since": (today - timedelta(days=1)).isoformat(),
                                  "kind": "start"},
                          headers=auth(Role.COORDINATOR, MUNICIPALITY))
    assert response.status_code == 200, response.text
    months = response.json()["months"]
    assert sum(m["due"] for m in months) == 3
    assert sum(m["met_in_time"] for m in months) == 1
    assert sum(m["unmet"] for m in months) == 2
    default = client.get("/dashboard/adherence", headers=auth(Role.COORDINATOR, MUNICIPALITY))
    assert default.json()["since"] == (today - timedelta(days=365)).isoformat()


def test_days_to_first_meeting_per_principal(
    client: TestClient, auth: Token, cases: dict[str, UUID]
) -> None:
    response = client.get("/dashboard/first-meetings",
                          headers=auth(Role.SUPERVISOR, MUNICIPALITY))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["organisation_id"], body["cases"], body["median_days"]) == (
        MUNICIPALITY.id, 1, 0)
    assert body["histogram"]["0-7"] == 1
    everyone = client.get("/dashboard/first-meetings", headers=auth(Role.AUDITOR)).json()
    assert everyone["organisation_id"] is None and everyone["cases"] == 1
    other = client.get("/dashboard/first-meetings", params={"organisation_id": OUTSIDER.id},
                       headers=auth(Role.COORDINATOR, MUNICIPALITY))
    assert other.status_code == 403
    # The region sees the same case as its own principal.
    region = client.get("/dashboard/first-meetings", headers=auth(Role.SUPERVISOR, REGION))
    assert region.status_code == 200, region.text
    assert (region.json()["organisation_id"], region.json()["cases"]) == (REGION.id, 1)
    outsider = client.get("/dashboard/first-meetings", headers=auth(Role.SUPERVISOR, OUTSIDER))
    assert outsider.json()["cases"] == 0


@pytest.mark.parametrize("path, params, field", [
    ("/dashboard/deadlines", {"as_of": "2026-02-30"}, "as_of"),
    ("/dashboard/deadlines", {"as_of": "1900-01-01"}, "as_of"),
    ("/dashboard/deadlines", {"limit": 5000}, "limit"),
    ("/dashboard/deadlines", {"within_days": -1}, "within_days"),
    ("/dashboard/deadlines", {"kind": "lunch"}, "kind"),
    ("/dashboard/deadlines", {"overdue_only": "perhaps"}, "overdue_only"),
    ("/dashboard/counts", {"group_by": "person"}, "group_by"),
    ("/dashboard/counts", {"settled_within_days": 0}, "settled_within_days"),
    ("/dashboard/adherence", {"as_of": "2026-03-01", "since": "2026-04-01"}, "since"),
    ("/dashboard/adherence", {"since": "1999-12-31"}, "since"),
    ("/dashboard/first-meetings", {"since": "0001-01-01"}, "since"),
])
def test_bad_dashboard_parameters_are_422(
    client: TestClient, auth: Token, path: str, params: dict, field: str
) -> None:
    response = client.get(path, params=params, headers=auth(Role.AUDITOR))
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


# ------------------------------------------------------------------------ as of an instant


def test_the_case_as_it_stood_at_each_recorded_instant(
    client: TestClient, services: Services, auth: Token, cases: dict[str, UUID], today: date
) -> None:
    case_id = cases["planned"]
    headers = auth(Role.COORDINATOR, REGION)
    history = client.get(f"/cases/{case_id}/history", headers=headers).json()["events"]
    recorded = {e["event_type"]: e["recorded_at"] for e in history}
    assert list(recorded) == ["SipProposed", "ConsentRecorded", "MeetingConvened",
                              "PlanEstablished"]

    def as_of(at: str) -> dict:
        response = client.get(f"/cases/{case_id}/as-of", params={"at": at}, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    proposed = as_of(recorded["SipProposed"])
    assert (proposed["version"], proposed["case"]["stage"]) == (1, "proposed")
    assert proposed["case"]["consent"] is None and proposed["case"]["plan"] is None
    consented = as_of(recorded["ConsentRecorded"])["case"]
    assert consented["stage"] == "active"
    assert consented["consent"]["organisation_ids"] == [MUNICIPALITY.id, REGION.id]
    assert consented["deadlines"][0]["key"] == "start"
    assert consented["deadlines"][0]["met_on"] == today.isoformat()
    now = as_of(datetime.now().astimezone().isoformat())["case"]
    assert now["stage"] == "plan_established" and now["plan"]["revision"] == 1
    assert now["view"] == "full"
    assert now["individual"]["name"] == "Kim Karlsson"
    assert now["meeting"]["on"] == today.isoformat()
    assert now["first_meeting_on"] == today.isoformat()
    # The current plan (read model) and the replay agree on what they both show.
    current = client.get(f"/cases/{case_id}", headers=headers).json()
    for key in ("stage", "version", "individual", "parties", "plan", "consent",
                "first_meeting_on", "plan_revision", "municipality", "region"):
        assert now[key] == current[key], key
    # A naive instant is Swedish local time.
    assert as_of("2100-01-01T00:00:00")["at"].endswith("+01:00")


def test_before_the_proposal_there_is_no_case_and_bad_instants_are_422(
    client: TestClient, auth: Token, cases: dict[str, UUID]
) -> None:
    url = f"/cases/{cases['planned']}/as-of"
    headers = auth(Role.AUDITOR)
    before = client.get(url, params={"at": "2001-01-01T00:00:00Z"}, headers=headers)
    assert before.status_code == 404
    assert before.json()["field"] == "at"
    for bad in ("yesterday", "0001-01-01T00:00:00Z", "9999-12-31T23:00:00Z"):
        response = client.get(url, params={"at": bad}, headers=headers)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["field"] == "at"
    assert client.get(url, headers=headers).status_code == 422  # at is required


def test_the_openapi_document_describes_the_query_routes(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    paths = document["paths"]
    for path in ("/cases", "/cases/{case_id}", "/cases/{case_id}/history",
                 "/cases/{case_id}/as-of", "/dashboard/deadlines", "/dashboard/counts",
                 "/dashboard/adherence", "/dashboard/first-meetings", "/access-log",
                 "/access-log/individual"):
        assert "get" in paths[path] or "post" in paths[path], path
    read = paths["/cases/{case_id}"]["get"]["responses"]
    assert {"200", "403", "404"} <= set(read)
    assert "FullCase" in document["components"]["schemas"]
    assert "RestrictedCase" in document["components"]["schemas"]
