"""The API contract (issue 11): responses typed all the way down without changing what the
service sends, every parameter described, 401s in words, and one rule for who learns that a case
exists (404 for an id no case has, 403 for a case the caller may not touch)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import jwt
import pytest
from fastapi.testclient import TestClient

from adapters.bootstrap import Services
from domain.case_state import Stage
from domain.commands import (
    ConsentGiver,
    CorrectEntry,
    Discharge,
    FieldChange,
    Individual,
    Invitation,
    Participant,
    PlanType,
    RecordConsent,
    RecordReply,
)
from domain.parties import Actor, Person, Role
from projections.access import Level, view
from projections.personal import unseal
from projections.plans import current_plan
from projections.replayed import record_of
from tests.support import builders as b
from tests.support.http import MUNICIPALITY, OUTSIDER, REGION, TEST_JWT_SECRET, Token

pytestmark = pytest.mark.store

REGION_STAFF = Actor(person_id="hsa-3101", name="Rolf Regionsson", organisation=REGION,
                     unit="Avdelning 12")
GUARDIAN = "Gun Karlsson"
RELATIVE = "Rut Karlsson"


def settle(services: Services, result) -> UUID:
    assert services.runner.wait_for(result.last_notification_id)
    return result.case_id


@pytest.fixture(scope="module")
def rich_case(services: Services) -> UUID:
    """A case with every part the full view has: a child with a guardian (and the guardian's
    number), a proposal at discharge, consent by the guardian with an approved person, a meeting
    inviting an organisation and a private person, a reply, a plan, and corrections."""
    ledger = services.ledger
    today = datetime.now(UTC).date()
    case_id = settle(services, ledger.propose(b.propose(
        municipality=MUNICIPALITY, region=REGION, plan_type=PlanType.VARD_SIP,
        need_assessed_by="region",
        individual=Individual(personal_identity_number=b.pin_aged(12), name="Kim Karlsson",
                              guardians=(Person(name=GUARDIAN,
                                                personal_identity_number=b.pin_aged(45)),)),
        discharge=Discharge(ready_for_discharge_at=datetime.now(UTC) - timedelta(hours=2),
                            named_care_contact_person_id=REGION_STAFF.person_id),
    ), REGION_STAFF))
    settle(services, ledger.record_consent(RecordConsent(
        case_id=case_id, givers=(ConsentGiver(role="guardian", name=GUARDIAN),), form="oral",
        received_by="Rolf Regionsson", received_at=datetime.now(UTC), valid_from=today,
        valid_until=today + timedelta(days=365),
        organisation_ids=(MUNICIPALITY.id, REGION.id), approved_persons=(RELATIVE,),
    ), REGION_STAFF))
    settle(services, ledger.convene(b.convene(case_id, invitations=(
        b.invitation(MUNICIPALITY),
        Invitation(participant=Participant(role="relative", name=RELATIVE),
                   reason="Känner Kim väl", expectation="Berätta om vardagen"),
    )), REGION_STAFF))
    settle(services, ledger.record_reply(RecordReply(
        case_id=case_id, participant_key=MUNICIPALITY.id, reply="accepted",
        comment="Vi kommer"), REGION_STAFF))
    settle(services, ledger.establish_plan(b.establish(case_id, today), REGION_STAFF))
    # R32: corrections by field (a personal one, the place) and in words.
    settle(services, ledger.correct_entry(CorrectEntry(
        case_id=case_id, corrects_version=3, reason="Fel lokal angavs",
        changes=(FieldChange(field="place", new_value="Stadshuset, rum 5"),)), REGION_STAFF))
    settle(services, ledger.correct_entry(CorrectEntry(
        case_id=case_id, corrects_version=2, reason="Fel slutdatum angavs",
        changes=(FieldChange(field="valid_until",
                             new_value=(today + timedelta(days=300)).isoformat()),),
        correction="Samtycket gäller i tio månader"), REGION_STAFF))
    return case_id


def as_json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def differences(built: Any, sent: Any, where: str = "") -> list[str]:
    """Where ``sent`` (what the service answered) does not hold ``built`` (the view as the read
    side builds it, before any response model): a value changed or left out. A key the model
    adds is allowed only as null (an optional field's default)."""
    if isinstance(built, dict) and isinstance(sent, dict):
        found = [f"{where}.{k}: left out" for k in built if k not in sent]
        found += [f"{where}.{k}: added as {sent[k]!r}" for k in sent
                  if k not in built and sent[k] is not None]
        for key in built.keys() & sent.keys():
            found += differences(built[key], sent[key], f"{where}.{key}")
        return found
    if isinstance(built, list) and isinstance(sent, list) and len(built) == len(sent):
        return [d for i, (x, y) in enumerate(zip(built, sent, strict=True))
                for d in differences(x, y, f"{where}[{i}]")]
    return [] if built == sent else [f"{where}: {built!r} sent as {sent!r}"]


def test_the_typed_views_send_exactly_what_the_views_build(
    client: TestClient, services: Services, auth: Token, rich_case: UUID
) -> None:
    with services.datastore.transaction(commit=False) as curs:
        stored = current_plan(curs, services.schema, rich_case)
    assert stored is not None
    record = unseal(stored, services.ledger.keys)  # the model keeps personal data sealed

    full = client.get(f"/cases/{rich_case}", headers=auth(Role.COORDINATOR, REGION))
    assert full.status_code == 200, full.text
    sent = full.json()
    assert sent["view"] == "full"
    assert differences(as_json(view(record, Level.FULL)), sent) == []
    # Every part of the full view is there to compare, not null.
    for part in ("discharge", "meeting", "contact_person", "plan", "consent"):
        assert sent[part], part
    assert sent["individual"]["guardians"][0]["personal_identity_number"]
    assert set(sent["invitations"]) == {MUNICIPALITY.id, f"relative:{RELATIVE}"}
    assert sent["invitations"][MUNICIPALITY.id]["reply"] == "accepted"
    assert sent["consent"]["givers"] == [{"role": "guardian", "name": GUARDIAN}]

    restricted = client.get(f"/cases/{rich_case}", headers=auth(Role.SUPERVISOR, MUNICIPALITY))
    assert restricted.status_code == 200, restricted.text
    assert restricted.json()["view"] == "restricted"
    assert differences(as_json(view(record, Level.RESTRICTED)), restricted.json()) == []

    at = datetime.now(UTC).isoformat()
    replayed = client.get(f"/cases/{rich_case}/as-of", params={"at": at},
                          headers=auth(Role.AUDITOR))
    assert replayed.status_code == 200, replayed.text
    case = services.ledger.get_case(rich_case)
    assert differences(as_json(view(record_of(case), Level.FULL)),
                       replayed.json()["case"]) == []


def _schemas_reachable(openapi: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every component schema a successful JSON response refers to, directly or within."""
    components = openapi["components"]["schemas"]
    todo: list[Any] = []
    for path in openapi["paths"].values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                if status.startswith("2"):
                    todo.extend(c.get("schema", {}) for c in response.get("content", {}).values())
    seen: dict[str, dict[str, Any]] = {}
    while todo:
        schema = todo.pop()
        if isinstance(schema, dict):
            ref = schema.get("$ref")
            if ref:
                name = ref.rsplit("/", 1)[-1]
                if name not in seen:
                    seen[name] = components[name]
                    todo.append(components[name])
            else:
                todo.extend(schema.values())
        elif isinstance(schema, list):
            todo.extend(schema)
    return seen


# The feed's event bodies stay objects keyed by field name: their shape is chosen by the event's
# `schema` id and listed by GET /events/schemas (adapters/feed/events.py says why).
FREE_FORM_BY_DESIGN = {("FeedEvent", "data"), ("FeedEvent", "personal")}


def test_no_response_holds_a_free_form_object(client: TestClient) -> None:
    openapi = client.get("/openapi.json").json()
    reachable = _schemas_reachable(openapi)
    assert {"FullCase", "RestrictedCase", "PlanOut", "MeetingOut", "ActorOut",
            "InvitationOut", "FeedPage"} <= set(reachable)
    untyped = []
    for name, schema in reachable.items():
        for field, prop in schema.get("properties", {}).items():
            for alternative in prop.get("anyOf", [prop]):
                free = (alternative.get("type") == "object"
                        and "properties" not in alternative
                        and alternative.get("additionalProperties") in (None, True, {}))
                if free and (name, field) not in FREE_FORM_BY_DESIGN:
                    untyped.append(f"{name}.{field}")
        if schema.get("additionalProperties") is True:
            untyped.append(name)
    assert untyped == []


def test_closed_sets_of_values_are_the_domains_enumerations(client: TestClient) -> None:
    openapi = client.get("/openapi.json").json()
    components = openapi["components"]["schemas"]
    assert components["Stage"]["enum"] == [s.value for s in Stage]

    def ref_of(model: str, field: str) -> str:
        prop = components[model]["properties"][field]
        refs = [a["$ref"] for a in prop.get("anyOf", [prop]) if "$ref" in a]
        refs += [prop["items"]["$ref"]] if "$ref" in prop.get("items", {}) else []
        assert refs, f"{model}.{field} is not an enumeration"
        return refs[0].rsplit("/", 1)[-1]

    assert ref_of("FullCase", "stage") == "Stage"
    assert ref_of("FullCase", "plan_type") == "PlanType"
    assert ref_of("FullCase", "need_assessed_by") == "OrganisationKind"
    assert ref_of("FullCase", "triggers") == "Trigger"
    assert ref_of("DeadlineOut", "kind") == "DeadlineKind"
    assert ref_of("CaseListItem", "stage") == "Stage"


def test_every_parameter_is_described_and_the_feed_position_is_bounded(
    client: TestClient,
) -> None:
    openapi = client.get("/openapi.json").json()
    undescribed = [
        f"{method.upper()} {path} {parameter['name']}"
        for path, operations in openapi["paths"].items()
        for method, operation in operations.items()
        for parameter in operation.get("parameters", [])
        if not parameter.get("description") and not parameter["schema"].get("description")
    ]
    assert undescribed == []
    after = next(p for p in openapi["paths"]["/events"]["get"]["parameters"]
                 if p["name"] == "after")
    assert after["schema"]["minimum"] == 0 and after["schema"]["maximum"] == 2**63 - 1
    question = openapi["components"]["schemas"]["IndividualQuestion"]
    for name, field in question["properties"].items():
        assert field.get("description") and field.get("examples"), name
    assert "YYYYMMDD-NNNC" in question["properties"]["personal_identity_number"]["description"]


def test_route_summaries_name_the_rules_of_domain_md(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    withdrawal = paths["/cases/{case_id}/consent/withdrawal"]["post"]["summary"]
    assert "R12" in withdrawal and "R30" in withdrawal and "R15" not in withdrawal
    assert "R15" in paths["/cases/{case_id}/decline"]["post"]["summary"]


# ------------------------------------------------------------------------ 401 in words

NOW = int(time.time())
CLAIMS = {"sub": "hsa-1001", "name": "Anna Andersson", "org_id": MUNICIPALITY.id,
          "org_kind": "kommun", "unit": "Socialtjänsten", "roles": ["coordinator"]}
VALID = {"iat": NOW, "exp": NOW + 600}
# What PyJWT says of these tokens: none of it may reach a caller.
DECODER_TEXT = ("Signature verification failed", "Not enough segments", "Invalid header",
                "Invalid payload", "Token is missing", "Signature has expired",
                "alg value is not allowed", "Invalid crypto padding", "Expecting value",
                "Invalid token type", "DecodeError", "padding")


def _signed(claims: dict[str, Any], key: str = TEST_JWT_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


@pytest.mark.parametrize(
    ("token", "words"),
    [
        (_signed({**CLAIMS, "iat": NOW - 7200, "exp": NOW - 3600}), "has expired"),
        (_signed({**CLAIMS, **VALID}, key="another-secret-of-at-least-32-bytes!"),
         "the signature does not verify"),
        ("not-a-jwt", "is not a JWT"),
        ("bm90IGpzb24.e30.c2ln", "is not a JWT"),  # the header is not JSON
        (_signed({**CLAIMS, "exp": NOW + 600}), "iat (when it was issued) is missing"),
        (_signed({**{k: v for k, v in CLAIMS.items() if k != "sub"}, **VALID}),
         "sub (who the caller is) is missing"),
        (_signed({**CLAIMS, **VALID}, key="", algorithm="none"), "not signed with HS256"),
        (_signed({**CLAIMS, **VALID, "org_kind": "bank"}),
         "org_kind is not a kind of organisation"),
        (_signed({**CLAIMS, **VALID, "roles": ["superuser"]}),
         "roles names a role that does not exist"),
    ],
    ids=["expired", "signature", "garbage", "bad-json", "no-iat", "no-sub", "alg-none",
         "org-kind", "role"],
)
def test_a_401_says_what_is_wrong_with_the_token_in_words(
    client: TestClient, token: str, words: str
) -> None:
    answer = client.get("/cases", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401, answer.text
    problem = answer.json()
    assert problem["field"] == "Authorization"
    assert words in problem["detail"], problem["detail"]
    assert [t for t in DECODER_TEXT if t.lower() in problem["detail"].lower()] == []
    assert "bank" not in problem["detail"] and "superuser" not in problem["detail"]


# ------------------------------------------------------------------------ who learns a case exists


def test_an_id_no_case_has_is_404_and_a_case_not_ones_own_is_403_on_every_route(
    client: TestClient, auth: Token, rich_case: UUID
) -> None:
    """The documented rule (adapters/http/README.md, the API description): a case id is a
    random UUID that says nothing of any person, so whether one exists is not concealed;
    everything about the case is (R13, R35)."""
    outsider = auth(Role.COORDINATOR, OUTSIDER)
    at = {"at": datetime.now(UTC).isoformat()}
    wishes = {"wishes": {"place": "Hemma"}}
    for case_id, status in ((uuid4(), 404), (rich_case, 403)):
        url = f"/cases/{case_id}"
        answers = {
            "read": client.get(url, headers=outsider),
            "history": client.get(f"{url}/history", headers=outsider),
            "as-of": client.get(f"{url}/as-of", params=at, headers=outsider),
            "command": client.post(f"{url}/wishes", json=wishes, headers=outsider),
        }
        for route, answer in answers.items():
            assert answer.status_code == status, (route, answer.text)
            assert answer.json()["field"] == "case_id", route
            assert "Kim" not in answer.text and "Karlsson" not in answer.text
    # The feed's case_id is a filter, not a lookup: never 403 or 404.
    service = auth(Role.SERVICE, OUTSIDER, scopes=("feed:personal",))
    unknown = client.get("/events", params={"case_id": str(uuid4())}, headers=service)
    assert unknown.status_code == 200 and unknown.json()["events"] == []
    public = client.get("/events", params={"case_id": str(rich_case)}, headers=service)
    assert public.status_code == 200 and public.json()["events"]
    assert all("personal" not in e for e in public.json()["events"])
