"""Check-ins nobody finishes: after 30 minutes without an answer, what was given is saved as a partial declaration
(triaged and alerted like any other); a low SpO2 not measured again within minutes is alerted on as it is; and an
alert updated while its copy was on its way is shown up to date.

Read from ConversationState.updated_at on the core's clock: restart-safe, and with several processes each
state is taken by one conditional DELETE (or UPDATE) only.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chat.messages import Incoming
from conversations import checkin
from conversations.runtime import Context
from services.alerts import update_copies
from services.env import Core
from storage.models import Account, Alert, AlertStatus, ConversationState, Outbox
from storage.outbox import post

RECENT_COPIES = timedelta(minutes=2)


async def abandoned_round(session: AsyncSession, core: Core, now: datetime) -> int:
    """Leave the check-ins silent for checkin.ABANDONED_AFTER; alert on the SpO2 readings left unrepeated; show
    again the alerts updated while a copy of theirs was being sent."""
    del now  # the sweep reads the database's times, which are UTC: core.utcnow()
    utcnow = core.utcnow()
    done = await _refresh_recent_copies(session, core)
    query = select(ConversationState).where(ConversationState.flow == checkin.FLOW_NAME,
                                            col(ConversationState.updated_at) < utcnow - checkin.SPO2_RECHECK_WAIT)
    for state in (await session.exec(query)).all():
        account = await session.get(Account, state.account_id)
        if account is None:
            continue
        if state.updated_at < utcnow - checkin.ABANDONED_AFTER:
            done += await _leave(session, core, account, state)
        elif state.step == "spo2_again" and checkin.DECLARATION not in state.data:
            done += await _unrepeated_spo2(session, core, account, state)
    return done


async def _refresh_recent_copies(session: AsyncSession, core: Core) -> int:
    """services.alerts.update_copies cannot edit a copy the sender holds at that moment (no message id yet): the
    alerts whose copies were sent lately get their messages edited here when their text is behind."""
    recent = (select(Outbox.alert_id).where(col(Outbox.alert_id).is_not(None),
                                           col(Outbox.sent_at) >= core.utcnow() - RECENT_COPIES).distinct())
    query = select(Alert).where(col(Alert.id).in_(recent), col(Alert.status) != AlertStatus.RESOLVED)
    return sum([await update_copies(session, core, alert) for alert in (await session.exec(query)).all()])


def _context(session: AsyncSession, core: Core, account: Account, data: dict) -> Context:
    """The person's context, as if they had written: the flow's functions need nothing else of an update."""
    incoming = Incoming(channel=account.channel, user_id=account.external_id, chat_id=account.external_id)
    return Context(session, account, core, incoming, dict(data))


async def _leave(session: AsyncSession, core: Core, account: Account, state: ConversationState) -> int:
    taken = await session.exec(delete(ConversationState).where(  # one process only takes it
        col(ConversationState.account_id) == state.account_id, col(ConversationState.updated_at) == state.updated_at))
    if taken.rowcount != 1:
        return 0
    session.expunge(state)
    ctx = _context(session, core, account, state.data)
    replies = await checkin.leave(ctx, state.data)
    for reply in replies:  # the person is told what was kept, and whom to call
        post(session, account.channel, account.external_id, reply, core.utcnow())
    return len(replies)


async def _unrepeated_spo2(session: AsyncSession, core: Core, account: Account, state: ConversationState) -> int:
    """The person was asked to measure again and has not answered: the first reading counts (the check-in goes on)."""
    ctx = _context(session, core, account, state.data)
    stored = await checkin.store(ctx, partial=True, unconfirmed_spo2=True)
    if stored is None:
        return 0
    state.data = {**state.data, checkin.DECLARATION: ctx.data[checkin.DECLARATION]}  # its answer updates it
    session.add(state)
    return 1
