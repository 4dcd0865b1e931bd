"""Domain objects, named for the way they travel (frozen; tuples inside).

``ArticleData`` comes from a source (sources/extract → refresh → store);
``Article`` comes from the store (store → feeds → render); ``Validators`` are what a
conditional GET of one document sends (a source's own document: store ↔ sources; an
article page: inside ``PageCheck``, store ↔ sources); ``SourceState`` is a
source's fetch bookkeeping (store ↔ refresh, status page); ``SourceResult`` is what one
refresh of one source did (refresh → CLI, logs, status); ``Rendering`` is one feed in
one format as bytes (render cache ↔ store → web).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ArticleData:
    """One article as a source gives it, before it is stored."""

    url: str  # canonical, normalized (feedsvc.urls.normalize): the article's identity
    title: str  # plain text, XML-legal
    published: datetime | None = None  # aware UTC; None = unknown (store uses first-seen)
    updated: datetime | None = None  # aware UTC, the source's own "modified", if any
    authors: tuple[str, ...] = ()
    summary: str = ""  # plain text
    content_html: str = ""  # sanitized HTML, absolute URLs
    image: str | None = None  # lead image URL (absolute)
    image_width: int | None = None
    image_height: int | None = None
    language: str | None = None  # e.g. "en", "uk"
    categories: tuple[str, ...] = ()  # the site's own sections
    tags: tuple[str, ...] = ()  # the site's own keywords


@dataclass(frozen=True)
class Article:
    """One stored article, as feeds see it."""

    id: int  # store row id (internal; never in a feed)
    guid: str  # the entry id in every feed: set once, never changed
    url: str  # canonical URL
    source_id: str  # the source that found it first
    title: str
    summary: str
    content_html: str
    authors: tuple[str, ...]
    published: datetime  # aware UTC: the source's date, else first-seen
    updated: datetime  # aware UTC: last material change
    first_seen: datetime  # aware UTC
    image: str | None
    image_width: int | None
    image_height: int | None
    language: str | None
    categories: tuple[str, ...]
    tags: tuple[str, ...]
    topics: tuple[str, ...] = ()  # topic slugs, sorted


@dataclass(frozen=True)
class Validators:
    """What a document answered with, for the next conditional GET of it."""

    url: str  # the document they belong to (never sent for another one)
    etag: str | None = None  # its ETag header, as sent
    last_modified: str | None = None  # its Last-Modified header, as sent

    def for_url(self, url: str) -> Validators:
        """These validators if they belong to ``url``, else none (an unconditional GET)."""
        return self if self.url == url else Validators(url)


@dataclass(frozen=True)
class PageCheck:
    """An article page fetched or re-checked for edits (sources → store), or due for
    a re-check (store → sources)."""

    article_url: str  # the archived article it is (its identity, canonical)
    validators: Validators  # the page's: ``url`` is where it was (or is to be) fetched


@dataclass(frozen=True)
class SourceState:
    """A source's fetch bookkeeping, kept in the store."""

    source_id: str
    validators: Validators | None = None  # of the source's own document (feed, listing…)
    last_attempt: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None  # message of the last failure; None after a success
    last_status: int | None = None  # HTTP status of the last failure, if any
    failures: int = 0  # consecutive failures (0 after a success)
    fetches: int = 0  # listing fetches made
    not_modified: int = 0  # of which answered 304
    next_run: datetime | None = None  # earliest next attempt (back-off)


@dataclass(frozen=True)
class SourceResult:
    """What one refresh of one source did."""

    source_id: str
    outcome: str  # "new" | "updated" | "unchanged" | "error" | "deferred" (backing off)
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0  # articles that failed on their own (counted, not fatal)
    error: str | None = None  # why it failed or was deferred; else skipped articles'
    status: int | None = None
    seconds: float = 0.0
    changed_feeds: frozenset[str] = field(default_factory=frozenset)
    note: str | None = None  # what went wrong after the articles were saved

    def line(self) -> str:
        if self.outcome in ("error", "deferred"):
            return f"{self.source_id}: {self.outcome}: {self.error}"
        extra = f", {self.skipped} skipped" if self.skipped else ""
        note = f"; {self.note}" if self.note else ""
        return (
            f"{self.source_id}: {self.outcome} ({self.new} new, {self.updated} updated, "
            f"{self.unchanged} unchanged{extra}) in {self.seconds:.1f}s{note}"
        )


@dataclass(frozen=True)
class Rendering:
    """One feed in one format, rendered: the bytes a client gets, and what stamps them."""

    key: str  # the cache key: base URL, feed path and normalized query
    stamp: str  # hash of the feed versions (and config) it was rendered from
    etag: str  # strong, quoted, of the identity body; the gzip body's adds "-gz"
    last_modified: datetime  # aware UTC, whole seconds: the feed's own updated date
    body: bytes
    body_gz: bytes  # the same, gzipped once
