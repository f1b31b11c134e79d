"""The library's repository, made to replay a case when its snapshot cannot be used."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, ProjectorFunction, Repository

# Under the ledger's name, as before this class left domain/ledger.py: operators' log filters
# (and tests/adapters/store/test_snapshots.py) know the warning by it.
log = logging.getLogger("domain.ledger")

# Set while reading an aggregate type that is never snapshotted (the register), so that the
# repository does not look for a snapshot first: one round trip less on every proposal.
_NOT_SNAPSHOTTED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "sip_not_snapshotted", default=False
)


@contextmanager
def not_snapshotted() -> Iterator[None]:
    """Reads inside this block look for no snapshot (for aggregates that never have one)."""
    token = _NOT_SNAPSHOTTED.set(True)
    try:
        yield
    finally:
        _NOT_SNAPSHOTTED.reset(token)


class SnapshotTolerantRepository(Repository[UUID]):
    """The library's repository, except that a snapshot which cannot be read or restored (a
    table the role may not read, a snapshot taken by code of another shape: see
    ``domain.case.CaseSnapshot``) is passed over with a warning, and the aggregate replayed from
    its events alone, as if there were no snapshot."""

    def _reconstruct_aggregate(
        self,
        aggregate_id: UUID,
        version: int | None,
        projector_func: ProjectorFunction[Any, Any],
    ) -> Any:
        if self.snapshot_store is not None and _NOT_SNAPSHOTTED.get():
            return Repository(self.event_store)._reconstruct_aggregate(
                aggregate_id, version, projector_func
            )
        try:
            return super()._reconstruct_aggregate(aggregate_id, version, projector_func)
        except AggregateNotFoundError:
            raise
        except Exception:
            if self.snapshot_store is None:
                raise
            log.warning(
                "reading %s (version %s) with its snapshot failed; replaying its events alone",
                aggregate_id, version, exc_info=True,
            )
            return Repository(self.event_store)._reconstruct_aggregate(
                aggregate_id, version, projector_func
            )
