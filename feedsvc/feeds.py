"""Which articles go into which feed, and the render-once cache.

Owns the feed namespace (``all``, ``topic/{slug}``, ``source/{id}``, ``day/{date}``,
``topic/{slug}/day/{date}``, ``digest``), query parameters (``limit``, ``q``,
``before``), RFC 5005 archive/paging links, and the cache: a feed is rendered when its
articles changed, not when it is requested. Every feed depends on a few *feed keys*
whose versions the store bumps on every change (:func:`feedsvc.store._feed_keys`); a
render is stamped with those versions and reused (from this process's memory, else
from the store's ``rendered`` table, shared by all workers and restarts) while the
stamp holds.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from feedsvc import clock, render
from feedsvc.config import Config
from feedsvc.dates import day_bounds, local_day
from feedsvc.errors import BadRequest, NotFound
from feedsvc.render import Entry, FeedDoc
from feedsvc.store import Rendered, Store
from feedsvc.types import Article

FORMATS = ("atom", "rss", "json")
_PATH = re.compile(
    r"^(?:(?P<all>all)|(?P<digest>digest)"
    r"|topic/(?P<topic>[a-z0-9][a-z0-9-]*)(?:/day/(?P<tday>[^/]+))?"
    r"|source/(?P<source>[a-z0-9][a-z0-9-]*)"
    r"|day/(?P<day>[^/]+))"
    r"\.(?P<fmt>atom|rss|json)$"
)
_CURSOR = re.compile(r"^(\d{1,12})\.(\d{1,12})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MEMORY_ENTRIES = 512
RENDER_CACHE = os.environ.get("FEEDSVC_RENDER_CACHE", "1") != "0"  # off: benchmarks only
FAST_TTL = 1.0  # seconds a fast-path answer is trusted before versions are re-read


@dataclass(frozen=True)
class FeedRequest:
    kind: str  # all | digest | topic | source | day | topic-day
    fmt: str
    name: str | None = None  # topic slug or source id
    day: str | None = None
    limit: int | None = None
    q: tuple[str, ...] = ()
    before: tuple[datetime, int] | None = None

    @property
    def path(self) -> str:
        base = {"all": "all", "digest": "digest", "topic": f"topic/{self.name}",
                "source": f"source/{self.name}", "day": f"day/{self.day}",
                "topic-day": f"topic/{self.name}/day/{self.day}"}[self.kind]
        return base

    def query(self) -> str:
        params: list[tuple[str, str]] = []
        if self.limit is not None:
            params.append(("limit", str(self.limit)))
        if self.q:
            params.append(("q", " ".join(self.q)))
        if self.before:
            params.append(("before", f"{int(self.before[0].timestamp())}.{self.before[1]}"))
        return urlencode(params)

    @property
    def cacheable_in_store(self) -> bool:
        return not self.q and self.before is None

    def deps(self) -> list[str]:
        keys = ["*", "days"]
        if self.kind in ("all", "digest"):
            keys.append(self.kind)
        elif self.kind in ("topic", "source"):
            keys.append(f"{self.kind}/{self.name}")
        elif self.kind == "day":
            keys.append(f"day/{self.day}")
        else:
            keys.append(f"topic/{self.name}/day/{self.day}")
        return keys


def parse_request(path: str, args: Mapping[str, str], config: Config) -> FeedRequest:
    """``path`` (after ``/feeds/``) and query args → FeedRequest; NotFound/BadRequest."""
    m = _PATH.match(path)
    if not m:
        raise NotFound(f"no such feed: /feeds/{path}")
    fmt = m.group("fmt")
    day = m.group("day") or m.group("tday")
    if day is not None:
        try:
            day_bounds(day, config.service.tz)
        except ValueError as e:
            raise NotFound(f"no such day: {day} (use an existing YYYY-MM-DD)") from e
    if m.group("topic") and config.topic(m.group("topic")) is None:
        raise NotFound(f"no such topic: {m.group('topic')}")
    if m.group("source") and config.source(m.group("source")) is None:
        raise NotFound(f"no such source: {m.group('source')}")
    kind = ("all" if m.group("all") else "digest" if m.group("digest")
            else "topic-day" if m.group("tday") else "topic" if m.group("topic")
            else "source" if m.group("source") else "day")
    limit = None
    if "limit" in args:
        raw = args["limit"]
        if not raw.isdigit() or not 1 <= int(raw) <= 500:
            raise BadRequest("limit must be an integer from 1 to 500")
        limit = int(raw)
    q: tuple[str, ...] = ()
    if "q" in args:
        raw = args["q"]
        if len(raw) > 200:
            raise BadRequest("q must be at most 200 characters")
        q = tuple(w for w in raw.split() if w)[:10]
    before = None
    if "before" in args:
        cm = _CURSOR.match(args["before"])
        if not cm:
            raise BadRequest("before must be a cursor taken from a feed's next link")
        try:
            before = (datetime.fromtimestamp(int(cm.group(1)), UTC), int(cm.group(2)))
        except (OverflowError, OSError, ValueError) as e:
            raise BadRequest("before is out of range") from e
    return FeedRequest(kind=kind, fmt=fmt, name=m.group("topic") or m.group("source"),
                       day=day, limit=limit, q=q, before=before)


@dataclass(frozen=True)
class Served:
    """A rendered feed ready to send."""

    body: bytes
    body_gz: bytes
    etag: str  # strong, quoted, of the identity body; gzip's adds "-gz"
    last_modified: datetime
    content_type: str
    max_age: int
    links: tuple[tuple[str, str], ...] = ()  # (rel, href) for Link headers: self, hub


class Publisher:
    """Answers feed requests from the cache, rendering only when articles changed."""

    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self._memory: OrderedDict[str, Rendered] = OrderedDict()
        self._lock = threading.Lock()
        self.renders = 0  # how many times this process rendered (tests, metrics)
        self.hits = 0
        # Fast path: URL path (no query) → (answer, monotonic time it was validated).
        self._fast: dict[str, tuple[Served, float]] = {}

    def peek(self, base_url: str, path: str) -> Served | None:
        """A cached answer for a query-less feed URL validated within FAST_TTL, or None.

        Lets the WSGI fast path answer without Flask or the database; anything else
        (a miss, a stale entry) goes through :meth:`get`.
        """
        hit = self._fast.get(base_url + path)
        if hit is not None and time.monotonic() - hit[1] < FAST_TTL:
            self.hits += 1
            return hit[0]
        return None

    def today(self) -> str:
        return local_day(clock.now(), self.config.service.tz)

    def get(self, req: FeedRequest, base_url: str) -> Served:
        base = self.config.service.base_url or base_url.rstrip("/")
        today = self.today()
        if req.day is not None and req.day != today:
            days = self.store.days()
            if req.day > today or not days or req.day < days[0]:
                raise NotFound(f"no such day: {req.day} (the archive holds "
                               f"{days[0] if days else today} to {today})")
        versions = self.store.versions(req.deps())
        finished = req.day is not None and req.day < today
        stamp_src = "|".join([self.config.sha256, base, today if not finished else "done",
                              *(f"{k}={v}" for k, v in sorted(versions.items()))])
        stamp = hashlib.sha256(stamp_src.encode()).hexdigest()[:40]
        key = f"{base}/feeds/{req.path}.{req.fmt}?{req.query()}"
        item = self._lookup(key, stamp, req) if RENDER_CACHE else None
        if item is None:
            item = self._render(req, key, stamp, base, today)
        else:
            self.hits += 1
        max_age = 86400 if finished else self._live_max_age(req)
        links: tuple[tuple[str, str], ...] = (("self", f"{base}/feeds/{req.path}.{req.fmt}"),)
        hub = self.config.settings.websub.hub
        if hub:
            links += (("hub", hub),)
        served = Served(body=item.body, body_gz=item.body_gz, etag=item.etag,
                        last_modified=item.last_modified,
                        content_type=render.CONTENT_TYPES[req.fmt], max_age=max_age,
                        links=links)
        if not req.query() and RENDER_CACHE:
            if len(self._fast) > MEMORY_ENTRIES:
                self._fast.clear()
            self._fast[f"{base_url.rstrip('/')}/feeds/{req.path}.{req.fmt}"] = (
                served, time.monotonic())
        return served

    def _lookup(self, key: str, stamp: str, req: FeedRequest) -> Rendered | None:
        with self._lock:
            item = self._memory.get(key)
            if item is not None and item.stamp == stamp:
                self._memory.move_to_end(key)
                return item
        if not req.cacheable_in_store:
            return None
        item = self.store.get_rendered(key)
        if item is not None and item.stamp == stamp:
            self._remember(item)
            return item
        return None

    def _remember(self, item: Rendered) -> None:
        with self._lock:
            self._memory[item.key] = item
            self._memory.move_to_end(item.key)
            while len(self._memory) > MEMORY_ENTRIES:
                self._memory.popitem(last=False)

    def _render(self, req: FeedRequest, key: str, stamp: str, base: str,
                today: str) -> Rendered:
        doc = self.document(req, base, today)
        body = render.RENDERERS[req.fmt](doc)
        digest = hashlib.sha256(body).hexdigest()[:32]
        item = Rendered(key=key, stamp=stamp, etag=f'"{digest}"',
                        last_modified=doc.updated.replace(microsecond=0),
                        body=body, body_gz=gzip.compress(body, compresslevel=9, mtime=0))
        self.renders += 1
        if req.cacheable_in_store:
            self.store.put_rendered(item)
        self._remember(item)
        return item

    def _live_max_age(self, req: FeedRequest) -> int:
        sources = self.config.sources
        if req.kind == "source":
            sources = tuple(s for s in sources if s.id == req.name)
        everys = [s.every for s in sources if s.enabled]
        return int(min(max(min(everys, default=3600), 60), 3600))

    # -- documents -----------------------------------------------------------------
    def document(self, req: FeedRequest, base: str, today: str) -> FeedDoc:
        svc = self.config.service
        size = req.limit or svc.feed_size
        links: list[tuple[str, str]] = []
        archive = False
        entries: tuple[Entry, ...] = ()
        arts: list[Article] = []
        url = lambda path: f"{base}/feeds/{path}.{req.fmt}"  # noqa: E731
        topic = self.config.topic(req.name) if req.name and "topic" in req.kind else None

        if req.kind in ("all", "topic", "source"):
            arts = self.store.latest(size + 1, topic=topic.slug if topic else None,
                                     source=req.name if req.kind == "source" else None,
                                     before=req.before, q=req.q)
            if len(arts) > size:
                arts = arts[:size]
                last = arts[-1]
                nxt = FeedRequest(kind=req.kind, fmt=req.fmt, name=req.name,
                                  limit=req.limit, q=req.q, before=(last.published, last.id))
                links.append(("next", f"{url(req.path)}?{nxt.query()}"))
            days = [d for d in self.store.days(topic.slug if topic else None) if d < today]
            if days and req.kind != "source":
                prefix = f"topic/{topic.slug}/" if topic else ""
                links.append(("prev-archive", url(f"{prefix}day/{days[-1]}")))
            if req.kind == "all":
                title, sub = svc.title, f"Newest articles in {svc.title}"
            elif topic:
                title = f"{svc.title}: {topic.display_title}"
                sub = f"Newest articles on {topic.display_title}"
            else:
                src = self.config.source(req.name or "")
                name = src.display_title if src else req.name
                title, sub = f"{svc.title}: {name}", f"Newest articles from {name}"
        elif req.kind in ("day", "topic-day"):
            assert req.day is not None
            arts = self.store.day(req.day, topic=topic.slug if topic else None)
            if req.q:
                arts = [a for a in arts if _matches(a, req.q)]
            if req.limit:
                arts = arts[:req.limit]
            days = self.store.days(topic.slug if topic else None)
            prefix = f"topic/{topic.slug}/" if topic else ""
            earlier = [d for d in days if d < req.day]
            later = [d for d in days if req.day < d < today]
            if earlier:
                links.append(("prev-archive", url(f"{prefix}day/{earlier[-1]}")))
            if later:
                links.append(("next-archive", url(f"{prefix}day/{later[0]}")))
            archive = req.day < today
            if archive:
                links.append(("current", url(f"topic/{topic.slug}" if topic else "all")))
            what = f"{topic.display_title}, " if topic else ""
            title = f"{svc.title}: {what}{req.day}"
            sub = f"Every article published on {req.day} ({svc.timezone})"
        else:  # digest
            counts = self.store.day_counts()
            finished = sorted((d for d in counts if d < today), reverse=True)[:size]
            entries = tuple(self._digest_entry(d, base, req.fmt) for d in finished)
            title, sub = f"{svc.title}: daily digest", "One entry per finished day"
        hub = self.config.settings.websub.hub
        if hub:
            links.insert(0, ("hub", hub))
        self_url = url(req.path) + (f"?{req.query()}" if req.query() else "")
        return FeedDoc(
            title=title, subtitle=sub, feed_id=url(req.path), self_url=self_url,
            alternate_url=f"{base}/", articles=tuple(arts), entries=entries,
            links=tuple(links), archive=archive,
            topic_titles={t.slug: t.display_title for t in self.config.topics},
            topic_scheme=f"{base}/feeds/topic/",
        )

    def _digest_entry(self, day: str, base: str, fmt: str) -> Entry:
        from html import escape

        arts = self.store.day(day)
        items = "".join(
            f'<li><a href="{escape(a.url)}">{escape(a.title)}</a></li>' for a in arts)
        start, end = day_bounds(day, self.config.service.tz)
        # Dates from the day's articles, never later than them (so never later than the
        # feed's own date): published <= updated <= feed updated.
        published = max((a.published for a in arts), default=end)
        return Entry(
            guid=f"tag:feedsvc,{day}:digest/{day}",
            title=f"{self.config.service.title}: {day} ({len(arts)} articles)",
            url=f"{base}/feeds/day/{day}.{fmt}",
            content_html=f"<ul>{items}</ul>",
            published=published,
            updated=max([published, *(a.updated for a in arts)]),
        )


def _matches(a: Article, words: tuple[str, ...]) -> bool:
    text = f"{a.title}\n{a.summary}\n{a.content_html}".casefold()
    return all(w.casefold() in text for w in words)
