"""The render-once cache: a feed is rendered when its articles change, not when asked.

Every feed depends on a few feed keys (:meth:`feedsvc.feednames.FeedName.deps`) whose
versions the store bumps in the transaction that changes an article. A rendering is
stamped with those versions (with the parts of the config it was made with, and the base
URL) and reused while the stamp holds: from this process's memory (an LRU bounded in
bytes), else from the store's ``rendered`` table, which every worker and every restart
shares. Only
canonical, query-less feeds go to the store, and only under the configured
``service.base_url``: parameterised answers, and every answer built from a request's Host
header, stay in this process's memory, so no client can grow the database.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime

from isal import igzip

from feedsvc import clock, feednames
from feedsvc.config import Config
from feedsvc.dates import local_day
from feedsvc.errors import StoreError
from feedsvc.feeds import Documents, FeedRequest
from feedsvc.render import RENDERERS
from feedsvc.store import Store
from feedsvc.types import Rendering

log = logging.getLogger("feedsvc.cache")
CACHE_ENABLED = os.environ.get("FEEDSVC_RENDER_CACHE", "1") != "0"  # off: benchmarks only
MEMORY_BYTES = 64 * 1024 * 1024  # renderings kept in memory per process (plain + gzip)
# Compressed once per change, gzip is on the cold path of every busy feed: at a busy
# site most requests of topic, source and today's feeds are the first after a change.
# ISA-L's gzip (isal.igzip, standard gzip output): on the bench machine a 466 KB topic x
# day feed took 3.7 ms with zlib level 2 and 0.8 ms with ISA-L level 2, 2% smaller. Its
# best level (3) up to GZIP_BIG bytes; above, level 2 (a 2.5 MB day feed).
GZIP_LEVEL, GZIP_BIG, GZIP_BIG_LEVEL = 3, 256 * 1024, 2


class _RowWriter:
    """Writes renderings to the store's shared table after the answer has gone out: on
    the cold path of a busy feed the write was a fifth of the time (bench/archive). One
    daemon thread per cache, started on first use; a lost or failed write only means
    another process renders the same bytes again."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: queue.Queue[Rendering] = queue.Queue(maxsize=256)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def put(self, item: Rendering) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="feedsvc-cache-rows",
                                                daemon=True)
                self._thread.start()
        try:
            self._queue.put_nowait(item)
        except queue.Full:  # the store is slower than renders come: keep it in memory only
            log.warning("rendering not stored key=%s error='write queue full'", item.key)

    def flush(self) -> None:
        """Wait until every queued rendering is written (reload, close, tests)."""
        self._queue.join()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                self.store.put_rendering(item)
            except StoreError as e:  # a full disk, a lock: it was served from memory
                log.warning("rendering not stored key=%s error=%r", item.key, str(e))
            except Exception:  # never let the writer die: later renderings need it
                log.exception("rendering not stored key=%s", item.key)
            finally:
                self._queue.task_done()


class RenderCache:
    """Answers feed requests with renderings, rendering only when articles changed."""

    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self.documents = Documents(config, store)
        self._memory: OrderedDict[str, Rendering] = OrderedDict()
        self._memory_bytes = 0
        self._lock = threading.Lock()
        self.renders = 0  # renderings made by this process (tests, metrics)
        self.hits = 0
        self._rows = _RowWriter(store)

    def flush(self) -> None:
        """Wait until every rendering made so far is in the store (for every process)."""
        self._rows.flush()

    def today(self) -> str:
        return local_day(clock.now(), self.config.service.tz)

    def base(self, request_base: str) -> str:
        """The base URL feeds are written with: ``service.base_url``, else the request's."""
        return self.config.service.base_url or request_base.rstrip("/")

    def get(self, req: FeedRequest, request_base: str) -> Rendering:
        """The rendering of ``req``; NotFound for a day outside the archive."""
        with self.store.reading():
            return self._get(req, request_base)

    def _get(self, req: FeedRequest, request_base: str) -> Rendering:
        base = self.base(request_base)
        today = self.today()
        versions = self.store.versions(req.name.deps())
        self.documents.check_day(req.name, today, (versions.get(feednames.DAY_LIST, 0),
                                                   versions.get(feednames.EVERYTHING, 0)))
        finished = req.name.day is not None and req.name.day < today
        stamp_src = "|".join([self._config_stamp(req), base, "done" if finished else today,
                              *(f"{k}={v}" for k, v in sorted(versions.items()))])
        stamp = hashlib.sha256(stamp_src.encode()).hexdigest()[:40]
        key = f"{base}{req.name.path(req.fmt)}?{req.query()}"
        item = self._lookup(key, stamp, req) if CACHE_ENABLED else None
        if item is None:
            return self._render(req, key, stamp, base, today)
        self.hits += 1
        return item

    def _config_stamp(self, req: FeedRequest) -> str:
        """What of the config a feed's bytes depend on (titles, time zone, feed size, hub,
        base URL, topic titles, its source's title; a page: every source's title): an
        edit of anything else (a source's interval, selectors, a topic's terms:
        re-classification bumps what moved) keeps every rendering valid."""
        cfg = self.config
        svc = cfg.service
        parts = [svc.title, str(svc.timezone), str(svc.feed_size), svc.base_url or "",
                 cfg.settings.websub.hub or "",
                 *(f"{t.slug}={t.display_title}" for t in cfg.topics)]
        if req.name.source:
            src = cfg.source(req.name.source)
            parts.append(src.display_title if src else "")
        if req.fmt == feednames.PAGE:  # an archive page names every headline's source
            parts += [f"{s.id}={s.display_title}" for s in cfg.sources]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def _lookup(self, key: str, stamp: str, req: FeedRequest) -> Rendering | None:
        with self._lock:
            item = self._memory.get(key)
            if item is not None and item.stamp == stamp:
                self._memory.move_to_end(key)
                return item
        if not self._shared(req):
            return None
        item = self.store.get_rendering(key, stamp)
        if item is not None and item.stamp == stamp:
            self._remember(item)
            return item
        return None

    def _shared(self, req: FeedRequest) -> bool:
        """Whether this rendering goes to the store, shared by every process."""
        return req.canonical and bool(self.config.service.base_url)

    def _remember(self, item: Rendering) -> None:
        size = len(item.body) + len(item.body_gz)
        if size > MEMORY_BYTES // 4:
            return
        with self._lock:
            old = self._memory.pop(item.key, None)
            if old is not None:
                self._memory_bytes -= len(old.body) + len(old.body_gz)
            self._memory[item.key] = item
            self._memory_bytes += size
            while self._memory_bytes > MEMORY_BYTES:
                _, dropped = self._memory.popitem(last=False)
                self._memory_bytes -= len(dropped.body) + len(dropped.body_gz)

    def page(self, key: str, deps: Sequence[str], shows: Sequence[str],
             make: Callable[[], bytes]) -> Rendering:
        """A page that is not a feed (the index, ``key`` its URL with the parameters it
        depends on): rendered by ``make`` only when the versions of the feed keys
        ``deps`` or what else it ``shows`` (config parts, source notes) changed. Kept in
        this process's memory only; its Last-Modified is when this process rendered
        these bytes' state, so a changed page never looks older than one answered."""
        versions = self.store.versions(deps)
        stamp_src = "\0".join([key, *shows, *(f"{k}={v}" for k, v in sorted(versions.items()))])
        stamp = hashlib.sha256(stamp_src.encode()).hexdigest()[:40]
        if CACHE_ENABLED:
            with self._lock:
                item = self._memory.get(key)
                if item is not None and item.stamp == stamp:
                    self._memory.move_to_end(key)
                    self.hits += 1
                    return item
        item = _rendering(key, stamp, make(), clock.now())
        self.renders += 1
        if CACHE_ENABLED:
            self._remember(item)
        return item

    def _render(self, req: FeedRequest, key: str, stamp: str, base: str,
                today: str) -> Rendering:
        doc = self.documents.document(req, base, today)
        item = _rendering(key, stamp, RENDERERS[req.fmt](doc), doc.updated)
        self.renders += 1
        if self._shared(req) and CACHE_ENABLED:
            self._rows.put(item)  # written after the answer has gone out
        if CACHE_ENABLED:
            self._remember(item)
        return item


def _rendering(key: str, stamp: str, body: bytes, last_modified: datetime) -> Rendering:
    """``body`` as a rendering: its strong ETag and its gzip variant, compressed once."""
    digest = hashlib.sha256(body).hexdigest()[:32]
    level = GZIP_LEVEL if len(body) <= GZIP_BIG else GZIP_BIG_LEVEL
    return Rendering(key=key, stamp=stamp, etag=f'"{digest}"',
                     last_modified=last_modified.replace(microsecond=0),
                     body=body, body_gz=igzip.compress(body, compresslevel=level, mtime=0))
