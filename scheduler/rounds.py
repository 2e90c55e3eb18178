"""Reminder rounds and chasing silence: who has not declared for the open slot, and what to send them.

Every send is claimed first (storage.claims), then written to the outbox in the same transaction,
so a round interrupted by a restart, or run by two processes at once, sends each message once.

Rounds run every half minute over possibly 10,000 people, so they keep out of the way of people
chatting with the bot: what was claimed already is left out in SQL (a steady-state tick writes nothing),
rows are plain tuples rather than ORM objects, and they commit every BATCH messages, so that SQLite's one
write lock is never held for long.
"""
from __future__ import annotations

import asyncio
import functools
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from itertools import groupby
from typing import Any

from sqlalchemy import Exists, Row, exists
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chat.messages import Button, Reply
from chat.payloads import Go
from health.slots import Window, reminder_time, windows
from locales import t
from services.alerts import destinations, render_alert
from services.env import Core
from storage.claims import claim, claim_many, is_claimed, unclaimed
from storage.models import Account, Alert, Declaration, Person, PersonStatus, Station
from storage.outbox import enqueue_many, post

SILENT = "silent"  # the alert tier of people who stopped declaring, and the claim kind of the station's list
REMIND, CHASE, MISSED = "remind", "chase", "missed"
BATCH = 1000  # messages (accounts) per transaction: about 40 ms of SQLite's write lock each
SMALL_BATCH = 25  # the same, where each message takes its own queries (station lists, alerts)
BATCH_PAUSE_SECONDS = 0.12
MESSAGE_LIMIT = 3500  # characters of one station list message; Telegram takes 4096 (UTF-16 units)


async def silent_people(session: AsyncSession, day: date, slot: str, *where: Any,
                        extra: tuple = ()) -> list[Row]:
    """Active people in quarantine on `day` without a declaration for that slot, with their accounts'
    channel, chat and language, by account (the reporter first), as plain rows."""
    declared = select(Declaration.person_id).where(Declaration.day == day, Declaration.slot == slot)
    # SQLModel's select() is typed for at most four columns; it takes any number
    query = (select(Person.id, Person.full_name, Person.phone, Person.station_id,  # type: ignore[call-overload]
                    Person.account_id, Account.channel, Account.external_id, Account.language, Account.reminder_times,
                    *extra)
             .join(Account, col(Account.id) == Person.account_id)
             .where(Person.status == PersonStatus.ACTIVE, Person.start_date <= day, Person.end_date >= day,
                    col(Person.id).not_in(declared), *where)
             .order_by(col(Person.account_id), col(Person.is_self).desc(), col(Person.id)))
    return list((await session.exec(query)).all())


def reminder(account: Account | Row, people: list[Person] | list[Row], slot: str, kind: str) -> Reply:
    """One message per account naming everyone it still has to declare for."""
    text, label = _reminder_texts(account.language, kind)
    names = ", ".join(p.full_name for p in people)
    target = Go("checkin", people[0].id if len(people) == 1 else None).encode()
    return Reply(text.format(slot=slot, names=names), [[Button(label, target)]])


@functools.cache
def _reminder_texts(lang: str, kind: str) -> tuple[str, str]:
    """The reminder's text (to format) and button label: looked up once, not for each of 100,000 people."""
    return t(lang, f"remind.{kind}"), t(lang, "menu.checkin")


class _Batches:
    """Commits the sweep's transaction every `size` messages (built one by one: fewer than BATCH)."""

    def __init__(self, session: AsyncSession, core: Core, size: int = SMALL_BATCH) -> None:
        self.session, self.core, self.size, self.count = session, core, size, 0

    async def add(self, messages: int) -> None:
        self.count += messages
        if self.count >= self.size:
            await self.session.commit()
            self.count = 0
            await _let_others_write(self.session, self.core)


async def remind_round(session: AsyncSession, core: Core, now: datetime) -> int:
    """First reminders at each account's time in the open slot, and second ones N1 minutes later.

    Someone who registers after their reminder time has just been offered the check-in by the registration
    itself: no first reminder for that slot, and the second one N1 minutes after registering.
    """
    sent = 0
    chase_after = timedelta(minutes=core.rules.schedule.chase_after_minutes)
    day = now.date()
    for window in windows(core.rules, day, core.tz):
        if not window.is_open(now):
            continue
        # an account that blocked the bot is not written to; the station's list still names them
        where = [unclaimed(CHASE, "person:", Person.id, day, window.slot), col(Account.unreachable_at).is_(None)]
        if now < window.start + chase_after:  # nobody's second reminder is due yet: the reminded are done
            where.append(unclaimed(REMIND, "person:", Person.id, day, window.slot))
        reminded = is_claimed(REMIND, "person:", Person.id, day, window.slot).label("reminded")
        rows = await silent_people(session, day, window.slot, *where, extra=(reminded, Person.created_at))
        due = _due(rows, window, now, chase_after)
        for start in range(0, len(due), BATCH):
            if start:
                await _let_others_write(session, core)
            sent += await _remind(session, core, day, window, due[start:start + BATCH])
            await session.commit()
    return sent


def _due(rows: list[Row], window: Window, now: datetime, chase_after: timedelta) -> list[tuple[Row, list[Row], str]]:
    """(account, people, kind) of the messages due now, from the silent people of a window by account.
    Times in UTC, as the rows' created_at: comparing datetimes of one time zone skips 400,000 offset lookups."""
    now = now.astimezone(UTC)
    due: list[tuple[Row, list[Row], str]] = []
    for _account_id, group in groupby(rows, key=lambda r: r.account_id):
        people = list(group)
        due_at = reminder_time(window, people[0].reminder_times).astimezone(UTC)
        by_kind: dict[str, list[Row]] = defaultdict(list)
        for person in people:
            registered = person.created_at
            if now >= max(due_at, registered) + chase_after:
                # A late start (past N1) sends only the second reminder: once chased, a person is left out.
                by_kind[CHASE].append(person)
            elif due_at <= now and registered <= due_at and not person.reminded:
                by_kind[REMIND].append(person)
        due += [(people[0], chosen, kind) for kind, chosen in by_kind.items()]
    return due


async def _let_others_write(session: AsyncSession, core: Core) -> None:
    """A pause between batches while people's updates are being handled: a reply waiting for SQLite's write
    lock retries only every 100 ms or so, and would otherwise find the next batch holding it again.
    Without anyone waiting, a pause would only slow the round (100,000 people: 500 batches, a minute of
    pauses); PostgreSQL locks rows, not the database, so nobody waits for a round there."""
    if core.handling and session.get_bind().dialect.name != "postgresql":
        await asyncio.sleep(BATCH_PAUSE_SECONDS)


async def _remind(session: AsyncSession, core: Core, day: date, window: Window,
                  due: list[tuple[Row, list[Row], str]]) -> int:
    """Claim everyone in this batch, then one message per account naming those whose claims it took."""
    utc = core.utcnow()
    taken: set[tuple[str, int]] = set()
    for kind in (REMIND, CHASE):
        subjects = [f"person:{p.id}" for _, people, k in due if k == kind for p in people]
        taken |= {(kind, int(s.removeprefix("person:")))
                  for s in await claim_many(session, kind, subjects, day, utc, window.slot)}
    by_channel: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    for account, people, kind in due:
        fresh = [p for p in people if (kind, p.id) in taken]
        if fresh:
            by_channel[account.channel].append(
                (account.external_id, reminder(account, fresh, window.slot, kind).to_payload()))
    for channel, messages in by_channel.items():
        await enqueue_many(session, channel, messages, utc)
    return sum(len(messages) for messages in by_channel.values())


def _chunks(title: str, lines: list[str]) -> Iterator[str]:
    """The title and the lines, in messages short enough for a chat app (each part under the title)."""
    part: list[str] = []
    for line in lines:
        if part and len(title) + sum(len(x) + 1 for x in part) + len(line) + 1 > MESSAGE_LIMIT:
            yield "\n".join([title, *part])
            part = []
        part.append(line)
    yield "\n".join([title, *part])


async def silent_list_round(session: AsyncSession, core: Core, now: datetime) -> int:
    """N2 minutes into a slot, each station's group gets one list of who is still silent, with phones."""
    sent = 0
    after = timedelta(minutes=core.rules.schedule.station_after_minutes)
    batches = _Batches(session, core)
    day = now.date()
    for window in windows(core.rules, day, core.tz):
        if not (window.is_open(now) and now >= window.start + after):
            continue
        by_station: dict[int, list[Row]] = defaultdict(list)
        # Listed: who had the time of a first and a second reminder by now (registered, and reminded at their
        # own time if they chose one, by slot + N2 - N1); someone reminded later is not late yet.
        reminded_by = (window.start + after - timedelta(minutes=core.rules.schedule.chase_after_minutes))
        for person in await silent_people(session, day, window.slot,
                                          unclaimed(SILENT, "station:", Person.station_id, day, window.slot),
                                          Person.created_at <= reminded_by.astimezone(UTC)):
            if reminder_time(window, person.reminder_times) <= reminded_by:
                by_station[person.station_id].append(person)
        for station_id, people in by_station.items():
            if not await claim(session, SILENT, f"station:{station_id}", day, core.utcnow(), window.slot):
                continue
            station = await session.get(Station, station_id)
            assert station is not None  # the people's station: a foreign key
            for channel, chat_id, lang in await destinations(session, core, station_id):
                title = t(lang, "silent.title", slot=window.slot, station=station.label,
                          count=len(people))
                lines = [t(lang, "silent.person", name=p.full_name, phone=p.phone) for p in people]
                for text in _chunks(title, lines):
                    post(session, channel, chat_id, Reply(text), core.utcnow())
                    sent += 1
                    await batches.add(1)
    return sent


async def missed_days_round(session: AsyncSession, core: Core, now: datetime) -> int:
    """People with no declaration at all on the last N whole days get an alert asking the station to call.

    From the day's first check-in slot on, not at midnight: the alert asks staff to phone someone.
    """
    if now.time() < core.rules.slots[0]:
        return 0
    days = core.rules.schedule.missed_days_alert
    today = now.date()
    first_missed = today - timedelta(days=days)
    declared = select(Declaration.person_id).where(Declaration.day >= first_missed, Declaration.day < today)
    # Counted from the later of the start and the registration (local days): a back-dated import is not silent.
    registered_by = datetime.combine(first_missed + timedelta(days=1), time(), core.tz).astimezone(UTC)
    query = (select(Person).where(Person.status == PersonStatus.ACTIVE, Person.start_date <= first_missed,
                                  Person.created_at < registered_by, col(Person.id).not_in(declared),
                                  ~_alerted_this_spell(), unclaimed(MISSED, "person:", Person.id, today))
             .order_by(col(Person.station_id), col(Person.id)))
    raised = 0
    batches = _Batches(session, core)
    for person in (await session.exec(query)).all():
        if not await claim(session, MISSED, f"person:{person.id}", today, core.utcnow()):
            continue
        assert person.id is not None  # read from the database
        alert = Alert(person_id=person.id, station_id=person.station_id, tier=SILENT, created_at=core.utcnow())
        session.add(alert)
        await session.flush()
        chats = await destinations(session, core, person.station_id)
        for channel, chat_id, lang in chats:
            reply = await render_alert(session, core, alert, lang)
            post(session, channel, chat_id, reply, core.utcnow(), alert_id=alert.id)
        raised += 1
        await batches.add(max(len(chats), 1))
    return raised


def _alerted_this_spell() -> Exists:
    """SQL: the person has a missed-days alert with no declaration since: one alert per silent spell."""
    declared_since = exists().where(col(Declaration.person_id) == Alert.person_id,
                                    col(Declaration.declared_at) > Alert.created_at)
    return exists().where(col(Alert.person_id) == Person.id, col(Alert.tier) == SILENT, ~declared_since)
