"""What the HTTP tests share besides their fixtures: the callers' organisations, the service's
settings for a test, and the organisation directory every test token must be in."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from adapters.settings import Settings
from domain.parties import Organisation, OrganisationKind

from .builders import KOMMUN
from .builders import REGION as BUILDERS_REGION

TEST_JWT_SECRET = "test-jwt-secret-at-least-32-bytes-long!"

# The principals of the cases tests/support/builders.py proposes, and an organisation party to
# none.
MUNICIPALITY = KOMMUN
REGION = BUILDERS_REGION
OUTSIDER = Organisation(id="kommun-alingsas", kind=OrganisationKind.KOMMUN,
                        name="Alingsås kommun", region="vastra-gotaland")


# Every organisation a test mints a token for: the service refuses tokens of any other. The
# service's tests, the command line's and the HTTP benchmark all name this one file.
TEST_ORGANISATIONS_FILE = Path(__file__).with_name("organisations.toml")


def http_settings(**overrides) -> Settings:
    # The operations endpoints open, as under --demo: the tests read /metrics and /openapi.json.
    values = {"jwt_secret": TEST_JWT_SECRET, "feed_heartbeat_s": 1.0,
              "organisations_file": TEST_ORGANISATIONS_FILE, "ops_endpoints": "open",
              **overrides}
    return Settings(**values)


# The ``auth`` fixture: ``auth(role, organisation=MUNICIPALITY, ...)`` -> request headers.
Token = Callable[..., dict[str, str]]
