"""Archive pages: a feed's :class:`~feedsvc.render.FeedDoc` as a server-rendered HTML page.

The web face of the archive (``/day/…``, ``/topic/…``, ``/topic/…/day/…``,
``/source/…``): the headlines a feed holds, newest first, with their local time,
source and topics, a link to the original, the archive's previous/next day and paging
links, and autodiscovery links to the same feed in every format. A page is one more
format of a feed, so it is rendered once per archive state by :mod:`feedsvc.cache` and
served with the same ETag/304 rules. Jinja autoescapes everything: no markup from a
source reaches the page. Same document, same bytes (no "now").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2

from feedsvc.render import FeedDoc

TEMPLATES = Path(__file__).parent / "templates"
FEED_FORMATS = (("atom", "application/atom+xml", "Atom"), ("rss", "application/rss+xml", "RSS"),
                ("json", "application/feed+json", "JSON Feed"))
NAV = {"prev-archive": "← previous day", "next-archive": "next day →",
       "current": "newest", "next": "older →"}


@dataclass(frozen=True)
class Headline:
    """One line of a page."""

    time: str  # local: "14:05", or "2026-11-21 14:05" on pages that span days
    iso: str  # the published time, ISO 8601 with its offset
    title: str
    url: str
    source: str
    topics: tuple[tuple[str, str], ...]  # (slug, title)
    summary: str


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                              trim_blocks=True, lstrip_blocks=True,
                              undefined=jinja2.StrictUndefined)


def page(doc: FeedDoc) -> bytes:
    """The HTML page of ``doc`` (built with fmt ``html``, so its links are pages)."""
    tz = ZoneInfo(doc.timezone)
    one_day = doc.key.startswith("day/") or "/day/" in doc.key
    base = doc.alternate_url.rstrip("/")

    def when(t: datetime) -> str:
        return t.astimezone(tz).strftime("%H:%M" if one_day else "%Y-%m-%d %H:%M")

    lines = [
        Headline(time=when(a.published), iso=a.published.astimezone(tz).isoformat(),
                 title=a.title or a.url, url=a.url,
                 source=doc.source_titles.get(a.source_id, a.source_id),
                 topics=tuple((t, doc.topic_titles.get(t, t)) for t in a.topics),
                 summary=_short(a.summary))
        for a in doc.articles
    ]
    feeds = [(fmt, ctype, label, f"{base}/feeds/{doc.key}.{fmt}")
             for fmt, ctype, label in FEED_FORMATS]
    nav = [(NAV[rel], href) for rel, href in doc.links if rel in NAV]
    html = _env().get_template("archive.html").render(
        doc=doc, base=base, lines=lines, feeds=feeds, nav=nav, timezone=doc.timezone)
    return html.encode("utf-8")


def _short(text: str, limit: int = 280) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"
