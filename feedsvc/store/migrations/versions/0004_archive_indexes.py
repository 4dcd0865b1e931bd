"""A million articles: indexes in feed order, counters, full-text search.

- ``article_topics`` and ``article_sources`` carry their article's ``published`` and
  ``day``, indexed in feed order, so a topic's or source's newest-N and a topic's day
  are one index range each; ``articles`` gets (day, published, id) and first_seen.
- ``day_counts`` and ``source_counts``: the counters the index, the digest and
  ``/status`` read instead of counting the archive.
- Search: SQLite FTS5 ``article_fts`` (rowid = article id), PostgreSQL
  ``article_search`` (tsvector + GIN), filled with each article's
  :func:`feedsvc.search.document`.
- ``ANALYZE``, so SQLite's planner knows the new indexes' shapes.

Revision ID: 0004
Revises: 0003
"""

import json

import sqlalchemy as sa
from alembic import op

from feedsvc.store.tables import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"
    for table in ("article_topics", "article_sources"):
        op.add_column(table, sa.Column("published", UTCDateTime))
        op.add_column(table, sa.Column("day", sa.String(10)))
        if pg:
            op.execute(f"UPDATE {table} m SET published = a.published, day = a.day "
                       "FROM articles a WHERE a.id = m.article_id")
        else:
            op.execute(f"UPDATE {table} SET "
                       "published = (SELECT published FROM articles WHERE id = article_id), "
                       "day = (SELECT day FROM articles WHERE id = article_id)")
    op.drop_index("ix_article_topics_topic", "article_topics")
    op.drop_index("ix_article_sources_source", "article_sources")
    op.drop_index("ix_articles_day", "articles")
    op.create_index("ix_article_topics_newest", "article_topics",
                    ["topic", "published", "article_id"])
    op.create_index("ix_article_topics_day", "article_topics",
                    ["topic", "day", "published", "article_id"])
    op.create_index("ix_article_sources_newest", "article_sources",
                    ["source_id", "published", "article_id"])
    op.create_index("ix_articles_day_published", "articles", ["day", "published", "id"])
    op.create_index("ix_articles_first_seen", "articles", ["first_seen"])

    op.create_table("day_counts",
                    sa.Column("day", sa.String(10), primary_key=True),
                    sa.Column("n", sa.Integer, nullable=False))
    op.create_table("source_counts",
                    sa.Column("source_id", sa.String(200), primary_key=True),
                    sa.Column("n", sa.Integer, nullable=False))
    op.execute("INSERT INTO day_counts (day, n) SELECT day, count(*) FROM articles GROUP BY day")
    op.execute("INSERT INTO source_counts (source_id, n) "
               "SELECT source_id, count(*) FROM article_sources GROUP BY source_id")

    if pg:
        op.execute("CREATE TABLE article_search (article_id INTEGER PRIMARY KEY "
                   "REFERENCES articles (id) ON DELETE CASCADE, doc TSVECTOR NOT NULL)")
        op.execute("CREATE INDEX ix_article_search_doc ON article_search USING GIN (doc)")
    else:
        op.execute("CREATE VIRTUAL TABLE article_fts USING fts5("
                   "doc, tokenize = 'unicode61 remove_diacritics 0')")
    _index_existing(bind, pg)
    op.execute("ANALYZE")


def _index_existing(bind: sa.Connection, pg: bool) -> None:
    """Every archived article's search document, BATCH articles at a time."""
    from feedsvc.search import document
    from feedsvc.types import ArticleData

    insert = sa.text("INSERT INTO article_search (article_id, doc) "
                     "VALUES (:id, to_tsvector('simple', :doc))" if pg else
                     "INSERT INTO article_fts (rowid, doc) VALUES (:id, :doc)")
    last = 0
    while True:
        rows = bind.execute(sa.text(
            "SELECT id, url, title, summary, content_html, categories, tags FROM articles "
            "WHERE id > :last ORDER BY id LIMIT :n"), {"last": last, "n": BATCH}).all()
        if not rows:
            return
        bind.execute(insert, [{"id": r.id, "doc": document(ArticleData(
            url=r.url, title=r.title, summary=r.summary, content_html=r.content_html,
            categories=tuple(json.loads(r.categories)), tags=tuple(json.loads(r.tags))))}
            for r in rows])
        last = rows[-1].id


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TABLE article_search")
    else:
        op.execute("DROP TABLE article_fts")
    op.drop_table("source_counts")
    op.drop_table("day_counts")
    op.drop_index("ix_articles_first_seen", "articles")
    op.drop_index("ix_articles_day_published", "articles")
    op.drop_index("ix_article_sources_newest", "article_sources")
    op.drop_index("ix_article_topics_day", "article_topics")
    op.drop_index("ix_article_topics_newest", "article_topics")
    op.create_index("ix_articles_day", "articles", ["day"])
    op.create_index("ix_article_sources_source", "article_sources", ["source_id", "article_id"])
    op.create_index("ix_article_topics_topic", "article_topics", ["topic", "article_id"])
    for table in ("article_sources", "article_topics"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("day")
            batch.drop_column("published")
