"""Stored renderings are written without PostgreSQL's own compression.

A cold feed answer writes its ``rendered`` row; PostgreSQL compressed both bodies
with pglz on the way (TOAST), ~10 of the 55 ms of a cold topic feed on a 1M archive.
``body_gz`` is gzip already and ``body`` is read far less often than it is written, so
both are stored out of line, uncompressed (``STORAGE EXTERNAL``). SQLite: nothing.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE rendered ALTER COLUMN body SET STORAGE EXTERNAL, "
                   "ALTER COLUMN body_gz SET STORAGE EXTERNAL")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE rendered ALTER COLUMN body SET STORAGE EXTENDED, "
                   "ALTER COLUMN body_gz SET STORAGE EXTENDED")
