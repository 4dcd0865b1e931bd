"""The one seam for "now": every aware-UTC timestamp feedsvc takes comes from here.

Tests pin it with :func:`set_now` (or ``FEEDSVC_FAKE_NOW`` for subprocesses).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

_pinned: datetime | None = None


def now() -> datetime:
    """Aware UTC now (microseconds dropped: stored times round-trip exactly)."""
    if _pinned is not None:
        return _pinned
    fake = os.environ.get("FEEDSVC_FAKE_NOW")
    if fake:
        return ensure_utc(datetime.fromisoformat(fake))
    return datetime.now(UTC).replace(microsecond=0)


def set_now(value: datetime | None) -> None:
    """Pin (or with None, unpin) the clock; for tests."""
    global _pinned
    _pinned = ensure_utc(value) if value is not None else None


def ensure_utc(value: datetime) -> datetime:
    """Return ``value`` as aware UTC; a naive value is refused, not guessed."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: feedsvc only stores aware UTC")
    return value.astimezone(UTC)
