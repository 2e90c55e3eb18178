"""A chat that got a new id: Telegram upgrades a group to a supergroup (more members, admins, history), and the
old id then refuses every message. The station's binding and the messages still to deliver follow the chat."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, text, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import UNDELIVERED, GroupBinding, Outbox, OutboxStatus


async def move_chat(session: AsyncSession, channel: str, old: str, new: str, now: datetime) -> bool:
    """Bindings and undelivered messages of chat `old` go to chat `new`, due at once; True if `old` had a
    binding (a second call finds none: harmless)."""
    of_old = (col(GroupBinding.channel) == channel) & (col(GroupBinding.chat_id) == old)
    bound = select(GroupBinding.id).where(GroupBinding.channel == channel, GroupBinding.chat_id == new)
    if (await session.exec(bound)).first() is None:
        moved = await session.exec(update(GroupBinding).where(of_old).values(chat_id=new))
    else:  # the new chat was bound already (staff used /lienket there first): that binding stands
        moved = await session.exec(delete(GroupBinding).where(of_old))
    await session.exec(update(Outbox)
                       .where(col(Outbox.channel) == channel, col(Outbox.chat_id) == old, text(UNDELIVERED))
                       .values(chat_id=new, status=OutboxStatus.PENDING, next_attempt_at=now, lease_until=None))
    return moved.rowcount > 0
