"""Invitations: registrations prepared from an imported list, opened by a deep link t.me/<bot>?start=<code>.

An invitation holds the validated data of one imported row; no Person exists until the person confirms.
Every function takes the caller's AsyncSession and never commits.
"""
from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Invitation
from storage.stations import BIND_ALPHABET, as_utc, code_key

CODE_LENGTH = 12  # longer than a bind code: it opens someone's personal data, and many exist at once
VALID_FOR = timedelta(days=14)
_BATCH = 1000  # rows per INSERT: SQLite's limit on bound parameters stays far away


@dataclass
class Lookup:
    status: Literal["ok", "unknown", "used", "expired"]
    invitation: Invitation | None = None


def new_code() -> str:
    return "".join(secrets.choice(BIND_ALPHABET) for _ in range(CODE_LENGTH))


def link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start={code}"


async def _fresh_codes(session: AsyncSession, count: int) -> dict[str, str]:
    """`count` codes unused so far, each with its key (storage.stations.code_key: only the key is stored);
    32^12 codes make a clash unheard of, but the primary key must hold."""
    codes: dict[str, str] = {}
    while len(codes) < count:
        wanted = {key: code for code in {new_code() for _ in range(count - len(codes))}
                  if (key := code_key(code)) not in codes}
        taken = set((await session.exec(select(Invitation.code).where(col(Invitation.code).in_(wanted)))).all())
        codes |= {key: code for key, code in wanted.items() if key not in taken}
    return codes


async def create_invitations(session: AsyncSession, station_data: Iterable[tuple[int, dict]], created_by: str,
                             now: datetime) -> list[str]:
    """One invitation per (station id, data); their codes in the same order, the only time the codes are seen
    (the database keeps their keys). Inserted in batches: an import of 10,000 rows must not make 10,000 round
    trips."""
    items = list(station_data)
    now = as_utc(now)
    codes: list[str] = []
    for start in range(0, len(items), _BATCH):
        chunk = items[start:start + _BATCH]
        chunk_codes = await _fresh_codes(session, len(chunk))
        await session.exec(insert(Invitation), params=[
            {"code": key, "station_id": station_id, "data": data, "created_by": created_by, "created_at": now,
             "expires_at": now + VALID_FOR}
            for key, (station_id, data) in zip(chunk_codes, chunk, strict=True)])
        codes += chunk_codes.values()
    return codes


async def find_invitation(session: AsyncSession, code: str, now: datetime) -> Lookup:
    """The invitation of a code as the person typed or followed it; its `code` attribute is the stored key."""
    invitation = await session.get(Invitation, code_key(code))
    if invitation is None:
        return Lookup("unknown")
    if invitation.used_at is not None:
        return Lookup("used", invitation)
    if as_utc(invitation.expires_at) <= as_utc(now):
        return Lookup("expired", invitation)
    return Lookup("ok", invitation)


async def use_invitation(session: AsyncSession, key: str, account_id: int, now: datetime) -> bool:
    """Mark the invitation used by this account unless it already was (conditional UPDATE: one winner).

    `key` is the Invitation.code of the invitation found (find_invitation), never the code typed: a
    registration keeps only that key in its conversation state."""
    result = await session.exec(
        update(Invitation).where(col(Invitation.code) == key, col(Invitation.used_at).is_(None))
        .values(used_at=as_utc(now), used_by_account=account_id))
    return result.rowcount == 1


async def pending_id_numbers(session: AsyncSession, station_ids: Iterable[int], now: datetime) -> set[tuple[int, str]]:
    """(station id, CCCD) of invitations still open: importing the same list twice must not invite twice."""
    query = select(Invitation.station_id, Invitation.data).where(
        col(Invitation.station_id).in_(list(station_ids)), col(Invitation.used_at).is_(None),
        Invitation.expires_at > as_utc(now))
    return {(station_id, data["id_number"]) for station_id, data in (await session.exec(query)).all()
            if data.get("id_number")}
