"""`sip-ledger keys`: the key-encryption key checked, rotated, and refused in one line when it is
wrong or missing (issue 12: "a wrong or missing key-encryption key: the service and CLI refuse
to start with one clear line, and never write with a wrong key")."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.sql import SQL, Identifier
from typer.testing import CliRunner, Result

from adapters.cli.root import app
from adapters.logging import reset_logging
from adapters.store import Store
from adapters.store.keys import FileKek, keys_conninfo
from tests.conftest import TEST_SECRET
from tests.support import builders as b


@pytest.fixture
def schema(database_url: str) -> Iterator[str]:
    name = f"test_keyscli_{uuid.uuid4().hex[:10]}"
    yield name
    for url in (database_url, keys_conninfo(database_url)):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(name)))


@pytest.fixture
def invoke(database_url: str, schema: str, tmp_path: Path) -> Callable[..., Result]:
    def run(*args: str, **env: str) -> Result:
        environment = {
            "SIP_DATABASE_URL": database_url,
            "SIP_DATABASE_SCHEMA": schema,
            "SIP_DATA_DIR": str(tmp_path / "var"),
            "SIP_LOG_FORMAT": "json",
            **{f"SIP_{k.upper()}": v for k, v in env.items()},
        }
        try:
            return CliRunner().invoke(app, list(args), env=environment)
        finally:
            reset_logging()

    return run


def _kek_file(path: Path, byte: int) -> Path:
    path.write_bytes(base64.b64encode(bytes([byte]) * 32))
    return path


def test_check_rotate_and_refuse_a_wrong_or_missing_kek(
    invoke: Callable[..., Result], database_url: str, schema: str, tmp_path: Path
) -> None:
    first, second = _kek_file(tmp_path / "kek-1", 1), _kek_file(tmp_path / "kek-2", 2)
    store = Store(conninfo=database_url, schema=schema, kek=FileKek.from_file(first))
    ledger = store.ledger(individual_secret=TEST_SECRET)
    try:
        case_id = ledger.propose(b.propose(age=10, guardians=("Gustav Gran",)), b.actor()).case_id
    finally:
        ledger.close()

    checked = invoke("keys", "check", kek_file=str(first))
    assert checked.exit_code == 0, checked.output
    assert "2 data keys, 0 destroyed" in checked.output

    wrong = invoke("keys", "check", kek_file=str(second))
    assert wrong.exit_code == 2
    [line] = wrong.output.strip().splitlines()
    assert line.startswith("error field SIP_KEK_FILE: the key-encryption key does not open")

    missing = invoke("keys", "check", kek_file=str(tmp_path / "nowhere"))
    assert missing.exit_code == 2
    [line] = missing.output.strip().splitlines()
    assert line.startswith("error field SIP_KEK_FILE: cannot read the key-encryption key")

    # The wrong key writes nothing: no command goes through a ledger it cannot open.
    refused = invoke("retention", "due", "--json", kek_file=str(second))
    assert refused.exit_code != 0 and "SIP_KEK_FILE" in refused.output

    rotated = invoke("keys", "rotate", "--new-kek-file", str(second), kek_file=str(first))
    assert rotated.exit_code == 0, rotated.output
    assert "2 data keys re-wrapped" in rotated.output
    assert invoke("keys", "check", kek_file=str(first)).exit_code == 2
    assert invoke("keys", "check", kek_file=str(second)).exit_code == 0
    reopened = Store(conninfo=database_url, schema=schema, kek=FileKek.from_file(second)).ledger(
        individual_secret=TEST_SECRET)
    try:
        assert reopened.get_case(case_id).individual.guardians[0].name == "Gustav Gran"
    finally:
        reopened.close()
