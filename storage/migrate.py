"""Schema migrations through Alembic, from async code: `await upgrade(url)` before serving."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

from storage.files import private_sqlite

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
MIGRATION_LOCK = 0x0CAC_4175  # PostgreSQL advisory lock key: "cachly migrates"


def make_config(url: str | None = None) -> Config:
    """An Alembic Config built in code, so no alembic.ini has to sit next to the deployment."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        # ConfigParser interpolates '%': a URL-encoded password must survive.
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _quiet_alembic() -> None:
    # Alembic logs each step at INFO; a CLI printing a bind code must keep its output clean.
    logging.getLogger("alembic").setLevel(logging.WARNING)


async def _run(url: str, action: Callable[[Config], None]) -> None:
    """Run an Alembic command on one connection of the async engine, in one transaction."""
    _quiet_alembic()
    private_sqlite(url)  # a new SQLite file is made 0600 here, before any engine opens it
    # No pool and no runtime PRAGMAs (storage.db adds foreign_keys=ON, which breaks SQLite batch moves).
    engine = create_async_engine(url, poolclass=pool.NullPool)

    def in_sync(connection: Connection) -> None:
        cfg = make_config(url)
        cfg.attributes["connection"] = connection
        action(cfg)

    try:
        async with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Several `cachly run` processes starting at once on a fresh database: one migrates, the
                # others wait here, then find the schema at head. Released when this transaction ends.
                await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            await connection.run_sync(in_sync)
    finally:
        await engine.dispose()


async def upgrade(url: str, revision: str = "head") -> None:
    await _run(url, lambda cfg: command.upgrade(cfg, revision))


async def downgrade(url: str, revision: str = "base") -> None:
    await _run(url, lambda cfg: command.downgrade(cfg, revision))


async def schema_diff(url: str) -> list[Any]:
    """Differences between the tables in storage/models.py and the database; [] when they agree."""
    engine = create_async_engine(url, poolclass=pool.NullPool)

    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))

    try:
        async with engine.connect() as connection:
            return await connection.run_sync(compare)
    finally:
        await engine.dispose()
