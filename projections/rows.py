"""Reading rows: the one row of a query that always returns one (a count, a ``to_regclass``
probe), and a query's rows in the typed shape they leave the read side in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from psycopg import Cursor
from psycopg.rows import class_row
from psycopg.sql import Composed

Row = TypeVar("Row")


def the_row(curs: Cursor[Row]) -> Row:
    """The row the last query returned. psycopg types ``fetchone`` as maybe ``None`` (no row
    left); for these queries that would be a bug, so it is said, not indexed into."""
    row = curs.fetchone()
    if row is None:
        raise LookupError("the query returned no row")
    return row


def typed_rows(
    curs: Cursor[Any], shape: type[Row], query: Composed,
    params: Sequence[Any] | Mapping[str, Any],
) -> list[Row]:
    """The rows of ``query``, each made by ``shape`` from its columns by name (a TypedDict: the
    row is a plain dict, as the HTTP layer serialises it). Read through a cursor of its own on
    the same connection, so inside the caller's transaction and without changing its cursor's
    row factory."""
    with curs.connection.cursor(row_factory=class_row(shape)) as typed:
        typed.execute(query, params)
        return typed.fetchall()
