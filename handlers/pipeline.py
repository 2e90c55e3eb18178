"""The update pipeline: one Incoming in, the Replies to show out, all in one database transaction."""
from __future__ import annotations

import logging
import traceback
from dataclasses import replace

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chat.messages import Incoming, Reply
from conversations.registry import current_question
from conversations.runtime import Context
from handlers import dispatch
from locales import language_for, t
from services.env import Core
from storage.models import Account, ConversationState, ProcessedUpdate
from storage.once import insert_once
from storage.outbox import QUEUED
from storage.roles import ROLES_CHANGED

log = logging.getLogger(__name__)


def _our_frame(exc: BaseException) -> traceback.FrameSummary:
    """The innermost frame in cachly's own code, which says more than one deep in a library."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "site-packages" not in f.filename and "/lib/python" not in f.filename]
    return (ours or frames)[-1]


async def handle(core: Core, inc: Incoming) -> list[Reply]:
    """Everything one input causes, committed before any reply is shown; never silent on failure."""
    core.handling += 1
    try:
        return await _handle(core, inc)
    finally:
        core.handling -= 1


async def _handle(core: Core, inc: Incoming) -> list[Reply]:
    if inc.text and "\x00" in inc.text:  # PostgreSQL refuses NUL in text; nobody means to type it
        inc = replace(inc, text=inc.text.replace("\x00", ""))
    try:
        async with core.db.session() as session:
            if not await first_delivery(core, session, inc):
                log.info("a %s update delivered again was ignored", inc.channel)
                return await _question_again(core, session, inc)
            account = await account_for(core, session, inc)
            ctx = Context(session=session, account=account, core=core, incoming=inc)
            replies = await dispatch.dispatch(ctx)
            queued = session.info.pop(QUEUED, False)
            roles_changed = session.info.pop(ROLES_CHANGED, None)
    except Exception as exc:  # noqa: BLE001 - the person must get an answer, the log no personal data
        frame = _our_frame(exc)  # where, not what: exception messages may hold personal data
        log.error("handling a %s update failed: %s at %s:%s", inc.channel, type(exc).__name__,
                  frame.filename, frame.lineno)
        return [Reply(t(language_for(inc.language_code), "common.error"))]
    if queued:  # waking the sender after every update cost it a query each time, for nothing
        core.outbox_ready.set()
    if roles_changed and core.on_roles_changed is not None:
        try:
            await core.on_roles_changed(roles_changed)
        except Exception as exc:  # noqa: BLE001 - the change is made; only e.g. a command menu lags
            log.error("after a role change, the %s channel's hook failed: %s", inc.channel, type(exc).__name__)
    return replies


async def _question_again(core: Core, session: AsyncSession, inc: Incoming) -> list[Reply]:
    """A redelivered update is not acted on again, but its answer may have been lost with a crash:
    in a private chat the person sees the question they are on, never silence."""
    if inc.chat_type != "private":
        return []
    account = await account_for(core, session, inc)
    return await current_question(Context(session=session, account=account, core=core, incoming=inc))


async def first_delivery(core: Core, session: AsyncSession, inc: Incoming) -> bool:
    """Record the update as processed, in the transaction of its effects: False if it was before."""
    if inc.update_id is None:
        return True
    values = {"channel": inc.channel, "update_id": inc.update_id, "at": core.utcnow()}
    return await insert_once(session, ProcessedUpdate, values, ["channel", "update_id"])


async def account_for(core: Core, session: AsyncSession, inc: Incoming) -> Account:
    # With its conversation state, if any: the session keeps it, and conversations.runtime.load_state then
    # finds it there instead of asking the database again (one query less for most updates).
    query = (select(Account, ConversationState)
             .outerjoin(ConversationState, col(ConversationState.account_id) == Account.id)
             .where(Account.channel == inc.channel, Account.external_id == inc.user_id))
    found = (await session.exec(query)).first()
    account = found[0] if found else None
    session.info["conversation_state"] = found and found[1]  # the identity map holds objects weakly
    if account is None:
        account = Account(channel=inc.channel, external_id=inc.user_id, language=language_for(inc.language_code),
                          created_at=core.utcnow())
        session.add(account)
        await session.flush()
    elif account.unreachable_at is not None:  # they wrote: the chat works again
        account.unreachable_at = account.unreachable_reason = None
        session.add(account)
    return account
