"""The event log and the command log are append-only: UPDATE, DELETE and TRUNCATE are refused by
the store itself (a trigger the recorder creates), whoever connects."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from adapters.store import Store
from domain.ledger import SipLedger
from tests.support import builders as b

pytestmark = pytest.mark.store

CHANGES = (
    "UPDATE {} SET {} = {}",
    "DELETE FROM {}",
    "TRUNCATE {}",
)


@pytest.mark.parametrize("table, column", [
    ("sipledger_events", "state"),
    ("sipledger_commands", "command"),
])
@pytest.mark.parametrize("change", CHANGES)
def test_recorded_rows_cannot_be_changed_or_removed(
    store: Store, ledger: SipLedger, table: str, column: str, change: str
) -> None:
    ledger.propose(b.propose(), b.actor())
    qualified = SQL("{}.{}").format(Identifier(store.schema), Identifier(table))
    count = SQL("SELECT count(*), md5(string_agg({}::text, '' ORDER BY 1)) FROM {}").format(
        Identifier(column), qualified)
    with store.connect(autocommit=True) as conn:
        before = conn.execute(count).fetchone()
        statement = SQL(change).format(qualified, Identifier(column), Identifier(column))
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(statement)
        assert conn.execute(count).fetchone() == before
