"""One timestamp format for every body: RFC 3339 in UTC with a `Z`."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(ts: float) -> str:
    """`2026-11-30T18:42:37.123456Z` for a unix time."""
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
