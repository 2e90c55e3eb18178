"""The scheduler's loop (scheduler.runner.Scheduler.start/stop): when ticks run, not what they do.

Its ticks are stand-ins that record when they ran; what a real tick does is tests/test_scheduler.py's.
"""
from __future__ import annotations

import asyncio
import logging
import typing

import pytest

from scheduler import runner
from scheduler.runner import Scheduler
from services.env import Core


class Recorded(Scheduler):
    """A scheduler whose tick takes `duration` seconds (the n-th: `duration(n)` when a function) and fails when
    `fail(n)`, recording each one."""

    def __init__(self, interval_seconds: float, duration: float | typing.Callable[[int], float] = 0.0,
                 fail: typing.Callable[[int], bool] = lambda _: False) -> None:
        super().__init__(typing.cast(Core, None), interval_seconds)
        self.duration, self.fail = duration, fail
        self.starts: list[float] = []
        self.finished = self.cancelled = self.running = self.most_at_once = 0
        self.ticked = asyncio.Event()

    async def tick(self) -> dict[str, int]:
        self.starts.append(asyncio.get_running_loop().time())
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        self.ticked.set()
        try:
            await asyncio.sleep(self.duration(len(self.starts)) if callable(self.duration) else self.duration)
            if self.fail(len(self.starts)):
                raise ValueError("Nguyễn Văn An 0912345678")  # what an exception text may quote
            self.finished += 1
            return {}
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.running -= 1

    async def ticks(self, n: int, timeout: float = 5) -> None:
        async with asyncio.timeout(timeout):
            while len(self.starts) < n:
                self.ticked.clear()
                await self.ticked.wait()


async def test_the_first_tick_runs_at_once_and_stop_does_not_wait_for_the_next() -> None:
    scheduler = Recorded(interval_seconds=3600)
    scheduler.start()
    await scheduler.ticks(1, timeout=1)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await scheduler.stop()
    assert loop.time() - began < 1  # its wait for the next tick is cut short
    await asyncio.sleep(0.05)
    assert (len(scheduler.starts), scheduler.finished) == (1, 1)


async def test_ticks_come_every_interval() -> None:
    scheduler = Recorded(interval_seconds=0.05)
    scheduler.start()
    try:
        await scheduler.ticks(4)
    finally:
        await scheduler.stop()
    gaps = [b - a for a, b in zip(scheduler.starts, scheduler.starts[1:], strict=False)]
    assert all(gap >= 0.045 for gap in gaps), gaps


async def test_ticks_never_overlap() -> None:
    scheduler = Recorded(interval_seconds=0.01, duration=0.05)  # every tick overruns its interval
    scheduler.start()
    try:
        await scheduler.ticks(4)
    finally:
        await scheduler.stop()
    assert scheduler.most_at_once == 1
    gaps = [b - a for a, b in zip(scheduler.starts, scheduler.starts[1:], strict=False)]
    assert all(gap >= 0.045 for gap in gaps), gaps


async def test_the_ticks_a_long_one_overran_are_one_tick() -> None:
    # The first tick lasts four intervals: one tick follows at once, then they are an interval apart again
    # (not four back to back to catch up).
    scheduler = Recorded(interval_seconds=0.1, duration=lambda n: 0.4 if n == 1 else 0.0)
    scheduler.start()
    try:
        await scheduler.ticks(4)
    finally:
        await scheduler.stop()
    first, *rest = [b - a for a, b in zip(scheduler.starts, scheduler.starts[1:], strict=False)]
    assert 0.39 <= first < 0.6 and all(gap >= 0.095 for gap in rest), (first, rest)


async def test_a_failing_tick_is_logged_by_type_only_and_the_loop_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    scheduler = Recorded(interval_seconds=0.02, fail=lambda n: n == 1)
    scheduler.start()
    try:
        await scheduler.ticks(3)
    finally:
        await scheduler.stop()
    assert scheduler.finished >= 2
    failures = [r.getMessage() for r in caplog.records if r.name == runner.__name__ and r.levelno == logging.ERROR]
    assert failures == ["scheduler tick failed: ValueError"]


async def test_stop_lets_a_tick_under_way_finish() -> None:
    scheduler = Recorded(interval_seconds=0.01, duration=0.2)
    scheduler.start()
    await scheduler.ticks(1)
    await scheduler.stop()
    assert (len(scheduler.starts), scheduler.finished, scheduler.cancelled) == (1, 1, 0)
    await asyncio.sleep(0.05)
    assert len(scheduler.starts) == 1  # and no tick after it


async def test_stop_cancels_a_tick_that_overruns_the_grace_period(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "STOP_GRACE_SECONDS", 0.05)
    scheduler = Recorded(interval_seconds=0.01, duration=30)
    scheduler.start()
    await scheduler.ticks(1)
    async with asyncio.timeout(2):
        await scheduler.stop()
    assert (scheduler.finished, scheduler.cancelled, scheduler.running) == (0, 1, 0)


async def test_a_second_start_runs_no_second_loop_and_a_stopped_one_starts_again() -> None:
    scheduler = Recorded(interval_seconds=3600, duration=0.05)
    scheduler.start()
    scheduler.start()
    await scheduler.ticks(1)
    await asyncio.sleep(0.1)
    assert (len(scheduler.starts), scheduler.most_at_once) == (1, 1)
    await scheduler.stop()
    scheduler.start()
    try:
        await scheduler.ticks(2, timeout=1)
    finally:
        await scheduler.stop()
    await scheduler.stop()  # stopping a stopped one is harmless
    assert scheduler.finished == 2
