"""Smoke test of the legal-life benchmark (issue 12) at a tiny size: the sealed, clear and
cold-key paths run, due cases are erased by the ledger and by ``retention erase --due``,
bench.json gets every figure, and the run leaves no schema behind in either database.

No speed is asserted here; the figures themselves are for `make bench` to print.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from adapters.store.keys import keys_conninfo
from tests.benchmarks import as_of
from tests.benchmarks import legal_life as bench
from tests.benchmarks.figures import merge_figures
from tests.benchmarks.run import MIX

pytestmark = pytest.mark.store


def test_legal_life_benchmark_writes_its_figures(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    # Another benchmark's figure, and a stale one of ours, are already in the file.
    merge_figures(out, [
        {"name": "sip_commands_per_s", "value": 1.0, "unit": "commands/s"},
        {"name": bench.RATIO, "value": -1.0, "unit": "ratio"},
    ])
    databases = (database_url, keys_conninfo(database_url))
    before = [_bench_schemas(url) for url in databases]

    assert bench.main([
        "--commands", "12", "--rounds", "2", "--erase-cases", "3",
        "--out", str(out), "--database-url", database_url,
    ]) == 0

    figures = {f["name"]: f for f in json.loads(out.read_text())}
    assert figures["sip_commands_per_s"]["value"] == 1.0  # another benchmark's, left alone
    assert set(bench.FIGURE_NAMES) <= set(figures)
    for name in bench.FIGURE_NAMES:
        assert figures[name]["value"] > 0, name  # the stale -1 was replaced
        assert figures[name]["unit"], name
    for name in (bench.SEALED, bench.CLEAR, bench.COLD):
        figure = figures[name]
        assert figure["unit"] == "commands/s" and figure["commands"] == 12
        assert figure["cpu_ms_per_command"] > 0
        assert set(figure["by_command"]) == set(MIX)
    sealed, clear = figures[bench.SEALED], figures[bench.CLEAR]
    assert sealed["baseline"] == bench.CLEAR
    assert sealed["ratio"] == pytest.approx(sealed["value"] / clear["value"], rel=0.01)
    assert figures[bench.RATIO]["value"] == sealed["ratio"]
    assert figures[bench.RATIO]["goal"] == {"at_least": bench.GOAL_RATIO}
    for name in (bench.ERASE, bench.ERASE_CLI):
        erasure = figures[name]
        assert erasure["unit"] == "cases/s" and erasure["cases"] == 3
        assert erasure["keys_destroyed"] >= 3  # at least the individual's key of each case
        assert erasure["log_events_verified"] > 0

    printed = capsys.readouterr().out
    assert bench.RATIO in printed and bench.ERASE in printed and bench.ERASE_CLI in printed
    assert [_bench_schemas(url) for url in databases] == before, "schemas left behind"


def test_as_of_benchmark_reads_the_sealed_case_against_one_in_clear(
    database_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "bench.json"
    databases = (database_url, keys_conninfo(database_url))
    before = [_bench_schemas(url) for url in databases]

    assert as_of.main(["--events", "30", "--runs", "2", "--snapshot-every", "10",
                       "--out", str(out), "--database-url", database_url]) == 0

    figures = {f["name"]: f for f in json.loads(out.read_text())}
    for name in (as_of.P95, as_of.SNAP_P95, as_of.CLEAR_P50, as_of.CLEAR_P95,
                 as_of.CLEAR_SNAP_P50, as_of.CLEAR_SNAP_P95):
        assert figures[name]["value"] > 0 and figures[name]["unit"] == "ms", name
    assert figures[as_of.SNAP_P95]["clear_baseline"]["name"] == as_of.CLEAR_SNAP_P95
    assert figures[as_of.P95]["clear_baseline"]["ratio"] > 0
    assert [_bench_schemas(url) for url in databases] == before, "schemas left behind"


def test_due_pins_are_distinct_and_never_born_on_a_research_day() -> None:
    pins = [bench.due_pin(n) for n in range(3_000)]
    assert len(set(pins)) == len(pins)
    assert not {int(pin[6:8]) for pin in pins} & {5, 15, 25}


def _bench_schemas(url: str) -> set[str]:
    try:
        conn = psycopg.connect(url)
    except psycopg.OperationalError:
        return set()  # no key store database yet
    with conn:
        rows = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench\\_%'"
        ).fetchall()
    return {r[0] for r in rows}
