"""The ``feed`` kind: an upstream RSS, Atom or JSON Feed (feedparser).

The feed's link is the article's identity. Without ``fulltext`` the feed's own entries
are the articles, and every entry is saved on every change of the feed (the store
decides what is an edit). With ``fulltext``, each new entry's page is fetched for its
full text (:mod:`~feedsvc.sources.pages`); the feed's title and summary stay the
article's (the feed is the publisher's own word for them), so an entry whose title or
summary changes in the feed updates the archived article at the next refresh, without
waiting for the page's edit check; and a page re-check keeps them too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import lxml.html

from feedsvc import dates, urls
from feedsvc.config import SourceConfig
from feedsvc.errors import FeedsvcError, ParseError
from feedsvc.fetch import RetryLater
from feedsvc.sanitize import clean_html
from feedsvc.sources import pages
from feedsvc.sources.base import FEED_ACCEPT, Context, Found, Listing, fill_in, get_document
from feedsvc.text import clean_text
from feedsvc.types import ArticleData, PageCheck, SourceState, Validators

if TYPE_CHECKING:
    import feedparser


def read(src: SourceConfig, state: SourceState, ctx: Context) -> Iterator[Found]:
    resp, listing = get_document(src.url, state, ctx, FEED_ACCEPT)
    if resp.not_modified:
        yield Found(listing=listing)
        return
    import feedparser  # imported here: ~0.1 s, and many configs read no feeds

    parsed = feedparser.parse(resp.body, response_headers={
        "content-location": resp.url, "content-type": resp.headers.get("content-type", ""),
    })
    if not parsed.get("version") and not parsed.entries:
        reason = parsed.get("bozo_exception")
        detail = f": {reason}" if reason else ""
        raise ParseError(resp.url, f"not a feed (RSS, Atom or JSON Feed expected){detail}"[:300])
    tz = ZoneInfo(src.timezone)
    items: dict[str, ArticleData] = {}
    failures: list[str] = []
    for entry in parsed.entries:
        try:
            item = entry_data(entry, resp.url, tz)
        except (ValueError, FeedsvcError) as e:
            failures.append(f"{entry.get('link') or entry.get('id') or '?'}: {e}")
        else:
            items.setdefault(item.url, item)
    if not src.fulltext:
        yield Found(articles=tuple(items.values()), failures=tuple(failures),
                    listing=listing)
        return
    yield Found(failures=tuple(failures))
    yield from _fulltext(src, items, ctx, listing)


def _fulltext(src: SourceConfig, items: dict[str, ArticleData], ctx: Context,
              listing: Listing) -> Iterator[Found]:
    """New entries with their page's full text; known ones with the feed's edits."""
    known = ctx.known(list(items))
    stored = ctx.stored([known[u] for u in items if u in known])
    edits = []
    for url, item in items.items():
        old = stored.get(known.get(url, ""))
        if old is not None:  # the feed's title and summary over the archived article
            edits.append(replace(old, title=item.title, summary=item.summary or old.summary,
                                 published=item.published, updated=item.updated))
    yield Found(articles=tuple(edits), known=tuple(dict.fromkeys(known.values())))
    fresh = [u for u in items if u not in known]
    waiting = False
    for page in pages.fetch(src, [Validators(u) for u in fresh], ctx):
        item = items[page.url]
        if page.article is None:
            waiting = waiting or isinstance(page.error, RetryLater)
            # keep the feed's version meanwhile
            yield Found(articles=(item,), failures=(f"{page.url}: full text not fetched: "
                                                   f"{page.error}",))
        else:
            assert page.validators is not None
            yield Found(articles=(merge(item, page.article),),
                        checks=(PageCheck(item.url, page.validators),))
    # Pages the host asked us to wait for are fetched next time: read the feed in full.
    yield Found(listing=Listing() if waiting else listing)


def entry_data(entry: feedparser.FeedParserDict, base: str, tz: ZoneInfo) -> ArticleData:
    """One feed entry as an article (ValueError when it has no link or title)."""
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


def merge(item: ArticleData, page: ArticleData) -> ArticleData:
    """The entry, identified by its feed link, titled and summarized as the feed says,
    with the page's full text; the page's values where the feed has none, and the
    other way round."""
    return replace(
        fill_in(page, published=item.published, updated=item.updated, authors=item.authors,
                content_html=item.content_html, image=item.image,
                categories=item.categories),
        url=item.url, title=item.title or page.title, summary=item.summary or page.summary)


def keep_feed_words(page: ArticleData, stored: ArticleData | None) -> ArticleData:
    """A re-checked page of a feed's article keeps the feed's title and summary."""
    if stored is None:
        return page
    return replace(page, title=stored.title, summary=stored.summary or page.summary)
