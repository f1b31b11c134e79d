"""What the HTTP service runs on: the store, the ledger, the read models' runner, the access log
and the event feed, opened together at start-up and closed together at shutdown."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from eventsourcing.postgres import PostgresDatastore

from domain.clock import utc_now
from domain.ledger import SipLedger
from projections.runner import ReadModelRunner

from ..audit.checkpoints import Checkpointer
from ..logging import get_logger
from ..organisations import OrganisationDirectory
from ..settings import Settings
from ..store import Store
from ..store.access_log import AccessLog
from ..tokens import TokenVerifier

if TYPE_CHECKING:  # feed.py's routes depend on deps.py, which depends on this module
    from .feed import EventFeed

log = get_logger(__name__)


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
    store = store or Store.from_settings(settings)
    secret = individual_secret or settings.individual_key.get_secret_value().encode()
    ledger = store.ledger(individual_secret=secret, pool_size=settings.pool_size, clock=clock)
    datastore = store.datastore(pool_size=settings.pool_size, max_overflow=10)
    access_log = AccessLog(datastore, individual_secret=secret)
    if store.create_tables:
        access_log.setup()
    runner = ReadModelRunner(datastore, log=_runner_log, create_tables=store.create_tables).start()
    from .feed import EventFeed

    feed = EventFeed(datastore, heartbeat_s=settings.feed_heartbeat_s).start()
    checkpointer = Checkpointer.from_settings(settings, datastore, log=_runner_log).start()
    if checkpointer.key.development:
        log.warning("audit checkpoints are signed with the development key; set "
                    "SIP_AUDIT_SIGNING_KEY_FILE in production")
    return Services(
        settings=settings, store=store, ledger=ledger, datastore=datastore, runner=runner,
        verifier=verifier, access_log=access_log, feed=feed,
        checkpointer=checkpointer,
    )
