"""A read side no event can kill, and access never decided from a stalled model (issue 10,
failures 1, 8 and 9), on a real PostgreSQL with the service's runner thread running.

- An event with a NUL byte in a text field, written into the log as an older release could have
  (through the library's recorder, hash chain and all), is quarantined; the runner goes on, a
  consent withdrawal recorded after it takes effect, the case itself answers 503, /readyz and
  /metrics and ``projections status`` show it, and a rebuild by a fixed release applies it.
- The plans model's table locked (ACCESS EXCLUSIVE, longer than the projection wait) while
  commands arrive for a case created just before: never 404, each command 2xx or 503, reads
  of the case 503 rather than stale, and /readyz reports the stall within its configured age.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import OperationalError, StoredEvent
from fastapi.testclient import TestClient
from psycopg.sql import SQL, Identifier

from adapters.bootstrap import Services, open_services
from adapters.store import Store
from domain.commands import Command
from domain.parties import Organisation, OrganisationKind, Role
from projections.plans import CurrentPlans
from projections.quarantine import describe, is_poison
from projections.rebuild import rebuild
from tests.conftest import TEST_SECRET
from tests.support import builders as b
from tests.support.http import MUNICIPALITY, REGION, http_settings
from tests.support.runner import cli_run

pytestmark = pytest.mark.store

FK = Organisation(id="fk", kind=OrganisationKind.FORSAKRINGSKASSAN, name="Försäkringskassan")
PROBLEM = "application/problem+json"
PROJECTION_WAIT_S = 1.0
MAX_AGE_S = 2.0
POISON_REGION = b'"region-v\\u0000g"'  # JSON for "region-v<NUL>g", as issue 10 sent it


@pytest.fixture(scope="module")
def services(http_store: Store) -> Iterator[Services]:
    """Small waits, so a stall shows (and the test runs) in seconds."""
    settings = http_settings(projection_wait_s=PROJECTION_WAIT_S,
                             ready_max_projection_age_s=MAX_AGE_S)
    opened = open_services(settings, http_store, individual_secret=TEST_SECRET)
    yield opened
    opened.close()


def body(cmd: Command) -> dict[str, Any]:
    return cmd.model_dump(mode="json", exclude={"command_id", "case_id"})


def head(services: Services) -> int:
    return services.ledger.recorder.max_notification_id() or 0


def settle(services: Services, timeout: float = 20.0) -> None:
    assert services.runner.wait_for(head(services), timeout), services.runner.positions


def quarantine(services: Services, case_id: UUID) -> list[tuple[Any, ...]]:
    with psycopg.connect(services.store.conninfo, autocommit=True) as conn:
        return conn.execute(
            SQL("SELECT model, notification_id, event_type, error, message FROM {}.rm_quarantine "
                "WHERE case_id = %s ORDER BY model, notification_id").format(
                Identifier(services.schema)),
            (case_id,),
        ).fetchall()


def stored(services: Services, case_id: UUID, version: int) -> tuple[str, bytes]:
    with psycopg.connect(services.store.conninfo, autocommit=True) as conn:
        topic, state = conn.execute(
            SQL("SELECT topic, state FROM {}.sipledger_events WHERE originator_id = %s "
                "AND originator_version = %s").format(Identifier(services.schema)),
            (case_id, version),
        ).fetchone()
    return topic, bytes(state)


def propose(client: TestClient, auth, **params: str) -> tuple[UUID, str]:
    cmd = b.propose(municipality=MUNICIPALITY, region=REGION)
    answer = client.post("/cases", json=body(cmd), headers=auth(), params=params)
    assert answer.status_code == 201, answer.text
    return UUID(answer.json()["case_id"]), cmd.individual.personal_identity_number


# ------------------------------------------------------------------ a poison event


def test_an_event_the_read_models_cannot_hold_is_quarantined_and_the_rest_goes_on(
    client: TestClient, auth, services: Services, http_store: Store, monkeypatch,
) -> None:
    case_id, pin = propose(client, auth)
    consent = body(b.consent(case_id, organisations=(MUNICIPALITY.id, REGION.id, FK.id)))
    assert client.post(f"/cases/{case_id}/consent", json=consent,
                       headers=auth()).status_code == 200
    fk = auth(Role.SERVICE, organisation=FK, person="fk-1")
    before = client.get(f"/cases/{case_id}", headers=fk)
    assert before.status_code == 200 and before.json()["view"] == "full"
    assert pin in before.text  # named by the consent: FK reads in full, for now

    # An older release's event: a case whose region id holds a NUL byte (which a text column
    # cannot), and a later event of the same case, written through the recorder (chain and all).
    topic, state = stored(services, case_id, 1)
    assert POISON_REGION.replace(b"\\u0000", b"") in state
    poison = uuid4()
    consent_topic, consent_state = stored(services, case_id, 2)
    services.ledger.recorder.insert_events([
        StoredEvent(originator_id=poison, originator_version=1, topic=topic,
                    state=state.replace(POISON_REGION.replace(b"\\u0000", b""), POISON_REGION)),
    ])
    services.ledger.recorder.insert_events([
        StoredEvent(originator_id=poison, originator_version=2, topic=consent_topic,
                    state=consent_state),
    ])
    poison_ids = [head(services) - 1, head(services)]

    # The consent withdrawn after the poison: it must take effect.
    withdrawn = client.post(f"/cases/{case_id}/consent/withdrawal", json={}, headers=auth())
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["projected"] is True
    settle(services)
    runner = services.runner
    assert runner.thread is not None and runner.thread.is_alive()
    assert runner.failures == 0
    assert min(runner.positions.values()) == head(services)

    after = client.get(f"/cases/{case_id}", headers=fk)
    assert after.status_code == 403, after.text  # no longer named by a valid consent
    assert pin not in after.text
    own = client.get(f"/cases/{case_id}", headers=auth())
    assert own.status_code == 200 and own.json()["view"] == "restricted"
    assert pin not in own.text

    # The quarantine: the event that cannot be held, and the case's later event behind it.
    rows = [r for r in quarantine(services, poison) if r[0] == "plans"]
    assert [(r[1], r[2], r[3]) for r in rows] == [
        (poison_ids[0], "SipProposed", "DataError"),
        (poison_ids[1], "ConsentRecorded", "Held"),
    ]
    assert "NUL" in rows[0][4]
    for row in quarantine(services, poison):
        assert "\x00" not in row[4] and pin not in row[4] and "Kim" not in row[4]

    # The case itself: 503 naming the cause, never a 404 or a half record.
    auditor = auth(Role.AUDITOR, person="audit-1")
    refused = client.get(f"/cases/{poison}", headers=auditor)
    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"].startswith(PROBLEM)
    assert refused.json()["type"].endswith("read-model-quarantined")
    assert "could not apply an event" in refused.json()["detail"]
    assert "Retry-After" in refused.headers
    # A command on it is decided from the log, not refused as unknown.
    command = client.post(f"/cases/{poison}/wishes", json={"wishes": {"place": "Hemma"}},
                          headers=auth())
    assert command.status_code not in (404, 500), command.text
    if command.status_code == 200:  # recorded: held behind the poison in the plans model
        settle(services)
        poison_ids.append(command.json()["notification_id"])
        assert [r[1] for r in quarantine(services, poison) if r[0] == "plans"] == poison_ids

    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["degraded"] is True
    assert ready.json()["quarantined_events"]["plans"] == len(poison_ids)
    metrics = client.get("/metrics").text
    assert 'sip_read_model_quarantined_events{model="plans"}' in metrics
    assert 'sip_read_model_quarantined_events{model="plans"} 0.0' not in metrics

    shown = cli_run(http_store, "projections", "status")
    assert shown.returncode == 0, shown.stderr
    assert "Quarantined events" in shown.stdout
    assert str(poison) in shown.stdout and "DataError" in shown.stdout
    assert pin not in shown.stdout

    # A rebuild by the same code applies nothing new: the event stays quarantined.
    rebuild(services.datastore, CurrentPlans)
    assert [r[1] for r in quarantine(services, poison) if r[0] == "plans"] == poison_ids
    # A fixed release (here: text columns without the NUL) applies it, and the quarantine
    # row goes with it.
    original = CurrentPlans.record_row

    def without_nul(self, record):
        return tuple(v.replace("\x00", "") if isinstance(v, str) else v
                     for v in original(self, record))

    monkeypatch.setattr(CurrentPlans, "record_row", without_nul)
    rebuild(services.datastore, CurrentPlans)
    assert [r for r in quarantine(services, poison) if r[0] == "plans"] == []
    settle(services)
    now_read = client.get(f"/cases/{poison}", headers=auditor)
    assert now_read.status_code == 200, now_read.text
    assert now_read.json()["consent"] is not None  # its later event was applied too


# ------------------------------------------------------------------ a stalled model


@pytest.fixture
def locked_plans(services: Services) -> Iterator[psycopg.Connection]:
    """rm_case_plans locked ACCESS EXCLUSIVE by another connection until the test releases it."""
    conn = psycopg.connect(services.store.conninfo)
    conn.execute(SQL("LOCK TABLE {}.rm_case_plans IN ACCESS EXCLUSIVE MODE").format(
        Identifier(services.schema)))
    try:
        yield conn
    finally:
        conn.rollback()
        conn.close()


def test_a_locked_plans_model_never_turns_commands_into_404_and_readyz_reports_it(
    client: TestClient, auth, services: Services, locked_plans: psycopg.Connection,
) -> None:
    settle(services)
    started = time.monotonic()
    # Created while the model is locked: the model has never seen it.
    case_id, pin = propose(client, auth)
    created = time.monotonic()
    assert created - started < PROJECTION_WAIT_S + 3  # the wait is bounded

    # /readyz reports the stall within its configured age (plus a poll's slack).
    stalled = None
    while time.monotonic() - created < MAX_AGE_S + 3:
        answer = client.get("/readyz")
        if answer.status_code == 503:
            stalled = answer
            break
        time.sleep(0.2)
    assert stalled is not None, "readyz stayed 200 while the plans model was locked"
    assert time.monotonic() - started <= MAX_AGE_S + PROJECTION_WAIT_S + 3
    assert "stalled" in stalled.json()["detail"]
    assert "SIP_READY_MAX_PROJECTION_AGE_S" in stalled.json()["detail"]

    statuses = []
    for caller in (auth(), auth(organisation=REGION, person="hsa-3001"), auth()):
        sent = time.monotonic()
        answer = client.post(f"/cases/{case_id}/wishes", json={"wishes": {"place": "Hemma"}},
                             headers=caller)
        statuses.append(answer.status_code)
        assert answer.status_code != 404, answer.text
        assert answer.status_code in (200, 503), answer.text
        assert time.monotonic() - sent < 2 * PROJECTION_WAIT_S + 3
    assert 200 in statuses  # the party check asked the log: the commands were recorded

    # A read that depends on consent refuses rather than answers from the stalled model.
    read = client.get(f"/cases/{case_id}", headers=auth())
    assert read.status_code == 503, read.text
    assert read.json()["type"].endswith("read-models-behind")
    assert "Retry-After" in read.headers
    assert pin not in read.text

    locked_plans.rollback()  # the lock goes; the runner catches up
    settle(services)
    assert client.get("/readyz").status_code == 200
    read = client.get(f"/cases/{case_id}", headers=auth())
    assert read.status_code == 200, read.text
    assert read.json()["version"] == 4  # proposed + three wishes
    assert quarantine(services, case_id) == []  # a lock is waited out, never quarantined


@contextmanager
def locked(services: Services, *tables: str) -> Iterator[None]:
    """``tables`` locked ACCESS EXCLUSIVE by another connection (an operator's LOCK TABLE) for
    the duration; released (rolled back) at the end."""
    with psycopg.connect(services.store.conninfo) as conn:
        for table in tables:
            conn.execute(SQL("LOCK TABLE {}.{} IN ACCESS EXCLUSIVE MODE").format(
                Identifier(services.schema), Identifier(table)))
        try:
            yield
        finally:
            conn.rollback()


def assert_behind_quickly(client: TestClient, path: str, headers: dict[str, str],
                          **params: Any) -> None:
    """A read of a locked read model: 503 read-models-behind with Retry-After, within the lock
    timeout (at most the projection wait) and some slack, never after the lock is gone."""
    sent = time.monotonic()
    answer = client.get(path, headers=headers, params=params)
    took = time.monotonic() - sent
    assert answer.status_code == 503, (path, answer.status_code, answer.text)
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["type"].endswith("/read-models-behind"), answer.text
    assert int(answer.headers["Retry-After"]) > 0
    assert took < PROJECTION_WAIT_S + 3, (path, took)


def test_lists_the_feed_and_dashboards_answer_503_rather_than_wait_on_a_locked_model(
    client: TestClient, auth, services: Services,
) -> None:
    case_id, pin = propose(client, auth)
    settle(services)  # every model current: only the lock can hold a read up
    service = auth(Role.SERVICE, scopes=("feed:personal",))
    coordinator, auditor = auth(), auth(Role.AUDITOR)

    with locked(services, "rm_case_plans"):
        # The feed decides personal data from the plans model (R13): a page is 503, not late.
        assert_behind_quickly(client, "/events", service, case_id=str(case_id))
        assert_behind_quickly(client, "/cases", coordinator)
        assert_behind_quickly(client, "/cases", auditor, stage="proposed")

    with locked(services, "rm_deadlines", "rm_deadline_cases"):
        assert_behind_quickly(client, "/dashboard/deadlines", coordinator)
        assert_behind_quickly(client, "/dashboard/counts", auditor)
        assert_behind_quickly(client, "/dashboard/adherence", coordinator)
        assert_behind_quickly(client, "/dashboard/first-meetings", coordinator)

    # The locks gone, the same reads answer (and the feed shows the case in full).
    page = client.get("/events", headers=service, params={"case_id": str(case_id)})
    assert page.status_code == 200, page.text
    assert pin in page.text
    assert client.get("/cases", headers=coordinator).status_code == 200
    assert client.get("/dashboard/deadlines", headers=coordinator).status_code == 200


def test_only_errors_of_the_data_are_quarantined_and_their_messages_carry_no_values() -> None:
    assert is_poison(psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"))
    assert is_poison(KeyError("region"))
    for transient in (psycopg.OperationalError("connection lost"), OperationalError("gone"),
                      psycopg.errors.LockNotAvailable("lock timeout"),
                      psycopg.errors.QueryCanceled("statement timeout"),
                      psycopg.errors.DiskFull("disk full")):
        assert not is_poison(transient), transient
    name, message = describe(psycopg.DataError(
        'invalid input syntax for type date: "19121212-1212 Kim Karlsson"'))
    assert name == "DataError" and "Kim" not in message and "1212" not in message


def test_a_case_not_in_the_log_is_still_404(client: TestClient, auth) -> None:
    answer = client.post(f"/cases/{uuid4()}/wishes", json={"wishes": {"place": "Hemma"}},
                         headers=auth())
    assert answer.status_code == 404, answer.text
