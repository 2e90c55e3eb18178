"""Long polling that confirms updates to Telegram only once they have been handled.

Telegram keeps an update until a later getUpdates asks for the ids after it. python-telegram-bot's Updater asks
again as soon as it has queued a batch, before the batch is handled: a process killed with updates in its queue
loses them for good (tests/test_crash.py measured 18 of 24 answers in flight lost at a kill -9: the person got
no reply, and a check-in's last answer lost is a declaration lost). Here the next getUpdates, which confirms a
batch, is only asked once every update of the batch has been handled, in order, as the Application would.

A process killed in between gets the batch again after its restart: at least once. handlers/pipeline.py records
each update in the transaction of its effects, so an update is still acted on once.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application

log = logging.getLogger(__name__)
MAX_PAUSE_SECONDS = 30.0  # between tries while Telegram cannot be reached
STOP_GRACE_SECONDS = 10.0  # a batch being handled may finish before the polling stops


class LongPolling:
    def __init__(self, app: Application, timeout: int, allowed_updates: list[str]) -> None:
        self.app, self.timeout, self.allowed_updates = app, timeout, allowed_updates
        self.offset: int | None = None  # the next update id wanted: asking for it confirms those before
        self.confirmed: int | None = None  # the offset Telegram last saw
        self._task: asyncio.Task | None = None
        self._handling = False
        self._stopping = False

    @property
    def running(self) -> bool:
        return self._task is not None

    async def start(self) -> None:
        await self.app.bot.delete_webhook()  # Telegram refuses getUpdates while a webhook is set
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="telegram-long-polling")

    async def stop(self) -> None:
        """Finish the batch being handled (within a grace period), then confirm what was handled."""
        if self._task is None:
            return
        self._stopping = True
        if not self._handling:  # waiting on Telegram: nothing taken yet, nothing to lose
            self._task.cancel()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), STOP_GRACE_SECONDS)
        except (TimeoutError, asyncio.CancelledError):
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None
        await self._confirm()

    async def _run(self) -> None:
        pause = 1.0
        while not self._stopping:
            try:
                updates = await self.app.bot.get_updates(offset=self.offset, timeout=self.timeout,
                                                         allowed_updates=self.allowed_updates)
            except InvalidToken:
                log.error("long polling stopped: Telegram refuses the bot token")
                return
            except TelegramError as exc:  # network trouble, 409 Conflict, 5xx: try again, less and less often
                log.warning("long polling: %s; trying again in %.0f s", type(exc).__name__, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, MAX_PAUSE_SECONDS)
                continue
            pause = 1.0
            self.confirmed = self.offset
            await self._handle(updates)

    async def _handle(self, updates: list) -> None:
        self._handling = True
        try:
            for update in updates:
                await self.app.process_update(update)  # errors go to the Application's error handler
                self.offset = update.update_id + 1
        finally:
            self._handling = False

    async def _confirm(self) -> None:
        """Tell Telegram what was handled, so that a restart does not get it again (it would be ignored)."""
        if self.offset is None or self.offset == self.confirmed:
            return
        try:
            await self.app.bot.get_updates(offset=self.offset, timeout=0, limit=1)
        except TelegramError as exc:
            log.warning("long polling: could not confirm the last updates: %s", type(exc).__name__)
