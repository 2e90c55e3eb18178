"""Claims: a unique row per (kind, subject, day, slot), so a scheduled send happens once across restarts
and across several bot processes on one database."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Claim


async def claim(session: AsyncSession, kind: str, subject: str, day: date, now: datetime, slot: str = "") -> bool:
    """True if this call took the claim; False if it was taken before (by this or another process)."""
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    statement = (insert(Claim).values(kind=kind, subject=subject, day=day, slot=slot, claimed_at=now)
                 .on_conflict_do_nothing(index_elements=["kind", "subject", "day", "slot"]))
    result = await session.exec(statement)
    return result.rowcount == 1
