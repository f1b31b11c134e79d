"""The composition root: settings → store → ledger → read side → services, in one place.

Every way into the system opens what it needs here: ``serve`` and the HTTP app (``open_services``:
the store, the ledger, the read models' runner, the access log, the event feed and the audit
checkpoints, opened together at start-up and closed together at shutdown), each CLI command
(``opened_ledger``, ``opened_datastore``), the tests' fixtures and the benchmarks.

A store that cannot be opened is ``StoreUnavailable``, naming the setting an operator fixes
(``SIP_DATABASE_URL``, ``SIP_PGDATA`` or ``SIP_DATA_DIR``) and never the password.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from eventsourcing.postgres import PostgresDatastore
from psycopg.conninfo import conninfo_to_dict
from pydantic import ValidationError

from adapters.audit.checkpoints import Checkpointer
from adapters.feed.engine import EventFeed
from adapters.identity.organisations import OrganisationDirectory
from adapters.identity.tokens import TokenVerifier
from adapters.logging import get_logger
from adapters.settings import Settings
from adapters.store import AGGREGATE_CACHE_SIZE, Store
from adapters.store.access_log import AccessLog
from adapters.store.keys import KeyStoreError
from adapters.store.recorder import SipRecorder
from domain.clock import utc_now
from domain.errors import SipError
from domain.ledger import SipLedger
from projections.read_side import ReadModelsNotSetUp
from projections.runner import ReadModelRunner
from projections.storage import EVENTS_TABLE

log = get_logger(__name__)


class StoreUnavailable(Exception):
    """The store could not be opened or failed underneath a command."""

    def __init__(self, setting: str, cause: BaseException, secret: str | None = None) -> None:
        message = f"{type(cause).__name__}: {cause}"
        if secret:
            message = message.replace(secret, "***")  # a driver may quote the URL it was given
        super().__init__(message)
        self.setting = setting


def store_setting(settings: Settings) -> tuple[str, str | None]:
    """The setting an operator fixes when the store fails, and the password to hide."""
    if settings.database_url is None:
        return ("SIP_PGDATA" if settings.pgdata is not None else "SIP_DATA_DIR"), None
    url = settings.database_url.get_secret_value()
    password = conninfo_to_dict(url).get("password") if "://" in url or "=" in url else None
    # psycopg types a conninfo value as str or int; a password is text.
    return "SIP_DATABASE_URL", None if password is None else str(password)


@contextmanager
def store_errors(settings: Settings) -> Iterator[None]:
    """A failure to reach the store (psycopg, the library, the embedded server's start-up) as
    ``StoreUnavailable``; a refusal (a SIP rule, a malformed value, read models not set up)
    goes up as it is."""
    setting, password = store_setting(settings)
    try:
        yield
    except (SipError, ValidationError, ReadModelsNotSetUp, KeyStoreError):
        raise
    except Exception as error:
        raise StoreUnavailable(setting, error, secret=password) from error


def open_store(settings: Settings) -> Store:
    """The configured PostgreSQL: SIP_DATABASE_URL, or the embedded server (started here)."""
    return Store.from_settings(settings)


def secret_of(settings: Settings) -> bytes:
    """The key that pseudonymises personal identity numbers (SIP_INDIVIDUAL_KEY)."""
    return settings.individual_key.get_secret_value().encode()


def open_ledger(
    settings: Settings,
    store: Store | None = None,
    *,
    clock: Callable[[], datetime] = utc_now,
    individual_secret: bytes | None = None,
    cache_size: int = AGGREGATE_CACHE_SIZE,
) -> SipLedger:
    """The ledger on ``store`` (default: as the settings say)."""
    store = store or open_store(settings)
    return store.ledger(
        individual_secret=individual_secret or secret_of(settings),
        pool_size=settings.pool_size,
        clock=clock,
        cache_size=cache_size,
    )


@contextmanager
def opened_ledger(settings: Settings) -> Iterator[SipLedger]:
    """The ledger on the configured store, for a command; closed on the way out, whatever
    happens. An embedded server started here is stopped at exit by its own atexit handler."""
    with store_errors(settings):
        ledger = open_ledger(settings)
    log.info(
        "store opened",
        schema=settings.database_schema,
        embedded=settings.database_url is None,
    )
    try:
        yield ledger
    finally:
        ledger.close()


@contextmanager
def opened_datastore(settings: Settings, *, set_up: bool = False) -> Iterator[PostgresDatastore]:
    """The store's connection pool for the read side, for a command. ``set_up`` also creates
    the ledger's tables as opening the ledger does (and so chains a log recorded before the
    chain existed), unless SIP_CREATE_TABLES is off (an application role without DDL rights:
    the owner's set-up did that)."""
    store = open_store(settings)
    store.ensure_schema()  # only where this process creates tables (SIP_CREATE_TABLES)
    datastore = store.datastore()
    try:
        if set_up and store.create_tables:
            SipRecorder(datastore, events_table_name=EVENTS_TABLE).create_table()
        yield datastore
    finally:
        datastore.close()


def _runner_log(event: str, **fields: object) -> None:
    log.info(event, **fields)


@dataclass
class Services:
    settings: Settings
    store: Store
    ledger: SipLedger
    datastore: PostgresDatastore
    runner: ReadModelRunner
    verifier: TokenVerifier
    access_log: AccessLog
    feed: EventFeed
    # Signs the hash chain's checkpoints as the log grows (adapters/audit/checkpoints.py).
    checkpointer: Checkpointer | None = None

    @property
    def schema(self) -> str:
        return self.store.schema

    def close(self) -> None:
        self.feed.stop()
        self.runner.stop()
        self.ledger.close()
        if self.checkpointer is not None:
            self.checkpointer.stop()  # signs a last checkpoint: before the pool closes
        self.datastore.close()


def open_services(
    settings: Settings,
    store: Store | None = None,
    *,
    clock: Callable[[], datetime] = utc_now,
    individual_secret: bytes | None = None,
    directory: OrganisationDirectory | None = None,
) -> Services:
    """Open everything the service needs on ``store`` (default: as the settings say) and start
    the read models and the feed's listener in background threads. ``directory``: the
    organisations whose tokens are accepted (default: ``SIP_ORGANISATIONS_FILE``'s)."""
    verifier = TokenVerifier(settings, directory)  # first: a bad directory file opens nothing
    store = store or open_store(settings)
    secret = individual_secret or secret_of(settings)
    ledger = open_ledger(settings, store, clock=clock, individual_secret=secret)
    datastore = store.datastore(pool_size=settings.pool_size, max_overflow=10)
    access_log = AccessLog(datastore, individual_secret=secret)
    if store.create_tables:
        access_log.setup()
    runner = ReadModelRunner(datastore, log=_runner_log, create_tables=store.create_tables).start()
    feed = EventFeed(datastore, heartbeat_s=settings.feed_heartbeat_s, keys=ledger.keys).start()
    checkpointer = Checkpointer.from_settings(settings, datastore, log=_runner_log).start()
    if checkpointer.key.development:
        log.warning("audit checkpoints are signed with the development key; set "
                    "SIP_AUDIT_SIGNING_KEY_FILE in production")
    return Services(
        settings=settings, store=store, ledger=ledger, datastore=datastore, runner=runner,
        verifier=verifier, access_log=access_log, feed=feed,
        checkpointer=checkpointer,
    )
