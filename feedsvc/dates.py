"""Reading dates from sources: ISO 8601 (tolerantly), RFC 822, dotted day-first dates
and human text in several languages ("31 травня 2024", "29. Januar 2019").

A date without an offset is read in the source's time zone; everything returned is
aware UTC. A string that is not a date gives ``None``, never "now".
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo

_ISO_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# ISO 8601 as pages really write it: one-digit fields, a space for the "T", a named zone
# ("2020-09-25T16:02:50CDT", "…T00:30:00PDT", "2020-12-05T23:15:0Z")
_LOOSE_ISO = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ]+(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:[.,]\d+)?)?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?|[A-Za-z]{2,5})?$"
)
# North American and European zone names pages write after a time (RFC 822 knows few)
ZONE_NAMES = {
    "UTC": 0, "GMT": 0, "UT": 0, "Z": 0, "WET": 0, "BST": 60, "IST": 60, "WEST": 60,
    "CET": 60, "CEST": 120, "MEZ": 60, "MESZ": 120, "EET": 120, "EEST": 180, "MSK": 180,
    "EST": -300, "EDT": -240, "CST": -360, "CDT": -300, "MST": -420, "MDT": -360,
    "PST": -480, "PDT": -420, "AKST": -540, "AKDT": -480, "HST": -600,
    "AEST": 600, "AEDT": 660, "JST": 540, "KST": 540,
}
# dd.mm.yyyy is day-first everywhere it is written (Europe, Ukraine); so is dd-mm-yyyy;
# mm/dd/yyyy is the US convention (day-first only when the first number cannot be a month)
_NUMERIC = re.compile(
    r"(?<![\d.])(\d{1,2})([./-])(\d{1,2})\2(\d{4})(?![\d.]\d)"
    r"(?:,?\s*(?:[^\W\d]{1,3}\.?\s+)?(\d{1,2})[:.h](\d{2})(?::(\d{2}))?)?"
)
_MONTHS: dict[str, int] = {}
for _n, _names in enumerate((
    "january januar jänner janvier enero gennaio janeiro januari січня січень января январь",
    "february februar février febrero febbraio fevereiro februari лютого лютий февраля февраль",
    "march märz mars marzo março maart березня березень марта март",
    "april avril abril aprile квітня квітень апреля апрель",
    "may mai mayo maggio maio mei травня травень мая май",
    "june juni juin junio giugno junho червня червень июня июнь",
    "july juli juillet julio luglio julho липня липень июля июль",
    "august août agosto augustus серпня серпень августа август",
    "september septembre septiembre setiembre settembre setembro вересня вересень "
    "сентября сентябрь",
    "october oktober octobre octubre ottobre outubro жовтня жовтень октября октябрь",
    "november novembre noviembre novembro листопада листопад ноября ноябрь",
    "december dezember décembre diciembre dicembre dezembro грудня грудень декабря декабрь",
), 1):
    for _name in _names.split():
        _MONTHS[_name] = _n
_ABBREVIATIONS = {
    "jan": 1, "feb": 2, "febr": 2, "mar": 3, "mär": 3, "apr": 4, "jun": 6, "jul": 7,
    "aug": 8, "sep": 9, "sept": 9, "oct": 10, "okt": 10, "nov": 11, "dec": 12, "dez": 12,
    "déc": 12, "janv": 1, "févr": 2, "avr": 4, "juil": 7, "ene": 1, "dic": 12, "gen": 1,
    "set": 9, "ott": 10, "mrt": 3, "mei": 5, "mai": 5, "may": 5,
}
_MONTH_WORD = r"([^\W\d_]{3,10})\.?"
_YEAR = r"((?:19|20)\d\d)"
_TIME = r"(?:,?\s*(?:[^\W\d]{1,3}\.?\s+|-\s*)?(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([ap]\.?m\.?)?)?"
_DAY_MONTH_YEAR = re.compile(
    r"(?<!\d)(\d{1,2})(?:\.|st|nd|rd|th|er|º)?\s*(?:de\s+|of\s+)?" + _MONTH_WORD
    + r",?\s*(?:de\s+)?" + _YEAR + r"(?!\d)" + _TIME, re.IGNORECASE)
_MONTH_DAY_YEAR = re.compile(
    r"(?<![^\W\d_])" + _MONTH_WORD + r"\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+" + _YEAR
    + r"(?!\d)" + _TIME, re.IGNORECASE)


def month_number(word: str) -> int | None:
    """The month a (multilingual, possibly abbreviated) month name means, or None."""
    w = word.lower().rstrip(".")
    return _MONTHS.get(w) or _ABBREVIATIONS.get(w)


def parse(text: str | None, tz: ZoneInfo, *, fuzzy: bool = False) -> datetime | None:
    """Parse ``text``; naive results are read in ``tz``. ``fuzzy`` allows human text."""
    dt = parse_local(text, tz, fuzzy=fuzzy)
    return dt.astimezone(UTC).replace(microsecond=0) if dt is not None else None


def parse_local(text: str | None, tz: ZoneInfo, *, fuzzy: bool = False,
                slash_dayfirst: bool = False, general: bool = True) -> datetime | None:
    """Like :func:`parse`, but aware in the offset the text gives (``tz`` when none):
    its ``date()`` is the day as the page writes it. ``slash_dayfirst`` reads ``03/02/2022``
    as 3 February (pages not in US English); dotted dates are always day-first.
    ``general=False`` skips the slow general parser (dateparser) for fuzzy text."""
    if not text:
        return None
    s = text.strip()
    if not s:
        return None
    dt = _strict(s, slash_dayfirst)
    if dt is None and fuzzy:
        dt = _text_date(s, slash_dayfirst) or (_human(s, tz) if general else None)
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    if not 1990 <= dt.year <= 2200:
        return None
    return dt.replace(microsecond=0)


def _strict(s: str, slash_dayfirst: bool = False) -> datetime | None:
    """Machine-written dates: ISO 8601 (tolerantly), RFC 822, dotted day-first."""
    iso = s.replace("Z", "+00:00") if s.endswith("Z") else s
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        pass
    m = _LOOSE_ISO.match(s)
    if m:
        return _loose_iso(m)
    try:
        return parsedate_to_datetime(s)
    except (TypeError, ValueError, IndexError):
        pass
    m = _NUMERIC.fullmatch(s)
    return _numeric(m, slash_dayfirst) if m else None


def _build(y: int, mo: int, d: int, hh: str | None = None, mi: str | None = None,
           ss: str | None = None, tzinfo: tzinfo | None = None) -> datetime | None:
    try:
        return datetime(y, mo, d, int(hh or 0), int(mi or 0), int(ss or 0), tzinfo=tzinfo)
    except ValueError:
        return None


def _loose_iso(m: re.Match[str]) -> datetime | None:
    y, mo, d, hh, mi, ss, zone = m.groups()
    tzi: tzinfo | None = None
    if zone:
        z = zone.upper()
        if z in ZONE_NAMES:
            tzi = timezone(timedelta(minutes=ZONE_NAMES[z]))
        elif z[0] in "+-":
            digits = z[1:].replace(":", "")
            minutes = int(digits[:2]) * 60 + int(digits[2:4] or 0)
            tzi = timezone(timedelta(minutes=-minutes if z[0] == "-" else minutes))
        else:
            return None  # an unknown zone name: not a date we can place in time
    return _build(int(y), int(mo), int(d), hh, mi, ss, tzi)


def _numeric(m: re.Match[str], slash_dayfirst: bool = False) -> datetime | None:
    a, sep, b, y, hh, mi, ss = m.groups()
    first, second = int(a), int(b)
    if sep == "/" and first <= 12 and not slash_dayfirst:  # US: month first
        return _build(int(y), first, second, hh, mi, ss)
    return _build(int(y), second, first, hh, mi, ss)


# an ISO date inside a line of text ("Written: 2023-11-07 15:03:30 / Updated: …")
_ISO_IN_TEXT = re.compile(
    r"(?<![\d-])((?:19|20)\d\d)-(\d\d)-(\d\d)(?:[ T](\d\d):(\d\d)(?::(\d\d))?)?(?![\d-])")


def _text_date(s: str, slash_dayfirst: bool = False) -> datetime | None:
    """The first date written in words or digits inside ``s`` ("Updated: 31 May, 2024
    Friday", "29. Januar 2019", "May 31, 2024 at 5:20 pm", "05.06.2024 14:20")."""
    if len(s) > 200:
        return None
    best: tuple[int, datetime] | None = None
    for rx in (_DAY_MONTH_YEAR, _MONTH_DAY_YEAR, _NUMERIC, _ISO_IN_TEXT):
        m = rx.search(s)
        if not m:
            continue
        if rx is _ISO_IN_TEXT:
            dt = _build(int(m.group(1)), int(m.group(2)), int(m.group(3)), *m.groups()[3:])
        elif rx is _NUMERIC:
            dt = _numeric(m, slash_dayfirst)
        else:
            if rx is _DAY_MONTH_YEAR:
                d, word, y, hh, mi, ss, ampm = m.groups()
            else:
                word, d, y, hh, mi, ss, ampm = m.groups()
            month = month_number(word)
            if month is None:
                continue
            if hh and ampm:
                h = int(hh) % 12 + (12 if ampm.lower().startswith("p") else 0)
                hh = str(h)
            dt = _build(int(y), month, int(d), hh, mi, ss)
        if dt is not None and (best is None or m.start() < best[0]):
            best = (m.start(), dt)
    return best[1] if best else None


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
            "DATE_ORDER": "DMY",
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
