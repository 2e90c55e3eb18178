"""Claims: a unique row per (kind, subject, day, slot), so a scheduled send happens once across restarts
and across several bot processes on one database."""
from __future__ import annotations

import sqlite3
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Exists, String, cast, exists, literal, true
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.bulk import field, json_rows
from storage.models import Claim
from storage.once import dialect_insert, insert_once

UNIQUE = ["kind", "subject", "day", "slot"]
CLOSING = "closing"  # a quarantine closed (the report counts them per day)


async def claim(session: AsyncSession, kind: str, subject: str, day: date, now: datetime, slot: str = "") -> bool:
    """True if this call took the claim; False if it was taken before (by this or another process)."""
    values = {"kind": kind, "subject": subject, "day": day, "slot": slot, "claimed_at": now}
    return await insert_once(session, Claim, values, UNIQUE)


async def claim_many(session: AsyncSession, kind: str, subjects: list[str], day: date, now: datetime,
                     slot: str = "") -> set[str]:
    """The subjects whose claims this call took, in few statements (a round may claim thousands)."""
    dialect = session.get_bind().dialect.name
    if dialect != "postgresql" and sqlite3.sqlite_version_info < (3, 35):  # no RETURNING before SQLite 3.35
        return {s for s in subjects if await claim(session, kind, s, day, now, slot)}
    # One order for every caller: two processes' rounds inserting the same claims in different orders would
    # each wait for the other's uncommitted rows (PostgreSQL: a deadlock, and one round fails until next tick).
    subjects = sorted(set(subjects))
    if not subjects:
        return set()
    # The subjects as one JSON parameter (storage.bulk), the other columns bound once: per-row parameters
    # cost more Python than the database's work. The table, not the model: no ORM processing per row.
    table = Claim.__table__  # type: ignore[attr-defined]  # SQLModel's types omit the __table__ of table models
    rows = json_rows(session, [[s] for s in subjects])  # sorted: the database inserts them in this order
    # SQLite needs a WHERE in the SELECT of an INSERT ... SELECT ... ON CONFLICT, or it misreads the ON.
    source = core_select(literal(kind, String), field(session, rows, 0), literal(day, table.c.day.type),
                    literal(slot, String), literal(now, table.c.claimed_at.type)).where(true())
    statement = (dialect_insert(session)(table).from_select([*UNIQUE, "claimed_at"], source)
                 .on_conflict_do_nothing(index_elements=UNIQUE).returning(table.c.subject))
    return set((await session.exec(statement)).scalars().all())


async def claimed(session: AsyncSession, kind: str, subject: str, day: date, slot: str = "") -> bool:
    """Whether the claim is taken already: a cheap look before costly work (the claim itself decides)."""
    query = select(Claim.id).where(Claim.kind == kind, Claim.subject == subject, Claim.day == day,
                                   Claim.slot == slot)
    return (await session.exec(query)).first() is not None


def is_claimed(kind: str, prefix: str, id_column: Any, day: date, slot: str = "") -> Exists:
    """SQL: whether the claim of (kind, prefix + id_column, day, slot) is taken, for a query's WHERE or columns.
    Leaving out what was claimed in the query keeps a steady-state sweep from writing (or locking) anything."""
    subject = literal(prefix, String) + cast(id_column, String)
    return exists().where(col(Claim.kind) == kind, col(Claim.subject) == subject, col(Claim.day) == day,
                          col(Claim.slot) == slot)


def unclaimed(kind: str, prefix: str, id_column: Any, day: date, slot: str = "") -> ColumnElement[bool]:
    return ~is_claimed(kind, prefix, id_column, day, slot)
