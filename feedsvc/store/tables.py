"""The archive's schema (SQLAlchemy Core). Migrations in ``migrations/`` build it.

Datetimes are stored as naive UTC and come back aware (:class:`UTCDateTime`), the
same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in Python, naive UTC in the database; naive input is refused."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the store")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


metadata = MetaData()

articles = Table(
    "articles", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("url", String(2048), nullable=False, unique=True),  # canonical, normalized
    Column("guid", String(2048), nullable=False, unique=True),  # entry id, never changes
    Column("source_id", String(200), nullable=False),  # first source that found it
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False, default=""),
    Column("content_html", Text, nullable=False, default=""),
    Column("authors", Text, nullable=False, default="[]"),  # JSON list
    Column("published", UTCDateTime, nullable=False),
    Column("date_known", Boolean, nullable=False, default=True),  # False: first-seen
    Column("updated", UTCDateTime, nullable=False),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("day", String(10), nullable=False),  # published's date in service.timezone
    Column("image", String(2048)),
    Column("image_width", Integer),
    Column("image_height", Integer),
    Column("language", String(16)),
    Column("categories", Text, nullable=False, default="[]"),  # JSON list
    Column("tags", Text, nullable=False, default="[]"),  # JSON list
    Column("content_hash", String(64), nullable=False),  # of the material fields
    Column("checked_at", UTCDateTime),  # last time its page was (re)fetched
    Column("page_etag", Text),  # validators of the article page, for rechecks
    Column("page_last_modified", Text),
    Index("ix_articles_published", "published", "id"),
    Index("ix_articles_day_published", "day", "published", "id"),
    Index("ix_articles_first_seen", "first_seen"),
)

article_topics = Table(
    "article_topics", metadata,
    Column("article_id", Integer, ForeignKey("articles.id", ondelete="CASCADE"),
           primary_key=True),
    Column("topic", String(200), primary_key=True),
    # The article's published and day, copied so that a topic's newest-N and a topic's
    # day are read from one index in feed order (kept equal to articles' by the store).
    Column("published", UTCDateTime),
    Column("day", String(10)),
    Index("ix_article_topics_newest", "topic", "published", "article_id"),
    Index("ix_article_topics_day", "topic", "day", "published", "article_id"),
)

article_sources = Table(
    "article_sources", metadata,
    Column("article_id", Integer, ForeignKey("articles.id", ondelete="CASCADE"),
           primary_key=True),
    Column("source_id", String(200), primary_key=True),
    Column("published", UTCDateTime),  # as in article_topics
    Column("day", String(10)),
    Index("ix_article_sources_newest", "source_id", "published", "article_id"),
)

# Counters kept by the store in the transaction that adds, moves or deletes articles:
# the index's day list, the digest's days and /status read them instead of counting.
day_counts = Table(
    "day_counts", metadata,
    Column("day", String(10), primary_key=True),
    Column("n", Integer, nullable=False),
)

source_counts = Table(
    "source_counts", metadata,
    Column("source_id", String(200), primary_key=True),
    Column("n", Integer, nullable=False),
)

# Full-text search (see feedsvc.search) lives outside this metadata, made by migration
# 0004: on SQLite the FTS5 table ``article_fts(doc)`` (rowid = article id), on
# PostgreSQL ``article_search(article_id, doc tsvector)`` with a GIN index on ``doc``.

source_state = Table(
    "source_state", metadata,
    Column("source_id", String(200), primary_key=True),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("last_attempt", UTCDateTime),
    Column("last_success", UTCDateTime),
    Column("last_error", Text),
    Column("last_status", Integer),
    Column("failures", Integer, nullable=False, default=0),
    Column("fetches", Integer, nullable=False, default=0),
    Column("not_modified", Integer, nullable=False, default=0),
    Column("next_run", UTCDateTime),
)

# Per-feed change counters: a refresh bumps the feeds whose articles it changed; the
# render cache is keyed by them (see feedsvc.feeds).
feed_versions = Table(
    "feed_versions", metadata,
    Column("feed", String(400), primary_key=True),
    Column("version", Integer, nullable=False, default=0),
)

rendered = Table(
    "rendered", metadata,
    Column("key", String(1000), primary_key=True),  # feed + format + normalized query
    Column("stamp", String(200), nullable=False),  # the versions it was rendered from
    Column("etag", String(100), nullable=False),
    Column("last_modified", UTCDateTime, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("body_gz", LargeBinary, nullable=False),
)

kv = Table(
    "kv", metadata,
    Column("key", String(200), primary_key=True),
    Column("value", Text, nullable=False),
)

refresh_requests = Table(
    "refresh_requests", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source_id", String(200)),  # NULL = every enabled source
    Column("requested_at", UTCDateTime, nullable=False),
    Column("claimed_at", UTCDateTime),  # set by the scheduler that runs it
)
