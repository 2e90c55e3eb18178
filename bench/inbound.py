"""Inbound: complete check-in conversations per second through the whole bot, next to a bare echo bot.

    python bench/inbound.py [--postgres URL] [--conversations 300] [--repeat 3] [--limited 50]

Both bots are the real python-telegram-bot 22 polling the same fast fake Bot API (bench/fake_telegram.py, in a
process of its own, a queue per bot), filled at once with the same number of text messages: for each of N
registered people, /khaibao and the 6 answers (temperature, symptoms, SpO2, breathing rate, note, recap), interleaved as
when many people check in together. Each message gets one reply; a run ends when the fake has them all. Runs of
the two bots alternate, `--repeat` times, and the best of each is compared: on a shared machine the best run is
the one least disturbed by other work.

  echo     an Application with one MessageHandler replying the text (no rate limiter)
  cachly   the TelegramBot of bot/app.py: polling, the core, the conversations, the database, one transaction per
           update; with python-telegram-bot's limiter replaced by a pass-through, as the echo bot has none
  cachly, production limiter  the same with its own limiter (Telegram's 30 messages/s overall), as deployed;
           fewer conversations, since the limit, not the bot, sets the pace there

Target: cachly at least 0.5 of the echo bot's rate.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from common import (
    FIRST_USER,
    TOKEN,
    TZ,
    FakeTelegram,
    arguments,
    bench_database,
    checkin_texts,
    db_label,
    machine,
    seed_people,
    seed_stations,
    table,
)
from sqlalchemy import func, select
from telegram import Update
from telegram.ext import Application, BaseRateLimiter, ContextTypes, MessageHandler, filters

from bot.app import TelegramBot, build_core
from bot.settings import load_settings
from storage.db import Database
from storage.models import Declaration

WARM_UP = 10  # conversations before the measured runs: imports, caches, connection pools
ECHO_TOKEN, LIMITED_TOKEN = "43:echo", "44:limited"  # each bot its own queue at the fake
REPLIES = len(checkin_texts())  # one per message


class PassThrough(BaseRateLimiter):
    """No rate limiting: the echo bot has none, so neither has the bot it is compared with."""

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def process_request(self, callback: Any, args: Any, kwargs: dict, endpoint: str, data: dict,
                              rate_limit_args: Any) -> Any:
        return await callback(*args, **kwargs)


def conversations(first: int, count: int) -> list[dict]:
    """The messages of `count` check-ins by people first..first+count-1, one step of everyone at a time."""
    users = range(FIRST_USER + first, FIRST_USER + first + count)
    return [{"user": user, "text": text} for text in checkin_texts() for user in users]


async def run(fake: FakeTelegram, token: str, messages: list[dict]) -> float:
    """Seconds from queueing the messages to the arrival of the last reply."""
    await fake.reset(token)
    started = time.monotonic()
    await fake.push(messages, token)
    got = await fake.wait_sent(len(messages), 600, token)
    if got < len(messages):
        raise RuntimeError(f"only {got} of {len(messages)} replies arrived")
    return max(t for t, _chat in (await fake.report(token))["sends"]) - started


@contextlib.asynccontextmanager
async def echo_bot(fake: FakeTelegram) -> AsyncIterator[None]:
    async def echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_text(update.message.text)

    app = Application.builder().token(ECHO_TOKEN).base_url(fake.base_url).build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    await app.initialize()
    await app.start()
    await app.updater.start_polling(timeout=10, poll_interval=0)
    try:
        yield
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()


@contextlib.asynccontextmanager
async def cachly_bot(fake: FakeTelegram, url: str, token: str, limiter: BaseRateLimiter | None) -> AsyncIterator[None]:
    settings = load_settings(telegram_token=token, telegram_base_url=fake.base_url, database_url=url)
    bot = TelegramBot(settings, build_core(settings, clock=lambda: datetime(2026, 11, 29, 9, 30, tzinfo=TZ)),
                      rate_limiter=limiter)
    await bot.start()
    try:
        yield
    finally:
        await bot.stop()


async def declarations(url: str) -> int:
    db = Database(url)
    try:
        async with db.session() as session:
            return (await session.exec(select(func.count()).select_from(Declaration))).scalar_one()
    finally:
        await db.dispose()


async def main() -> None:
    args = arguments(__doc__, conversations=(int, 300, "check-ins per measured run (6 messages each)"),
                     repeat=(int, 3, "measured runs of each bot, alternating; the best of each is compared"),
                     limited=(int, 50, "check-ins measured with the production rate limiter"))
    n, m = args.conversations, args.limited
    used = 0  # registered people already declared for: each cachly run takes the next ones

    def next_people(count: int) -> list[dict]:
        nonlocal used
        used += count
        return conversations(used - count, count)

    echo: list[float] = []
    free: list[float] = []
    async with bench_database(args.postgres) as url, FakeTelegram() as fake:
        db = Database(url)
        await seed_stations(db)
        await seed_people(db, 2 * WARM_UP + args.repeat * n + m)
        await db.dispose()
        async with echo_bot(fake), cachly_bot(fake, url, TOKEN, PassThrough()):
            await run(fake, ECHO_TOKEN, conversations(0, WARM_UP))
            await run(fake, TOKEN, next_people(WARM_UP))
            for _ in range(args.repeat):  # alternating, so that a busy moment of the machine hits both alike
                echo.append(await run(fake, ECHO_TOKEN, conversations(0, n)))
                free.append(await run(fake, TOKEN, next_people(n)))
        async with cachly_bot(fake, url, LIMITED_TOKEN, None):
            await run(fake, LIMITED_TOKEN, next_people(WARM_UP))
            limited = await run(fake, LIMITED_TOKEN, next_people(m))
        stored = await declarations(url)
    if stored != used:  # every check-in really went through to the database
        raise RuntimeError(f"{stored} declarations stored, {used} expected")
    best_echo, best_free = n / min(echo), n / min(free)
    ratio = best_free / best_echo
    print(f"Inbound check-ins on {db_label(args.postgres)}; {machine()}")
    print(f"best of {args.repeat} alternating runs of {n} check-ins ({n * REPLIES} messages) each; "
          f"all runs, check-ins/s: echo {', '.join(f'{n / e:.1f}' for e in echo)}; "
          f"cachly {', '.join(f'{n / f:.1f}' for f in free)}")
    print(table(["bot", "check-ins", "seconds", "check-ins/s", "messages/s", "vs echo"], [
        ["echo (python-telegram-bot alone)", n, f"{min(echo):.2f}", f"{best_echo:.1f}", f"{best_echo * REPLIES:.0f}",
         "1.00"],
        ["cachly (no rate limiter)", n, f"{min(free):.2f}", f"{best_free:.1f}", f"{best_free * REPLIES:.0f}",
         f"{ratio:.2f}"],
        ["cachly, production limiter (30/s)", m, f"{limited:.2f}", f"{m / limited:.1f}",
         f"{m / limited * REPLIES:.0f}", f"{m / limited / best_echo:.2f}"],
    ]))
    print(f"target: cachly ≥ 0.5 × echo: {ratio:.2f} — {'met' if ratio >= 0.5 else 'NOT met'}")


if __name__ == "__main__":
    asyncio.run(main())
