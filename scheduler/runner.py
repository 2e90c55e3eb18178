"""The scheduler: every half minute, sweeps ask the database who is due and claim what they send.

Sweeps, not per-person timers: restart-safe, they catch up after downtime while a slot is still open,
and stay correct with several bot processes on one database (see storage.claims).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlmodel.ext.asyncio.session import AsyncSession

from scheduler.closing import closing_round
from scheduler.report import report_round
from scheduler.rounds import missed_days_round, remind_round, silent_list_round
from services.env import Core
from storage.purge import purge_expired

log = logging.getLogger(__name__)
STOP_GRACE_SECONDS = 10.0
Sweep = Callable[[AsyncSession, Core, datetime], Awaitable[int]]


async def purge_round(session: AsyncSession, core: Core, now: datetime) -> int:
    """Retention: anonymise the records whose time is up (cheap when there are none: one query)."""
    return await purge_expired(session, now.date(), core.retention_days, core.utcnow())


SWEEPS: dict[str, Sweep] = {
    "closing": closing_round,  # first: a quarantine that ended gets no reminder
    "remind": remind_round,
    "silent": silent_list_round,
    "missed": missed_days_round,
    "report": report_round,
    "purge": purge_round,
}


ANALYZE_AFTER = 500  # messages queued by one tick, after which PostgreSQL's statistics are refreshed


class Scheduler:
    def __init__(self, core: Core, interval_seconds: float = 30) -> None:
        self.core = core
        self.interval_seconds = interval_seconds
        self._apscheduler: AsyncIOScheduler | None = None
        self._ticking: asyncio.Task | None = None

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

    def start(self) -> None:
        self._apscheduler = AsyncIOScheduler(timezone=self.core.tz)
        self._apscheduler.add_job(self.tick, "interval", seconds=self.interval_seconds,
                                  next_run_time=datetime.now(self.core.tz), max_instances=1, coalesce=True, id="sweeps")
        self._apscheduler.start()

    async def stop(self) -> None:
        """No new tick; one under way may finish its transaction (then it is cancelled: its claims roll back
        with it and the next start sends those messages)."""
        if self._apscheduler is not None:
            self._apscheduler.shutdown(wait=False)
            self._apscheduler = None
        ticking, self._ticking = self._ticking, None
        if ticking is not None and not ticking.done() and ticking is not asyncio.current_task():
            try:
                await asyncio.wait_for(asyncio.shield(ticking), STOP_GRACE_SECONDS)
            except TimeoutError:
                ticking.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticking
