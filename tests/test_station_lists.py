"""/danhsach, /tra and /canhbao: the station's lists, search and open alerts, scoped to what a role sees."""
from __future__ import annotations

from datetime import timedelta

import pytest

from services.env import Core
from storage.models import Alert, Person
from storage.roles import ADMIN, PROVINCE
from tests.conftest import ChatDriver, register
from tests.factories import (
    PLEIKU,
    QUY_NHON,
    TODAY,
    add_alert,
    add_declaration,
    add_person,
    add_staff,
    audit_events,
    get,
    labels,
    local,
    payloads,
    staff_chat,
    station_id,
)
from tests.steps import declare


@pytest.fixture
async def lan(core: Core) -> ChatDriver:
    """Staff of Phường Pleiku."""
    await add_staff(core, "500", station=PLEIKU, name="Lan")
    return staff_chat(core, "500", "Lan")


@pytest.fixture
async def binh(core: Core) -> ChatDriver:
    """Staff of Phường Quy Nhơn."""
    await add_staff(core, "600", station=QUY_NHON, name="Bình")
    return staff_chat(core, "600", "Bình")


@pytest.fixture
async def people(core: Core) -> dict[str, int]:
    """A known data set: in Pleiku, one person of each kind; in Quy Nhơn, a namesake with a danger sign."""
    ids = {
        "an": (await add_person(core, "Nguyễn Văn An", phone="0912345678", id_number="001234567890")).id,
        "binh": (await add_person(core, "Trần Thị Bình", gender="female", birth_year=1950)).id,
        "cuong": (await add_person(core, "Lê Văn Cường")).id,
        "dung": (await add_person(core, "Phạm Thị Dung", start=TODAY - timedelta(days=5))).id,
        "em": (await add_person(core, "Hoàng Văn Em", start=TODAY - timedelta(days=12))).id,  # ends tomorrow
        "phuong": (await add_person(core, "Võ Thị Phương", start=TODAY - timedelta(days=20), status="completed")).id,
        "giang": (await add_person(core, "Đặng Văn Giang", start=TODAY - timedelta(days=3))).id,
        "hai": (await add_person(core, "Bùi Văn Hải", start=TODAY - timedelta(days=10))).id,  # ends in 3 days
        "qn": (await add_person(core, "Nguyễn Văn An", station=QUY_NHON, phone="0987654321")).id,
    }
    await add_declaration(core, ids["an"], tier="normal", hour=8)
    danger = await add_declaration(core, ids["binh"], tier="danger", hour=9, temperature=39.2, spo2=92)
    await add_alert(core, ids["binh"], "danger", at=local(TODAY, 9))
    await add_declaration(core, ids["cuong"], tier="watch", hour=8, minute=30, temperature=38.0)
    await add_alert(core, ids["cuong"], "watch", status="acknowledged", at=local(TODAY, 8, 30), taken_by="Hoa")
    await add_declaration(core, ids["dung"], tier="normal", day=TODAY - timedelta(days=1), hour=15)
    await add_declaration(core, ids["giang"], tier="watch", day=TODAY - timedelta(days=3))
    await add_alert(core, ids["giang"], "silent", at=local(TODAY, 7))
    await add_alert(core, ids["dung"], "watch", status="resolved", at=local(TODAY - timedelta(days=1), 9))
    await add_declaration(core, ids["qn"], tier="danger", hour=9)
    await add_alert(core, ids["qn"], "danger", at=local(TODAY, 9, 10))
    assert danger
    return ids


def names_in(chat: ChatDriver) -> list[str]:
    """The names of the list's entries, from their card buttons ("3. Lê Văn Cường")."""
    return [b.label.split(". ", 1)[1] for b in chat.buttons() if b.payload.startswith("card:")]


async def open_list(chat: ChatDriver, label: str) -> list[str]:
    await chat.say("/danhsach")
    await chat.press(label)
    return names_in(chat)


# --- the four lists ------------------------------------------------------------------------------------


async def test_the_menu_counts_each_list(core: Core, lan: ChatDriver, people: dict) -> None:
    await lan.say("/danhsach")
    assert "Phường Pleiku" in lan.text()
    assert labels(lan) == ["Đang cách ly (7)", "Bất thường hôm nay (3)", "Chưa khai báo hôm nay (4)",
                           "Sắp kết thúc (trong 2 ngày) (1)"]


async def test_under_quarantine_lists_the_active_people_of_the_station(lan: ChatDriver, people: dict) -> None:
    names = await open_list(lan, "Đang cách ly")
    assert names == sorted(["Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Cường", "Phạm Thị Dung", "Hoàng Văn Em",
                            "Đặng Văn Giang", "Bùi Văn Hải"])
    assert "Võ Thị Phương" not in names  # completed


async def test_abnormal_today_is_a_danger_or_watch_declaration_today_or_an_open_alert(lan: ChatDriver,
                                                                                       people: dict) -> None:
    names = await open_list(lan, "Bất thường hôm nay")
    # Bình danger today, Cường watch today (alert taken), Giang an open "silent" alert; Dung's was resolved.
    assert sorted(names) == sorted(["Trần Thị Bình", "Lê Văn Cường", "Đặng Văn Giang"])


async def test_not_declared_today(lan: ChatDriver, people: dict) -> None:
    names = await open_list(lan, "Chưa khai báo hôm nay")
    assert sorted(names) == sorted(["Phạm Thị Dung", "Hoàng Văn Em", "Đặng Văn Giang", "Bùi Văn Hải"])


async def test_ending_soon_is_within_two_days(lan: ChatDriver, people: dict) -> None:
    assert await open_list(lan, "Sắp kết thúc") == ["Hoàng Văn Em"]


async def test_each_entry_shows_name_age_phone_and_last_declaration(lan: ChatDriver, people: dict) -> None:
    await open_list(lan, "Đang cách ly")
    text = lan.text()
    assert "Nguyễn Văn An, 46 tuổi, 0912345678 — 🟢 bình thường lúc 08:00 29/11" in text
    assert "Trần Thị Bình, 76 tuổi" in text and "🔴 nguy hiểm lúc 09:00 29/11" in text
    assert "Phạm Thị Dung" in text and "🟢 bình thường lúc 15:00 28/11" in text
    assert "Hoàng Văn Em, 46 tuổi" in text and "chưa khai báo" in text
    assert "7 người · trang 1/1" in text


async def test_entries_open_the_card(lan: ChatDriver, people: dict) -> None:
    await open_list(lan, "Sắp kết thúc")
    assert f"card:{people['em']}" in payloads(lan)
    await lan.press("Hoàng Văn Em")
    assert "👤 Hoàng Văn Em" in lan.text()


async def test_lists_follow_registrations_and_declarations(core: Core, lan: ChatDriver, chat: ChatDriver) -> None:
    """Queries, not snapshots: what the lists show changes as people register and declare."""
    await lan.say("/danhsach")
    assert labels(lan)[:3] == ["Đang cách ly (0)", "Bất thường hôm nay (0)", "Chưa khai báo hôm nay (0)"]
    await register(chat)  # "pleiku": Phường Pleiku
    await lan.press("Chưa khai báo hôm nay")
    assert names_in(lan) == ["Nguyễn Văn An"]
    await chat.say("/khaibao")
    await declare(chat, "39", spo2="92")
    await lan.press("Các danh sách")  # the menu, recounted
    assert labels(lan)[:3] == ["Đang cách ly (1)", "Bất thường hôm nay (1)", "Chưa khai báo hôm nay (0)"]
    await lan.press("Bất thường hôm nay")
    assert names_in(lan) == ["Nguyễn Văn An"] and "🔴 nguy hiểm lúc 09:30 29/11" in lan.text()


# --- paging --------------------------------------------------------------------------------------------


async def add_many(core: Core, count: int) -> None:
    for n in range(count):
        await add_person(core, f"Người Số {n:02d}")


async def test_exactly_ten_fit_one_page_without_paging_buttons(core: Core, lan: ChatDriver) -> None:
    await add_many(core, 10)
    names = await open_list(lan, "Đang cách ly")
    assert len(names) == 10 and "trang 1/1" in lan.text()
    assert not [label for label in labels(lan) if "Trang" in label]


async def test_eleven_make_two_pages_edited_in_place(core: Core, lan: ChatDriver) -> None:
    await add_many(core, 11)
    first = await open_list(lan, "Đang cách ly")
    assert first == [f"Người Số {n:02d}" for n in range(10)] and "trang 1/2" in lan.text()
    assert "Trang sau ▶" in labels(lan) and "◀ Trang trước" not in labels(lan)
    await lan.press("Trang sau")
    assert lan.last[0].edit_id == "1"  # the pressed message is replaced, not a new one sent
    assert names_in(lan) == ["Người Số 10"] and "trang 2/2" in lan.text()
    assert "11. Người Số 10" in lan.text()  # numbering goes on across pages
    assert "◀ Trang trước" in labels(lan) and "Trang sau ▶" not in labels(lan)
    await lan.press("Trang trước")
    assert names_in(lan)[0] == "Người Số 00"


async def test_a_page_beyond_a_shrunk_list_shows_its_last_page(core: Core, lan: ChatDriver) -> None:
    await add_many(core, 3)
    pleiku = await station_id(core, PLEIKU)
    await lan.send(button=f"list:act:5:{pleiku}", message_id="7")
    assert len(names_in(lan)) == 3 and "trang 1/1" in lan.text()


async def test_an_empty_list_says_so(core: Core, lan: ChatDriver) -> None:
    await open_list(lan, "Sắp kết thúc")
    assert "không có ai trong danh sách này" in lan.text()
    assert labels(lan) == ["☰ Các danh sách"]


# --- search --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["0912345678", "0912 345 678", "0912.345.678", "+84 912 345 678", "84912345678",
                                   "001234567890", "0012 3456 7890", "5678"])
async def test_find_by_phone_in_any_format_or_cccd(lan: ChatDriver, people: dict, typed: str) -> None:
    await lan.say(f"/tra {typed}")
    assert names_in(lan) == ["Nguyễn Văn An"]
    assert payloads(lan) == [f"card:{people['an']}"]  # not the namesake of Quy Nhơn


@pytest.mark.parametrize("typed", ["nguyen van an", "NGUYỄN VĂN AN", "Nguyen Van An", "van an", "nguyễn an"])
async def test_find_by_name_without_accents_or_case(lan: ChatDriver, people: dict, typed: str) -> None:
    await lan.say(f"/tra {typed}")
    assert payloads(lan) == [f"card:{people['an']}"]


async def test_find_dang_with_a_plain_d(lan: ChatDriver, people: dict) -> None:
    await lan.say("/find dang van giang")
    assert names_in(lan) == ["Đặng Văn Giang"]


async def test_no_match_says_so_and_asks_again(lan: ChatDriver, people: dict) -> None:
    await lan.say("/tra Trương Vô Kỵ")
    assert "Không tìm thấy ai khớp với «Trương Vô Kỵ»" in lan.text()
    assert "Gõ số điện thoại" in lan.last[-1].text
    await lan.say("x")
    assert "ít nhất 2 ký tự" in lan.text()
    await lan.say("0999999999")
    assert "Không tìm thấy" in lan.text() and "Gõ số điện thoại" in lan.last[-1].text
    await lan.say("tran thi binh")
    assert names_in(lan) == ["Trần Thị Bình"]
    await lan.say("hello")  # the search is over: the bot no longer reads texts as queries
    assert not names_in(lan)


async def test_find_then_typed_query(lan: ChatDriver, people: dict) -> None:
    await lan.say("/tra")
    assert "Gõ số điện thoại, số CCCD hoặc họ tên" in lan.text()
    await lan.say("le van cuong")
    assert names_in(lan) == ["Lê Văn Cường"] and "Tìm thấy 1 người" in lan.text()


async def test_staff_never_find_another_stations_people(binh: ChatDriver, people: dict) -> None:
    await binh.say("/tra 0912345678")
    assert "Không tìm thấy" in binh.text()
    await binh.say("nguyen van an")
    assert payloads(binh) == [f"card:{people['qn']}"]


async def test_an_admin_finds_in_every_station_with_the_station_shown(core: Core, people: dict) -> None:
    admin = ChatDriver(core, "999", name="Quản trị")
    await admin.say("/tra nguyen van an")
    assert sorted(payloads(admin)) == sorted([f"card:{people['an']}", f"card:{people['qn']}"])
    assert "Phường Pleiku" in admin.text() and "Phường Quy Nhơn" in admin.text()


# --- scope: who sees which station ---------------------------------------------------------------------


async def test_staff_of_another_station_see_only_their_own(binh: ChatDriver, people: dict) -> None:
    assert await open_list(binh, "Đang cách ly") == ["Nguyễn Văn An"]
    assert payloads(binh)[0] == f"card:{people['qn']}"
    assert await open_list(binh, "Bất thường hôm nay") == ["Nguyễn Văn An"]


@pytest.mark.parametrize("forged", ["card:{an}", "pa:ext:{an}", "pa:endok:{an}", "pa:rev:{an}",
                                    "pa:cat:{an}:f2", "list:act:0:{pleiku}", "list:menu:0:p", "list:act:0:p",
                                    "alerts:{pleiku}:0", "alerts:p:0", "list:act:x:{pleiku}"])
async def test_forged_payloads_for_another_station_are_refused_and_recorded(core: Core, binh: ChatDriver,
                                                                           people: dict, forged: str) -> None:
    pleiku = await station_id(core, PLEIKU)
    payload = forged.format(an=people["an"], pleiku=pleiku)
    await binh.send(button=payload, message_id="3")
    assert "không có quyền" in binh.text()
    assert "Nguyễn Văn An" not in binh.text() and "0912345678" not in binh.text()
    refused = await audit_events(core, "access.refused")
    assert [e.entity_id for e in refused] == [payload]
    assert (await get(core, Person, people["an"])).end_date == TODAY + timedelta(days=13)  # nothing changed


async def test_people_without_a_role_are_refused_everywhere(core: Core, chat: ChatDriver, people: dict) -> None:
    for command in ("/danhsach", "/tra 0912345678", "/canhbao"):
        await chat.say(command)
        assert "không có quyền" in chat.text(), command
    await chat.send(button=f"card:{people['an']}")
    assert "không có quyền" in chat.text() and "0912345678" not in chat.text()
    assert len(await audit_events(core, "access.refused")) == 4


async def test_a_revoked_staff_member_is_refused(core: Core, people: dict) -> None:
    await add_staff(core, "501", station=PLEIKU, active=False)
    former = staff_chat(core, "501")
    await former.say("/danhsach")
    assert "không có quyền" in former.text()


async def test_lists_and_cards_stay_out_of_groups(core: Core, people: dict) -> None:
    await add_staff(core, "500", station=PLEIKU)
    group = ChatDriver(core, "500", chat_id="-100", chat_type="group")
    await group.say("/danhsach")
    assert "nhắn riêng với bot" in group.text()
    await group.send(button=f"card:{people['an']}")
    assert "tin nhắn riêng" in group.text() and "0912345678" not in group.text()


async def test_an_admin_picks_a_station_by_typing_part_of_its_name(core: Core, people: dict) -> None:
    admin = ChatDriver(core, "999", name="Quản trị")
    await admin.say("/danhsach")
    assert "Gõ một phần tên xã/phường" in admin.text()
    await admin.say("zzzz")
    assert "Không tìm thấy xã/phường nào khớp" in admin.text()
    await admin.say("quy nhon")
    await admin.press("Phường Quy Nhơn")
    assert "Phường Quy Nhơn" in admin.text() and labels(admin)[0] == "Đang cách ly (1)"
    await admin.say("/danhsach pleiku")
    await admin.press("Phường Pleiku")
    assert labels(admin)[0] == "Đang cách ly (7)"


async def test_an_admin_sees_the_province(core: Core, people: dict) -> None:
    admin = ChatDriver(core, "999", name="Quản trị")
    await admin.say("/list")
    await admin.press("Toàn tỉnh")
    assert "Toàn tỉnh" in admin.text()
    assert labels(admin)[:2] == ["Đang cách ly (8)", "Bất thường hôm nay (4)"]
    await admin.press("Bất thường hôm nay")
    assert "Phường Quy Nhơn" in admin.text() and "Phường Pleiku" in admin.text()


async def test_a_province_viewer_sees_cards_without_actions(core: Core, people: dict) -> None:
    await add_staff(core, "700", role=PROVINCE, station=None, name="Tỉnh")
    viewer = staff_chat(core, "700", "Tỉnh")
    await viewer.say("/danhsach pleiku")
    await viewer.press("Phường Pleiku")
    await viewer.press("Đang cách ly")
    await viewer.press("Nguyễn Văn An")
    assert "👤 Nguyễn Văn An" in viewer.text() and viewer.buttons() == []
    await viewer.send(button=f"pa:ext:{people['an']}")
    assert "không có quyền" in viewer.text()


# --- open alerts ---------------------------------------------------------------------------------------


async def test_open_alerts_of_my_station_newest_first(core: Core, lan: ChatDriver, people: dict) -> None:
    await lan.say("/canhbao")
    heading, *items = lan.last
    assert "Phường Pleiku: 3" in heading.text
    assert ["Trần Thị Bình" in items[0].text, "Lê Văn Cường" in items[1].text,
            "Đặng Văn Giang" in items[2].text] == [True, True, True]
    assert "🔴 nguy hiểm · 30 phút trước" in items[0].text and "0" in items[0].text
    assert "chưa ai nhận" in items[0].text
    assert "Hoa đã nhận" in items[1].text
    assert "📵 không khai báo · 2 giờ trước" in items[2].text
    first = [b.payload for row in items[0].buttons for b in row]
    assert first[-1] == f"card:{people['binh']}" and first[0].startswith("alert:ack:")
    assert not [b for row in items[1].buttons for b in row if b.payload.startswith("alert:ack:")]  # taken
    assert "Nguyễn Văn An" not in lan.text()  # Quy Nhơn's alert stays there


async def test_staff_take_an_alert_from_a_private_chat(core: Core, lan: ChatDriver, people: dict) -> None:
    await lan.say("/canhbao")
    ack = next(b.payload for b in lan.buttons() if b.payload.startswith("alert:ack:"))
    await lan.send(button=ack, message_id="2")
    alert = await get(core, Alert, int(ack.split(":")[2]))
    assert alert.status == "acknowledged" and alert.acknowledged_by == "Lan"
    assert lan.last[0].toast and "Đã ghi nhận" in lan.last[0].text
    assert lan.last[1].edit_id == "2"  # that alert's message now says who took it
    await lan.send(button=ack.replace("ack", "done"), message_id="2")
    assert (await get(core, Alert, alert.id)).status == "resolved"
    await lan.say("/canhbao")
    assert "Phường Pleiku: 2" in lan.last[0].text


async def test_staff_of_another_station_may_not_take_the_alert(core: Core, binh: ChatDriver, people: dict) -> None:
    async with core.db.session() as session:
        from sqlmodel import select
        alert = (await session.exec(select(Alert).where(Alert.person_id == people["binh"]))).first()
    await binh.send(button=f"alert:ack:{alert.id}", message_id="2")
    assert "không thuộc trạm" in binh.text()
    assert (await get(core, Alert, alert.id)).status == "open"


async def test_admins_see_every_stations_alerts_or_one_station(core: Core, people: dict) -> None:
    admin = ChatDriver(core, "999", name="Quản trị")
    await admin.say("/canhbao")
    assert "Toàn tỉnh: 4" in admin.last[0].text and "Phường Quy Nhơn" in admin.text()
    await admin.say("/canhbao quy nhon")
    await admin.press("Phường Quy Nhơn")
    assert "Phường Quy Nhơn: 1" in admin.last[0].text and "Trần Thị Bình" not in admin.text()


async def test_no_open_alerts(core: Core, lan: ChatDriver) -> None:
    await lan.say("/alerts")
    assert "không có cảnh báo nào" in lan.text()


async def test_more_than_a_page_of_alerts(core: Core, lan: ChatDriver) -> None:
    for n in range(12):
        person = (await add_person(core, f"Người Số {n:02d}")).id
        await add_alert(core, person, "watch", at=local(TODAY, 8, n))
    await lan.say("/canhbao")
    assert len(lan.last) == 12  # heading, 10 alerts, "more"
    assert "Người Số 11" in lan.last[1].text and "Còn 2 cảnh báo" in lan.last[-1].text
    await lan.press("Xem tiếp")
    assert "11–12" in lan.last[0].text and "Người Số 00" in lan.last[-1].text


@pytest.mark.parametrize("role", [ADMIN])
async def test_a_granted_admin_has_the_province(core: Core, people: dict, role: str) -> None:
    await add_staff(core, "800", role=role, station=None, name="Admin")
    granted = staff_chat(core, "800", "Admin")
    await granted.say("/danhsach")
    await granted.press("Toàn tỉnh")
    assert labels(granted)[0] == "Đang cách ly (8)"
