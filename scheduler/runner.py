"""The scheduler: every half minute, sweeps ask the database who is due and claim what they send.

Sweeps, not per-person timers: restart-safe, they catch up after downtime while a slot is still open,
and stay correct with several bot processes on one database (see storage.claims).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from scheduler.abandoned import abandoned_round
from scheduler.closing import closing_round
from scheduler.escalation import escalation_round
from scheduler.expiry import expiry_round
from scheduler.report import report_round
from scheduler.rounds import missed_days_round, remind_round, silent_list_round
from services.env import Core
from storage.claims import claim, claim_many, claimed, unclaimed
from storage.models import DeletionRequest, DeletionStatus
from storage.purge import purge_expired, settle

log = logging.getLogger(__name__)
STOP_GRACE_SECONDS = 10.0
PURGE, PURGE_SUBJECT = "purge", "all"  # the daily purge's claim
SETTLED = "settled"  # an erasure whose old pages were checkpointed out of the write-ahead log
Sweep = Callable[[AsyncSession, Core, datetime], Awaitable[int]]


async def purge_round(session: AsyncSession, core: Core, now: datetime) -> int:
    """Retention, once a day (its first tick): the tables that only grow pruned, the records whose time is up
    anonymised, and on SQLite the write-ahead log emptied of the pages as they were before."""
    today = now.date()
    if await claimed(session, PURGE, PURGE_SUBJECT, today) or not await claim(session, PURGE, PURGE_SUBJECT, today,
                                                                                 core.utcnow()):
        await _settle_after_erasures(session, core, today)
        return 0
    anonymised = await purge_expired(session, today, core.retention_days, core.utcnow())
    await session.commit()  # the checkpoint copies committed pages only
    await settle(core.db.engine)
    return anonymised


async def _settle_after_erasures(session: AsyncSession, core: Core, today: date) -> None:
    """An erasure confirmed since the last tick: its data's old pages leave the write-ahead log at the next tick,
    not the next day (a read of the few recent requests; nothing written when there is none)."""
    recent = select(DeletionRequest.id).where(DeletionRequest.status == DeletionStatus.DONE,
                                              col(DeletionRequest.decided_at) >= core.utcnow() - timedelta(days=1),
                                              unclaimed(SETTLED, "request:", DeletionRequest.id, today))
    done = [f"request:{request_id}" for request_id in (await session.exec(recent)).all()]
    if done and await claim_many(session, SETTLED, done, today, core.utcnow()):
        await session.commit()
        await settle(core.db.engine)


SWEEPS: dict[str, Sweep] = {
    "closing": closing_round,  # first: a quarantine that ended gets no reminder
    "abandoned": abandoned_round,  # check-ins left unfinished: saved partial, alerted
    "expiry": expiry_round,  # other conversations untouched for a day: deleted with what was typed
    "remind": remind_round,
    "silent": silent_list_round,
    "missed": missed_days_round,
    "escalation": escalation_round,  # alerts nobody took in time, or nobody received
    "report": report_round,
    "purge": purge_round,
}


ANALYZE_AFTER = 500  # messages queued by one tick, after which PostgreSQL's statistics are refreshed


class Scheduler:
    def __init__(self, core: Core, interval_seconds: float = 30) -> None:
        self.core = core
        self.interval_seconds = interval_seconds
        self._task: asyncio.Task | None = None
        self._ticking: asyncio.Task | None = None
        self._stopping = False
        self._wake = asyncio.Event()  # set by stop(): the loop waiting for its next tick ends at once

    async def tick(self) -> dict[str, int]:
        """Run every sweep once, each in its own transaction; how many messages each queued."""
        self._ticking = asyncio.current_task()
        now = self.core.now()
        done: dict[str, int] = {}
        for name, sweep in SWEEPS.items():
            try:
                async with self.core.db.session() as session:
                    done[name] = await sweep(session, self.core, now)
            except Exception as exc:  # noqa: BLE001 - one failing sweep must not stop the others
                log.error("scheduler sweep %s failed: %s", name, type(exc).__name__)
                done[name] = 0
        if any(done.values()):
            log.info("scheduler queued %s", {k: v for k, v in done.items() if v})
            self.core.outbox_ready.set()
        if sum(done.values()) >= ANALYZE_AFTER:
            await self._refresh_statistics()
        return done

    async def _refresh_statistics(self) -> None:
        """PostgreSQL plans the sweeps' "not claimed yet" anti-joins from the claim table's statistics. Right
        after a round claimed thousands they still say the table is nearly empty, and the next tick's plan
        compares every person with every claim: 66 s for 20,000 people, hours for 100,000 (bench/fanout.py).
        Autovacuum analyzes the table only a minute or more later, so the tick does it at once (~0.1 s)."""
        if self.core.db.engine.dialect.name != "postgresql":
            return  # SQLite looks claims up by their unique index whatever it knows of the table
        try:
            async with self.core.db.engine.begin() as connection:
                await connection.exec_driver_sql("ANALYZE claim, outbox")
        except Exception as exc:  # noqa: BLE001 - autovacuum will do it later
            log.warning("scheduler: ANALYZE after a large round failed: %s", type(exc).__name__)

    async def run(self) -> None:
        """A tick at once, then one every interval_seconds from the start of the one before. Ticks never overlap:
        one that runs past the next's time is followed by a single tick at once, however many it overran."""
        loop = asyncio.get_running_loop()
        while not self._stopping:
            started = loop.time()
            try:
                await self.tick()
            except Exception as exc:  # noqa: BLE001 - a failed tick must not stop the reminders for good
                log.error("scheduler tick failed: %s", type(exc).__name__)
            wait = started + self.interval_seconds - loop.time()
            if wait > 0 and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)

    def start(self) -> None:
        if self._task is not None and not self._task.done():
            return  # one loop only: ticks never overlap
        self._stopping = False
        self._wake = asyncio.Event()  # of this event loop
        self._task = asyncio.create_task(self.run(), name="scheduler")

    async def stop(self) -> None:
        """No new tick; one under way may finish its transaction (then it is cancelled: its claims roll back
        with it and the next start sends those messages)."""
        self._stopping = True
        self._wake.set()
        running, self._task = self._task, None
        ticking, self._ticking = self._ticking, None  # a tick run by someone else than the loop, too
        pending = {task for task in (running, ticking)
                   if task is not None and not task.done() and task is not asyncio.current_task()}
        if not pending:
            return
        _, late = await asyncio.wait(pending, timeout=STOP_GRACE_SECONDS)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
