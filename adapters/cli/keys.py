"""``sip-ledger keys``: the key store's key-encryption key (adapters/store/keys.py).

``check`` opens the key store with the configured KEK (SIP_KEK_FILE) and says how many data keys
it holds; ``rotate`` re-wraps every data key under a new KEK in one transaction, touching no
event — then set SIP_KEK_FILE to the new key and restart the services (the old KEK opens
nothing any more).
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import typer
from psycopg.sql import SQL, Identifier

from adapters.bootstrap import open_store, store_errors
from adapters.cli.errors import reporting_errors
from adapters.logging import get_logger
from adapters.settings import Settings
from adapters.store.keys import FileKek, KeyStore

log = get_logger(__name__)

app = typer.Typer(help="The key store: check the key-encryption key, rotate it.",
                  no_args_is_help=True)


def _key_store(settings: Settings) -> KeyStore:
    with store_errors(settings):
        return open_store(settings).key_store()


@app.command("check")
def check(ctx: typer.Context) -> None:
    """Open the key store with SIP_KEK_FILE and count its data keys (live and erased)."""
    settings: Settings = ctx.obj
    with reporting_errors():
        keys = _key_store(settings)
        try:
            with keys.pool.connection() as conn:
                live, erased = _counts(conn, keys.schema)
        finally:
            keys.close()
    typer.echo(f"key store opens with KEK {keys.kek.key_id}: {live} data keys, "
               f"{erased} destroyed by erasure")


@app.command("rotate")
def rotate(
    ctx: typer.Context,
    new_kek_file: Path = typer.Option(..., "--new-kek-file",
                                      help="The new key-encryption key (base64 of 32 bytes)."),
) -> None:
    """Re-wrap every data key under a new KEK, in one transaction; no event is touched."""
    settings: Settings = ctx.obj
    with reporting_errors():
        new = FileKek.from_file(new_kek_file)
        keys = _key_store(settings)
        try:
            old_id = keys.kek.key_id
            count = keys.rotate(new)
        finally:
            keys.close()
    log.info("key-encryption key rotated", old=old_id, new=new.key_id, data_keys=count)
    typer.echo(f"{count} data keys re-wrapped from KEK {old_id} to KEK {new.key_id}; set "
               f"SIP_KEK_FILE={new_kek_file} and restart the services")


def _counts(conn: psycopg.Connection, schema: str) -> tuple[int, int]:
    row = conn.execute(SQL(
        "SELECT count(*) FILTER (WHERE wrapped IS NOT NULL), "
        "count(*) FILTER (WHERE wrapped IS NULL) FROM {}.sip_data_keys"
    ).format(Identifier(schema))).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])
