"""Configuration through environment variables with the SIP_ prefix (pydantic-settings).

Every default is safe for a first run on a developer's machine: no external database, data under
./var, a development key for the individual index that the README tells production to replace.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_INDIVIDUAL_KEY = "development-only-individual-key"
DEV_JWT_SECRET = "development-only-jwt-secret-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIP_", extra="ignore")

    # An external PostgreSQL, e.g. postgresql://sip:secret@db:5432/sip. Unset: embedded server.
    database_url: SecretStr | None = None
    # Where the embedded server keeps its data.
    data_dir: Path = Path("var")
    pgdata: Path | None = None
    # PostgreSQL schema for the ledger's tables.
    database_schema: str = Field(default="public", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    # Secret for the keyed hash that finds an individual's open cases (R09). Replace in
    # production: whoever has it can test personal identity numbers against the index.
    individual_key: SecretStr = SecretStr(DEV_INDIVIDUAL_KEY)
    pool_size: int = Field(default=5, ge=1, le=100)
    # The key store (adapters/store/keys.py): the data keys personal data is sealed under, in a
    # database apart from the event store (default: <database>_keys on the same server), wrapped
    # by the key-encryption key in SIP_KEK_FILE (base64 of 32 bytes; unset: a development key
    # generated into $SIP_DATA_DIR/dev-kek.key, which `serve` outside --demo refuses).
    keystore_url: SecretStr | None = None
    kek_file: Path | None = None
    # The write path (adapters/store/write_path.py): one write transaction's statement and lock
    # timeouts, so no transaction holds the event table for long; how long a command waits for
    # a connection before the store counts as unreachable.
    write_statement_timeout_s: float = Field(default=5.0, gt=0, le=300)
    write_lock_timeout_s: float = Field(default=2.0, gt=0, le=300)
    store_wait_s: float = Field(default=3.0, gt=0, le=60)
    # Each HTTP request's deadline: no insert starts after it (503 with Retry-After, nothing
    # written). Below common client timeouts (30 s and up), so a client rarely gives up on a
    # command that is then recorded.
    request_deadline_s: float = Field(default=10.0, gt=0, le=300)
    # /readyz answers 503 when a write has held the event table, or waited for it, this long.
    ready_write_stuck_s: float = Field(default=10.0, gt=0, le=600)
    # Whether this process creates what is missing at start (schema, tables, triggers, read
    # models). Production runs the service as an application role that may not: the owner runs
    # `sip-ledger store grant-app-role` first, and the service runs with this false.
    create_tables: bool = True
    log_format: str = Field(default="console", pattern="^(console|json)$")
    log_level: str = "INFO"

    # ---- the HTTP service (sip-ledger serve)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Input limits at the edge (adapters/http/limits.py), checked before a body is read or a
    # token verified: a larger body is 413, larger headers 431. The default body limit fits the
    # largest command the domain's field limits allow (domain/limits.py) with room to spare.
    max_body_bytes: int = Field(default=512 * 1024, ge=1024, le=64 * 1024 * 1024)
    max_header_bytes: int = Field(default=16 * 1024, ge=1024, le=1024 * 1024)
    max_authorization_bytes: int = Field(default=8 * 1024, ge=256, le=1024 * 1024)
    # A request's body must arrive within this many seconds (a client sending 1 byte/s is cut
    # off), and its request line and headers within request_head_timeout_s (sip-ledger serve).
    body_timeout_s: float = Field(default=30.0, gt=0, le=600)
    request_head_timeout_s: float = Field(default=10.0, gt=0, le=600)
    # Bearer tokens. Development: HS256 with this shared secret (`sip-ledger token` mints them).
    # Production: set a JWKS (URL or file) and the service accepts RS256 tokens signed by its keys
    # and refuses HS256 ones.
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwks_url: str | None = None
    jwks_file: Path | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    # The organisation directory (TOML, adapters/identity/organisations.py): a token's
    # organisation must be in it, with the same kind. Required by `serve` outside --demo (the
    # demo's population is its directory); unset elsewhere, every token is refused.
    organisations_file: Path | None = None
    # The longest lifetime (exp - iat) of a token the service accepts; `iat` is required.
    token_max_lifetime_s: int = Field(default=12 * 3600, ge=60, le=12 * 3600)
    # /metrics, /docs, /openapi.json (adapters/http/ops_access.py): "open" to anyone, "token"
    # (Authorization: Bearer $SIP_OPS_TOKEN) or "off". Unset: open under --demo, otherwise
    # "token" when SIP_OPS_TOKEN is set and "off" when it is not.
    ops_endpoints: Literal["open", "token", "off"] | None = None
    ops_token: SecretStr | None = None
    # A command answers after the read models have applied it, waiting at most this long.
    projection_wait_s: float = Field(default=5.0, ge=0, le=60)
    # Server-Sent Events: a comment line this often keeps proxies from closing an idle stream.
    feed_heartbeat_s: float = Field(default=15.0, gt=0, le=300)
    # /readyz answers 503 when the read models lag the log by more than this many events, or
    # when the oldest event they have not applied was recorded more than this many seconds ago
    # (a stalled or failing runner shows within this age, whatever the traffic).
    ready_max_lag: int = Field(default=10_000, ge=0)
    ready_max_projection_age_s: float = Field(default=30.0, gt=0, le=86_400)

    # ---- the audit trail (sip-ledger audit; adapters/audit/)
    # Ed25519 key that signs the chain's checkpoints: a PEM file, or PEM text / the raw 32 bytes
    # in base64. Unset: a development key generated into $SIP_DATA_DIR/audit-signing-key.pem.
    # Production sets its own and keeps it outside the database (README).
    audit_signing_key_file: Path | None = None
    audit_signing_key: SecretStr | None = None
    # The public key(s) a verifier trusts (PEM); unset: the signing key's own.
    audit_public_key_file: Path | None = None
    # The service writes a checkpoint after this many events, or this long after the last one
    # when events have come since.
    audit_checkpoint_every_events: int = Field(default=1000, ge=1)
    audit_checkpoint_every_s: float = Field(default=300.0, gt=0)

    @property
    def uses_jwks(self) -> bool:
        return bool(self.jwks_url or self.jwks_file)

    @property
    def embedded_pgdata(self) -> Path:
        return self.pgdata or self.data_dir / "pgdata"
