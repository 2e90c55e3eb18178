"""A reminder round for many people on SQLite, with someone chatting meanwhile: how long the round takes,
and how long that person waits for each reply (issue 3: a round for 10,000 must not hold up replies).

    python bench/scheduler_round.py [people]
"""
from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from datetime import datetime

from common import TZ, seed_people, seed_stations  # also puts the repository on sys.path

from chat.messages import Incoming
from handlers.pipeline import handle
from health.rules import load_rules
from scheduler.runner import Scheduler
from services.env import Core
from storage.db import Database
from storage.migrate import upgrade


async def seed(db: Database, people: int) -> None:
    await seed_stations(db)
    await seed_people(db, people)


async def main(people: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{folder}/bench.db"
        await upgrade(url)
        db = Database(url)
        await seed(db, people)
        now = [datetime(2026, 11, 29, 8, 0, tzinfo=TZ)]
        core = Core(db, load_rules(), TZ, admin_chats=[("telegram", "999")], clock=lambda: now[0])
        waits: list[float] = []
        round_over = asyncio.Event()

        async def someone_chatting() -> None:
            i = 0
            while not round_over.is_set():
                user = str(10_000 + (i * 7919) % people)
                started = time.perf_counter()
                await handle(core, Incoming(channel="telegram", user_id=user, chat_id=user, chat_type="private",
                                           language_code="vi", user_name="x", text="/khaibao"))
                waits.append(time.perf_counter() - started)
                i += 1
                await asyncio.sleep(0.05)

        for label, moment in (("08:00 first reminders", (8, 0)), ("08:01 steady state", (8, 1)),
                              ("10:00 second reminders", (10, 0)), ("12:00 station lists", (12, 0))):
            now[0] = datetime(2026, 11, 29, *moment, tzinfo=TZ)
            waits.clear()
            round_over.clear()
            chatting = asyncio.create_task(someone_chatting())
            started = time.perf_counter()
            done = await Scheduler(core).tick()
            took = time.perf_counter() - started
            round_over.set()
            await chatting
            queued = {k: v for k, v in done.items() if v}
            print(f"{label:24s} {took:6.2f} s  queued {queued}  replies meanwhile: {len(waits)}, "
                  f"median {statistics.median(waits) * 1000:.0f} ms, max {max(waits) * 1000:.0f} ms")
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))
