"""Commands over HTTP: answers, idempotency, conflicts and refusals as problem+json."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import pytest

from adapters.bootstrap import Services
from domain.commands import Command
from domain.parties import Role
from projections.plans import current_plan
from tests.support import builders
from tests.support.http import OUTSIDER, REGION

pytestmark = pytest.mark.store

PROBLEM = "application/problem+json"


def body(cmd: Command) -> dict[str, Any]:
    return cmd.model_dump(mode="json", exclude={"command_id", "case_id"})


def head(services: Services) -> int:
    return services.ledger.recorder.max_notification_id() or 0


@pytest.fixture
def case_id(client, auth) -> str:
    answer = client.post("/cases", json=body(builders.propose()), headers=auth())
    assert answer.status_code == 201, answer.text
    return answer.json()["case_id"]


def test_propose_answers_after_the_read_models_have_the_case(client, auth, services):
    answer = client.post("/cases", json=body(builders.propose()), headers=auth())
    assert answer.status_code == 201, answer.text
    accepted = answer.json()
    assert accepted["version"] == 1 and accepted["projected"] is True
    assert accepted["replayed"] is False
    assert accepted["notification_id"] == max(accepted["notification_ids"])
    assert answer.headers["Location"] == f"/cases/{accepted['case_id']}"
    with services.datastore.transaction(commit=False) as curs:
        record = current_plan(curs, services.schema, uuid.UUID(accepted["case_id"]))
    assert record is not None and record["stage"] == "proposed"
    # The caller is the actor of the event (R32).
    assert record["proposer"]["person_id"] == "hsa-1001"


def test_a_whole_case_through_the_api(client, auth, case_id):
    today = date.today()
    steps = [
        ("consent", builders.consent(uuid.UUID(case_id))),
        ("meeting", builders.convene(uuid.UUID(case_id))),
        ("plan", builders.establish(uuid.UUID(case_id), today)),
    ]
    version = 1
    for path, cmd in steps:
        answer = client.post(f"/cases/{case_id}/{path}", json=body(cmd), headers=auth())
        assert answer.status_code == 200, (path, answer.text)
        assert answer.json()["version"] > version
        version = answer.json()["version"]
    closure = {"reason": "goals_met", "note": "Målen nådda"}
    for org in (builders.KOMMUN, REGION):
        answer = client.post(f"/cases/{case_id}/closures", json=closure,
                             headers=auth(organisation=org, unit="Enhet"))
        assert answer.status_code == 200, answer.text
    # A closed case takes nothing more (R31), as a rule violation naming the rule.
    late = client.post(f"/cases/{case_id}/wishes", json={"wishes": {"place": "Hemma"}},
                       headers=auth())
    assert late.status_code == 422, late.text
    assert late.headers["content-type"].startswith(PROBLEM)
    assert late.json()["rule"] == "R31"


def test_idempotency_key_returns_the_first_result_and_writes_nothing(client, auth, services):
    key = {"Idempotency-Key": "proposal-4711"}
    cmd = body(builders.propose())
    first = client.post("/cases", json=cmd, headers={**auth(), **key})
    assert first.status_code == 201
    before = head(services)
    again = client.post("/cases", json=cmd, headers={**auth(), **key})
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["replayed"] is True
    assert again.json()["case_id"] == first.json()["case_id"]
    assert again.json()["notification_ids"] == first.json()["notification_ids"]
    assert head(services) == before
    # Another organisation's key of the same text is another command.
    other = client.post("/cases", json=body(builders.propose()),
                        headers={**auth(organisation=REGION), **key})
    assert other.status_code == 201
    assert other.json()["case_id"] != first.json()["case_id"]


def test_a_key_reused_for_another_command_is_refused(client, auth, case_id):
    key = {"Idempotency-Key": str(uuid.uuid4())}
    assert client.post(f"/cases/{case_id}/wishes", json={"wishes": {"place": "Hemma"}},
                       headers={**auth(), **key}).status_code == 200
    reused = client.post(f"/cases/{case_id}/decline", json={}, headers={**auth(), **key})
    assert reused.status_code == 422
    assert reused.json()["field"] == "command_id"


def test_version_conflict_answers_409_with_the_current_version(client, auth, case_id, services):
    stale = {**body(builders.consent(uuid.UUID(case_id))), "expected_version": 1}
    client.post(f"/cases/{case_id}/wishes", json={"wishes": {"place": "Hemma"}}, headers=auth())
    before = head(services)
    answer = client.post(f"/cases/{case_id}/consent", json=stale, headers=auth())
    assert answer.status_code == 409, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    problem = answer.json()
    assert problem["current_version"] == 2 and problem["field"] == "expected_version"
    assert problem["status"] == 409 and problem["title"]
    assert head(services) == before


def test_a_rule_violation_names_the_rule_and_writes_nothing(client, auth, case_id, services):
    expired = body(builders.consent(uuid.UUID(case_id)))
    expired["valid_until"] = (date.today() - timedelta(days=1)).isoformat()
    before = head(services)
    answer = client.post(f"/cases/{case_id}/consent", json=expired, headers=auth())
    assert answer.status_code == 422, answer.text
    assert answer.json()["rule"] == "R12"
    assert answer.json()["field"] == "valid_until"
    assert head(services) == before


def test_malformed_input_names_the_field(client, auth, services):
    cmd = body(builders.propose())
    cmd["individual"]["personal_identity_number"] = "19121212-1213"  # wrong check digit
    before = head(services)
    answer = client.post("/cases", json=cmd, headers=auth())
    assert answer.status_code == 422
    assert answer.json()["field"] == "individual.personal_identity_number"
    # The number itself is never echoed back.
    assert "19121212" not in answer.text
    missing = client.post("/cases", json={"municipality": cmd["municipality"]}, headers=auth())
    assert missing.status_code == 422
    assert missing.headers["content-type"].startswith(PROBLEM)
    assert {e["field"] for e in missing.json()["errors"]} >= {"individual", "region"}
    assert head(services) == before


def test_unknown_case_is_404(client, auth):
    answer = client.post(f"/cases/{uuid.uuid4()}/wishes", json={"wishes": {}}, headers=auth())
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith(PROBLEM)


def test_callers_without_a_writing_role_or_not_party_are_refused(client, auth, case_id, services):
    wishes = {"wishes": {"place": "Hemma"}}
    before = head(services)
    assert client.post(f"/cases/{case_id}/wishes", json=wishes).status_code == 401
    bad = client.post(f"/cases/{case_id}/wishes", json=wishes,
                      headers={"Authorization": "Bearer not-a-jwt"})
    assert bad.status_code == 401 and bad.json()["field"] == "Authorization"
    for role in (Role.SUPERVISOR, Role.AUDITOR):
        refused = client.post(f"/cases/{case_id}/wishes", json=wishes, headers=auth(role))
        assert refused.status_code == 403, role
    outsider = client.post(f"/cases/{case_id}/wishes", json=wishes,
                           headers=auth(organisation=OUTSIDER))
    assert outsider.status_code == 403
    assert outsider.json()["rule"] == "R13"
    assert head(services) == before


def test_wait_false_answers_without_waiting(client, auth, case_id):
    answer = client.post(f"/cases/{case_id}/wishes?wait=false",
                         json={"wishes": {"place": "Hemma"}}, headers=auth())
    assert answer.status_code == 200
    assert answer.json()["projected"] in (True, False)
    assert answer.json()["version"] == 2
