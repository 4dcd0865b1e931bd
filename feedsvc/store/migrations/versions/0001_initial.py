"""The initial archive schema.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from feedsvc.store.tables import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "articles",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("url", sa.String(2048), nullable=False, unique=True),
        sa.Column("guid", sa.String(2048), nullable=False, unique=True),
        sa.Column("source_id", sa.String(200), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("content_html", sa.Text, nullable=False),
        sa.Column("authors", sa.Text, nullable=False),
        sa.Column("published", UTCDateTime, nullable=False),
        sa.Column("date_known", sa.Boolean, nullable=False),
        sa.Column("updated", UTCDateTime, nullable=False),
        sa.Column("first_seen", UTCDateTime, nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("image", sa.String(2048)),
        sa.Column("image_width", sa.Integer),
        sa.Column("image_height", sa.Integer),
        sa.Column("language", sa.String(16)),
        sa.Column("categories", sa.Text, nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_articles_published", "articles", ["published", "id"])
    op.create_index("ix_articles_day", "articles", ["day"])
    op.create_table(
        "article_topics",
        sa.Column("article_id", sa.Integer,
                  sa.ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("topic", sa.String(200), primary_key=True),
    )
    op.create_index("ix_article_topics_topic", "article_topics", ["topic", "article_id"])
    op.create_table(
        "article_sources",
        sa.Column("article_id", sa.Integer,
                  sa.ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("source_id", sa.String(200), primary_key=True),
    )
    op.create_index("ix_article_sources_source", "article_sources",
                    ["source_id", "article_id"])
    op.create_table(
        "source_state",
        sa.Column("source_id", sa.String(200), primary_key=True),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("last_attempt", UTCDateTime),
        sa.Column("last_success", UTCDateTime),
        sa.Column("last_error", sa.Text),
        sa.Column("last_status", sa.Integer),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("fetches", sa.Integer, nullable=False, server_default="0"),
        sa.Column("not_modified", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_run", UTCDateTime),
    )
    op.create_table(
        "feed_versions",
        sa.Column("feed", sa.String(400), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "rendered",
        sa.Column("key", sa.String(1000), primary_key=True),
        sa.Column("stamp", sa.String(200), nullable=False),
        sa.Column("etag", sa.String(100), nullable=False),
        sa.Column("last_modified", UTCDateTime, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("body_gz", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "kv",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for name in ("kv", "rendered", "feed_versions", "source_state", "article_sources",
                 "article_topics", "articles"):
        op.drop_table(name)
