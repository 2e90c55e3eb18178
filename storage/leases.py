"""Leases: a role that only one of several processes on one database may hold at a time.

A lease is one row per role: its holder and when it expires. The holder renews it well before then; a
process that dies stops renewing, so once `expires_at` has passed another process takes the role over.
Taking and renewing are ONE statement (insert, or update only if ours or expired), so two processes can
never both believe they hold it: the database decides, as for claims (storage/once.py).

Times are the processes' own clocks (as for the outbox's leases): keep the machines on NTP, whose
milliseconds are nothing against leases of seconds.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Lease
from storage.once import dialect_insert


async def acquire(session: AsyncSession, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
    """Take the lease, or renew it when `holder` has it already: True if `holder` now holds it until
    now + ttl; False while another holder's lease runs."""
    statement = dialect_insert(session)(Lease).values(name=name, holder=holder, expires_at=now + ttl,
                                                      acquired_at=now)
    taken = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=["name"],
        set_={"holder": taken.holder, "expires_at": taken.expires_at,
              "acquired_at": case((Lease.holder == taken.holder, Lease.acquired_at), else_=taken.acquired_at)},
        where=(Lease.holder == holder) | (Lease.expires_at <= now))
    return (await session.exec(statement)).rowcount == 1


async def release(session: AsyncSession, name: str, holder: str, now: datetime) -> bool:
    """Give the lease up at once (a clean stop), so another process need not wait for it to expire."""
    result = await session.exec(update(Lease).where(col(Lease.name) == name, col(Lease.holder) == holder)
                                .values(expires_at=now))
    return result.rowcount == 1


async def current_holder(session: AsyncSession, name: str, now: datetime) -> str | None:
    """Who holds the lease now; None when nobody does (never taken, released, or expired)."""
    query = select(Lease.holder).where(Lease.name == name, Lease.expires_at > now)
    return (await session.exec(query)).first()
