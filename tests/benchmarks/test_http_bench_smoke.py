"""Smoke test of the HTTP benchmark at a tiny size: the service starts in a process of its own,
the clients and the SSE client get their answers, bench.json gets the figures, and the run
leaves no schema and no process behind.

No speed is asserted here; the figures themselves are for `make bench` to print.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from tests.benchmarks import http as bench
from tests.benchmarks.figures import merge_figures

pytestmark = pytest.mark.store


def test_http_benchmark_writes_its_figures(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    # Another benchmark's figure, and a stale one of ours, are already in the file.
    merge_figures(out, [
        {"name": "sip_commands_per_s", "value": 1.0, "unit": "commands/s"},
        {"name": bench.LATENCY_P99, "value": -1.0, "unit": "ms"},
    ])
    with psycopg.connect(database_url) as conn:
        schemas_before = _bench_schemas(conn)
    default_out = bench.DEFAULT_OUT
    before = default_out.stat().st_mtime_ns if default_out.exists() else None

    assert bench.main([
        "--commands", "48", "--clients", "2", "--raw-saves", "20", "--rounds", "2",
        "--sse-commands", "6", "--sse-interval-ms", "5",
        "--out", str(out), "--database-url", database_url,
    ]) == 0

    figures = {f["name"]: f for f in json.loads(out.read_text())}
    assert figures["sip_commands_per_s"]["value"] == 1.0  # left alone
    assert set(bench.FIGURE_NAMES) <= set(figures)
    printed = capsys.readouterr().out
    for name in bench.FIGURE_NAMES:
        assert figures[name]["value"] > 0, name  # the stale -1 was replaced
        assert name in printed

    p99 = figures[bench.LATENCY_P99]
    assert p99["unit"] == "ms" and p99["goal"] == {"at_most": bench.GOAL_LATENCY_P99_MS}
    assert p99["samples"] == 48 and p99["clients"] == 2
    assert p99["value"] >= figures[bench.LATENCY_P50]["value"]
    assert set(p99["by_command"]) == set(bench.MIX)
    assert all(row["count"] == 8 for row in p99["by_command"].values())

    rate, raw_n, raw_1 = (figures[n] for n in (bench.THROUGHPUT, bench.RAW_N, bench.RAW_1))
    assert rate["unit"] == "commands/s" and rate["baseline"] == bench.RAW_N
    assert rate["ratio"] == pytest.approx(rate["value"] / raw_n["value"], rel=0.01)
    assert rate["ratio_vs_1_thread"] == pytest.approx(rate["value"] / raw_1["value"], rel=0.01)
    assert raw_n["threads"] == 2 and raw_1["threads"] == 1

    sse = figures[bench.SSE_P99]
    assert sse["samples"] == 6 and sse["missing"] == 0
    assert sse["goal"] == {"at_most": bench.GOAL_SSE_P99_MS}

    run = rate["run"]
    assert run["clients"] == 2 and run["commands"] == 48 and run["server_version"]
    assert run["time"] and run["server"] == "external"  # --database-url

    with psycopg.connect(database_url) as conn:
        assert _bench_schemas(conn) == schemas_before, "the run left its schemas behind"
    after = default_out.stat().st_mtime_ns if default_out.exists() else None
    assert after == before, "the smoke test wrote the real bench.json"


def _bench_schemas(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench\\_%'"
    ).fetchall()
    return {r[0] for r in rows}
