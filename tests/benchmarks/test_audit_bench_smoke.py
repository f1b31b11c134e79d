"""Smoke test of the audit benchmark at a tiny size: it makes (then reuses) its log, sealed,
chains a log that predates the chain, verifies, and writes its figure; it refuses a log that holds
personal data in clear. No speed is asserted."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from adapters.store import Store
from adapters.store.keys import keys_conninfo
from tests.benchmarks import audit
from tests.benchmarks.figures import merge_figures
from tests.benchmarks.run import Timings, run_case

pytestmark = pytest.mark.store


@pytest.fixture
def log_schema(database_url: str) -> Iterator[str]:
    schema = f"test_auditbench_{uuid.uuid4().hex[:10]}"
    yield schema
    for url in (database_url, keys_conninfo(database_url)):  # the events', the data keys'
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(schema)))


def test_audit_benchmark_writes_its_figure(
    database_url: str, log_schema: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    merge_figures(out, [{"name": "sip_commands_per_s", "value": 1.0, "unit": "commands/s"}])
    tiny = ["--database-url", database_url, "--schema", log_schema, "--out", str(out),
            "--cases", "40", "--chunk-cases", "20", "--repeats", "2", "--batch-size", "50"]

    assert audit.main(tiny) == 0

    figures = {f["name"]: f for f in json.loads(out.read_text())}
    assert figures["sip_commands_per_s"]["value"] == 1.0  # another benchmark's, left alone
    verify = figures[audit.VERIFY]
    assert verify["value"] > 0 and verify["unit"] == "events/s"
    assert verify["events"] == verify["run"]["log"]["events"] > 80
    assert len(verify["runs"]) == 2 and verify["checkpoints_verified"] == 1
    assert verify["run"]["backfill"] is None
    assert verify["run"]["log"]["sealed"]
    assert audit.VERIFY in capsys.readouterr().out

    # The same log as a version before the chain left it: chained when opened, then verified.
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(SQL("DROP TABLE {}.sipledger_chain, {}.sipledger_checkpoints").format(
            Identifier(log_schema), Identifier(log_schema)))
    assert audit.main([*tiny, "--repeats", "1"]) == 0
    again = {f["name"]: f for f in json.loads(out.read_text())}[audit.VERIFY]
    assert again["run"]["log"]["reused"]
    assert again["run"]["backfill"]["events"] == verify["events"]
    assert "backfill: " in capsys.readouterr().out


def test_audit_benchmark_refuses_a_log_in_clear(database_url: str, log_schema: str,
                                                tmp_path: Path) -> None:
    store = Store(conninfo=database_url, schema=log_schema)
    ledger = store.ledger(individual_secret=audit.SECRET, sealed=False)  # as before issue 12
    try:
        run_case(ledger, 1, Timings())
    finally:
        ledger.close()

    with pytest.raises(SystemExit, match="in clear"):
        audit.main(["--database-url", database_url, "--schema", log_schema,
                    "--out", str(tmp_path / "bench.json"), "--cases", "1", "--repeats", "1"])
    assert not (tmp_path / "bench.json").exists()
