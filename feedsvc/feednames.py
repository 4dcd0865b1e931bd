"""The feed namespace: every feed's name, its URL, and the keys its content depends on.

This is the one place that knows the shape of feed names. A feed is one of::

    all   digest   topic/{slug}   source/{id}   day/{YYYY-MM-DD}   topic/{slug}/day/{YYYY-MM-DD}

and is served at ``/feeds/{name}.{atom|rss|json}``, and (but for all and digest) as an
HTML archive page at ``/{name}``. The same strings are the *feed keys*
whose versions the store bumps in the transaction that changes an article
(:func:`touched` lists them), plus two keys every feed depends on: :data:`EVERYTHING`
(bumped by whole-archive changes: retention, re-dating) and :data:`DAY_LIST` (bumped
when a day gets its first article, which moves archive links). The render cache stamps
each rendering with the versions of :meth:`FeedName.deps`; WebSub pings, metrics labels,
the OPML and the index build their URLs here too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from feedsvc.errors import NotFound

FORMATS = ("atom", "rss", "json")
PAGE = "html"  # the archive page of a feed: /day/…, /topic/…, /source/…
KINDS = ("all", "digest", "topic", "source", "day", "topic-day")
EVERYTHING = "*"  # key bumped when the whole archive changes
DAY_LIST = "days"  # key bumped when the set of days with articles changes
_PATH = re.compile(
    r"^(?:(?P<all>all)|(?P<digest>digest)"
    r"|topic/(?P<topic>[a-z0-9][a-z0-9-]*)(?:/day/(?P<tday>[^/]+))?"
    r"|source/(?P<source>[a-z0-9][a-z0-9-]*)"
    r"|day/(?P<day>[^/]+))"
    r"\.(?P<fmt>atom|rss|json)$"
)
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FIRST_YEAR, LAST_YEAR = 1990, 2200  # days outside these years are never in an archive


@dataclass(frozen=True)
class FeedName:
    """One feed, whatever its format: ``FeedName("topic", "energy", "2026-11-21")``."""

    kind: str  # one of KINDS
    slug: str | None = None  # the topic slug or source id (topic, source, topic-day)
    day: str | None = None  # YYYY-MM-DD (day, topic-day)

    @property
    def key(self) -> str:
        """The name as a string, which is also its feed key: ``topic/energy/day/…``."""
        if self.kind in ("all", "digest"):
            return self.kind
        if self.kind in ("topic", "source"):
            return f"{self.kind}/{self.slug}"
        if self.kind == "day":
            return f"day/{self.day}"
        return f"topic/{self.slug}/day/{self.day}"

    @property
    def topic(self) -> str | None:
        return self.slug if self.kind in ("topic", "topic-day") else None

    @property
    def source(self) -> str | None:
        return self.slug if self.kind == "source" else None

    def path(self, fmt: str) -> str:
        """The URL path: ``/feeds/topic/energy.atom``; for ``html``, the archive page of
        the same feed: ``/topic/energy`` (all and digest: the index ``/``)."""
        if fmt == PAGE:
            return "/" if self.kind in ("all", "digest") else f"/{self.key}"
        return f"/feeds/{self.key}.{fmt}"

    def url(self, base: str, fmt: str) -> str:
        """The absolute URL under ``base`` (no trailing slash)."""
        return base + self.path(fmt)

    def deps(self) -> tuple[str, ...]:
        """The feed keys whose versions stamp this feed's rendering."""
        return (EVERYTHING, DAY_LIST, self.key)

    def archive_of(self, day: str) -> FeedName:
        """The day feed of the same scope: ``topic/x`` → ``topic/x/day/{day}``."""
        return topic_day(self.topic, day) if self.topic else FeedName("day", day=day)

    def current(self) -> FeedName:
        """The live feed of the same scope: ``topic/x/day/d`` → ``topic/x``."""
        return FeedName("topic", self.topic) if self.topic else FeedName("all")


ALL = FeedName("all")
DIGEST = FeedName("digest")


def topic(slug: str) -> FeedName:
    return FeedName("topic", slug)


def source(source_id: str) -> FeedName:
    return FeedName("source", source_id)


def day(d: str) -> FeedName:
    return FeedName("day", day=d)


def topic_day(slug: str | None, d: str) -> FeedName:
    return FeedName("topic-day", slug, d) if slug else FeedName("day", day=d)


def valid_day(text: str) -> bool:
    """``YYYY-MM-DD``, a real calendar date within the years an archive can hold."""
    if not _DAY.match(text):
        return False
    try:
        d = date.fromisoformat(text)
    except ValueError:
        return False
    return FIRST_YEAR <= d.year <= LAST_YEAR


def parse_path(path: str) -> tuple[FeedName, str]:
    """``topic/energy.atom`` (the URL path after ``/feeds/``) → name and format.

    Raises :class:`NotFound` for anything that is not a feed name, or names a day that
    cannot exist. Whether the topic or source is configured is the caller's question.
    """
    m = _PATH.match(path)
    if not m:
        raise NotFound(f"no such feed: /feeds/{path}")
    d = m.group("day") or m.group("tday")
    if d is not None and not valid_day(d):
        raise NotFound(f"no such day: {d} (use an existing YYYY-MM-DD)")
    if m.group("all"):
        name = ALL
    elif m.group("digest"):
        name = DIGEST
    elif m.group("tday"):
        name = FeedName("topic-day", m.group("topic"), d)
    elif m.group("topic"):
        name = FeedName("topic", m.group("topic"))
    elif m.group("source"):
        name = FeedName("source", m.group("source"))
    else:
        name = FeedName("day", day=d)
    return name, m.group("fmt")


def parse_page(path: str) -> FeedName:
    """``topic/energy/day/2026-11-21`` (an archive page's URL path without its leading
    ``/``) → the feed it shows. Pages exist for days, topics, topic days and sources;
    NotFound for anything else."""
    if path.endswith((".atom", ".rss", ".json", ".html")) or path in ("all", "digest"):
        raise NotFound(f"no such page: /{path}")
    try:
        return parse_path(f"{path}.atom")[0]
    except NotFound:
        raise NotFound(f"no such page: /{path}") from None


def from_key(key: str) -> FeedName | None:
    """A feed key back to its name; None for the internal keys (``*``, ``days``)."""
    if key in (EVERYTHING, DAY_LIST):
        return None
    try:
        return parse_path(f"{key}.atom")[0]
    except NotFound:
        return None


def touched(sources: Iterable[str], topics: Iterable[str], days: Iterable[str]) -> set[str]:
    """Feed keys whose entries change when an article of these sources, topics and days
    is added, edited or re-classified."""
    topics, days = set(topics), set(days)
    keys = {ALL.key, DIGEST.key}
    keys |= {source(s).key for s in sources}
    keys |= {topic(t).key for t in topics}
    keys |= {day(d).key for d in days}
    keys |= {topic_day(t, d).key for t in topics for d in days}
    return keys


def metric_kind(path: str) -> str:
    """``/feeds/topic/x/day/d.atom`` → ``topic-day``: a bounded metrics label."""
    parts = path.removeprefix("/feeds/").split("/")
    if len(parts) >= 3 and parts[0] == "topic" and parts[2] == "day":
        return "topic-day"
    head = parts[0].split(".")[0]
    return head if head in KINDS else "other"
