"""Guessing codes is made pointless: a chat user gets a few wrong tries per hour at each kind of code."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Attempt

MAX_FAILURES = 5  # per kind of code, per user, per WINDOW: 32^8 codes cannot be guessed at this pace
WINDOW = timedelta(hours=1)


async def may_try(session: AsyncSession, kind: str, subject: str, now: datetime) -> bool:
    query = select(func.count()).select_from(Attempt).where(
        Attempt.kind == kind, Attempt.subject == subject, col(Attempt.ok).is_(False), Attempt.at > now - WINDOW)
    return (await session.exec(query)).one() < MAX_FAILURES


def note_try(session: AsyncSession, kind: str, subject: str, ok: bool, now: datetime) -> None:
    session.add(Attempt(kind=kind, subject=subject, ok=ok, at=now))
