"""Configuration through environment variables with the SIP_ prefix (pydantic-settings).

Every default is safe for a first run on a developer's machine: no external database, data under
./var, a development key for the individual index that the README tells production to replace.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_INDIVIDUAL_KEY = "development-only-individual-key"


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
    log_format: str = Field(default="console", pattern="^(console|json)$")
    log_level: str = "INFO"

    @property
    def embedded_pgdata(self) -> Path:
        return self.pgdata or self.data_dir / "pgdata"
