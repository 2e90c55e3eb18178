"""Faults at the Bot API while 1,000 people check in and a reminder round runs (issue 5).

The fake Bot API fails about 20 % of sendMessage calls at random (seeded): 429 with retry_after 1, 500,
timeouts (held past the client's read timeout, never carried out) and 403 "blocked by the user" for some
people who stay silent. Check-ins go straight to the core; everything that must not be lost goes out through
the REAL TelegramBot: its outbox sender, python-telegram-bot and HTTP to the fake. Then the sender is driven
until the outbox is drained, moving the test's clock past each retry time (no sleeping for retries).

Three settings keep real waiting small, none touching what is under test: python-telegram-bot's limiter gives
a 429 straight back (max_retries=0: the outbox retries it, at the time Telegram asked, on the test's clock; the
production setting, where the bot first waits a 429 out itself, is the second test), the bot waits 1 s for an
answer instead of 5 (a held request costs 1 s), and the overall pace (30 messages/s in the limiter, 25 in the
sender) is lifted: pacing is not what this test is about, and at 25/s the messages alone would take 45 s.
Per-group limits stay as in production.
"""
from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from aiolimiter import AsyncLimiter
from sqlalchemy import func, insert
from sqlmodel import select
from telegram.ext import AIORateLimiter

from bot.app import TelegramBot, build_core
from bot.settings import load_settings
from chat.messages import Incoming
from handlers.pipeline import handle
from locales import t
from services.alerts import GROUP_LANGUAGE, render_alert
from services.env import Core
from storage.models import Account, Alert, Declaration, GroupBinding, Outbox, Person
from storage.outbox import enqueue
from tests.conftest import Clock
from tests.fake_bot_api import FakeBotAPI

# python-telegram-bot warns at every 429 that retry_after becomes a timedelta (bot.telegram reads both)
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

PEOPLE = 1000
GROUPS = 50  # stations with a staff group; the people are spread over them
ADMIN = 999
FIRST_USER = 300_000
FIRST_GROUP = -100_900_000
SEED = 20261129
FAULT_RATE = 0.2
SILENT_EVERY = 10  # one person in ten never checks in: they are reminded, and some of them block the bot
DANGER, WATCH = 3, 5  # person number % SILENT_EVERY: an SpO2 of 92 (danger), a fever (watch)
SLOT = datetime(2026, 11, 29, 8, 0)
CHECKIN_WORKERS = 8
MAX_DRAIN_ROUNDS = 500


@dataclass
class Town:
    """The fake, the bot and its core, and who is who."""

    fake: FakeBotAPI
    bot: TelegramBot
    clock: Clock
    users: list[int]
    group_of_station: dict[int, int]

    @property
    def core(self) -> Core:
        return self.bot.core


def silent(uid: int) -> bool:
    return (uid - FIRST_USER) % SILENT_EVERY == 0


async def seed(core: Core, people: int) -> tuple[list[int], dict[int, int]]:
    """One staff group for each of the first GROUPS stations, and the people: registered yesterday."""
    registered = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    users = [FIRST_USER + i for i in range(people)]
    groups = {station: FIRST_GROUP - station for station in range(1, GROUPS + 1)}
    async with core.db.engine.begin() as connection:
        await connection.execute(insert(Account), [
            {"channel": "telegram", "external_id": str(uid), "language": "vi", "created_at": registered}
            for uid in users])
        await connection.execute(insert(Person), [
            {"account_id": n + 1, "is_self": True, "full_name": f"Người Thử {uid}", "birth_year": 1980,
             "gender": "male", "phone": f"09{uid:08d}", "station_id": 1 + n % GROUPS, "address": "1 Lê Lợi",
             "category": "f1", "start_date": date(2026, 11, 28), "end_date": date(2026, 12, 11),
             "status": "active", "consent_at": registered, "created_at": registered}
            for n, uid in enumerate(users)])
        await connection.execute(insert(GroupBinding), [
            {"scope": "station", "station_id": station, "channel": "telegram", "chat_id": str(chat),
             "bound_at": registered} for station, chat in groups.items()])
    return users, groups


@pytest.fixture
async def town(seeded_db_url: str) -> AsyncIterator[Town]:
    clock = Clock(SLOT)
    fake = FakeBotAPI()
    await fake.start()
    fake.user(ADMIN, "Quản trị")
    settings = load_settings(telegram_token=fake.token, telegram_base_url=fake.base_url,
                             database_url=seeded_db_url, admin_ids=[ADMIN])
    core = build_core(settings, clock=clock)
    users, groups = await seed(core, PEOPLE)
    for uid in users:
        fake.user(uid, f"U{uid}")
    for station, chat in groups.items():
        fake.group(chat, f"Trạm {station}")
    limiter = AIORateLimiter(overall_max_rate=0, max_retries=0)  # per-group limits stay as in production
    bot = TelegramBot(settings, core, poll_timeout=1, rate_limiter=limiter, read_timeout=1.0)
    bot.sender.pace = AsyncLimiter(400, 1)
    await bot.start()
    try:
        yield Town(fake, bot, clock, users, groups)
    finally:
        await bot.stop()
        await fake.stop()


# --- the people ----------------------------------------------------------------------------------------


def answers(uid: int) -> list[dict]:
    """A whole check-in as the person's inputs: temperature, symptoms, SpO2 (a low one measured again), breathing
    rate, note, the recap confirmed."""
    kind = (uid - FIRST_USER) % SILENT_EVERY
    spo2 = [{"text": "92"}, {"text": "92"}] if kind == DANGER else [{"button": "s:spo2:skip"}]
    return [{"text": "/khaibao"},
            {"text": "38,4" if kind == WATCH else "36,8"},
            {"button": "s:symptoms:none"},
            *spo2,
            {"button": "s:breathing:skip"},
            {"button": "s:note:skip"},
            {"button": "s:recap:right"}]


async def check_in(core: Core, uid: int) -> None:
    for fields in answers(uid):
        await handle(core, Incoming(channel="telegram", user_id=str(uid), chat_id=str(uid), chat_type="private",
                                   language_code="vi", user_name=f"U{uid}", message_id="1", **fields))


async def everyone_checks_in(core: Core, users: list[int], some_done: asyncio.Event) -> None:
    """All but the silent ones, a few at a time, in random order; `some_done` is set when a third have."""
    queue = [u for u in users if not silent(u)]
    random.Random(SEED).shuffle(queue)
    third = len(queue) * 2 // 3

    async def worker() -> None:
        while queue:
            await check_in(core, queue.pop())
            if len(queue) <= third:
                some_done.set()

    await asyncio.gather(*(worker() for _ in range(CHECKIN_WORKERS)))


async def reminder_round(town: Town, some_done: asyncio.Event) -> None:
    """The 08:00 round, once a third of the people have checked in, and again (it claims: nothing twice)."""
    await some_done.wait()
    await town.bot.scheduler.tick()
    await town.bot.scheduler.tick()


# --- the outbox ------------------------------------------------------------------------------------------


async def outbox_rows(core: Core) -> list[Outbox]:
    async with core.db.session() as session:
        return list((await session.exec(select(Outbox).order_by(Outbox.id))).all())


async def next_retry(core: Core) -> datetime | None:
    async with core.db.session() as session:
        query = select(func.min(Outbox.next_attempt_at)).where(Outbox.status == "pending")
        return (await session.exec(query)).one()


async def drain(town: Town) -> int:
    """Deliver until nothing is pending: each round what is due; when nothing is, the clock moves to the next
    retry time. A reminder sweep runs at every step too: what it claimed before must not be sent again."""
    core, clock = town.core, town.clock
    for rounds in range(1, MAX_DRAIN_ROUNDS + 1):
        if await town.bot.sender.run_once():
            continue
        due = await next_retry(core)
        if due is None:
            return rounds
        clock.current = max(clock.current, due if due.tzinfo else due.replace(tzinfo=UTC))
        assert core.now().hour < 10, "the retries ran into the second-reminder round"
        await town.bot.scheduler.tick()
    raise AssertionError(f"the outbox was not drained in {MAX_DRAIN_ROUNDS} rounds")


def per_chat(deliveries: Counter[tuple[int, str]], part: str) -> Counter[int]:
    """How many messages containing `part` each chat received."""
    counts: Counter[int] = Counter()
    for (chat, text), n in deliveries.items():
        if part in text:
            counts[chat] += n
    return counts


# --- the test ---------------------------------------------------------------------------------------------


async def test_faults_lose_nothing_and_send_nothing_twice(town: Town) -> None:
    fake, core = town.fake, town.core
    silent_people = [u for u in town.users if silent(u)]
    for uid in silent_people[:2]:  # two who blocked the bot before the round
        fake.block(uid)
    fake.inject_faults(FAULT_RATE, ("429", "500", "timeout", "403"), seed=SEED, methods=("sendMessage",),
                       retry_after=1, may_block=silent_people)
    started = time.perf_counter()

    # 08:00: the reminder round runs while people check in; the sender delivers meanwhile.
    some_done = asyncio.Event()
    await asyncio.gather(everyone_checks_in(core, town.users, some_done), reminder_round(town, some_done))
    checked_in = time.perf_counter()
    await town.bot.sender.stop()
    rounds = await drain(town)
    drained = time.perf_counter()

    rows = await outbox_rows(core)
    async with core.db.session() as session:
        declarations = (await session.exec(select(func.count()).select_from(Declaration))).one()
        alerts = list((await session.exec(select(Alert))).all())
        people = {p.account_id: p for p in (await session.exec(select(Person))).all()}
        accounts = {int(a.external_id): a for a in (await session.exec(select(Account))).all()}
    deliveries = fake.deliveries()

    # Every declaration stored, and every alert they raised posted exactly once to its station's group.
    assert declarations == PEOPLE - len(silent_people)
    expected_alerts = sum(1 for u in town.users if not silent(u) and (u - FIRST_USER) % SILENT_EVERY in (DANGER, WATCH))
    assert len(alerts) == expected_alerts
    alert_rows = [r for r in rows if r.alert_id is not None and "edit_id" not in r.payload]
    assert len(alert_rows) == len(alerts)  # one group per station
    # A danger alert raised before the recap may be edited once complete: its message shows the alert as it is
    # now (a sent row keeps no text: rendered again to compare).
    edits = [r for r in rows if r.alert_id is not None and "edit_id" in r.payload]
    assert all(r.status == "sent" for r in edits)
    by_id = {alert.id: alert for alert in alerts}
    for row in alert_rows:
        assert row.status == "sent", (row.id, row.status, row.last_error)
        assert row.payload["text"] == ""  # delivered: the names and symptoms are not kept
        if row.sent_message_id is None:  # a watch alert of a flood, counted in one "N cảnh báo mới" message
            continue
        async with core.db.session() as session:
            shown = (await render_alert(session, core, by_id[row.alert_id], GROUP_LANGUAGE)).text
        assert deliveries[(int(row.chat_id), shown)] == 1, row.id
    coalesced = Counter(int(r.chat_id) for r in alert_rows if r.sent_message_id is None)
    counted: Counter[int] = Counter()
    for (chat, text), n in deliveries.items():
        if "cảnh báo mới" in text:
            counted[chat] += int(text.split()[1]) * n
    assert counted == coalesced

    # Nothing pending; every failure has its reason, and only chats that refused the bot failed.
    assert {r.status for r in rows} <= {"sent", "failed"}
    failed = [r for r in rows if r.status == "failed"]
    assert all(r.last_error for r in failed)
    blocked = fake.blocked()
    assert {int(r.chat_id) for r in failed} <= blocked

    # Reminders: at most one per person for the slot; everyone silent and reachable got theirs.
    reminder = t("vi", "remind.remind", slot="08:00", names="").split(":")[0]
    reminded = per_chat(deliveries, reminder)
    assert max(reminded.values()) == 1
    for uid in silent_people:
        assert reminded[uid] == (0 if uid in blocked else 1), uid
    duplicates = sum(n - 1 for n in deliveries.values() if n > 1)
    assert duplicates == 0, [k for k, n in deliveries.items() if n > 1][:5]

    # Who blocked the bot is marked unreachable, and their station's group told once, with the phone.
    assert blocked and blocked <= set(silent_people)
    for uid in blocked:
        account = accounts[uid]
        assert account.unreachable_at is not None and "blocked" in account.unreachable_reason
        person = people[account.id]
        notice = t("vi", "unreachable.person", name=person.full_name, phone=person.phone)
        assert deliveries[(town.group_of_station[person.station_id], notice)] == 1, uid

    calls = fake.calls("sendMessage")
    lost = sum(1 for r in rows if r.status != "sent" and int(r.chat_id) not in blocked)
    retries = sum(max(r.attempts - 1, 0) for r in rows)
    kinds = Counter("alert" if r.alert_id else "reminder" if reminder in r.payload["text"] else "notice"
                    for r in rows)
    print(f"\nfaults: {PEOPLE} people, {declarations} declarations, {len(alerts)} alerts; outbox {len(rows)} "
          f"messages ({dict(kinds)}); sendMessage calls {len(calls)}, delivered {sum(deliveries.values())}; "
          f"faults injected {dict(sorted(fake.faults.items()))} at rate {FAULT_RATE}; retries {retries}; "
          f"blocked chats {len(blocked)}, failed rows {len(failed)} (all blocked chats); losses: {lost}, duplicates: "
          f"{duplicates}; drain rounds {rounds}, clock +{(town.clock.current - Clock(SLOT).current).seconds} s; "
          f"check-ins and round {checked_in - started:.1f} s, drain {drained - checked_in:.1f} s")


async def test_a_429_is_waited_out_by_the_bot_then_by_the_outbox_and_delivered_once(core: Core, db_url: str,
                                                                                    clock: Clock) -> None:
    """The production setting: python-telegram-bot waits out a 429 itself, three times (real seconds: the
    only waiting in these tests); a fourth goes back to the outbox, which tries again when Telegram said."""
    fake = FakeBotAPI()
    await fake.start()
    fake.group(FIRST_GROUP, "Trạm")
    settings = load_settings(telegram_token=fake.token, telegram_base_url=fake.base_url, database_url=db_url)
    bot = TelegramBot(settings, core)
    await bot.app.initialize()
    try:
        async with core.db.session() as session:
            enqueue(session, "telegram", str(FIRST_GROUP), {"text": "cảnh báo", "buttons": []}, now=core.utcnow())
        fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1, count=4)
        assert await bot.sender.run_once() == 1
        (row,) = await outbox_rows(core)
        assert row.status == "pending" and "retry after 1" in row.last_error
        assert len(fake.calls("sendMessage")) == 4  # the first try and the bot's own three
        clock.advance(seconds=1)
        assert await bot.sender.run_once() == 1
        (row,) = await outbox_rows(core)
        assert (row.status, row.attempts) == ("sent", 2)
        assert fake.deliveries() == Counter({(FIRST_GROUP, "cảnh báo"): 1})
    finally:
        await bot.app.shutdown()
        await fake.stop()
