"""The ``html`` kind: a listing page and a ``links`` CSS selector; each new linked page
is fetched and extracted (:mod:`~feedsvc.sources.pages`), and the page's canonical URL
is the article's identity. The listing is fetched conditionally; a listing whose pages
could not all be fetched (the host asked us to wait) is read in full next time.
"""

from __future__ import annotations

from collections.abc import Iterator

from feedsvc import urls
from feedsvc.config import SourceConfig
from feedsvc.errors import ParseError
from feedsvc.extract import decode, parse_html
from feedsvc.sources.base import (
    HTML_ACCEPT,
    MAX_LINKS,
    Context,
    Found,
    Listing,
    get_document,
)
from feedsvc.sources.pages import fetch_new
from feedsvc.types import SourceState


def read(src: SourceConfig, state: SourceState, ctx: Context) -> Iterator[Found]:
    resp, listing = get_document(src.url, state, ctx, HTML_ACCEPT)
    if resp.not_modified:
        yield Found(listing=listing)
        return
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
    left = yield from fetch_new(src, links, ctx)
    yield Found(listing=Listing() if left else listing)
