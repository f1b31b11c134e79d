"""Structured corrections (R32) over HTTP: the correction endpoint takes `changes`; the case view
shows the corrected value and the correction (which version, when, by whom, both values); the
history shows both entries and the as-of view the correction; a field the entry lacks is a
problem naming `changes[0].field` and R32, and nothing is written."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from adapters.bootstrap import Services
from domain.commands import Command
from tests.support import builders

pytestmark = pytest.mark.store


def body(cmd: Command) -> dict[str, Any]:
    return cmd.model_dump(mode="json", exclude={"command_id", "case_id"})


def head(services: Services) -> int:
    return services.ledger.recorder.max_notification_id() or 0


@pytest.fixture
def case_id(client, auth) -> str:
    answer = client.post("/cases", json=body(builders.propose()), headers=auth())
    assert answer.status_code == 201, answer.text
    case_id = answer.json()["case_id"]
    for path, cmd in (("consent", builders.consent(uuid.UUID(case_id))),
                      ("meeting", builders.convene(uuid.UUID(case_id), in_days=10))):
        answer = client.post(f"/cases/{case_id}/{path}", json=body(cmd), headers=auth())
        assert answer.status_code == 200, (path, answer.text)
    return case_id


def test_a_corrected_meeting_shows_corrected_in_the_case_and_both_in_the_history(
        client, auth, case_id):
    new_at = datetime.combine(date.today() + timedelta(days=17), datetime.min.time(),
                              tzinfo=UTC).replace(hour=11)
    answer = client.post(f"/cases/{case_id}/corrections", headers=auth(), json={
        "corrects_version": 3, "reason": "Fel datum och lokal angavs i kallelsen",
        "changes": [{"field": "meeting_at", "new_value": new_at.isoformat()},
                    {"field": "place", "new_value": "Stadshuset, rum 5"}],
    })
    assert answer.status_code == 200, answer.text
    assert answer.json()["version"] == 4

    case = client.get(f"/cases/{case_id}", headers=auth())
    assert case.status_code == 200, case.text
    view = case.json()
    assert view["view"] == "full"
    meeting = view["meeting"]
    assert datetime.fromisoformat(meeting["at"]) == new_at
    assert meeting["on"] == new_at.date().isoformat() and meeting["place"] == "Stadshuset, rum 5"
    [correction] = view["corrections"]
    assert (correction["version"], correction["corrects_version"]) == (4, 3)
    assert (correction["corrected_type"], correction["item"]) == ("MeetingConvened", 1)
    assert correction["actor"]["person_id"] == "hsa-1001" and correction["recorded_at"]
    assert [(c["field"], c["new_value"]) for c in correction["changes"]] == [
        ("meeting_at", meeting["at"]), ("place", "Stadshuset, rum 5")]
    assert [c["old_value"] for c in correction["changes"]][1] == "Stadshuset, rum 3"

    history = client.get(f"/cases/{case_id}/history", headers=auth())
    assert history.status_code == 200, history.text
    summaries = {e["version"]: e["summary"] for e in history.json()["events"]}
    assert summaries[3].startswith("Meeting 1 convened")
    assert summaries[4].startswith("Entry 3 (MeetingConvened) corrected: meeting_at ")
    assert "place corrected" in summaries[4] and "rum 5" not in summaries[4]  # no personal data

    as_of = client.get(f"/cases/{case_id}/as-of", headers=auth(),
                       params={"at": datetime.now(UTC).isoformat()})
    assert as_of.status_code == 200, as_of.text
    replayed = as_of.json()["case"]
    assert datetime.fromisoformat(replayed["meeting"]["at"]) == new_at
    [again] = replayed["corrections"]
    assert again["changes"] == correction["changes"]
    assert again["actor"]["person_id"] == "hsa-1001" and again["recorded_at"] is None


def test_a_field_the_entry_lacks_is_a_problem_naming_it_and_nothing_is_written(
        client, auth, case_id, services):
    before = head(services)
    answer = client.post(f"/cases/{case_id}/corrections", headers=auth(), json={
        "corrects_version": 3, "reason": "Fel färg angavs",
        "changes": [{"field": "colour", "new_value": "blå"}],
    })
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert (problem["field"], problem["rule"]) == ("changes[0].field", "R32")
    assert head(services) == before


def test_the_api_describes_changes_with_an_example(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    correction = next(s for name, s in schemas.items() if name.startswith("CorrectEntry"))
    changes = correction["properties"]["changes"]
    assert "R32" in changes["description"] and changes["examples"]
    change = next(s for name, s in schemas.items() if name.startswith("FieldChange"))
    assert "meeting_at" in change["properties"]["field"]["description"]
