"""Datetimes from requests: one conversion to epoch seconds, and the range that reads back."""

from __future__ import annotations

import datetime as dt

from domain.errors import InvalidError

_FIRST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_LAST = dt.datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=dt.UTC)
_NUDGE = 0.0002


def epoch(value: dt.datetime | None, field: str = "datetime") -> float | None:
    """A request datetime as epoch seconds; one without an offset is taken as UTC.

    Only 1970-01-01 .. 9999-12-31 (in UTC, after applying the offset) is accepted, at
    millisecond precision: everything stored must read back as the same ISO 8601 date, and
    earlier or later instants would come back as year 0 or 10000.
    """
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    try:
        value = value.astimezone(dt.UTC)  # beyond year 1..9999 in UTC: OverflowError
    except OverflowError:
        value = _FIRST - dt.timedelta(days=1)  # out of range either way
    value = value.replace(microsecond=value.microsecond // 1000 * 1000)
    if not _FIRST <= value <= _LAST:
        raise InvalidError(f"{field} must be between 1970-01-01 and 9999-12-31 (UTC)")
    # Epoch seconds are floats: near year 9999 they resolve only ~30 µs, so x.999 may be
    # stored as x.99899... and read back (milliseconds, truncated) as x.998. A fifth of a
    # millisecond more keeps every instant inside its own millisecond.
    return value.timestamp() + _NUDGE
