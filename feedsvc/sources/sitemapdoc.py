"""Sitemaps: one fetched sitemap document → a :class:`Sitemap`, parsed safely.

Owns the sitemap formats: a sitemaps.org ``<urlset>`` (with the Google News ``news:``
and ``image:`` extensions), a ``<sitemapindex>`` of child sitemaps, and the plain-text
form (one URL a line); gzipped or not. Also the order in which entries are worth
fetching (:func:`newest_first`). No network here: ``sources`` walks indexes through the
:class:`~feedsvc.fetch.Fetcher`.

Safety: XML is read with ``iterparse`` with entities left unresolved, no DTD loading,
no network access and no huge-tree mode, so an XXE (``<!ENTITY x SYSTEM "file:...">``)
or an entity-expansion bomb yields nothing; a field holding an entity reference is
dropped. Gzip bodies are inflated with a cap (the fetch ``max_bytes``), so a small
``.xml.gz`` cannot expand into gigabytes. Every failure is a :class:`ParseError`
(or a :class:`FetchError` for the size cap), chained to its cause.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from lxml import etree

from feedsvc import dates, urls
from feedsvc.errors import FetchError, ParseError
from feedsvc.text import clean_text

GZIP_MAGIC = b"\x1f\x8b"
MAX_ENTRIES = 100_000  # per document (the protocol allows 50,000); the rest is ignored


@dataclass(frozen=True)
class SitemapEntry:
    """One ``<url>`` of a urlset (or one line of a text sitemap)."""

    url: str  # absolute http(s), normalized (feedsvc.urls.normalize)
    lastmod: datetime | None = None  # aware UTC: <lastmod>
    published: datetime | None = None  # aware UTC: <news:publication_date>
    title: str = ""  # <news:title>, plain text
    keywords: tuple[str, ...] = ()  # <news:keywords>, split on commas
    language: str | None = None  # <news:publication><news:language>, e.g. "en"
    image: str | None = None  # first <image:image><image:loc>, absolute http(s)

    @property
    def when(self) -> datetime | None:
        """The date that orders entries: publication date, else last modification."""
        return self.published or self.lastmod


@dataclass(frozen=True)
class ChildSitemap:
    """One ``<sitemap>`` of a sitemap index."""

    url: str  # absolute http(s)
    lastmod: datetime | None = None  # aware UTC


@dataclass(frozen=True)
class Sitemap:
    """One parsed document: a urlset has ``entries``, an index has ``children``."""

    url: str  # where it was fetched from (after redirects)
    entries: tuple[SitemapEntry, ...] = ()
    children: tuple[ChildSitemap, ...] = ()

    @property
    def is_index(self) -> bool:
        return bool(self.children)


def gunzip(data: bytes, url: str, limit: int) -> bytes:
    """Inflate a gzip body, refusing more than ``limit`` bytes of output."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as e:
        raise ParseError(url, f"not a sitemap: corrupt gzip data ({e})") from e
    if len(out) > limit or inflater.unconsumed_tail:
        raise FetchError(url, f"sitemap exceeds max_bytes ({limit:,} bytes, after "
                              "decompression)")
    return out


def parse(body: bytes, url: str, *, tz: ZoneInfo, max_bytes: int) -> Sitemap:
    """Parse one sitemap document (gzip detected by its magic bytes).

    ``tz`` reads dates without an offset; ``max_bytes`` caps gzip inflation.
    Raises ParseError when the body is not a sitemap (HTML, malformed XML, garbage).
    """
    if body[:2] == GZIP_MAGIC:
        body = gunzip(body, url, max_bytes)
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head:
        raise ParseError(url, "not a sitemap: empty document")
    if head[:1] == b"<":
        return _parse_xml(body, url, tz)
    return _parse_text(head, url)


def _parse_text(body: bytes, url: str) -> Sitemap:
    """The sitemaps.org text form: UTF-8, one absolute URL a line, nothing else."""
    entries: list[SitemapEntry] = []
    for n, line in enumerate(body.decode("utf-8", "replace").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        try:
            entries.append(SitemapEntry(url=urls.normalize(line)))
        except ValueError as e:
            raise ParseError(url, f"not a sitemap: line {n} is neither XML nor an "
                                  f"http(s) URL: {line[:80]!r}") from e
        if len(entries) >= MAX_ENTRIES:
            break
    return Sitemap(url=url, entries=tuple(entries))


_LOCAL_NAMES: dict[str, str] = {}  # "{namespace}name" → "name": a few distinct tags


def _local(tag: object) -> str:
    """The lower-case local name of a tag ("" for comments, entities...)."""
    if not isinstance(tag, str):
        return ""
    name = _LOCAL_NAMES.get(tag)
    if name is None:
        name = tag.rsplit("}", 1)[-1].lower()
        if len(_LOCAL_NAMES) < 1000:
            _LOCAL_NAMES[tag] = name
    return name


def _text(el: etree._Element | None) -> str | None:
    """The element's text; None when absent or when it holds an (unresolved) entity."""
    if el is None or any(isinstance(child, etree._Entity) for child in el):
        return None
    text = (el.text or "").strip()
    return text or None


def _children(el: etree._Element) -> dict[str, etree._Element]:
    """The element's children by local name (the first of each name)."""
    out: dict[str, etree._Element] = {}
    for child in el:
        out.setdefault(_local(child.tag), child)
    return out


def _parse_xml(body: bytes, url: str, tz: ZoneInfo) -> Sitemap:
    entries: list[SitemapEntry] = []
    children: list[ChildSitemap] = []
    events = etree.iterparse(
        io.BytesIO(body), events=("end",), tag=("{*}url", "{*}sitemap"),
        resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False,
        remove_comments=True, remove_pis=True,
    )
    root_name = ""
    try:
        for _, el in events:
            parent = el.getparent()
            if parent is None or parent.getparent() is not None:
                continue  # only the root's own <url>/<sitemap> children count
            if not root_name:
                root_name = _root_name(parent, url)
            if root_name == "urlset" and _local(el.tag) == "url":
                entry = _entry(el, url, tz)
                if entry is not None and len(entries) < MAX_ENTRIES:
                    entries.append(entry)
            elif root_name == "sitemapindex" and _local(el.tag) == "sitemap":
                child = _child_sitemap(el, url, tz)
                if child is not None and len(children) < MAX_ENTRIES:
                    children.append(child)
            el.clear()  # keep memory flat on 50,000-URL documents
            while el.getprevious() is not None:
                del parent[0]
    except etree.XMLSyntaxError as e:
        head = body[:1024].lstrip().lower()
        if head.startswith((b"<!doctype html", b"<html")):
            raise ParseError(url, "not a sitemap: an HTML page, expected <urlset> or "
                                  "<sitemapindex>") from e
        raise ParseError(url, f"not a sitemap: malformed XML ({e})"[:300]) from e
    if not root_name:  # no <url> or <sitemap> at all: an empty sitemap, or something else
        root = events.root
        if root is None:
            raise ParseError(url, "not a sitemap: no XML element found")
        _root_name(root, url)
    return Sitemap(url=url, entries=tuple(entries), children=tuple(children))


def _root_name(root: etree._Element, url: str) -> str:
    name = _local(root.tag)
    if name not in ("urlset", "sitemapindex"):
        hint = " (an HTML page?)" if name in ("html", "body", "head") else ""
        raise ParseError(url, f"not a sitemap: root element <{name}>{hint}, expected "
                              "<urlset> or <sitemapindex>")
    return name


def _absolute(base: str, href: str | None) -> str | None:
    if not href:
        return None
    try:
        if not href.startswith(("http://", "https://")):  # the protocol wants absolute
            href = urls.absolute(base, href)
        return urls.normalize(href)
    except ValueError:
        return None


def _entry(el: etree._Element, base: str, tz: ZoneInfo) -> SitemapEntry | None:
    fields = _children(el)
    loc = _absolute(base, _text(fields.get("loc")))
    if loc is None:
        return None
    lastmod = dates.parse(_text(fields.get("lastmod")), tz)
    published, title, keywords, language, image = None, "", (), None, None
    news = fields.get("news")
    if news is not None:
        info = _children(news)
        published = dates.parse(_text(info.get("publication_date")), tz)
        title = clean_text(_text(info.get("title")) or "")
        keywords = tuple(k for k in (clean_text(x) for x in
                                     (_text(info.get("keywords")) or "").split(",")) if k)
        publication = info.get("publication")
        if publication is not None:
            lang = _text(_children(publication).get("language"))
            language = lang.replace("_", "-").split("-")[0].lower()[:8] if lang else None
    img = fields.get("image")
    if img is not None:
        image = _absolute(base, _text(_children(img).get("loc")))
    return SitemapEntry(url=loc, lastmod=lastmod, published=published, title=title,
                        keywords=keywords, language=language or None, image=image)


def _child_sitemap(el: etree._Element, base: str, tz: ZoneInfo) -> ChildSitemap | None:
    fields = _children(el)
    loc = _text(fields.get("loc"))
    if not loc:
        return None
    try:
        href = urls.absolute(base, loc)
    except ValueError:
        return None
    if not urls.is_http(href):
        return None
    return ChildSitemap(url=href, lastmod=dates.parse(_text(fields.get("lastmod")), tz))


def _order(when: datetime | None) -> tuple[bool, float]:
    return (when is None, -when.timestamp() if when else 0.0)


def newest_first(entries: list[SitemapEntry]) -> list[SitemapEntry]:
    """Entries by date, newest first (undated last, in document order), one per URL."""
    seen: set[str] = set()
    out: list[SitemapEntry] = []
    for entry in sorted(entries, key=lambda e: _order(e.when)):
        if entry.url not in seen:
            seen.add(entry.url)
            out.append(entry)
    return out


def children_newest_first(children: tuple[ChildSitemap, ...]) -> list[ChildSitemap]:
    """An index's children by ``lastmod``, newest first (undated last, in order)."""
    return sorted(children, key=lambda c: _order(c.lastmod))
