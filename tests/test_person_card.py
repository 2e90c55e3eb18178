"""The person card: what it shows, and its actions (end early, extend, change category, transfer, mark
reviewed, add a note), each with bad inputs, its audit event and what it tells others."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from services.env import Core
from storage.models import HelpRequest, Person, PersonNote, Station
from storage.roles import PROVINCE
from tests.conftest import ChatDriver
from tests.factories import (
    PLEIKU,
    QUY_NHON,
    TODAY,
    add_alert,
    add_declaration,
    add_person,
    add_staff,
    audit_events,
    bind_group,
    get,
    labels,
    local,
    payloads,
    sent_to,
    staff_chat,
    station_id,
    texts,
)

F1_END = TODAY + timedelta(days=13)  # 12/12/2026


@pytest.fixture
async def lan(core: Core) -> ChatDriver:
    await add_staff(core, "500", station=PLEIKU, name="Lan")
    return staff_chat(core, "500", "Lan")


@pytest.fixture
async def an(core: Core) -> int:
    return (await add_person(core, "Nguyễn Văn An", phone="0912345678", id_number="001234567890",
                            chat_id="100")).id


async def open_card(chat: ChatDriver, person_id: int) -> str:
    await chat.send(button=f"card:{person_id}", message_id="5")
    return chat.text()


# --- what the card shows -------------------------------------------------------------------------------


async def test_the_card_shows_the_record(core: Core, lan: ChatDriver, an: int) -> None:
    text = await open_card(lan, an)
    for expected in ("👤 Nguyễn Văn An (hồ sơ số", "Sinh năm 1980 (46 tuổi), Nam",
                     "📞 0912345678 · Số CCCD: 001234567890", "🏠 12 Lê Lợi", "🏥 Trạm y tế: Phường Pleiku",
                     "Diện: F1", "từ 29/11/2026 đến hết 12/12/2026",
                     "đang cách ly (còn 14 ngày)", "Chưa có nhân viên đánh dấu đã xem", "Khai báo gần đây (0)",
                     "(chưa có)"):
        assert expected in text, expected
    assert labels(lan) == ["⏹ Kết thúc sớm", "➕ Gia hạn", "🔁 Đổi diện", "🏥 Chuyển trạm", "👁 Đã xem",
                           "📝 Ghi chú"]


async def test_the_card_shows_the_last_ten_declarations_alerts_requests(core: Core, lan: ChatDriver,
                                                                         an: int) -> None:
    for n in range(12):
        day = TODAY - timedelta(days=6 - n // 2)
        await add_declaration(core, an, tier="normal", day=day, hour=8 if n % 2 == 0 else 15)
    await add_declaration(core, an, tier="watch", hour=9, temperature=38.2, symptoms=("cough", "fever"), spo2=97)
    await add_alert(core, an, "watch", status="acknowledged", taken_by="Hoa", at=local(TODAY, 9))
    async with core.db.session() as session:
        person = await session.get(Person, an)
        session.add(HelpRequest(person_id=an, station_id=person.station_id, account_id=person.account_id,
                                status="in_progress", created_at=local(TODAY, 9, 5)))
    text = await open_card(lan, an)
    assert "Khai báo gần đây (10)" in text
    assert "• 29/11 buổi 08:00: 38,2°C · SpO2 97 · thở — · Ho, Sốt — 🟠 cần theo dõi" in text
    assert text.count("🟢 bình thường") == 9  # the oldest three are left out
    assert "🚨 Cảnh báo:" in text and "🟠 cần theo dõi — Hoa đã nhận lúc" in text
    assert "📨 Phản ánh:" in text and "đang xử lý" in text


async def test_the_card_names_who_declares_for_a_household_member(core: Core, lan: ChatDriver, an: int) -> None:
    account = (await get(core, Person, an)).account_id
    mother = (await add_person(core, "Trần Thị Bình", gender="female", birth_year=1950, account_id=account,
                              is_self=False, phone="0912345678")).id
    text = await open_card(lan, mother)
    assert "Khai hộ bởi: Nguyễn Văn An (0912345678)" in text and "Nữ" in text


# --- end early -----------------------------------------------------------------------------------------


async def test_end_early_asks_first_then_sets_today(core: Core, lan: ChatDriver, an: int) -> None:
    await open_card(lan, an)
    await lan.press("Kết thúc sớm")
    assert "Kết thúc cách ly sớm cho Nguyễn Văn An?" in lan.text()
    assert (await get(core, Person, an)).end_date == F1_END  # nothing yet
    await lan.press("Không, giữ nguyên")
    assert "giữ nguyên" in lan.text() and (await get(core, Person, an)).end_date == F1_END
    await lan.press("Mở hồ sơ")
    await lan.press("Kết thúc sớm")
    await lan.press("Kết thúc hôm nay")
    assert lan.last[0].edit_id == "1" and "thành hôm nay (29/11/2026)" in lan.text()
    person = await get(core, Person, an)
    assert person.end_date == TODAY and person.status == "active"  # the closing round completes it
    [event] = await audit_events(core, "person.end_early")
    assert (event.entity, event.entity_id, event.actor) == ("person", str(an), "telegram:500")
    assert event.before == {"end_date": "2026-12-12"} and event.after == {"end_date": "2026-11-29"}
    assert "Lan đã kết thúc sớm, ngày cuối 12/12/2026 → 29/11/2026" in await open_card(lan, an)


async def test_end_early_of_a_quarantine_ending_today(core: Core, lan: ChatDriver) -> None:
    person = (await add_person(core, "Lê Văn Cường", start=TODAY - timedelta(days=13))).id
    await lan.send(button=f"pa:endok:{person}")
    assert "không cần kết thúc sớm" in lan.text()
    assert await audit_events(core, "person.end_early") == []


async def test_the_closing_round_honours_an_early_end(core: Core, lan: ChatDriver, an: int, clock) -> None:
    from scheduler.closing import closing_round

    await lan.send(button=f"pa:endok:{an}")
    clock.advance(hours=8)  # 17:30, after the closing time
    async with core.db.session() as session:
        assert await closing_round(session, core, core.now()) == 1
    assert (await get(core, Person, an)).status == "completed"


# --- extend --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["0", "31", "abc", "-3", "2.5", ""])
async def test_extend_refuses_bad_numbers_and_asks_again(core: Core, lan: ChatDriver, an: int, bad: str) -> None:
    await open_card(lan, an)
    await lan.press("Gia hạn")
    assert "thêm bao nhiêu ngày? Gõ một số từ 1 đến 30" in lan.text()
    await lan.say(bad)
    assert "số nguyên từ 1 đến 30" in lan.text() and "thêm bao nhiêu ngày" in lan.last[-1].text
    assert (await get(core, Person, an)).end_date == F1_END
    await lan.say("30")
    assert (await get(core, Person, an)).end_date == F1_END + timedelta(days=30)


async def test_extend_moves_the_end_date_records_and_tells_the_person(core: Core, lan: ChatDriver, an: int) -> None:
    await open_card(lan, an)
    await lan.press("Gia hạn")
    await lan.say(" 5 ")
    assert "Đã gia hạn cách ly của Nguyễn Văn An thêm 5 ngày, đến hết ngày 17/12/2026" in lan.text()
    assert (await get(core, Person, an)).end_date == F1_END + timedelta(days=5)
    [event] = await audit_events(core, "person.extend")
    assert event.before == {"end_date": "2026-12-12"} and event.after == {"end_date": "2026-12-17", "days": 5}
    assert ["📅 Trạm y tế đã cập nhật thời gian cách ly của Nguyễn Văn An: đến hết ngày 17/12/2026. "
            "Bạn tiếp tục khai báo sức khỏe hằng ngày nhé."] == texts(await sent_to(core, "100"))
    assert "Lan đã gia hạn 5 ngày, ngày cuối 12/12/2026 → 17/12/2026" in await open_card(lan, an)


async def test_extend_can_be_cancelled(core: Core, lan: ChatDriver, an: int) -> None:
    await lan.send(button=f"pa:ext:{an}")
    await lan.press("Hủy")
    assert "Đã hủy" in lan.text()
    await lan.say("5")  # no longer read as days
    assert (await get(core, Person, an)).end_date == F1_END


async def test_opening_another_card_drops_a_half_typed_action(core: Core, lan: ChatDriver, an: int) -> None:
    other = (await add_person(core, "Lê Văn Cường")).id
    await lan.send(button=f"pa:ext:{an}")
    await open_card(lan, other)
    await lan.say("5")
    assert (await get(core, Person, an)).end_date == F1_END
    assert await audit_events(core, "person.extend") == []


async def test_a_role_lost_mid_action_is_checked_when_applied(core: Core, lan: ChatDriver, an: int) -> None:
    await lan.send(button=f"pa:ext:{an}")
    async with core.db.session() as session:
        from storage.models import StaffMember
        member = (await session.exec(select(StaffMember).where(StaffMember.user_id == "500"))).one()
        member.active = False
        session.add(member)
    await lan.say("5")
    assert "không có quyền" in lan.text()
    assert (await get(core, Person, an)).end_date == F1_END
    assert [e.entity_id for e in await audit_events(core, "access.refused")] == ["pa:ext"]


# --- change category -----------------------------------------------------------------------------------


async def test_change_category_recomputes_the_end_date(core: Core, lan: ChatDriver, an: int) -> None:
    await open_card(lan, an)
    await lan.press("Đổi diện")
    assert labels(lan)[0] == "✓ F1 (tiếp xúc gần)"
    await lan.press("F2")
    person = await get(core, Person, an)
    assert person.category == "f2" and person.end_date == TODAY + timedelta(days=6)
    assert "sang F2" in lan.text() and "05/12/2026" in lan.text()
    [event] = await audit_events(core, "person.category")
    assert event.before == {"category": "f1", "end_date": "2026-12-12"}
    assert event.after == {"category": "f2", "end_date": "2026-12-05"}
    assert "05/12/2026" in texts(await sent_to(core, "100"))[0]


async def test_a_shorter_category_already_over_says_the_record_closes(core: Core, lan: ChatDriver) -> None:
    person = (await add_person(core, "Lê Văn Cường", start=TODAY - timedelta(days=10))).id
    await lan.send(button=f"pa:cat:{person}:f2")
    assert "đã qua, nên hồ sơ sẽ được kết thúc ngay" in lan.text()


async def test_the_same_or_an_unknown_category_changes_nothing(core: Core, lan: ChatDriver, an: int) -> None:
    await lan.send(button=f"pa:cat:{an}:f1")
    assert "giữ nguyên" in lan.text()
    await lan.send(button=f"pa:cat:{an}:f9")  # unknown: the choices again
    assert "Đổi diện cách ly của Nguyễn Văn An sang" in lan.text()
    assert await audit_events(core, "person.category") == []


# --- transfer ------------------------------------------------------------------------------------------


async def test_transfer_to_an_unknown_or_the_same_station_asks_again(core: Core, lan: ChatDriver, an: int) -> None:
    await open_card(lan, an)
    await lan.press("Chuyển trạm")
    assert "Chuyển Nguyễn Văn An từ Phường Pleiku sang trạm nào?" in lan.text()
    await lan.say("zzzz")
    assert "Không tìm thấy trạm nào khác khớp với «zzzz»" in lan.text()
    await lan.say("q")
    assert "ít nhất 2 ký tự" in lan.text()
    await lan.send(button=f"s:station:{PLEIKU}")  # forged: the same station
    assert "đang thuộc trạm đó rồi" in lan.text()
    await lan.send(button="s:station:99999")  # no such station
    assert "không còn hoạt động" in lan.text()
    assert (await get(core, Person, an)).station_id == await station_id(core, PLEIKU)


async def test_transfer_to_an_inactive_station_is_refused(core: Core, lan: ChatDriver, an: int) -> None:
    async with core.db.session() as session:
        station = await session.get(Station, await station_id(core, QUY_NHON))
        station.active = False
        session.add(station)
    await lan.send(button=f"pa:xfer:{an}")
    await lan.say("quy nhon")
    assert "Phường Quy Nhơn" not in labels(lan)  # not offered
    await lan.send(button=f"s:station:{QUY_NHON}")  # nor taken from an older list
    assert "không còn hoạt động" in lan.text()
    assert await audit_events(core, "person.transfer") == []


async def test_transfer_moves_the_person_and_tells_the_new_station_and_the_person(core: Core, lan: ChatDriver,
                                                                                 an: int) -> None:
    await bind_group(core, QUY_NHON, "-200")
    alert = await add_alert(core, an, "danger")
    async with core.db.session() as session:
        person = await session.get(Person, an)
        requests = [HelpRequest(person_id=an, station_id=person.station_id, account_id=person.account_id,
                                status=status) for status in ("new", "in_progress", "done")]
        session.add_all(requests)
    await open_card(lan, an)
    await lan.press("Chuyển trạm")
    await lan.say("quy nhon")
    await lan.press("Phường Quy Nhơn")
    assert "Đã chuyển Nguyễn Văn An sang Phường Quy Nhơn" in lan.text()
    assert lan.buttons() == []  # the card is no longer Lan's to open
    quy_nhon = await station_id(core, QUY_NHON)
    assert (await get(core, Person, an)).station_id == quy_nhon
    from storage.models import Alert
    assert (await get(core, Alert, alert)).station_id == quy_nhon  # an open alert follows the person
    [notice] = texts(await sent_to(core, "-200"))
    assert "Hồ sơ chuyển đến Phường Quy Nhơn (từ Phường Pleiku, do Lan chuyển)" in notice
    assert "Nguyễn Văn An, 46 tuổi · 📞 0912345678" in notice
    [told] = texts(await sent_to(core, "100"))
    assert "đã được chuyển về Phường Quy Nhơn" in told
    [event] = await audit_events(core, "person.transfer")
    assert event.before["station"] == PLEIKU and event.after["station"] == QUY_NHON
    assert event.after["open_alerts_moved"] == 1
    assert event.after["open_requests_moved"] == 2  # the new and the one in progress; the done one stays
    pleiku = await station_id(core, PLEIKU)
    assert [(await get(core, HelpRequest, r.id)).station_id for r in requests] == [quy_nhon, quy_nhon, pleiku]
    await lan.send(button=f"card:{an}")
    assert "không có quyền" in lan.text()
    await add_staff(core, "600", station=QUY_NHON, name="Bình")
    binh = staff_chat(core, "600", "Bình")
    assert "Lan đã chuyển trạm Phường Pleiku → Phường Quy Nhơn" in await open_card(binh, an)


async def test_transfer_without_a_group_goes_to_the_admins(core: Core, lan: ChatDriver, an: int) -> None:
    await lan.send(button=f"pa:xfer:{an}")
    await lan.say("quy nhon")
    await lan.press("Phường Quy Nhơn")
    assert "Hồ sơ chuyển đến Phường Quy Nhơn" in texts(await sent_to(core, "999"))[0]


# --- mark reviewed, notes ------------------------------------------------------------------------------


async def test_mark_reviewed(core: Core, lan: ChatDriver, an: int) -> None:
    await open_card(lan, an)
    await lan.press("Đã xem")
    notice, card = lan.last
    assert notice.toast and "Đã đánh dấu" in notice.text
    assert card.edit_id == "1" and "👁 Đã xem: Lan lúc 09:30 29/11" in card.text
    person = await get(core, Person, an)
    assert person.reviewed_by == "Lan" and person.reviewed_at is not None
    [event] = await audit_events(core, "person.review")
    assert event.before == {"reviewed_at": None, "reviewed_by": None} and event.after["reviewed_by"] == "Lan"


async def test_a_note_too_long_or_empty_is_asked_again(core: Core, lan: ChatDriver, an: int) -> None:
    await open_card(lan, an)
    await lan.press("Ghi chú")
    assert "tối đa 500 ký tự" in lan.text()
    await lan.say("x" * 501)
    assert "dài 501 ký tự, quá mức 500" in lan.text()
    await lan.say("   ")
    assert "Ghi chú đang trống" in lan.text()
    await lan.say("Đã gọi điện, gia đình hợp tác tốt.")
    assert "Đã lưu ghi chú" in lan.text()
    async with core.db.session() as session:
        [note] = (await session.exec(select(PersonNote))).all()
    assert (note.person_id, note.author, note.text) == (an, "Lan", "Đã gọi điện, gia đình hợp tác tốt.")
    [event] = await audit_events(core, "person.note")
    assert event.after == {"note_id": note.id, "note": note.text}
    text = await open_card(lan, an)
    assert "Lan viết: Đã gọi điện, gia đình hợp tác tốt." in text and "Lan đã thêm ghi chú" in text


async def test_a_note_of_exactly_500_characters_is_kept(core: Core, lan: ChatDriver, an: int) -> None:
    await lan.send(button=f"pa:note:{an}")
    await lan.say("y" * 500)
    assert "Đã lưu ghi chú" in lan.text()
    assert len(await open_card(lan, an)) < 4096  # the card shortens long notes to stay one message


# --- completed records, viewers ------------------------------------------------------------------------


async def test_a_completed_record_takes_notes_and_reviews_only(core: Core, lan: ChatDriver) -> None:
    person = (await add_person(core, "Võ Thị Phương", start=TODAY - timedelta(days=20), status="completed")).id
    text = await open_card(lan, person)
    assert "đã kết thúc cách ly" in text
    assert labels(lan) == ["👁 Đã xem", "📝 Ghi chú"]
    await lan.send(button=f"pa:ext:{person}")
    assert "chỉ còn thêm được ghi chú" in lan.text()
    await lan.send(button=f"pa:note:{person}")
    await lan.say("Đã hết cách ly, khỏe.")
    assert "Đã lưu ghi chú" in lan.text()


async def test_a_province_viewer_reads_but_never_changes(core: Core, an: int) -> None:
    await add_staff(core, "700", role=PROVINCE, station=None, name="Tỉnh")
    viewer = staff_chat(core, "700", "Tỉnh")
    assert "👤 Nguyễn Văn An" in await open_card(viewer, an)
    assert viewer.buttons() == []
    for action in ("end", "endok", "ext", "cat", "xfer", "rev", "note"):
        await viewer.send(button=f"pa:{action}:{an}")
        assert "không có quyền" in viewer.text(), action
    assert len(await audit_events(core, "access.refused")) == 7


async def test_an_admin_changes_any_station(core: Core, an: int) -> None:
    admin = ChatDriver(core, "999", name="Quản trị")
    await open_card(admin, an)
    assert "➕ Gia hạn" in labels(admin)
    await admin.press("Gia hạn")
    await admin.say("7")
    assert (await get(core, Person, an)).end_date == F1_END + timedelta(days=7)


async def test_unknown_or_broken_payloads(core: Core, lan: ChatDriver, an: int) -> None:
    for payload in ("card:999999", "card:", "card:abc", "pa:ext:999999"):
        await lan.send(button=payload)
        assert "Không tìm thấy hồ sơ" in lan.text(), payload
    await lan.send(button=f"pa:zap:{an}")
    assert "không có quyền" in lan.text()
    assert payloads(lan) == []
