"""The audit trail's fixture: a fresh store with a ledger, its datastore and a signing key
(the helpers that tamper and write cases: tests/support/audit.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from adapters.store import Store
from tests.conftest import TEST_SECRET
from tests.support.audit import Audited, new_key


@pytest.fixture
def audited(fresh_store: Store) -> Iterator[Audited]:
    ledger = fresh_store.ledger(individual_secret=TEST_SECRET)
    datastore = fresh_store.datastore()
    try:
        yield Audited(fresh_store, ledger, datastore, new_key())
    finally:
        ledger.close()
        datastore.close()
