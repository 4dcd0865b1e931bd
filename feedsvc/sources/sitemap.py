"""The ``sitemap`` kind: a sitemap, Google News sitemap or sitemap index (documents
parsed by :mod:`~feedsvc.sources.sitemapdoc`), then each new page.

Entries are taken newest first (``news:publication_date``, else ``lastmod``; undated
last, in document order) and only URLs the archive lacks are fetched, at most
``MAX_NEW`` per refresh. The page's canonical URL is the article's identity (a sitemap
listing ``/a/1?src=sitemap`` for a page whose canonical is ``/a/1`` gives one article,
``/a/1``; the store remembers the listed URL, so it is not fetched again), and the
sitemap's news title, date, keywords, language and image fill in what the page lacks.
A sitemap with more new URLs than that is read again in full next time (no validators
are kept), so older URLs are backfilled ``MAX_NEW`` at a time; once caught up, the
top-level sitemap is fetched conditionally. Indexes are followed ``SITEMAP_DEPTH``
levels deep, at most ``MAX_CHILD_SITEMAPS`` children per refresh (newest ``lastmod``
first); a failing child is a noted failure, not the source's.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from feedsvc.config import SourceConfig
from feedsvc.errors import FeedsvcError, FetchError
from feedsvc.fetch import RetryLater
from feedsvc.sources import sitemapdoc
from feedsvc.sources.base import (
    MAX_NEW,
    SITEMAP_ACCEPT,
    Context,
    Found,
    Listing,
    fill_in,
)
from feedsvc.sources.pages import fetch_new
from feedsvc.sources.sitemapdoc import SitemapEntry
from feedsvc.types import ArticleData, SourceState, Validators

log = logging.getLogger("feedsvc.sources")
SITEMAP_DEPTH = 2  # index → child → grandchild
MAX_CHILD_SITEMAPS = 50  # child sitemaps fetched per refresh


@dataclass(frozen=True)
class Walk:
    """What walking a set of sitemaps gave."""

    entries: tuple[SitemapEntry, ...] = ()
    failures: tuple[str, ...] = ()  # "sitemap URL: message"
    validators: Validators | None = None  # of the single top-level sitemap, if one
    not_modified: bool = False  # the single top-level sitemap answered 304


def read(src: SourceConfig, state: SourceState, ctx: Context) -> Iterator[Found]:
    walk = walk_sitemaps([src.url], ctx, ZoneInfo(src.timezone), state.validators)
    yield from pages_of(src, walk, walk.entries, ctx)


def pages_of(src: SourceConfig, walk: Walk, entries: Iterable[SitemapEntry], ctx: Context,
             notes: Iterable[str] = ()) -> Iterator[Found]:
    """Fetch the newest entries the archive lacks; keep validators only once caught up."""
    yield Found(failures=(*notes, *walk.failures))
    if walk.not_modified:
        yield Found(listing=Listing(walk.validators, not_modified=True))
        return
    by_url = {e.url: e for e in sitemapdoc.newest_first(list(entries))}  # one a URL
    backlog = yield from fetch_new(src, list(by_url), ctx, limit=MAX_NEW,
                                   fill=lambda url, page: fill(by_url[url], page))
    # More new URLs than one refresh takes: read it all again next time.
    yield Found(listing=Listing(None if backlog else walk.validators))


def walk_sitemaps(tops: list[str], ctx: Context, tz: ZoneInfo, validators: Validators | None,
                  want_child: Callable[[str], bool] | None = None) -> Walk:
    """Read ``tops`` and the child sitemaps of any index among them (breadth first).

    With a single top-level sitemap, it is fetched conditionally with the validators
    that belong to it, and its failure is the source's (raised); any other failure is
    noted. ``RetryLater`` always propagates: the host asked us to back off.
    """
    entries: list[SitemapEntry] = []
    failures: list[str] = []
    kept: Validators | None = None
    single = len(tops) == 1
    queue = deque((url, 0) for url in tops)
    seen: set[str] = set()
    children = skipped = 0
    max_bytes = ctx.config.fetch.max_bytes
    while queue:
        url, depth = queue.popleft()
        if url in seen:
            continue
        seen.add(url)
        if depth:
            if children >= MAX_CHILD_SITEMAPS:
                skipped += 1
                continue
            children += 1
        top = single and depth == 0
        sent = (validators or Validators(url)).for_url(url) if top else Validators(url)
        try:
            resp = ctx.fetcher.get(url, etag=sent.etag, last_modified=sent.last_modified,
                                   accept=SITEMAP_ACCEPT)
            if resp.not_modified:
                if not top:
                    raise FetchError(url, "HTTP 304 to an unconditional request", 304)
                return Walk(validators=sent, not_modified=True)
            if top:
                kept = Validators(url, resp.headers.get("etag"),
                                  resp.headers.get("last-modified"))
            doc = sitemapdoc.parse(resp.body, resp.url, tz=tz, max_bytes=max_bytes)
        except RetryLater:
            raise
        except FeedsvcError as e:
            if top:
                raise
            failures.append(f"sitemap {url}: {e}")
            continue
        entries.extend(doc.entries)
        if not doc.is_index:
            continue
        if depth >= SITEMAP_DEPTH:
            log.info("sitemap %s: an index %d levels down: its children are not read "
                     "(indexes are followed %d levels deep)", url, depth, SITEMAP_DEPTH)
            continue
        for child in sitemapdoc.children_newest_first(doc.children):
            if want_child is None or want_child(child.url):
                queue.append((child.url, depth + 1))
    if skipped:
        log.info("sitemaps %s: %d child sitemaps not read (at most %d per refresh, "
                 "newest first)", tops[0], skipped, MAX_CHILD_SITEMAPS)
    return Walk(tuple(entries), tuple(failures), kept)


def fill(entry: SitemapEntry, page: ArticleData) -> ArticleData:
    """The page (its canonical URL is the identity); the sitemap's values where it has
    none."""
    return fill_in(page, title=entry.title, published=entry.published, updated=entry.lastmod,
                   language=entry.language, image=entry.image, tags=entry.keywords)
