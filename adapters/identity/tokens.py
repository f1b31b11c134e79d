"""Bearer tokens: who is calling, from which organisation and unit, in which roles.

Development uses HS256 with a shared secret (``SIP_JWT_SECRET``; ``sip-ledger token`` mints
tokens with it). Production points ``SIP_JWKS_URL`` or ``SIP_JWKS_FILE`` at the identity
provider's keys: RS256 tokens are verified against them, and HS256 tokens are then refused, so a
leaked development secret opens nothing. PyJWT does the cryptography and the JWKS fetching.

Claims: ``sub`` (person id), ``name``, ``org_id``, ``org_kind`` (kommun, region, skola, …),
``org_name``, ``unit``, ``roles`` (coordinator, supervisor, auditor, archivist, service) and
``scope`` (space separated; ``feed:personal`` lets a service receive personal data in the event
feed), ``iat`` and ``exp``.

What a token must also satisfy, beyond its signature:

- Its organisation is in the organisation directory (adapters/identity/organisations.py) with the
  same kind (and, where the directory lists units, one of its units); otherwise 401, logged with the
  organisation id and the reason. The caller's organisation is then the directory's record: its
  name and region, never the token's ``org_name``.
- ``iat`` is required and ``exp - iat`` is at most ``SIP_TOKEN_MAX_LIFETIME_S`` (12 h at most),
  so a leaked token is worth hours, not months.
- Roles combine, except that an auditor is read-only whatever else it holds: a token with
  ``auditor`` and any other role is taken as ``auditor`` alone (it reads as an auditor, logged,
  and every write is refused by role, but the auditor's own: placing and lifting a legal hold,
  R34). It is not refused, because an identity provider that derives roles from group
  membership gives such a person both, and they still need to audit.
- At most ``MAX_TOKEN_CHARS`` characters: a longer one is refused before it is decoded, and so
  never reaches the cache of verified tokens.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NotRequired, TypedDict

import jwt
from pydantic import ValidationError

from adapters.identity.organisations import OrganisationDirectory, Refusal, shown_id
from adapters.logging import get_logger
from adapters.settings import Settings
from domain.parties import Actor, Organisation, OrganisationKind, Role

log = get_logger(__name__)

# The feed carries personal data only to a service whose token has this scope.
FEED_PERSONAL_SCOPE = "feed:personal"
DEV_TOKEN_TTL_S = 8 * 3600
# Verified tokens kept for their lifetime, so a client's every request does not pay for the
# signature check again (a service sends the same token thousands of times).
VERIFIED_CACHE_SIZE = 4096
# Identity providers' tokens are 1-4 KB; 8 KB leaves room for many roles and units. A longer
# header is refused before any work, and never cached (the cache would hold megabytes).
MAX_TOKEN_CHARS = 8192
# How far in the future an ``iat`` may lie (the identity provider's clock runs a little ahead).
IAT_SKEW_S = 60
# The claims a token must carry, and what each says (a 401 names the one missing).
REQUIRED_CLAIMS = {"exp": "when it expires", "iat": "when it was issued",
                   "sub": "who the caller is"}


class InvalidToken(Exception):
    """The bearer token is missing, malformed, expired or not signed by a trusted key."""


class IdentityProviderUnavailable(Exception):
    """The identity provider's keys (SIP_JWKS_URL) could not be fetched: nothing is known about
    the token either way. The caller should try again, not get a new token (503, not 401)."""


class Claims(TypedDict):
    """The claims a token of this service carries (``mint_token``; an identity provider's
    tokens carry the same names, read by ``principal_from_claims``)."""

    sub: str  # the person's id
    name: str
    org_id: str
    org_kind: str  # domain.parties.OrganisationKind
    org_name: str
    org_region: str
    unit: str
    roles: list[str]  # domain.parties.Role values
    scope: str  # space-separated, e.g. "feed:personal"
    iat: NotRequired[int]  # REQUIRED_CLAIMS: set when the token is minted
    exp: NotRequired[int]
    iss: NotRequired[str]  # when SIP_JWT_ISSUER / SIP_JWT_AUDIENCE are set
    aud: NotRequired[str]


@dataclass(frozen=True)
class Principal:
    """The caller, as its verified token says."""

    person_id: str
    name: str
    organisation: Organisation
    unit: str = ""
    roles: frozenset[Role] = field(default_factory=frozenset)
    scopes: frozenset[str] = field(default_factory=frozenset)

    def has(self, role: Role) -> bool:
        return role in self.roles

    @property
    def is_auditor(self) -> bool:
        return Role.AUDITOR in self.roles

    def actor(self, role: Role = Role.COORDINATOR) -> Actor:
        """The actor recorded in the events this caller causes (R32)."""
        return Actor(
            person_id=self.person_id, name=self.name, organisation=self.organisation,
            unit=self.unit, role=role,
        )

    def claims(self) -> Claims:
        return {
            "sub": self.person_id,
            "name": self.name,
            "org_id": self.organisation.id,
            "org_kind": self.organisation.kind.value,
            "org_name": self.organisation.name,
            "org_region": self.organisation.region,
            "unit": self.unit,
            "roles": sorted(r.value for r in self.roles),
            "scope": " ".join(sorted(self.scopes)),
        }


# The claim behind each field of the organisation and the actor a token is read into.
_CLAIM_OF = {"id": "org_id", "kind": "org_kind", "name": "org_name", "region": "org_region",
             "person_id": "sub", "unit": "unit"}
_KNOWN_KINDS = ", ".join(k.value for k in OrganisationKind)
_KNOWN_ROLES = ", ".join(r.value for r in Role)


def _malformed(claim: str, what: str) -> InvalidToken:
    # The claim's value is the token's text and may be personal data: named, never quoted.
    return InvalidToken(f"token claims are malformed: {claim} {what}")


def _claim_of(error: ValidationError, actor: bool = False) -> str:
    loc = error.errors()[0]["loc"] if error.errors() else ()
    field = str(loc[0]) if loc else ""
    if actor and field == "name":
        return "name"
    return _CLAIM_OF.get(field, "org_id" if not actor else "sub")


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """The caller a token's claims describe; InvalidToken naming the claim that is missing or
    malformed (in words: neither the claim's value nor a validator's text).

    ``claims`` is a verified token's payload as decoded: its signature is checked, its shape is
    not, so it is read by key and every value checked here (``Claims`` is the shape expected)."""
    for claim in ("org_id", "org_kind", "sub"):
        if claim not in claims:
            raise InvalidToken(f"token lacks the claim {claim!r}")
    try:
        kind = OrganisationKind(claims["org_kind"])
    except (ValueError, TypeError):
        raise _malformed("org_kind", f"is not a kind of organisation ({_KNOWN_KINDS})") from None
    try:
        organisation = Organisation(
            id=claims["org_id"], kind=kind,
            name=claims.get("org_name") or "", region=claims.get("org_region") or "",
        )
    except ValidationError as error:
        raise _malformed(_claim_of(error), "is not a valid value for it") from None
    roles = claims.get("roles") or []
    if isinstance(roles, str):
        roles = roles.split()
    try:
        granted = frozenset(Role(r) for r in roles)
    except (ValueError, TypeError):
        raise _malformed("roles", f"names a role that does not exist ({_KNOWN_ROLES})") from None
    if Role.AUDITOR in granted:  # an auditor is read-only whatever else it holds
        granted = frozenset({Role.AUDITOR})
    principal = Principal(
        person_id=str(claims["sub"]),
        name=str(claims.get("name") or claims["sub"]),
        organisation=organisation,
        unit=str(claims.get("unit") or ""),
        roles=granted,
        scopes=frozenset(str(claims.get("scope") or "").split()),
    )
    try:
        # The actor must be recordable: the same limits as an event's actor.
        principal.actor()
    except ValidationError as error:
        raise _malformed(_claim_of(error, actor=True), "is not a valid value for it") from None
    if not principal.roles:
        raise InvalidToken(f"token carries no role ({_KNOWN_ROLES})")
    return principal


def _log_refusal(reason: str, principal: Principal) -> None:
    """A signed token the directory refuses is worth an operator's look (a misconfigured
    identity provider, or a forged claim under a leaked key). The organisation id is logged only
    when it is id-shaped and no personal identity number; never the name, unit or person."""
    log.warning("token refused", reason=reason,
                organisation_id=shown_id(principal.organisation.id).strip("'"),
                org_kind=principal.organisation.kind.value)


class TokenVerifier:
    """Verifies bearer tokens as the settings say (HS256 secret, or RS256 against a JWKS)."""

    def __init__(self, settings: Settings,
                 directory: OrganisationDirectory | None = None) -> None:
        """``directory``: the organisations whose tokens are accepted; default: the one
        ``SIP_ORGANISATIONS_FILE`` names. With neither, every token is refused."""
        self.directory = (directory if directory is not None
                          else OrganisationDirectory.from_settings(settings))
        self.max_lifetime_s = settings.token_max_lifetime_s
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self._jwks_client: jwt.PyJWKClient | None = None
        self._jwks: jwt.PyJWKSet | None = None
        if settings.jwks_url:
            self._jwks_client = jwt.PyJWKClient(settings.jwks_url, cache_keys=True)
        elif settings.jwks_file:
            self._jwks = jwt.PyJWKSet.from_json(settings.jwks_file.read_text())
        self._secret = settings.jwt_secret.get_secret_value()
        self.algorithms = ["RS256"] if settings.uses_jwks else ["HS256"]
        # Verifying may fetch the JWKS over the network (first use, unknown key id).
        self.may_block = self._jwks_client is not None
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, token: str) -> Principal:
        if len(token) > MAX_TOKEN_CHARS:
            raise InvalidToken(f"token is longer than {MAX_TOKEN_CHARS} characters")
        with self._lock:
            hit = self._verified.get(token)
            if hit is not None:
                if hit[1] > time.time():
                    self._verified.move_to_end(token)
                    return hit[0]
                del self._verified[token]
        principal, expires = self._verify(token)
        with self._lock:
            self._verified[token] = (principal, expires)
            if len(self._verified) > VERIFIED_CACHE_SIZE:
                self._verified.popitem(last=False)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            key: Any = self._key_for(token)
            claims = jwt.decode(
                token, key, algorithms=self.algorithms, issuer=self.issuer,
                audience=self.audience,
                # iat is checked below, with a little allowance for the issuer's clock.
                options={"require": list(REQUIRED_CLAIMS), "verify_iat": False,
                         "verify_aud": self.audience is not None},
            )
        except jwt.PyJWKClientConnectionError:
            raise IdentityProviderUnavailable(
                "the identity provider's keys (SIP_JWKS_URL) could not be fetched to verify the "
                "token; try again shortly") from None
        except (jwt.PyJWTError, ValueError) as error:
            raise InvalidToken(self._in_words(error)) from None
        issued, expires = claims["iat"], claims["exp"]
        if not all(isinstance(v, int | float) and not isinstance(v, bool)
                   for v in (issued, expires)):
            raise InvalidToken("token is not valid: iat and exp must be numbers (seconds since "
                               "1970-01-01 UTC)")
        if issued > time.time() + IAT_SKEW_S:
            raise InvalidToken("token is not valid: it was issued in the future (iat)")
        if expires - issued > self.max_lifetime_s:
            raise InvalidToken(
                f"token lives longer than {self.max_lifetime_s} s (exp - iat; "
                "SIP_TOKEN_MAX_LIFETIME_S)"
            )
        principal = principal_from_claims(claims)
        return self._as_directory_says(principal), float(expires)

    def _in_words(self, error: Exception) -> str:
        """What is wrong with the token, said in words (the 401's detail). Never the decoder's
        own text: it names library internals and may quote a piece of the token."""
        if isinstance(error, jwt.ExpiredSignatureError):
            return ("token has expired (exp lies in the past): ask the identity provider for a "
                    "new one")
        if isinstance(error, jwt.MissingRequiredClaimError):
            what = REQUIRED_CLAIMS.get(error.claim, "a claim this service requires")
            return f"token is not valid: the claim {error.claim} ({what}) is missing"
        if isinstance(error, jwt.InvalidSignatureError):
            return "token is not valid: the signature does not verify"
        if isinstance(error, jwt.InvalidAlgorithmError):
            return (f"token is not valid: it is not signed with {', '.join(self.algorithms)}, "
                    "the only algorithm this service accepts")
        if isinstance(error, jwt.DecodeError):
            return ("token is not valid: it is not a JWT (three base64url parts, header.claims."
                    "signature, whose header and claims are JSON)")
        if isinstance(error, jwt.ImmatureSignatureError):
            return "token is not valid yet (nbf lies ahead)"
        if isinstance(error, jwt.InvalidIssuedAtError):
            return "token is not valid: iat must be a number (seconds since 1970-01-01 UTC)"
        if isinstance(error, jwt.InvalidIssuerError):
            return "token is not valid: its issuer (iss) is not the one this service trusts"
        if isinstance(error, jwt.InvalidAudienceError):
            return "token is not valid: its audience (aud) does not name this service"
        if isinstance(error, jwt.PyJWKClientError | jwt.PyJWKError | jwt.PyJWKSetError):
            return "token is not valid: no key of the identity provider's (the JWKS) signs it"
        return "token is not valid: it could not be verified"

    def _as_directory_says(self, principal: Principal) -> Principal:
        """The principal with the directory's record of its organisation, or refused."""
        if self.directory is None:
            _log_refusal("no-directory", principal)
            raise InvalidToken("no organisation directory is configured "
                               "(SIP_ORGANISATIONS_FILE); no token is accepted")
        found = self.directory.check(principal.organisation, principal.unit)
        if isinstance(found, Refusal):
            _log_refusal(found.reason, principal)
            raise InvalidToken(found.detail)
        return replace(principal, organisation=found)

    def _key_for(self, token: str) -> Any:
        if self._jwks_client is not None:
            return self._jwks_client.get_signing_key_from_jwt(token).key
        if self._jwks is not None:
            kid = jwt.get_unverified_header(token).get("kid")
            for key in self._jwks.keys:
                if kid is None or key.key_id == kid:
                    return key.key
            # The kid is the client's text: not echoed.
            raise InvalidToken("token is not valid: its key id (kid) is not in the configured "
                               "JWKS")
        return self._secret


def mint_token(
    principal: Principal, settings: Settings, *, ttl_s: int = DEV_TOKEN_TTL_S,
    private_key_pem: str | None = None, kid: str | None = None,
) -> str:
    """A signed token for ``principal``: HS256 with the development secret, or RS256 with a
    private key (tests and the JWKS set-up in the README)."""
    now = int(time.time())
    claims: Claims = {**principal.claims(), "iat": now, "exp": now + ttl_s}
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    payload = dict(claims)  # PyJWT takes a plain dict
    if private_key_pem is not None:
        headers = {"kid": kid} if kid else None
        return jwt.encode(payload, private_key_pem, algorithm="RS256", headers=headers)
    return jwt.encode(payload, settings.jwt_secret.get_secret_value(), algorithm="HS256")


def public_jwks(public_key_pem: str, kid: str) -> str:
    """A JWKS document holding one RSA public key (for tests and a development JWKS file)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from jwt.algorithms import RSAAlgorithm

    key = serialization.load_pem_public_key(public_key_pem.encode())
    if not isinstance(key, RSAPublicKey):
        raise ValueError("the key is not an RSA public key")
    jwk = json.loads(RSAAlgorithm.to_jwk(key))
    jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
    return json.dumps({"keys": [jwk]})
