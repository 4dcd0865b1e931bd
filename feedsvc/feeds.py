"""Which articles go into which feed: feed requests and the documents they become.

Owns the query parameters (``limit``, ``q``, ``before``), what each kind of feed holds
(newest ``feed_size``, a whole day, one digest entry per finished day), its titles,
RFC 5005 archive and paging links, and how long a client may cache it. Names and URLs
come from :mod:`feedsvc.feednames`; the articles from the store (read only); bytes are
made by :mod:`feedsvc.render`, and kept by :mod:`feedsvc.cache`.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from html import escape
from urllib.parse import urlencode

from feedsvc import feednames, search
from feedsvc.config import Config
from feedsvc.dates import day_bounds
from feedsvc.errors import BadRequest, NotFound
from feedsvc.feednames import FeedName
from feedsvc.render import Entry, FeedDoc
from feedsvc.store import Store
from feedsvc.types import Article

_CURSOR = re.compile(r"^(\d{1,12})\.(\d{1,12})$")
_LIMIT = re.compile(r"^[0-9]{1,3}$")  # ASCII digits only: "²".isdigit() is True
_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})$")
MAX_LIMIT = 500
FINISHED_MAX_AGE = 86400  # seconds a client may cache a finished day
NEVER_REFRESHED_MAX_AGE = 0  # a feed whose sources were never refreshed: revalidate
ARCHIVE_CREATED = "archive_created"  # kv key: when the archive was created (ISO, UTC)
# The digest's entries: the last DIGEST_DAYS finished days (``?limit=`` asks for more).
# Each lists every headline of its day: at 800 articles a day, 50 days made 6 MB.
DIGEST_DAYS = 14
DIGEST_MEMORY = 16 * 1024 * 1024  # bytes of digest entries kept per process


@dataclass(frozen=True)
class _DayDigest:
    """One finished day's digest entry, without what depends on the request."""

    html: str
    count: int
    published: datetime
    updated: datetime


@dataclass(frozen=True)
class FeedRequest:
    """One feed in one format, with its query parameters."""

    name: FeedName
    fmt: str  # atom | rss | json
    limit: int | None = None
    q: tuple[str, ...] = ()
    before: tuple[datetime, int] | None = None  # paging cursor: (published, id)

    def query(self) -> str:
        """The normalized query string ("" when there is none)."""
        params: list[tuple[str, str]] = []
        if self.limit is not None:
            params.append(("limit", str(self.limit)))
        if self.q:
            params.append(("q", " ".join(self.q)))
        if self.before:
            params.append(("before", f"{int(self.before[0].timestamp())}.{self.before[1]}"))
        return urlencode(params)

    @property
    def canonical(self) -> bool:
        """A query-less feed: the only kind whose renderings are shared through the store."""
        return self.limit is None and not self.q and self.before is None


def parse_request(path: str, args: Mapping[str, str], config: Config) -> FeedRequest:
    """``path`` (after ``/feeds/``) and query args → FeedRequest; NotFound/BadRequest."""
    name, fmt = feednames.parse_path(path)
    if name.topic and config.topic(name.topic) is None:
        raise NotFound(f"no such topic: {name.topic}")
    if name.source and config.source(name.source) is None:
        raise NotFound(f"no such source: {name.source}")
    limit = None
    if "limit" in args:
        raw = args["limit"]
        if not _LIMIT.match(raw) or not 1 <= int(raw) <= MAX_LIMIT:
            raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}")
        limit = int(raw)
    q = search.parse(args["q"]) if "q" in args else ()
    before = None
    if "before" in args:
        cm = _CURSOR.match(args["before"])
        if not cm:
            raise BadRequest("before must be a cursor taken from a feed's next link")
        try:
            before = (datetime.fromtimestamp(int(cm.group(1)), UTC), int(cm.group(2)))
        except (OverflowError, OSError, ValueError) as e:
            raise BadRequest("before is out of range") from e
    return FeedRequest(name=name, fmt=fmt, limit=limit, q=q, before=before)


def parse_month(raw: str | None) -> tuple[int, int] | None:
    """The index's ``month`` parameter: ``YYYY-MM`` → (year, month); None when absent;
    BadRequest for anything else (an impossible month, a year no archive can hold)."""
    if raw is None:
        return None
    m = _MONTH.fullmatch(raw)
    if (not m or not 1 <= int(m.group(2)) <= 12
            or not feednames.FIRST_YEAR <= int(m.group(1)) <= feednames.LAST_YEAR):
        raise BadRequest(f"month must be YYYY-MM with a year from {feednames.FIRST_YEAR} "
                         f"to {feednames.LAST_YEAR}")
    return int(m.group(1)), int(m.group(2))


class Documents:
    """Builds the :class:`FeedDoc` of a request from the archive (read only)."""

    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self._refreshed: set[str] = set()  # sources known to have been refreshed once
        # Digest entries by (day, version of the day's feed): a finished day rarely
        # changes, so a digest is re-rendered from its days' entries, not their articles.
        self._digests: OrderedDict[tuple[str, tuple[int, int]], _DayDigest] = OrderedDict()
        self._digest_bytes = 0
        self._lock = threading.Lock()
        # (versions of the day list and the archive, the first day they gave)
        self._first_day: tuple[tuple[int, int] | None, str | None] = (None, None)

    def check_day(self, name: FeedName, today: str,
                  days_version: tuple[int, int] | None = None) -> None:
        """NotFound for a day after today or before the archive's first day.
        ``days_version`` (the versions of the day list and of the whole archive, which
        move whenever the set of days does) lets the first day be remembered."""
        if name.day is None or name.day == today:
            return
        if days_version is not None and self._first_day[0] == days_version:
            first = self._first_day[1]
        else:
            first = self.store.first_day()
            if days_version is not None:
                self._first_day = (days_version, first)
        if name.day > today or first is None or name.day < first:
            raise NotFound(f"no such day: {name.day} (the archive holds "
                           f"{first or today} to {today})")

    def max_age(self, name: FeedName, today: str) -> int:
        """Seconds a client may cache the feed: a day for a finished day, else about one
        refresh interval of its sources (60 s to 1 h)."""
        if name.day is not None and name.day < today:
            return FINISHED_MAX_AGE
        sources = self.config.sources
        if name.source:
            sources = tuple(s for s in sources if s.id == name.source)
        if not self.ever_refreshed(name):
            return NEVER_REFRESHED_MAX_AGE
        everys = [s.every for s in sources if s.enabled]
        return int(min(max(min(everys, default=3600), 60), 3600))

    def ever_refreshed(self, name: FeedName) -> bool:
        """Whether any source the feed draws on has been refreshed successfully (a
        feed still waiting for its first refresh must not be cached for long)."""
        ids = {s.id for s in self.config.sources
               if s.enabled and (name.source is None or s.id == name.source)}
        if not ids or ids & self._refreshed:
            return True
        states = self.store.all_source_states()
        self._refreshed |= {sid for sid, st in states.items() if st.last_success}
        return bool(ids & self._refreshed)

    def empty_date(self, name: FeedName) -> datetime:
        """The date of an empty feed: the start of its day, else when the archive was
        created (kept in the store by the first writer), else the config file's date."""
        if name.day is not None:
            return day_bounds(name.day, self.config.service.tz)[0]
        created = self.store.get_kv(ARCHIVE_CREATED)
        if created:
            return datetime.fromisoformat(created)
        mtime = self.config.path.stat().st_mtime if self.config.path.exists() else 0
        return datetime.fromtimestamp(int(mtime), UTC)

    def document(self, req: FeedRequest, base: str, today: str) -> FeedDoc:
        svc = self.config.service
        name = req.name
        size = req.limit or svc.feed_size
        links: list[tuple[str, str]] = []
        archive = False
        entries: tuple[Entry, ...] = ()
        arts: list[Article] = []
        topic = self.config.topic(name.topic) if name.topic else None

        def url(n: FeedName) -> str:
            return n.url(base, req.fmt)

        if name.kind in ("all", "topic", "source"):
            arts = self.store.latest(size + 1, topic=name.topic, source=name.source,
                                     before=req.before, q=req.q)
            if len(arts) > size:
                arts = arts[:size]
                last = arts[-1]
                nxt = replace(req, before=(last.published, last.id))
                links.append(("next", f"{url(name)}?{nxt.query()}"))
            if name.kind != "source":
                newest_done = self.store.day_before(today, name.topic)
                if newest_done:
                    links.append(("prev-archive", url(name.archive_of(newest_done))))
            if name.kind == "all":
                title, sub = svc.title, f"Newest articles in {svc.title}"
            elif topic:
                title = f"{svc.title}: {topic.display_title}"
                sub = f"Newest articles on {topic.display_title}"
            else:
                src = self.config.source(name.source or "")
                label = src.display_title if src else name.source
                title, sub = f"{svc.title}: {label}", f"Newest articles from {label}"
        elif name.day is not None:
            arts = self.store.day(name.day, topic=name.topic, q=req.q)
            if req.limit:
                arts = arts[:req.limit]
            earlier, later = self.store.days_around(name.day, name.topic)
            if earlier:
                links.append(("prev-archive", url(name.archive_of(earlier))))
            if later and later < today:
                links.append(("next-archive", url(name.archive_of(later))))
            archive = name.day < today
            if archive:
                links.append(("current", url(name.current())))
            what = f"{topic.display_title}, " if topic else ""
            title = f"{svc.title}: {what}{name.day}"
            sub = f"Every article published on {name.day} ({svc.timezone})"
        else:  # digest
            days = req.limit or min(svc.feed_size, DIGEST_DAYS)
            finished = [d for d, _ in self.store.recent_days(days, before=today)]
            keys = [feednames.day(d).key for d in finished]
            versions = self.store.versions([feednames.EVERYTHING, *keys])
            entries = tuple(
                self._digest_entry(d, (versions[k], versions[feednames.EVERYTHING]), base,
                                   req.fmt) for d, k in zip(finished, keys, strict=True))
            title, sub = f"{svc.title}: daily digest", "One entry per finished day"
        hub = self.config.settings.websub.hub
        if hub:
            links.insert(0, ("hub", hub))
        self_url = url(name) + (f"?{req.query()}" if req.query() else "")
        return FeedDoc(
            title=title, subtitle=sub, feed_id=url(name), self_url=self_url,
            alternate_url=f"{base}/", articles=tuple(arts), entries=entries,
            links=tuple(links), archive=archive,
            topic_titles={t.slug: t.display_title for t in self.config.topics},
            topic_scheme=f"{base}/feeds/topic/", author=self._author(name),
            key=name.key, timezone=svc.timezone,
            source_titles={s.id: s.display_title for s in self.config.sources},
            empty_updated=None if arts or entries else self.empty_date(name),
        )

    def _author(self, name: FeedName) -> str:
        """The feed-level author: the source's title for a source feed, else the
        service's (RFC 4287: it covers every entry without a byline)."""
        src = self.config.source(name.source) if name.source else None
        return src.display_title if src else self.config.service.title

    def _digest_entry(self, day: str, version: tuple[int, int], base: str, fmt: str
                      ) -> Entry:
        d = self._day_digest(day, version)
        return Entry(
            guid=f"tag:feedsvc,{day}:digest/{day}",
            title=f"{self.config.service.title}: {day} ({d.count} articles)",
            url=f"{base}/feeds/day/{day}.{fmt}",
            content_html=d.html, published=d.published, updated=d.updated,
        )

    def _day_digest(self, day: str, version: tuple[int, int]) -> _DayDigest:
        """The day's headlines as one entry's content, from memory while the versions of
        the day's feed and of the whole archive hold."""
        with self._lock:
            found = self._digests.get((day, version))
            if found is not None:
                self._digests.move_to_end((day, version))
                return found
        arts = self.store.headlines(day)
        items = "".join(
            f'<li><a href="{escape(a.url)}">{escape(a.title)}</a></li>' for a in arts)
        end = day_bounds(day, self.config.service.tz)[1]
        # Dates from the day's articles, never later than them (so never later than the
        # feed's own date): published <= updated <= feed updated.
        published = max((a.published for a in arts), default=end)
        made = _DayDigest(html=f"<ul>{items}</ul>", count=len(arts), published=published,
                          updated=max([published, *(a.updated for a in arts)]))
        with self._lock:
            if (day, version) not in self._digests:
                self._digests[(day, version)] = made
                self._digest_bytes += len(made.html)
            while self._digest_bytes > DIGEST_MEMORY and len(self._digests) > 1:
                _, dropped = self._digests.popitem(last=False)
                self._digest_bytes -= len(dropped.html)
        return made
