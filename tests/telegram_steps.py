"""The real python-telegram-bot Application, over HTTP, against FakeBotAPI (the `harness` fixture, registered for
every module by tests/conftest.py), and what a person does there, each action waiting for the answer it causes.

Nothing of python-telegram-bot is mocked: updates come by long polling, replies go out as Bot API calls, and
the tests read what a person or a station group would see. Waiting is on the fake's events, never on sleep.
"""
from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Callable

import pytest
from sqlmodel import select

from bot.app import TelegramBot, build_core
from bot.settings import Settings, load_settings
from services.env import Core
from storage.db import Database
from storage.models import Outbox
from tests.conftest import Clock
from tests.factories import PLEIKU, bind_code
from tests.fake_bot_api import JSON, FakeBotAPI

# Telegram user and chat ids
ADMIN = 999
CITIZEN = 1001
STAFF_LAN, STAFF_BINH = 501, 502
GROUP = -1005001
PHONE = "0912345678"
SECRET = "s3cret-token_for-tests-0123456789"  # the webhook's secret token


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the bot around the fake -------------------------------------------------------------------------


class Harness:
    """FakeBotAPI + the real TelegramBot on a SQLite file; `restart` swaps in a new bot and core."""

    def __init__(self, fake: FakeBotAPI, settings: Settings, clock: Clock) -> None:
        self.fake, self.settings, self.clock = fake, settings, clock
        self.bot: TelegramBot | None = None

    @property
    def core(self) -> Core:
        assert self.bot is not None
        return self.bot.core

    async def start(self) -> None:
        self.bot = TelegramBot(self.settings, build_core(self.settings, clock=self.clock), poll_timeout=1)
        await self.bot.start()

    async def stop(self) -> None:
        if self.bot is not None:
            await self.bot.stop()
            self.bot = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def outbox(self) -> list[Outbox]:
        """The outbox rows, read on a connection of their own (the bot may be stopped)."""
        db = Database(self.settings.database_url)
        try:
            async with db.session() as session:
                return list((await session.exec(select(Outbox).order_by(Outbox.id))).all())
        finally:
            await db.dispose()


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    """A fake Bot API server of its own, for a test that starts its bots itself."""
    api = FakeBotAPI()
    await api.start()
    try:
        yield api
    finally:
        await api.stop()


@pytest.fixture
async def harness(seeded_db_url: str, clock: Clock) -> AsyncIterator[Harness]:
    """The bot running against the fake, on a database with the stations; the admin, a citizen and two staff
    members known to Telegram."""
    fake = FakeBotAPI()
    await fake.start()
    fake.user(ADMIN, "Quản trị", "vi")
    fake.user(CITIZEN, "An", "vi")
    fake.user(STAFF_LAN, "Lan", "vi")
    fake.user(STAFF_BINH, "Bình", "vi")
    settings = load_settings(telegram_token=fake.token, telegram_base_url=fake.base_url,
                             database_url=seeded_db_url, admin_ids=[ADMIN])
    h = Harness(fake, settings, clock)
    await h.start()
    try:
        yield h
    finally:
        await h.stop()
        await fake.stop()


# --- a person's actions, each waiting for the answer it causes -----------------------------------------


def newest_button(fake: FakeBotAPI, chat_id: int, label: str) -> tuple[JSON, str]:
    """The newest bot message with a button labelled `label` (else containing it), and its data."""
    for exact in (True, False):
        for msg in reversed(fake.sent(chat_id)):
            for text, data in fake.buttons(msg):
                if (text == label) if exact else (label.casefold() in text.casefold()):
                    return msg, data
    raise AssertionError(f"no button {label!r} in chat {chat_id}: {[fake.buttons(m) for m in fake.sent(chat_id)]}")


async def say(fake: FakeBotAPI, user: int, text: str, expect: str, chat: int | None = None) -> JSON:
    """Send a text; the bot's first new message containing `expect`."""
    chat = chat or user
    after = len(fake.sent(chat))
    await fake.send_text(user, text, chat_id=chat)
    return await fake.wait_for_message(chat, lambda m: expect in m["text"], after=after)


async def tap(fake: FakeBotAPI, user: int, label: str, expect: str, chat: int | None = None) -> JSON:
    """Press the newest button labelled `label`; the bot's first new message containing `expect`."""
    chat = chat or user
    msg, data = newest_button(fake, chat, label)
    after = len(fake.sent(chat))
    await fake.press(user, msg, data)
    return await fake.wait_for_message(chat, lambda m: expect in m["text"], after=after)


async def toggle(fake: FakeBotAPI, user: int, label: str) -> JSON:
    """Press a multi-select button: the question is edited in place."""
    msg, data = newest_button(fake, user, label)
    await fake.press(user, msg, data)
    return await fake.wait_for_edit(user, msg["message_id"], lambda m: data in str(m["reply_markup"]))


async def share_contact(fake: FakeBotAPI, user: int, phone: str, expect: str) -> JSON:
    after = len(fake.sent(user))
    await fake.send_contact(user, phone)
    return await fake.wait_for_message(user, lambda m: expect in m["text"], after=after)


async def register_via_telegram(fake: FakeBotAPI, user: int = CITIZEN, name: str = "Nguyễn Văn An",
                                phone: str | None = None) -> JSON:
    """The whole Vietnamese registration; without `phone` the number is shared with the contact button.
    Returns the "Đăng ký xong" message."""
    await say(fake, user, "/start", "Bạn có đồng ý không?")
    await tap(fake, user, "Đồng ý", "Họ và tên")
    await say(fake, user, name, "sinh năm nào")
    await say(fake, user, "1980", "Giới tính")
    await tap(fake, user, "Nam", "Số điện thoại")
    assert fake.contact_requested(user)
    if phone is None:
        await share_contact(fake, user, "+84912345678", "Số CCCD")
    else:
        await say(fake, user, phone, "Số CCCD")
    await tap(fake, user, "Bỏ qua", "xã/phường nào")
    await say(fake, user, "pleiku", "Bấm chọn xã/phường")
    await tap(fake, user, "Phường Pleiku", "Địa chỉ nơi bạn cách ly")
    await say(fake, user, "12 Lê Lợi, tổ 3", "diện cách ly nào")
    await tap(fake, user, "F1", "bắt đầu cách ly")
    summary = await tap(fake, user, "Hôm nay", "Thông tin đăng ký")
    assert name in summary["text"] and "Phường Pleiku" in summary["text"]
    return await tap(fake, user, "Xác nhận", "Đăng ký xong")


async def checkin_via_telegram(fake: FakeBotAPI, user: int = CITIZEN, temperature: str = "36,8",
                               symptoms: tuple[str, ...] = (), spo2: str | None = None,
                               breathing: str | None = None, expect: str = "Đã ghi nhận khai báo",
                               who: str | None = None) -> JSON:
    """/khaibao to the end; returns the result message (containing `expect`)."""
    if who is None:
        await say(fake, user, "/khaibao", "Nhiệt độ cơ thể")
    else:
        await say(fake, user, "/khaibao", "Khai báo cho ai?")
        await tap(fake, user, who, "Nhiệt độ cơ thể")
    await say(fake, user, temperature, "triệu chứng")
    for symptom in symptoms:
        await toggle(fake, user, symptom)
    await tap(fake, user, "Xong" if symptoms else "Không có triệu chứng", "SpO2")
    if spo2 is None:
        await tap(fake, user, "Không có máy đo", "số lần thở")
    else:
        await say(fake, user, spo2, "số lần thở")
    if breathing is None:
        await tap(fake, user, "Bỏ qua", "nhắn gì thêm")
    else:
        await say(fake, user, breathing, "nhắn gì thêm")
    await tap(fake, user, "Không có", "Đúng chưa?")  # the recap of what was recorded
    return await tap(fake, user, "Đúng", expect)


async def danger_checkin(fake: FakeBotAPI, user: int = CITIZEN) -> JSON:
    result = await checkin_via_telegram(fake, user, "39,2", symptoms=("Khó thở",), spo2="92",
                                        expect="CẦN HỖ TRỢ NGAY")
    await fake.wait_for_message(user, lambda m: "📞" in m["text"])  # the number to call: the last reply
    return result


async def alert_shown(h: Harness, chat: int, predicate: Callable[[JSON], bool], tries: int = 10) -> JSON:
    """The chat's alert message once its text satisfies `predicate`. An alert updated while its copy was on its
    way is shown up to date by the next scheduler tick (scheduler/abandoned.py): ticked here until it is."""
    for _ in range(tries):
        with contextlib.suppress(AssertionError):
            return await h.fake.wait_for_message(chat, predicate, timeout=0.5, after=0)
        await h.bot.scheduler.tick()
    return await h.fake.wait_for_message(chat, predicate, after=0)


async def bind_group_via_telegram(h: Harness, group: int = GROUP, staff: int = STAFF_LAN) -> JSON:
    """Pleiku's group bound by a staff member's /lienket in it; the bot's confirmation."""
    h.fake.group(group, "Trạm Y tế Phường Pleiku")
    code = await bind_code(h.core, PLEIKU)
    return await say(h.fake, staff, f"/lienket {code}", "đã được liên kết", chat=group)
