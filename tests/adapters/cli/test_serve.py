"""``sip-ledger token`` and ``sip-ledger serve``: development tokens, the refusals as one line,
and the demo service started as ``make run`` starts it, asked if it is ready, and stopped."""

from __future__ import annotations

import base64
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import jwt
import pytest
from typer.testing import CliRunner, Result

from adapters.cli.root import app
from adapters.cli.token import parse_ttl
from adapters.logging import reset_logging
from tests.conftest import ROOT
from tests.support.http import TEST_ORGANISATIONS_FILE

SECRET = "a-cli-test-secret-long-enough-for-hs256!"


def invoke(*args: str, **env: str) -> Result:
    environment = {"SIP_LOG_FORMAT": "json", "SIP_JWT_SECRET": SECRET,
                   **{f"SIP_{k.upper()}": v for k, v in env.items()}}
    try:
        return CliRunner().invoke(app, list(args), env=environment)
    finally:
        reset_logging()


TOKEN_ARGS = ("token", "--person", "hsa-2002", "--name", "Karin Lund", "--org-id", "region-vg",
              "--org-kind", "region", "--org-name", "Västra Götalandsregionen",
              "--unit", "Vårdcentralen", "--role", "coordinator", "--role", "service")


# ------------------------------------------------------------------ token


def test_token_prints_a_signed_token_with_the_claims():
    result = invoke(*TOKEN_ARGS, "--scope", "feed:personal", "--ttl", "30m")
    assert result.exit_code == 0, result.output
    [token] = result.stdout.split()  # nothing else on stdout: TOKEN=$(sip-ledger token …)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["sub"] == "hsa-2002"
    assert claims["name"] == "Karin Lund"
    assert claims["org_id"] == "region-vg" and claims["org_kind"] == "region"
    assert claims["org_name"] == "Västra Götalandsregionen"
    assert claims["unit"] == "Vårdcentralen"
    assert claims["roles"] == ["coordinator", "service"]
    assert claims["scope"] == "feed:personal"
    assert claims["exp"] - claims["iat"] == 30 * 60
    assert "valid until" in result.stderr and "Karin" not in result.stderr


def test_a_minted_token_passes_the_services_verifier():
    from adapters.identity.organisations import OrganisationDirectory
    from adapters.identity.tokens import TokenVerifier
    from adapters.settings import Settings

    result = invoke(*TOKEN_ARGS)  # the default lifetime
    assert result.exit_code == 0, result.output
    settings = Settings(jwt_secret=SECRET,
                        organisations_file=TEST_ORGANISATIONS_FILE)
    caller = TokenVerifier(settings).verify(result.stdout.strip())
    assert caller.organisation == OrganisationDirectory.load(
        settings.organisations_file).check(caller.organisation, caller.unit)
    assert caller.person_id == "hsa-2002"


def test_token_refuses_a_lifetime_the_service_would_refuse():
    result = invoke(*TOKEN_ARGS, "--ttl", "13h")
    assert result.exit_code == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error field --ttl: at most 43200 s")
    assert "SIP_TOKEN_MAX_LIFETIME_S" in line
    shorter = invoke(*TOKEN_ARGS, "--ttl", "2h", token_max_lifetime_s="3600")
    assert shorter.exit_code == 2 and "at most 3600 s" in shorter.stderr


def test_token_is_refused_when_a_jwks_is_configured():
    result = invoke(*TOKEN_ARGS, jwks_url="https://idp.example/.well-known/jwks.json")
    assert result.exit_code == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error field SIP_JWKS_URL: a JWKS is configured")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("--ttl", "eight hours"), "error field --ttl: expected a duration"),
        (("--ttl", "90d"), "error field --ttl: at most 30d"),
        (("--name", ""), "error field name:"),
    ],
)
def test_token_refusals_are_one_line(change, expected):
    args = list(TOKEN_ARGS)
    flag, value = change
    if flag in args:
        args[args.index(flag) + 1] = value
    else:
        args += [flag, value]
    result = invoke(*args)
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(expected)


def test_token_refuses_an_unknown_role():
    result = invoke(*TOKEN_ARGS, "--role", "janitor")
    assert result.exit_code == 2
    assert result.stdout == ""


@pytest.mark.parametrize(("text", "seconds"),
                         [("8h", 28800), ("30m", 1800), ("3600s", 3600), ("1d", 86400),
                          ("90", 90)])
def test_ttl_durations(text, seconds):
    assert parse_ttl(text) == seconds


# ------------------------------------------------------------------ serve refusals


def test_serve_demo_is_refused_on_an_external_database():
    result = invoke("serve", "--demo", database_url="postgresql://sip@db.example:5432/sip")
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("error field SIP_DATABASE_URL: --demo runs on the embedded")


# What a production start needs besides the JWT secret (adapters/cli/production.py).
PRODUCTION = {
    "individual_key": "a-cli-test-individual-key",
    "audit_signing_key": base64.b64encode(bytes(range(32))).decode(),
    "organisations_file": str(TEST_ORGANISATIONS_FILE),
}


def test_serve_refuses_a_port_in_use():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke("serve", "--port", str(port),
                        database_url="postgresql://sip@db.example:5432/sip", **PRODUCTION)
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error field SIP_PORT: cannot listen on 127.0.0.1:{port}")


# ------------------------------------------------------------------ serve --demo, for real


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float, process: subprocess.Popen) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: httpx.Response | None = None
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the service exited with {process.returncode}"
        try:
            last = httpx.get(url, timeout=2)
            if last.status_code == 200:
                return last
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready in {timeout}s: {last and last.text}")


@contextmanager
def demo_service(data_dir: Path, port: int, out: Path, err: Path) -> Iterator[subprocess.Popen]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIP_")}
    env.update(SIP_DATA_DIR=str(data_dir), SIP_LOG_FORMAT="json", SIP_JWT_SECRET=SECRET)
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", "from adapters.cli.root import main; main()",
             "serve", "--demo", "--demo-cases", "5", "--seed", "7", "--port", str(port)],
            cwd=ROOT, env=env, stdout=stdout, stderr=stderr,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@pytest.mark.store
def test_serve_demo_loads_cases_once_serves_and_stops_cleanly(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("serve")
    out, err = data_dir / "out.txt", data_dir / "err.txt"
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    with demo_service(data_dir, port, out, err) as process:
        assert wait_for(f"{base}/healthz", 120, process).json() == {"status": "ok"}
        ready = wait_for(f"{base}/readyz", 60, process).json()
        assert ready["status"] == "ready" and ready["head"] > 0 and ready["lag"] == 0
        banner = out.read_text()
        assert "5 demo cases loaded" in banner
        for shown in ("/docs", "/openapi.json", "/healthz", "/readyz", "/metrics",
                      "/events/stream"):
            assert f"{base}{shown}" in banner
        tokens = dict(re.findall(r"^  (\w+)  \(.*\)\n    (\S+)$", banner, re.MULTILINE))
        assert set(tokens) == {"coordinator", "supervisor", "auditor", "service", "archivist"}
        feed = httpx.get(f"{base}/events", params={"limit": 3},
                         headers={"Authorization": f"Bearer {tokens['service']}"})
        assert feed.status_code == 200, feed.text
        assert len(feed.json()["events"]) == 3
        assert "sip_event_log_head" in httpx.get(f"{base}/metrics").text
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    assert '"event": "service stopped"' in err.read_text()
    assert not (data_dir / "pgdata" / "postmaster.pid").exists()  # the server it started

    # A second start finds the demo database filled and loads nothing.
    with demo_service(data_dir, port, out, err) as process:
        again = wait_for(f"{base}/readyz", 120, process).json()
        assert again["head"] == ready["head"]
        assert "nothing loaded" in out.read_text()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
