"""The HTTP service on a real PostgreSQL: each test module gets a fresh schema, the service's
threads (read models, feed) running, and a client that talks to it in-process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.sql import SQL, Identifier

from adapters.bootstrap import Services, open_services
from adapters.http.app import create_app
from adapters.identity.tokens import Principal, mint_token
from adapters.store import Store
from domain.parties import Organisation, Role
from tests.conftest import TEST_SECRET
from tests.support.http import MUNICIPALITY, Token, http_settings


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
