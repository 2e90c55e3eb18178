"""Shared fixtures: a real SQLite database per test, a clock the test controls, a core, a chat driver."""
from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from chat.messages import Button, Incoming, Reply
from handlers.pipeline import handle
from health.rules import load_rules
from services.env import Core
from storage.db import Database
from storage.migrate import upgrade
from storage.stations import import_units_csv

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
UNITS_CSV = Path(__file__).parents[1] / "storage" / "data" / "gia-lai-2025-units.csv"


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


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'cachly.db'}"


@pytest.fixture
async def core(db_url: str, clock: Clock):
    await upgrade(db_url)
    db = Database(db_url)
    async with db.session() as session:
        await import_units_csv(session, UNITS_CSV)
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
                   category: str = "F1 (tiếp xúc gần)") -> None:
    """The whole registration, happy path."""
    await chat.say("/start")
    await chat.press("Đồng ý")
    await chat.say(name)
    await chat.say(year)
    await chat.press("Nam")
    await chat.say("0912 345 678")
    await chat.press("Bỏ qua")
    await chat.say(station)
    await chat.press(chat.buttons()[0].label)
    await chat.say("12 Lê Lợi, tổ 3")
    await chat.press(category)
    await chat.press("Hôm nay")
    await chat.press("Xác nhận")
    assert "Đăng ký xong" in chat.text(), chat.text()


# --- privacy: nothing personal in any log line, in any test (the end-to-end ones included) -----------------
_PERSONAL = [
    (re.compile(r"(?<!\d)0[1-9]\d{8}(?!\d)"), "a Vietnamese phone number"),
    (re.compile(r"\+84\d{9}"), "a phone number"),
    (re.compile(r"(?<!\d)\d{12}(?!\d)"), "a CCCD number"),
    (re.compile(r"[À-ÃÈ-ÊÌÍÒ-ÕÙÚÝà-ãè-êìíò-õùúýĂăĐđĨĩŨũƠơƯưẠ-ỹ]"), "Vietnamese text (a name, an address, a symptom)"),
]


@pytest.fixture(autouse=True)
def no_personal_data_in_logs(caplog: pytest.LogCaptureFixture):
    """Every record logged at the production level (INFO) during a test is scanned when it ends."""
    caplog.set_level(logging.INFO)
    yield
    for record in caplog.records:
        line = record.getMessage() + (f" {record.exc_text}" if record.exc_text else "")
        for pattern, what in _PERSONAL:
            assert not pattern.search(line), f"{what} in a log line of {record.name}: {line[:300]!r}"
