"""Conversations nobody finishes: a state untouched for a day is deleted with what was typed into it (an opened
invitation copies a name, a phone, a CCCD and an address into it; a half-typed registration holds as much), and
the person is told so in their own chat. An account the bot cannot reach, or one already anonymised, is told
nothing. Check-ins are not touched here: scheduler/abandoned.py saves them as partial declarations after 30 min.

Read from ConversationState.updated_at on the core's clock: restart-safe, and with several processes each
state is taken by one conditional DELETE only, so the person is told once.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chat.messages import Reply
from conversations import checkin
from conversations.runtime import ASKED_IN
from locales import t
from services.env import Core
from storage.models import Account, ConversationState
from storage.outbox import post

EXPIRES_AFTER = timedelta(hours=24)
ROUND_LIMIT = 500  # states taken per tick: a first run after a long pause catches up over a few ticks


async def expiry_round(session: AsyncSession, core: Core, now: datetime) -> int:
    """Delete the conversations (check-ins aside) untouched for EXPIRES_AFTER; how many people were told."""
    del now  # the states' times are UTC: core.utcnow()
    cutoff = core.utcnow() - EXPIRES_AFTER
    query = (select(ConversationState, Account).join(Account, col(Account.id) == ConversationState.account_id)
             .where(col(ConversationState.flow) != checkin.FLOW_NAME, col(ConversationState.updated_at) < cutoff)
             .order_by(col(ConversationState.updated_at)).limit(ROUND_LIMIT))
    told = 0
    for state, account in (await session.exec(query)).all():
        if await _take(session, state):
            told += _tell(session, core, account, state)
    return told


async def _take(session: AsyncSession, state: ConversationState) -> bool:
    """Delete the state unless it moved on meanwhile (the person answered) or another process took it."""
    taken = await session.exec(delete(ConversationState).where(
        col(ConversationState.account_id) == state.account_id, col(ConversationState.updated_at) == state.updated_at))
    session.expunge(state)
    return taken.rowcount == 1


def _tell(session: AsyncSession, core: Core, account: Account, state: ConversationState) -> int:
    """One message in the account's own chat. A flow begun in a group (a staff flow) is not announced there: the
    group would not know whose it was, and a private chat the staff member never opened cannot be written to."""
    if not _reachable(account) or state.data.get(ASKED_IN, account.external_id) != account.external_id:
        return 0
    post(session, account.channel, account.external_id, Reply(t(account.language, "conversation.expired")),
         core.utcnow())
    return 1


def _reachable(account: Account) -> bool:
    return account.unreachable_at is None and not account.external_id.startswith("anon-")
