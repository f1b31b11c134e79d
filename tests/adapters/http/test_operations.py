"""Operations: liveness, readiness, Prometheus metrics, request ids and the request log."""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from adapters.bootstrap import Services, open_services
from adapters.http.app import create_app
from adapters.http.auth import principal
from adapters.http.problems import install_problem_handlers
from adapters.http.routes import operations
from adapters.identity.tokens import Principal
from adapters.logging import configure_logging, get_logger, reset_logging
from adapters.store import Store
from domain.commands import Command
from tests.conftest import TEST_SECRET
from tests.support import builders
from tests.support.http import MUNICIPALITY, http_settings

pytestmark = pytest.mark.store

PROBLEM = "application/problem+json"
PIN = "19121212-1212"  # shaped like a personal identity number


def body(cmd: Command) -> dict[str, Any]:
    return cmd.model_dump(mode="json", exclude={"command_id", "case_id"})


@pytest.fixture(scope="module")
def ops_client(services: Services) -> Iterator[TestClient]:
    """The real app, plus two routes of the test's own: one that needs a token and carries an
    id in its path, one that fails."""
    app = create_app(services)

    @app.get("/test-only/cases/{case_id}")
    def look(case_id: str, caller: Principal = Depends(principal)) -> dict[str, str]:
        return {"case_id": case_id}

    @app.get("/test-only/failure")
    def failure() -> None:
        raise RuntimeError("a bug")

    @app.get("/test-only/logs")
    def logs() -> dict[str, str]:
        get_logger("tests.http").info("inside the request", case_id="c-1")
        return {}

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    configure_logging("json", "DEBUG", stream=buffer)
    try:
        yield buffer
    finally:
        reset_logging()


def request_lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == "request"]


def log_head(services: Services) -> int:
    return services.ledger.recorder.max_notification_id() or 0


def caught_up(services: Services) -> None:
    assert services.runner.wait_for(log_head(services), timeout=10)


# ------------------------------------------------------------------ liveness and readiness


def test_healthz_answers_without_a_token(client):
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}
    uuid.UUID(answer.headers["X-Request-ID"])  # a fresh id when the caller sent none


def test_readyz_is_ready_when_the_read_models_are_close_to_the_log(client, auth, services):
    assert client.post("/cases", json=body(builders.propose()), headers=auth()).status_code == 201
    caught_up(services)
    answer = client.get("/readyz")
    assert answer.status_code == 200, answer.text
    ready = answer.json()
    assert ready["status"] == "ready"
    assert ready["head"] >= 1 and ready["lag"] == 0
    assert set(ready["models"]) == {"plans", "deadlines", "history"}


@pytest.fixture
def lagging(fresh_store: Store) -> Iterator[Services]:
    opened = open_services(http_settings(ready_max_lag=0), fresh_store,
                           individual_secret=TEST_SECRET)
    yield opened
    opened.close()


def test_readyz_is_503_when_the_read_models_lag_too_far(lagging):
    with TestClient(create_app(lagging)) as client:
        assert client.get("/readyz").status_code == 200  # an empty log: nothing to lag behind
        lagging.runner.stop()
        for _ in range(2):
            lagging.ledger.propose(builders.propose(), builders.actor())
        answer = client.get("/readyz")
    lag = log_head(lagging)  # the models stand at 0
    assert answer.status_code == 503
    assert answer.headers["content-type"] == PROBLEM
    problem = answer.json()
    assert problem["type"].endswith("/not-ready")
    assert problem["lag"] == lag >= 2 and problem["max_lag"] == 0
    assert f"lag the log by {lag} events" in problem["detail"]
    assert "SIP_READY_MAX_LAG=0" in problem["detail"]
    assert "the read-model runner has stopped" in problem["reasons"]
    assert problem["request_id"] == answer.headers["X-Request-ID"]


def operations_app(datastore: Any) -> FastAPI:
    """An app with only the operations part, on services that are not all there."""
    app = FastAPI()
    install_problem_handlers(app)
    operations.install(app)
    app.state.services = SimpleNamespace(
        settings=http_settings(), datastore=datastore,
        runner=SimpleNamespace(positions={"plans": 0}, thread=None, stopping=threading.Event()),
    )
    return app


def test_readyz_is_503_when_the_store_is_unreachable(unused_port):
    dead = Store(conninfo=f"postgresql://nobody@127.0.0.1:{unused_port}/nothing")
    datastore = dead.datastore(pool_size=1, max_overflow=0)
    datastore.pool.timeout = 1.0  # wait at most a second for a connection
    try:
        with TestClient(operations_app(datastore)) as client:
            answer = client.get("/readyz")
            scraped = client.get("/metrics")
    finally:
        datastore.close()
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"
    assert "the store" in answer.json()["detail"]
    assert "sip_store_up 0.0" in scraped.text


class HangingDatastore:
    schema = "public"

    @contextmanager
    def transaction(self, commit: bool = False) -> Iterator[None]:
        time.sleep(3)
        yield None


def test_readyz_does_not_wait_for_a_store_that_hangs(monkeypatch):
    monkeypatch.setattr(operations, "READY_TIMEOUT_S", 0.2)
    with TestClient(operations_app(HangingDatastore())) as client:
        started = time.monotonic()
        answer = client.get("/readyz")
        took = time.monotonic() - started
    assert answer.status_code == 503
    assert "did not answer within 0.2 s" in answer.json()["detail"]
    assert took < 2


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ------------------------------------------------------------------ request ids


def test_a_sane_request_id_is_kept_and_echoed(ops_client):
    answer = ops_client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.42"})
    assert answer.headers["X-Request-ID"] == "lb-7f3a.42"


@pytest.mark.parametrize("sent", ["has spaces in it", "x" * 200, PIN, "<script>", "191212121212"])
def test_an_odd_request_id_is_replaced(ops_client, sent):
    answer = ops_client.get("/healthz", headers={"X-Request-ID": sent})
    uuid.UUID(answer.headers["X-Request-ID"])


def test_an_unexpected_error_answers_500_with_the_request_id(ops_client):
    answer = ops_client.get("/test-only/failure", headers={"X-Request-ID": "trace-500"})
    assert answer.status_code == 500
    assert answer.headers["content-type"] == PROBLEM
    assert answer.headers["X-Request-ID"] == "trace-500"
    assert answer.json()["request_id"] == "trace-500"
    assert "a bug" not in answer.text


def test_problems_carry_the_request_id(ops_client):
    answer = ops_client.get(f"/test-only/cases/{uuid.uuid4()}", headers={"X-Request-ID": "r-401"})
    assert answer.status_code == 401
    assert answer.json()["request_id"] == "r-401"
    assert answer.headers["X-Request-ID"] == "r-401"


# ------------------------------------------------------------------ the request log


def test_one_log_line_per_request_with_ids_and_no_personal_data(ops_client, auth):
    case_id = str(uuid.uuid4())
    with captured_logs() as logs:
        answer = ops_client.get(
            f"/test-only/cases/{case_id}",
            params={"name": "Kim Karlsson", "pin": PIN},
            headers={**auth(person="hsa-77"), "X-Request-ID": "log-line-1"},
        )
    assert answer.status_code == 200
    [line] = [r for r in request_lines(logs) if r.get("request_id") == "log-line-1"]
    assert line["method"] == "GET"
    assert line["route"] == "/test-only/cases/{case_id}"
    assert line["status"] == 200
    assert line["duration_ms"] >= 0
    assert line["organisation_id"] == MUNICIPALITY.id
    assert line["person_id"] == "hsa-77"
    assert line["level"] == "info"
    text = json.dumps(line)
    for personal in ("Kim", "Karlsson", "Anna Andersson", "1212", case_id, "pin="):
        assert personal not in text


def test_lines_logged_inside_a_request_carry_its_id(ops_client):
    with captured_logs() as logs:
        ops_client.get("/test-only/logs", headers={"X-Request-ID": "inside-1"})
    lines = [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")]
    mine = [line["event"] for line in lines if line.get("request_id") == "inside-1"]
    assert mine == ["inside the request", "request"]


def test_probes_are_logged_at_debug_when_they_succeed(ops_client):
    with captured_logs() as logs:
        ops_client.get("/healthz", headers={"X-Request-ID": "probe-1"})
    [line] = [r for r in request_lines(logs) if r.get("request_id") == "probe-1"]
    assert line["level"] == "debug"


# ------------------------------------------------------------------ metrics


def test_metrics_label_route_templates_never_ids(ops_client, auth, services):
    proposed = ops_client.post(
        "/cases", json=body(builders.propose(municipality=MUNICIPALITY)), headers=auth()
    )
    assert proposed.status_code == 201, proposed.text
    case_id = proposed.json()["case_id"]
    wishes = ops_client.post(f"/cases/{case_id}/wishes", json={"wishes": {"place": "Hemma"}},
                             headers=auth())
    assert wishes.status_code == 200, wishes.text
    ops_client.get(f"/test-only/cases/{case_id}", params={"pin": PIN}, headers=auth())
    ops_client.get(f"/no-such-route/{case_id}")
    ops_client.get("/openapi.json")
    caught_up(services)

    scraped = ops_client.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    text = scraped.text
    assert case_id not in text
    assert "1212" not in text
    assert 'route="/cases/{case_id}/wishes"' in text
    assert 'route="/test-only/cases/{case_id}"' in text
    assert 'route="<unmatched>",status="404"' in text
    assert 'route="/openapi.json",status="200"' in text  # a plain Starlette route
    assert ('sip_http_requests_total{method="POST",route="/cases",status="201"}' in text)
    assert ('sip_http_request_duration_seconds_count{method="POST",route="/cases",status="201"}'
            in text)
    assert 'sip_commands_total{command="propose",outcome="accepted"}' in text
    assert 'sip_commands_total{command="record_wishes",outcome="accepted"}' in text
    assert "sip_store_up 1.0" in text
    assert "sip_projection_runner_up 1.0" in text
    assert 'sip_projection_lag_events{model="plans"} 0.0' in text
    assert f"sip_event_log_head {float(log_head(services))}" in text


def test_refused_commands_are_counted_as_refused(ops_client, auth):
    assert ops_client.post("/cases", json={}, headers=auth()).status_code == 422
    text = ops_client.get("/metrics").text
    assert 'sip_commands_total{command="propose",outcome="refused"}' in text


def test_each_app_has_a_registry_of_its_own(services):
    with TestClient(create_app(services)) as first, TestClient(create_app(services)) as second:
        first.get("/healthz")
        first.get("/healthz")
        second.get("/healthz")
        one = first.get("/metrics").text
        other = second.get("/metrics").text
    assert 'sip_http_requests_total{method="GET",route="/healthz",status="200"} 2.0' in one
    assert 'sip_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in other
