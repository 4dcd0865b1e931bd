"""Article page rechecks: when a page was last checked, and its validators.

Lets html/sitemap/site sources re-check recent articles for upstream edits with a
conditional GET (a 304 costs nothing further).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from feedsvc.store.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("checked_at", UTCDateTime))
        batch.add_column(sa.Column("page_etag", sa.Text))
        batch.add_column(sa.Column("page_last_modified", sa.Text))
    op.execute("UPDATE articles SET checked_at = first_seen")


def downgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("page_last_modified")
        batch.drop_column("page_etag")
        batch.drop_column("checked_at")
