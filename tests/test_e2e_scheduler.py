"""One day of the scheduler end to end: the real python-telegram-bot over HTTP against FakeBotAPI.

People register and declare through Telegram; the scheduler's sweeps are ticked at the moments the
test sets on its clock, and the outbox sender delivers what they queued as Bot API calls.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlmodel import select

from storage.models import Outbox
from tests.factories import at
from tests.fake_bot_api import FakeBotAPI
from tests.telegram_steps import (
    CITIZEN,
    GROUP,
    Harness,
    bind_group_via_telegram,
    checkin_via_telegram,
    newest_button,
    register_via_telegram,
    say,
)

HOA, CUONG = 1002, 1003
REMIND, CHASE = "Đến giờ khai báo", "Nhắc lần 2"
NAMES = {HOA: "Lê Thị Hoa", CUONG: "Phạm Văn Cường"}


async def tick(h: Harness, local: datetime) -> dict[str, int]:
    h.clock.set_local(local)
    return await h.bot.scheduler.tick()


def texts_to(fake: FakeBotAPI, chat: int) -> list[str]:
    return [p.get("text", "") for _, p in fake.calls("sendMessage") if str(p["chat_id"]) == str(chat)]


def count(fake: FakeBotAPI, chat: int, part: str) -> int:
    return sum(part in text for text in texts_to(fake, chat))


async def all_delivered(h: Harness) -> None:
    """Wait (on the fake's events, never on time) until every queued row has reached the Bot API, then let
    the sender finish its round, so that each row is recorded as sent."""
    async with h.core.db.session() as session:
        pending = (await session.exec(select(Outbox).where(Outbox.status != "sent"))).all()
    for row in pending:
        start = row.payload["text"][:60]
        await h.fake.wait_for_message(int(row.chat_id), lambda m, s=start: m.get("text", m.get("caption", ""))
                                      .startswith(s), after=0)
    await h.bot.sender.stop()
    async with h.core.db.session() as session:
        statuses = Counter((await session.exec(select(Outbox.status))).all())
    assert set(statuses) <= {"sent"}, statuses
    h.bot.sender.start()


async def test_a_day_of_reminders_lists_and_report_over_telegram(harness: Harness) -> None:
    h, fake = harness, harness.fake
    fake.user(HOA, "Hoa", "vi")
    fake.user(CUONG, "Cường", "vi")
    h.clock.set_local(at(7))
    await bind_group_via_telegram(h)
    await register_via_telegram(fake, CITIZEN, "Nguyễn Văn An")
    await register_via_telegram(fake, HOA, "Lê Thị Hoa", phone="0987 654 321")
    await register_via_telegram(fake, CUONG, "Phạm Văn Cường", phone="0901 111 222")
    h.clock.set_local(at(7, 30))
    await checkin_via_telegram(fake, CITIZEN)

    # 08:00: the reminder round. Only the two who have not declared get one, with its button.
    assert (await tick(h, at(8)))["remind"] == 2
    reminder = await fake.wait_for_message(HOA, lambda m: REMIND in m["text"])
    assert "Lê Thị Hoa" in reminder["text"] and "08:00" in reminder["text"]
    await fake.wait_for_message(CUONG, lambda m: REMIND in m["text"])
    await all_delivered(h)
    assert count(fake, CITIZEN, REMIND) == 0
    assert (await tick(h, at(8, 1)))["remind"] == 0

    # The button starts the check-in; Hoa stops half-way and stays silent.
    msg, data = newest_button(fake, HOA, "Khai báo sức khỏe")
    after = len(fake.sent(HOA))
    await fake.press(HOA, msg, data)
    await fake.wait_for_message(HOA, lambda m: "Nhiệt độ cơ thể" in m["text"], after=after)
    await say(fake, HOA, "/huy", "Đã dừng")

    # 10:00, the chase round, with a restart in the middle: the old process queued the chases and stopped
    # before its sender delivered them; the new process ticks the same round again.
    await h.bot.sender.stop()
    assert (await tick(h, at(10)))["remind"] == 2
    await h.restart()
    assert (await tick(h, at(10)))["remind"] == 0
    assert (await tick(h, at(10, 1)))["remind"] == 0
    await fake.wait_for_message(HOA, lambda m: CHASE in m["text"])
    await fake.wait_for_message(CUONG, lambda m: CHASE in m["text"])
    await all_delivered(h)

    # 12:00: the station group's list of the silent, with phones.
    assert (await tick(h, at(12)))["silent"] == 1
    silent = await fake.wait_for_message(GROUP, lambda m: "chưa khai báo" in m["text"])
    assert "2 người chưa khai báo" in silent["text"]
    for shown in ("Lê Thị Hoa", "0987654321", "Phạm Văn Cường", "0901111222"):
        assert shown in silent["text"], shown
    assert "Nguyễn Văn An" not in silent["text"]

    # 15:00: the afternoon reminders, this time with a restart while the sender is delivering them.
    await tick(h, at(15))
    await fake.wait_for_message(HOA, lambda m: REMIND in m["text"] and "15:00" in m["text"])
    await h.restart()
    await tick(h, at(15, 1))
    for chat in (CITIZEN, HOA, CUONG):
        await fake.wait_for_message(chat, lambda m: REMIND in m["text"] and "15:00" in m["text"], after=0)
    await all_delivered(h)

    # 17:30: the daily report, text and chart.
    assert (await tick(h, at(17, 30)))["report"] == 1
    report = await fake.wait_for_message(GROUP, lambda m: "Báo cáo ngày" in m["text"])
    assert "Phường Pleiku" in report["text"] and "• Đang cách ly: 3 người" in report["text"]
    assert "• Đã khai báo hôm nay: 1" in report["text"]
    photo = await fake.wait_for_call("sendPhoto", lambda p: str(p["chat_id"]) == str(GROUP))
    assert "Biểu đồ 14 ngày" in photo["caption"]
    [chart] = [m for m in fake.sent(GROUP) if "photo" in m]
    assert chart["content"].startswith(b"\x89PNG") and len(chart["content"]) > 10_000
    await tick(h, at(17, 31))
    await all_delivered(h)

    # Each message went out once, across both restarts (at 17:30 the afternoon's second reminder was due too).
    for chat in (HOA, CUONG):
        assert len([text for text in texts_to(fake, chat) if text.startswith("⏰")]) == 4
        for slot in ("08:00", "15:00"):
            assert count(fake, chat, f"{REMIND} sức khỏe (buổi {slot})") == 1
            assert count(fake, chat, f"{CHASE}: {NAMES[chat]} vẫn chưa khai báo sức khỏe buổi {slot}") == 1
    assert [count(fake, CITIZEN, REMIND), count(fake, CITIZEN, CHASE)] == [1, 1]  # the afternoon only
    assert count(fake, GROUP, "chưa khai báo") == 1 and count(fake, GROUP, "Báo cáo ngày") == 1
    assert len([p for _, p in fake.calls("sendPhoto") if str(p["chat_id"]) == str(GROUP)]) == 1


async def test_a_late_start_catches_up_with_one_reminder(harness: Harness) -> None:
    h, fake = harness, harness.fake
    h.clock.set_local(at(6))
    await register_via_telegram(fake, CITIZEN, "Nguyễn Văn An")
    await h.stop()  # down from 06:00 to 10:30, past the time of the second reminder
    h.clock.set_local(at(10, 30))
    await h.start()
    assert (await tick(h, at(10, 30)))["remind"] == 1
    chase = await fake.wait_for_message(CITIZEN, lambda m: CHASE in m["text"])
    assert "Nguyễn Văn An" in chase["text"]
    await all_delivered(h)
    assert count(fake, CITIZEN, REMIND) == 0 and count(fake, CITIZEN, CHASE) == 1
