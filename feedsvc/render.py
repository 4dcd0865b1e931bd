"""Feed documents → bytes: Atom and RSS through feedgen, JSON Feed 1.1 our own.

The one module that knows feedgen. It hides feedgen's rough edges: entries are added
in order (``order="append"``), every date is set from stored data (never "now"), the
RSS channel ``<link>`` is the alternate (added last), and non-self links (``hub``,
RFC 5005 ``prev-archive``/``next-archive``/``current``, paging ``next``) plus
``fh:archive`` reach RSS and Atom through our :class:`_HistoryExtension`.
Same :class:`FeedDoc` → same bytes.

Beyond the schemas, feeds keep the rules the W3C Feed Validation Service enforces: every
feed has a feed-level author (so an entry without a byline is legal Atom, RFC 4287
§4.1.1), one lead image is a bare ``media:content`` (a ``media:group`` needs several),
and an entry's ``published`` is never later than its ``updated`` or the feed's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from feedsvc import __version__
from feedsvc.types import Article

ATOM_NS = "http://www.w3.org/2005/Atom"
FH_NS = "http://purl.org/syndication/history/1.0"
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # "updated" of a feed with no entries

CONTENT_TYPES = {
    "atom": "application/atom+xml; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
    "json": "application/feed+json; charset=utf-8",
    "opml": "text/x-opml; charset=utf-8",
    "html": "text/html; charset=utf-8",
}


@dataclass(frozen=True)
class Entry:
    """A feed entry that is not an article (digest days)."""

    guid: str
    title: str
    url: str
    content_html: str
    published: datetime
    updated: datetime


@dataclass(frozen=True)
class FeedDoc:
    """Everything a feed document says, in any format."""

    title: str
    subtitle: str
    feed_id: str  # stable: absolute URL of the feed without query
    self_url: str  # the URL as requested
    alternate_url: str  # the HTML page
    articles: tuple[Article, ...] = ()
    entries: tuple[Entry, ...] = ()  # used instead of articles (digest)
    links: tuple[tuple[str, str], ...] = ()  # (rel, href): hub, archive and paging links
    archive: bool = False  # RFC 5005 fh:archive (a finished day)
    topic_titles: dict[str, str] = field(default_factory=dict)
    topic_scheme: str = ""  # category scheme URL of topics
    language: str | None = None
    # The feed's author (a source's or the service's title): covers every entry without
    # a byline. None: the feed's title. Its URL is the alternate (HTML) page.
    author: str | None = None
    # For the HTML page of the same feed (fmt "html"): its feed key, the time zone its
    # times are shown in, and source titles by id.
    key: str = ""
    timezone: str = "UTC"
    source_titles: dict[str, str] = field(default_factory=dict)

    @property
    def author_name(self) -> str:
        return self.author or self.title

    @property
    def updated(self) -> datetime:
        stamps = [a.updated for a in self.articles] + [e.updated for e in self.entries]
        return max(stamps, default=EPOCH)

    @property
    def hub(self) -> str | None:
        return next((h for r, h in self.links if r == "hub"), None)


class _HistoryExtension(BaseExtension):
    """RFC 5005 and WebSub links for RSS (feedgen drops them) and ``fh:archive``."""

    def __init__(self) -> None:
        self.links: tuple[tuple[str, str], ...] = ()
        self.archive = False

    def extend_ns(self) -> dict[str, str]:
        return {"fh": FH_NS}

    def extend_atom(self, feed: etree._Element) -> etree._Element:
        if self.archive:
            # Atom requires its own elements first; extension elements may go anywhere.
            feed.insert(0, etree.Element(f"{{{FH_NS}}}archive"))
        return feed

    def extend_rss(self, feed: etree._Element) -> etree._Element:
        channel = feed[0]
        for rel, href in self.links:
            etree.SubElement(channel, f"{{{ATOM_NS}}}link", href=href, rel=rel)
        if self.archive:
            etree.SubElement(channel, f"{{{FH_NS}}}archive")
        return feed


class _NoEntryExtension(BaseEntryExtension):
    pass


def _generator(doc: FeedDoc, rss: bool) -> FeedGenerator:
    fg = FeedGenerator()
    fg.register_extension("history", _HistoryExtension, _NoEntryExtension)
    fg.load_extension("media")
    if rss:
        fg.load_extension("dc", atom=False, rss=True)
    fg.history.links = doc.links
    fg.history.archive = doc.archive
    fg.id(doc.feed_id)
    fg.title(doc.title)
    fg.subtitle(doc.subtitle or doc.title)
    fg.link(href=doc.self_url, rel="self")
    if not rss:
        for rel, href in doc.links:
            fg.link(href=href, rel=rel)
    fg.link(href=doc.alternate_url, rel="alternate")
    # Atom only: feedgen writes an RSS managingEditor only from an e-mail, which we lack.
    fg.author(name=doc.author_name, uri=doc.alternate_url)
    fg.generator("feedsvc", __version__)
    if doc.language:
        fg.language(doc.language)
    fg.updated(doc.updated)
    fg.lastBuildDate(doc.updated)
    for a in doc.articles:
        _article_entry(fg, a, doc, rss)
    for e in doc.entries:
        fe = fg.add_entry(order="append")
        fe.guid(e.guid, permalink=False)
        fe.title(e.title)
        fe.link(href=e.url)
        fe.content(e.content_html, type="html")
        fe.published(e.published)
        fe.updated(e.updated)
    return fg


def _article_entry(fg: FeedGenerator, a: Article, doc: FeedDoc, rss: bool) -> None:
    fe = fg.add_entry(order="append")
    fe.guid(a.guid, permalink=a.guid == a.url)
    fe.title(a.title)
    fe.link(href=a.url)
    if a.content_html:
        fe.content(a.content_html, type="html")
    if a.summary:
        fe.summary(a.summary)
    fe.published(a.published)
    fe.updated(a.updated)
    for name in a.authors:
        if rss:
            fe.dc.dc_creator(name)
        else:
            fe.author(name=name)
    cats = [{"term": t, "scheme": doc.topic_scheme, "label": doc.topic_titles.get(t, t)}
            for t in a.topics]
    cats += [{"term": c} for c in dict.fromkeys(a.categories + a.tags)]
    if cats:
        fe.category(cats)
    if a.image:
        media = {"url": a.image, "medium": "image"}
        if a.image_width and a.image_height:
            media |= {"width": str(a.image_width), "height": str(a.image_height)}
        fe.media.content(media, group=None)  # one image: a bare media:content


def atom(doc: FeedDoc) -> bytes:
    return _generator(doc, rss=False).atom_str(pretty=True)


def rss(doc: FeedDoc) -> bytes:
    return _generator(doc, rss=True).rss_str(pretty=True)


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def json_feed(doc: FeedDoc) -> bytes:
    """JSON Feed 1.1 (https://jsonfeed.org/version/1.1)."""
    out: dict[str, object] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": doc.title,
        "home_page_url": doc.alternate_url,
        "feed_url": doc.self_url,
        "description": doc.subtitle or doc.title,
        "authors": [{"name": doc.author_name, "url": doc.alternate_url}],
    }
    nxt = next((h for r, h in doc.links if r == "next"), None)
    if nxt:
        out["next_url"] = nxt
    if doc.language:
        out["language"] = doc.language
    if doc.hub:
        out["hubs"] = [{"type": "WebSub", "url": doc.hub}]
    items: list[dict[str, object]] = []
    for a in doc.articles:
        item: dict[str, object] = {"id": a.guid, "url": a.url, "title": a.title,
                                   "content_html": a.content_html or a.summary or a.title}
        if a.summary:
            item["summary"] = a.summary
        if a.image:
            item["image"] = a.image
        item["date_published"] = _iso(a.published)
        item["date_modified"] = _iso(a.updated)
        if a.authors:
            item["authors"] = [{"name": n} for n in a.authors]
        tags = list(dict.fromkeys([doc.topic_titles.get(t, t) for t in a.topics]
                                  + list(a.categories + a.tags)))
        if tags:
            item["tags"] = tags
        if a.language:
            item["language"] = a.language
        items.append(item)
    for e in doc.entries:
        items.append({"id": e.guid, "url": e.url, "title": e.title,
                      "content_html": e.content_html, "date_published": _iso(e.published),
                      "date_modified": _iso(e.updated)})
    out["items"] = items
    return (json.dumps(out, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def html_page(doc: FeedDoc) -> bytes:
    """The archive page of a feed: :mod:`feedsvc.render_html` (Jinja, imported on use)."""
    from feedsvc.render_html import page

    return page(doc)


RENDERERS = {"atom": atom, "rss": rss, "json": json_feed, "html": html_page}
