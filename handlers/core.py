"""The channel-neutral core: one Incoming in, the Replies to show out, all in one database transaction."""
from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.messages import Incoming, Reply
from conversations.runtime import Context
from health.rules import Rules
from locales import language_for, t
from storage.db import Database
from storage.models import Account, ConversationState, ProcessedUpdate
from storage.once import insert_once
from storage.outbox import QUEUED
from storage.roles import ROLES_CHANGED

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def _our_frame(exc: BaseException) -> traceback.FrameSummary:
    """The innermost frame in cachly's own code, which says more than one deep in a library."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "site-packages" not in f.filename and "/lib/python" not in f.filename]
    return (ours or frames)[-1]


class Core:
    def __init__(self, db: Database, rules: Rules, tz: ZoneInfo, admin_chats: list[tuple[str, str]] | None = None,
                 clock: Clock = system_clock, staff_console: tuple[str, str] | None = None) -> None:
        self.db = db
        self.rules = rules
        self.tz = tz
        self.admin_chats = list(admin_chats or [])
        self.clock = clock
        self.staff_console = staff_console  # the sandbox's terminal, which sees every alert it causes
        self.bot_username = "cachly_bot"  # the channel sets its own at start
        self.outbox_ready = asyncio.Event()  # set when a transaction queued messages for the sender
        self.handling = 0  # updates being handled now: a scheduler round on SQLite pauses between batches for them
        # The channel's hook, awaited after a commit that changed roles, with their (channel, user_id).
        self.on_roles_changed: Callable[[set[tuple[str, str]]], Awaitable[None]] | None = None

    # --- time: the clock is injectable so tests control it -------------------------------------
    def now(self) -> datetime:
        return self.clock().astimezone(self.tz)

    def utcnow(self) -> datetime:
        """Aware UTC, as stored in the database."""
        return self.clock().astimezone(UTC)

    def today(self) -> date:
        return self.now().date()

    def to_local(self, moment: datetime) -> datetime:
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(self.tz)

    def slot_of(self, now: datetime) -> tuple[date, str]:
        """The check-in slot a moment belongs to: the last slot begun, or the first one before it begins."""
        local = now.astimezone(self.tz)
        begun = [s for s in self.rules.slots if s <= local.time()]
        slot = begun[-1] if begun else self.rules.slots[0]
        return local.date(), slot.strftime("%H:%M")

    def slot_text(self) -> str:
        return ", ".join(s.strftime("%H:%M") for s in self.rules.slots)

    @property
    def retention_days(self) -> int:
        return self.rules.retention_days

    def is_admin(self, channel: str, user_id: str) -> bool:
        return (channel, user_id) in self.admin_chats

    # --- handling -----------------------------------------------------------------------------
    async def handle(self, inc: Incoming) -> list[Reply]:
        """Everything one input causes, committed before any reply is shown; never silent on failure."""
        self.handling += 1
        try:
            return await self._handle(inc)
        finally:
            self.handling -= 1

    async def _handle(self, inc: Incoming) -> list[Reply]:
        from handlers.dispatch import dispatch  # late: dispatch imports the flows, which import this module

        if inc.text and "\x00" in inc.text:  # PostgreSQL refuses NUL in text; nobody means to type it
            inc = replace(inc, text=inc.text.replace("\x00", ""))
        try:
            async with self.db.session() as session:
                if not await self.first_delivery(session, inc):
                    log.info("a %s update delivered again was ignored", inc.channel)
                    return await self._question_again(session, inc)
                account = await self.account_for(session, inc)
                ctx = Context(session=session, account=account, core=self, incoming=inc)
                replies = await dispatch(ctx)
                queued = session.info.pop(QUEUED, False)
                roles_changed = session.info.pop(ROLES_CHANGED, None)
        except Exception as exc:  # noqa: BLE001 - the person must get an answer, the log no personal data
            frame = _our_frame(exc)  # where, not what: exception messages may hold personal data
            log.error("handling a %s update failed: %s at %s:%s", inc.channel, type(exc).__name__,
                      frame.filename, frame.lineno)
            return [Reply(t(language_for(inc.language_code), "common.error"))]
        if queued:  # waking the sender after every update cost it a query each time, for nothing
            self.outbox_ready.set()
        if roles_changed and self.on_roles_changed is not None:
            try:
                await self.on_roles_changed(roles_changed)
            except Exception as exc:  # noqa: BLE001 - the change is made; only e.g. a command menu lags
                log.error("after a role change, the %s channel's hook failed: %s", inc.channel, type(exc).__name__)
        return replies

    async def _question_again(self, session: AsyncSession, inc: Incoming) -> list[Reply]:
        """A redelivered update is not acted on again, but its answer may have been lost with a crash:
        in a private chat the person sees the question they are on, never silence."""
        from handlers.dispatch import current_question

        if inc.chat_type != "private":
            return []
        account = await self.account_for(session, inc)
        return await current_question(Context(session=session, account=account, core=self, incoming=inc))

    async def first_delivery(self, session: AsyncSession, inc: Incoming) -> bool:
        """Record the update as processed, in the transaction of its effects: False if it was before."""
        if inc.update_id is None:
            return True
        values = {"channel": inc.channel, "update_id": inc.update_id, "at": self.utcnow()}
        return await insert_once(session, ProcessedUpdate, values, ["channel", "update_id"])

    async def account_for(self, session: AsyncSession, inc: Incoming) -> Account:
        # With its conversation state, if any: the session keeps it, and conversations.runtime.load_state then
        # finds it there instead of asking the database again (one query less for most updates).
        query = (select(Account, ConversationState)
                 .outerjoin(ConversationState, ConversationState.account_id == Account.id)
                 .where(Account.channel == inc.channel, Account.external_id == inc.user_id))
        found = (await session.exec(query)).first()
        account = found[0] if found else None
        session.info["conversation_state"] = found and found[1]  # the identity map holds objects weakly
        if account is None:
            account = Account(channel=inc.channel, external_id=inc.user_id, language=language_for(inc.language_code),
                              created_at=self.utcnow())
            session.add(account)
            await session.flush()
        elif account.unreachable_at is not None:  # they wrote: the chat works again
            account.unreachable_at = account.unreachable_reason = None
            session.add(account)
        return account
