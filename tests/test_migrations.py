"""The Alembic migrations build exactly the tables of storage/models.py, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

from storage.migrate import downgrade, schema_diff, upgrade

POSTGRES_URL = os.environ.get("CACHLY_TEST_POSTGRES_URL")


async def table_names(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def drop_version_table(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    finally:
        await engine.dispose()


async def check_round_trip(url: str) -> None:
    await upgrade(url)
    assert await schema_diff(url) == []
    assert await table_names(url) == set(SQLModel.metadata.tables) | {"alembic_version"}
    await upgrade(url)  # already at head: nothing to do, no error
    await downgrade(url)
    assert await table_names(url) <= {"alembic_version"}


async def test_sqlite_upgrade_matches_models(tmp_path: Path) -> None:
    await check_round_trip(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")


async def test_schema_diff_sees_a_missing_index(tmp_path: Path) -> None:
    """The check is not vacuous: a schema that drifted from the models shows up."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'drift.db'}"
    await upgrade(url)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP INDEX ix_outbox_due"))
    finally:
        await engine.dispose()
    diff = await schema_diff(url)
    assert [d[0] for d in diff] == ["add_index"]


async def test_postgresql_upgrade_matches_models() -> None:
    if not POSTGRES_URL:
        pytest.skip("set CACHLY_TEST_POSTGRES_URL=postgresql+asyncpg://... to test migrations on PostgreSQL")
    if await table_names(POSTGRES_URL) - {"alembic_version"}:
        pytest.skip("the CACHLY_TEST_POSTGRES_URL database is not empty; refusing to touch its tables")
    try:
        await check_round_trip(POSTGRES_URL)
    finally:
        await downgrade(POSTGRES_URL)  # leave the shared database as found
        await drop_version_table(POSTGRES_URL)
