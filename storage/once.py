"""Insert-if-absent that says whether this call inserted: the building block of "exactly once"."""
from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession


def dialect_insert(session: AsyncSession):  # the dialect's insert construct: same API, own ON CONFLICT
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


async def insert_once(session: AsyncSession, model: type[SQLModel], values: dict, unique: list[str]) -> bool:
    """True if this call inserted the row; False if a row with the same `unique` columns existed (here or
    in another process: the database decides, not memory)."""
    statement = dialect_insert(session)(model).values(**values).on_conflict_do_nothing(index_elements=unique)
    return (await session.exec(statement)).rowcount == 1
