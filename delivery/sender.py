"""The outbox sender: delivers queued messages of one channel, retrying with backoff, never dropping one."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from datetime import timedelta

from aiolimiter import AsyncLimiter
from sqlmodel.ext.asyncio.session import AsyncSession

from services.env import Core
from services.unreachable import mark_unreachable
from storage.chats import move_chat
from storage.models import Outbox
from storage.outbox import claim_due, mark_failed, mark_retry, mark_sent

log = logging.getLogger(__name__)
Deliver = Callable[[str, dict], Awaitable[str | None]]  # (chat_id, payload) -> sent message id
MAX_ATTEMPTS = 12
STOP_GRACE_SECONDS = 5.0  # a round under way may finish its database work; cancelling it mid-query spills tracebacks
# True while a message that may wait for people's direct replies is delivered (every row but an alert): a
# channel's rate limiter reads it to serve replies first (bot/limits.py).
BACKGROUND: ContextVar[bool] = ContextVar("outbox_background", default=False)


class RetryLater(Exception):
    """The channel asks to wait (e.g. Telegram's 429 RetryAfter)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds} s")
        self.seconds = seconds


class Undeliverable(Exception):
    """The message can never be delivered; `unreachable` when the chat itself refuses the bot for good
    (blocked, kicked), not just this one message."""

    def __init__(self, reason: str, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.unreachable = unreachable


class Moved(Exception):
    """The chat has a new id (Telegram: a group upgraded to a supergroup); its messages go there now."""

    def __init__(self, chat_id: str) -> None:
        super().__init__("the chat has a new id")
        self.chat_id = chat_id


def backoff(attempts: int) -> float:
    return float(min(2 ** attempts, 300))


class OutboxSender:
    """Delivers due outbox rows: chats in parallel, each chat's rows in order, paced below the channel's limit.

    Pacing at `per_second` (under Telegram's 30 messages/s) leaves room for the direct replies of people
    chatting during a large round; per-chat limits (20/min to a group) and 429s are the bot's rate
    limiter's, and one slow chat never holds up the others.
    """

    def __init__(self, core: Core, channel: str, deliver: Deliver, batch: int = 100,
                 lease: timedelta = timedelta(seconds=120), idle_seconds: float = 1.0,
                 per_second: float = 25) -> None:
        self.core, self.channel, self.deliver = core, channel, deliver
        self.batch, self.lease, self.idle_seconds = batch, lease, idle_seconds
        self.pace = AsyncLimiter(per_second, 1)
        self._writing = asyncio.Lock()
        self._task: asyncio.Task | None = None
        self._stopping = False

    async def run_once(self) -> int:
        """Deliver the rows due now; how many were tried."""
        async with self.core.db.session() as session:
            rows = await claim_due(session, self.channel, self.core.utcnow(), self.batch, self.lease)
        by_chat: dict[str, list[Outbox]] = defaultdict(list)
        for row in rows:
            by_chat[row.chat_id].append(row)
        await asyncio.gather(*(self._deliver_chat(chat_rows) for chat_rows in by_chat.values()))
        return len(rows)

    async def _deliver_chat(self, rows: list[Outbox]) -> None:
        for row in rows:
            async with self.pace:
                BACKGROUND.set(row.alert_id is None)  # this chat's task only: gather gave it a context of its own
                assert row.id is not None  # claimed rows are read from the database
                await self._deliver_one(row.id, row.chat_id, row.payload, row.attempts)

    async def _deliver_one(self, row_id: int, chat_id: str, payload: dict, attempts: int) -> None:
        try:
            message_id = await self.deliver(chat_id, payload)
        except RetryLater as exc:
            await self._retry(row_id, str(exc), exc.seconds, attempts)
        except Moved as exc:  # this row and the chat's others are due again at once, at the new id
            log.info("outbox %s: the chat has a new id; its binding and messages follow it", row_id)
            async with self._write() as session:
                await move_chat(session, self.channel, chat_id, exc.chat_id, self.core.utcnow())
            self.core.outbox_ready.set()
        except Undeliverable as exc:
            log.warning("outbox %s: undeliverable: %s", row_id, exc)
            async with self._write() as session:
                await mark_failed(session, row_id, str(exc))
                if exc.unreachable:
                    await mark_unreachable(session, self.core, self.channel, chat_id, str(exc))
        except Exception as exc:  # noqa: BLE001 - any other failure is retried, and recorded
            await self._retry(row_id, type(exc).__name__, backoff(attempts), attempts)
        else:
            async with self._write() as session:
                await mark_sent(session, row_id, message_id, self.core.utcnow())

    async def _retry(self, row_id: int, error: str, seconds: float, attempts: int) -> None:
        async with self._write() as session:
            if attempts >= MAX_ATTEMPTS:
                log.error("outbox %s: giving up after %s attempts: %s", row_id, attempts, error)
                await mark_failed(session, row_id, error)
            else:
                log.info("outbox %s: attempt %s failed (%s), retrying in %.0f s", row_id, attempts, error, seconds)
                await mark_retry(session, row_id, error, self.core.utcnow() + timedelta(seconds=seconds))

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncSession]:
        """A session to record an outcome in, one at a time. Deliveries run in parallel, but SQLite has one writer
        and writers waiting for it poll instead of queueing: a batch's dozens of parallel records starved people's
        check-ins until "database is locked" (tests/test_faults.py). Queued here, they wait their turn."""
        async with self._writing, self.core.db.session() as session:
            yield session

    async def run(self) -> None:
        while not self._stopping:
            try:
                tried = await self.run_once()
            except Exception as exc:  # noqa: BLE001 - a database hiccup must not stop deliveries for good
                log.error("outbox sender round failed: %s", type(exc).__name__)
                tried = 0
            if tried == 0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.core.outbox_ready.wait(), self.idle_seconds)
                self.core.outbox_ready.clear()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self.run(), name=f"outbox-{self.channel}")

    async def stop(self) -> None:
        """Stop between rounds; a round that does not end within the grace period is cancelled (its rows are
        claimed again when their lease runs out)."""
        if self._task is None:
            return
        self._stopping = True
        self.core.outbox_ready.set()  # wake an idle loop so that it sees the stop at once
        try:
            await asyncio.wait_for(asyncio.shield(self._task), STOP_GRACE_SECONDS)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None
