"""Configuration through environment variables with the SIP_ prefix (pydantic-settings).

Every default is safe for a first run on a developer's machine: no external database, data under
./var, a development key for the individual index that the README tells production to replace.
"""

from __future__ import annotations

from pathlib import Path

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
    # Whether this process creates what is missing at start (schema, tables, triggers, read
    # models). Production runs the service as an application role that may not: the owner runs
    # `sip-ledger store grant-app-role` first, and the service runs with this false.
    create_tables: bool = True
    log_format: str = Field(default="console", pattern="^(console|json)$")
    log_level: str = "INFO"

    # ---- the HTTP service (sip-ledger serve)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Bearer tokens. Development: HS256 with this shared secret (`sip-ledger token` mints them).
    # Production: set a JWKS (URL or file) and the service accepts RS256 tokens signed by its keys
    # and refuses HS256 ones.
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwks_url: str | None = None
    jwks_file: Path | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    # A command answers after the read models have applied it, waiting at most this long.
    projection_wait_s: float = Field(default=5.0, ge=0, le=60)
    # Server-Sent Events: a comment line this often keeps proxies from closing an idle stream.
    feed_heartbeat_s: float = Field(default=15.0, gt=0, le=300)
    # /readyz answers 503 when the read models lag the log by more than this many events.
    ready_max_lag: int = Field(default=10_000, ge=0)

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
