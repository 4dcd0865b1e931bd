"""The ``site`` kind: a home page. Its own feed (``<link rel="alternate">``) if it has
one, else the sitemaps named in robots.txt, else article-like links on the page.

Discovery runs on every refresh (a site may add or drop its feed), and costs one
home-page request. A discovered feed or sitemap that fails is noted (a skipped line) and
the next method is tried; a 429/503 (``RetryLater``) stops the refresh instead. From
robots.txt sitemaps and from page links, only URLs that look like articles of the same
site are taken (:func:`looks_like_article`; nav, header and footer links are skipped),
and WordPress/Yoast tag, category, author and page sitemaps are not read.

The source's validators belong to one document (``Validators.url``) and are never sent
for another: the discovered feed or the single robots.txt sitemap is fetched
conditionally with its own validators, and in link mode the home page itself is (a 304
there means: same page, same links, nothing to do).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from lxml import etree

from feedsvc import urls
from feedsvc.config import SourceConfig
from feedsvc.errors import FeedsvcError, ParseError
from feedsvc.extract import decode, parse_html
from feedsvc.fetch import RetryLater
from feedsvc.sources import feed, pages, sitemap
from feedsvc.sources.base import HTML_ACCEPT, MAX_LINKS, MAX_NEW, Context, Found, Listing
from feedsvc.sources.pages import fetch_new
from feedsvc.types import SourceState, Validators

log = logging.getLogger("feedsvc.sources")
FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json")
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


def read(src: SourceConfig, state: SourceState, ctx: Context) -> Iterator[Found]:
    old = state.validators
    sent = (old or Validators(src.url)).for_url(src.url)  # link mode: the home page's
    resp = ctx.fetcher.get(src.url, etag=sent.etag, last_modified=sent.last_modified,
                           accept=HTML_ACCEPT)
    if resp.not_modified:  # link mode, same home page: same links, all handled
        yield Found(listing=Listing(sent, not_modified=True))
        yield from pages.recheck(src, ctx)
        return
    home = parse_html(decode(resp.body, resp.charset), resp.url)
    notes: list[str] = []

    feed_url = feed_link(home, resp.url)
    if feed_url:
        pieces = feed.read(src.model_copy(update={"url": feed_url}), state, ctx)
        try:
            # The feed is fetched and parsed before its first piece: a feed that fails
            # as a whole gives way to the next method.
            first = next(pieces)
        except RetryLater:
            raise
        except FeedsvcError as e:
            notes.append(f"the site's feed {feed_url} was not used: {e}")
        else:
            yield Found(failures=tuple(notes), via=f"feed {feed_url}")
            yield first
            yield from pieces
            if src.fulltext:
                yield from pages.recheck(src, ctx, feed.keep_feed_words)
            return

    maps = ctx.fetcher.robots_sitemaps(resp.url)
    if maps:
        try:
            walk = sitemap.walk_sitemaps(maps, ctx, ZoneInfo(src.timezone), old,
                                         want_child=_wanted_sitemap)
        except RetryLater:
            raise
        except FeedsvcError as e:
            notes.append(f"robots.txt sitemap not used: {e}")
        else:
            entries = [e for e in walk.entries if looks_like_article(e.url, resp.url)]
            if entries or walk.not_modified:
                yield Found(via="robots.txt sitemaps " + " ".join(maps))
                yield from sitemap.pages_of(src, walk, entries, ctx, notes)
                yield from pages.recheck(src, ctx)
                return
            notes.extend(walk.failures)
            log.info("site %s: robots.txt sitemaps %s list no article URLs; using the "
                     "page's links", src.url, ", ".join(maps[:3]))

    links = article_links(home, resp.url)
    if not links:
        detail = f" ({'; '.join(notes)})" if notes else ""
        raise ParseError(resp.url, "no feed link, no robots.txt sitemap with article URLs "
                                   f"and no article links on the page{detail}"[:1000])
    yield Found(failures=tuple(notes), via=f"article links on {resp.url}")
    left = yield from fetch_new(src, links, ctx, limit=MAX_NEW)
    yield Found(listing=Listing(None if left else Validators(
        src.url, resp.headers.get("etag"), resp.headers.get("last-modified"))))
    yield from pages.recheck(src, ctx)
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


