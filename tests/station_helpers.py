"""Test data for the station's work: staff records, people, declarations and alerts written straight to the
database, so a test states its data set in a few lines instead of chatting it into being."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlmodel import select

from services.env import Core
from storage.models import Account, Alert, AuditEvent, Declaration, GroupBinding, Person, StaffMember
from storage.roles import STAFF
from storage.stations import get_station
from tests.conftest import TZ, ChatDriver

PLEIKU, QUY_NHON = "23575", "21583"  # Phường Pleiku, Phường Quy Nhơn
TODAY = date(2026, 11, 29)  # the clock fixture's day


async def station_id(core: Core, code: str) -> int:
    async with core.db.session() as session:
        return (await get_station(session, code)).id


async def add_staff(core: Core, user_id: str, role: str = STAFF, station: str | None = PLEIKU,
                    name: str = "Lan", active: bool = True) -> None:
    async with core.db.session() as session:
        sid = (await get_station(session, station)).id if station and role == STAFF else None
        session.add(StaffMember(channel="telegram", user_id=user_id, name=name, role=role, station_id=sid,
                                active=active))


def staff_chat(core: Core, user_id: str = "500", name: str = "Lan") -> ChatDriver:
    return ChatDriver(core, user_id, name=name)


_phones = iter(range(10_000_000, 99_999_999))


async def add_person(core: Core, name: str, station: str = PLEIKU, phone: str | None = None,
                     id_number: str | None = None, birth_year: int = 1980, gender: str = "male",
                     category: str = "f1", start: date | None = None, end: date | None = None,
                     status: str = "active", account_id: int | None = None, is_self: bool = True,
                     external_id: str | None = None) -> int:
    """A person in quarantine (F1 from today by default) with an account of their own unless given one."""
    start = start or TODAY
    end = end or start + timedelta(days=core.rules.quarantine_days[category] - 1)
    phone = phone or f"09{next(_phones)}"
    async with core.db.session() as session:
        if account_id is None:
            account = Account(channel="telegram", external_id=external_id or f"p{phone}", language="vi")
            session.add(account)
            await session.flush()
            account_id = account.id
        sid = (await get_station(session, station)).id
        person = Person(account_id=account_id, is_self=is_self, full_name=name, birth_year=birth_year,
                        gender=gender, phone=phone, id_number=id_number, station_id=sid, address="12 Lê Lợi",
                        category=category, start_date=start, end_date=end, status=status)
        session.add(person)
        await session.flush()
        return person.id


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ)


async def add_declaration(core: Core, person_id: int, tier: str = "normal", day: date = TODAY, hour: int = 8,
                          temperature: float = 36.8, symptoms: tuple[str, ...] = (), spo2: int | None = None,
                          minute: int = 0) -> int:
    async with core.db.session() as session:
        person = await session.get(Person, person_id)
        declaration = Declaration(person_id=person_id, account_id=person.account_id, day=day,
                                  slot="08:00" if hour < 15 else "15:00", declared_at=local(day, hour, minute),
                                  temperature=temperature, symptoms=list(symptoms), spo2=spo2, tier=tier)
        session.add(declaration)
        await session.flush()
        return declaration.id


async def add_alert(core: Core, person_id: int, tier: str = "danger", status: str = "open",
                    at: datetime | None = None, taken_by: str | None = None) -> int:
    async with core.db.session() as session:
        person = await session.get(Person, person_id)
        alert = Alert(person_id=person_id, station_id=person.station_id, tier=tier, status=status,
                      created_at=at or core.utcnow())
        if status in ("acknowledged", "resolved"):
            alert.acknowledged_by, alert.acknowledged_at = taken_by or "Lan", core.utcnow()
        if status == "resolved":
            alert.resolved_by, alert.resolved_at = taken_by or "Lan", core.utcnow()
        session.add(alert)
        await session.flush()
        return alert.id


async def bind_group(core: Core, station: str, chat_id: str) -> None:
    async with core.db.session() as session:
        sid = (await get_station(session, station)).id
        session.add(GroupBinding(station_id=sid, channel="telegram", chat_id=chat_id))


async def get(core: Core, table: type, row_id: int):
    async with core.db.session() as session:
        return await session.get(table, row_id)


async def audit_events(core: Core, action: str | None = None) -> list[AuditEvent]:
    async with core.db.session() as session:
        query = select(AuditEvent).order_by(AuditEvent.id)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        return list((await session.exec(query)).all())


def payloads(chat: ChatDriver) -> list[str]:
    return [b.payload for b in chat.buttons()]


def labels(chat: ChatDriver) -> list[str]:
    return [b.label for b in chat.buttons()]
