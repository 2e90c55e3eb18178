"""Reminder rounds and chasing silence: who has not declared for the open slot, and what to send them.

Every send is claimed first (scheduler.claims), then written to the outbox in the same transaction,
so a round interrupted by a restart, or run by two processes at once, sends each message once.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.alerts import destinations, render_alert
from conversations.messages import Button, Reply
from handlers.core import Core
from locales import t
from scheduler.claims import claim
from scheduler.windows import Window, reminder_time, windows
from storage.models import Account, Alert, Declaration, Person, Station
from storage.outbox import enqueue

SILENT = "silent"  # the alert tier of people who stopped declaring


async def silent_people(session: AsyncSession, day: date, slot: str) -> list[tuple[Person, Account]]:
    """Active people in quarantine on `day` without a declaration for that slot, with their accounts."""
    declared = select(Declaration.person_id).where(Declaration.day == day, Declaration.slot == slot)
    query = (select(Person, Account).join(Account, Account.id == Person.account_id)
             .where(Person.status == "active", Person.start_date <= day, Person.end_date >= day,
                    Person.id.not_in(declared))
             .order_by(Person.account_id, Person.is_self.desc(), Person.id))
    return [(p, a) for p, a in (await session.exec(query)).all()]


def _by_account(rows: list[tuple[Person, Account]]) -> dict[int, tuple[Account, list[Person]]]:
    grouped: dict[int, tuple[Account, list[Person]]] = {}
    for person, account in rows:
        grouped.setdefault(account.id, (account, []))[1].append(person)
    return grouped


def reminder(account: Account, people: list[Person], slot: str, kind: str) -> Reply:
    """One message per account naming everyone it still has to declare for."""
    lang = account.language
    names = ", ".join(p.full_name for p in people)
    target = f"go:checkin:{people[0].id}" if len(people) == 1 else "go:checkin"
    return Reply(t(lang, f"remind.{kind}", slot=slot, names=names), [[Button(t(lang, "menu.checkin"), target)]])


async def remind_round(session: AsyncSession, core: Core, now: datetime) -> int:
    """First reminders at each account's time in the open slot, and second ones N1 minutes later."""
    sent = 0
    chase_after = timedelta(minutes=core.rules.schedule.chase_after_minutes)
    for window in windows(core.rules, now.date(), core.tz):
        if not window.is_open(now):
            continue
        for account, people in _by_account(await silent_people(session, now.date(), window.slot)).values():
            due_at = reminder_time(window, account.reminder_times)
            if now < due_at:
                continue
            kind = "chase" if now >= due_at + chase_after else "remind"
            sent += await _remind(session, core, now, window, account, people, kind)
    return sent


async def _remind(session: AsyncSession, core: Core, now: datetime, window: Window, account: Account,
                  people: list[Person], kind: str) -> int:
    utc = core.utcnow()
    fresh = []
    for person in people:
        subject = f"person:{person.id}"
        took = await claim(session, kind, subject, now.date(), utc, window.slot)
        if kind == "chase":  # a late start sends only the second reminder, not both
            await claim(session, "remind", subject, now.date(), utc, window.slot)
        if took:
            fresh.append(person)
    if not fresh:
        return 0
    enqueue(session, account.channel, account.external_id,
            reminder(account, fresh, window.slot, kind).to_payload(), now=utc)
    return 1


async def silent_list_round(session: AsyncSession, core: Core, now: datetime) -> int:
    """N2 minutes into a slot, each station's group gets one list of who is still silent, with phones."""
    sent = 0
    after = timedelta(minutes=core.rules.schedule.station_after_minutes)
    for window in windows(core.rules, now.date(), core.tz):
        if not (window.is_open(now) and now >= window.start + after):
            continue
        by_station: dict[int, list[Person]] = defaultdict(list)
        for person, _account in await silent_people(session, now.date(), window.slot):
            by_station[person.station_id].append(person)
        for station_id, people in by_station.items():
            if not await claim(session, SILENT, f"station:{station_id}", now.date(), core.utcnow(), window.slot):
                continue
            station = await session.get(Station, station_id)
            for channel, chat_id, lang in await destinations(session, core, station_id):
                lines = [t(lang, "silent.title", slot=window.slot, station=station.full_name or station.name,
                           count=len(people))]
                lines += [t(lang, "silent.person", name=p.full_name, phone=p.phone) for p in people]
                enqueue(session, channel, chat_id, Reply("\n".join(lines)).to_payload(), now=core.utcnow())
                sent += 1
    return sent


async def missed_days_round(session: AsyncSession, core: Core, now: datetime) -> int:
    """People with no declaration at all on the last N whole days get an alert asking the station to call."""
    days = core.rules.schedule.missed_days_alert
    today = now.date()
    first_missed = today - timedelta(days=days)
    declared = select(Declaration.person_id).where(Declaration.day >= first_missed, Declaration.day < today)
    query = select(Person).where(Person.status == "active", Person.start_date <= first_missed,
                                 Person.id.not_in(declared))
    raised = 0
    for person in (await session.exec(query)).all():
        if not await claim(session, "missed", f"person:{person.id}", today, core.utcnow()):
            continue
        alert = Alert(person_id=person.id, station_id=person.station_id, tier=SILENT, created_at=core.utcnow())
        session.add(alert)
        await session.flush()
        for channel, chat_id, lang in await destinations(session, core, person.station_id):
            reply = await render_alert(session, core, alert, lang)
            enqueue(session, channel, chat_id, reply.to_payload(), alert_id=alert.id, now=core.utcnow())
        raised += 1
    return raised
