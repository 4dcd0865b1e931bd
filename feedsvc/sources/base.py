"""What every source kind shares: what it reads through (:class:`Context`) and what it
gives back, piece by piece (:class:`Found`, the last piece with a :class:`Listing`).

A kind is a generator of ``Found``: it yields articles as their pages are extracted,
so that the refresh can save them while the next pages are fetched (a crash mid-source
keeps what was saved, and the next run does not fetch it again). Source-level failures
raise (``FetchError``, ``ParseError``…); per-article failures travel as ``failures``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from feedsvc.config import Config
from feedsvc.fetch import Fetcher, Response
from feedsvc.types import ArticleData, PageCheck, SourceState, Validators

FEED_ACCEPT = ("application/atom+xml, application/rss+xml, application/feed+json, "
               "application/json;q=0.9, application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5")
HTML_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
SITEMAP_ACCEPT = ("application/xml, text/xml;q=0.9, application/x-gzip;q=0.8, "
                  "text/plain;q=0.5, */*;q=0.3")
MAX_LINKS = 500  # article links taken from one listing or home page
MAX_NEW = 200  # article pages fetched per refresh by sitemap and site sources
MAX_KNOWN = 1000  # already-archived URLs reported per refresh (Store.attach)


@dataclass(frozen=True)
class Context:
    """What a source reads through: the config, the fetcher and the store's answers
    (a source asks the store, it never writes to it)."""

    config: Config
    fetcher: Fetcher
    # which of these URLs the archive holds: {listed URL: archived URL}
    known: Callable[[Sequence[str]], dict[str, str]]
    # recent articles of a source due for an edit check
    due: Callable[[str], Sequence[PageCheck]] = lambda _id: ()
    # archived articles by URL, as data (to merge a feed's edit or a recheck into)
    stored: Callable[[Sequence[str]], dict[str, ArticleData]] = lambda _urls: {}


@dataclass(frozen=True)
class Listing:
    """What became of the source's own document (feed, listing, sitemap, home page)."""

    validators: Validators | None = None  # to send next time; None: fetch it in full
    fetched: bool = True  # it was requested over HTTP (files sources: False)
    not_modified: bool = False  # it answered 304: nothing new


@dataclass(frozen=True)
class Found:
    """One piece of what reading a source gave, yielded as soon as it is known."""

    articles: tuple[ArticleData, ...] = ()  # to save (new, or seen again)
    known: tuple[str, ...] = ()  # archived URLs this source lists too
    checks: tuple[PageCheck, ...] = ()  # article pages fetched or re-checked
    failures: tuple[str, ...] = ()  # "URL: message": articles that failed on their own
    listing: Listing | None = None  # set on the source's last piece
    via: str = ""  # a site source's chosen way: "feed URL", "sitemaps URL…", "page links"


def get_document(url: str, state: SourceState, ctx: Context,
                 accept: str) -> tuple[Response, Listing]:
    """GET the source's own document, conditionally with the validators that belong to
    it; the response and the listing to keep (its validators, or the old ones)."""
    sent = (state.validators or Validators(url)).for_url(url)
    resp = ctx.fetcher.get(url, etag=sent.etag, last_modified=sent.last_modified,
                           accept=accept)
    if resp.not_modified:
        return resp, Listing(sent, not_modified=True)
    return resp, Listing(Validators(url, resp.headers.get("etag") or sent.etag,
                                    resp.headers.get("last-modified") or sent.last_modified))


def fill_in(article: ArticleData, **fallbacks: Any) -> ArticleData:
    """``article`` with each named field it lacks (empty) taken from ``fallbacks``."""
    return replace(article, **{k: getattr(article, k) or v for k, v in fallbacks.items()})
