"""The outbox sender: delivers queued messages of one channel, retrying with backoff, never dropping one."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from handlers.core import Core
from storage.outbox import claim_due, mark_failed, mark_retry, mark_sent

log = logging.getLogger(__name__)
Deliver = Callable[[str, dict], Awaitable[str | None]]  # (chat_id, payload) -> sent message id
MAX_ATTEMPTS = 12


class RetryLater(Exception):
    """The channel asks to wait (e.g. Telegram's 429 RetryAfter)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds} s")
        self.seconds = seconds


class Undeliverable(Exception):
    """The message can never be delivered (the chat is gone, the bot was blocked)."""


def backoff(attempts: int) -> float:
    return float(min(2 ** attempts, 300))


class OutboxSender:
    def __init__(self, core: Core, channel: str, deliver: Deliver, batch: int = 20,
                 lease: timedelta = timedelta(seconds=60), idle_seconds: float = 1.0) -> None:
        self.core, self.channel, self.deliver = core, channel, deliver
        self.batch, self.lease, self.idle_seconds = batch, lease, idle_seconds
        self._task: asyncio.Task | None = None

    async def run_once(self) -> int:
        """Deliver the rows due now; how many were tried."""
        async with self.core.db.session() as session:
            rows = await claim_due(session, self.channel, self.core.utcnow(), self.batch, self.lease)
        for row in rows:
            await self._deliver_one(row.id, row.chat_id, row.payload, row.attempts)
        return len(rows)

    async def _deliver_one(self, row_id: int, chat_id: str, payload: dict, attempts: int) -> None:
        try:
            message_id = await self.deliver(chat_id, payload)
        except RetryLater as exc:
            await self._retry(row_id, str(exc), exc.seconds, attempts)
        except Undeliverable as exc:
            log.warning("outbox %s: undeliverable: %s", row_id, exc)
            async with self.core.db.session() as session:
                await mark_failed(session, row_id, str(exc))
        except Exception as exc:  # noqa: BLE001 - any other failure is retried, and recorded
            await self._retry(row_id, type(exc).__name__, backoff(attempts), attempts)
        else:
            async with self.core.db.session() as session:
                await mark_sent(session, row_id, message_id, self.core.utcnow())

    async def _retry(self, row_id: int, error: str, seconds: float, attempts: int) -> None:
        async with self.core.db.session() as session:
            if attempts >= MAX_ATTEMPTS:
                log.error("outbox %s: giving up after %s attempts: %s", row_id, attempts, error)
                await mark_failed(session, row_id, error)
            else:
                log.info("outbox %s: attempt %s failed (%s), retrying in %.0f s", row_id, attempts, error, seconds)
                await mark_retry(session, row_id, error, self.core.utcnow() + timedelta(seconds=seconds))

    async def run(self) -> None:
        while True:
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
        self._task = asyncio.create_task(self.run(), name=f"outbox-{self.channel}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
