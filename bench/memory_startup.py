"""Memory and start-up: the bot process (`python -m bot.cli run`) with 100,000 registered people.

    python bench/memory_startup.py [--postgres URL] [--people 100000] [--seconds 40]

The database is filled first (bulk insert). Then `python -m bot.cli run` starts as a subprocess against the fake
Bot API (bench/fake_telegram.py, its own process), with the check-in slot set to the current minute
(CACHLY_SLOTS) so that its first scheduler sweep selects and queues a reminder for every one of the 100,000
people while the outbox sender delivers them and 20 people check in: the heaviest hour of a day.

- start-up: from spawning the process to its first getUpdates at the fake (imports, migrations check, getMe,
  command menus, poller lease); target ≤ 3 s;
- peak memory: the process's peak resident set (VmHWM in /proc/<pid>/status) over `--seconds` after start-up;
  target ≤ 300 MB.
"""
from __future__ import annotations

import asyncio
import os
import re
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from common import (
    FIRST_USER,
    ROOT,
    TOKEN,
    TZ,
    FakeTelegram,
    arguments,
    bench_database,
    checkin_texts,
    db_label,
    machine,
    percentile,
    reply_latencies,
    seed_people,
    seed_stations,
    table,
)

from storage.db import Database

CHATTING = 20


def status_kb(pid: int, field: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE).group(1))


def slot_now() -> str:
    """The current local minute (not before 00:01, so the slot stays inside today)."""
    now = datetime.now(TZ) - timedelta(minutes=1)
    return max(now.strftime("%H:%M"), "00:01")


async def run_bot(fake: FakeTelegram, url: str, seconds: float, log_path: Path) -> dict[str, float]:
    env = {**os.environ, "CACHLY_TELEGRAM_TOKEN": TOKEN, "CACHLY_TELEGRAM_BASE_URL": fake.base_url,
           "CACHLY_DATABASE_URL": url, "CACHLY_SLOTS": slot_now(), "CACHLY_ADMIN_IDS": "999"}
    with open(log_path, "wb") as log:  # noqa: ASYNC230 - opened once, written by the child
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "run", cwd=ROOT, env=env,
                                                       stdout=log, stderr=log)
        try:
            first_poll = await first_get_updates(fake, process)
            figures = {"startup": first_poll - started, "rss_started": status_kb(process.pid, "VmRSS") / 1024}
            await fake.script([{"user": FIRST_USER + i, "texts": checkin_texts(), "think": 1.0, "loop": True,
                                "start_after": i * 0.05} for i in range(CHATTING)])
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and process.returncode is None:
                figures["rss_peak"] = status_kb(process.pid, "VmHWM") / 1024
                await asyncio.sleep(0.5)
            await fake.stop_scripts()
            if process.returncode is not None:
                raise RuntimeError(f"the bot exited with {process.returncode}: see {log_path}")
            figures["rss_end"] = status_kb(process.pid, "VmRSS") / 1024
        finally:
            if process.returncode is None:
                process.terminate()
                stopping = time.monotonic()
                await process.wait()
                figures["shutdown"] = time.monotonic() - stopping
    report = await fake.report()
    figures["sent"] = len(report["sends"])
    chatting = [FIRST_USER + i for i in range(CHATTING)]
    figures["replies"] = reply_latencies(report["pushes"], [(t, c) for t, c in report["sends"]], chatting)
    figures["asked"] = sum(len(report["pushes"].get(str(u), [])) for u in chatting)
    return figures


async def first_get_updates(fake: FakeTelegram, process: asyncio.subprocess.Process) -> float:
    for _ in range(600):
        first = (await fake.report())["first_poll"]
        if first is not None:
            return first
        if process.returncode is not None:
            raise RuntimeError(f"the bot exited with {process.returncode} before polling")
        await asyncio.sleep(0.01)
    raise RuntimeError("no getUpdates within 6 s")


def round_seconds(log_path: Path) -> str:
    """When the first sweep's queueing was logged, from the bot's own log (no personal data in it)."""
    text = log_path.read_text(errors="replace")
    stamps = re.findall(r"^(\S+ \S+) INFO .*?(cachly is running|scheduler queued)", text, re.MULTILINE)
    running = next((s for s, what in stamps if what == "cachly is running"), None)
    queued = next((s for s, what in stamps if what == "scheduler queued"), None)
    if running is None or queued is None:
        return "not within the run"
    parse = lambda s: datetime.strptime(s, "%Y-%m-%d %H:%M:%S,%f")  # noqa: E731
    return f"{(parse(queued) - parse(running)).total_seconds():.1f} s"


async def main() -> None:
    args = arguments(__doc__, people=(int, 100_000, "registered people"),
                     seconds=(float, 40.0, "seconds of running measured after start-up"))
    today = datetime.now(TZ).date()
    async with bench_database(args.postgres) as url, FakeTelegram() as fake:
        db = Database(url)
        await seed_stations(db)
        await seed_people(db, args.people, today=today)
        await db.dispose()
        with tempfile.TemporaryDirectory() as folder:
            log_path = Path(folder) / "bot.log"
            figures = await run_bot(fake, url, args.seconds, log_path)
            queued = round_seconds(log_path)
    replies = [r * 1000 for r in figures["replies"]] or [0.0]
    print(f"Bot process with {args.people:,} registered people on {db_label(args.postgres)}; {machine()}")
    print(table(["", "figure", "target", ""], [
        ["start-up: spawn → first getUpdates", f"{figures['startup']:.2f} s", "≤ 3 s",
         "met" if figures["startup"] <= 3 else "NOT met"],
        ["resident memory at start-up", f"{figures['rss_started']:.0f} MB", "", ""],
        [f"peak resident memory (VmHWM) over {args.seconds:.0f} s", f"{figures['rss_peak']:.0f} MB", "≤ 300 MB",
         "met" if figures["rss_peak"] <= 300 else "NOT met"],
        ["resident memory at the end", f"{figures['rss_end']:.0f} MB", "", ""],
        ["first sweep (reminders for everyone) queued after start", queued, "", ""],
        ["messages delivered meanwhile (reminders and replies)", figures["sent"], "", ""],
        [f"{CHATTING} people checking in meanwhile: messages sent, answered", figures["asked"],
         len(figures["replies"]), ""],
        ["  wait for the bot's reply: p50, p95", f"{percentile(replies, 0.5):.0f} ms",
         f"{percentile(replies, 0.95):.0f} ms", ""],
        ["shutdown on SIGTERM", f"{figures.get('shutdown', 0):.1f} s", "", ""],
    ]))


if __name__ == "__main__":
    asyncio.run(main())
