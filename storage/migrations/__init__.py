"""Alembic environment of cachly; run it through storage.migrate (no alembic.ini needed)."""
