"""kill -9 of the bot process, then a restart (issue 5): nothing lost, no reminder twice, conversations resume.

The bot is the real `python -m bot.cli run` in a process of its own, polling a FakeBotAPI that runs in the test,
on a SQLite file, with the real clock. The test kills it with SIGKILL at chosen moments (the fake tells when)
and starts it again; nothing in the bot knows it is tested.

Time zone: the process runs in a whole-hour zone where it is now about noon (Etc/GMT±N), so that a check-in slot
can begin "now" and stay open for hours whatever the hour of the test run; people start quarantine today there.

One thing the test does on the bot's behalf: after a kill, the outbox rows the dead process had claimed keep their
lease for two minutes (OutboxSender's lease) before another sender may take them. The test runs those leases
out at once, as if two minutes had passed, rather than wait.

At-least-once, measured: a row Telegram delivered just before the kill, but that the dead process had not yet
recorded as sent, is sent again after the restart: the Bot API has no idempotency key, so no sender can know.
The tests count such rows at each kill (they are exactly the rows left `sending` whose text the fake shows
delivered) and allow a second copy only of those.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, update
from sqlmodel import select

from locales import t
from storage.db import Database
from storage.models import Account, Alert, Declaration, GroupBinding, Outbox, Person, ProcessedUpdate
from tests.conftest import _PERSONAL, Templates, sqlite_url
from tests.factories import station_id
from tests.fake_bot_api import JSON, FakeBotAPI

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")
ADMIN = 999
GROUP = -100_555_001
START_TIMEOUT = 60.0  # a cold start imports python-telegram-bot, SQLAlchemy and migrates: seconds on a slow box
REMINDER = t("vi", "remind.remind", slot="", names="").split("(")[0].strip()  # "⏰ Đến giờ khai báo sức khỏe"


# --- the world: a zone where it is noon, a database, the fake, and the bot process ---------------------------


def noon_zone() -> ZoneInfo:
    """A whole-hour zone where it is now 12:xx."""
    offset = 12 - datetime.now(UTC).hour  # -11 .. +12, all of which exist as Etc/GMT zones
    return ZoneInfo("Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}")  # sic


class BotProcess:
    """`python -m bot.cli run` against the fake, in a process of its own: started, killed with SIGKILL, stopped."""

    def __init__(self, fake: FakeBotAPI, env: dict[str, str], log: Path) -> None:
        self.fake, self.env, self.log = fake, env, log
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def start(self) -> None:
        """Start it and wait until it polls (after a kill: once the dead process's poller lease ran out)."""
        polls = len(self.fake.calls("getUpdates"))
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "run", cwd=self.log.parent, env=self.env,
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log)
        self.starts += 1
        polled = await self.fake.wait_until(lambda: len(self.fake.calls("getUpdates")) > polls
                                            or self.process.returncode is not None, START_TIMEOUT)
        assert polled and self.process.returncode is None, f"the bot did not start:\n{self.tail()}"

    async def kill(self, killer: Callable[[int], T] | None = None) -> T | None:
        """SIGKILL, or `killer(pid)` run in a thread (it sends the SIGKILL when it sees fit); what it returned."""
        assert self.process is not None
        found = None
        if killer is None:
            os.kill(self.process.pid, signal.SIGKILL)
        else:
            found = await asyncio.to_thread(killer, self.process.pid)
        await self.process.wait()
        self.process = None
        return found

    async def stop(self) -> int:
        """SIGTERM, as systemd stops it: the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            code = await self.process.wait()
        self.process = None
        return code

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class World:
    fake: FakeBotAPI
    bot: BotProcess
    db: Database
    db_file: Path
    tz: ZoneInfo
    ambiguous: set[tuple[int, str]] = field(default_factory=set)  # delivered, not recorded as sent, at a kill
    kills: int = 0

    @property
    def today(self) -> date:
        return datetime.now(self.tz).date()

    async def kill(self, killer: Callable[[int], T] | None = None) -> T | None:
        """kill -9 (see BotProcess.kill), then note the rows the dead process had taken: those Telegram shows
        delivered will be sent again (at-least-once); and run out their leases, as two minutes later."""
        found = await self.bot.kill(killer)
        self.kills += 1
        delivered = self.fake.deliveries()
        async with self.db.session() as session:
            taken = (await session.exec(select(Outbox).where(Outbox.status == "sending"))).all()
            self.ambiguous |= {(int(r.chat_id), r.payload["text"]) for r in taken
                               if delivered[(int(r.chat_id), r.payload["text"])]}
            await session.exec(update(Outbox).where(Outbox.status == "sending")
                               .values(lease_until=datetime.now(UTC) - timedelta(seconds=1)))
        return found

    async def outbox(self) -> list[Outbox]:
        async with self.db.session() as session:
            return list((await session.exec(select(Outbox).order_by(Outbox.id))).all())

    async def when(self, condition: Callable[[list[Outbox]], bool], what: str, timeout: float = 60) -> None:
        """Poll the outbox (the bot process writes it) until `condition(rows)`."""
        for _ in range(int(timeout / 0.1)):
            rows = await self.outbox()
            if condition(rows):
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}: {Counter(r.status for r in rows)}\n{self.bot.tail()}")

    async def drained(self) -> list[Outbox]:
        """The outbox once nothing in it is pending or being sent."""
        await self.when(lambda rows: all(r.status in ("sent", "failed") for r in rows), "the outbox to drain")
        return await self.outbox()

    def assert_no_personal_data_logged(self) -> None:
        """The bot process's own log, like every test's (conftest): no names, phones, CCCD, free text."""
        for line in self.bot.log.read_text(errors="replace").splitlines():
            for pattern, what in _PERSONAL:
                assert not pattern.search(line), f"{what} in the bot's log: {line[:300]!r}"


async def make_world(tmp_path: Path, templates: Templates, tz: ZoneInfo, slots: str) -> AsyncIterator[World]:
    db_file = tmp_path / "cachly.db"
    url = templates.copy(sqlite_url(db_file))
    db = Database(url)
    fake = FakeBotAPI()
    await fake.start()
    fake.user(ADMIN, "Quản trị")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CACHLY_")}
    env.update(PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1", CACHLY_TELEGRAM_TOKEN=fake.token,
               CACHLY_TELEGRAM_BASE_URL=fake.base_url, CACHLY_DATABASE_URL=url, CACHLY_ADMIN_IDS=str(ADMIN),
               CACHLY_TIMEZONE=tz.key, CACHLY_SLOTS=slots,
               CACHLY_POLLER_LEASE_SECONDS="2")  # a restart polls within ~2 s of a kill, not 20
    world = World(fake, BotProcess(fake, env, tmp_path / "bot.log"), db, db_file, tz)
    try:
        yield world
    finally:
        if world.bot.process is not None:
            world.bot.process.kill()
            await world.bot.process.wait()
        await fake.stop()
        await db.dispose()


def kill_once_queued(db_file: Path, pid: int, timeout: float = 60) -> int:
    """SIGKILL the bot as soon as its outbox holds a message; how many it held. A thread of its own polling every
    2 ms with plain sqlite3, so that the kill lands before the sender has done anything with them even when the
    test's event loop is busy."""
    deadline = time.monotonic() + timeout
    with contextlib.closing(sqlite3.connect(db_file, timeout=10)) as db:
        while time.monotonic() < deadline:
            queued = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
            if queued:
                os.kill(pid, signal.SIGKILL)
                return queued
            time.sleep(0.002)
    raise AssertionError("the round queued nothing")


async def seed_people(world: World, first_user: int, count: int, station_id: int) -> list[int]:
    """People registered yesterday, in quarantine from today, each reporting for themself."""
    registered = datetime.now(UTC) - timedelta(days=1)
    users = list(range(first_user, first_user + count))
    async with world.db.engine.begin() as connection:
        ids = [(await connection.execute(insert(Account).values(
            channel="telegram", external_id=str(uid), language="vi", created_at=registered))).inserted_primary_key[0]
            for uid in users]
        await connection.execute(insert(Person), [
            {"account_id": account_id, "is_self": True, "full_name": f"Người Thử {uid}", "birth_year": 1980,
             "gender": "male", "phone": f"09{uid:08d}", "station_id": station_id, "address": "1 Lê Lợi",
             "category": "f1", "start_date": world.today, "end_date": world.today + timedelta(days=13),
             "status": "active", "consent_at": registered, "created_at": registered}
            for account_id, uid in zip(ids, users, strict=True)])
    for uid in users:
        world.fake.user(uid, f"U{uid}")
    return users


def reminders_per_chat(fake: FakeBotAPI) -> Counter[int]:
    counts: Counter[int] = Counter()
    for (chat, text), n in fake.deliveries().items():
        if text.startswith(REMINDER):
            counts[chat] += n
    return counts


def allowed_copies(world: World, chat: int, text: str) -> int:
    return 2 if (chat, text) in world.ambiguous else 1


# --- (a) in the middle of a reminder round -----------------------------------------------------------------

ROUND_PEOPLE = 300


@pytest.fixture
async def round_world(tmp_path: Path, templates: Templates) -> AsyncIterator[World]:
    tz = noon_zone()
    began = datetime.now(tz).strftime("%H:%M")  # the slot began this minute
    async for world in make_world(tmp_path, templates, tz, slots=began):
        yield world


async def test_kill_9_during_a_reminder_round_sends_each_reminder_once(round_world: World) -> None:
    world, fake = round_world, round_world.fake
    people = await seed_people(world, 400_000, ROUND_PEOPLE, await station_id(world.db))
    reminded = lambda: len(reminders_per_chat(fake))  # noqa: E731 - read at each check

    await world.bot.start()  # its first scheduler tick runs the round: it queues, in batches, and delivers
    # The round claims and queues in batches of up to 1,000 (scheduler.rounds), each in one transaction: a kill
    # before a batch's commit leaves no trace of it. Killed as soon as the first one is committed, before delivery.
    queued_at_kills = [await world.kill(partial(kill_once_queued, world.db_file))]
    await world.bot.start()
    assert await fake.wait_until(lambda: reminded() >= ROUND_PEOPLE // 2, 60), world.bot.tail()
    await world.kill()  # half way through delivery
    queued_at_kills.append(len(await world.outbox()))
    await world.bot.start()
    assert await fake.wait_until(lambda: reminded() >= ROUND_PEOPLE, 60), world.bot.tail()
    rows = await world.drained()
    assert await world.bot.stop() == 0

    # One reminder row per person (the claims held across both kills), every one sent; each person got it,
    # once, but for a row delivered in the instant before a kill and not yet recorded (at-least-once).
    # A sent row keeps no text: what it showed is read from the fake Bot API by its message id.
    assert {r.status for r in rows} == {"sent"}
    shown = {row.id: fake.text_of(int(row.chat_id), row.sent_message_id) for row in rows}
    reminder_rows = [r for r in rows if shown[r.id].startswith(REMINDER)]
    assert sorted(int(r.chat_id) for r in reminder_rows) == people
    counts = reminders_per_chat(fake)
    for row in reminder_rows:
        chat = int(row.chat_id)
        assert 1 <= counts[chat] <= allowed_copies(world, chat, shown[row.id]), chat
    twice = sum(n - 1 for n in counts.values())
    world.assert_no_personal_data_logged()
    print(f"\ncrash (a): {ROUND_PEOPLE} people, {world.kills} kills during the round (messages queued then: "
          f"{queued_at_kills}), {world.bot.starts} starts; "
          f"reminders delivered {sum(counts.values())}, sent twice {twice} "
          f"(rows delivered but not yet recorded at a kill: {len(world.ambiguous)}); lost 0")


# --- (b) in the middle of conversations ----------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One step of a conversation as a person sees it: the question (a part of its text), and their answer."""

    asks: str | None  # None: the opening command
    answer: str  # what they type, or the label of the button they press
    button: bool = False


def registration(name: str, phone: str) -> list[Step]:
    return [Step(None, "/start"), Step("Bạn có đồng ý không", "Đồng ý", True), Step("Họ và tên của bạn", name),
            Step("Bạn sinh năm nào", "1980"), Step("Giới tính của bạn", "Nam", True),
            Step("Số điện thoại của bạn", phone), Step("Số CCCD (căn cước", "Bỏ qua", True),
            Step("cách ly ở xã/phường nào", "pleiku"), Step("Bấm chọn xã/phường", "Phường Pleiku", True),
            Step("Địa chỉ nơi bạn cách ly", "12 Lê Lợi, tổ 3"), Step("diện cách ly nào", "F1", True),
            Step("bắt đầu cách ly tại nhà từ ngày nào", "Hôm nay", True),
            Step("Thông tin đăng ký của bạn", "Xác nhận", True)]


def checkin(temperature: str) -> list[Step]:
    return [Step(None, "/khaibao"), Step("Nhiệt độ cơ thể", temperature),
            Step("Có triệu chứng nào", "Không có triệu chứng", True),
            Step("máy đo nồng độ oxy", "Không có máy đo", True), Step("Đếm số lần thở", "Bỏ qua", True),
            Step("nhắn gì thêm", "Không có", True), Step("Đúng chưa?", "Đúng", True)]


REGISTERED, DECLARED = ("Đăng ký xong",), ("Đã ghi nhận khai báo", "CẦN HỖ TRỢ NGAY")
END = -1


class Persona:
    """A person going through a conversation by what the bot last asked them, as people do: after a silence,
    they answer the last question they saw again."""

    def __init__(self, fake: FakeBotAPI, uid: int, steps: list[Step], done: tuple[str, ...]) -> None:
        self.fake, self.uid, self.steps, self.done = fake, uid, steps, done
        self.silences = 0  # times they waited in vain for an answer, and answered again

    def position(self) -> tuple[int, JSON | None]:
        """The step whose question is the newest they saw (0: none yet), or END; and that message."""
        for msg in reversed(self.fake.sent(self.uid)):
            text = msg.get("text", "")
            if any(mark in text for mark in self.done):
                return END, msg
            for index in range(len(self.steps) - 1, 0, -1):  # later first: the summary repeats the questions
                if self.steps[index].asks in text:
                    return index, msg
        return 0, None

    def asked(self, msg: JSON) -> bool:
        text = msg.get("text", "")
        return any(mark in text for mark in self.done) or any(s.asks in text for s in self.steps[1:])

    async def answer(self, index: int, msg: JSON | None) -> None:
        step = self.steps[index]
        if step.button:
            assert msg is not None
            await self.fake.press(self.uid, msg, self.fake.button(msg, step.answer))
        else:
            await self.fake.send_text(self.uid, step.answer)

    async def step(self, timeout: float) -> int:
        """Answer the newest question and wait for the next one (or an answer again, after a silence)."""
        index, msg = self.position()
        after = len(self.fake.sent(self.uid))
        await self.answer(index, msg)
        try:
            await self.fake.wait_for_message(self.uid, self.asked, timeout=timeout, after=after)
        except AssertionError:
            self.silences += 1
        return self.position()[0]

    async def go(self, until: int | None = None, timeout: float = 20.0, max_steps: int = 40) -> None:
        """On until they see the question of step `until` (None: to the end)."""
        for _ in range(max_steps):
            index = self.position()[0]
            if index == END or index == until:
                return
            await self.step(timeout)
        raise AssertionError(f"{self.uid} stuck at step {self.position()[0]}:\n{self.fake._dump_chat(self.uid)}")


CONVERSATION_PEOPLE = 24  # registering, and as many registered people checking in
WATCH_EVERY = 3  # one check-in in three has a fever: an alert to the station's group
SEED = 5
STEP_TIMEOUT = 12.0  # longer than a restart: a person answers again only after a real silence
FAMILIES, MIDDLES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Phan"), ("Văn", "Thị", "Hữu", "Minh")
GIVEN = ("An", "Bình", "Cường", "Dũng", "Hoa", "Lan", "Mai", "Nam", "Phúc", "Quang", "Sơn", "Tâm")


def name(n: int) -> str:
    return f"{FAMILIES[n % 6]} {MIDDLES[n // 6 % 4]} {GIVEN[n // 24 % 12]}"


def temperature(n: int) -> str:
    return "38,4" if n % WATCH_EVERY == 0 else "36,8"


@pytest.fixture
async def talk_world(tmp_path: Path, templates: Templates) -> AsyncIterator[World]:
    # No reminder due: conversations only.
    async for world in make_world(tmp_path, templates, noon_zone(), slots="23:00"):
        yield world


async def processed_updates(world: World) -> set[int]:
    async with world.db.session() as session:
        return {int(u) for u in (await session.exec(select(ProcessedUpdate.update_id))).all()}


def bot_messages(fake: FakeBotAPI, chats: list[int]) -> Callable[[], int]:
    return lambda: sum(len(fake.sent(c)) for c in chats)


async def test_kill_9_in_the_middle_of_conversations_loses_nothing_and_they_resume(talk_world: World) -> None:
    world, fake, rng = talk_world, talk_world.fake, random.Random(SEED)
    pleiku = await station_id(world.db)
    async with world.db.session() as session:
        session.add(GroupBinding(station_id=pleiku, channel="telegram", chat_id=str(GROUP)))
    fake.group(GROUP, "Trạm Y tế Phường Pleiku")
    newcomers = list(range(500_000, 500_000 + CONVERSATION_PEOPLE))
    for uid in newcomers:
        fake.user(uid, f"U{uid}")
    registered = await seed_people(world, 600_000, CONVERSATION_PEOPLE, pleiku)
    people = ([Persona(fake, uid, registration(name(n), f"09{uid:08d}"), REGISTERED) for n, uid in enumerate(newcomers)]
              + [Persona(fake, uid, checkin(temperature(n)), DECLARED) for n, uid in enumerate(registered)])
    stops = {p.uid: rng.randint(1, len(p.steps) - 1) for p in people}
    rng.shuffle(people)
    waiting, moving = people[::2], people[1::2]
    await world.bot.start()

    # Everyone half way: each has answered some questions and sees the next one.
    await asyncio.gather(*(p.go(until=stops[p.uid], timeout=STEP_TIMEOUT) for p in people))
    # Then half of them carry on to the end, and the bot is killed while they are at it.
    count = bot_messages(fake, [p.uid for p in moving])
    before = count()
    going = [asyncio.create_task(p.go(timeout=STEP_TIMEOUT)) for p in moving]
    answers_left = sum(len(p.steps) - stops[p.uid] for p in moving)  # each gets at least one message back
    assert await fake.wait_until(lambda: count() >= before + answers_left // 3, 30), world.bot.tail()
    await world.kill()
    acted_before_kill = await processed_updates(world)
    await world.bot.start()

    # The others resume where they were: their answer to the question they saw gets the next question.
    async def resume(p: Persona) -> None:
        index, _ = p.position()
        assert index == stops[p.uid], (p.uid, index, stops[p.uid])
        after = await p.step(STEP_TIMEOUT)
        assert after == (index + 1 if index + 1 < len(p.steps) else END), (p.uid, index, after)
        await p.go(timeout=STEP_TIMEOUT)

    await asyncio.gather(*(resume(p) for p in waiting), *going)
    rows = await world.drained()
    assert await world.bot.stop() == 0

    async with world.db.session() as session:
        persons = {a.external_id: p for p, a in (await session.exec(
            select(Person, Account).join(Account, Account.id == Person.account_id))).all()}
        declared = list((await session.exec(select(Account.external_id, Declaration.temperature)
                                            .join(Declaration, Declaration.account_id == Account.id))).all())
        alerts = list((await session.exec(select(Alert))).all())

    # Every registration complete with what was given before the kill, once; every check-in stored once.
    for n, uid in enumerate(newcomers):
        person = persons[str(uid)]
        assert (person.full_name, person.birth_year, person.phone, person.station_id) == \
            (name(n), 1980, f"09{uid:08d}", pleiku), uid
    assert len(persons) == 2 * CONVERSATION_PEOPLE
    assert sorted(declared) == sorted((str(uid), float(temperature(n).replace(",", ".")))
                                      for n, uid in enumerate(registered))
    # Every alert raised reached the station's group (once, but at the at-least-once point).
    assert len(alerts) == sum(1 for n in range(CONVERSATION_PEOPLE) if n % WATCH_EVERY == 0)
    delivered = fake.deliveries()
    for row in (r for r in rows if r.alert_id is not None):
        assert row.status == "sent" and int(row.chat_id) == GROUP
        text = fake.text_of(GROUP, row.sent_message_id)  # the row keeps no text once sent
        assert 1 <= delivered[(GROUP, text)] <= allowed_copies(world, GROUP, text)
    world.assert_no_personal_data_logged()

    processed = await processed_updates(world)
    fetched = set(fake.fetches)
    lost = fetched - processed  # taken from Telegram, confirmed, and never acted on: the kill came first
    again = {u for u, n in fake.fetches.items() if n > 1}
    print(f"\ncrash (b): {len(people)} people in conversations ({len(waiting)} waiting, {len(moving)} chatting "
          f"at the kill); updates {len(fetched)}, fetched again after the kill {len(again)} (of which acted on "
          f"before the kill, then ignored: {len(again & acted_before_kill)}), "
          f"lost at the kill {len(lost)}; people who met a silence and answered again "
          f"{sum(1 for p in people if p.silences)}; alerts {len(alerts)}, "
          f"sent twice {sum(n - 1 for (c, _), n in delivered.items() if c == GROUP and n > 1)}")
