"""The outbox: messages that must not be lost, delivered by a sender that claims rows with a lease."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Outbox

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"


def enqueue(session: AsyncSession, channel: str, chat_id: str, payload: dict, alert_id: int | None = None,
            now: datetime | None = None) -> Outbox:
    """Add a message to the outbox, in the caller's transaction."""
    row = Outbox(channel=channel, chat_id=chat_id, payload=payload, alert_id=alert_id)
    if now is not None:
        row.created_at = row.next_attempt_at = now
    session.add(row)
    return row


async def claim_due(session: AsyncSession, channel: str, now: datetime, limit: int,
                    lease: timedelta) -> list[Outbox]:
    """Claim up to `limit` due rows of a channel: pending ones, or ones whose sender's lease ran out.

    Each row is claimed by a conditional UPDATE, so two senders on one database never take the same row.
    """
    due = (select(Outbox.id)
           .where(Outbox.channel == channel, Outbox.next_attempt_at <= now,
                  or_(Outbox.status == PENDING, (Outbox.status == SENDING) & (Outbox.lease_until < now)))
           .order_by(Outbox.next_attempt_at, Outbox.id).limit(limit))
    claimed = []
    for row_id in (await session.exec(due)).all():
        result = await session.exec(
            update(Outbox)
            .where(Outbox.id == row_id,
                   or_(Outbox.status == PENDING, (Outbox.status == SENDING) & (Outbox.lease_until < now)))
            .values(status=SENDING, lease_until=now + lease, attempts=Outbox.attempts + 1))
        if result.rowcount == 1:
            claimed.append(row_id)
    if not claimed:
        return []
    rows = await session.exec(select(Outbox).where(Outbox.id.in_(claimed)).order_by(Outbox.id)
                              .execution_options(populate_existing=True))
    return list(rows.all())


async def mark_sent(session: AsyncSession, row_id: int, message_id: str | None, now: datetime) -> None:
    await session.exec(update(Outbox).where(Outbox.id == row_id)
                       .values(status=SENT, sent_message_id=message_id, sent_at=now, lease_until=None,
                               last_error=None))


async def mark_retry(session: AsyncSession, row_id: int, error: str, at: datetime) -> None:
    await session.exec(update(Outbox).where(Outbox.id == row_id)
                       .values(status=PENDING, next_attempt_at=at, lease_until=None, last_error=error[:500]))


async def mark_failed(session: AsyncSession, row_id: int, error: str) -> None:
    await session.exec(update(Outbox).where(Outbox.id == row_id)
                       .values(status=FAILED, lease_until=None, last_error=error[:500]))


async def sent_copies(session: AsyncSession, alert_id: int) -> list[Outbox]:
    """Where an alert was posted, to edit every copy when someone takes it."""
    query = select(Outbox).where(Outbox.alert_id == alert_id, Outbox.status == SENT)
    return list((await session.exec(query)).all())
