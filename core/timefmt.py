"""Timestamps as Go's time.Time JSON writes them (RFC 3339 with trimmed nanoseconds)."""

from __future__ import annotations

from datetime import UTC, datetime


def format_go_time(moment: datetime) -> str:
    """``2026-04-29T17:23:00.414483Z``: UTC, fraction without trailing zeros, none when zero.

    >>> format_go_time(datetime(2026, 4, 29, 17, 23, 0, 414480, tzinfo=UTC))
    '2026-04-29T17:23:00.41448Z'
    >>> format_go_time(datetime(2026, 4, 29, 17, 23, tzinfo=UTC))
    '2026-04-29T17:23:00Z'
    """
    utc = moment.astimezone(UTC)
    base = utc.strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{utc.microsecond:06d}".rstrip("0")
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"
