"""Store set-up: which PostgreSQL (embedded or external), and the ledger on top of it."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import psycopg
from eventsourcing.postgres import PostgresDatastore
from psycopg.conninfo import conninfo_to_dict
from psycopg.sql import SQL, Identifier

from adapters.settings import Settings
from adapters.store.embedded import start_embedded_postgres
from adapters.store.keys import FileKek, KeyEncryptionKey, KeyStore, keys_conninfo
from adapters.store.recorder import SipRecorder
from adapters.store.write_path import WriteLimits, check_sweeping_dead
from domain.clock import utc_now
from domain.ledger import SipLedger

RECORDER_TOPIC = "adapters.store.recorder:SipRecorder"
# Aggregates kept in memory between commands (LRU), so a command does not read and replay its
# case from the store first. Not fast-forwarded: SipLedger evicts a copy that proves stale (see
# domain/ledger.py). 0 turns the cache off.
AGGREGATE_CACHE_SIZE = 2000


@dataclass(frozen=True)
class Store:
    """A reachable PostgreSQL database and the schema the ledger's tables live in."""

    conninfo: str
    schema: str = "public"
    # False: the owner's set-up made everything; this process (an application role without DDL
    # rights) only uses it. See adapters/store/roles.py.
    create_tables: bool = True
    # The write path (adapters/store/write_path.py): what one write transaction may take, and
    # how long a command waits for a connection from the pool before the store counts as
    # unreachable (SIP_WRITE_STATEMENT_TIMEOUT_S, SIP_WRITE_LOCK_TIMEOUT_S, SIP_STORE_WAIT_S).
    write_statement_timeout_s: float = 5.0
    write_lock_timeout_s: float = 2.0
    store_wait_s: float = 3.0
    # The key store (adapters/store/keys.py): its database (default ``<database>_keys`` on the
    # same server) and the key-encryption key (default: as the settings say: SIP_KEK_FILE, or
    # the development key under SIP_DATA_DIR, which `serve` outside --demo refuses).
    keys_url: str | None = None
    kek: KeyEncryptionKey | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        if settings.database_url is not None:
            url = settings.database_url.get_secret_value()
        else:
            url = start_embedded_postgres(settings.embedded_pgdata)
        return cls(conninfo=url, schema=settings.database_schema,
                   create_tables=settings.create_tables,
                   keys_url=(settings.keystore_url.get_secret_value()
                             if settings.keystore_url else None),
                   kek=kek_of(settings),
                   write_statement_timeout_s=settings.write_statement_timeout_s,
                   write_lock_timeout_s=settings.write_lock_timeout_s,
                   store_wait_s=settings.store_wait_s)

    def connect(self, **kwargs) -> psycopg.Connection:
        return psycopg.connect(self.conninfo, **kwargs)

    def ensure_schema(self) -> None:
        """Create the schema if it is missing (and only then: CREATE SCHEMA IF NOT EXISTS needs
        CREATE on the database even when the schema exists)."""
        if not self.create_tables:
            return
        with self.connect(autocommit=True) as conn:
            found = conn.execute("SELECT to_regnamespace(%s) IS NOT NULL", (self.schema,))
            row = found.fetchone()
            if not (row and row[0]):
                conn.execute(
                    SQL("CREATE SCHEMA IF NOT EXISTS {0}").format(Identifier(self.schema)))

    def eventsourcing_env(
        self,
        pool_size: int = 5,
        cache_size: int = AGGREGATE_CACHE_SIZE,
        snapshots: bool = True,
    ) -> dict[str, str]:
        """The library's environment for SipLedger on this store. ``snapshots``: take and read
        the case snapshots (SipLedger.snapshotting_intervals; the library keeps them in the
        table sipledger_snapshots, created beside the events); False reads by replaying every
        event and takes none (a baseline for benchmarks)."""
        params = conninfo_to_dict(self.conninfo)
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "APPLICATION_RECORDER_TOPIC": RECORDER_TOPIC,
            "POSTGRES_DBNAME": str(params.get("dbname") or "postgres"),
            "POSTGRES_HOST": str(params.get("host") or "localhost"),
            "POSTGRES_PORT": str(params.get("port") or "5432"),
            "POSTGRES_USER": str(params.get("user") or "postgres"),
            "POSTGRES_PASSWORD": str(params.get("password") or ""),
            "POSTGRES_SCHEMA": self.schema,
            "POSTGRES_POOL_SIZE": str(pool_size),
            "POSTGRES_MAX_OVERFLOW": "10",
            # The pool's wait for a connection (whole seconds here; Store.ledger sets the exact
            # value), and a check of each connection as it is taken, so a backend killed
            # meanwhile is replaced instead of failing the command.
            "POSTGRES_CONNECT_TIMEOUT": str(max(math.ceil(self.store_wait_s), 1)),
            "POSTGRES_PRE_PING": "y",
            "CREATE_TABLE": "y" if self.create_tables else "n",
            "IS_SNAPSHOTTING_ENABLED": "y" if snapshots else "n",
        }
        if cache_size > 0:  # the library reads 0 as "unbounded", so leave it out instead
            env["AGGREGATE_CACHE_MAXSIZE"] = str(cache_size)
            env["AGGREGATE_CACHE_FASTFORWARD"] = "n"
        return env

    def datastore(self, pool_size: int = 3, max_overflow: int = 5) -> PostgresDatastore:
        """The library's connection pool on this database, for the read side."""
        params = conninfo_to_dict(self.conninfo)
        datastore = PostgresDatastore(
            dbname=str(params.get("dbname") or "postgres"),
            host=str(params.get("host") or "localhost"),
            port=str(params.get("port") or "5432"),
            user=str(params.get("user") or "postgres"),
            password=str(params.get("password") or ""),
            schema=self.schema,
            pool_size=pool_size,
            max_overflow=max_overflow,
            connect_timeout=self.store_wait_s,  # the pool's wait for a connection
            pre_ping=True,
        )
        check_sweeping_dead(datastore.pool)
        return datastore

    def key_store(self) -> KeyStore:
        """The data keys of this store's cases (a schema of the same name in the key store's
        database)."""
        return KeyStore(
            self.keys_url or keys_conninfo(self.conninfo),
            self.kek or kek_of(Settings()),
            schema=self.schema,
            create=self.create_tables,
        )

    def ledger(
        self,
        *,
        individual_secret: bytes,
        pool_size: int = 5,
        clock: Callable[[], datetime] = utc_now,
        cache_size: int = AGGREGATE_CACHE_SIZE,
        sealed: bool = True,
    ) -> SipLedger:
        """The ledger on this store. ``sealed=False`` stores personal data in clear: only a
        benchmark's baseline does that (tests/benchmarks)."""
        self.ensure_schema()
        ledger = SipLedger(
            env=self.eventsourcing_env(pool_size, cache_size),
            individual_secret=individual_secret,
            clock=clock,
            keys=self.key_store() if sealed else None,
        )
        recorder = ledger.recorder
        if isinstance(recorder, SipRecorder):
            recorder.write_limits = WriteLimits(
                statement_timeout_s=self.write_statement_timeout_s,
                lock_timeout_s=self.write_lock_timeout_s,
            )
            recorder.datastore.pool.timeout = self.store_wait_s
            check_sweeping_dead(recorder.datastore.pool)
        return ledger


def kek_of(settings: Settings) -> KeyEncryptionKey:
    """The key-encryption key the settings name (SIP_KEK_FILE), or the development key."""
    if settings.kek_file is not None:
        return FileKek.from_file(settings.kek_file)
    return FileKek.development_key(settings.data_dir)
