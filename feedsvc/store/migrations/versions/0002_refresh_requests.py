"""Admin refresh requests: queued by the web side, claimed by the scheduler.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from feedsvc.store.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "refresh_requests",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source_id", sa.String(200)),  # NULL = every enabled source
        sa.Column("requested_at", UTCDateTime, nullable=False),
        sa.Column("claimed_at", UTCDateTime),
    )


def downgrade() -> None:
    op.drop_table("refresh_requests")
