"""Smoke test of the benchmark at a tiny size: it runs, and bench.json gets its figures.

No speed is asserted here; the figures themselves are for `make bench` to print.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from adapters.store.keys import keys_conninfo
from tests.benchmarks import run
from tests.benchmarks.figures import merge_figures

pytestmark = pytest.mark.store


def test_benchmark_writes_both_figures_and_a_ratio(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    # Figures of other benchmarks, and a stale one of ours, are already in the file.
    merge_figures(out, [
        {"name": "projection_events_per_s", "value": 1.0, "unit": "events/s"},
        {"name": run.SIP, "value": -1.0, "unit": "commands/s"},
    ])
    with psycopg.connect(database_url) as conn:
        schemas_before = _bench_schemas(conn)
    keys_before = _key_schemas(database_url)  # the data keys' schemas

    assert run.main([
        "--commands", "12", "--raw-saves", "10", "--rounds", "2",
        "--out", str(out), "--database-url", database_url,
    ]) == 0

    figures = json.loads(out.read_text())
    by_name = {f["name"]: f for f in figures}
    assert [f["name"] for f in figures] == ["projection_events_per_s", run.SIP, run.RAW]
    assert by_name["projection_events_per_s"]["value"] == 1.0  # left alone

    raw, sip = by_name[run.RAW], by_name[run.SIP]
    assert raw["unit"] == "saves/s" and raw["value"] > 0
    assert sip["unit"] == "commands/s" and sip["value"] > 0  # the stale -1 was replaced
    assert sip["baseline"] == run.RAW
    assert sip["ratio"] == pytest.approx(sip["value"] / raw["value"], rel=0.01)
    assert sip["run"]["sizes"]["commands"] == 12 and sip["run"]["sizes"]["raw_saves"] == 10
    assert sip["run"]["server_version"]
    assert set(sip["by_command"]) == set(run.MIX)
    assert all(row["count"] == 2 for row in sip["by_command"].values())

    printed = capsys.readouterr().out
    assert run.RAW in printed and run.SIP in printed and "ratio" in printed
    with psycopg.connect(database_url) as conn:
        assert _bench_schemas(conn) == schemas_before, "the run left its schemas behind"
    assert _key_schemas(database_url) == keys_before, "the run left its key schemas behind"


def test_merging_replaces_by_name_and_refuses_a_foreign_file(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    merge_figures(out, [{"name": "a", "value": 1, "unit": "x"}])
    merge_figures(out, [{"name": "b", "value": 2, "unit": "x"}, {"name": "a", "value": 3,
                                                                   "unit": "x"}])
    assert json.loads(out.read_text()) == [
        {"name": "a", "value": 3, "unit": "x"},
        {"name": "b", "value": 2, "unit": "x"},
    ]
    with pytest.raises(ValueError):
        merge_figures(out, [{"name": "c", "value": 1}])  # no unit
    foreign = tmp_path / "foreign.json"
    foreign.write_text('{"not": "a list"}')
    with pytest.raises(ValueError):
        merge_figures(foreign, [{"name": "a", "value": 1, "unit": "x"}])
    assert foreign.read_text() == '{"not": "a list"}'


def _bench_schemas(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench\\_%'"
    ).fetchall()
    return {r[0] for r in rows}


def _key_schemas(database_url: str) -> set[str]:
    """The benchmark schemas in the key store's database (none while it does not exist)."""
    try:
        conn = psycopg.connect(keys_conninfo(database_url))
    except psycopg.OperationalError:
        return set()
    with conn:
        return _bench_schemas(conn)
