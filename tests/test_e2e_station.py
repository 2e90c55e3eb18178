"""End to end on Telegram: a staff member works the station's lists and a person's card, extends a
quarantine and transfers the person to another station, whose group and the person are told."""
from __future__ import annotations

from sqlmodel import select

from storage.models import AuditEvent, Person
from storage.stations import get_station
from tests.factories import PLEIKU, QUY_NHON, add_staff, bind_code
from tests.fake_bot_api import JSON, FakeBotAPI
from tests.telegram_steps import (
    CITIZEN,
    GROUP,
    STAFF_BINH,
    STAFF_LAN,
    Harness,
    bind_group_via_telegram,
    newest_button,
    register_via_telegram,
    say,
    tap,
)

QN_GROUP = -1005002


async def tap_in_place(fake: FakeBotAPI, user: int, label: str, expect: str) -> JSON:
    """Press a button whose answer replaces the pressed message (a list's page, the menu)."""
    msg, data = newest_button(fake, user, label)
    await fake.press(user, msg, data)
    return await fake.wait_for_edit(user, msg["message_id"], lambda m: expect in m["text"])


async def test_staff_list_open_a_card_extend_and_transfer(harness: Harness) -> None:
    fake = harness.fake
    await bind_group_via_telegram(harness)  # Phường Pleiku's group
    fake.group(QN_GROUP, "Trạm Y tế Phường Quy Nhơn")
    code = await bind_code(harness.core, QUY_NHON)
    await say(fake, STAFF_BINH, f"/lienket {code}", "đã được liên kết", chat=QN_GROUP)
    await register_via_telegram(fake)
    await add_staff(harness.core, str(STAFF_LAN), station=PLEIKU, name="Lan")

    # The lists: the new registration is under quarantine and has not declared today.
    menu = await say(fake, STAFF_LAN, "/danhsach", "Danh sách — Phường Pleiku")
    assert [label for label, _ in fake.buttons(menu)] == [
        "Đang cách ly (1)", "Bất thường hôm nay (0)", "Chưa khai báo hôm nay (1)", "Sắp kết thúc (trong 2 ngày) (0)"]
    page = await tap_in_place(fake, STAFF_LAN, "Chưa khai báo hôm nay", "trang 1/1")
    assert "1. Nguyễn Văn An, 46 tuổi, 0912345678 — chưa khai báo" in page["text"]

    # The card, then an extension: a bad number is asked again.
    card = await tap(fake, STAFF_LAN, "1. Nguyễn Văn An", "👤 Nguyễn Văn An")
    assert "đến hết 12/12/2026" in card["text"] and "Số CCCD: (không có)" in card["text"]
    await tap(fake, STAFF_LAN, "Gia hạn", "thêm bao nhiêu ngày")
    await say(fake, STAFF_LAN, "abc", "số nguyên từ 1 đến 30")
    await say(fake, STAFF_LAN, "5", "đến hết ngày 17/12/2026")
    told = await fake.wait_for_message(CITIZEN, lambda m: "đến hết ngày 17/12/2026" in m["text"])
    assert "Trạm y tế đã cập nhật thời gian cách ly" in told["text"]
    card = await tap(fake, STAFF_LAN, "Mở hồ sơ", "👤 Nguyễn Văn An")
    assert "Lan đã gia hạn 5 ngày, ngày cuối 12/12/2026 → 17/12/2026" in card["text"]

    # The transfer: Quy Nhơn's group gets the record, the person is told, Lan no longer sees it.
    await tap(fake, STAFF_LAN, "Chuyển trạm", "sang trạm nào")
    await say(fake, STAFF_LAN, "quy nhon", "Bấm chọn trạm nhận hồ sơ")
    done = await tap(fake, STAFF_LAN, "Phường Quy Nhơn", "Đã chuyển Nguyễn Văn An sang Phường Quy Nhơn")
    assert fake.buttons(done) == []
    notice = await fake.wait_for_message(QN_GROUP, lambda m: "Hồ sơ chuyển đến Phường Quy Nhơn" in m["text"])
    for shown in ("Nguyễn Văn An", "0912345678", "12 Lê Lợi", "17/12/2026", "từ Phường Pleiku, do Lan chuyển"):
        assert shown in notice["text"], shown
    assert not [m for m in fake.sent(GROUP) if "Hồ sơ chuyển đến" in m["text"]]  # the old group is not told
    moved = await fake.wait_for_message(CITIZEN, lambda m: "đã được chuyển về Phường Quy Nhơn" in m["text"])
    assert "Nguyễn Văn An" in moved["text"]

    after = len(fake.sent(STAFF_LAN))
    await fake.press(STAFF_LAN, card, fake.button(card, "Đã xem"))  # the old card's buttons: refused now
    await fake.wait_for_call("answerCallbackQuery")
    refusal = await fake.wait_for_message(STAFF_LAN, lambda m: "không có quyền" in m["text"], after=after)
    assert "Nguyễn Văn An" not in refusal["text"]

    async with harness.core.db.session() as session:
        person = (await session.exec(select(Person))).one()
        assert person.station_id == (await get_station(session, QUY_NHON)).id
        actions = [e.action for e in (await session.exec(select(AuditEvent).order_by(AuditEvent.id))).all()]
    assert [a for a in actions if a.startswith("person.")] == ["person.create", "person.extend", "person.transfer"]
    assert "access.refused" in actions

    # The list of Pleiku is empty now.
    await say(fake, STAFF_LAN, "/danhsach", "Danh sách — Phường Pleiku")
    empty = await tap_in_place(fake, STAFF_LAN, "Đang cách ly", "không có ai")
    assert "Nguyễn Văn An" not in empty["text"]
