"""The projection runner: feeds the read models from the notification log, exactly once.

Why not the library's ``ProjectionRunner``: it applies one event per transaction and, between
events, waits on a subscription that pulls 500 at a time and is woken only by NOTIFY (bench figure
`library_projection_runner_events_per_s` against `read_models_catch_up_events_per_s`), and after
a lost LISTEN connection it stops. This runner keeps the library's
pieces that serve — its datastore (connection pool), its application recorder's channel and
head, its single-row tracking recorder for positions — and changes the loop (it also reads the
log with the library's query in tuple rows, see ``ReadSide.read``):

- It reads a batch of notifications after the lowest model position, decodes each event once
  (projections/events.py), and gives every model, in a transaction of its own and side by side
  with the others, the events after that model's position. The transaction first locks the
  model's tracking row and reads the position again under the lock, then applies the events,
  moves the position to the batch's last notification id and commits: a batch is applied wholly
  or not at all, and never twice, even with two runners or a rebuild's swap racing for it.
- A listener thread LISTENs on the events table's channel (the library NOTIFYs in every insert
  transaction) and wakes the loop. If that connection is lost the listener reconnects with
  back-off, and the loop polls every ``poll_interval`` seconds meanwhile, so nothing waits for
  a notification that never comes.
- Every batch transaction NOTIFYs ``rm_progress``, so a caller in another process can wait for
  its write to be visible (``wait_until_projected``); in-process callers wait on a condition.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import Any

from eventsourcing.postgres import (
    PostgresDatastore,
)
from psycopg.sql import SQL, Identifier

from . import listen
from .deadlines import DeadlineDashboard
from .history import CaseHistory
from .plans import CurrentPlans
from .quarantine import POISON, Quarantined
from .read_model import ReadModel
from .read_side import Batch, ReadSide, decode_batch, drop_tables, swap_in
from .rows import the_row
from .storage import EVENTS_TABLE, PROGRESS_CHANNEL, TRACKING_TABLE, qualified

ALL_MODELS: tuple[type[ReadModel], ...] = (CurrentPlans, DeadlineDashboard, CaseHistory)
ALL_MODEL_NAMES = tuple(model.name for model in ALL_MODELS)
# Events per read and per transaction. Large enough that a catch-up pays for a commit and a
# round trip per few thousand events; a live batch is whatever has arrived since the last one.
BATCH_SIZE = 2_000
POLL_INTERVAL_S = 1.0
# How long the listener waits for a NOTIFY before it checks whether it is to stop.
LISTEN_TIMEOUT_S = 0.5
# Lost connections and the like: the batch rolled back, so try again.
TRANSIENT = listen.TRANSIENT

Log = Callable[..., None]


def _quiet(event: str, **fields: Any) -> None:
    pass


def model_named(name: str) -> type[ReadModel]:
    for model in ALL_MODELS:
        if model.name == name:
            return model
    known = ", ".join(m.name for m in ALL_MODELS)
    raise ValueError(f"unknown read model {name!r}; known: {known}")



@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while batches are applied.

    A batch allocates hundreds of thousands of small dicts (the decoded events, the records);
    the collector, triggered by the allocations, walks them again and again although they hold
    no cycles and reference counting frees them: pausing it cut the per-event cost of decoding
    and folding by more than half (bench figure `read_models_catch_up_events_per_s`; the
    numbers are in tests/benchmarks/README.md). The pause lasts one batch
    (a few hundred milliseconds at most), so other work in the process (the HTTP service) gets
    its collections between batches; was it paused already, it stays as it was.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class ReadModelRunner:
    """Feeds ``models`` from the log; ``run`` in a thread or a process of its own."""

    def __init__(
        self,
        datastore: PostgresDatastore,
        models: Sequence[ReadModel] | None = None,
        *,
        events_table: str = EVENTS_TABLE,
        batch_size: int = BATCH_SIZE,
        poll_interval: float = POLL_INTERVAL_S,
        log: Log = _quiet,
        create_tables: bool = True,
    ) -> None:
        self.store = ReadSide(datastore, events_table)
        # False: the tables exist (the owner's set-up built them); only use them.
        self.create_tables = create_tables
        self.channel = self.store.log_reader.channel_name
        self.models = list(models) if models is not None else [
            cls(datastore.schema) for cls in ALL_MODELS
        ]
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.log = log
        self.positions: dict[str, int] = {}
        self.progress = threading.Condition()
        self.stopping = threading.Event()
        self.woken = threading.Event()
        self.listener: threading.Thread | None = None
        self.thread: threading.Thread | None = None
        self.listening = threading.Event()
        self._appliers: ThreadPoolExecutor | None = None
        self.unindexed: set[str] = set()  # models built from scratch, indexes still to come
        # Failed attempts in a row (0: the last attempt went through), since when (wall clock)
        # and the last error's class: what /readyz calls "the runner keeps failing".
        self.failures = 0
        self.failing_since: float | None = None
        self.last_error: str | None = None

    # -------------------------------------------------------------- set-up and catch-up

    def setup(self) -> None:
        if self.create_tables:
            self.unindexed = self.store.setup(self.models)
            self._rebuild_outdated()
        else:
            self.store.attach(self.models)
        for model in self.models:
            self.positions[model.tracking_name] = self.store.position(model.tracking_name)

    def _rebuild_outdated(self) -> None:
        """A model whose tables were built by an older version of its code (``schema_version``
        in ``rm_models``) cannot be fed as it is: rebuild it beside the old tables first, which
        serve queries until the swap."""
        built = self.store.built_versions()
        for model in self.models:
            version = built.get(model.name)
            if not model.suffix and version is not None and version != model.schema_version:
                self.log("read model built by older code; rebuilding it", model=model.name,
                         built_version=version, schema_version=model.schema_version)
                rebuild_beside(self.store.datastore, type(model),
                               events_table=self.store.events_table, batch_size=self.batch_size)

    def process_available(
        self, *, until: int | None = None, on_batch: Callable[[int], None] | None = None
    ) -> int:
        """Apply everything recorded so far (or up to ``until``); return how many notifications
        were read, calling ``on_batch`` with the position after each batch. Used by ``run`` and,
        on their own, by rebuilds and tests.

        While the models apply one batch, a second thread reads and decodes the next (after the
        batch's last id, where every model stands once it is applied): the read waits on the
        server, so it overlaps with the models' work instead of adding to it.
        """
        if not self.positions:
            self.setup()
        return self._process_available(until, on_batch)

    def _process_available(self, until: int | None, on_batch: Callable[[int], None] | None) -> int:
        read = 0
        batch = self._read_batch(min(self.positions.values()), until)
        reader: ThreadPoolExecutor | None = None
        try:
            while batch is not None and not self.stopping.is_set():
                # A full batch means more is waiting (a catch-up): read it ahead. A live batch
                # is applied at once, without a thread hand-over in the way.
                ahead = None
                if len(batch.notifications) >= self.batch_size:
                    reader = reader or ThreadPoolExecutor(1, thread_name_prefix="read-models-read")
                    ahead = reader.submit(self._read_batch, batch.last_id, until)
                with _collector_paused():
                    self.apply_batch(batch)
                read += len(batch.notifications)
                if on_batch is not None:
                    on_batch(batch.last_id)
                batch = ahead.result() if ahead else self._read_batch(batch.last_id, until)
        finally:
            if reader is not None:
                reader.shutdown(wait=True, cancel_futures=True)
        if batch is None and until is None and self.unindexed:
            self.create_indexes()  # caught up with the log: the models are ready to query
        return read

    def create_indexes(self) -> None:
        """Give the models built from scratch their secondary indexes (see index_statements)."""
        for model in self.models:
            if model.tracking_name in self.unindexed:
                with self.store.datastore.transaction(commit=True) as curs:
                    self.store.lock_ddl(curs)
                    self.store.create_indexes(curs, model)
                self.unindexed.discard(model.tracking_name)

    def _read_batch(self, start: int, until: int | None) -> Batch | None:
        if until is not None and start >= until:
            return None
        notifications = self.store.read(start, self.batch_size, stop=until)
        if not notifications:
            return None
        with _collector_paused():
            return decode_batch(notifications)

    def apply_batch(self, batch: Batch) -> None:
        """Each model applies the batch in a transaction of its own, the models side by side:
        while one waits for the server (COPY, commit), another folds and formats its rows."""
        due = [m for m in self.models if batch.last_id > self.positions[m.tracking_name]]
        if len(due) == 1:
            self._apply_model(due[0], batch)
        elif due:
            if self._appliers is None:
                self._appliers = ThreadPoolExecutor(
                    max_workers=len(self.models), thread_name_prefix="read-models-apply"
                )
            for future in [self._appliers.submit(self._apply_model, m, batch) for m in due]:
                future.result()

    def _apply_model(self, model: ReadModel, batch: Batch) -> None:
        """Apply the batch to one model. If an event in it cannot be applied (an error of its
        data, not of the connection), the batch is applied again event by event in savepoints,
        the events that fail are quarantined (projections/quarantine.py), and the position
        moves on past them: one bad event never stops the model."""
        name = model.tracking_name
        quarantined: list[Quarantined] = []
        try:
            new_position = self._apply_in_transaction(model, batch, quarantined, isolate=False)
        except POISON as error:
            self.log("read model cannot apply an event of the batch; isolating it", model=name,
                     error=type(error).__name__, after=batch.notifications[0][0],
                     until=batch.last_id)
            quarantined.clear()
            new_position = self._apply_in_transaction(model, batch, quarantined, isolate=True)
        for q in quarantined:
            # Ids, the event's type and the error's class only: the message may not name the
            # value (describe() strips quoted values), never the individual.
            self.log("event quarantined: the read model cannot apply it", model=name,
                     notification_id=q.notification_id, case_id=str(q.case_id),
                     event_type=q.event_type, error=q.error)
        with self.progress:
            self.positions[name] = new_position
            self.progress.notify_all()

    def _apply_in_transaction(self, model: ReadModel, batch: Batch,
                              quarantined: list[Quarantined], *, isolate: bool) -> int:
        with self.store.datastore.transaction(commit=True) as curs:
            position, held = self.store.lock_position_held(curs, model.tracking_name)
            # A read model is rebuilt from the log at will, so its commits need not wait for the
            # disk: a crash loses at most the last moments of batches, rows and position
            # together, and they are applied again. Visibility to readers is unchanged.
            curs.execute("SET LOCAL synchronous_commit = off")
            return self.store.apply(curs, model, batch, position, held, isolate=isolate,
                                    quarantined=quarantined)

    # -------------------------------------------------------------- running live

    def start(self) -> ReadModelRunner:
        """Run in a background thread (inside the service process)."""
        self.setup()
        self.thread = threading.Thread(target=self.run, name="read-models", daemon=True)
        self.thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self.woken.set()
        for thread in (self.thread, self.listener):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout)
        if self._appliers is not None:
            self._appliers.shutdown(wait=True)
            self._appliers = None

    def run(self) -> None:
        """Catch up, then follow the log until ``stop``."""
        if not self.positions:
            self.setup()
        self.listener = threading.Thread(target=self._listen, name="read-models-listen",
                                         daemon=True)
        self.listener.start()
        while not self.stopping.is_set():
            self.woken.clear()
            try:
                self.process_available()
            except Exception as error:
                # A lost connection, a timeout, a full disk, a lock: the batch rolled back, so
                # try again. Anything else (a bug, a missing table) is retried the same way
                # rather than ending the thread: it is logged, and /readyz reports a runner
                # that keeps failing. (An event's own bad data is quarantined, not raised.)
                self.failures += 1
                self.failing_since = self.failing_since or time.time()
                self.last_error = type(error).__name__
                pause = listen.back_off(self.failures)
                self.log("read model batch failed; retrying", error=type(error).__name__,
                         transient=isinstance(error, TRANSIENT), failures=self.failures,
                         pause_s=pause)
                self._refresh_positions_quietly()
                self.stopping.wait(pause)
                continue
            self.failures, self.failing_since, self.last_error = 0, None, None
            # Woken by NOTIFY; the timeout is the poll that covers a lost LISTEN connection.
            self.woken.wait(self.poll_interval)

    def _refresh_positions_quietly(self) -> None:
        try:
            for name in self.positions:
                self.positions[name] = self.store.position(name)
        except Exception:  # the store is still away: the next attempt refreshes them
            pass

    def _listen(self) -> None:
        # Only lost connections are retried: the loop above polls meanwhile, so a listener
        # that dies of anything else costs latency, not progress (and the error is seen).
        listen.listen(
            self.store.datastore, self.channel, stopping=self.stopping, listening=self.listening,
            on_wake=self._wake, poll_interval=LISTEN_TIMEOUT_S,
            on_lost=self._listen_lost, on_restored=self._listen_restored,
        )

    def _wake(self, conn: object) -> None:
        self.woken.set()

    def _listen_lost(self, error: BaseException, failures: int, pause: float) -> None:
        self.log("LISTEN connection lost; polling until it is back", error=type(error).__name__)

    def _listen_restored(self, failures: int) -> None:
        self.log("LISTEN connection restored", attempts=failures)

    # -------------------------------------------------------------- read your writes

    def wait_for(self, notification_id: int, timeout: float = 5.0,
                 models: Iterable[str] | None = None) -> bool:
        """Block until every model (or those named) has applied ``notification_id``; False on
        timeout."""
        names = None if models is None else tuple(models)

        def reached() -> bool:
            positions = self.positions if names is None else {
                n: self.positions.get(n, 0) for n in names}
            return all(p >= notification_id for p in positions.values())

        with self.progress:
            return self.progress.wait_for(reached, timeout)


def rebuild_beside(
    datastore: PostgresDatastore,
    model_class: type[ReadModel],
    *,
    events_table: str = EVENTS_TABLE,
    batch_size: int = BATCH_SIZE,
    on_progress: Callable[[int, int], None] | None = None,
) -> int:
    """Rebuild ``model_class`` from the whole log beside the live model and swap it in;
    returns the position the swapped-in model stands at (see projections/rebuild.py).

    Here, beside the runner, because a runner rebuilds a model built by older code before it
    feeds it (``setup``), and the rebuild feeds the new tables with a runner of its own."""
    live = model_class(datastore.schema)
    beside = live.beside()
    store = ReadSide(datastore, events_table)
    store.setup([live])  # a model never built before is created (empty), then rebuilt
    with datastore.transaction(commit=True) as curs:
        # An earlier rebuild that was interrupted leaves its tables; start them afresh.
        drop_tables(curs, beside)
        curs.execute(
            SQL("DELETE FROM {} WHERE application_name = %s").format(store.tracking_table),
            (beside.tracking_name,),
        )
        store.quarantine.clear(curs, beside.tracking_name)
        store.create_tables(curs, beside)
    runner = ReadModelRunner(datastore, [beside], events_table=events_table,
                             batch_size=batch_size)
    runner.setup()
    # Catch up in rounds: the log grows while we read it; stop when a round finds little.
    while True:
        head = store.head()
        if on_progress is not None:
            on_progress(runner.positions[beside.tracking_name], head)
        read = runner.process_available(
            until=head,
            on_batch=None if on_progress is None else partial(_reached, on_progress, head=head),
        )
        if read < batch_size:
            break
    # The indexes, built once from the rows (outside the swap, which holds the live position).
    runner.create_indexes()
    return swap_in(store, live, beside, batch_size, on_progress)


def _reached(on_progress: Callable[[int, int], None], position: int, *, head: int) -> None:
    on_progress(position, head)


def wait_until_projected(
    datastore: PostgresDatastore,
    notification_id: int,
    *,
    models: Sequence[str] = ALL_MODEL_NAMES,
    timeout: float = 5.0,
) -> bool:
    """Block until the named models (run by any process) have applied ``notification_id``.

    Listens on the runner's progress channel and checks the tracking rows whenever a batch
    commits, so it returns within a round trip of the commit. False on timeout.
    """
    deadline = time.monotonic() + timeout
    tracking = qualified(datastore.schema, TRACKING_TABLE)
    query = SQL(
        "SELECT count(*) AS reached FROM {} WHERE application_name = ANY(%s) "
        "AND notification_id >= %s"
    ).format(tracking)
    with datastore.get_connection() as conn:  # the library's connections autocommit
        conn.execute(SQL("LISTEN {}").format(Identifier(PROGRESS_CHANNEL)))
        # No runner has set up this schema yet: nothing is projected (rather than an error).
        exists = SQL("SELECT to_regclass(%s) IS NOT NULL AS found")
        found = False
        try:
            while True:
                if not found:
                    found = the_row(conn.execute(exists, (tracking.as_string(conn),)))["found"]
                reached = the_row(conn.execute(query, (list(models), notification_id)))[
                    "reached"] if found else 0
                if reached == len(models):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                for _ in conn.notifies(timeout=min(remaining, 0.5), stop_after=1):
                    pass
        finally:
            conn.execute(SQL("UNLISTEN {}").format(Identifier(PROGRESS_CHANNEL)))
