"""Source kinds: how each kind of source yields articles.

One module per kind: :mod:`~feedsvc.sources.feed` (RSS/Atom/JSON Feed, optionally full
text from each page), :mod:`~feedsvc.sources.html` (a listing page + a CSS selector),
:mod:`~feedsvc.sources.sitemap` (sitemaps, news sitemaps, indexes; the documents are
parsed by :mod:`~feedsvc.sources.sitemapdoc`), :mod:`~feedsvc.sources.site` (a home
page: its feed, else its robots.txt sitemaps, else its article links) and
:mod:`~feedsvc.sources.files` (a local folder). Article pages are fetched and extracted
one way, by :mod:`~feedsvc.sources.pages`, in the worker processes of
:mod:`~feedsvc.workers` when there are many.

A kind reads through the :class:`~feedsvc.fetch.Fetcher` (never the network directly),
asks the store only what it already holds (:class:`Context`), never writes, and yields
what it finds piece by piece (:class:`Found`), so that the refresh saves articles as
their pages arrive.
"""

from __future__ import annotations

from collections.abc import Iterator

from feedsvc.config import SourceConfig
from feedsvc.errors import SourceError
from feedsvc.sources import feed, files, html, pages, site, sitemap
from feedsvc.sources.base import MAX_LINKS, MAX_NEW, Context, Found, Listing
from feedsvc.sources.site import looks_like_article
from feedsvc.types import SourceState

_KINDS = {"feed": feed.read, "html": html.read, "sitemap": sitemap.read, "site": site.read,
          "files": files.read}


def read(src: SourceConfig, state: SourceState, ctx: Context) -> Iterator[Found]:
    """Read one source, piece by piece; then re-check its recent pages for edits.

    Source-level failures raise (FetchError, ParseError...), possibly after some pieces.
    """
    reader = _KINDS.get(src.kind)
    if reader is None:
        raise SourceError(src.id, f"kind {src.kind!r} is not supported yet")
    yield from reader(src, state, ctx)
    if src.kind == "feed" and src.fulltext:
        yield from pages.recheck(src, ctx, feed.keep_feed_words)
    elif src.kind in ("html", "sitemap"):
        yield from pages.recheck(src, ctx)  # (site re-checks as the method it used)


__all__ = ["MAX_LINKS", "MAX_NEW", "Context", "Found", "Listing", "looks_like_article",
           "read"]
