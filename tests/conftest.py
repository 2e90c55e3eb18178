"""Shared fixtures: a real SQLite database per test (a copy of a template migrated and seeded once a session), a
clock the test controls, a core, a chat driver, the `cachly` command."""
from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import make_url

from bot import logs
from chat.messages import Button, Incoming, Reply
from handlers.pipeline import handle
from health.rules import load_rules
from services.env import Core
from storage.db import Database
from storage.migrate import upgrade
from storage.stations import import_units_csv

# The end-to-end fixture (`harness`: the real bot against the fake Bot API) and its steps, for every module.
pytest_plugins = ("tests.telegram_steps",)

ROOT = Path(__file__).resolve().parents[1]
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
UNITS_CSV = ROOT / "storage" / "data" / "gia-lai-2025-units.csv"


class Clock:
    """Time that moves only when the test says so."""

    def __init__(self, local: datetime) -> None:
        self.current = local.replace(tzinfo=TZ).astimezone(UTC)

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)

    def set_local(self, local: datetime) -> None:
        self.current = local.replace(tzinfo=TZ).astimezone(UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 29, 9, 30))


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def run_apart(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to the end on a loop of its own, from a fixture that is not async (session- and
    module-scoped ones outlive the tests' loops; a parametrised one chooses its backend with getfixturevalue)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def seed_stations(url: str) -> None:
    """The stations of storage/data, as `cachly station import` loads them."""
    db = Database(url)
    try:
        async with db.session() as session:
            await import_units_csv(session, UNITS_CSV)
    finally:
        await db.dispose()


@dataclass(frozen=True)
class Templates:
    """SQLite files made once a session: the schema at head (`migrated`), and the same with the stations
    (`seeded`). A test gets a file copy of one, instead of migrating and importing for itself."""

    migrated: Path
    seeded: Path

    def copy(self, url: str, seeded: bool = True) -> str:
        """Put a copy of the template at the SQLite URL's file; the URL back."""
        target = Path(make_url(url).database or "")
        assert target.name and not target.exists(), f"not a fresh SQLite file: {url}"
        shutil.copyfile(self.seeded if seeded else self.migrated, target)
        return url


def _settled(path: Path) -> None:
    """All of the file in the file: nothing left in a write-ahead log next to it, which a copy would miss."""
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Templates:
    directory = tmp_path_factory.mktemp("templates")
    made = Templates(directory / "migrated.db", directory / "seeded.db")
    run_apart(upgrade(sqlite_url(made.migrated)))
    _settled(made.migrated)
    shutil.copyfile(made.migrated, made.seeded)
    run_apart(seed_stations(sqlite_url(made.seeded)))
    _settled(made.seeded)
    return made


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """Where the test's SQLite file goes; nothing is there yet (see seeded_db_url, migrated_db_url)."""
    return sqlite_url(tmp_path / "cachly.db")


@pytest.fixture
def seeded_db_url(db_url: str, templates: Templates) -> str:
    """db_url holding a copy of the seeded template: the schema at head and the stations."""
    return templates.copy(db_url)


@pytest.fixture
def migrated_db_url(db_url: str, templates: Templates) -> str:
    """db_url holding a copy of the schema at head, without stations."""
    return templates.copy(db_url, seeded=False)


@pytest.fixture
async def core(seeded_db_url: str, clock: Clock):
    db = Database(seeded_db_url)
    core = Core(db, load_rules(), TZ, admin_chats=[("telegram", "999")], clock=clock)
    yield core
    await db.dispose()


class ChatDriver:
    """A person chatting with the core directly (no channel): say things, press buttons by label."""

    def __init__(self, core: Core, user_id: str, chat_id: str | None = None, chat_type: str = "private",
                 language_code: str = "vi", name: str = "An") -> None:
        self.core, self.user_id, self.chat_id = core, user_id, chat_id or user_id
        self.chat_type, self.language_code, self.name = chat_type, language_code, name
        self.last: list[Reply] = []

    async def send(self, **fields: object) -> list[Reply]:
        inc = Incoming(channel="telegram", user_id=self.user_id, chat_id=self.chat_id, chat_type=self.chat_type,
                       language_code=self.language_code, user_name=self.name, **fields)
        self.last = await handle(self.core, inc)
        return self.last

    async def say(self, text: str) -> list[Reply]:
        return await self.send(text=text)

    async def contact(self, phone: str, own: bool = True) -> list[Reply]:
        return await self.send(contact_phone=phone, contact_is_own=own)

    def buttons(self) -> list[Button]:
        return [b for r in self.last for row in r.buttons for b in row]

    async def press(self, label: str) -> list[Reply]:
        """Press the newest button labelled `label`, or else containing it (case-insensitive)."""
        matches = ([b for b in self.buttons() if b.label.lower() == label.lower()]
                   or [b for b in self.buttons() if label.lower() in b.label.lower()])
        assert matches, f"no button {label!r} in {[b.label for b in self.buttons()]}"
        return await self.send(button=matches[0].payload, message_id="1")

    def text(self) -> str:
        return "\n".join(r.text for r in self.last)


@pytest.fixture
def chat(core: Core) -> ChatDriver:
    return ChatDriver(core, "100")


async def register(chat: ChatDriver, name: str = "Nguyễn Văn An", year: str = "1980", station: str = "pleiku",
                   category: str = "F1 (tiếp xúc gần)", phone: str = "0912 345 678") -> None:
    """The whole registration, happy path."""
    await chat.say("/start")
    await chat.press("Đồng ý")
    await chat.say(name)
    await chat.say(year)
    await chat.press("Nam")
    await chat.say(phone)
    await chat.press("Bỏ qua")
    await chat.say(station)
    await chat.press(chat.buttons()[0].label)
    await chat.say("12 Lê Lợi, tổ 3")
    await chat.press(category)
    await chat.press("Hôm nay")
    await chat.press("Xác nhận")
    assert "Đăng ký xong" in chat.text(), chat.text()


# --- the `cachly` command, as an operator runs it ------------------------------------------------------------
Cachly = Callable[..., subprocess.CompletedProcess[str]]


def run_cachly(database_url: str, *args: str, cwd: Path = ROOT / "tests",
               **env: str) -> subprocess.CompletedProcess[str]:
    """`cachly ARGS` in a subprocess on that database, with none of the developer's CACHLY_ settings; cwd: no
    stray .env of theirs is read."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CACHLY_")}
    environment.update({"PYTHONPATH": str(ROOT), "CACHLY_DATABASE_URL": database_url, **env})
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], check=False, cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def cachly(tmp_path: Path) -> Cachly:
    """`cachly` against a SQLite file of its own in tmp_path (not the core's)."""
    url = sqlite_url(tmp_path / "cli.db")
    return lambda *args, **env: run_cachly(url, *args, cwd=tmp_path, **env)


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- privacy: nothing personal in any log line, in any test (the end-to-end ones included) -----------------
_PERSONAL = [
    (re.compile(r"(?<!\d)0[1-9]\d{8}(?!\d)"), "a Vietnamese phone number"),
    (re.compile(r"\+84\d{9}"), "a phone number"),
    (re.compile(r"(?<!\d)\d{12}(?!\d)"), "a CCCD number"),
    (re.compile(r"[À-ÃÈ-ÊÌÍÒ-ÕÙÚÝà-ãè-êìíò-õùúýĂăĐđĨĩŨũƠơƯưẠ-ỹ]"), "Vietnamese text (a name, an address, a symptom)"),
]


@pytest.fixture(autouse=True)
def no_personal_data_in_logs(caplog: pytest.LogCaptureFixture):
    """Every record logged during a test at any level, DEBUG included, is scanned when it ends, under the logging
    configuration of production (bot/logs.py: the libraries that log what passes through them at WARNING)."""
    logs.quiet_libraries()
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        line = record.getMessage() + (f" {record.exc_text}" if record.exc_text else "")
        for pattern, what in _PERSONAL:
            assert not pattern.search(line), f"{what} in a log line of {record.name}: {line[:300]!r}"
