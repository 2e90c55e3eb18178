"""The scheduler's sweeps: reminders, chasing the silent, missed days, the last day, catch-up, two processes.

Time is the test's clock; a round is a `Scheduler(core).tick()` at a moment the test chose.
"""
from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.engine import make_url

from bot.settings import SettingsError, load_settings
from health.rules import load_rules
from locales import t
from scheduler.runner import Scheduler
from services.env import Core
from storage.db import Database
from storage.migrate import downgrade, upgrade
from storage.models import Alert, Claim, Declaration, Outbox, Person
from tests.conftest import TZ, Clock, seed_stations
from tests.factories import (
    TODAY,
    add_declaration,
    add_person,
    at,
    bind_group,
    buttons,
    sent_to,
    texts,
    tick,
)
from tests.steps import add_dependent, checkin, declare, register_at, rows, vi

POSTGRES_URL = os.environ.get("CACHLY_TEST_POSTGRES_URL")


# --- reminder rounds: people in each state ------------------------------------------------------------------


async def test_an_active_person_without_a_declaration_is_reminded_once_at_the_slot(core: Core, clock: Clock) -> None:
    await register_at(core, clock, "100", "Nguyễn Văn An", at(7))
    [person] = await rows(core, Person)
    await tick(core, clock, at(7, 59))
    assert await sent_to(core, "100") == []
    await tick(core, clock, at(8))
    await tick(core, clock, at(8, 1))
    [reminder] = await sent_to(core, "100")
    assert reminder.payload["text"] == vi("remind.remind", slot="08:00", names="Nguyễn Văn An")
    assert buttons(reminder) == [(vi("menu.checkin"), f"go:checkin:{person.id}")]
    assert reminder.status == "pending" and reminder.alert_id is None


async def test_an_english_account_is_reminded_in_english(core: Core, clock: Clock) -> None:
    person = await add_person(core, "John Smith", "301", language="en")
    await tick(core, clock, at(8))
    [reminder] = await sent_to(core, "301")
    assert reminder.payload["text"] == t("en", "remind.remind", slot="08:00", names="John Smith")
    assert buttons(reminder) == [(t("en", "menu.checkin"), f"go:checkin:{person.id}")]


async def test_the_reminder_button_starts_the_checkin(core: Core, clock: Clock) -> None:
    chat = await register_at(core, clock, "100", "Nguyễn Văn An", at(7))
    await tick(core, clock, at(8))
    [reminder] = await sent_to(core, "100")
    await chat.send(button=buttons(reminder)[0][1], message_id="5")
    assert "Nhiệt độ" in chat.text(), chat.text()
    await declare(chat)
    assert "Đã ghi nhận" in chat.text()
    await tick(core, clock, at(10))  # declared: no second reminder
    assert len(await sent_to(core, "100")) == 1


async def test_a_person_who_declared_for_the_slot_is_not_reminded(core: Core, clock: Clock) -> None:
    chat = await register_at(core, clock, "100", "Nguyễn Văn An", at(7))
    clock.set_local(at(7, 30))
    await checkin(chat)  # before the first slot: counts for the 08:00 slot
    [declaration] = await rows(core, Declaration)
    assert (declaration.day, declaration.slot) == (TODAY, "08:00")
    for moment in (at(8), at(10), at(12), at(14, 59)):
        await tick(core, clock, moment)
    assert await sent_to(core, "100") == []
    await tick(core, clock, at(15))  # the afternoon slot is a new one
    assert texts(await sent_to(core, "100")) == [vi("remind.remind", slot="15:00", names="Nguyễn Văn An")]


async def test_people_before_or_after_their_quarantine_are_not_reminded(core: Core, clock: Clock) -> None:
    await add_person(core, "Chưa Bắt Đầu", "201", start=TODAY + timedelta(days=1))
    await add_person(core, "Đã Xong", "202", start=TODAY - timedelta(days=14), end=TODAY - timedelta(days=1),
                     status="completed")
    await add_person(core, "Hết Hạn Hôm Qua", "203", start=TODAY - timedelta(days=14),
                     end=TODAY - timedelta(days=1))  # not closed yet when the bot was down
    await add_person(core, "Đang Cách Ly", "204", start=TODAY - timedelta(days=3))
    await tick(core, clock, at(8))
    assert await sent_to(core, "201") == [] and await sent_to(core, "202") == []
    assert texts(await sent_to(core, "203")) == [
        vi("closing.message", name="Hết Hạn Hôm Qua", days=14)]  # closed at once, never reminded
    assert len(await sent_to(core, "204")) == 1


async def test_a_household_gets_one_reminder_naming_who_is_still_due(core: Core, clock: Clock) -> None:
    chat = await register_at(core, clock, "100", "Nguyễn Văn An", at(7))
    await add_dependent(chat, "Trần Thị Bình")
    clock.set_local(at(7, 58))
    await checkin(chat, who="Trần Thị Bình")
    await tick(core, clock, at(8))
    [morning] = await sent_to(core, "100")
    assert morning.payload["text"] == vi("remind.remind", slot="08:00", names="Nguyễn Văn An")
    await tick(core, clock, at(15))
    [_, afternoon] = await sent_to(core, "100")
    assert afternoon.payload["text"] == vi("remind.remind", slot="15:00", names="Nguyễn Văn An, Trần Thị Bình")
    assert buttons(afternoon) == [(vi("menu.checkin"), "go:checkin")]  # both due: the check-in asks who
    await chat.send(button="go:checkin", message_id="9")
    assert "Khai báo cho ai?" in chat.text(), chat.text()


async def test_the_afternoon_slot_has_its_own_reminder_and_chase(core: Core, clock: Clock) -> None:
    chat = await register_at(core, clock, "100", "Nguyễn Văn An", at(7))
    await tick(core, clock, at(8))
    clock.set_local(at(8, 10))
    await checkin(chat)
    for moment in (at(10), at(14, 59)):
        await tick(core, clock, moment)
    assert len(await sent_to(core, "100")) == 1
    await tick(core, clock, at(15))
    await tick(core, clock, at(16, 59))
    await tick(core, clock, at(17))
    assert texts(await sent_to(core, "100"))[1:] == [
        vi("remind.remind", slot="15:00", names="Nguyễn Văn An"),
        vi("remind.chase", slot="15:00", names="Nguyễn Văn An"),
    ]


async def test_a_personal_reminder_time_moves_the_reminder(core: Core, clock: Clock) -> None:
    chat = await register_at(core, clock, "100", "Nguyễn Văn An", at(7))
    await chat.say("/nhacnho")
    await chat.press("buổi 1")
    await chat.say("9:00")
    assert chat.text() == vi("reminders.saved", times="09:00, 15:00")
    await tick(core, clock, at(8))
    await tick(core, clock, at(8, 59))
    assert await sent_to(core, "100") == []
    await tick(core, clock, at(9))
    assert texts(await sent_to(core, "100")) == [vi("remind.remind", slot="08:00", names="Nguyễn Văn An")]
    await tick(core, clock, at(10, 59))  # the chase counts from the person's own time
    assert len(await sent_to(core, "100")) == 1
    await tick(core, clock, at(11))
    assert texts(await sent_to(core, "100"))[1] == vi("remind.chase", slot="08:00", names="Nguyễn Văn An")


async def test_registering_after_the_reminder_time_counts_as_the_first_reminder(core: Core, clock: Clock) -> None:
    await register_at(core, clock, "100", "Nguyễn Văn An", at(9, 30))  # "Đăng ký xong" offers the check-in
    await tick(core, clock, at(9, 30))
    await tick(core, clock, at(11, 29))
    assert await sent_to(core, "100") == []
    await tick(core, clock, at(11, 30))  # N1 after registering
    await tick(core, clock, at(14, 59))
    assert texts(await sent_to(core, "100")) == [vi("remind.chase", slot="08:00", names="Nguyễn Văn An")]
    await register_at(core, clock, "101", "Lê Thị Hoa", at(14))
    await tick(core, clock, at(14, 30))
    await tick(core, clock, at(15))  # the afternoon slot as for everyone; the morning's chase would come too late
    assert texts(await sent_to(core, "101")) == [vi("remind.remind", slot="15:00", names="Lê Thị Hoa")]


async def test_a_dependent_added_after_the_reminder_is_not_reminded_at_once(core: Core, clock: Clock) -> None:
    chat = await register_at(core, clock, "100", "Nguyễn Văn An", at(7))
    await tick(core, clock, at(8))
    clock.set_local(at(8, 30))
    await add_dependent(chat, "Trần Thị Bình")
    await tick(core, clock, at(8, 31))
    await tick(core, clock, at(10))
    await tick(core, clock, at(10, 30))
    assert texts(await sent_to(core, "100")) == [
        vi("remind.remind", slot="08:00", names="Nguyễn Văn An"),
        vi("remind.chase", slot="08:00", names="Nguyễn Văn An"),
        vi("remind.chase", slot="08:00", names="Trần Thị Bình"),
    ]


# --- chasing silence ------------------------------------------------------------------------------------------


async def test_the_second_reminder_comes_exactly_n1_minutes_after_the_slot(core: Core, clock: Clock) -> None:
    assert core.rules.schedule.chase_after_minutes == 120
    await register_at(core, clock, "100", "Nguyễn Văn An", at(7))
    await tick(core, clock, at(8))
    await tick(core, clock, at(9, 59))
    assert len(await sent_to(core, "100")) == 1
    await tick(core, clock, at(10))
    await tick(core, clock, at(10, 1))
    await tick(core, clock, at(14, 59))
    assert texts(await sent_to(core, "100")) == [vi("remind.remind", slot="08:00", names="Nguyễn Văn An"),
                                                 vi("remind.chase", slot="08:00", names="Nguyễn Văn An")]


async def test_the_station_group_gets_one_list_of_the_silent_at_n2(core: Core, clock: Clock) -> None:
    clock.set_local(at(7))
    await bind_group(core, chat_id="-5001")
    an = await register_at(core, clock, "100", "Nguyễn Văn An", at(7), phone="0912 345 678")
    await register_at(core, clock, "101", "Lê Thị Hoa", at(7, 5), phone="0987 654 321")
    await register_at(core, clock, "102", "Phạm Văn Cường", at(7, 10), phone="0901 111 222")
    before = len(await sent_to(core, "-5001"))
    await tick(core, clock, at(8))
    clock.set_local(at(9))
    await checkin(an)
    await tick(core, clock, at(10))
    await register_at(core, clock, "103", "Mới Đăng Ký", at(10, 30), phone="0933 333 333")  # too new for the list
    await tick(core, clock, at(11, 59))
    assert len(await sent_to(core, "-5001")) == before
    await tick(core, clock, at(12))
    await tick(core, clock, at(12, 1))
    await tick(core, clock, at(14))
    [silent] = (await sent_to(core, "-5001"))[before:]
    lines = silent.payload["text"].split("\n")
    assert lines[0] == vi("silent.title", slot="08:00", station="Phường Pleiku", count=2)
    assert lines[1:] == [vi("silent.person", name="Lê Thị Hoa", phone="0987654321"),
                         vi("silent.person", name="Phạm Văn Cường", phone="0901111222")]
    assert await sent_to(core, "999") == []  # a bound station: the admins are not bothered


async def test_the_silent_list_leaves_out_who_chose_a_later_reminder_time(core: Core, clock: Clock) -> None:
    """At 12:00 the list names who had both reminders by then: a 9:00 reminder (chased at 11:00) is listed,
    a 10:30 one (chased at 12:30) is not late yet."""
    clock.set_local(at(7))
    await bind_group(core, chat_id="-5001")
    for chat_id, name, phone, chosen in (("100", "Nguyễn Văn An", "0912 345 678", "9:00"),
                                          ("101", "Lê Thị Hoa", "0987 654 321", "10:30")):
        chat = await register_at(core, clock, chat_id, name, at(7), phone=phone)
        await chat.say("/nhacnho")
        await chat.press("buổi 1")
        await chat.say(chosen)
    before = len(await sent_to(core, "-5001"))
    for hour in (8, 9, 10, 11, 12):
        await tick(core, clock, at(hour))
    [silent] = (await sent_to(core, "-5001"))[before:]
    assert silent.payload["text"].split("\n") == [
        vi("silent.title", slot="08:00", station="Phường Pleiku", count=1),
        vi("silent.person", name="Nguyễn Văn An", phone="0912345678")]


async def test_an_unbound_station_sends_the_silent_list_to_the_admins(core: Core, clock: Clock) -> None:
    await add_person(core, "Lê Thị Hoa", "101", phone="0987654321")
    await tick(core, clock, at(12))
    [silent] = await sent_to(core, "999")
    assert "Lê Thị Hoa" in silent.payload["text"] and "0987654321" in silent.payload["text"]


async def test_a_long_silent_list_is_split_into_messages_a_chat_app_accepts(core: Core, clock: Clock) -> None:
    for i in range(150):
        await add_person(core, f"Nguyễn Thị Người Thứ {i:03d}", str(3000 + i), phone=f"0912{i:06d}")
    await tick(core, clock, at(12))
    messages = texts(await sent_to(core, "999"))
    assert len(messages) > 1
    title = vi("silent.title", slot="08:00", station="Phường Pleiku", count=150)
    listed = []
    for text in messages:
        assert len(text.encode("utf-16-le")) // 2 <= 4096
        first, *lines = text.split("\n")
        assert first == title
        listed += lines
    assert listed == [vi("silent.person", name=f"Nguyễn Thị Người Thứ {i:03d}", phone=f"0912{i:06d}")
                      for i in range(150)]
    await tick(core, clock, at(12, 1))
    assert len(await sent_to(core, "999")) == len(messages)


async def test_nothing_is_sent_for_a_slot_that_has_closed(core: Core, clock: Clock) -> None:
    await add_person(core, "Lê Thị Hoa", "101", start=TODAY - timedelta(days=1))
    await add_declaration(core, (await rows(core, Person))[0], TODAY - timedelta(days=1), "15:00")
    await tick(core, clock, at(15))  # the first tick of the day: the morning slot has closed
    await tick(core, clock, at(15, 1))
    assert texts(await sent_to(core, "101")) == [vi("remind.remind", slot="15:00", names="Lê Thị Hoa")]
    assert await sent_to(core, "999") == []  # no morning list of the silent at 15:00 either
    claims = await rows(core, Claim)
    assert [(c.kind, c.slot) for c in claims if c.kind != "purge"] == [("remind", "15:00")]  # the purge: daily


async def test_two_missed_days_raise_one_silent_alert(core: Core, clock: Clock) -> None:
    silent = await add_person(core, "Lê Thị Hoa", "101", start=TODAY - timedelta(days=5), phone="0987654321")
    declared = await add_person(core, "Đã Khai Hôm Qua", "102", start=TODAY - timedelta(days=5))
    await add_declaration(core, declared, TODAY - timedelta(days=1), "15:00")
    declared_before = await add_person(core, "Khai Hôm Kia", "103", start=TODAY - timedelta(days=5))
    await add_declaration(core, declared_before, TODAY - timedelta(days=2), "08:00")
    started_yesterday = await add_person(core, "Mới Bắt Đầu", "104", start=TODAY - timedelta(days=1))
    await add_person(core, "Đã Xong", "105", start=TODAY - timedelta(days=10), end=TODAY + timedelta(days=3),
                     status="completed")

    await tick(core, clock, at(0, 1))
    await tick(core, clock, at(7, 59))
    assert await rows(core, Alert) == []  # the station is asked to phone people by day, not at midnight
    await tick(core, clock, at(8))
    await tick(core, clock, at(12))
    [alert] = await rows(core, Alert)
    assert (alert.person_id, alert.tier, alert.status) == (silent.id, "silent", "open")
    [posted] = await rows(core, Outbox, Outbox.alert_id == alert.id)
    assert posted.chat_id == "999"
    assert vi("alert.title.silent") in posted.payload["text"] and "0987654321" in posted.payload["text"]
    assert vi("alert.missed", days=5) in posted.payload["text"]  # silent since her start, 5 days ago
    assert [data for _, data in buttons(posted)] == [
        f"alert:ack:{alert.id}", f"alert:done:{alert.id}"]

    tomorrow = TODAY + timedelta(days=1)
    await tick(core, clock, at(8, day=tomorrow))  # the next day: whoever missed the last two whole days
    await tick(core, clock, at(9, day=tomorrow))
    later = (await rows(core, Alert))[1:]  # not Lê Thị Hoa again: one alert per silent spell
    assert sorted(a.person_id for a in later) == sorted([declared_before.id, started_yesterday.id])


# --- the last day -------------------------------------------------------------------------------------------


async def test_the_last_day_closes_at_the_closing_time(core: Core, clock: Clock) -> None:
    person = await add_person(core, "Lê Thị Hoa", "101", start=TODAY - timedelta(days=13), end=TODAY)
    await add_declaration(core, person, TODAY, "08:00")
    await add_declaration(core, person, TODAY, "15:00")
    await tick(core, clock, at(16, 59))
    assert [p.status for p in await rows(core, Person)] == ["active"]
    assert await sent_to(core, "101") == []
    await tick(core, clock, at(17))
    await tick(core, clock, at(17, 1))
    assert [p.status for p in await rows(core, Person)] == ["completed"]
    [closing] = await sent_to(core, "101")
    assert closing.payload["text"] == vi("closing.message", name="Lê Thị Hoa", days=14)
    assert "14 ngày" in closing.payload["text"] and "115" not in closing.payload["text"]  # 115: danger only
    await tick(core, clock, at(8, day=TODAY + timedelta(days=1)))  # completed: no reminder the next day
    assert len(await sent_to(core, "101")) == 1


async def test_a_quarantine_that_ended_while_the_bot_was_down_is_closed_at_once(core: Core, clock: Clock) -> None:
    await add_person(core, "Lê Thị Hoa", "101", start=TODAY - timedelta(days=16), end=TODAY - timedelta(days=2))
    await tick(core, clock, at(6))
    assert [p.status for p in await rows(core, Person)] == ["completed"]
    assert texts(await sent_to(core, "101")) == [vi("closing.message", name="Lê Thị Hoa", days=14)]


async def test_an_end_date_changed_by_staff_is_honoured(core: Core, clock: Clock) -> None:
    extended = await add_person(core, "Gia Hạn", "101", start=TODAY - timedelta(days=13), end=TODAY)
    early = await add_person(core, "Kết Thúc Sớm", "102", start=TODAY - timedelta(days=3),
                             end=TODAY + timedelta(days=10))
    async with core.db.session() as session:
        await session.exec(update(Person).where(Person.id == extended.id).values(end_date=TODAY + timedelta(days=7)))
        await session.exec(update(Person).where(Person.id == early.id).values(end_date=TODAY - timedelta(days=1)))
    await tick(core, clock, at(17))
    statuses = {p.full_name: p.status for p in await rows(core, Person)}
    assert statuses == {"Gia Hạn": "active", "Kết Thúc Sớm": "completed"}
    assert not any("ngày cuối" in text for text in texts(await sent_to(core, "101")))
    assert texts(await sent_to(core, "102")) == [vi("closing.message", name="Kết Thúc Sớm", days=14)]
    await tick(core, clock, at(17, day=TODAY + timedelta(days=7)))
    assert [p.status for p in await rows(core, Person)] == ["completed", "completed"]


# --- catch-up after downtime ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("first_tick", "expected"), [
    (at(9, 15), [("remind.remind", "08:00")]),  # the slot is still open: the reminder goes out late
    (at(10, 30), [("remind.chase", "08:00")]),  # past N1: only the second reminder, not both
    (at(15, 30), [("remind.remind", "15:00")]),  # the morning slot closed: nothing stale
])
async def test_catch_up_after_downtime(core: Core, clock: Clock, first_tick: datetime,
                                       expected: list[tuple[str, str]]) -> None:
    await add_person(core, "Lê Thị Hoa", "101", start=TODAY - timedelta(days=1))
    await tick(core, clock, first_tick)
    await tick(core, clock, first_tick + timedelta(minutes=1))
    assert texts(await sent_to(core, "101")) == [vi(key, slot=slot, names="Lê Thị Hoa") for key, slot in expected]


async def test_after_a_late_chase_the_afternoon_continues_normally(core: Core, clock: Clock) -> None:
    await add_person(core, "Lê Thị Hoa", "101")
    await tick(core, clock, at(10, 30))
    await tick(core, clock, at(12))
    await tick(core, clock, at(15))
    await tick(core, clock, at(17))
    assert texts(await sent_to(core, "101")) == [
        vi("remind.chase", slot="08:00", names="Lê Thị Hoa"),
        vi("remind.remind", slot="15:00", names="Lê Thị Hoa"),
        vi("remind.chase", slot="15:00", names="Lê Thị Hoa"),
    ]


# --- two schedulers on one database ----------------------------------------------------------------------------


async def _two_schedulers_remind_each_person_once(url: str, clock: Clock) -> None:
    seeding = Core(Database(url), load_rules(), TZ, admin_chats=[("telegram", "999")], clock=clock)
    for i in range(50):
        await add_person(seeding, f"Người {i:02d}", str(1000 + i), start=TODAY - timedelta(days=1))
    await seeding.db.dispose()
    cores = [Core(Database(url), load_rules(), TZ, admin_chats=[("telegram", "999")], clock=clock) for _ in range(2)]
    try:
        for moment in (at(8), at(8, 1), at(10), at(12)):
            clock.set_local(moment)
            results = await asyncio.gather(*(Scheduler(c).tick() for c in cores))
            for result in results:
                assert set(result.values()) <= set(range(51)), result
        outbox = await rows(cores[0], Outbox)
        per_chat = Counter(m.chat_id for m in outbox)
        assert per_chat == {**{str(1000 + i): 2 for i in range(50)}, "999": 1}, per_chat
        for i in range(50):
            assert texts([m for m in outbox if m.chat_id == str(1000 + i)]) == [
                vi("remind.remind", slot="08:00", names=f"Người {i:02d}"),
                vi("remind.chase", slot="08:00", names=f"Người {i:02d}")]
        [silent] = [m for m in outbox if m.chat_id == "999"]
        assert silent.payload["text"].count("Người ") == 50
    finally:
        for c in cores:
            await c.db.dispose()


async def test_two_schedulers_on_one_sqlite_file_remind_each_person_once(core: Core, db_url: str,
                                                                          clock: Clock) -> None:
    await _two_schedulers_remind_each_person_once(db_url, clock)


async def _pg_admin(url: str):
    import asyncpg

    parsed = make_url(url)
    return await asyncpg.connect(user=parsed.username, password=parsed.password, host=parsed.host,
                                 port=parsed.port or 5432, database=parsed.database or "postgres")


async def test_two_schedulers_on_one_postgresql_database_remind_each_person_once(clock: Clock) -> None:
    if not POSTGRES_URL:
        pytest.skip("set CACHLY_TEST_POSTGRES_URL=postgresql+asyncpg://... to run the two schedulers on PostgreSQL")
    # A database of its own on that server: other test runs may share the one in the URL.
    name = f"cachly_sched_{uuid.uuid4().hex[:12]}"
    admin = await _pg_admin(POSTGRES_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        await upgrade(url)
        await seed_stations(url)
        await _two_schedulers_remind_each_person_once(url, clock)
    finally:
        try:
            await downgrade(url)
        finally:
            admin = await _pg_admin(POSTGRES_URL)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()


# --- settings ----------------------------------------------------------------------------------------------------


def test_schedule_settings_override_the_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SLOTS", "CHASE_AFTER_MINUTES", "STATION_AFTER_MINUTES", "REPORT_TIME", "CLOSING_TIME"):
        monkeypatch.delenv(f"CACHLY_{var}", raising=False)
    settings = load_settings(slots="10:00, 16:00", chase_after_minutes=5, station_after_minutes=9,
                             report_time="18:05", closing_time="16:30")
    rules = load_rules(settings.rules_file, settings.rules_overrides())
    assert [s.strftime("%H:%M") for s in rules.slots] == ["10:00", "16:00"]
    s = rules.schedule
    assert (s.chase_after_minutes, s.station_after_minutes) == (5, 9)
    assert (s.report_time.strftime("%H:%M"), s.closing_time.strftime("%H:%M")) == ("18:05", "16:30")
    defaults = load_rules(None, load_settings().rules_overrides())
    assert [t.strftime("%H:%M") for t in defaults.slots] == ["08:00", "15:00"]
    assert defaults.schedule.chase_after_minutes == 120 and defaults.schedule.station_after_minutes == 240


def test_schedule_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CACHLY_SLOTS", "07:30,13:45")
    monkeypatch.setenv("CACHLY_CHASE_AFTER_MINUTES", "3")
    settings = load_settings()
    rules = load_rules(settings.rules_file, settings.rules_overrides())
    assert [s.strftime("%H:%M") for s in rules.slots] == ["07:30", "13:45"]
    assert rules.schedule.chase_after_minutes == 3


@pytest.mark.parametrize(("overrides", "variable"), [
    ({"slots": "25:00"}, "CACHLY_SLOTS"),
    ({"slots": "8h"}, "CACHLY_SLOTS"),
    ({"chase_after_minutes": "abc"}, "CACHLY_CHASE_AFTER_MINUTES"),
    ({"chase_after_minutes": 0}, "CACHLY_CHASE_AFTER_MINUTES"),
    ({"station_after_minutes": -5}, "CACHLY_STATION_AFTER_MINUTES"),
    ({"report_time": "17:3"}, "CACHLY_REPORT_TIME"),
    ({"closing_time": "noon"}, "CACHLY_CLOSING_TIME"),
])
def test_a_bad_schedule_setting_names_its_variable(overrides: dict, variable: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(**overrides)
    assert str(raised.value).startswith(f"{variable}:"), str(raised.value)
    assert "\n" not in str(raised.value)


async def test_short_trial_settings_drive_the_rounds(db_url: str, clock: Clock, core: Core) -> None:
    """A trial run: slots a few minutes ahead and minutes for N1, N2 (what the issue's 'done when' asks)."""
    settings = load_settings(slots="09:35,16:00", chase_after_minutes=5, station_after_minutes=10,
                             database_url=db_url)
    trial = Core(Database(db_url), load_rules(None, settings.rules_overrides()), TZ,
                 admin_chats=[("telegram", "999")], clock=clock)
    try:
        await add_person(trial, "Lê Thị Hoa", "101")
        counts = []
        for minute in (34, 35, 39, 40, 44, 45, 46):
            await tick(trial, clock, at(9, minute))
            counts.append((len(await sent_to(trial, "101")), len(await sent_to(trial, "999"))))
        assert counts == [(0, 0), (1, 0), (1, 0), (2, 0), (2, 0), (2, 1), (2, 1)]
    finally:
        await trial.db.dispose()
