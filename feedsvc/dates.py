"""Reading dates from sources: ISO 8601, RFC 822, and human text ("31 травня 2024").

A date without an offset is read in the source's time zone; everything returned is
aware UTC. A string that is not a date gives ``None``, never "now".
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo

_ISO_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse(text: str | None, tz: ZoneInfo, *, fuzzy: bool = False) -> datetime | None:
    """Parse ``text``; naive results are read in ``tz``. ``fuzzy`` allows human text."""
    if not text:
        return None
    s = text.strip()
    if not s:
        return None
    dt: datetime | None = None
    iso = s.replace("Z", "+00:00") if s.endswith("Z") else s
    try:
        dt = datetime.fromisoformat(iso)
    except ValueError:
        dt = None
    if dt is None:
        try:
            dt = parsedate_to_datetime(s)
        except (TypeError, ValueError, IndexError):
            dt = None
    if dt is None and fuzzy:
        dt = _human(s, tz)
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    if not 1990 <= dt.year <= 2200:
        return None
    return dt.astimezone(UTC).replace(microsecond=0)


def _human(s: str, tz: ZoneInfo) -> datetime | None:
    if len(s) > 80 or not re.search(r"\d", s):
        return None
    import dateparser  # slow import: only when needed

    dt = dateparser.parse(
        s,
        languages=["en", "uk", "ru"],
        settings={
            "TIMEZONE": tz.key,
            "RETURN_AS_TIMEZONE_AWARE": True,
            "PREFER_DATES_FROM": "past",
            "STRICT_PARSING": False,
            "REQUIRE_PARTS": ["day", "month", "year"],
        },
    )
    return dt


def day_bounds(day: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC [start, end) of calendar ``day`` (YYYY-MM-DD) in ``tz``.

    Raises ValueError for a malformed or impossible date.
    """
    if not _ISO_DATE_ONLY.match(day):
        raise ValueError(f"not a YYYY-MM-DD date: {day!r}")
    d = datetime.strptime(day, "%Y-%m-%d").date()
    start = datetime(d.year, d.month, d.day, tzinfo=tz)
    nxt = d + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def local_day(moment: datetime, tz: ZoneInfo) -> str:
    """The YYYY-MM-DD that aware ``moment`` falls on in ``tz``."""
    return moment.astimezone(tz).date().isoformat()
