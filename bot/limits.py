"""Telegram's sending budget, shared by the outbox and the direct replies of people in a conversation.

python-telegram-bot's AIORateLimiter keeps the bot under Telegram's limits (about 30 messages a second overall,
20 a minute per group) and waits out a 429, but it serves requests in no particular order: while the outbox
delivers a reminder round at 25 messages a second, people checking in share the 5 left, and each of them waits
seconds for every next question (bench/memory_startup.py: 3.3 s a reply with 20 people checking in during a
round for 100,000). RepliesFirst hands out the overall budget itself, to direct replies (and alerts) before the
outbox's background rows: the round takes what replies leave. The AIORateLimiter behind it keeps the per-group
limits and the 429 retries.
"""
from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.constants import FloodLimit
from telegram.ext import AIORateLimiter, BaseRateLimiter

from delivery.sender import BACKGROUND


class PriorityBudget:
    """A leaky bucket of `rate` requests a second (bursts up to `rate`, like aiolimiter's), whose free places go
    to waiting urgent requests first, in order, then to waiting background ones, in order."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.clock = rate, clock
        self.level, self._leaked_at = 0.0, clock()
        self._waiting: dict[bool, deque[asyncio.Future[None]]] = {True: deque(), False: deque()}  # by urgency
        self._timer: asyncio.TimerHandle | None = None

    def waiting(self, urgent: bool) -> int:
        return sum(not f.done() for f in self._waiting[urgent])

    async def acquire(self, urgent: bool) -> None:
        self._leak()
        if self._has_room() and not self.waiting(True) and (urgent or not self.waiting(False)):
            self.level += 1
            return
        place = asyncio.get_running_loop().create_future()
        self._waiting[urgent].append(place)
        self._wake_later()
        await place  # a cancelled wait leaves its future cancelled: _hand_out skips it

    def _leak(self) -> None:
        now = self.clock()
        self.level = max(0.0, self.level - (now - self._leaked_at) * self.rate)
        self._leaked_at = now

    def _has_room(self) -> bool:
        return self.level + 1 <= self.rate

    def _wake_later(self) -> None:
        if self._timer is None:
            delay = max(0.0, (self.level + 1 - self.rate) / self.rate)
            self._timer = asyncio.get_running_loop().call_later(delay, self._hand_out)

    def _hand_out(self) -> None:
        self._timer = None
        self._leak()
        for urgent in (True, False):
            queue = self._waiting[urgent]
            while queue and self._has_room():
                place = queue.popleft()
                if not place.done():
                    self.level += 1
                    place.set_result(None)
        if any(self._waiting.values()):
            self._wake_later()


class RepliesFirst(BaseRateLimiter):
    """Telegram's overall limit through a PriorityBudget (a background row of the outbox yields to replies and
    alerts), then `inner`, an AIORateLimiter without an overall limit of its own, for groups and 429s."""

    def __init__(self, inner: AIORateLimiter | None = None,
                 per_second: float = FloodLimit.MESSAGES_PER_SECOND) -> None:
        self.inner = inner or AIORateLimiter(overall_max_rate=0, max_retries=3)
        self.budget = PriorityBudget(per_second)

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    async def process_request(self, callback: Callable[..., Coroutine[Any, Any, Any]], args: Any,
                              kwargs: dict[str, Any], endpoint: str, data: dict[str, Any],
                              rate_limit_args: int | None) -> Any:
        if data.get("chat_id") is not None:  # as AIORateLimiter: only requests to a chat count against the limit
            await self.budget.acquire(urgent=not BACKGROUND.get())
        return await self.inner.process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
