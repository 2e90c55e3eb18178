"""Purge means gone: after the retention purge, and after a confirmed erasure, none of a person's values is left in
the bytes of the SQLite file or of its write-ahead log (a person written through every path the bot has)."""
from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from itertools import count
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlmodel import select

from delivery.sender import OutboxSender
from scheduler.runner import Scheduler
from services.env import Core
from storage.attempts import WINDOW
from storage.invitations import create_invitations
from storage.models import (
    Account,
    Attempt,
    AuditEvent,
    Claim,
    ConversationState,
    Outbox,
    Person,
    ProcessedUpdate,
)
from storage.stations import as_utc
from tests.conftest import ChatDriver, Clock, run_cachly
from tests.factories import GROUP, TODAY, add_alert, add_person, add_staff, bind_group, station_id
from tests.steps import rows, vi

PHOTO = "AgACAgUAAxkBZebraPhoto9191"
HELP = "Nhà hết thuốc Quokka77, nhờ trạm giúp"
ANSWER = "Chiều nay trạm mang thuốc Wombat55 tới"
NOTE = "Ghi chú riêng Xylophone42"
WORDS = "khó thở quá Narwhal31"


def person_values(name: str, phone: str, id_number: str, address: str) -> dict:
    return {"full_name": name, "birth_year": 1977, "gender": "female", "phone": phone, "id_number": id_number,
            "address": address, "category": "f1", "start_date": "2026-11-29", "station_code": "23575",
            "station_name": "Phường Pleiku", "decision_number": ""}


# The one who registers through an invitation; an ASCII name, and one with Vietnamese letters (stored escaped in
# JSON columns, as UTF-8 in text ones: both forms are looked for).
ASCII = person_values("Zyxwvu Qwertyuiop", "0987123456", "064177123456", "99 Quokka Street, to 42")
VIETNAMESE = person_values("Ngô Thị Ưởng Diệc", "0976543210", "064177654321", "7 Đường Kỳ Lạ, tổ 9")
# Someone who opened their invitation and left; someone who typed half a registration.
OPENED = person_values("Opened Invitee Xenon", "0965000111", "064177000111", "3 Hẻm Mở Dở")
HALF_NAME = "Bỏ Dở Giữa Chừng Yttrium"


def database_file(core: Core) -> Path:
    return Path(make_url(core.db.url).database or "")


def left_in_files(core: Core, values: list[str]) -> list[str]:
    """The values found in the database file or its write-ahead log, raw (UTF-8) or as JSON writes them."""
    path = database_file(core)
    wal = Path(f"{path}-wal")
    content = path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    return [v for v in values if v.encode() in content or json.dumps(v)[1:-1].encode() in content]


def where_found(core: Core, values: list[str]) -> list[tuple[str, int, bytes]]:
    """Where the values are (file, page, bytes around): what a failure is about."""
    path = database_file(core)
    found = []
    for file in (path, Path(f"{path}-wal")):
        content = file.read_bytes() if file.exists() else b""
        for form in [form for v in values for form in (v.encode(), json.dumps(v)[1:-1].encode())]:
            at = content.find(form)
            if at >= 0:
                found.append((file.name, at // 4096, content[max(0, at - 60):at + 60]))
    return found


def values_of(data: dict) -> list[str]:
    return [data["full_name"], data["phone"], data["id_number"], data["address"]]


async def deliver_all(core: Core) -> list[tuple[str, dict]]:
    """The sender delivers everything due to a channel that accepts it all (the rows become sent)."""
    delivered: list[tuple[str, dict]] = []
    ids = count(100)

    async def deliver(chat_id: str, payload: dict) -> str:
        delivered.append((chat_id, payload))
        return str(next(ids))

    sender = OutboxSender(core, "telegram", deliver)
    while await sender.run_once():
        pass
    return delivered


async def invite(core: Core, data: dict) -> str:
    async with core.db.session() as session:
        [code] = await create_invitations(session, [(await station_id(core), data)], "test", core.utcnow())
    return code


async def write_everything(core: Core, data: dict) -> ChatDriver:
    """Through the real paths: an invitation opened and confirmed, a check-in with a note and a danger answer (an
    alert), danger words, a help request with a photo and a staff answer, an export; another invitation opened and
    left, a registration typed half-way. Everything delivered."""
    group = await bind_group(core)
    await add_staff(core, "300", name="Chị Hoa")
    person = ChatDriver(core, "100", name=data["full_name"].split()[-1])
    await person.say(f"/start {await invite(core, data)}")
    await person.press("Đồng ý")
    await person.press("Xác nhận")
    assert "Đăng ký xong" in person.text(), person.text()
    await person.say("/khaibao")
    await person.say("36,8")
    await person.press("Không có triệu chứng")
    await person.say("88")  # SpO2: measured again, still low: danger, the station is alerted
    await person.say("88")
    await person.say("18")
    await person.say(NOTE)
    await person.press("Đúng")
    await person.say(WORDS)
    await person.press(vi("distress.button"))
    await person.say("/phananh")
    await person.send(text=HELP, photo_id=PHOTO)
    assert "Quokka77" not in person.text() and "#" in person.text(), person.text()
    await deliver_all(core)
    [post] = [row for row in await rows(core, Outbox, Outbox.chat_id == GROUP)
              if "req:answer" in json.dumps(row.payload)]
    await group.send(button=f"req:answer:{_request_id(post)}", message_id=post.sent_message_id)
    await group.say(ANSWER)
    staff = ChatDriver(core, "300", name="Chị Hoa")
    await staff.say("/xuat")
    opened = ChatDriver(core, "101", name="Xenon")
    await opened.say(f"/start {await invite(core, OPENED)}")
    await opened.press("Đồng ý")
    half = ChatDriver(core, "102", name="Yttrium")
    await half.say("/start")
    await half.press("Đồng ý")
    await half.say(HALF_NAME)
    delivered = await deliver_all(core)
    assert any(ANSWER in payload.get("text", "") for _, payload in delivered)  # the answer reached the person
    return group


def _request_id(post: Outbox) -> int:
    [data] = [d for row in post.payload["buttons"] for _, d in row if d.startswith("req:answer:")]
    return int(data.rsplit(":", 1)[1])


def everything(data: dict) -> list[str]:
    return [*values_of(data), NOTE, HELP, ANSWER, PHOTO, WORDS, *values_of(OPENED), HALF_NAME]


async def tick_on(core: Core, clock: Clock, days: int) -> None:
    clock.advance(days=days)
    await Scheduler(core).tick()


# --- after the retention period ----------------------------------------------------------------------------


async def retention_purge_leaves_no_value(core: Core, clock: Clock, data: dict) -> None:
    await write_everything(core, data)
    values = everything(data)
    assert left_in_files(core, values) == values  # written, and found where they were written
    await tick_on(core, clock, 20)  # the quarantine has ended
    [person] = await rows(core, Person)
    assert person.status == "completed" and person.anonymized_at is None
    await tick_on(core, clock, core.retention_days + 1)
    [person] = await rows(core, Person)
    assert person.anonymized_at is not None
    await deliver_all(core)
    assert left_in_files(core, values) == [], where_found(core, values)
    async with core.db.session() as session:  # the half-typed registration, the opened invitation: gone
        assert (await session.exec(select(ConversationState))).all() == []
    assert {event.actor.split(" ")[0] for event in await rows(core, AuditEvent)} == {
        event.actor for event in await rows(core, AuditEvent)}  # no display name in the trail


async def test_the_retention_purge_leaves_no_value_in_the_database_file(core: Core, clock: Clock) -> None:
    await retention_purge_leaves_no_value(core, clock, ASCII)


async def test_the_retention_purge_leaves_no_vietnamese_name_either(core: Core, clock: Clock) -> None:
    await retention_purge_leaves_no_value(core, clock, VIETNAMESE)



async def test_cachly_purge_beside_a_running_bot_leaves_no_value_in_the_log(core: Core) -> None:
    # `cachly purge` runs on the real clock: a quarantine that ended in the summer is well past retention.
    name, phone = "Zyxwvu Cliperson", "0911222333"
    await add_person(core, name, "301", start=date(2026, 6, 1), status="completed", phone=phone)
    assert left_in_files(core, [name, phone]) == [name, phone]
    async with core.db.engine.connect() as bot:  # the running bot's connection, open throughout
        await bot.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # the values in the file itself, as in a day
        done = await asyncio.to_thread(run_cachly, core.db.url, "purge")
        assert done.returncode == 0 and done.stdout.strip() == "anonymised: 1", done.stderr
        assert left_in_files(core, [name, phone]) == [], where_found(core, [name, phone])


# --- after a confirmed erasure -------------------------------------------------------------------------------


async def test_an_erasure_in_quarantine_leaves_no_value_ends_the_follow_up_and_tells_the_station(
        core: Core, clock: Clock) -> None:
    group = await write_everything(core, VIETNAMESE)
    erased_values = [*values_of(VIETNAMESE), NOTE, HELP, ANSWER, PHOTO, WORDS]
    assert left_in_files(core, erased_values) == erased_values
    person = ChatDriver(core, "100")
    await person.say("/xoadulieu")
    await person.press("Gửi yêu cầu xoá")
    [request_post] = [r for r in await rows(core, Outbox, Outbox.chat_id == GROUP) if "del:ok" in json.dumps(r.payload)]
    confirm = request_post.payload["buttons"][0][0][1]
    await deliver_all(core)
    await group.send(button=confirm, message_id="7")
    assert vi("deletion.recorded_done") in group.text()
    [erased] = await rows(core, Person)
    assert erased.status == "cancelled" and erased.anonymized_at is not None
    delivered = await deliver_all(core)
    assert ("100", vi("deletion.done_person")) in [(chat, p["text"]) for chat, p in delivered]  # told, then forgotten
    assert (GROUP, vi("deletion.followup_ended")) in [(chat, p["text"]) for chat, p in delivered]
    assert all(VIETNAMESE["full_name"] not in p["text"] for _, p in delivered)
    assert await rows(core, Outbox, Outbox.chat_id == "100") == []
    await tick_on(core, clock, 0)  # the next tick checkpoints the erasure's old pages out of the log
    assert left_in_files(core, erased_values) == [], where_found(core, erased_values)
    async with core.db.session() as session:
        account = (await session.exec(select(Account).where(Account.id == erased.account_id))).one()
    assert account.external_id.startswith("anon-")
    actors = {event.actor for event in await rows(core, AuditEvent)}
    assert f"account:{account.id}" in actors and not [a for a in actors if a.startswith("telegram:100")]
    assert not [a for a in actors if " " in a]  # ids, no display name
    erased_at = clock.current
    await add_person(core, "Lê Thị Im Lặng", "103", start=TODAY - timedelta(days=2))  # silent: lists are sent
    group_texts: list[str] = []
    for _ in range(48):  # two days of reminders, silent lists, reports: nothing about the erased person
        clock.advance(hours=1)
        await Scheduler(core).tick()
        delivered = await deliver_all(core)
        assert not [chat for chat, _ in delivered if chat == "100" or chat.startswith("anon-")]
        group_texts += [p["text"] for chat, p in delivered if chat in (GROUP, "999")]
    silent_lists = [text for text in group_texts if "Lê Thị Im Lặng" in text]
    assert silent_lists and not [text for text in group_texts if "• —" in text]
    subjects = {f"person:{erased.id}", f"account:{erased.account_id}"}
    assert not [c for c in await rows(core, Claim) if c.subject in subjects and as_utc(c.claimed_at) > erased_at]



# --- the tables that only grow -------------------------------------------------------------------------------


async def test_the_daily_sweep_prunes_what_only_grows_and_keeps_what_is_still_needed(core: Core, clock: Clock) -> None:
    person = await add_person(core, "Lê Văn Tỉa")
    open_alert, resolved_alert = await add_alert(core, person), await add_alert(core, person, status="resolved")
    old, recent = clock.current - timedelta(days=8), clock.current - timedelta(days=1)
    async with core.db.session() as session:
        session.add_all([ProcessedUpdate(channel="telegram", update_id="1", at=old),
                         ProcessedUpdate(channel="telegram", update_id="2", at=recent),
                         Attempt(kind="bind", subject="telegram:7", at=clock.current - WINDOW - timedelta(minutes=1)),
                         Attempt(kind="bind", subject="telegram:7", at=clock.current),
                         AuditEvent(actor="telegram:7", action="access.refused", entity="command",
                                    at=clock.current - timedelta(days=core.retention_days + 1)),
                         AuditEvent(actor="telegram:7", action="access.refused", entity="command", at=recent),
                         AuditEvent(actor="cli", action="role.grant", entity="role", at=old - timedelta(days=400))])
        for alert_id, kept in ((None, "gone"), (open_alert, "open alert"), (resolved_alert, "resolved")):
            session.add(Outbox(channel="telegram", chat_id=GROUP, payload={"text": kept}, status="sent",
                               alert_id=alert_id, created_at=old, sent_at=old))
        for alert_id, text in ((None, "yesterday"), (resolved_alert, "resolved yesterday")):
            session.add(Outbox(channel="telegram", chat_id=GROUP, payload={"text": text}, status="sent",
                               alert_id=alert_id, created_at=recent, sent_at=recent))
    await tick_on(core, clock, 0)
    async with core.db.session() as session:
        assert (await session.exec(select(ProcessedUpdate.update_id))).all() == ["2"]
    assert [a.at for a in await rows(core, Attempt)] == [clock.current]
    assert sorted((e.action, e.at) for e in await rows(core, AuditEvent)) == [
        ("access.refused", recent), ("role.grant", old - timedelta(days=400))]  # the trail of changes stays
    # a week on: gone, but the copies of an alert still open (to edit them)
    kept = await rows(core, Outbox, Outbox.status == "sent")
    assert [(r.alert_id, r.payload["text"]) for r in kept] == [
        (open_alert, "open alert"), (None, "yesterday"), (resolved_alert, "resolved yesterday")]
