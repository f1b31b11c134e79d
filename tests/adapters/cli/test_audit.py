"""``sip-ledger audit``: verify (exit 0 when intact; one line naming the first broken position
and its case otherwise), checkpoint, checkpoints --export, public-key."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg.sql import SQL, Identifier
from typer.testing import CliRunner, Result

from adapters.audit.checkpoints import key_id_of
from adapters.cli.root import app
from adapters.logging import reset_logging
from adapters.store import Store
from tests.conftest import TEST_SECRET
from tests.support.audit import write_cases

pytestmark = pytest.mark.store

KEY = Ed25519PrivateKey.generate()
RAW_KEY = base64.b64encode(KEY.private_bytes(
    serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
)).decode()


@pytest.fixture
def schema(database_url: str) -> Iterator[str]:
    name = f"test_auditcli_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(name)))


@pytest.fixture
def invoke(database_url: str, schema: str, tmp_path: Path) -> Callable[..., Result]:
    def run(*args: str, **env: str) -> Result:
        environment = {
            "SIP_DATABASE_URL": database_url,
            "SIP_DATABASE_SCHEMA": schema,
            "SIP_DATA_DIR": str(tmp_path / "var"),
            "SIP_LOG_FORMAT": "json",
            "SIP_AUDIT_SIGNING_KEY": RAW_KEY,
            **{f"SIP_{k.upper()}": v for k, v in env.items()},
        }
        try:
            return CliRunner().invoke(app, list(args), env=environment)
        finally:
            reset_logging()

    return run


@pytest.fixture
def store(database_url: str, schema: str) -> Store:
    store = Store(conninfo=database_url, schema=schema)
    ledger = store.ledger(individual_secret=TEST_SECRET)
    try:
        write_cases(ledger, 3)
    finally:
        ledger.close()
    return store


def test_verify_an_intact_log_then_a_tampered_one(
    invoke: Callable[..., Result], store: Store, tmp_path: Path
) -> None:
    written = invoke("audit", "checkpoint")
    assert written.exit_code == 0, written.output
    assert "checkpoint at position 9" in written.stdout and key_id_of(KEY.public_key()) in (
        written.stdout)
    assert "nothing new" in invoke("audit", "checkpoint").stdout

    # A verifier with only the public key.
    public = tmp_path / "public.pem"
    printed = invoke("audit", "public-key")
    assert printed.exit_code == 0 and "PRIVATE" not in printed.stdout
    public.write_text(printed.stdout)
    ok = invoke("audit", "verify", "--public-key", str(public), audit_signing_key="")
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.startswith("intact: 9 events up to position 9, 1 signed checkpoint")

    # Tampered: one line naming the position and the case.
    with store.connect() as conn:
        case_id = conn.execute(SQL("SELECT originator_id FROM {}.sipledger_events WHERE "
                                   "notification_id = 4").format(Identifier(store.schema))
                               ).fetchone()[0]
        conn.execute("SET session_replication_role = replica")
        conn.execute(SQL("UPDATE {}.sipledger_events SET state = overlay(state placing 'x' "
                         "from 5 for 1) WHERE notification_id = 4").format(
            Identifier(store.schema)))
        conn.execute(SQL("DELETE FROM {}.sipledger_events WHERE notification_id = 7").format(
            Identifier(store.schema)))
        conn.commit()
    broken = invoke("audit", "verify", "--public-key", str(public))
    assert broken.exit_code == 1
    lines = broken.stderr.strip().splitlines()
    assert lines == [f"broken at position 4 (case {case_id}, version 1): altered: the event's "
                     "hash does not match the chain: the row was changed, moved, or put in "
                     "place of another (and 1 more problem)"]
    listed = invoke("audit", "verify", "--all")
    assert listed.exit_code == 1
    assert listed.stderr.strip().splitlines()[1].startswith("  position 7 (case ")


def test_checkpoints_export_and_verify_against_the_copy(
    invoke: Callable[..., Result], store: Store, tmp_path: Path
) -> None:
    assert invoke("audit", "checkpoint").exit_code == 0
    listed = invoke("audit", "checkpoints")
    assert listed.exit_code == 0 and "valid" in listed.stdout
    copy = tmp_path / "checkpoints.jsonl"
    exported = invoke("audit", "checkpoints", "--export", str(copy))
    assert exported.exit_code == 0, exported.output
    entry = json.loads(copy.read_text())
    assert entry["position"] == 9 and entry["public_key"]

    # The copy alone (with its public key) verifies the store, no key configured.
    alone = invoke("audit", "verify", "--checkpoints", str(copy), audit_signing_key="")
    assert alone.exit_code == 0, alone.output
    # Checkpoints deleted from the store: the copy still holds it to them.
    with store.connect() as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(SQL("DELETE FROM {}.sipledger_checkpoints").format(
            Identifier(store.schema)))
        conn.commit()
    assert invoke("audit", "verify").exit_code == 0  # the store alone cannot tell
    caught = invoke("audit", "verify", "--checkpoints", str(copy))
    assert caught.exit_code == 1
    assert caught.stderr.startswith("broken at position 9: checkpoint missing")


def test_a_bad_key_setting_is_one_line(invoke: Callable[..., Result], store: Store) -> None:
    result = invoke("audit", "checkpoint", audit_signing_key="bm90IGEga2V5")
    assert result.exit_code == 2
    assert result.stderr.startswith("error field SIP_AUDIT_SIGNING_KEY:")


def test_verify_on_a_schema_without_a_ledger(invoke: Callable[..., Result]) -> None:
    result = invoke("audit", "verify")
    assert result.exit_code == 1
    assert "no audit chain" in result.stderr
