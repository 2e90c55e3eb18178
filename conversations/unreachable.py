"""A chat that refuses delivery for good (the person blocked the bot, or the bot left a group): stop
sending to it, and tell the people who can still reach them by phone."""
from __future__ import annotations

from sqlalchemy import update
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.alerts import destinations
from conversations.messages import Reply
from handlers.core import Core
from locales import t
from storage.models import Account, GroupBinding, Outbox, Person, Station
from storage.outbox import FAILED, PENDING, enqueue


async def mark_unreachable(session: AsyncSession, core: Core, channel: str, chat_id: str, reason: str) -> None:
    """Record it once, fail what is still queued for that chat, and notify the station (or the admins)."""
    await session.exec(update(Outbox).where(Outbox.channel == channel, Outbox.chat_id == chat_id,
                                            Outbox.status == PENDING)
                       .values(status=FAILED, last_error=f"unreachable: {reason}"[:500]))
    account = (await session.exec(select(Account).where(Account.channel == channel,
                                                        Account.external_id == chat_id))).first()
    if account is not None:
        await _person_unreachable(session, core, account, reason)
        return
    binding = (await session.exec(select(GroupBinding).where(GroupBinding.channel == channel,
                                                             GroupBinding.chat_id == chat_id))).first()
    if binding is not None:
        await _group_unreachable(session, core, binding)


async def _person_unreachable(session: AsyncSession, core: Core, account: Account, reason: str) -> None:
    if account.unreachable_at is not None:  # told already; it stays so until they write again
        return
    account.unreachable_at, account.unreachable_reason = core.utcnow(), reason[:200]
    session.add(account)
    people = (await session.exec(select(Person).where(Person.account_id == account.id,
                                                      Person.status == "active"))).all()
    for person in people:
        for channel, chat_id, lang in await destinations(session, core, person.station_id):
            if (channel, chat_id) == (account.channel, account.external_id):
                continue
            text = t(lang, "unreachable.person", name=person.full_name, phone=person.phone)
            enqueue(session, channel, chat_id, Reply(text).to_payload(), now=core.utcnow())


async def _group_unreachable(session: AsyncSession, core: Core, binding: GroupBinding) -> None:
    station = await session.get(Station, binding.station_id) if binding.station_id else None
    name = (station.full_name or station.name) if station else t("vi", "report.province")
    for channel, chat_id in core.admin_chats:
        enqueue(session, channel, chat_id, Reply(t("vi", "unreachable.group", station=name)).to_payload(),
                now=core.utcnow())
