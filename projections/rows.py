"""Reading the one row of a query that always returns one (a count, a ``to_regclass`` probe)."""

from __future__ import annotations

from typing import TypeVar

from psycopg import Cursor

Row = TypeVar("Row")


def the_row(curs: Cursor[Row]) -> Row:
    """The row the last query returned. psycopg types ``fetchone`` as maybe ``None`` (no row
    left); for these queries that would be a bug, so it is said, not indexed into."""
    row = curs.fetchone()
    if row is None:
        raise LookupError("the query returned no row")
    return row
