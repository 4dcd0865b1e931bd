"""Alembic migrations of the archive schema (numbered, tested; see store.upgrade)."""
