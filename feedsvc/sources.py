"""Source kinds: how each kind of source yields articles.

``feed`` (RSS/Atom/JSON Feed via feedparser, optionally full text from each page),
``html`` (a listing page + a CSS selector for article links, then each article page),
``sitemap`` (a sitemap, Google News sitemap or sitemap index, then each new page),
``site`` (a home page: its own feed, else its robots.txt sitemaps, else article-like
links on the page), ``files`` (a local folder of saved pages and/or JSON Lines exports).
A kind reads through the :class:`~feedsvc.fetch.Fetcher` (never the network directly)
and asks the store only which URLs it already knows; it never writes.

Sitemaps: entries are taken newest first (``news:publication_date``, else
``lastmod``; undated last, in document order) and only URLs the archive lacks are
fetched, at most ``MAX_NEW`` per refresh. The sitemap URL is the article's identity (as
a feed's link is), and the sitemap's news title, date, keywords, language and image
fill in what the page lacks. A sitemap with more new URLs than that is read again in
full next time (no validators are kept), so older URLs are backfilled ``MAX_NEW`` at a
time; once caught up, the top-level sitemap is fetched conditionally. Indexes are
followed ``SITEMAP_DEPTH`` levels deep, at most ``MAX_CHILD_SITEMAPS`` children per
refresh (newest ``lastmod`` first); a failing child is a noted failure, not the source's.

Site discovery runs on every refresh (a site may add or drop its feed), and costs one
home-page request. A discovered feed or sitemap that fails is noted (a skipped line) and
the next method is tried; a 429/503 (``RetryLater``) stops the refresh instead. From
robots.txt sitemaps and from page links, only URLs that look like articles of the same
site are taken (:func:`looks_like_article`; nav, header and footer links are skipped),
and WordPress/Yoast tag, category, author and page sitemaps are not read.

The source's one pair of validators is kept *tagged* with the method and document it
belongs to (``"feed https://…/rss <etag>"``, see :func:`_untag`), so a validator of one
document is never sent for another: the discovered feed or the single robots.txt
sitemap is fetched conditionally with its own validators, and in link mode the home
page itself is (a 304 there means: same page, same links, nothing to do).
"""

from __future__ import annotations

import json
import logging
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

import feedparser
import lxml.html
from lxml import etree

from feedsvc import dates, sitemaps, urls, workers
from feedsvc.config import Config, SourceConfig
from feedsvc.errors import FeedsvcError, FetchError, ParseError, SourceError
from feedsvc.extract import decode, extract, extract_text, parse_html
from feedsvc.fetch import Fetcher, RetryLater
from feedsvc.sanitize import clean_html
from feedsvc.text import clean_text
from feedsvc.types import ArticleData, SourceState

log = logging.getLogger("feedsvc.sources")

FEED_ACCEPT = ("application/atom+xml, application/rss+xml, application/feed+json, "
               "application/json;q=0.9, application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5")
HTML_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
SITEMAP_ACCEPT = ("application/xml, text/xml;q=0.9, application/x-gzip;q=0.8, "
                  "text/plain;q=0.5, */*;q=0.3")
MAX_LINKS = 500
MAX_NEW = 200  # article pages fetched per refresh by sitemap and site sources
MAX_KNOWN = 1000  # already-archived URLs reported per refresh (Store.attach)
SITEMAP_DEPTH = 2  # index → child → grandchild
MAX_CHILD_SITEMAPS = 50  # child sitemaps fetched per refresh
_KNOWN_CHUNK = 500  # URLs per ctx.known() query


@dataclass
class Collected:
    """What reading a source gave: articles, per-article failures, new validators."""

    articles: list[ArticleData] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # "URL: message"
    known: list[str] = field(default_factory=list)  # listed URLs already archived
    # (article URL, page ETag, page Last-Modified) of every page fetched or rechecked
    checked: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None
    fetched: bool = False  # a listing/feed document was requested over HTTP


@dataclass(frozen=True)
class Context:
    config: Config
    fetcher: Fetcher
    known: Callable[[list[str]], set[str]]  # which of these URLs the archive holds
    # recent articles of a source due for an edit check: (url, page etag, last-modified)
    due: Callable[[str], list[tuple[str, str | None, str | None]]] = lambda _id: []


def collect(src: SourceConfig, state: SourceState, ctx: Context) -> Collected:
    """Read one source. Source-level failures raise (FetchError, ParseError...)."""
    reader = {"feed": _read_feed, "html": _read_html, "sitemap": _read_sitemap,
              "site": _read_site, "files": _read_files}.get(src.kind)
    if reader is None:
        raise SourceError(src.id, f"kind {src.kind!r} is not supported yet")
    out = reader(src, state, ctx)
    if src.kind in ("html", "sitemap", "site") or (src.kind == "feed" and src.fulltext):
        _recheck(src, ctx, out)
    return out


def _page(src: SourceConfig, url: str, ctx: Context, out: Collected | None = None,
          etag: str | None = None, last_modified: str | None = None) -> ArticleData | None:
    """Fetch and extract one article page (None: a conditional fetch answered 304).

    The page's validators are noted in ``out.checked`` for later edit checks.
    """
    resp = ctx.fetcher.get(url, etag=etag, last_modified=last_modified, accept=HTML_ACCEPT)
    if resp.not_modified:
        if out is not None:
            out.checked.append((url, etag, last_modified))
        return None
    ctype = resp.content_type
    if ctype and not any(x in ctype for x in ("html", "xml", "text/plain")):
        raise ParseError(url, f"not an HTML page (Content-Type {ctype})")
    art = extract(resp.body, resp.url, tz=ZoneInfo(src.timezone), select=src.select,
                  declared_charset=resp.charset)
    if out is not None:
        out.checked.append((art.url, resp.headers.get("etag"),
                            resp.headers.get("last-modified")))
    return art


def _new_page(src: SourceConfig, url: str, ctx: Context, out: Collected) -> ArticleData:
    page = _page(src, url, ctx, out)
    if page is None:
        raise ParseError(url, "HTTP 304 to an unconditional request")
    return page


PageResult = tuple[str, "ArticleData | FeedsvcError"]


def _pages(src: SourceConfig, wanted: list[str], ctx: Context,
           out: Collected) -> Iterator[PageResult]:
    """Fetch ``wanted`` pages one at a time (politeness lives in the fetcher) and extract
    them, in worker processes when there are enough of them (``workers.MIN_BATCH``), so
    that fetching the next page overlaps extracting the last ones. Yields ``(url,
    article or error)`` in order; a caller may stop early (pending work is dropped)."""
    executor = workers.pool() if len(wanted) >= workers.MIN_BATCH else None
    if executor is None:
        for url in wanted:
            try:
                yield url, _new_page(src, url, ctx, out)
            except FeedsvcError as e:
                yield url, e
        return
    window = 4 * max(workers.size(), 1)
    pending: deque[tuple[str, Any, tuple[str | None, str | None]]] = deque()

    def finish() -> PageResult:
        url, job, validators = pending.popleft()
        if isinstance(job, FeedsvcError):
            return url, job
        try:
            ok, value = job.result()
        except workers.BrokenProcessPool as e:
            workers.discard(executor)
            return url, ParseError(url, f"extraction worker died: {e}")
        if not ok:
            return url, ParseError(url, str(value))
        out.checked.append((value.url, *validators))
        return url, value

    for url in wanted:
        try:
            resp = ctx.fetcher.get(url, accept=HTML_ACCEPT)
            if resp.not_modified:
                raise ParseError(url, "HTTP 304 to an unconditional request")
            ctype = resp.content_type
            if ctype and not any(x in ctype for x in ("html", "xml", "text/plain")):
                raise ParseError(url, f"not an HTML page (Content-Type {ctype})")
            job: Any = workers.submit(executor, resp.body, resp.url, src.timezone,
                                      src.select, resp.charset)
            pending.append((url, job, (resp.headers.get("etag"),
                                       resp.headers.get("last-modified"))))
        except FeedsvcError as e:
            pending.append((url, e, (None, None)))
            if isinstance(e, RetryLater):
                break  # the host asked us to wait: fetch nothing more from it now
        while len(pending) > window or (pending and not _running(pending[0][1])):
            yield finish()
    while pending:
        yield finish()


def _running(job: Any) -> bool:
    return not isinstance(job, FeedsvcError) and not job.done()


def _recheck(src: SourceConfig, ctx: Context, out: Collected) -> None:
    """Re-fetch recent articles due for an edit check (conditionally: a 304 is cheap).

    Changed pages go to ``out.articles`` under their archived URL; the store decides
    whether the change is material (title, summary or body text) and moves ``updated``.
    """
    for url, etag, last_modified in ctx.due(src.id):
        try:
            page = _page(src, url, ctx, out, etag, last_modified)
        except RetryLater as e:
            out.failures.append(f"{url}: edit check: {e}")
            return
        except FeedsvcError as e:
            out.failures.append(f"{url}: edit check: {e}")
            out.checked.append((url, etag, last_modified))  # retried after the interval
            continue
        if page is not None:
            if page.url != url:
                out.checked.append((url, *out.checked[-1][1:]))
            out.articles.append(replace(page, url=url))


# -- feed -------------------------------------------------------------------------
def _read_feed(src: SourceConfig, state: SourceState, ctx: Context) -> Collected:
    resp = ctx.fetcher.get(src.url, etag=state.etag, last_modified=state.last_modified,
                           accept=FEED_ACCEPT)
    out = Collected(fetched=True, etag=resp.headers.get("etag") or state.etag,
                    last_modified=resp.headers.get("last-modified") or state.last_modified)
    if resp.not_modified:
        out.not_modified = True
        return out
    parsed = feedparser.parse(resp.body, response_headers={
        "content-location": resp.url, "content-type": resp.headers.get("content-type", ""),
    })
    if not parsed.get("version") and not parsed.entries:
        reason = parsed.get("bozo_exception")
        detail = f": {reason}" if reason else ""
        raise ParseError(resp.url, f"not a feed (RSS, Atom or JSON Feed expected){detail}"[:300])
    tz = ZoneInfo(src.timezone)
    items: list[ArticleData] = []
    for entry in parsed.entries:
        try:
            items.append(_feed_entry(entry, resp.url, tz))
        except (ValueError, FeedsvcError) as e:
            out.failures.append(f"{entry.get('link') or entry.get('id') or '?'}: {e}")
    if not src.fulltext:
        out.articles = items
        return out
    known = ctx.known([a.url for a in items])
    out.known = [a.url for a in items if a.url in known]  # only new items cost a fetch
    fresh = {a.url: a for a in items if a.url not in known}
    for url, page in _pages(src, list(fresh), ctx, out):
        if isinstance(page, FeedsvcError):
            out.failures.append(f"{url}: full text not fetched: {page}")
            out.articles.append(fresh[url])  # keep the feed's version meanwhile
        else:
            out.articles.append(_merge(fresh[url], page))
    return out


def _feed_entry(entry: feedparser.FeedParserDict, base: str, tz: ZoneInfo) -> ArticleData:
    link = entry.get("link") or (entry.get("id") if urls.is_http(entry.get("id", "")) else "")
    if not link:
        raise ValueError("entry has no link")
    url = urls.normalize(urls.absolute(base, link))
    title = clean_text(entry.get("title"))
    if not title:
        raise ValueError("entry has no title")
    # dict.get: feedparser's own .get maps a missing "updated" to "published" (and warns)
    raw_published, raw_updated = dict.get(entry, "published"), dict.get(entry, "updated")
    published = dates.parse(raw_published, tz) or dates.parse(raw_updated, tz)
    updated = dates.parse(raw_updated, tz) if raw_published else None
    html = ""
    if entry.get("content"):
        html = max((c.get("value", "") for c in entry.content), key=len)
    summary_html = entry.get("summary", "")
    html = html or summary_html
    content = clean_html(html, url)
    summary = clean_text(lxml.html.fromstring(summary_html).text_content()
                         if summary_html.strip() else "")[:1000]
    image = None
    for media in entry.get("media_content", []) + entry.get("media_thumbnail", []):
        if media.get("url") and media.get("medium", "image") == "image":
            image = media["url"]
            break
    if not image:
        for enc in entry.get("enclosures", []):
            if enc.get("type", "").startswith("image/") and enc.get("href"):
                image = enc["href"]
                break
    authors = tuple(clean_text(a.get("name")) for a in entry.get("authors", [])
                    if clean_text(a.get("name")))
    cats = tuple(clean_text(t.get("term")) for t in entry.get("tags", [])
                 if clean_text(t.get("term")))
    return ArticleData(url=url, title=title, published=published, updated=updated,
                       authors=authors, summary=summary, content_html=content,
                       image=image if image and urls.is_http(image) else None,
                       categories=cats)


def _merge(feed: ArticleData, page: ArticleData) -> ArticleData:
    """Full text from the page; the feed's values where the page has none."""
    return replace(
        page,
        url=feed.url,
        title=page.title or feed.title,
        published=page.published or feed.published,
        updated=page.updated or feed.updated,
        authors=page.authors or feed.authors,
        summary=page.summary or feed.summary,
        content_html=page.content_html or feed.content_html,
        image=page.image or feed.image,
        categories=page.categories or feed.categories,
    )


# -- html -------------------------------------------------------------------------
def _read_html(src: SourceConfig, state: SourceState, ctx: Context) -> Collected:
    resp = ctx.fetcher.get(src.url, etag=state.etag, last_modified=state.last_modified,
                           accept=HTML_ACCEPT)
    out = Collected(fetched=True, etag=resp.headers.get("etag") or state.etag,
                    last_modified=resp.headers.get("last-modified") or state.last_modified)
    if resp.not_modified:
        out.not_modified = True
        return out
    doc = parse_html(decode(resp.body, resp.charset), resp.url)
    links: list[str] = []
    for a in doc.cssselect(src.links or "a"):
        href = a.get("href")
        if not href:
            continue
        try:
            links.append(urls.normalize(urls.absolute(resp.url, href)))
        except ValueError:
            continue
    links = list(dict.fromkeys(links))[:MAX_LINKS]
    if not links:
        raise ParseError(resp.url, f"no article links match selector {src.links!r}")
    known = ctx.known(links)
    out.known = [link for link in links if link in known]
    for link, page in _pages(src, [x for x in links if x not in known], ctx, out):
        if isinstance(page, FeedsvcError):
            out.failures.append(f"{link}: {page}")
        else:
            out.articles.append(page)
    return out


# -- sitemap ----------------------------------------------------------------------
@dataclass
class _Walk:
    """What walking a set of sitemaps gave."""

    entries: list[sitemaps.SitemapEntry] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # "sitemap URL: message"
    etag: str | None = None  # validators of the single top-level sitemap, if one
    last_modified: str | None = None
    not_modified: bool = False  # the single top-level sitemap answered 304


def _read_sitemap(src: SourceConfig, state: SourceState, ctx: Context) -> Collected:
    walk = _walk_sitemaps([src.url], ctx, ZoneInfo(src.timezone), state.etag,
                          state.last_modified)
    return _from_sitemaps(src, walk, walk.entries, ctx)


def _from_sitemaps(src: SourceConfig, walk: _Walk, entries: list[sitemaps.SitemapEntry],
                   ctx: Context, failures: Iterable[str] = ()) -> Collected:
    """Fetch the newest entries the archive lacks; keep validators only once caught up."""
    out = Collected(fetched=True, failures=[*failures, *walk.failures], etag=walk.etag,
                    last_modified=walk.last_modified, not_modified=walk.not_modified)
    if walk.not_modified:
        return out
    by_url = {e.url: e for e in sitemaps.newest_first(entries)}  # newest first, one a URL
    backlog = _fetch_pages(src, list(by_url), ctx, out,
                           lambda url, page: _merge_entry(by_url[url], page))
    if backlog:  # more new URLs than one refresh takes: read it all again next time
        out.etag = out.last_modified = None
    return out


def _walk_sitemaps(tops: list[str], ctx: Context, tz: ZoneInfo, etag: str | None,
                   last_modified: str | None,
                   want_child: Callable[[str], bool] | None = None) -> _Walk:
    """Read ``tops`` and the child sitemaps of any index among them (breadth first).

    With a single top-level sitemap, it is fetched conditionally with the given
    validators, and its failure is the source's (raised); any other failure is noted.
    ``RetryLater`` always propagates: the host asked us to back off.
    """
    walk = _Walk()
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
        try:
            resp = ctx.fetcher.get(url, etag=etag if top else None,
                                   last_modified=last_modified if top else None,
                                   accept=SITEMAP_ACCEPT)
            if resp.not_modified:
                if not top:
                    raise FetchError(url, "HTTP 304 to an unconditional request", 304)
                walk.not_modified = True
                walk.etag, walk.last_modified = etag, last_modified
                return walk
            if top:
                walk.etag = resp.headers.get("etag")
                walk.last_modified = resp.headers.get("last-modified")
            doc = sitemaps.parse(resp.body, resp.url, tz=tz, max_bytes=max_bytes)
        except RetryLater:
            raise
        except FeedsvcError as e:
            if top:
                raise
            walk.failures.append(f"sitemap {url}: {e}")
            continue
        walk.entries.extend(doc.entries)
        if not doc.is_index:
            continue
        if depth >= SITEMAP_DEPTH:
            log.info("sitemap %s: an index %d levels down: its children are not read "
                     "(indexes are followed %d levels deep)", url, depth, SITEMAP_DEPTH)
            continue
        for child in sitemaps.children_newest_first(doc.children):
            if want_child is None or want_child(child.url):
                queue.append((child.url, depth + 1))
    if skipped:
        log.info("sitemaps %s: %d child sitemaps not read (at most %d per refresh, "
                 "newest first)", tops[0], skipped, MAX_CHILD_SITEMAPS)
    return walk


def _fetch_pages(src: SourceConfig, candidates: list[str], ctx: Context, out: Collected,
                 build: Callable[[str, ArticleData], ArticleData]) -> bool:
    """Fetch, in order, the candidate pages the archive lacks: at most ``MAX_NEW``.

    Archived candidates go to ``out.known`` (the newest ``MAX_KNOWN``). True when new
    candidates were left for a later refresh (the cap, or the host asked us to wait).
    """
    wanted: list[str] = []
    left = False
    for i in range(0, len(candidates), _KNOWN_CHUNK):
        chunk = candidates[i:i + _KNOWN_CHUNK]
        known = ctx.known(chunk)
        for url in chunk:
            if url in known:
                if len(out.known) < MAX_KNOWN:
                    out.known.append(url)
                continue
            if len(wanted) >= MAX_NEW:
                left = True
                break
            wanted.append(url)
        if left:
            break
    for url, page in _pages(src, wanted, ctx, out):
        if isinstance(page, RetryLater):
            out.failures.append(f"{url}: {page}; the rest waits for the next refresh")
            return True
        if isinstance(page, FeedsvcError):
            out.failures.append(f"{url}: {page}")
            continue
        out.articles.append(build(url, page))
    return left


def _merge_entry(entry: sitemaps.SitemapEntry, page: ArticleData) -> ArticleData:
    """The page, identified by its sitemap URL; the sitemap's values where it has none."""
    return replace(
        page,
        url=entry.url,
        title=page.title or entry.title,
        published=page.published or entry.published,
        updated=page.updated or entry.lastmod,
        language=page.language or entry.language,
        image=page.image or entry.image,
        tags=page.tags or entry.keywords,
    )


# -- site -------------------------------------------------------------------------
FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json")
_METHODS = ("feed", "sitemap", "links")
_ASSET = re.compile(
    r"\.(jpe?g|png|gif|webp|avif|svg|ico|bmp|tiff?|css|js|mjs|map|json|xml|rss|atom|txt|"
    r"csv|pdf|docx?|xlsx?|pptx?|odt|zip|gz|tgz|rar|7z|mp3|m4a|ogg|wav|flac|mp4|m4v|webm|"
    r"avi|mov|mkv|woff2?|ttf|otf|eot|apk|exe|dmg)$", re.I)
_NOT_ARTICLE_SEGMENTS = frozenset({
    "tag", "tags", "category", "categories", "author", "authors", "topic", "topics",
    "page", "search", "feed", "rss", "login", "signin", "register", "subscribe",
    "account", "cart", "wp-admin", "wp-content", "wp-includes", "wp-json", "static",
    "assets", "cdn-cgi",
})
_LANGUAGE_SEGMENT = re.compile(r"^[a-z]{2}(-[a-z]{2,4})?$", re.I)
_NOT_ARTICLE_SITEMAP = re.compile(
    r"^((category|post_tag|tag|author|page)-sitemap\d*\.xml|"
    r"wp-sitemap-(taxonomies|users|posts-page)-)", re.I)
_CHROME_ROLES = frozenset({"navigation", "banner", "contentinfo", "menu", "menubar"})


def _read_site(src: SourceConfig, state: SourceState, ctx: Context) -> Collected:
    method, doc_url, etag, last_modified = _untag(state)
    was_links = method == "links" and doc_url == src.url
    resp = ctx.fetcher.get(src.url, etag=etag if was_links else None,
                           last_modified=last_modified if was_links else None,
                           accept=HTML_ACCEPT)
    if resp.not_modified:  # link mode, same home page: same links, all handled
        return Collected(fetched=True, not_modified=True, etag=state.etag,
                         last_modified=state.last_modified)
    home = parse_html(decode(resp.body, resp.charset), resp.url)
    notes: list[str] = []

    feed = feed_link(home, resp.url)
    if feed:
        same = method == "feed" and doc_url == feed
        try:
            got = _read_feed(src.model_copy(update={"url": feed}), replace(
                state, etag=etag if same else None,
                last_modified=last_modified if same else None), ctx)
        except RetryLater:
            raise
        except FeedsvcError as e:
            notes.append(f"the site's feed {feed} was not used: {e}")
        else:
            return _tag(got, "feed", feed)

    maps = ctx.fetcher.robots_sitemaps(resp.url)
    if maps:
        same = method == "sitemap" and doc_url == maps[0]
        try:
            walk = _walk_sitemaps(maps, ctx, ZoneInfo(src.timezone),
                                  etag if same else None, last_modified if same else None,
                                  want_child=_wanted_sitemap)
        except RetryLater:
            raise
        except FeedsvcError as e:
            notes.append(f"robots.txt sitemap not used: {e}")
        else:
            entries = [e for e in walk.entries if looks_like_article(e.url, resp.url)]
            if entries or walk.not_modified:
                return _tag(_from_sitemaps(src, walk, entries, ctx, notes),
                            "sitemap", maps[0])
            notes.extend(walk.failures)
            log.info("site %s: robots.txt sitemaps %s list no article URLs; using the "
                     "page's links", src.url, ", ".join(maps[:3]))

    links = article_links(home, resp.url)
    if not links:
        detail = f" ({'; '.join(notes)})" if notes else ""
        raise ParseError(resp.url, "no feed link, no robots.txt sitemap with article URLs "
                                   f"and no article links on the page{detail}"[:1000])
    out = Collected(fetched=True, failures=notes, etag=resp.headers.get("etag"),
                    last_modified=resp.headers.get("last-modified"))
    _fetch_pages(src, links, ctx, out, lambda url, page: page)
    return _tag(out, "links", src.url)


def _tag(got: Collected, method: str, doc_url: str) -> Collected:
    """Mark the validators with the method and document they belong to."""
    if got.etag is not None or got.last_modified is not None:
        got.etag = f"{method} {doc_url} {got.etag or ''}"
    return got


def _untag(state: SourceState) -> tuple[str, str, str | None, str | None]:
    """``(method, document URL, etag, last_modified)`` of a site source's state."""
    parts = (state.etag or "").split(" ", 2)
    if len(parts) != 3 or parts[0] not in _METHODS:
        return "", "", None, None
    return parts[0], parts[1], parts[2] or None, state.last_modified


def feed_link(doc: etree._Element, page_url: str) -> str | None:
    """The page's own feed: the first ``<link rel="alternate">`` of a feed type
    (RSS, Atom, JSON Feed) that is not a comments feed, as an absolute URL."""
    for link in doc.iter("link"):
        rels = (link.get("rel") or "").lower().split()
        ctype = (link.get("type") or "").split(";")[0].strip().lower()
        href = (link.get("href") or "").strip()
        if "alternate" not in rels or ctype not in FEED_TYPES or not href:
            continue
        if "comment" in (link.get("title") or "").lower() or "comment" in href.lower():
            continue
        url = urls.absolute(page_url, href)
        if urls.is_http(url):
            return url
    return None


def _same_site(host: str | None, home: str | None) -> bool:
    def bare(h: str | None) -> str:
        return (h or "").lower().removeprefix("www.")

    return bool(host) and bare(host) == bare(home)


def looks_like_article(url: str, home_url: str) -> bool:
    """Whether ``url`` (normalized) looks like an article of the site at ``home_url``.

    Same host (``www.`` aside); not a static asset; no tag, category, author, search,
    feed or admin segment; and, past a leading language segment (``/uk/``), at least two
    path segments, or a slug of three or more words, or a numeric id.
    """
    parts = urlsplit(url)
    if not _same_site(parts.hostname, urlsplit(home_url).hostname):
        return False
    segments = [s for s in unquote(parts.path).split("/") if s]
    if not segments or _ASSET.search(segments[-1]):
        return False
    if any(s.lower() in _NOT_ARTICLE_SEGMENTS for s in segments):
        return False
    if len(segments) > 1 and _LANGUAGE_SEGMENT.match(segments[0]):
        segments = segments[1:]
    stem = segments[-1].rsplit(".", 1)[0] if "." in segments[-1] else segments[-1]
    words = [w for w in re.split(r"[-_+]+", stem) if w]
    numeric_id = bool(re.search(r"\d{5,}", stem)) or (
        stem.isdigit() and len(stem) >= 3 and not (len(stem) == 4 and 1900 <= int(stem) <= 2100))
    return len(segments) >= 2 or len(words) >= 3 or numeric_id


def _in_chrome(a: etree._Element) -> bool:
    """A link in the site's navigation, header or footer (not an article's own)."""
    ancestors = list(a.iterancestors())
    for i, anc in enumerate(ancestors):
        tag = anc.tag if isinstance(anc.tag, str) else ""
        if tag == "nav" or (anc.get("role") or "").lower() in _CHROME_ROLES:
            return True
        if tag in ("header", "footer") and not any(x.tag == "article"
                                                  for x in ancestors[i + 1:]):
            return True
    return False


def article_links(doc: etree._Element, page_url: str) -> list[str]:
    """Links on the page that look like articles of the same site, in page order."""
    try:
        here = urls.normalize(page_url)
    except ValueError:
        here = page_url
    found: dict[str, None] = {}
    for a in doc.iter("a"):
        href = (a.get("href") or "").strip()
        if not href or href.startswith(("#", "mailto:", "javascript:", "tel:", "data:")):
            continue
        if _in_chrome(a):
            continue
        try:
            url = urls.normalize(urls.absolute(page_url, href))
        except ValueError:
            continue
        if url != here and looks_like_article(url, page_url):
            found.setdefault(url, None)
        if len(found) >= MAX_LINKS:
            break
    return list(found)


def _wanted_sitemap(url: str) -> bool:
    """Child sitemaps worth reading for articles (not the tag/category/author/page ones
    that WordPress and Yoast publish)."""
    name = urlsplit(url).path.rsplit("/", 1)[-1]
    return not _NOT_ARTICLE_SITEMAP.match(name)


# -- files ------------------------------------------------------------------------
def _read_files(src: SourceConfig, state: SourceState, ctx: Context) -> Collected:
    folder = ctx.config.resolve_path(src.url)
    if not folder.is_dir():
        raise FetchError(str(folder), "folder not found")
    tz = ZoneInfo(src.timezone)
    out = Collected()
    for path in sorted(folder.iterdir()):
        suffix = path.suffix.lower()
        try:
            if suffix in (".html", ".htm"):
                out.articles.append(_file_page(path, src, tz))
            elif suffix == ".jsonl":
                _file_jsonl(path, tz, out)
        except (OSError, FeedsvcError, ValueError) as e:
            out.failures.append(f"{path.name}: {e}")
    return out


def _file_page(path: Path, src: SourceConfig, tz: ZoneInfo) -> ArticleData:
    art = extract(path.read_bytes(), path.resolve().as_uri(), tz=tz, select=src.select)
    if not urls.is_http(art.url):
        raise ParseError(path.name, "no canonical http(s) URL in the page "
                                    '(<link rel="canonical"> or og:url)')
    return art


def _file_jsonl(path: Path, tz: ZoneInfo, out: Collected) -> None:
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
                if not isinstance(obj, dict):
                    raise ValueError("line is not a JSON object")
                out.articles.append(_json_article(obj, tz))
            except ValueError as e:
                out.failures.append(f"{path.name}:{n}: {e}")


def _json_article(obj: dict, tz: ZoneInfo) -> ArticleData:
    url = urls.normalize(str(obj.get("url", "")))
    if "html" in obj and "content_html" not in obj:
        return extract_text(str(obj["html"]), url, tz=tz)
    title = clean_text(str(obj.get("title", "")))
    if not title:
        raise ValueError("no title")

    def strs(key: str) -> tuple[str, ...]:
        v = obj.get(key) or []
        return tuple(clean_text(str(x)) for x in (v if isinstance(v, list) else [v])
                     if clean_text(str(x)))

    return ArticleData(
        url=url, title=title,
        published=dates.parse(str(obj.get("published") or ""), tz),
        updated=dates.parse(str(obj.get("updated") or ""), tz),
        authors=strs("authors"), summary=clean_text(str(obj.get("summary") or "")),
        content_html=clean_html(str(obj.get("content_html") or obj.get("content") or ""), url),
        image=obj.get("image") if urls.is_http(str(obj.get("image") or "")) else None,
        language=obj.get("language") if isinstance(obj.get("language"), str) else None,
        categories=strs("categories"), tags=strs("tags"),
    )
