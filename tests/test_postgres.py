"""Several bot processes on one PostgreSQL: outbox claims, claims of scheduled sends, the poller lease, and
two real `cachly run` processes through a reminder round.

PostgreSQL runs when CACHLY_TEST_POSTGRES_URL names a server (.ci/run sets it): this module creates a
database of its own there (cachly_test_<random>) and drops it at the end, so runs never collide. Without it,
those tests are skipped; the ones that also make sense on SQLite run there in any case.
"""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlmodel import select

from bot.app import TelegramBot, Webhook, build_core
from bot.polling import POLLER, PollerLease
from bot.settings import load_settings
from health.rules import load_rules
from scheduler.runner import Scheduler
from services.env import Core
from storage.claims import claim_many
from storage.db import Database
from storage.leases import acquire, current_holder, release
from storage.migrate import upgrade
from storage.models import Account, Alert, AuditEvent, GroupBinding, Outbox, OutboxStatus, Person, Station
from storage.outbox import claim_due, enqueue
from tests.conftest import TZ, Clock, Templates, run_apart, seed_stations, sqlite_url
from tests.fake_bot_api import FakeBotAPI
from tests.telegram_steps import SECRET, free_port

POSTGRES_URL = os.environ.get("CACHLY_TEST_POSTGRES_URL")
NO_POSTGRES = ("PostgreSQL not configured: set CACHLY_TEST_POSTGRES_URL=postgresql+asyncpg://USER@HOST:5432/DB "
               "(as .ci/run does) to run the several-processes tests; a database cachly_test_<random> is "
               "created on that server for them and dropped afterwards")
REPO = Path(__file__).parents[1]
LEASE = timedelta(seconds=120)
T0 = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)


# --- databases: SQLite per test, PostgreSQL per module ---------------------------------------------------------


async def _on_server(statement: str) -> None:
    import asyncpg

    server = make_url(POSTGRES_URL)
    conn = await asyncpg.connect(user=server.username, password=server.password, host=server.host,
                                 port=server.port or 5432, database=server.database or "postgres")
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _prepare(url: str) -> None:
    await upgrade(url)
    await seed_stations(url)


@pytest.fixture(scope="module")
def postgres_database() -> Iterator[str]:
    """A database of this module's own on the CACHLY_TEST_POSTGRES_URL server, migrated, with the stations."""
    if not POSTGRES_URL:
        pytest.skip(NO_POSTGRES)
    name = f"cachly_test_{uuid.uuid4().hex[:12]}"
    run_apart(_on_server(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        run_apart(_prepare(url))
        yield url
    finally:
        run_apart(_on_server(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _empty_but_stations(url: str) -> None:
    """Each test starts from the stations only (the module shares one database)."""
    db = Database(url)
    try:
        async with db.engine.begin() as conn:
            tables = (await conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "AND tablename NOT IN ('station', 'alembic_version')"))).scalars().all()
            await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    finally:
        await db.dispose()


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    run_apart(_empty_but_stations(postgres_database))
    return postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path, templates: Templates) -> str:
    """The same test on a SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return templates.copy(sqlite_url(tmp_path / "cachly.db"))
    return request.getfixturevalue("postgres_url")


def is_postgres(url: str) -> bool:
    return url.startswith("postgresql")


async def databases(url: str, count: int) -> list[Database]:
    """`count` engines on one database: what `count` processes would have."""
    return [Database(url) for _ in range(count)]


async def dispose(*dbs: Database) -> None:
    for db in dbs:
        await db.dispose()


async def queue(db: Database, count: int, now: datetime = T0) -> list[int]:
    async with db.session() as session:
        rows = [enqueue(session, "telegram", str(5000 + i), {"text": f"message {i}"}, now=now) for i in range(count)]
        await session.flush()
        return [row.id for row in rows]


# --- the outbox: claims ----------------------------------------------------------------------------------------


async def test_concurrent_senders_never_claim_a_row_twice(url: str) -> None:
    """Four senders (four engines, as four processes) drain 400 due rows at once: each row is taken once."""
    senders = await databases(url, 4)
    try:
        queued = await queue(senders[0], 400)

        async def drain(db: Database) -> list[int]:
            taken: list[int] = []
            while True:
                async with db.session() as session:
                    rows = await claim_due(session, "telegram", T0, 15, LEASE)
                if not rows:
                    return taken
                taken += [row.id for row in rows]
                await asyncio.sleep(0)  # let the others in between rounds, as real senders deliver

        results = await asyncio.gather(*(drain(db) for db in senders))
        taken = [row_id for result in results for row_id in result]
        assert Counter(taken).most_common(1)[0][1] == 1, "a row was claimed twice"
        assert sorted(taken) == sorted(queued)
        if is_postgres(url):  # (SQLite's one writer may let the first sender drain it all)
            assert sum(1 for result in results if result) >= 2, "the senders did not share the work"
    finally:
        await dispose(*senders)


async def test_postgresql_senders_skip_each_others_locked_rows(postgres_url: str) -> None:
    """While one transaction holds some due rows, another sender takes the others at once, with
    SELECT ... FOR UPDATE SKIP LOCKED, instead of waiting for the lock or taking them too."""
    holder, sender = await databases(postgres_url, 2)
    statements: list[str] = []
    event.listen(sender.engine.sync_engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_: statements.append(statement))
    try:
        queued = await queue(holder, 30)
        async with holder.session() as locking:
            await locking.exec(select(Outbox.id).where(Outbox.id.in_(queued[:10])).with_for_update())
            async with sender.session() as session:
                rows = await asyncio.wait_for(claim_due(session, "telegram", T0, 100, LEASE), 10)
            assert [row.id for row in rows] == queued[10:]
        assert any("FOR UPDATE SKIP LOCKED" in s for s in statements), statements
        async with sender.session() as session:  # the lock is gone: the rest is taken now
            assert [row.id for row in await claim_due(session, "telegram", T0, 100, LEASE)] == queued[:10]
    finally:
        await dispose(holder, sender)


async def test_a_dead_senders_rows_come_back_when_its_lease_runs_out(url: str) -> None:
    """A sender claims rows and dies before delivering them: nobody takes them while its lease runs, another
    sender takes them (attempt 2) once it has run out; none is lost, none delivered twice."""
    dead, alive = await databases(url, 2)
    try:
        queued = await queue(dead, 5)
        async with dead.session() as session:
            assert len(await claim_due(session, "telegram", T0, 100, LEASE)) == 5
        await dead.dispose()  # the process is gone: its claims stay behind, as `sending`

        async with alive.session() as session:
            assert await claim_due(session, "telegram", T0 + LEASE - timedelta(seconds=1), 100, LEASE) == []
        async with alive.session() as session:
            rows = await claim_due(session, "telegram", T0 + LEASE + timedelta(seconds=1), 100, LEASE)
        assert [(row.id, row.status, row.attempts) for row in rows] == [(i, OutboxStatus.SENDING, 2) for i in queued]
        async with alive.session() as session:
            assert await claim_due(session, "telegram", T0 + LEASE + timedelta(seconds=2), 100, LEASE) == []
    finally:
        await dispose(dead, alive)


async def test_concurrent_rounds_claim_each_scheduled_send_once(url: str) -> None:
    """Two processes' rounds claiming overlapping people for one slot: each claim is taken by exactly one."""
    first, second = await databases(url, 2)
    try:
        subjects = [f"person:{i}" for i in range(1200)]

        async def round_of(db: Database, order: list[str]) -> set[str]:
            async with db.session() as session:
                return await claim_many(session, "remind", order, date(2026, 11, 29), T0, "08:00")

        taken = await asyncio.gather(round_of(first, subjects), round_of(second, subjects[::-1]))
        assert not taken[0] & taken[1]
        assert taken[0] | taken[1] == set(subjects)
    finally:
        await dispose(first, second)


async def test_two_processes_escalate_an_untaken_alert_once(url: str) -> None:
    """Two schedulers on one database, 15 minutes after an alert nobody took: one escalation, one copy."""
    clock = Clock(datetime(2026, 11, 29, 9, 15))
    first, second = await databases(url, 2)
    cores = [Core(db, load_rules(), TZ, admin_chats=[("telegram", "999")], clock=clock) for db in (first, second)]
    try:
        async with first.session() as session:
            station = (await session.exec(select(Station).limit(1))).one()
            session.add(GroupBinding(station_id=None, scope="province", channel="telegram", chat_id="-7001"))
            account = Account(channel="telegram", external_id="p1")
            session.add(account)
            await session.flush()
            person = Person(account_id=account.id, full_name="An", birth_year=1980, gender="male", phone="0912345678",
                            station_id=station.id, address="1", category="f1", start_date=date(2026, 11, 29),
                            end_date=date(2026, 12, 12))
            session.add(person)
            await session.flush()
            session.add(Alert(person_id=person.id, station_id=station.id, tier="danger",
                              created_at=T0 - timedelta(minutes=15)))
        await asyncio.gather(*(Scheduler(core).tick() for core in cores))
        async with first.session() as session:
            copies = (await session.exec(select(Outbox).where(Outbox.chat_id == "-7001"))).all()
            events = (await session.exec(select(AuditEvent).where(AuditEvent.action == "alert.escalate"))).all()
        assert len(copies) == 1 and len(events) == 1
    finally:
        await dispose(first, second)


async def test_a_danger_alert_s_copy_is_claimed_before_a_round_queued_earlier(url: str) -> None:
    db = (await databases(url, 1))[0]
    try:
        await queue(db, 150)
        async with db.session() as session:
            station = (await session.exec(select(Station).limit(1))).one()
            account = Account(channel="telegram", external_id="p1")
            session.add(account)
            await session.flush()
            person = Person(account_id=account.id, full_name="An", birth_year=1980, gender="male", phone="0912345678",
                            station_id=station.id, address="1", category="f1", start_date=date(2026, 11, 29),
                            end_date=date(2026, 12, 12))
            session.add(person)
            await session.flush()
            alert = Alert(person_id=person.id, station_id=station.id, tier="danger", created_at=T0)
            session.add(alert)
            await session.flush()
            urgent = enqueue(session, "telegram", "-5001", {"text": "danger"}, alert_id=alert.id, now=T0)
            await session.flush()
            urgent_id = urgent.id
        async with db.session() as session:
            claimed = await claim_due(session, "telegram", T0 + timedelta(seconds=1), 100, LEASE)
        assert claimed[0].id == urgent_id and len(claimed) == 100
    finally:
        await dispose(db)


# --- the poller lease ------------------------------------------------------------------------------------------


TTL = timedelta(seconds=20)


async def test_only_one_process_holds_the_poller_lease_until_it_expires(url: str) -> None:
    a, b, c = await databases(url, 3)
    try:
        async def take(db: Database, holder: str, now: datetime) -> bool:
            async with db.session() as session:
                return await acquire(session, POLLER, holder, now, TTL)

        wins = await asyncio.gather(*(take(db, name, T0) for db, name in ((a, "a"), (b, "b"), (c, "c"))))
        assert sorted(wins) == [False, False, True]
        winner, db_of = ["a", "b", "c"][wins.index(True)], {"a": a, "b": b, "c": c}
        other = "b" if winner != "b" else "c"
        assert await take(db_of[winner], winner, T0 + timedelta(seconds=15))  # renewed: until T0 + 35 s
        assert not await take(db_of[other], other, T0 + timedelta(seconds=30))
        async with a.session() as session:
            assert await current_holder(session, POLLER, T0 + timedelta(seconds=30)) == winner
        # The winner stops renewing (it died): once its lease has run out another takes it, and it is refused.
        assert await take(db_of[other], other, T0 + timedelta(seconds=35))
        assert not await take(db_of[winner], winner, T0 + timedelta(seconds=36))
        # A clean stop releases it: the next one need not wait.
        async with db_of[other].session() as session:
            assert await release(session, POLLER, other, T0 + timedelta(seconds=40))
        assert await take(db_of[winner], winner, T0 + timedelta(seconds=40))
    finally:
        await dispose(a, b, c)


class Polling:
    """What the lease switches in a process: python-telegram-bot's updater, here a flag and its history."""

    def __init__(self) -> None:
        self.on, self.history = False, []

    async def start(self) -> None:
        self.on = True
        self.history.append("start")

    async def stop(self) -> None:
        self.on = False
        self.history.append("stop")


def core_on(db: Database, clock: Clock) -> Core:
    return Core(db, load_rules(), TZ, clock=clock)


async def test_a_standby_process_takes_over_polling_when_the_poller_stops_renewing(url: str, clock: Clock) -> None:
    """The holder polls, the other waits; the holder dies (no more renewals): after the lease has run out, the
    other's next try makes it poll. A clean stop hands polling over at the other's next try."""
    dbs = await databases(url, 2)
    first, second = Polling(), Polling()
    leases = [PollerLease(core_on(db, clock), p.start, p.stop, TTL, holder=name)
              for db, p, name in zip(dbs, (first, second), ("first", "second"), strict=True)]
    try:
        await leases[0].step()
        await leases[1].step()
        assert (first.on, second.on) == (True, False)
        clock.advance(seconds=5)
        await leases[0].step()  # renewed at +5 s: until +25 s
        clock.advance(seconds=15)
        await leases[1].step()
        assert (first.on, second.on) == (True, False)
        clock.advance(seconds=6)  # +26 s: the first has not renewed since +5 s
        await leases[1].step()
        assert second.on
        await leases[0].step()  # the first comes back (it was only stuck): it stops polling
        assert (first.on, first.history, second.history) == (False, ["start", "stop"], ["start"])
        await leases[1].stop()
        assert not second.on
        await leases[0].step()
        assert first.on
    finally:
        await dispose(*dbs)


async def test_a_poller_that_cannot_reach_the_database_stops_before_its_lease_could_run_out(
        migrated_db_url: str, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    db, polling, now = Database(migrated_db_url), Polling(), [100.0]
    lease = PollerLease(core_on(db, clock), polling.start, polling.stop, TTL, monotonic=lambda: now[0])
    try:
        await lease.step()
        assert polling.on

        async def unreachable(*_args: object) -> bool:
            raise OSError("connection refused")

        monkeypatch.setattr("bot.polling.acquire", unreachable)
        now[0] += 14  # renewals failing for 14 s of a 20 s lease: it may still be ours
        await lease.step()
        assert polling.on
        now[0] += 1.5  # past 20 s minus one renewal period: stop before another could take over
        await lease.step()
        assert not polling.on
    finally:
        await db.dispose()


async def test_a_webhook_process_never_polls_nor_takes_the_poller_lease(url: str, fake: FakeBotAPI,
                                                                        clock: Clock) -> None:
    settings = load_settings(telegram_token=fake.token, telegram_base_url=fake.base_url, database_url=url)
    bot = TelegramBot(settings, build_core(settings, clock=clock))
    port = free_port()
    await bot.start(webhook=Webhook(f"http://127.0.0.1:{port}/tg/hook", "127.0.0.1", port, SECRET))
    try:
        fake.user(4242, language_code="vi")
        await fake.send_text(4242, "/start")  # delivered by POST to the webhook
        await fake.wait_for_message(4242)
        assert bot.poller is None and fake.calls("getUpdates") == []
        async with bot.core.db.session() as session:
            assert await current_holder(session, POLLER, clock()) is None
    finally:
        await bot.stop()


# --- two real bot processes on one PostgreSQL ------------------------------------------------------------------


class Tap:
    """A pass-through in front of the fake Bot API for ONE process: which Bot API methods it called."""

    def __init__(self, target: str) -> None:
        self.target, self.url, self.methods = target, "", Counter()
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._client is not None:
            await self._client.close()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._client is not None
        self.methods[request.path.rsplit("/", 1)[-1]] += 1
        headers = {"Content-Type": request.headers["Content-Type"]} if "Content-Type" in request.headers else {}
        async with self._client.request(request.method, self.target + request.path_qs, data=await request.read(),
                                        headers=headers) as answer:
            return web.Response(body=await answer.read(), status=answer.status, content_type=answer.content_type)


def local_zone_away_from_midnight() -> tuple[str, datetime]:
    """A time zone where the day does not end within the next minutes: the round must stay on one day."""
    for zone in ("Asia/Ho_Chi_Minh", "UTC"):
        local = datetime.now(ZoneInfo(zone))
        if local.hour < 23 or local.minute < 50:
            return zone, local
    raise AssertionError("unreachable: the two zones are seven hours apart")


async def seed_people(url: str, count: int, zone: str, today: date) -> list[int]:
    """`count` people in quarantine today, each with an account of their own, registered yesterday."""
    db = Database(url)
    registered = datetime.now(UTC) - timedelta(days=1)
    try:
        async with db.session() as session:
            station_id = (await session.exec(select(Station.id).order_by(Station.id))).first()
            accounts = [Account(channel="telegram", external_id=str(20000 + i), created_at=registered)
                        for i in range(count)]
            session.add_all(accounts)
            await session.flush()
            session.add_all(Person(account_id=a.id, full_name=f"Người {i:03d}", birth_year=1980, gender="male",
                                   phone=f"09120{i:05d}", station_id=station_id, address="1 Lê Lợi", category="f1",
                                   start_date=today, end_date=today + timedelta(days=13), created_at=registered,
                                   consent_at=registered)
                            for i, a in enumerate(accounts))
        return [20000 + i for i in range(count)]
    finally:
        await db.dispose()


class BotProcess:
    """`python -m bot.cli run` in a subprocess, its Bot API calls through its own Tap, its output in files."""

    def __init__(self, name: str, tap: Tap, env: dict[str, str], folder: Path) -> None:
        self.name, self.tap = name, tap
        self.log = folder / f"{name}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=folder, stdout=out,
                                            stderr=subprocess.STDOUT,
                                            env={**env, "CACHLY_TELEGRAM_BASE_URL": f"{tap.url}/bot"})

    def output(self) -> str:
        return f"--- {self.name} ---\n" + self.log.read_text(errors="replace")[-3000:]

    async def end(self, sig: int) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return await asyncio.to_thread(self.process.wait, 30)


def bot_environment(url: str, fake: FakeBotAPI, zone: str, slot: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CACHLY_")}
    return {**env, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", "CACHLY_TELEGRAM_TOKEN": fake.token,
            "CACHLY_DATABASE_URL": url, "CACHLY_TIMEZONE": zone, "CACHLY_SLOTS": slot,
            "CACHLY_POLLER_LEASE_SECONDS": "5"}


async def wait_until_polled_by_one(taps: list[Tap], fake: FakeBotAPI, timeout: float = 60) -> Tap:
    """The tap whose process polls, once one of them has called getUpdates (waits on the fake's calls)."""
    await fake.wait_for_call("getUpdates", timeout=timeout)
    [polling] = [tap for tap in taps if tap.methods["getUpdates"]]
    return polling


async def test_two_bot_processes_on_postgresql_remind_each_person_once_and_one_polls(
        postgres_url: str, fake: FakeBotAPI, tmp_path: Path) -> None:
    """The issue's test: two `cachly run` processes on one PostgreSQL, a reminder slot opening now by the real
    clock, 300 people. Each person gets exactly one reminder, only one process calls getUpdates, and when
    that one is killed (SIGKILL), the other takes polling over: a /start sent afterwards is answered."""
    zone, local = local_zone_away_from_midnight()
    people = await seed_people(postgres_url, 300, zone, local.date())
    for chat in people:
        fake.user(chat, "Người", "vi")
    newcomer = fake.user(30001, "Mới", "vi")
    taps = [Tap(fake.url), Tap(fake.url)]
    for tap in taps:
        await tap.start()
    env = bot_environment(postgres_url, fake, zone, local.strftime("%H:%M"))
    processes = [BotProcess(f"bot{i}", tap, env, tmp_path) for i, tap in enumerate(taps)]
    try:
        for chat in people:  # the round: every person's reminder reaches Telegram
            await fake.wait_for_message(chat, lambda m: "Đến giờ khai báo" in m.get("text", ""), timeout=90)
        polling = await wait_until_polled_by_one(taps, fake)
        [standby] = [p for p in processes if p.tap is not polling]

        await wait_for_all_sent(postgres_url, len(people))
        per_chat = Counter(chat for chat, _text in fake.deliveries().elements())
        assert {chat: per_chat[chat] for chat in people} == dict.fromkeys(people, 1)
        assert standby.tap.methods["getUpdates"] == 0, "the standby process polled as well"
        assert standby.tap.methods["sendMessage"] > 0 and polling.methods["sendMessage"] > 0, \
            "both processes were to deliver part of the round"

        [killed] = [p for p in processes if p.tap is polling]
        await killed.end(signal.SIGKILL)
        after = len(fake.sent(newcomer.id))
        await newcomer.send_text("/start")
        await fake.wait_for_message(newcomer.id, after=after, timeout=60)  # lease 5 s: taken over within ~7 s
        assert standby.tap.methods["getUpdates"] > 0
        assert await standby.end(signal.SIGTERM) == 0
        per_chat = Counter(chat for chat, _text in fake.deliveries().elements())
        assert {chat: per_chat[chat] for chat in people} == dict.fromkeys(people, 1)
    except BaseException:
        print("\n".join(p.output() for p in processes))
        raise
    finally:
        for process in processes:
            await process.end(signal.SIGKILL)
        for tap in taps:
            await tap.stop()


async def wait_for_all_sent(url: str, count: int, timeout: float = 30) -> None:
    """Until the outbox holds `count` rows, all marked sent (the fake saw them; the processes record it)."""
    db = Database(url)
    try:
        async with asyncio.timeout(timeout):
            while True:
                async with db.session() as session:
                    statuses = Counter((await session.exec(select(Outbox.status))).all())
                if statuses == {OutboxStatus.SENT: count}:
                    return
                await asyncio.sleep(0.1)
    finally:
        await db.dispose()
