"""Retention over HTTP (R34): an auditor places and lifts a legal hold, an archivist erases a
case's personal data; other roles are refused, refusals are problem+json naming R34, and a data
key missing without an erasure is a 503 naming the case and the subject, never a 500.

The module's service runs on a clock the tests set back, so its cases can have ended six years
ago and be due under the social-services policy."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg.sql import SQL, Identifier

from adapters.bootstrap import Services, open_services
from adapters.http.problems import install_problem_handlers
from adapters.store import Store
from adapters.store.keys import KEY_CACHE_S, keys_conninfo
from domain.clock import local_date, utc_now
from domain.commands import DeclineSip, Individual
from domain.parties import Role
from domain.personal import MissingDataKey, erased_marker
from tests.conftest import TEST_SECRET, Clock
from tests.support import builders as b
from tests.support.http import OUTSIDER, http_settings

pytestmark = pytest.mark.store

PROBLEM = "application/problem+json"
NAME = "Kim Karlsson"


@pytest.fixture(scope="module")
def service_clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def services(http_store: Store, service_clock: Clock) -> Iterator[Services]:
    """The service of this module, on a clock the tests may set (conftest's, otherwise)."""
    opened = open_services(http_settings(), http_store, clock=service_clock,
                           individual_secret=TEST_SECRET)
    yield opened
    opened.close()


def _declined(services: Services, clock: Clock, *, years_ago: float = 6,
              born: date = date(1980, 3, 3)) -> str:
    """A case proposed and declined ``years_ago`` years ago, written through the ledger."""
    clock.set(datetime.now(tz=UTC) - timedelta(days=365 * years_ago))
    try:
        cmd = b.propose(individual=Individual(personal_identity_number=b.pin_born(born),
                                              name=NAME))
        case_id = services.ledger.propose(cmd, b.actor()).case_id
        result = services.ledger.decline(DeclineSip(case_id=case_id, note="Vill inte"),
                                         b.actor())
    finally:
        clock.fixed = None
    services.runner.wait_for(result.last_notification_id or 0, 10)
    return str(case_id)


@pytest.fixture
def due_case(services: Services, service_clock: Clock) -> str:
    return _declined(services, service_clock)


HOLD = {"reason": "Tillsyn pågår", "reference": "IVO 3.1-123/2031"}
ERASURE = {"decision": "KS 2031/12", "policy_id": "socialtjanst"}


def _post(client: TestClient, path: str, json: dict[str, Any], headers: dict[str, str],
          **extra: str) -> Any:
    return client.post(path, json=json, headers={**headers, **extra})


def _r34(answer: Any, status: int = 422) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    problem = answer.json()
    assert problem["rule"] == "R34", problem
    assert NAME not in answer.text
    return problem


# ---------------------------------------------------------------------------- roles


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.SERVICE, Role.SUPERVISOR,
                                  Role.ARCHIVIST])
def test_only_an_auditor_places_or_lifts_a_hold(client, auth, due_case, role):
    for path in ("legal-hold", "legal-hold/lift"):
        answer = _post(client, f"/cases/{due_case}/{path}", HOLD, auth(role))
        assert answer.status_code == 403, answer.text
        assert answer.json()["field"] == "roles"


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.SERVICE, Role.SUPERVISOR,
                                  Role.AUDITOR])
def test_only_an_archivist_erases(client, auth, due_case, services, role):
    answer = _post(client, f"/cases/{due_case}/erasure", ERASURE, auth(role))
    assert answer.status_code == 403, answer.text
    assert not services.ledger.get_case(uuid.UUID(due_case)).is_erased


# ---------------------------------------------------------------------------- hold and erasure


def test_a_held_case_is_never_erased_until_the_hold_is_lifted(client, auth, due_case, services):
    auditor = auth(Role.AUDITOR, organisation=OUTSIDER)  # an auditor need not be party
    placed = _post(client, f"/cases/{due_case}/legal-hold", HOLD, auditor)
    assert placed.status_code == 200, placed.text
    case = services.ledger.get_case(uuid.UUID(due_case))
    assert case.legal_hold is not None and case.legal_hold.reference == HOLD["reference"]

    version = case.version
    refused = _post(client, f"/cases/{due_case}/erasure", ERASURE, auth(Role.ARCHIVIST))
    _r34(refused)
    _r34(_post(client, f"/cases/{due_case}/legal-hold", HOLD, auditor))  # one hold at a time
    assert services.ledger.get_case(uuid.UUID(due_case)).version == version  # nothing written

    lifted = _post(client, f"/cases/{due_case}/legal-hold/lift", {"reason": "Tillsyn avslutad"},
                   auditor)
    assert lifted.status_code == 200, lifted.text
    _r34(_post(client, f"/cases/{due_case}/legal-hold/lift", {"reason": "Igen"}, auditor))

    erased = _post(client, f"/cases/{due_case}/erasure", ERASURE, auth(Role.ARCHIVIST))
    assert erased.status_code == 200, erased.text
    case = services.ledger.get_case(uuid.UUID(due_case))
    assert case.is_erased and case.erasure.decision == ERASURE["decision"]
    assert case.erasure.erased_by.role == Role.ARCHIVIST
    assert not services.ledger.keys.has_live_keys(uuid.UUID(due_case))


def test_an_erasure_shows_the_marker_and_every_later_command_is_refused(
    client, auth, due_case, services
):
    erased = _post(client, f"/cases/{due_case}/erasure", ERASURE, auth(Role.ARCHIVIST),
                   **{"Idempotency-Key": f"erase-{due_case}"})
    assert erased.status_code == 200, erased.text
    marker = erased_marker(local_date(utc_now()), ERASURE["decision"])
    # An auditor's view is the full one (a declined case shows its own organisation only the
    # restricted view).
    view = client.get(f"/cases/{due_case}", headers=auth(Role.AUDITOR))
    assert view.status_code == 200, view.text
    assert view.json()["individual"]["name"] == marker
    assert view.json()["individual"]["personal_identity_number"] == marker
    assert NAME not in view.text

    # The same key: the first result, nothing new written.
    again = _post(client, f"/cases/{due_case}/erasure", ERASURE, auth(Role.ARCHIVIST),
                  **{"Idempotency-Key": f"erase-{due_case}"})
    assert again.status_code == 200, again.text
    assert again.json()["replayed"] is True
    assert again.json()["version"] == erased.json()["version"]
    # Another erasure, a hold, any command: refused naming R34.
    _r34(_post(client, f"/cases/{due_case}/erasure", {**ERASURE, "decision": "KS 2031/99"},
               auth(Role.ARCHIVIST)))
    _r34(_post(client, f"/cases/{due_case}/legal-hold", HOLD, auth(Role.AUDITOR)))


def test_refusals_name_r34_and_the_field_and_write_nothing(
    client, auth, services, service_clock
):
    recent = _declined(services, service_clock, years_ago=1)
    version = services.ledger.get_case(uuid.UUID(recent)).version
    archivist = auth(Role.ARCHIVIST)
    not_due = _r34(_post(client, f"/cases/{recent}/erasure", ERASURE, archivist))
    assert not_due["field"]
    blank = _post(client, f"/cases/{recent}/erasure", {**ERASURE, "decision": " "}, archivist)
    assert blank.status_code == 422, blank.text
    assert blank.json()["field"] == "decision"
    unknown = _post(client, f"/cases/{recent}/erasure", {**ERASURE, "policy_id": "okand"},
                    archivist)
    assert unknown.status_code == 422 and unknown.json()["field"] == "policy_id"
    assert services.ledger.get_case(uuid.UUID(recent)).version == version

    # An override says why, and is recorded.
    overridden = _post(client, f"/cases/{recent}/erasure",
                       {**ERASURE, "override_reason": "Den enskilde begärde radering"},
                       archivist)
    assert overridden.status_code == 200, overridden.text
    erasure = services.ledger.get_case(uuid.UUID(recent)).erasure
    assert erasure is not None and erasure.override_reason == "Den enskilde begärde radering"


def test_an_archivist_erases_only_for_an_organisation_party_to_the_case(
    client, auth, due_case, services
):
    answer = _post(client, f"/cases/{due_case}/erasure", ERASURE,
                   auth(Role.ARCHIVIST, organisation=OUTSIDER))
    assert answer.status_code == 403, answer.text
    assert answer.json()["rule"] == "R13"
    assert not services.ledger.get_case(uuid.UUID(due_case)).is_erased
    missing = _post(client, f"/cases/{uuid.uuid4()}/erasure", ERASURE, auth(Role.ARCHIVIST))
    assert missing.status_code == 404, missing.text
    missing = _post(client, f"/cases/{uuid.uuid4()}/legal-hold", HOLD, auth(Role.AUDITOR))
    assert missing.status_code == 404, missing.text


# ---------------------------------------------------------------------------- a missing data key


def test_a_missing_data_key_is_a_problem_naming_case_and_subject() -> None:
    app = FastAPI()
    install_problem_handlers(app)
    case_id = uuid.uuid4()

    @app.get("/cases/{case_id}")
    def read(case_id: uuid.UUID) -> None:
        raise MissingDataKey(case_id, "individual")

    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get(f"/cases/{case_id}")
    problem = _r34(answer, 503)
    assert problem["type"].endswith("/missing-data-key")
    assert (problem["case_id"], problem["subject"]) == (str(case_id), "individual")


def test_a_key_lost_from_the_key_store_answers_503_not_500(
    client, auth, due_case, services, database_url
):
    """A key store restored from a backup older than the case: the key is gone, no erasure is
    recorded. Reading the case as of an instant (a replay through the ledger) says so."""
    keys = services.ledger.keys
    with psycopg.connect(keys_conninfo(database_url), autocommit=True) as conn:
        conn.execute(SQL("UPDATE {}.sip_data_keys SET wrapped = NULL WHERE case_id = %s")
                     .format(Identifier(keys.schema)), (uuid.UUID(due_case),))
    time.sleep(KEY_CACHE_S + 0.2)  # the key store's short cache of opened keys
    # As of an instant, the case is replayed from its events (no cached aggregate).
    at = datetime.now(tz=UTC).isoformat()
    answer = client.get(f"/cases/{due_case}/as-of", params={"at": at}, headers=auth())
    problem = _r34(answer, 503)
    assert problem["case_id"] == due_case
    assert problem["subject"] == "individual" or problem["subject"].startswith("person:")
