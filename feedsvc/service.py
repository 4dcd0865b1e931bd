"""feedsvc's one public face: a :class:`Service` is the archive of one config.

``Service.from_config(path)`` is what the CLI, the web factory and the tests use. It
holds the config in force (with safe hot reload), the store, the render cache and the
refresher, and answers the questions every front end asks::

    svc = Service.from_config("config/feedsvc.toml", writer=True)
    svc.refresh()                                 # fetch → extract → classify → store
    svc.feed(parse_request(path, args, svc.config), "http://host")   # → Rendering
    svc.status(), svc.health(), svc.reload()

A *writer* (``run``, ``scheduler``, ``refresh``, ``db upgrade``) migrates the schema
and re-dates articles when ``service.timezone`` changes; a reader (every web process)
never writes: facing an old schema it reports it (:meth:`schema_problem`) instead of
migrating.

Reload: :meth:`reload` re-reads the file when its bytes changed (called at most every
``CHECK_EVERY`` seconds, and on SIGHUP); a broken edit is refused (logged, kept in
``refused`` for ``/status``) and the last good config stays in force.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from feedsvc import clock, websub
from feedsvc import config as config_mod
from feedsvc.cache import RenderCache
from feedsvc.config import Config
from feedsvc.errors import ConfigError, FeedsvcError, SchemaOutdated
from feedsvc.feeds import ARCHIVE_CREATED, FeedRequest
from feedsvc.store import Store
from feedsvc.types import Rendering, SourceResult, SourceState

if TYPE_CHECKING:  # the refresh side (fetching, extraction) is imported by writers only
    from feedsvc.fetch import Fetcher
    from feedsvc.refresh import Refresher

log = logging.getLogger("feedsvc.config")
CHECK_EVERY = 5.0  # seconds between looks at the config file's bytes
STABLE_FOR = 1.0  # seconds a changed config file must stay unchanged before it is read
HEARTBEAT_FRESH = timedelta(minutes=3)
DISK_FULL_RECENT = timedelta(minutes=2)  # a disk-full write error counts this long
SCHEMA_RECHECK = 10.0  # seconds a reader trusts its last schema check


@dataclass(frozen=True)
class Refused:
    """A config edit that was refused (the last good config stayed in force)."""

    message: str  # the file: key: message lines
    at: datetime  # aware UTC
    sha256: str  # of the refused bytes


class Service:
    """The archive of one config: refresh it, read its feeds, report its state."""

    def __init__(self, config: Config, store: Store | None = None, *,
                 writer: bool = False) -> None:
        self.config = config
        self.writer = writer
        self.store = store or Store(config.database_url, config.service.tz)
        self.cache = RenderCache(config, self.store)
        self.refused: Refused | None = None
        self.listeners: list[Callable[[Config, Config], None]] = []  # (old, new) config
        self.change_listeners: list[Callable[[frozenset[str]], None]] = []  # feed keys
        self._checked = time.monotonic()
        self._seen: tuple[int, int] | None = None  # (size, mtime_ns) of the file last read
        self._pending: tuple[int, int] | None = None  # a changed file not yet stable
        self._pending_at = 0.0
        self._lock = threading.Lock()
        self._fetcher: Fetcher | None = None
        self._refresher: Refresher | None = None
        self._schema_ok_at: float | None = None

    @classmethod
    def from_config(cls, path: str | Path | None = None, *, writer: bool = False) -> Service:
        """The service of the config file at ``path`` (default: $FEEDSVC_CONFIG, then
        ``config/feedsvc.toml``); a writer migrates the schema first."""
        svc = cls(config_mod.load(path), writer=writer)
        if writer:
            svc.upgrade()
        return svc

    def close(self) -> None:
        self.cache.flush()
        if self._fetcher is not None:
            self._fetcher.close()
        self.store.close()

    # -- schema ------------------------------------------------------------------------
    def upgrade(self) -> None:
        """Apply pending migrations and date articles in the service time zone."""
        self.store.upgrade()
        self.store.redate(self.config.service.tz)
        if self.store.get_kv(ARCHIVE_CREATED) is None:  # the date of empty feeds
            self.store.set_kv(ARCHIVE_CREATED, clock.now().replace(microsecond=0)
                              .isoformat())
        self._schema_ok_at = time.monotonic()

    def schema_problem(self) -> str | None:
        """Why this process cannot serve from the database (an old or empty schema), or
        None. Checked at most every ``SCHEMA_RECHECK`` seconds once it was right."""
        now = time.monotonic()
        if self._schema_ok_at is not None and now - self._schema_ok_at < SCHEMA_RECHECK:
            return None
        try:
            self.store.check_schema()
        except SchemaOutdated as e:
            self._schema_ok_at = None
            return str(e)
        except FeedsvcError:
            return None  # the store is down: health and the error handler say so
        self._schema_ok_at = now
        return None

    # -- config ------------------------------------------------------------------------
    def reload(self, force: bool = False) -> bool:
        """Reload when the file changed; return True when a new config took effect.

        A file is read only once it is stable: its size and mtime unchanged for
        ``STABLE_FOR`` seconds (an mtime that old, or the same size and mtime seen on
        two looks that far apart) and across the read itself. A file still being
        written is left for a later call (a later request or scheduler tick): nothing
        waits. ``force`` (SIGHUP) only skips the ``CHECK_EVERY`` throttle."""
        now = time.monotonic()
        wait = STABLE_FOR if self._pending is not None else CHECK_EVERY
        if not force and now - self._checked < wait:
            return False
        with self._lock:
            self._checked = now
            path = self.config.path
            try:
                before = _signature(path)
                if before == self._seen:
                    return False  # the file as last read (taken or refused)
                if not self._stable(before, now):
                    return False
                data = path.read_bytes()
                after = _signature(path)
            except OSError as e:
                self._refuse(f"{path}: cannot read: {e.strerror or e}", b"")
                return False
            if after != before:  # written to while we read it: look again later
                self._pending, self._pending_at = after, now
                return False
            self._pending = None
            self._seen = after
            digest = hashlib.sha256(data).hexdigest()
            if digest == self.config.sha256:
                self.refused = None
                return False
            if self.refused and self.refused.sha256 == digest:
                return False
            try:
                new = config_mod.parse(data, path)
            except ConfigError as e:
                self._refuse(e.lines(), data)
                return False
            if new.database_url != self.config.database_url:
                self._refuse(f"{path}: service.database: changing the database needs a "
                             "restart; the running service keeps its database", data)
                return False
            emptied = _emptied(self.config, new)
            if emptied:
                self._refuse(f"{path}: {emptied}", data)
                return False
            old = self.config
            self.config = new
            self.refused = None
            if self.writer:
                self.store.redate(new.service.tz)
            else:
                self.store.tz = new.service.tz
            self.cache.flush()  # the new cache finds what the old one rendered
            self.cache = RenderCache(new, self.store)
            self._refresher = None
            if self._fetcher is not None and new.fetch != self._fetcher.cfg:
                # Refreshes still running keep the old fetcher until they finish.
                self._fetcher = None
            log.info("config reloaded sha256=%s sources=%d topics=%d", digest[:12],
                     len(new.sources), len(new.topics))
        for listener in self.listeners:
            listener(old, new)
        return True

    def _stable(self, sig: tuple[int, int], now: float) -> bool:
        """Whether the file with signature ``sig`` has stopped changing."""
        if time.time() - sig[1] / 1e9 >= STABLE_FOR:
            return True
        if self._pending == sig and now - self._pending_at >= STABLE_FOR:
            return True
        if self._pending != sig:
            self._pending, self._pending_at = sig, now
            log.info("config file changed; reload deferred until it is stable path=%s",
                     self.config.path)
        return False

    def _refuse(self, message: str, data: bytes) -> None:
        self.refused = Refused(message=message, at=clock.now(),
                               sha256=hashlib.sha256(data).hexdigest())
        log.error("config edit refused; the last good config stays in force: %s",
                  message.replace("\n", " | "))

    # -- refresh -----------------------------------------------------------------------
    @property
    def refresher(self) -> Refresher:
        """The refresher of the config in force (one fetcher while its settings hold, so
        robots.txt and per-host politeness carry over between refreshes)."""
        from feedsvc.fetch import Fetcher
        from feedsvc.refresh import Refresher

        with self._lock:
            if self._fetcher is None:
                self._fetcher = Fetcher(self.config.fetch)
            if self._refresher is None:
                self._refresher = Refresher(self.config, self.store, self._fetcher)
                self._refresher.on_changed = self._changed
            return self._refresher

    def refresh(self, source_ids: Iterable[str] | None = None, *, force: bool = True,
                progress: Callable[[int, int, SourceResult], None] | None = None,
                ) -> list[SourceResult]:
        """One refresh pass over the named sources (default: every enabled one)."""
        return self.refresher.refresh(source_ids, force=force, progress=progress)

    def refresh_source(self, source_id: str, *, force: bool = True) -> SourceResult | None:
        """Refresh one source of the config in force (None: unknown or disabled)."""
        src = self.config.source(source_id)
        if src is None or (not src.enabled and not force):
            return None
        return self.refresher.refresh_or_report(src, force=force)

    def _changed(self, feed_keys: frozenset[str]) -> None:
        """A refresh changed these feeds: tell this process's listeners, then the hub."""
        for listener in self.change_listeners:
            listener(feed_keys)
        websub.publish(self.config, feed_keys)

    # -- reading -----------------------------------------------------------------------
    def feed(self, req: FeedRequest, request_base: str) -> Rendering:
        """The rendering of one feed (rendered only if its articles changed)."""
        return self.cache.get(req, request_base)

    def disk_problem(self) -> str | None:
        """"disk full: …" when the database's file system has less than
        ``service.min_free_disk`` free (SQLite), or a write failed for want of space in
        the last ``DISK_FULL_RECENT`` (any backend); else None."""
        free = self.store.free_space()
        if free is not None and free[1] < self.config.service.min_free_disk:
            return (f"disk full: {free[1] // 1_000_000} MB free on {free[0]} "
                    f"(service.min_free_disk is {self.config.service.min_free_disk // 1_000_000}"
                    " MB)")
        failed = self.store.disk_full
        if failed is not None and clock.now() - failed[0] < DISK_FULL_RECENT:
            return f"disk full: a write failed at {_iso(failed[0])}: {failed[1]}"
        return None

    def health(self) -> tuple[bool, str]:
        """(healthy, reason): the disk has room, the store answers and the scheduler's
        heartbeat is fresh."""
        full = self.disk_problem()
        if full:
            return False, full
        try:
            self.store.ping()
            beat = self.store.get_kv("scheduler_heartbeat")
        except FeedsvcError as e:
            return False, f"store unavailable: {e}"
        problem = self.schema_problem()
        if problem:
            return False, problem
        if not beat:
            return False, "no scheduler heartbeat yet"
        age = clock.now() - datetime.fromisoformat(beat)
        if age > HEARTBEAT_FRESH:
            return False, f"scheduler heartbeat is {int(age.total_seconds())}s old"
        return True, "ok"

    def status(self) -> dict[str, Any]:
        """What /status and /status.json show: each source's state, the config in force
        and any refused edit, and health."""
        cfg = self.config
        states = self.store.all_source_states()
        since = clock.now() - timedelta(hours=24)
        sources = []
        for s in cfg.sources:
            st = states.get(s.id)
            sources.append({
                "id": s.id, "title": s.display_title, "kind": s.kind, "url": s.url,
                "enabled": s.enabled, "every": s.every,
                "last_attempt": _iso(st.last_attempt) if st else None,
                "last_success": _iso(st.last_success) if st else None,
                "last_error": st.last_error if st else None,
                "last_status": st.last_status if st else None,
                "failures": st.failures if st else 0,
                "next_run": _iso(next_run(s.every, s.enabled, st)),
                "articles": self.store.count_articles(s.id),
                "articles_24h": self.store.count_articles(s.id, since=since),
                # only for a source that has answered (a failure is a fetch too)
                "not_modified_ratio": (round(st.not_modified / st.fetches, 3)
                                       if st and st.fetches and st.last_success else None),
                "fetches": st.fetches if st else 0,
                "not_modified": st.not_modified if st else 0,
            })
        ok, reason = self.health()
        return {
            "service": cfg.service.title, "timezone": cfg.service.timezone,
            "healthy": ok, "health": reason,
            "config": {
                "path": str(cfg.path), "sha256": cfg.sha256, "loaded_at": _iso(cfg.loaded_at),
                "pending": self._pending is not None,  # a changed file not yet stable
                "refused": ({"message": self.refused.message, "at": _iso(self.refused.at)}
                            if self.refused else None),
            },
            "sources": sources,
            "topics": [{"slug": t.slug, "title": t.display_title} for t in cfg.topics],
        }

    def source_notes(self) -> dict[str, str]:
        """A short warning per source that is failing, not yet refreshed or still empty
        (for the index page; cheap: the states table and the feed versions)."""
        enabled = [s for s in self.config.sources if s.enabled]
        states = self.store.all_source_states()
        versions = self.store.versions([f"source/{s.id}" for s in enabled])
        notes = {}
        for s in enabled:
            st = states.get(s.id)
            if st is not None and st.last_error:
                notes[s.id] = f"failing: {st.last_error[:160]}"
            elif st is None or st.last_success is None:
                notes[s.id] = "not refreshed yet"
            elif not versions.get(f"source/{s.id}"):
                notes[s.id] = "no articles yet"
        return notes

def _signature(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def _emptied(old: Config, new: Config) -> str | None:
    """Why an edit from ``old`` to ``new`` looks like a wiped file: it drops every
    source or every topic without ``service.allow_empty = true``."""
    if new.service.allow_empty:
        return None
    for what, had, has in (("source", old.sources, new.sources),
                           ("topic", old.topics, new.topics)):
        if had and not has:
            return (f"the edit removes every {what} (had {len(had)}); refused as a "
                    f"half-written or emptied file; set allow_empty = true under "
                    f"[service] if that is meant")
    return None


def next_run(every: float, enabled: bool, st: SourceState | None) -> datetime | None:
    """When the scheduler will next try: the interval after the last attempt, or the
    end of a back-off, whichever is later; None for a disabled source."""
    if not enabled:
        return None
    if st is None or st.last_attempt is None:
        return clock.now()
    due = st.last_attempt + timedelta(seconds=every)
    return max(due, st.next_run) if st.next_run else due


def _iso(dt: datetime | None) -> str | None:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z") if dt else None
