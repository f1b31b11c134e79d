"""Identity you can trust (issue 10: Build 5, 6, 9; failure 4): tokens checked against the
organisation directory, roles that combine as documented, bounded lifetimes, a service that
refuses development secrets outside --demo, and operations endpoints that production keeps
to itself."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import jwt
import pytest
from fastapi.testclient import TestClient

from adapters.bootstrap import Services
from adapters.http.app import create_app
from adapters.identity.organisations import DirectoryError, OrganisationDirectory
from adapters.identity.tokens import MAX_TOKEN_CHARS, Principal
from adapters.logging import configure_logging, reset_logging
from domain.commands import Command
from domain.parties import Organisation, OrganisationKind, Role
from tests.conftest import ROOT
from tests.support import builders
from tests.support.http import (
    MUNICIPALITY,
    TEST_JWT_SECRET,
    TEST_ORGANISATIONS_FILE,
    http_settings,
)

pytestmark = pytest.mark.store

PROBLEM = "application/problem+json"
NAME = "Anna Andersson"  # the caller's name: never in a log line


def body(cmd: Command) -> dict[str, Any]:
    return cmd.model_dump(mode="json", exclude={"command_id", "case_id"})


def signed(claims: dict[str, Any], *, lifetime_s: int | None = 3600,
           iat: bool = True) -> dict[str, str]:
    """Headers with a token signed by the service's own secret, claims exactly as given: what a
    careless or compromised identity provider could issue."""
    now = int(time.time())
    payload = dict(claims)
    if iat:
        payload["iat"] = now
    if lifetime_s is not None:
        payload["exp"] = now + lifetime_s
    return {"Authorization": f"Bearer {jwt.encode(payload, TEST_JWT_SECRET, 'HS256')}"}


def claims_of(organisation: Organisation, *roles: Role, unit: str = "Socialtjänsten",
              **overrides: Any) -> dict[str, Any]:
    principal = Principal(person_id="hsa-3003", name=NAME, organisation=organisation, unit=unit,
                          roles=frozenset(roles or {Role.COORDINATOR}))
    return {**principal.claims(), **overrides}


def log_head(services: Services) -> int:
    return services.ledger.recorder.max_notification_id() or 0


@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    configure_logging("json", "DEBUG", stream=buffer)
    try:
        yield buffer
    finally:
        reset_logging()


def log_lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]


def assert_unauthenticated(response) -> dict[str, Any]:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["field"] == "Authorization"
    assert NAME not in response.text
    return problem


# ------------------------------------------------------------------ the organisation directory


def test_an_unknown_organisation_is_refused_and_logged_without_personal_data(
    client: TestClient, services: Services
) -> None:
    stranger = Organisation(id="kommun-okand", kind=OrganisationKind.KOMMUN,
                            name="Okända kommunen")
    head = log_head(services)
    with captured_logs() as buffer:
        answer = client.post("/cases", json=body(builders.propose()),
                             headers=signed(claims_of(stranger)))
        reading = client.get("/cases", headers=signed(claims_of(stranger)))
    problem = assert_unauthenticated(answer)
    assert "kommun-okand" in problem["detail"] and "directory" in problem["detail"]
    assert_unauthenticated(reading)
    assert log_head(services) == head  # nothing written
    refusals = [line for line in log_lines(buffer) if line.get("event") == "token refused"]
    assert len(refusals) == 2
    assert {line["reason"] for line in refusals} == {"unknown-organisation"}
    assert {line["organisation_id"] for line in refusals} == {"kommun-okand"}
    assert refusals[0]["level"] == "warning"
    text = buffer.getvalue()
    assert NAME not in text and "Okända" not in text and "hsa-3003" not in text


def test_an_organisation_id_shaped_like_a_personal_number_is_not_logged(
    client: TestClient,
) -> None:
    pin_org = Organisation(id="19121212-1212", kind=OrganisationKind.KOMMUN, name="x")
    with captured_logs() as buffer:
        answer = client.get("/cases", headers=signed(claims_of(pin_org)))
    assert_unauthenticated(answer)
    assert "19121212-1212" not in buffer.getvalue()
    assert "121212" not in answer.text  # nor echoed in the problem


@pytest.mark.parametrize(
    ("org_id", "claimed_kind"),
    [
        # Göteborg's id with Försäkringskassan's kind: it must not read as Göteborg.
        ("kommun-goteborg", OrganisationKind.FORSAKRINGSKASSAN),
        # A school claiming to be a municipality, to propose as a principal (R02).
        ("skola-sjuhalla", OrganisationKind.KOMMUN),
        ("region-vg", OrganisationKind.KOMMUN),
    ],
)
def test_a_kind_that_does_not_match_the_directory_is_refused(
    client: TestClient, services: Services, org_id: str, claimed_kind: OrganisationKind
) -> None:
    forged = Organisation(id=org_id, kind=claimed_kind, name="Vad som helst")
    head = log_head(services)
    with captured_logs() as buffer:
        proposed = client.post("/cases", json=body(builders.propose()),
                               headers=signed(claims_of(forged)))
        read = client.get("/cases", headers=signed(claims_of(forged)))
    problem = assert_unauthenticated(proposed)
    assert "is a " in problem["detail"] and claimed_kind.value in problem["detail"]
    assert_unauthenticated(read)
    assert log_head(services) == head
    reasons = {line.get("reason") for line in log_lines(buffer)
               if line.get("event") == "token refused"}
    assert reasons == {"organisation-kind-mismatch"}


def test_the_directory_not_the_token_names_the_organisation(
    client: TestClient, services: Services
) -> None:
    """A token's org_name and org_region are decoration; events record the directory's."""
    claims = claims_of(MUNICIPALITY, org_name="Falska kommunen", org_region="skane")
    created = client.post("/cases", json=body(builders.propose()), headers=signed(claims))
    assert created.status_code == 201, created.text
    proposer = services.ledger.get_case(UUID(created.json()["case_id"])).proposer
    assert proposer.organisation == MUNICIPALITY  # the directory's name and region


def test_a_directory_with_units_refuses_other_units(services: Services) -> None:
    from adapters.identity.organisations import DirectoryEntry
    from adapters.identity.tokens import InvalidToken, TokenVerifier, mint_token

    directory = OrganisationDirectory([DirectoryEntry(
        id=MUNICIPALITY.id, kind=MUNICIPALITY.kind, name=MUNICIPALITY.name,
        units=("Socialtjänsten",))])
    verifier = TokenVerifier(services.settings, directory)
    inside = Principal(person_id="hsa-1", name=NAME, organisation=MUNICIPALITY,
                       unit="Socialtjänsten", roles=frozenset({Role.COORDINATOR}))
    assert verifier.verify(mint_token(inside, services.settings)).unit == "Socialtjänsten"
    outside = Principal(person_id="hsa-1", name=NAME, organisation=MUNICIPALITY,
                        unit="Ekonomienheten", roles=frozenset({Role.COORDINATOR}))
    with pytest.raises(InvalidToken, match="unit"):
        verifier.verify(mint_token(outside, services.settings))


def test_without_a_directory_no_token_is_accepted(services: Services) -> None:
    from adapters.identity.tokens import InvalidToken, TokenVerifier, mint_token

    bare = http_settings(organisations_file=None)
    caller = Principal(person_id="hsa-1", name=NAME, organisation=MUNICIPALITY,
                       roles=frozenset({Role.COORDINATOR}))
    with pytest.raises(InvalidToken, match="SIP_ORGANISATIONS_FILE"):
        TokenVerifier(bare).verify(mint_token(caller, bare))


def test_a_malformed_directory_file_is_one_line_naming_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "organisations.toml"
    path.write_text(
        '[[organisation]]\nid = "kommun-lund"\nkind = "kommun"\nname = "Lund"\n\n'
        '[[organisation]]\nid = "kommun-x"\nkind = "stad"\nname = "X"\n'
    )
    with pytest.raises(DirectoryError) as refused:
        OrganisationDirectory.load(path)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("organisation #2 (kommun-x) field kind:")
    path.write_text('[[organisation]]\nid = "a"\nkind = "kommun"\nname = "A"\n'
                    '[[organisation]]\nid = "a"\nkind = "region"\nname = "B"\n')
    with pytest.raises(DirectoryError, match=r"#2 \(a\): the id is listed twice"):
        OrganisationDirectory.load(path)
    path.write_text("organisation = [\n")
    with pytest.raises(DirectoryError, match="not valid TOML"):
        OrganisationDirectory.load(path)


# ------------------------------------------------------------------ roles and lifetimes


def test_an_auditor_with_other_roles_is_read_only(client: TestClient, services: Services) -> None:
    claims = claims_of(MUNICIPALITY, Role.AUDITOR, Role.COORDINATOR, Role.SERVICE)
    head = log_head(services)
    refused = client.post("/cases", json=body(builders.propose()), headers=signed(claims))
    assert refused.status_code == 403, refused.text
    assert refused.json()["field"] == "roles"
    assert log_head(services) == head  # nothing written
    # It is an auditor all the same: it reads the access log.
    assert client.get("/access-log", headers=signed(claims)).status_code == 200


@pytest.mark.parametrize(
    ("lifetime_s", "iat", "expected"),
    [
        (3600, False, "iat"),  # no iat
        (30 * 86400, True, "longer than"),  # a 30-day token
        (12 * 3600 + 1, True, "longer than"),  # a second beyond the default bound
    ],
)
def test_tokens_without_iat_or_living_too_long_are_refused(
    client: TestClient, lifetime_s: int, iat: bool, expected: str
) -> None:
    headers = signed(claims_of(MUNICIPALITY), lifetime_s=lifetime_s, iat=iat)
    problem = assert_unauthenticated(client.get("/cases", headers=headers))
    assert expected in problem["detail"]


def test_a_token_issued_in_the_future_is_refused(client: TestClient) -> None:
    now = int(time.time())
    token = jwt.encode({**claims_of(MUNICIPALITY), "iat": now + 3600, "exp": now + 7200},
                       TEST_JWT_SECRET, "HS256")
    problem = assert_unauthenticated(client.get("/cases",
                                                headers={"Authorization": f"Bearer {token}"}))
    assert "future" in problem["detail"]


def test_a_huge_authorization_header_is_refused_and_not_cached(
    client: TestClient, services: Services
) -> None:
    cached = len(services.verifier._verified)
    for size in (MAX_TOKEN_CHARS + 1, 1024 * 1024):
        answer = client.get("/cases", headers={"Authorization": "Bearer " + "a" * size})
        # 401 from the verifier's own bound, or 431 from a header-size limit in front of it.
        assert answer.status_code in (401, 431), answer.status_code
        assert answer.headers["content-type"] == PROBLEM
        assert len(answer.content) < 4096  # the header is not echoed
    assert len(services.verifier._verified) == cached


# ------------------------------------------------------------------ operations endpoints

OPS_PATHS = ("/metrics", "/docs", "/openapi.json")
OPS_TOKEN = "an-operations-token-of-at-least-32-characters"


def test_operations_endpoints_off_by_default_outside_the_demo(services: Services) -> None:
    # No SIP_OPS_ENDPOINTS and no SIP_OPS_TOKEN: what `serve` does in production.
    with TestClient(create_app(services, http_settings(ops_endpoints=None))) as client:
        for path in OPS_PATHS:
            assert client.get(path).status_code == 404, path
        assert client.get("/redoc").status_code == 404
        assert client.get("/healthz").status_code == 200  # probes always answer
        assert client.get("/readyz").status_code in (200, 503)


def test_operations_endpoints_behind_a_token(services: Services, auth) -> None:
    settings = http_settings(ops_endpoints=None, ops_token=OPS_TOKEN)  # token: implied
    with TestClient(create_app(services, settings)) as client:
        for path in OPS_PATHS:
            assert client.get(path).status_code == 401, path
            wrong = client.get(path, headers={"Authorization": "Bearer not-the-token"})
            assert wrong.status_code == 401 and wrong.headers["content-type"] == PROBLEM
            # A user's JWT is no operations token, even an auditor's.
            assert client.get(path, headers=auth(Role.AUDITOR)).status_code == 401, path
            ok = client.get(path, headers={"Authorization": f"Bearer {OPS_TOKEN}"})
            assert ok.status_code == 200, (path, ok.text)
        document = client.get("/openapi.json",
                              headers={"Authorization": f"Bearer {OPS_TOKEN}"}).json()
        assert "/cases" in document["paths"]
        scraped = client.get("/metrics", headers={"Authorization": f"Bearer {OPS_TOKEN}"})
        assert "sip_http_requests_total" in scraped.text


def test_operations_endpoints_switched_off(services: Services) -> None:
    settings = http_settings(ops_endpoints="off", ops_token=OPS_TOKEN)
    with TestClient(create_app(services, settings)) as client:
        for path in OPS_PATHS:
            answer = client.get(path, headers={"Authorization": f"Bearer {OPS_TOKEN}"})
            assert answer.status_code == 404, path


# ------------------------------------------------------------------ production refuses dev secrets

SERVE = [sys.executable, "-c", "from adapters.cli.root import main; main()", "serve"]


def serve_refusal(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """`sip-ledger serve` (no --demo) as a process, in an environment without SIP_ settings
    but these; it must refuse before it touches a store or a port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIP_")}
    env.update({f"SIP_{k.upper()}": v for k, v in settings.items()})
    env["SIP_DATA_DIR"] = str(tmp_path / "var")  # nothing may be made here
    return subprocess.run([*SERVE, "--port", "1"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_serve_without_secrets_exits_naming_the_missing_setting(tmp_path: Path) -> None:
    done = serve_refusal(tmp_path)
    assert done.returncode != 0
    [line] = done.stderr.splitlines()
    assert line.startswith("error field SIP_JWT_SECRET: the development JWT secret is public")
    assert "SIP_INDIVIDUAL_KEY" in line and "SIP_ORGANISATIONS_FILE" in line
    assert done.stdout == ""
    assert not (tmp_path / "var").exists()  # no development key generated, no server started


def test_serve_names_each_development_secret_in_turn(tmp_path: Path) -> None:
    jwt_secret = "a-production-jwt-secret-of-32-characters!"
    done = serve_refusal(tmp_path, jwt_secret=jwt_secret)
    [line] = done.stderr.splitlines()
    assert done.returncode != 0 and line.startswith("error field SIP_INDIVIDUAL_KEY:")
    done = serve_refusal(tmp_path, jwt_secret=jwt_secret,
                         individual_key="development-only-individual-key")
    [line] = done.stderr.splitlines()
    assert done.returncode != 0 and line.startswith("error field SIP_INDIVIDUAL_KEY:")
    done = serve_refusal(tmp_path, jwt_secret=jwt_secret, individual_key="k" * 32)
    [line] = done.stderr.splitlines()
    assert line.startswith("error field SIP_AUDIT_SIGNING_KEY_FILE:")
    done = serve_refusal(tmp_path, jwt_secret=jwt_secret, individual_key="k" * 32,
                         audit_signing_key_file=str(tmp_path / "audit-signing-key.pem"))
    [line] = done.stderr.splitlines()
    assert line.startswith("error field SIP_AUDIT_SIGNING_KEY_FILE:")
    assert "development" in line
    done = serve_refusal(tmp_path, jwt_secret=jwt_secret, individual_key="k" * 32,
                         audit_signing_key="a" * 43 + "=",
                         organisations_file=str(TEST_ORGANISATIONS_FILE))
    [line] = done.stderr.splitlines()
    assert done.returncode != 0 and line.startswith("error field SIP_KEK_FILE:")
    assert "development key-encryption key" in line
    bad = tmp_path / "organisations.toml"
    bad.write_text('[[organisation]]\nid = "kommun-x"\nkind = "stad"\nname = "X"\n')
    done = serve_refusal(tmp_path, jwt_secret=jwt_secret, individual_key="k" * 32,
                         audit_signing_key="a" * 43 + "=", organisations_file=str(bad))
    [line] = done.stderr.splitlines()
    assert done.returncode != 0
    assert line.startswith("error field SIP_ORGANISATIONS_FILE: organisation #1 (kommun-x) "
                           "field kind:")
    done = serve_refusal(tmp_path, jwt_secret="short", individual_key="k" * 32,
                         audit_signing_key="a" * 43 + "=",
                         organisations_file=str(TEST_ORGANISATIONS_FILE),
                         ops_endpoints="token", kek_file=str(tmp_path / "kek"))
    [line] = done.stderr.splitlines()
    assert line.startswith("error field SIP_JWT_SECRET: shorter than 32 characters")
    assert line.endswith("(also set: SIP_OPS_TOKEN)")


# ------------------------------------------------------------------ the identity provider


def test_an_identity_provider_that_cannot_be_reached_is_503_not_401(
    services: Services, tmp_path: Path
) -> None:
    """The JWKS cannot be fetched: nothing is known about the token, so the client is told to
    try again (503, Retry-After), not to get a new token (401)."""
    import dataclasses
    import socket

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from adapters.identity.tokens import TokenVerifier

    with socket.socket() as probe:  # a port nobody listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = http_settings(jwks_url=f"http://127.0.0.1:{port}/jwks")
    offline = dataclasses.replace(services, verifier=TokenVerifier(settings))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    now = int(time.time())
    token = jwt.encode({**claims_of(MUNICIPALITY), "iat": now, "exp": now + 600}, private,
                       "RS256", headers={"kid": "key-1"})
    with TestClient(create_app(offline), raise_server_exceptions=False) as client:
        started = time.monotonic()
        answer = client.get("/cases", headers={"Authorization": f"Bearer {token}"})
    assert time.monotonic() - started < 5
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == PROBLEM
    assert int(answer.headers["Retry-After"]) > 0
    problem = answer.json()
    assert problem["type"].endswith("/identity-provider-unavailable")
    assert problem["field"] == "Authorization"
    assert "SIP_JWKS_URL" in problem["detail"]
    assert "www-authenticate" not in {h.lower() for h in answer.headers}
    assert NAME not in answer.text and token not in answer.text
