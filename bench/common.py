"""What the benchmarks share: a database of their own (a SQLite file, or a fresh PostgreSQL database that is
dropped afterwards), many registered people inserted in bulk, the fake Bot API in a process of its own, and
a printed table."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
from sqlalchemy import func, insert, select

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from storage.db import Database  # noqa: E402 - after the path is set, for `python bench/x.py`
from storage.migrate import upgrade  # noqa: E402
from storage.models import Account, GroupBinding, Person, Station  # noqa: E402
from storage.stations import import_units_csv  # noqa: E402

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
UNITS = ROOT / "storage" / "data" / "gia-lai-2025-units.csv"
FIRST_USER = 10_000  # Telegram user id of the first seeded person; person i is FIRST_USER + i
TOKEN = "42:bench"
CHUNK = 10_000  # rows per bulk insert: bounded memory for 100,000 people
DAY = date(2026, 11, 29)  # the day the benchmarks' clocks show, as the tests' clock does


def arguments(doc: str, **extra: tuple[type, object, str]) -> argparse.Namespace:
    """`--postgres URL` and the benchmark's own options (name=(type, default, help))."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--postgres", metavar="URL",
                        help="a PostgreSQL server, e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test; "
                             "a database of its own is created there and dropped afterwards")
    for name, (kind, default, text) in extra.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=default, help=text)
    return parser.parse_args()


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _with_database(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + (f"?{query}" if query else "")


@contextlib.asynccontextmanager
async def bench_database(postgres: str | None) -> AsyncIterator[str]:
    """The URL of an empty database at the latest schema, removed afterwards whatever happens."""
    if postgres is None:
        with tempfile.TemporaryDirectory(prefix="cachly_bench_") as folder:
            url = f"sqlite+aiosqlite:///{folder}/bench.db"
            await upgrade(url)
            yield url
        return
    name = f"cachly_bench_{secrets.token_hex(4)}"
    server = await asyncpg.connect(_plain(postgres))
    try:
        await server.execute(f'CREATE DATABASE "{name}"')
        try:
            url = _with_database(postgres, name)
            await upgrade(url)
            yield url
        finally:
            await server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await server.close()


def db_label(postgres: str | None) -> str:
    return "PostgreSQL" if postgres else "SQLite"


async def seed_stations(db: Database) -> None:
    async with db.session() as session:
        await import_units_csv(session, UNITS)


async def seed_people(db: Database, people: int, stations: int = 135, first_user: int = FIRST_USER,
                      today: date = DAY) -> None:
    """`people` registered people, each with an account of their own, person i at station 1 + i % stations, in
    quarantine since yesterday for 12 days, registered two days ago (so reminders are due at each slot)."""
    registered = datetime.combine(today - timedelta(days=2), datetime.min.time(), UTC)
    async with db.engine.connect() as connection:
        first_account = (await connection.execute(select(func.coalesce(func.max(Account.id), 0)))).scalar_one() + 1
    for start in range(0, people, CHUNK):
        count = min(CHUNK, people - start)
        async with db.engine.begin() as connection:
            await connection.execute(insert(Account), [
                {"id": first_account + start + i, "channel": "telegram", "external_id": str(first_user + start + i),
                 "language": "vi", "created_at": registered} for i in range(count)])
            await connection.execute(insert(Person), [
                {"account_id": first_account + start + i, "is_self": True, "full_name": f"Người {start + i}",
                 "birth_year": 1980, "gender": "male", "phone": "0912000000", "station_id": 1 + (start + i) % stations,
                 "address": "1 Lê Lợi", "category": "f1", "start_date": today - timedelta(days=1),
                 "end_date": today + timedelta(days=11), "status": "active", "consent_at": registered,
                 "created_at": registered} for i in range(count)])
    if db.engine.dialect.name == "postgresql":  # explicit ids: move the sequences on
        async with db.engine.begin() as connection:
            for table in ("account", "person"):
                await connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")


async def bind_station_groups(db: Database) -> dict[int, int]:
    """A staff group bound to every station: station id -> the group's chat id (negative, as on Telegram)."""
    async with db.session() as session:
        ids = list((await session.exec(select(Station.id).order_by(Station.id))).scalars().all())
        groups = {station_id: -1_000_000 - station_id for station_id in ids}
        for station_id, chat in groups.items():
            session.add(GroupBinding(station_id=station_id, channel="telegram", chat_id=str(chat)))
    return groups


def checkin_texts(spo2: int = 98) -> list[str]:
    """A check-in typed in full: /khaibao, then temperature, symptoms, SpO2, breathing rate, note, "đúng" to the
    recap. SpO2 96 or less is a danger sign (261/QĐ-BYT): measured again (the same reading typed twice), the
    station's group is alerted at that second reading."""
    again = [str(spo2)] if spo2 <= 96 else []
    return ["/khaibao", "36,8", "không", str(spo2), *again, "18", "Bình thường", "đúng"]


class FakeTelegram:
    """bench/fake_telegram.py in a process of its own, and the calls that drive it."""

    def __init__(self) -> None:
        self.process: asyncio.subprocess.Process | None = None
        self.port = 0
        self.http: aiohttp.ClientSession | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    async def __aenter__(self) -> FakeTelegram:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, str(Path(__file__).with_name("fake_telegram.py")), stdout=asyncio.subprocess.PIPE)
        self.port = int(await self.process.stdout.readline())
        self.http = aiohttp.ClientSession(f"http://127.0.0.1:{self.port}")
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self.http is not None:
            await self.http.close()
        if self.process is not None:
            self.process.terminate()
            await self.process.wait()

    async def _call(self, method: str, path: str, token: str, **kwargs: object) -> object:
        async with self.http.request(method, path, params={"token": token, **kwargs.pop("params", {})},
                                     **kwargs) as response:
            return (await response.json())["result"]

    async def push(self, messages: list[dict], token: str = TOKEN) -> None:
        await self._call("POST", "/control/push", token, json={"messages": messages})

    async def script(self, users: list[dict], token: str = TOKEN) -> None:
        await self._call("POST", "/control/script", token, json={"users": users})

    async def stop_scripts(self, token: str = TOKEN) -> None:
        await self._call("POST", "/control/stop_scripts", token)

    async def reset(self, token: str = TOKEN) -> None:
        await self._call("POST", "/control/reset", token)

    async def wait_sent(self, count: int, seconds: float, token: str = TOKEN) -> int:
        """How many messages were sent once `count` were, or after `seconds`."""
        return await self._call("GET", "/control/wait", token, params={"sent": count, "timeout": seconds},
                                timeout=aiohttp.ClientTimeout(total=seconds + 30))

    async def report(self, token: str = TOKEN) -> dict:
        return await self._call("GET", "/control/report", token)


def reply_latencies(pushes: dict[str, list[float]], sends: list[tuple[float, int]], users: list[int]) -> list[float]:
    """For each message the `users` sent (a closed loop: each waits for an answer), the wait for the bot's next
    message to them; a message still unanswered at the end is left out."""
    to_chat: dict[int, list[float]] = {}
    for at, chat in sends:
        to_chat.setdefault(chat, []).append(at)
    waits = []
    for user in users:
        replies = iter(sorted(to_chat.get(user, [])))
        reply = next(replies, None)
        for sent in sorted(pushes.get(str(user), [])):
            while reply is not None and reply < sent:
                reply = next(replies, None)
            if reply is not None:
                waits.append(reply - sent)
    return waits


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "?")
    return f"{os.cpu_count()} CPUs ({model}), Python {sys.version.split()[0]}"


def dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)
