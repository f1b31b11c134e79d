"""The HTTP service on a real PostgreSQL: each test module gets a fresh schema, the service's
threads (read models, feed) running, and a client that talks to it in-process."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.sql import SQL, Identifier

from adapters.bootstrap import Services, open_services
from adapters.http.app import create_app
from adapters.identity.tokens import Principal, mint_token
from adapters.settings import Settings
from adapters.store import Store
from domain.parties import Organisation, OrganisationKind, Role

from ..builders import KOMMUN
from ..builders import REGION as BUILDERS_REGION
from ..conftest import TEST_SECRET

TEST_JWT_SECRET = "test-jwt-secret-at-least-32-bytes-long!"

# The principals of the cases tests/builders.py proposes, and an organisation party to none.
MUNICIPALITY = KOMMUN
REGION = BUILDERS_REGION
OUTSIDER = Organisation(id="kommun-alingsas", kind=OrganisationKind.KOMMUN,
                        name="Alingsås kommun", region="vastra-gotaland")


# Every organisation a test mints a token for: the service refuses tokens of any other.
TEST_ORGANISATIONS_FILE = Path(__file__).with_name("organisations.toml")


def http_settings(**overrides) -> Settings:
    # The operations endpoints open, as under --demo: the tests read /metrics and /openapi.json.
    values = {"jwt_secret": TEST_JWT_SECRET, "feed_heartbeat_s": 1.0,
              "organisations_file": TEST_ORGANISATIONS_FILE, "ops_endpoints": "open",
              **overrides}
    return Settings(**values)


@pytest.fixture(scope="module")
def http_store(database_url: str) -> Iterator[Store]:
    schema = f"test_http_{uuid.uuid4().hex[:10]}"
    yield Store(conninfo=database_url, schema=schema)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(SQL("DROP SCHEMA IF EXISTS {0} CASCADE").format(Identifier(schema)))


@pytest.fixture(scope="module")
def services(http_store: Store) -> Iterator[Services]:
    opened = open_services(http_settings(), http_store, individual_secret=TEST_SECRET)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services), raise_server_exceptions=False) as test_client:
        yield test_client


Token = Callable[..., dict[str, str]]


@pytest.fixture(scope="module")
def auth(services: Services) -> Token:
    """``auth(role, organisation=MUNICIPALITY, unit=..., person=...)`` -> request headers."""

    def headers(
        role: Role | str = Role.COORDINATOR,
        organisation: Organisation = MUNICIPALITY,
        unit: str = "Socialtjänsten",
        person: str = "hsa-1001",
        scopes: tuple[str, ...] = (),
    ) -> dict[str, str]:
        principal = Principal(
            person_id=person, name="Anna Andersson", organisation=organisation, unit=unit,
            roles=frozenset({Role(role)}), scopes=frozenset(scopes),
        )
        return {"Authorization": f"Bearer {mint_token(principal, services.settings)}"}

    return headers
