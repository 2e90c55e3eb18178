"""A chat that refuses delivery for good (the person blocked the bot, or the bot left a group): stop
sending to it, and tell the people who can still reach them by phone."""
from __future__ import annotations

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chat.messages import Reply
from locales import t
from services.alerts import destinations
from services.env import Core
from storage.models import Account, GroupBinding, Outbox, OutboxStatus, Person, PersonStatus, Station
from storage.outbox import post
from storage.stations import binding_of


async def mark_unreachable(session: AsyncSession, core: Core, channel: str, chat_id: str, reason: str) -> None:
    """Record it once, fail what is still queued for that chat, and notify the station (or the admins)."""
    await session.exec(update(Outbox).where(col(Outbox.channel) == channel, col(Outbox.chat_id) == chat_id,
                                            col(Outbox.status) == OutboxStatus.PENDING)
                       .values(status=OutboxStatus.FAILED, last_error=f"unreachable: {reason}"[:500]))
    account = (await session.exec(select(Account).where(Account.channel == channel,
                                                        Account.external_id == chat_id))).first()
    if account is not None:
        await _person_unreachable(session, core, account, reason)
        return
    binding = await binding_of(session, channel, chat_id)
    if binding is not None:
        await _group_unreachable(session, core, binding)


async def _person_unreachable(session: AsyncSession, core: Core, account: Account, reason: str) -> None:
    if account.unreachable_at is not None:  # told already; it stays so until they write again
        return
    account.unreachable_at, account.unreachable_reason = core.utcnow(), reason[:200]
    session.add(account)
    people = (await session.exec(select(Person).where(Person.account_id == account.id,
                                                      Person.status == PersonStatus.ACTIVE))).all()
    for person in people:
        for channel, chat_id, lang in await destinations(session, core, person.station_id):
            if (channel, chat_id) == (account.channel, account.external_id):
                continue
            text = t(lang, "unreachable.person", name=person.full_name, phone=person.phone)
            post(session, channel, chat_id, Reply(text), core.utcnow())


async def _group_unreachable(session: AsyncSession, core: Core, binding: GroupBinding) -> None:
    station = await session.get(Station, binding.station_id) if binding.station_id else None
    name = station.label if station else t("vi", "report.province")
    for channel, chat_id in core.admin_chats:
        post(session, channel, chat_id, Reply(t("vi", "unreachable.group", station=name)), core.utcnow())
