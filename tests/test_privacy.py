"""Retention and deletion: personal data anonymised after the retention period or on a confirmed request."""
from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from scheduler.runner import Scheduler
from storage.models import Account, Declaration, DeletionRequest, Outbox, Person
from storage.stations import issue_bind_code
from tests.conftest import ChatDriver, register
from tests.factories import PLEIKU, QUY_NHON, add_staff


async def person(core) -> Person:
    async with core.db.session() as session:
        return (await session.exec(select(Person))).one()


async def test_retention_anonymises_a_completed_quarantine_after_30_days_only(core, chat, clock):
    await register(chat)
    await chat.say("/khaibao")
    await chat.say("36,8")
    await chat.press("Không có triệu chứng")
    await chat.press("Không có máy đo")
    await chat.press("Bỏ qua")
    await chat.say("Tôi khoẻ, cảm ơn trạm")
    await chat.press("Đúng")
    async with core.db.session() as session:
        p = (await session.exec(select(Person))).one()
        p.status, p.end_date = "completed", core.today() - timedelta(days=30)
        session.add(p)
    await Scheduler(core).tick()
    assert (await person(core)).anonymized_at is None  # 30 days ago: kept one more day
    clock.advance(days=1)
    await Scheduler(core).tick()
    p = await person(core)
    assert p.anonymized_at is not None
    assert (p.full_name, p.phone, p.id_number, p.address, p.birth_year) == ("—", "", None, "", 1980)
    async with core.db.session() as session:
        declaration = (await session.exec(select(Declaration))).one()
        account = (await session.exec(select(Account))).one()
    assert declaration.note is None and declaration.temperature == 36.8  # statistics stay
    assert account.external_id.startswith("anon-")


async def test_deletion_request_is_confirmed_by_the_station_staff_in_its_group_and_the_person_told(core, chat):
    await register(chat)
    async with core.db.session() as session:
        code = await issue_bind_code(session, PLEIKU, core.utcnow())  # Pleiku's station
    group = ChatDriver(core, "501", chat_id="-100777", chat_type="group", name="Lan")
    await group.say(f"/lienket {code}")
    await chat.say("/xoadulieu")
    assert "Nguyễn Văn An" in chat.text()
    await chat.press("Gửi yêu cầu xoá")
    assert "Đã gửi yêu cầu" in chat.text()
    async with core.db.session() as session:
        to_group = [o for o in (await session.exec(select(Outbox))).all() if o.chat_id == "-100777"]
    assert len(to_group) == 1 and "0912345678" in to_group[0].payload["text"]
    confirm = to_group[0].payload["buttons"][0][0][1]
    stranger = ChatDriver(core, "777")  # not staff, not in the group
    await stranger.send(button=confirm)
    assert "không có quyền" in stranger.text()
    await group.send(button=confirm, message_id="5")  # a member of the group, not staff: may not erase anyone
    assert "không có quyền" in group.text() and (await person(core)).anonymized_at is None
    await add_staff(core, "502", station=QUY_NHON, name="Tâm")  # staff, of another station
    other_station = ChatDriver(core, "502", chat_id="-100777", chat_type="group", name="Tâm")
    await other_station.send(button=confirm, message_id="5")
    assert "không có quyền" in other_station.text() and (await person(core)).anonymized_at is None
    await add_staff(core, "501", name="Lan")
    await group.send(button=confirm, message_id="5")
    assert "Đã xoá dữ liệu" in group.text()
    p = await person(core)
    assert p.anonymized_at is not None and p.full_name == "—"
    async with core.db.session() as session:
        told = [o for o in (await session.exec(select(Outbox))).all() if o.chat_id == "100"]
        request = (await session.exec(select(DeletionRequest))).one()
    assert request.status == "done" and request.decided_by == "telegram:501"  # an id, no display name
    assert "đã xoá dữ liệu cá nhân" in told[-1].payload["text"]
    await group.send(button=confirm, message_id="5")  # pressed twice: acts once
    assert "đã được Lan xử lý" in group.text()


async def test_nothing_to_delete_for_someone_unregistered(core):
    stranger = ChatDriver(core, "778")
    await stranger.say("/xoadulieu")
    assert "Không có dữ liệu" in stranger.text()
