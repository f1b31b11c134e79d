"""What every read model is: tables of its own, a name to track its position by, and a way to
apply a batch of events inside the runner's transaction.

A model is bound to a *table set*: the live one (``suffix=""``) or one being rebuilt beside it
(``suffix="__next"``), whose tables are swapped in when the rebuild has caught up
(projections/rebuild.py). Models write their SQL through ``self.table(...)``, so the same code
fills either set.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar
from uuid import UUID

import orjson
from psycopg import Cursor
from psycopg.sql import SQL, Composable, Composed, Identifier

from .case_record import Record, fold
from .events import CaseEvent
from .storage import qualified

NEXT_SUFFIX = "__next"


class ReadModel(ABC):
    name: ClassVar[str]
    # Bumped when the tables' shape or the fold changes; `projections status` then says that
    # the model needs a rebuild.
    schema_version: ClassVar[int] = 1
    tables: ClassVar[tuple[str, ...]]

    def __init__(self, schema: str, suffix: str = "") -> None:
        self.schema = schema
        self.suffix = suffix

    @property
    def tracking_name(self) -> str:
        return self.name + self.suffix

    def table(self, base: str) -> Composable:
        return qualified(self.schema, base + self.suffix)

    def index_name(self, part: str) -> Identifier:
        # Named after the table set, so a swap can give the rebuilt indexes the live names.
        return Identifier(f"rm_{self.name}_{part}{self.suffix}")

    def table_names(self) -> list[str]:
        return [base + self.suffix for base in self.tables]

    def beside(self) -> ReadModel:
        """The same model over the table set a rebuild fills."""
        return type(self)(self.schema, NEXT_SUFFIX)

    @abstractmethod
    def create_statements(self) -> list[SQL | Composed]:
        """CREATE TABLE IF NOT EXISTS for this table set (with their primary keys)."""

    def index_statements(self) -> list[SQL | Composed]:
        """CREATE INDEX IF NOT EXISTS for the secondary indexes, which a model built from the
        start of the log gets once it has caught up: built at once from sorted rows, they cost
        a fraction of what keeping them up to date row by row costs during the build."""
        return []

    @abstractmethod
    def apply(self, curs: Cursor[Any], events: Sequence[CaseEvent], folds: Folds) -> None:
        """Apply ``events`` (in log order) inside the caller's transaction. ``folds`` is shared
        by the models applying the same batch (see CaseRecordModel)."""


# Case records folded in this batch by one model, for the next: (case id, version before,
# version after) → the record after. Two models at the same position fold the same events onto
# the same record, so the second takes the first's result instead of folding again.
Folds = dict[tuple[UUID, int | None, int], Record]


class CaseRecordModel(ReadModel):
    """A model that keeps a case record (projections/case_record.py) per case, in its first
    table's ``record`` column, and derives the rest of its rows from it.

    A batch loads the records of the cases it touches in one query, folds the events, and
    replaces those cases' rows: delete, then COPY. During a catch-up most cases are new, so the
    delete finds little; a live batch replaces the one or two cases it touched.
    """

    record_columns: ClassVar[tuple[str, ...]]
    # Whether the record table keeps the whole record. A model that keeps less (the deadline
    # dashboard drops the personal data) folds onto less, so its results are not for the others.
    stores_whole_record: ClassVar[bool] = True

    @abstractmethod
    def record_row(self, record: Record) -> Sequence[Any]:
        """The row of the record table for ``record``, in ``record_columns`` order."""

    def apply(self, curs: Cursor[Any], events: Sequence[CaseEvent], folds: Folds) -> None:
        by_case: dict[UUID, list[CaseEvent]] = {}
        for e in events:
            by_case.setdefault(e.case_id, []).append(e)
        known = list(by_case)
        curs.execute(
            SQL("SELECT case_id, version, record::text AS record FROM {} "
                "WHERE case_id = ANY(%s)").format(self.table(self.tables[0])),
            (known,),
        )
        stored = {row["case_id"]: row for row in curs.fetchall()}
        records: list[Record] = []
        for case_id, case_events in by_case.items():
            row = stored.get(case_id)
            key = (case_id, row["version"] if row else None, case_events[-1].version)
            record = folds.get(key)
            if record is None:
                # A case is in by_case by its events: the first one folds into what is stored
                # (or begins the record), the rest onto that.
                later = iter(case_events)
                stored_record: Record | None = orjson.loads(row["record"]) if row else None
                record = fold(stored_record, next(later))
                for e in later:
                    record = fold(record, e)
                if self.stores_whole_record:
                    folds[key] = record
            records.append(record)
        # Only cases the model already has rows for (during a catch-up, most cases are new).
        if stored:
            for base in self.tables:
                curs.execute(
                    SQL("DELETE FROM {} WHERE case_id = ANY(%s)").format(self.table(base)),
                    (list(stored),),
                )
        columns = SQL(", ").join(Identifier(c) for c in self.record_columns)
        with curs.copy(
            SQL("COPY {} ({}) FROM STDIN").format(self.table(self.tables[0]), columns)
        ) as copy:
            for record in records:
                copy.write_row(self.record_row(record))
        self.write_derived(curs, records)

    def write_derived(self, curs: Cursor[Any], records: Sequence[Record]) -> None:
        """Rows of the model's other tables, derived from the records (already deleted)."""


def as_json(value: Any) -> str:
    return orjson.dumps(value).decode()


def as_text_array(values: Sequence[str]) -> str:
    """A PostgreSQL array literal of strings, for COPY.

    psycopg's list dumper costs more per row than this does, which shows in bench figure
    ``read_models_catch_up_events_per_s``.
    """
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"
