"""What ``sip-ledger serve`` requires outside ``--demo``: no development secret, and an
organisation directory.

The development JWT secret and individual key are printed in ``adapters/settings.py``, and the
development audit key and key-encryption key are generated into ``var/``: with them, anyone can
sign an auditor's token, reverse the access log's keyed hashes of personal identity numbers,
sign a forged audit checkpoint, or open the sealed personal data. So a service that is not the
demo refuses to start until each is replaced, and says
which setting to give, on one line (``serve`` prints the first; the rest are named after it).
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.audit.checkpoints import DEV_KEY_FILE_NAME
from adapters.http.ops_access import MIN_OPS_TOKEN_CHARS, ops_mode
from adapters.identity.organisations import DirectoryError, OrganisationDirectory
from adapters.settings import DEV_INDIVIDUAL_KEY, DEV_JWT_SECRET, Settings

# HS256 with a shorter secret can be brute-forced from one token (RFC 7518: at least the hash's
# 256 bits); the individual key is an HMAC key too.
MIN_JWT_SECRET_CHARS = 32
MIN_INDIVIDUAL_KEY_CHARS = 16


@dataclass(frozen=True)
class Missing:
    setting: str  # the SIP_ variable to set
    why: str


def production_refusals(settings: Settings) -> tuple[list[Missing], OrganisationDirectory | None]:
    """What is missing for a production start, and the directory if it loaded."""
    missing: list[Missing] = []
    if not settings.uses_jwks:
        secret = settings.jwt_secret.get_secret_value()
        if secret == DEV_JWT_SECRET:
            missing.append(Missing(
                "SIP_JWT_SECRET", "the development JWT secret is public; set SIP_JWKS_URL or "
                "SIP_JWKS_FILE (the identity provider's keys), or a secret of your own"))
        elif len(secret) < MIN_JWT_SECRET_CHARS:
            missing.append(Missing(
                "SIP_JWT_SECRET", f"shorter than {MIN_JWT_SECRET_CHARS} characters"))
    key = settings.individual_key.get_secret_value()
    if key == DEV_INDIVIDUAL_KEY:
        missing.append(Missing(
            "SIP_INDIVIDUAL_KEY", "the development individual key is public; set a secret of "
            "your own (with it, the access log's hashes of personal identity numbers reverse)"))
    elif len(key) < MIN_INDIVIDUAL_KEY_CHARS:
        missing.append(Missing(
            "SIP_INDIVIDUAL_KEY", f"shorter than {MIN_INDIVIDUAL_KEY_CHARS} characters"))
    key_file = settings.audit_signing_key_file
    if key_file is None and settings.audit_signing_key is None:
        missing.append(Missing(
            "SIP_AUDIT_SIGNING_KEY_FILE", "audit checkpoints would be signed with a development "
            "key generated under SIP_DATA_DIR; set SIP_AUDIT_SIGNING_KEY_FILE or "
            "SIP_AUDIT_SIGNING_KEY"))
    elif key_file is not None and key_file.name == DEV_KEY_FILE_NAME:
        missing.append(Missing(
            "SIP_AUDIT_SIGNING_KEY_FILE", f"{DEV_KEY_FILE_NAME} is the generated development "
            "key; give a key of your own, kept outside the data folder"))
    directory = None
    if settings.organisations_file is None:
        missing.append(Missing(
            "SIP_ORGANISATIONS_FILE", "no organisation directory; name the TOML file listing "
            "the organisations whose tokens the service accepts"))
    else:
        try:
            directory = OrganisationDirectory.load(settings.organisations_file)
        except DirectoryError as error:
            missing.append(Missing("SIP_ORGANISATIONS_FILE", str(error)))
    if ops_mode(settings) == "token":
        token = settings.ops_token.get_secret_value() if settings.ops_token else ""
        if len(token) < MIN_OPS_TOKEN_CHARS:
            missing.append(Missing(
                "SIP_OPS_TOKEN", f"SIP_OPS_ENDPOINTS=token needs a token of at least "
                f"{MIN_OPS_TOKEN_CHARS} characters"))
    if settings.kek_file is None:
        missing.append(Missing(
            "SIP_KEK_FILE", "personal data would be sealed under a development key-encryption "
            "key generated under SIP_DATA_DIR; set SIP_KEK_FILE to a key of your own (base64 of "
            "32 bytes), kept outside the database and its backups"))
    return missing, directory


def one_line(missing: list[Missing]) -> str:
    """The line ``serve`` prints: the first setting to give, and the names of the others."""
    first, rest = missing[0], missing[1:]
    also = f" (also set: {', '.join(m.setting for m in rest)})" if rest else ""
    return f"error field {first.setting}: {first.why}; outside --demo this is required{also}"
