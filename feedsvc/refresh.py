"""One refresh pass: the handler that joins the stages for each source.

``sources.read`` (fetch/extract, piece by piece) → classify (topics) → save (store),
per source, with the source's fetch state and back-off kept in the store. Articles are
saved in batches while the next pages are fetched (:class:`_Saver`, within seconds of
their arrival), so a crash mid-source keeps what was fetched and the next run does not
fetch it again; the source's own validators are written only once it was read to the
end. One failing source never stops the others
and never loses what is stored: every error ends as that source's ``last_error`` and an
``error`` result line.

Sources of different hosts are read at the same time (``HOSTS_AT_ONCE``), those of one
host one after another (politeness is per host, in the fetcher), so a slow site delays
only its own sources. A server's ``Retry-After`` is kept (``retry_after:{id}`` in the
store) and honoured even by a manual refresh; feedsvc's own back-off is not.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from feedsvc import clock, metrics
from feedsvc.config import Config, SourceConfig
from feedsvc.errors import FeedsvcError, FetchError, StoreError
from feedsvc.fetch import Fetcher, RetryLater
from feedsvc.sources import Context, Found, Listing, read
from feedsvc.store import Store
from feedsvc.topics import Classifier
from feedsvc.types import SourceResult, SourceState

log = logging.getLogger("feedsvc.refresh")
MAX_BACKOFF = 6 * 3600.0
# Edits: pages of articles first seen within RECHECK_WINDOW are re-fetched (conditional
# GET) at most every RECHECK_EVERY, at most RECHECK_LIMIT per source per refresh.
RECHECK_WINDOW = timedelta(days=2)
RECHECK_EVERY = timedelta(hours=1)
RECHECK_LIMIT = 20
SAVE_BATCH = 100  # articles per store transaction, at most
SAVE_IDLE = 0.25  # seconds: a batch is saved once no piece arrived for this long…
SAVE_EVERY = 2.0  # …or once its first piece is this old
HOSTS_AT_ONCE = 8  # sources of this many different hosts are read at the same time
RETRY_AFTER_KEY = "retry_after:"  # + source id → ISO time a server asked us to wait until

Progress = Callable[[str, int, int], None]  # (source id, done, total)


class Refresher:
    """Refreshes sources of one config into one store."""

    def __init__(self, config: Config, store: Store, fetcher: Fetcher | None = None) -> None:
        self.config = config
        self.store = store
        self.fetcher = fetcher or Fetcher(config.fetch)
        self.classifier = Classifier(config.topics)
        self.on_changed: Callable[[frozenset[str]], None] | None = None

    def refresh(self, source_ids: Iterable[str] | None = None, *, force: bool = True,
                progress: Callable[[int, int, SourceResult], None] | None = None
                ) -> list[SourceResult]:
        """Refresh the named sources (default: every enabled one); results in config
        order. Hosts are read concurrently, each host's sources in config order;
        ``progress`` is called (on this thread) as each source ends."""
        wanted = list(source_ids or ())
        unknown = [s for s in wanted if self.config.source(s) is None]
        if unknown:
            raise FeedsvcError(f"unknown source(s): {', '.join(unknown)}")
        sources = [s for s in self.config.sources if (s.id in wanted if wanted else s.enabled)]
        by_host: dict[str, list[SourceConfig]] = {}
        for src in sources:
            by_host.setdefault(_host(src), []).append(src)
        ended: queue.Queue[SourceResult] = queue.Queue()

        def read_host(group: list[SourceConfig]) -> None:
            for src in group:
                ended.put(self.refresh_or_report(src, force=force))

        results: dict[str, SourceResult] = {}
        with ThreadPoolExecutor(min(HOSTS_AT_ONCE, max(len(by_host), 1)),
                                thread_name_prefix="refresh") as pool:
            for group in by_host.values():
                pool.submit(read_host, group)
            while len(results) < len(sources):
                result = ended.get()
                results[result.source_id] = result
                if progress:
                    progress(len(results), len(sources), result)
        return [results[s.id] for s in sources]

    def refresh_or_report(self, src: SourceConfig, *, force: bool = True) -> SourceResult:
        """:meth:`refresh_source`, with a store too broken to record even the failure
        (a full disk, a held lock) reported as the result instead of raised."""
        try:
            return self.refresh_source(src, force=force)
        except Exception as e:  # noqa: BLE001 - one source never stops the others
            message = str(e) if isinstance(e, FeedsvcError) else f"{type(e).__name__}: {e}"
            log.error("refresh source=%s outcome=error state_not_written=true error=%r",
                      src.id, message)
            return SourceResult(src.id, "error", error=message)

    def due(self, src: SourceConfig) -> bool:
        """False while the source is backing off after failures."""
        state = self.store.source_state(src.id)
        return state.next_run is None or state.next_run <= clock.now()

    def refresh_source(self, src: SourceConfig, *, force: bool = True) -> SourceResult:
        started = time.monotonic()
        state = self.store.source_state(src.id)
        now = clock.now()
        asked = self._server_wait(src.id)
        if asked and asked > now:  # a server's Retry-After binds a manual refresh too
            log.info("refresh source=%s outcome=deferred retry_after=%s", src.id,
                     asked.isoformat())
            return SourceResult(src.id, "deferred",
                                error=f"the server asked to wait: retry after "
                                      f"{self._local(asked)}")
        if not force and state.next_run and state.next_run > now:
            return SourceResult(src.id, "deferred",
                                error=f"backing off until {self._local(state.next_run)}")
        ctx = Context(config=self.config, fetcher=self.fetcher, known=self.store.known_urls,
                      due=lambda source_id: self.store.due_for_recheck(
                          source_id, since=clock.now() - RECHECK_WINDOW, every=RECHECK_EVERY,
                          limit=RECHECK_LIMIT),
                      stored=self.store.article_data)
        saver = _Saver(self, src)
        listing = Listing(fetched=False)
        try:
            try:
                for found in read(src, state, ctx):
                    saver.put(found)
                    listing = found.listing or listing
            finally:
                done = saver.close()  # what was read is saved, even when reading failed
            result = self._result(src, done, started)
        except Exception as e:  # one source's failure must never stop the others
            return self._failed(src, state, e, started)
        fetched = replace(
            state, last_attempt=now, fetches=state.fetches + (1 if listing.fetched else 0),
            not_modified=state.not_modified + (1 if listing.not_modified else 0))
        try:
            self.store.put_source_state(replace(
                fetched, validators=listing.validators, last_success=clock.now(),
                last_error=None, last_status=None, failures=0, next_run=None))
            if asked:
                self.store.delete_kv(RETRY_AFTER_KEY + src.id)
        except StoreError as e:
            # The articles are saved; only the bookkeeping is not. Say so, and keep the
            # old validators so that the next run reads the source again.
            result = replace(result, note=f"{_saved(result)}; state not written: {e}")
            with suppress(StoreError):  # else the result and the log line below tell
                self.store.put_source_state(replace(fetched, last_error=result.note))
        metrics.FETCHES.labels(src.id, "not_modified" if listing.not_modified else "ok").inc()
        metrics.FETCH_SECONDS.labels(src.id).observe(result.seconds)
        for outcome in ("new", "updated"):
            if getattr(result, outcome):
                metrics.ARTICLES.labels(src.id, outcome).inc(getattr(result, outcome))
        log.log(logging.WARNING if result.note else logging.INFO,
                "refresh source=%s outcome=%s new=%d updated=%d unchanged=%d skipped=%d "
                "not_modified=%s seconds=%.2f%s", src.id, result.outcome, result.new,
                result.updated, result.unchanged, result.skipped, listing.not_modified,
                result.seconds, f" note={result.note!r}" if result.note else "")
        for failure in done.failures:
            log.warning("article source=%s skipped=%r", src.id, failure)
        if result.changed_feeds and self.on_changed:
            self.on_changed(result.changed_feeds)
        return result

    @staticmethod
    def _result(src: SourceConfig, done: _Saved, started: float) -> SourceResult:
        counts = done.counts
        outcome = "new" if counts["new"] else "updated" if counts["updated"] else "unchanged"
        return SourceResult(
            src.id, outcome, new=counts["new"], updated=counts["updated"],
            unchanged=counts["unchanged"], skipped=len(done.failures),
            seconds=time.monotonic() - started, changed_feeds=frozenset(done.feeds),
            error="; ".join(done.failures[:3]) if done.failures else None,
        )

    def _failed(self, src: SourceConfig, state: SourceState, e: Exception,
                started: float) -> SourceResult:
        if isinstance(e, FeedsvcError):
            message = str(e)
        else:
            log.exception("refresh source=%s unexpected error", src.id)
            message = f"internal error: {type(e).__name__}: {e}"
        status = e.status if isinstance(e, FetchError) else None
        failures = state.failures + 1
        wait = min(src.every * (2 ** (failures - 1)), MAX_BACKOFF)
        now = clock.now()
        if isinstance(e, RetryLater) and e.retry_after is not None:
            wait = max(e.retry_after, 1.0)
            self.store.set_kv(RETRY_AFTER_KEY + src.id,
                              (now + timedelta(seconds=wait)).isoformat())
        self.store.put_source_state(replace(
            state, last_attempt=now, last_error=message[:2000], last_status=status,
            failures=failures, fetches=state.fetches + 1,
            next_run=now + timedelta(seconds=wait),
        ))
        metrics.FETCHES.labels(src.id, "error").inc()
        metrics.FETCH_SECONDS.labels(src.id).observe(time.monotonic() - started)
        log.warning("refresh source=%s outcome=error status=%s failures=%d retry_in=%.0fs "
                    "error=%r", src.id, status, failures, wait, message)
        return SourceResult(src.id, "error", error=message, status=status,
                            seconds=time.monotonic() - started)


    def _server_wait(self, source_id: str) -> datetime | None:
        """Until when the source's server asked us to wait (its last Retry-After)."""
        value = self.store.get_kv(RETRY_AFTER_KEY + source_id)
        try:
            return datetime.fromisoformat(value) if value else None
        except ValueError:
            return None

    def _local(self, when: datetime) -> str:
        """``HH:MM ZONE`` in the service's time zone (with the date when not today)."""
        local = when.astimezone(self.config.service.tz)
        today = clock.now().astimezone(local.tzinfo).date()
        return local.strftime("%H:%M %Z" if local.date() == today else "%Y-%m-%d %H:%M %Z")


def _host(src: SourceConfig) -> str:
    """The host a source's requests go to (its own key when it has none: files)."""
    return (urlsplit(src.url).hostname or "") if src.kind != "files" else f"files:{src.id}"


def _saved(result: SourceResult) -> str:
    parts = [f"{n} {what}" for what, n in (("new", result.new), ("updated", result.updated))
             if n]
    return (" and ".join(parts) or "nothing new") + " saved"


@dataclass
class _Saved:
    """What a source's saver did (its thread's own tally)."""

    counts: dict[str, int] = field(
        default_factory=lambda: {"new": 0, "updated": 0, "unchanged": 0})
    feeds: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)


class _Saver:
    """Saves a source's pieces on a thread of its own while the source reads on. A
    transaction takes up to ``SAVE_BATCH`` articles, and is made once pieces stop
    arriving for ``SAVE_IDLE`` or ``SAVE_EVERY`` after the first: a fast source saves in
    batches, a slow one (or one stuck on a page) within a fraction of a second."""

    def __init__(self, refresher: Refresher, src: SourceConfig) -> None:
        self.refresher, self.src = refresher, src
        self.queue: queue.Queue[Found | None] = queue.Queue()
        self.saved = _Saved()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=f"save-{src.id}", daemon=True)
        self.thread.start()

    def put(self, found: Found) -> None:
        if self.error is not None:
            raise self.error
        self.saved.failures.extend(found.failures)
        if found.articles or found.known or found.checks:
            self.queue.put(found)

    def close(self) -> _Saved:
        """Wait until everything put is saved; raise the saver's error, if any."""
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.saved

    def _run(self) -> None:
        closed = False
        while not closed:
            batch = [self.queue.get()]
            due = time.monotonic() + SAVE_EVERY
            count = len(batch[0].articles) if batch[0] else 0
            while batch[-1] is not None and count < SAVE_BATCH:
                wait = min(SAVE_IDLE, due - time.monotonic())
                if wait <= 0:
                    break
                try:
                    batch.append(self.queue.get(timeout=wait))
                except queue.Empty:
                    break
                count += len(batch[-1].articles) if batch[-1] else 0
            closed = batch[-1] is None
            if self.error is None:  # after an error, drain without saving
                try:
                    self._save([f for f in batch if f is not None])
                except BaseException as e:  # noqa: BLE001 - re-raised in the reader
                    self.error = e

    def _save(self, batch: list[Found]) -> None:
        store, classifier, sid = self.refresher.store, self.refresher.classifier, self.src.id
        items = [(art, classifier.classify(art, (sid,))) for f in batch for art in f.articles]
        if items:
            for saved in store.save_many(sid, items):
                self.saved.counts[saved.outcome] += 1
                self.saved.feeds |= saved.feeds
        known = list(dict.fromkeys(u for f in batch for u in f.known))
        if known:
            self.saved.feeds |= store.attach(sid, known)
        store.mark_checked_many([c for f in batch for c in f.checks])
