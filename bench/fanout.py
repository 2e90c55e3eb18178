"""Reminder fan-out: 100,000 registered people, a reminder round selected and queued, then the outbox delivered.

    python bench/fanout.py [--postgres URL] [--people 100000] [--seconds 30]

1. At 08:00 (the morning slot) the scheduler's tick (Scheduler(core).tick(), whose remind_round claims and
   queues one reminder per person) is timed; target: within 5 s for 100,000 people.
2. The production sender (delivery/sender.OutboxSender with the Telegram deliverer: python-telegram-bot's Bot and the
   rate limiter of bot/limits.py, as `cachly run` assembles them) then delivers for `--seconds` to the fake Bot
   API, which acknowledges at once and records when each message arrived; the rate is counted there, after 2 s
   of warm-up. Target: at least 95 % of the configured pacing (25 messages/s).
"""
from __future__ import annotations

import asyncio
import time
from datetime import datetime

from common import (
    TZ,
    FakeTelegram,
    arguments,
    bench_database,
    db_label,
    machine,
    seed_people,
    seed_stations,
    table,
)
from sqlalchemy import func, select

from bot.app import TelegramBot
from bot.settings import load_settings
from health.rules import load_rules
from scheduler.runner import Scheduler
from services.env import Core
from storage.db import Database
from storage.models import Outbox

WARM_UP = 2.0
STEADY_LIMIT = 120.0


async def fanout(url: str, people: int, seconds: float) -> list[list[object]]:
    db = Database(url)
    started = time.perf_counter()
    await seed_stations(db)
    await seed_people(db, people)
    seeded = time.perf_counter() - started
    now = [datetime(2026, 11, 29, 8, 0, tzinfo=TZ)]
    core = Core(db, load_rules(), TZ, admin_chats=[("telegram", "999")], clock=lambda: now[0])
    started, cpu = time.perf_counter(), time.process_time()
    done = await Scheduler(core).tick()
    enqueue, enqueue_cpu = time.perf_counter() - started, time.process_time() - cpu
    now[0] = now[0].replace(minute=1)
    started = time.perf_counter()
    try:  # bounded: a bad query plan here once took hours for 100,000 people (see docs/performance.md)
        await asyncio.wait_for(Scheduler(core).tick(), STEADY_LIMIT)
        steady = f"{time.perf_counter() - started:.2f} s"
    except TimeoutError:
        steady = f"> {STEADY_LIMIT:.0f} s (stopped)"
    async with db.session() as session:
        queued = (await session.exec(select(func.count()).select_from(Outbox))).scalar_one()
    rate, pace = await send_rate(core, seconds)
    await db.dispose()
    return [
        [f"seed {people:,} people (bulk insert)", f"{seeded:.1f} s", "", ""],
        [f"08:00 tick: select + claim + enqueue ({done['remind']:,} reminders, {queued:,} rows)",
         f"{enqueue:.2f} s", "≤ 5 s", "met" if enqueue <= 5 else "NOT met"],
        ["  the same, CPU time of this process", f"{enqueue_cpu:.2f} s", "", ""],
        ["08:01 tick (steady state, nothing due)", steady, "", ""],
        [f"send rate over {seconds:.0f} s (Telegram deliverer, fake API)", f"{rate:.1f}/s",
         f"≥ {0.95 * pace:.2f}/s (95 % of {pace:.0f}/s)", "met" if rate >= 0.95 * pace else "NOT met"],
    ]


async def send_rate(core: Core, seconds: float) -> tuple[float, float]:
    """Messages per second that reach the fake Bot API from the production sender, and its configured pace."""
    async with FakeTelegram() as fake:
        settings = load_settings(telegram_token="42:bench", telegram_base_url=fake.base_url, database_url=core.db.url)
        bot = TelegramBot(settings, core)
        await bot.app.initialize()
        try:
            started = time.monotonic()
            bot.sender.start()
            await asyncio.sleep(WARM_UP + seconds)
            await bot.sender.stop()
        finally:
            await bot.app.shutdown()
        arrivals = [t for t, _chat in (await fake.report())["sends"]]
    window = [t for t in arrivals if started + WARM_UP <= t < started + WARM_UP + seconds]
    return len(window) / seconds, bot.sender.pace.max_rate


async def main() -> None:
    args = arguments(__doc__, people=(int, 100_000, "registered people"),
                     seconds=(float, 30.0, "seconds of sending measured"))
    async with bench_database(args.postgres) as url:
        rows = await fanout(url, args.people, args.seconds)
    print(f"Reminder fan-out on {db_label(args.postgres)}; {machine()}")
    print(table(["step", "figure", "target", ""], rows))


if __name__ == "__main__":
    asyncio.run(main())
