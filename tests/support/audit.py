"""What the audit tests share: a ledger with some cases, a signing key, and tampering as the
database owner (the append-only triggers refuse UPDATE and DELETE, so an attacker with owner
rights switches them off for the session: ``SET session_replication_role = replica``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL, Identifier

from adapters.audit.checkpoints import SigningKey
from adapters.store import Store
from domain.ledger import SipLedger
from tests.support import builders as b


@dataclass
class Audited:
    store: Store
    ledger: SipLedger
    datastore: PostgresDatastore
    key: SigningKey

    def table(self, name: str) -> SQL:
        return SQL("{}.{}").format(Identifier(self.store.schema), Identifier(name))

    def query(self, statement: str, params: Any = None, **tables: str) -> list[tuple]:
        sql = SQL(statement).format(**{k: self.table(v) for k, v in tables.items()})
        with self.store.connect() as conn:
            return conn.execute(sql, params).fetchall()

    def tamper(self, *statements: str, params: Any = None) -> None:
        """Run statements as the owner with the append-only triggers off, in one transaction.
        ``{events}``, ``{chain}``, ``{checkpoints}``, ``{commands}`` name the tables."""
        names = {
            "events": self.table("sipledger_events"),
            "chain": self.table("sipledger_chain"),
            "checkpoints": self.table("sipledger_checkpoints"),
            "commands": self.table("sipledger_commands"),
        }
        with self.store.connect() as conn:
            conn.execute("SET session_replication_role = replica")
            for statement in statements:
                conn.execute(SQL(statement).format(**names),
                             params if "%" in statement else None)
            conn.commit()

    def event(self, position: int) -> tuple:
        """(originator_id, originator_version, topic, state) of the event at a position."""
        rows = self.query("SELECT originator_id, originator_version, topic, state FROM {e} "
                          "WHERE notification_id = %s", (position,), e="sipledger_events")
        return rows[0]

    def head(self) -> int:
        return self.query("SELECT max(notification_id) FROM {e}", e="sipledger_events")[0][0]


def new_key() -> SigningKey:
    return SigningKey(Ed25519PrivateKey.generate(), "test")


def write_cases(ledger: SipLedger, cases: int) -> list:
    """``cases`` cases, each proposed and consented (with the individuals' registers: three
    aggregates' events interleave in the log)."""
    ids = []
    for _ in range(cases):
        case_id = ledger.propose(b.propose(), b.actor()).case_id
        ledger.record_consent(b.consent(case_id), b.actor())
        ids.append(case_id)
    return ids
