"""Once only: an update delivered twice acts once; claims and inserts decided by the database."""
from __future__ import annotations

from sqlmodel import func, select

from chat.messages import Incoming
from handlers.pipeline import handle
from storage.models import Account, ProcessedUpdate
from tests.factories import PLEIKU


def update(text: str, update_id: str) -> Incoming:
    return Incoming("telegram", "100", "100", text=text, update_id=update_id, language_code="vi")


async def count(core, model) -> int:
    async with core.db.session() as session:
        return (await session.exec(select(func.count()).select_from(model))).one()


async def test_an_update_delivered_twice_is_handled_once(core):
    first = await handle(core, update("/start", "501"))
    again = await handle(core, update("/start", "501"))
    assert [r.text for r in again] == [r.text for r in first]  # not acted on again: the open question, again
    assert "Đồng ý" in [b.label for row in again[-1].buttons for b in row]
    assert await count(core, ProcessedUpdate) == 1 and await count(core, Account) == 1


async def test_different_updates_are_all_handled(core):
    assert await handle(core, update("/start", "601"))
    assert await handle(core, update("/trogiup", "602"))
    assert await count(core, ProcessedUpdate) == 2


async def test_a_failed_update_is_not_marked_processed_so_a_retry_handles_it(core, monkeypatch):
    import handlers.dispatch as dispatch

    async def broken(ctx):
        raise RuntimeError("database went away")

    monkeypatch.setattr(dispatch, "dispatch", broken)
    replies = await handle(core, update("/start", "701"))
    assert "lỗi" in replies[0].text  # the person is told, not left in silence
    monkeypatch.undo()
    assert await count(core, ProcessedUpdate) == 0
    assert await handle(core, update("/start", "701"))  # the redelivery is handled


async def test_two_staff_pressing_at_once_in_two_processes_act_once_and_one_is_told_who_was_first(
        core, chat, db_url, clock):
    import asyncio

    from services.env import Core
    from storage.db import Database
    from storage.models import Alert, AuditEvent
    from storage.stations import issue_bind_code
    from tests.conftest import TZ, ChatDriver, register
    from tests.steps import declare

    await register(chat)
    async with core.db.session() as session:
        code = await issue_bind_code(session, PLEIKU, core.utcnow())
    await ChatDriver(core, "501", chat_id="-100900", chat_type="group", name="Lan").say(f"/lienket {code}")
    await chat.say("/khaibao")
    await declare(chat, temperature="39", spo2="93")
    async with core.db.session() as session:
        alert = (await session.exec(select(Alert))).one()
    other_process = Core(Database(db_url), core.rules, TZ, core.admin_chats, clock)
    lan = ChatDriver(core, "501", chat_id="-100900", chat_type="group", name="Lan")
    binh = ChatDriver(other_process, "502", chat_id="-100900", chat_type="group", name="Bình")
    payload = f"alert:ack:{alert.id}"
    await asyncio.gather(lan.send(button=payload, message_id="7"), binh.send(button=payload, message_id="7"))
    notices = [lan.last[0].text, binh.last[0].text]
    assert sum("Đã ghi nhận" in n for n in notices) == 1, notices
    assert sum("đã tiếp nhận trước" in n for n in notices) == 1, notices
    async with core.db.session() as session:
        acks = (await session.exec(select(AuditEvent).where(AuditEvent.action == "alert.ack"))).all()
    assert len(acks) == 1
    await other_process.db.dispose()


async def test_bind_codes_cannot_be_guessed_five_wrong_tries_an_hour(core, clock):
    from storage.stations import issue_bind_code
    from tests.conftest import ChatDriver

    async with core.db.session() as session:
        good = await issue_bind_code(session, PLEIKU, core.utcnow())
    guesser = ChatDriver(core, "666", chat_id="-100666", chat_type="group")
    for guess in range(5):
        await guesser.say(f"/lienket WRONG{guess:03d}")
        assert "không đúng" in guesser.text()
    await guesser.say(f"/lienket {good}")  # even the right code is refused while locked out
    assert "quá nhiều lần" in guesser.text()
    clock.advance(hours=1, minutes=1)
    await guesser.say(f"/lienket {good}")
    assert "đã được liên kết" in guesser.text()


async def test_staff_and_invitation_codes_are_limited_the_same_way(core):
    from tests.conftest import ChatDriver

    guesser = ChatDriver(core, "667")
    for guess in range(5):
        await guesser.say(f"/nhanvien WRONG{guess:03d}")
    await guesser.say("/nhanvien ANOTHER1")
    assert "quá nhiều lần" in guesser.text()
    for guess in range(5):
        await guesser.say(f"/start INVITE{guess:07d}")
    await guesser.say("/start INVITE9999999")
    assert "quá nhiều lần" in guesser.text()


async def test_a_nul_character_is_dropped_before_anything_is_stored(core, chat):
    await chat.say("/start")
    await chat.press("Đồng ý")
    await chat.say("Nguyễn\x00 Văn An")
    assert "Năm sinh" in chat.text() or "sinh năm" in chat.text()
