"""Async engine and sessions: SQLite (WAL, foreign keys, busy timeout) or PostgreSQL."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

# PostgreSQL, shared by several bot processes: each opens at most POOL_SIZE + POOL_OVERFLOW connections, so
# six processes stay under the server's default max_connections (100); more need a larger max_connections.
POOL_SIZE, POOL_OVERFLOW = 5, 10
POOL_RECYCLE_SECONDS = 1800


def _engine_options(url: str) -> dict[str, Any]:
    if not url.startswith("postgresql"):
        return {}
    return {
        "pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW,
        # A connection the server or a proxy closed (restart, failover, idle timeout) is replaced before use,
        # instead of failing the update or the delivery that drew it from the pool.
        "pool_pre_ping": True, "pool_recycle": POOL_RECYCLE_SECONDS,
        # Named in pg_stat_activity, for the operator looking at who holds which connection or lock.
        "connect_args": {"server_settings": {"application_name": "cachly"}},
    }


def make_engine(url: str) -> AsyncEngine:
    # hide_parameters: SQL errors must never carry personal data into a log.
    engine = create_async_engine(url, hide_parameters=True, **_engine_options(url))
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=10000")
            # Deleted and overwritten rows are zeroed in their pages, not left in free space for anyone reading
            # the file: erased personal data must be gone from it (storage/purge.py).
            cur.execute("PRAGMA secure_delete=ON")
            cur.close()

    return engine


class Database:
    """One engine and its session factory; `async with db.session() as s:` commits on success."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def dispose(self) -> None:
        await self.engine.dispose()
