"""Source kinds: how each kind of source yields articles.

``feed`` (RSS/Atom/JSON Feed via feedparser, optionally full text from each page),
``html`` (a listing page + a CSS selector for article links, then each article page),
``files`` (a local folder of saved article pages and/or JSON Lines exports).
A kind reads through the :class:`~feedsvc.fetch.Fetcher` (never the network directly)
and asks the store only which URLs it already knows; it never writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from zoneinfo import ZoneInfo

import feedparser
import lxml.html

from feedsvc import dates, urls
from feedsvc.config import Config, SourceConfig
from feedsvc.errors import FeedsvcError, FetchError, ParseError, SourceError
from feedsvc.extract import decode, extract, extract_text, parse_html
from feedsvc.fetch import Fetcher
from feedsvc.sanitize import clean_html
from feedsvc.text import clean_text
from feedsvc.types import ArticleData, SourceState

FEED_ACCEPT = ("application/atom+xml, application/rss+xml, application/feed+json, "
               "application/json;q=0.9, application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5")
MAX_LINKS = 500


@dataclass
class Collected:
    """What reading a source gave: articles, per-article failures, new validators."""

    articles: list[ArticleData] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # "URL: message"
    known: list[str] = field(default_factory=list)  # listed URLs already archived
    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None
    fetched: bool = False  # a listing/feed document was requested over HTTP


@dataclass(frozen=True)
class Context:
    config: Config
    fetcher: Fetcher
    known: Callable[[list[str]], set[str]]  # which of these URLs the archive holds


def collect(src: SourceConfig, state: SourceState, ctx: Context) -> Collected:
    """Read one source. Source-level failures raise (FetchError, ParseError...)."""
    reader = {"feed": _read_feed, "html": _read_html, "files": _read_files}.get(src.kind)
    if reader is None:
        raise SourceError(src.id, f"kind {src.kind!r} is not supported yet")
    return reader(src, state, ctx)


def _page(src: SourceConfig, url: str, ctx: Context) -> ArticleData:
    resp = ctx.fetcher.get(url, accept="text/html,application/xhtml+xml;q=0.9,*/*;q=0.5")
    ctype = resp.content_type
    if ctype and not any(x in ctype for x in ("html", "xml", "text/plain")):
        raise ParseError(url, f"not an HTML page (Content-Type {ctype})")
    return extract(resp.body, resp.url, tz=ZoneInfo(src.timezone), select=src.select,
                   declared_charset=resp.charset)


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
    for item in items:
        if item.url in known:
            out.known.append(item.url)  # only new items cost a page fetch
            continue
        try:
            page = _page(src, item.url, ctx)
        except FeedsvcError as e:
            out.failures.append(f"{item.url}: full text not fetched: {e}")
            out.articles.append(item)  # keep the feed's version meanwhile
            continue
        out.articles.append(_merge(item, page))
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
                           accept="text/html,application/xhtml+xml;q=0.9,*/*;q=0.5")
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
    for link in links:
        if link in known:
            out.known.append(link)
            continue
        try:
            out.articles.append(_page(src, link, ctx))
        except FeedsvcError as e:
            out.failures.append(f"{link}: {e}")
    return out


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
