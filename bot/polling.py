"""One poller among several processes: Telegram allows a single getUpdates consumer per bot.

Every `cachly run` in polling mode competes for the database lease POLLER (storage/leases.py). The holder
polls and renews the lease every quarter of its length; the others keep delivering the outbox and running
the scheduler, and try to take the lease at the same pace. When the holder dies, its lease runs out and
another process starts polling within about 1.25 lease lengths; a holder that stops cleanly releases the
lease, so another takes over at its next try.

A holder that cannot renew (the database is unreachable) stops polling before its lease could have run
out, measured on its own monotonic clock from the last renewal it saw committed: two processes never poll
together on purpose. (Should it still happen, Telegram answers one of them 409 Conflict and it tries
again; an update fetched twice is acted on once: handlers/pipeline.py records each.)
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

from services.env import Core
from storage.leases import acquire, release

log = logging.getLogger(__name__)
POLLER = "telegram-poller"


def process_name() -> str:
    """Who holds a lease: host and pid for the operator, and a random part, unique per run."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{secrets.token_hex(4)}"


class PollerLease:
    """Runs `start_polling` while this process holds the poller lease and `stop_polling` when it loses it."""

    def __init__(self, core: Core, start_polling: Callable[[], Awaitable[None]],
                 stop_polling: Callable[[], Awaitable[None]], ttl: timedelta, name: str = POLLER,
                 holder: str | None = None, monotonic: Callable[[], float] = time.monotonic) -> None:
        """`monotonic` measures how long since the last renewal committed (tests pass their own)."""
        self.core, self.name, self.ttl, self.monotonic = core, name, ttl, monotonic
        self.holder = holder or process_name()
        self.renew_every = ttl / 4
        self._start_polling, self._stop_polling = start_polling, stop_polling
        self.polling = False
        self._confirmed_at = 0.0  # monotonic time just before the last renewal that committed
        self._stopping = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        """Try once now (a lone process polls as soon as it has started), then keep trying in the background."""
        self._stopping.clear()
        await self.step()
        self._task = asyncio.create_task(self._run(), name="poller-lease")

    async def stop(self) -> None:
        """Stop polling and release the lease, so another process takes polling over without waiting."""
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self.polling:
            await self._set_polling(False)
        try:
            async with self.core.db.session() as session:
                await release(session, self.name, self.holder, self.core.utcnow())
        except Exception as exc:  # noqa: BLE001 - then the lease simply runs out
            log.warning("poller lease: could not release it: %s", type(exc).__name__)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.renew_every.total_seconds())
            if not self._stopping.is_set():
                await self.step()

    async def step(self) -> None:
        """Take or renew the lease, then start or stop polling to match."""
        held = await self._renew()
        if held != self.polling:
            await self._set_polling(held)

    async def _renew(self) -> bool:
        sent_at = self.monotonic()
        try:
            async with self.core.db.session() as session:
                held = await acquire(session, self.name, self.holder, self.core.utcnow(), self.ttl)
        except Exception as exc:  # noqa: BLE001 - a database hiccup: keep polling only while surely ours
            safe_for = (self.ttl - self.renew_every).total_seconds()
            held = self.polling and self.monotonic() < self._confirmed_at + safe_for
            log.warning("poller lease: renewal failed (%s); %s", type(exc).__name__,
                        "still ours" if held else "not polling")
            return held
        if held:
            self._confirmed_at = sent_at
        return held

    async def _set_polling(self, on: bool) -> None:
        try:
            await (self._start_polling() if on else self._stop_polling())
        except Exception as exc:  # noqa: BLE001 - tried again at the next renewal
            log.error("poller lease: could not %s polling: %s", "start" if on else "stop", type(exc).__name__)
            return
        self.polling = on
        log.info("this process %s Telegram for updates", "now polls" if on else "stopped polling")
