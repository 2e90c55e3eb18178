"""Test data, written straight to the database so that a test states its data set in a few lines instead of
chatting it into being: the stations and the day the tests use, staff, people, declarations, alerts, bound
groups, spreadsheets; and the few readers the tests share (the outbox, the audit trail, a chat's buttons)."""
from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

import openpyxl
from sqlmodel import select

from chat.messages import Attachment, Reply
from scheduler.runner import Scheduler
from services.env import Core
from services.spreadsheets import COLUMNS
from storage.db import Database
from storage.models import Account, Alert, AuditEvent, Declaration, Outbox, Person, StaffMember, Station
from storage.roles import STAFF, Access, access_of
from storage.stations import get_station, issue_bind_code
from tests.conftest import TZ, ChatDriver, Clock
from tests.steps import rows

# --- the stations, the day, the chats ----------------------------------------------------------------------

PLEIKU = "23575"  # Phường Pleiku, the station "pleiku" finds
QUY_NHON = "21583"  # Phường Quy Nhơn
IA_GRAI = "23764"  # Xã Ia Grai
TODAY = date(2026, 11, 29)  # the clock fixture's day
GROUP, OTHER_GROUP = "-100500", "-100600"  # staff groups (bound by the tests that need them)
# Who is who in the file tests (the import, the export, the statistics):
STAFF_USER, ADMIN_USER, VIEWER_USER, NOBODY_USER = "501", "999", "601", "100"


def at(hour: int, minute: int = 0, day: date = TODAY) -> datetime:
    """A local time of the day, naive, as Clock.set_local takes it."""
    return datetime(day.year, day.month, day.day, hour, minute)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    """A local time of the day, with its zone."""
    return at(hour, minute, day).replace(tzinfo=TZ)


def _utc(moment: datetime) -> datetime:
    return (moment if moment.tzinfo else moment.replace(tzinfo=TZ)).astimezone(UTC)


async def tick(core: Core, clock: Clock, moment: datetime) -> dict[str, int]:
    """One scheduler round at that local time."""
    clock.set_local(moment)
    return await Scheduler(core).tick()


# --- stations, staff, groups ---------------------------------------------------------------------------------


async def station_id(core: Core | Database, code: str = PLEIKU) -> int:
    db = core if isinstance(core, Database) else core.db
    async with db.session() as session:
        return (await session.exec(select(Station.id).where(Station.code == code))).one()


STATION_PHONE = "02693823456"  # Phường Pleiku's number in the tests that give it one


async def set_station_phone(core: Core, code: str = PLEIKU, phone: str = STATION_PHONE) -> None:
    async with core.db.session() as session:
        station = await get_station(session, code)
        assert station is not None
        station.phone = phone
        session.add(station)


async def add_staff(core: Core, user_id: str, role: str = STAFF, station: str | None = PLEIKU, name: str = "Lan",
                    active: bool = True) -> int | None:
    """A staff record (a staff member's is of the station; an admin's or a province viewer's of none); the
    station's id."""
    async with core.db.session() as session:
        sid = (await get_station(session, station)).id if station and role == STAFF else None
        session.add(StaffMember(channel="telegram", user_id=user_id, name=name, role=role, station_id=sid,
                                active=active))
        return sid


async def access(core: Core, user_id: str, channel: str = "telegram") -> Access:
    """What the user may see and change, as the core works it out."""
    async with core.db.session() as session:
        return await access_of(session, channel, user_id, core.is_admin(channel, user_id))


def staff_chat(core: Core, user_id: str = "500", name: str = "Lan") -> ChatDriver:
    """A staff member in private chat with the bot."""
    return ChatDriver(core, user_id, name=name)


def group_chat(core: Core, user_id: str = "300", name: str = "Chị Hoa", chat_id: str = GROUP) -> ChatDriver:
    """Someone writing in a group chat."""
    return ChatDriver(core, user_id, chat_id=chat_id, chat_type="group", name=name)


async def bind_code(core: Core, station: str = PLEIKU, ttl: timedelta = timedelta(hours=24)) -> str:
    """What `cachly station bind-code` gives the admin (station PROVINCE: the province's group)."""
    async with core.db.session() as session:
        return await issue_bind_code(session, station, core.utcnow(), ttl)


async def bind_group(core: Core, station: str = PLEIKU, chat_id: str = GROUP, user_id: str = "300",
                     name: str = "Chị Hoa") -> ChatDriver:
    """A group bound to the station with /lienket, as staff do it; who bound it, in the group."""
    group = group_chat(core, user_id, name, chat_id)
    await group.say(f"/lienket {await bind_code(core, station)}")
    assert group.text().startswith("✅") and "liên kết" in group.text(), group.text()
    return group


# --- people, declarations, alerts ----------------------------------------------------------------------------

_phones = iter(range(10_000_000, 99_999_999))


async def add_person(core: Core, name: str, chat_id: str | None = None, *, station: str = PLEIKU,
                     start: date = TODAY, end: date | None = None, status: str = "active", category: str = "f1",
                     phone: str | None = None, id_number: str | None = None, birth_year: int = 1980,
                     gender: str = "male", language: str = "vi", account_id: int | None = None,
                     is_self: bool = True, registered: datetime | None = None) -> Person:
    """A person in quarantine (F1 from today by default), registered the evening before it began (or at
    `registered`, local time). Their account is `account_id`, else the one of `chat_id` (made if new), else one
    of their own."""
    end = end or start + timedelta(days=core.rules.quarantine_days[category] - 1)
    phone = phone or f"09{next(_phones)}"
    registered = registered or datetime.combine(start - timedelta(days=1), time(20))
    sid = await station_id(core, station)
    async with core.db.session() as session:
        if account_id is None:
            external_id = chat_id or f"p{phone}"
            account = (await session.exec(select(Account).where(Account.channel == "telegram",
                                                                Account.external_id == external_id))).first()
            if account is None:
                account = Account(channel="telegram", external_id=external_id, language=language)
                session.add(account)
                await session.flush()
            account_id = account.id
        person = Person(account_id=account_id, is_self=is_self, full_name=name, birth_year=birth_year,
                        gender=gender, phone=phone, id_number=id_number, station_id=sid, address="12 Lê Lợi",
                        category=category, start_date=start, end_date=end, status=status,
                        created_at=_utc(registered))
        session.add(person)
        await session.flush()
        return person


def _person_id(person: Person | int) -> int:
    return person if isinstance(person, int) else person.id


async def add_declaration(core: Core, person: Person | int, day: date = TODAY, slot: str | None = None,
                          tier: str = "normal", *, hour: int | None = None, minute: int = 0,
                          temperature: float = 36.8, symptoms: Sequence[str] = (), spo2: int | None = None) -> int:
    """A declaration for the slot (by default the one of `hour`), made at `hour` (by default the slot's)."""
    hour = hour if hour is not None else int(slot[:2]) if slot else 8
    slot = slot or ("08:00" if hour < 15 else "15:00")
    async with core.db.session() as session:
        stored = await session.get(Person, _person_id(person))
        declaration = Declaration(person_id=stored.id, account_id=stored.account_id, day=day, slot=slot,
                                  declared_at=local(day, hour, minute), temperature=temperature,
                                  symptoms=list(symptoms), spo2=spo2, tier=tier)
        session.add(declaration)
        await session.flush()
        return declaration.id


async def add_alert(core: Core, person: Person | int, tier: str = "danger", status: str = "open", *,
                    at: datetime | None = None, taken_by: str | None = None, taken_at: datetime | None = None,
                    resolved_by: str | None = None) -> int:
    """An alert of the person's station raised `at` (local time if without a zone; now by default). One
    acknowledged or resolved was taken by `taken_by` ("Lan") at `taken_at` (now), and resolved by
    `resolved_by` (whoever took it) now."""
    async with core.db.session() as session:
        stored = await session.get(Person, _person_id(person))
        alert = Alert(person_id=stored.id, station_id=stored.station_id, tier=tier, status=status,
                      created_at=_utc(at) if at else core.utcnow())
        if status in ("acknowledged", "resolved"):
            alert.acknowledged_by = taken_by or "Lan"
            alert.acknowledged_at = _utc(taken_at) if taken_at else core.utcnow()
        if status == "resolved":
            alert.resolved_by, alert.resolved_at = resolved_by or alert.acknowledged_by, core.utcnow()
        session.add(alert)
        await session.flush()
        return alert.id


# --- reading back ----------------------------------------------------------------------------------------------


async def get(core: Core, table: type, row_id: int):
    async with core.db.session() as session:
        return await session.get(table, row_id)


async def audit_events(core: Core, action: str | None = None) -> list[AuditEvent]:
    return await rows(core, AuditEvent, *([AuditEvent.action == action] if action else []))


async def sent_to(core: Core, chat_id: str) -> list[Outbox]:
    """The outbox rows to the chat, oldest first."""
    return await rows(core, Outbox, Outbox.chat_id == chat_id)


def texts(messages: Sequence[Outbox]) -> list[str]:
    return [m.payload["text"] for m in messages]


def buttons(message: Outbox) -> list[tuple[str, str]]:
    """(label, payload) of an outbox message's buttons."""
    return [(label, data) for row in message.payload.get("buttons", []) for label, data in row]


def payloads(chat: ChatDriver) -> list[str]:
    return [b.payload for b in chat.buttons()]


def labels(chat: ChatDriver) -> list[str]:
    return [b.label for b in chat.buttons()]


# --- spreadsheets ----------------------------------------------------------------------------------------------

HEADER = [c.header for c in COLUMNS]


def person_row(i: int, **changes: object) -> list[object]:
    """A valid row of the import template, in its column order; distinct phone and CCCD per i."""
    values = {"full_name": "Trần Thị Bình", "birth_year": 1975, "gender": "Nữ", "phone": f"09{i:08d}",
              "id_number": f"0640{i:08d}", "address": "5 Hùng Vương, tổ 2", "category": "F1",
              "start_date": "27/11/2026", "station_code": "", "decision_number": ""}
    values.update(changes)
    return [values[c.field] for c in COLUMNS]


def xlsx(*data: list[object], header: list[object] | None = None, title: str | None = None) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    if title:
        sheet.append([title])
    sheet.append(HEADER if header is None else header)
    for row in data:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def sheet_rows(content: bytes, sheet: int | str = 0) -> list[tuple]:
    book = openpyxl.load_workbook(io.BytesIO(content))
    ws = book.worksheets[sheet] if isinstance(sheet, int) else book[sheet]
    return list(ws.iter_rows(values_only=True))


def documents(replies: list[Reply]) -> dict[str, Attachment]:
    return {r.document.file_name: r.document for r in replies if r.document is not None}


def document(replies: list[Reply], prefix: str) -> Attachment:
    """The one file of the replies whose name begins with `prefix`."""
    found = [d for name, d in documents(replies).items() if name.startswith(prefix)]
    assert len(found) == 1, list(documents(replies))
    return found[0]


# --- crafted spreadsheets (the import's bounds) ---------------------------------------------------------------


def rezipped(content: bytes, change: dict[str, bytes | None]) -> bytes:
    """The same .xlsx with some members replaced, added, or (None) removed."""
    import zipfile

    source, buffer = zipfile.ZipFile(io.BytesIO(content)), io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for name in source.namelist():
            if name not in change:
                out.writestr(name, source.read(name))
        for name, data in change.items():
            if data is not None:
                out.writestr(name, data)
    return buffer.getvalue()


def forged_dimension(content: bytes, ref: str) -> bytes:
    """The workbook's first sheet claiming the size `ref` (e.g. "A1:XFD5", 16,384 columns) in its <dimension>."""
    import re
    import zipfile

    sheet = "xl/worksheets/sheet1.xml"
    xml = zipfile.ZipFile(io.BytesIO(content)).read(sheet)
    forged, found = re.subn(rb'<dimension ref="[^"]*"\s*/>', f'<dimension ref="{ref}"/>'.encode(), xml)
    assert found == 1, "openpyxl's normal writer writes a <dimension>"
    return rezipped(content, {sheet: forged})


def zip_bomb(content: bytes, unpacked_mb: int) -> bytes:
    """The workbook with its first sheet padded by `unpacked_mb` MB of blanks, which pack a thousand times."""
    import zipfile

    sheet = "xl/worksheets/sheet1.xml"
    xml = zipfile.ZipFile(io.BytesIO(content)).read(sheet)
    return rezipped(content, {sheet: xml.replace(b"</sheetData>", b"</sheetData>" + b" " * (unpacked_mb << 20))})


def big_list(rows: int, **changes: object) -> bytes:
    """A legitimate list of `rows` people (write-only openpyxl: seconds, not minutes, for 20,000)."""
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Danh sách")
    sheet.append(HEADER)
    for i in range(1, rows + 1):
        sheet.append(person_row(i, **changes))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


async def background_replies(core: Core, chat_id: str) -> list[Reply]:
    """Once the imports running in the background are done, what they queued for the chat (the outbox), in
    order."""
    import asyncio

    from handlers.people_files import RUNNING

    while RUNNING:
        await asyncio.gather(*RUNNING)
    return [Reply.from_payload(message.payload) for message in await sent_to(core, chat_id)]


# --- registration up to the commune question ----------------------------------------------------------------


async def until_station_question(chat: ChatDriver) -> None:
    """A new person's registration up to "which commune?": consent given, name, year, gender, phone, no ID."""
    await chat.say("/start")
    await chat.press(chat.buttons()[0].label)  # consent: the first button agrees
    await chat.say("Nguyễn Văn An")
    await chat.say("1980")
    await chat.press(chat.buttons()[0].label)  # gender
    await chat.say("0912 345 678")
    await chat.send(button=chat.buttons()[-1].payload, message_id="1")  # the ID number: skipped
