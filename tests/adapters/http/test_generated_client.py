"""The API contract, as a client sees it: models generated from the service's own /openapi.json
(datamodel-code-generator, pydantic v2) propose a case, record consent and read the case back
with typed fields, on a real PostgreSQL.

The generator writes only the models; the requests go through the test client (an httpx client,
as a generated client's transport would be). A schema the generator or pydantic cannot take (a
regex pattern that Rust's regex engine refuses, a missing name) fails here, before any client
of the service finds it.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from types import ModuleType
from typing import Any

import pytest
from datamodel_code_generator import DataModelType, InputFileType, PythonVersion, generate
from datamodel_code_generator.format import Formatter
from pydantic import TypeAdapter

from tests.support import builders
from tests.support.http import MUNICIPALITY, REGION

pytestmark = pytest.mark.store

# The module name the generated models are imported as (unique: nothing else is called so).
CLIENT_MODULE = "sip_ledger_generated_client"


@pytest.fixture(scope="module")
def openapi(client) -> dict[str, Any]:
    answer = client.get("/openapi.json")
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture(scope="module")
def api(openapi, tmp_path_factory) -> Iterator[ModuleType]:
    """The models generated from the service's /openapi.json, imported."""
    out = tmp_path_factory.mktemp("generated_client")
    spec = out / "openapi.json"
    spec.write_text(json.dumps(openapi), encoding="utf-8")
    target = out / f"{CLIENT_MODULE}.py"
    generate(
        spec,
        input_file_type=InputFileType.OpenAPI,
        output=target,
        output_model_type=DataModelType.PydanticV2BaseModel,
        target_python_version=PythonVersion.PY_311,
        field_constraints=True,  # the limits as pydantic constraints: the patterns compile
        use_standard_collections=True,
        use_union_operator=True,
        formatters=[Formatter.BUILTIN],  # no black or isort run: the code is only imported
    )
    module_spec = importlib.util.spec_from_file_location(CLIENT_MODULE, target)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[CLIENT_MODULE] = module  # pydantic resolves the models' references through it
    try:
        module_spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(CLIENT_MODULE, None)


def send(model: Any) -> dict[str, Any]:
    """A generated request model as the JSON body it stands for."""
    return model.model_dump(mode="json", exclude_unset=True)


def test_a_generated_client_proposes_consents_and_reads_the_case_typed(api, client, auth):
    today = date.today()
    name = "Kim Karlsson"

    proposal = api.ProposeSip(
        individual=api.Individual(personal_identity_number=builders.pin_aged(40), name=name),
        municipality=api.Organisation(id=MUNICIPALITY.id, kind=api.OrganisationKind.kommun,
                                      name=MUNICIPALITY.name, region=MUNICIPALITY.region),
        region=api.Organisation(id=REGION.id, kind=api.OrganisationKind.region,
                                name=REGION.name, region=REGION.region),
        need_assessed_by=api.OrganisationKind.region,
        triggers=[api.Trigger.several_competences],
        plan_type=api.PlanType.vard_sip,
    )
    answer = client.post("/cases", json=send(proposal), headers=auth())
    assert answer.status_code == 201, answer.text
    proposed = api.CommandAccepted.model_validate(answer.json())
    assert isinstance(proposed.case_id, uuid.UUID) and proposed.version == 1

    consent = api.RecordConsent(
        givers=[api.ConsentGiver(role=api.ConsentGiverRole.individual, name=name)],
        form=api.ConsentForm.oral,
        received_by="Anna Andersson",
        received_at=f"{today.isoformat()}T09:00:00+01:00",
        valid_from=today,
        valid_until=today + timedelta(days=365),
        organisation_ids=[MUNICIPALITY.id, REGION.id],
        approved_persons=["Tolva Karlsson"],
        expected_version=proposed.version,
    )
    answer = client.post(f"/cases/{proposed.case_id}/consent", json=send(consent),
                         headers=auth())
    assert answer.status_code == 200, answer.text
    consented = api.CommandAccepted.model_validate(answer.json())
    assert consented.case_id == proposed.case_id and consented.version == 2

    answer = client.get(f"/cases/{proposed.case_id}", headers=auth())
    assert answer.status_code == 200, answer.text
    case = TypeAdapter(api.FullCase | api.RestrictedCase).validate_python(answer.json())

    assert isinstance(case, api.FullCase)
    assert case.case_id == proposed.case_id and case.version == 2
    assert case.individual.name == name
    assert case.municipality.id == MUNICIPALITY.id and case.region.id == REGION.id
    assert case.need_assessed_by == "region" and case.plan_type == "vard-sip"
    assert case.triggers == ["several_competences"]
    # Dates come back as dates, not as text: the schema says what they are.
    assert isinstance(case.proposed_on, date) and case.proposed_on == today
    assert case.consent is not None
    assert case.consent.valid_from == today
    assert case.consent.valid_until == today + timedelta(days=365)
    assert case.consent.form == "oral"
    assert case.consent.organisation_ids == [MUNICIPALITY.id, REGION.id]
    assert case.consent.approved_persons == ["Tolva Karlsson"]


def test_a_generated_model_refuses_what_the_service_refuses(api):
    """The limits travel with the contract: the generated models check them before a request
    is sent (a control character in a name, an over-long note, too many organisations)."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="name"):
        api.ConsentGiver(role=api.ConsentGiverRole.individual, name="Kim\x00Karlsson")
    with pytest.raises(ValidationError, match="note"):
        api.DeclineSip(note="x" * 4001)
    with pytest.raises(ValidationError, match="organisation_ids"):
        api.RecordConsent(
            givers=[api.ConsentGiver(role=api.ConsentGiverRole.individual, name="Kim")],
            form=api.ConsentForm.written, valid_from=date.today(),
            valid_until=date.today(), organisation_ids=[f"org-{i}" for i in range(51)],
        )


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _nested(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The schemas a property's schema refers to or holds (items, alternatives)."""
    found = [schema]
    for alternative in schema.get("anyOf", []) + schema.get("oneOf", []):
        found.extend(_nested(alternative))
    if "items" in schema:
        found.extend(_nested(schema["items"]))
    return found


def test_every_command_field_is_described_with_an_example(openapi):
    """Each field of every command's body, down to the value objects inside it, says what it
    holds (format, allowed values, rule) and shows an example of it."""
    components = openapi["components"]["schemas"]
    bodies = [
        operation["requestBody"]["content"]["application/json"]["schema"]
        for path in openapi["paths"].values()
        for operation in path.values()
        if "requestBody" in operation and "commands" in operation.get("tags", ())
    ]
    assert len(bodies) >= 12
    seen: set[str] = set()
    undescribed: list[str] = []
    without_example: list[str] = []
    todo = [_resolve(body, components) for body in bodies]
    while todo:
        model = todo.pop()
        if model["title"] in seen:
            continue
        seen.add(model["title"])
        if not model.get("description"):
            undescribed.append(model["title"])
        for name, field in model.get("properties", {}).items():
            where = f"{model['title']}.{name}"
            refs = [s["$ref"] for s in _nested(field) if "$ref" in s]
            objects = [_resolve({"$ref": r}, components) for r in refs]
            todo.extend(o for o in objects if "properties" in o)
            if not field.get("description"):
                undescribed.append(where)
            if "examples" not in field and not any("properties" in o for o in objects):
                without_example.append(where)
    assert {"ProposeSip", "RecordConsent", "Individual", "Participant", "Goal"} <= seen
    assert undescribed == []
    assert without_example == []


def test_the_contract_names_the_rules_and_formats_a_client_needs(openapi):
    components = openapi["components"]["schemas"]
    propose = components["ProposeSip"]["properties"]
    assert "R04" in propose["need_assessed_by"]["description"]
    assert "kommun" in propose["municipality"]["description"]
    pin = components["Individual"]["properties"]["personal_identity_number"]
    assert "YYYYMMDD-NNNC" in pin["description"] and "R35" in pin["description"]
    assert pin["pattern"] == r"^[0-9]{8}[-+]?[0-9]{4}$"
    key = components["RecordReply"]["properties"]["participant_key"]["description"]
    assert "<role>:<name>" in key and "R35" in key
    consent = components["RecordConsent"]["properties"]
    assert "R11" in consent["received_by"]["description"]
    assert "R11" in consent["received_at"]["description"]
    # Every known deadline policy is named where a proposal chooses one.
    for policy_id in ("national", "vgr-barn-unga", "jonkoping"):
        assert f"`{policy_id}`" in propose["deadline_policy"]["description"]
