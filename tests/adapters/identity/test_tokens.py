"""Bearer tokens: HS256 for development, RS256 against a JWKS for production."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.identity.organisations import OrganisationDirectory
from adapters.identity.tokens import (
    InvalidToken,
    Principal,
    TokenVerifier,
    mint_token,
    principal_from_claims,
    public_jwks,
)
from adapters.settings import Settings
from domain.parties import Organisation, OrganisationKind, Role

SECRET = "a-test-secret-that-is-long-enough-for-hs256"
CALLER = Principal(
    person_id="hsa-42", name="Bo Berg",
    organisation=Organisation(id="region-vg", kind=OrganisationKind.REGION,
                              name="Västra Götalandsregionen", region="vastra-gotaland"),
    unit="Vårdcentralen", roles=frozenset({Role.COORDINATOR, Role.SERVICE}),
    scopes=frozenset({"feed:personal"}),
)
# The organisations whose tokens the verifiers below accept.
DIRECTORY = OrganisationDirectory.of([CALLER.organisation])


def rsa_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public.decode()


def test_hs256_round_trip():
    settings = Settings(jwt_secret=SECRET)
    assert TokenVerifier(settings, DIRECTORY).verify(mint_token(CALLER, settings)) == CALLER


def test_wrong_secret_expired_and_garbage_are_refused():
    settings = Settings(jwt_secret=SECRET)
    verifier = TokenVerifier(settings, DIRECTORY)
    with pytest.raises(InvalidToken, match="not valid"):
        verifier.verify(mint_token(CALLER, Settings(jwt_secret=SECRET + "x")))
    with pytest.raises(InvalidToken, match="expired"):
        verifier.verify(mint_token(CALLER, settings, ttl_s=-10))
    with pytest.raises(InvalidToken):
        verifier.verify("not.a.token")


def test_claims_must_name_organisation_and_a_known_role():
    claims = CALLER.claims()
    with pytest.raises(InvalidToken, match="org_id"):
        principal_from_claims({k: v for k, v in claims.items() if k != "org_id"})
    with pytest.raises(InvalidToken, match="malformed"):
        principal_from_claims({**claims, "roles": ["superuser"]})
    with pytest.raises(InvalidToken, match="no role"):
        principal_from_claims({**claims, "roles": []})
    with pytest.raises(InvalidToken, match="malformed"):
        principal_from_claims({**claims, "org_kind": "bank"})


def test_rs256_against_a_jwks_file_and_hs256_then_refused(tmp_path):
    private, public = rsa_pair()
    jwks = tmp_path / "jwks.json"
    jwks.write_text(public_jwks(public, kid="key-1"))
    settings = Settings(jwks_file=jwks, jwt_issuer="https://idp.example",
                        jwt_audience="sip-ledger")
    verifier = TokenVerifier(settings, DIRECTORY)
    token = mint_token(CALLER, settings, private_key_pem=private, kid="key-1")
    assert verifier.verify(token) == CALLER
    # A development token (HS256) opens nothing once a JWKS is configured.
    with pytest.raises(InvalidToken):
        verifier.verify(mint_token(CALLER, Settings(jwt_secret=SECRET)))
    # Nor does a token signed by another key, or for another audience.
    other_private, _ = rsa_pair()
    with pytest.raises(InvalidToken):
        verifier.verify(mint_token(CALLER, settings, private_key_pem=other_private, kid="key-1"))
    now = int(time.time())
    foreign = jwt.encode({**CALLER.claims(), "iat": now, "exp": now + 60,
                          "iss": "https://idp.example", "aud": "another-app"},
                         private, algorithm="RS256", headers={"kid": "key-1"})
    with pytest.raises(InvalidToken):
        verifier.verify(foreign)
