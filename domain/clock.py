"""Dates in the world happen in Swedish local time; recording times are UTC instants."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def utc_now() -> datetime:
    return datetime.now(tz=UTC)


def local_date(instant: datetime) -> date:
    if instant.tzinfo is None:
        # A naive time from a caller is taken as Swedish local time, never silently as UTC.
        instant = instant.replace(tzinfo=STOCKHOLM)
    return instant.astimezone(STOCKHOLM).date()
