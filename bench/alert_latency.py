"""Alert latency: from the danger answer of a check-in to the station group's alert, with others checking in.

    python bench/alert_latency.py [--postgres URL] [--alerts 60] [--background 20] [--think 1.0]

The bot is `cachly run` as deployed (bot/app.py TelegramBot: long polling, the core, the outbox sender woken by
core.outbox_ready, the production rate limiter at Telegram's 30 messages/s, bot/limits.py) against the fake Bot API
(bench/fake_telegram.py, its own process), which plays the people and records when each message arrives:

- `--background` people check in over and over (/khaibao and 6 answers, each answer `--think` seconds after
  the bot's question arrived), about `background / think` messages a second;
- meanwhile, every `--every` seconds someone else (in a station of their own, whose group is bound) checks in
  with SpO2 94 %, a danger sign, measured again: at that second reading the alert goes to the outbox, and the
  sender posts it to the group (later answers edit it).

Latency = arrival of the alert in the group − the moment the person sent the second SpO2 reading (the fake's clock, the
machine's CLOCK_MONOTONIC). Target: p95 ≤ 300 ms. The background replies' latency is printed too.
"""
from __future__ import annotations

import asyncio
import statistics
from datetime import datetime

from common import (
    FIRST_USER,
    TOKEN,
    TZ,
    FakeTelegram,
    arguments,
    bench_database,
    bind_station_groups,
    checkin_texts,
    db_label,
    machine,
    percentile,
    reply_latencies,
    seed_people,
    seed_stations,
    table,
)

from bot.app import TelegramBot, build_core
from bot.settings import load_settings
from storage.db import Database

STATIONS = 135
WARM_UP = 5.0  # seconds of background check-ins before the first danger check-in
DANGER_THINK = 0.3


async def measure(fake: FakeTelegram, url: str, groups: dict[int, int], args) -> tuple[list[float], list[float]]:
    settings = load_settings(telegram_token=TOKEN, telegram_base_url=fake.base_url, database_url=url)
    bot = TelegramBot(settings, build_core(settings, clock=lambda: datetime(2026, 11, 29, 9, 30, tzinfo=TZ)))
    await bot.start()
    background = [FIRST_USER + i for i in range(args.background)]
    # Danger people: seeded person i is at station 1 + i % 135; these are each in a station of their own.
    danger = {FIRST_USER + args.background + k: 1 + (args.background + k) % STATIONS for k in range(args.alerts)}
    try:
        await fake.script([{"user": u, "texts": checkin_texts(), "think": args.think, "loop": True,
                            "start_after": i * args.think / max(1, len(background))}
                           for i, u in enumerate(background)])
        await fake.script([{"user": u, "texts": checkin_texts(spo2=94), "think": DANGER_THINK,
                            "start_after": WARM_UP + k * args.every} for k, u in enumerate(danger)])
        await asyncio.sleep(WARM_UP + args.alerts * args.every + 6 * DANGER_THINK + 3.0)
        await fake.stop_scripts()
        await asyncio.sleep(1.0)
        report = await fake.report()
    finally:
        await bot.stop()
    sends = [(at, chat) for at, chat in report["sends"]]
    latencies = []
    for user, station in danger.items():
        answered = report["pushes"].get(str(user), [])
        if len(answered) < len(checkin_texts(spo2=94)):
            raise RuntimeError(f"a danger check-in did not finish ({len(answered)} messages sent)")
        last = answered[checkin_texts(spo2=94).index("94") + 1]  # the second reading: the alert goes at once
        alerts = [at for at, chat in sends if chat == groups[station] and at >= last]
        if not alerts:
            raise RuntimeError("an alert never reached its group")
        latencies.append(min(alerts) - last)
    return latencies, reply_latencies(report["pushes"], sends, background)


def row(label: str, values: list[float], target: str = "", met: str = "") -> list[object]:
    ms = [v * 1000 for v in values]
    return [label, len(ms), f"{statistics.median(ms):.0f}", f"{percentile(ms, 0.95):.0f}", f"{max(ms):.0f}",
            target, met]


async def main() -> None:
    args = arguments(__doc__, alerts=(int, 60, "danger check-ins (at most 135: one station each)"),
                     background=(int, 20, "people checking in meanwhile, over and over"),
                     think=(float, 1.0, "seconds a background person takes to answer"),
                     every=(float, 1.0, "seconds between danger check-ins"))
    args.alerts = min(args.alerts, STATIONS)
    async with bench_database(args.postgres) as url, FakeTelegram() as fake:
        db = Database(url)
        await seed_stations(db)
        await seed_people(db, args.background + args.alerts)
        groups = await bind_station_groups(db)
        await db.dispose()
        alerts, replies = await measure(fake, url, groups, args)
    p95 = percentile(alerts, 0.95) * 1000
    print(f"Alert latency on {db_label(args.postgres)}; {machine()}")
    print(f"{args.background} people checking in meanwhile (answer after {args.think:.1f} s), "
          f"one danger check-in every {args.every:.1f} s")
    print(table(["", "n", "p50 ms", "p95 ms", "max ms", "target", ""], [
        row("danger answer → alert in the group", alerts, "p95 ≤ 300 ms", "met" if p95 <= 300 else "NOT met"),
        row("background: message → bot's reply", replies),
    ]))


if __name__ == "__main__":
    asyncio.run(main())
