"""Smoke test of the read-model benchmark at a tiny size: it runs end to end, writes its figures,
reuses its log on a second run, and leaves the log as the demo made it.

No speed is asserted here; the figures themselves are for `make bench` to print.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from tests.benchmarks import read_models as rm
from tests.benchmarks.figures import merge_figures

pytestmark = pytest.mark.store


@pytest.fixture
def log_schema(database_url: str) -> Iterator[str]:
    schema = f"test_rmbench_{uuid.uuid4().hex[:10]}"
    yield schema
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(Identifier(schema)))


def test_read_model_benchmark_writes_its_figures(
    database_url: str, log_schema: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    merge_figures(out, [{"name": "sip_commands_per_s", "value": 1.0, "unit": "commands/s"}])
    default_out = rm.DEFAULT_OUT
    before = default_out.stat().st_mtime_ns if default_out.exists() else None
    tiny = [
        "--database-url", database_url, "--schema", log_schema, "--out", str(out),
        "--cases", "300", "--chunk-cases", "150", "--baseline-events", "300",
        "--latency-commands", "20", "--query-repeats", "5",
    ]

    assert rm.main(tiny) == 0

    printed = capsys.readouterr().out
    assert "adding 300 cases" in printed and "seed " in printed
    figures = {f["name"]: f for f in json.loads(out.read_text())}
    assert figures["sip_commands_per_s"]["value"] == 1.0  # another benchmark's, left alone
    assert set(rm.FIGURE_NAMES) <= set(figures)
    for name in rm.FIGURE_NAMES:
        assert figures[name]["value"] > 0, name
        assert name in printed
    catch_up, library = figures[rm.CATCH_UP], figures[rm.LIBRARY]
    log = catch_up["run"]["log"]
    assert log["cases"] == 300 and log["events"] > 2 * 300 and not log["reused"]
    assert not log["issue_size"]
    assert catch_up["events"] == log["events"]
    assert catch_up["baseline"] == rm.LIBRARY
    assert catch_up["ratio"] == pytest.approx(catch_up["value"] / library["value"], rel=0.01)
    assert library["events"] >= 300
    assert figures[rm.VISIBLE_P99]["samples"] == 20 and figures[rm.VISIBLE_P99]["timeouts"] == 0
    assert figures[rm.NOTIFY_P99]["samples"] == 20
    dashboard = figures[rm.DASHBOARD_P95]
    assert dashboard["cases"] == 300
    assert all(row["count"] == 5 for row in dashboard["by_query"].values())
    assert len(dashboard["by_query"]) == 7

    # The log is append-only: the latency commands stay in it; the read models are dropped.
    with psycopg.connect(database_url) as conn:
        events = conn.execute(SQL("SELECT count(*) FROM {}.sipledger_events").format(
            Identifier(log_schema))).fetchone()[0]
        tables = {r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (log_schema,))}
    assert events > log["events"]
    assert not {t for t in tables if t.startswith(("rm_", rm.LIBRARY_PROJECTION))}

    # A second run reuses the log as it is.
    assert rm.main([*tiny, "--latency-commands", "2", "--query-repeats", "1"]) == 0
    assert "log reused: " in capsys.readouterr().out
    assert json.loads(out.read_text())[1]["run"]["log"]["reused"]

    after = default_out.stat().st_mtime_ns if default_out.exists() else None
    assert after == before, "the smoke test wrote the real bench.json"
