"""The station's Excel file (/xuat) and `cachly export`: read back with openpyxl (and csv)."""
from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from handlers.people_files import run_export
from services.env import Core
from storage.models import AuditEvent, Person
from tests.conftest import UNITS_CSV, Cachly, ChatDriver, Clock, one_error_line, register
from tests.factories import (
    ADMIN_USER,
    NOBODY_USER,
    PLEIKU,
    QUY_NHON,
    STAFF_USER,
    TODAY,
    VIEWER_USER,
    add_person,
    add_staff,
    document,
    sheet_rows,
)
from tests.steps import declare, rows

PEOPLE_HEADER = ("Mã", "Họ tên", "Năm sinh", "Giới tính", "Điện thoại", "Số CCCD", "Địa chỉ", "Trạm y tế",
                 "Diện cách ly", "Ngày bắt đầu", "Ngày kết thúc", "Tình trạng", "Khai báo gần nhất", "Mức gần nhất",
                 "Cảnh báo chưa xong")
DECLARATIONS_HEADER = ("Mã", "Họ tên", "Ngày", "Buổi", "Giờ khai", "Nhiệt độ (°C)", "Triệu chứng", "SpO2 (%)",
                       "Nhịp thở (lần/phút)", "Ghi chú", "Mức")


async def station_with_people(core: Core, clock: Clock, chat: ChatDriver) -> Person:
    """Phường Pleiku: An (registered, two declarations, one with cough and fever, an open alert) and Bình
    (quarantine completed); Quy Nhơn: Cường."""
    await register(chat)
    await chat.say("/khaibao")
    await declare(chat, "36,8")
    clock.advance(hours=6)  # 15:30, the afternoon slot
    await chat.say("/khaibao")
    await declare(chat, "38,2", symptoms=["▫️ Ho", "Sốt"], spo2="97", breathing="18", note="mệt")
    await add_person(core, "Lê Thị Bình", "201", phone="0905000001", status="completed")
    await add_person(core, "Phạm Văn Cường", "202", phone="0905000002", station=QUY_NHON)
    [an] = await rows(core, Person, Person.full_name == "Nguyễn Văn An")
    return an


@pytest.fixture
async def staff(core: Core) -> ChatDriver:
    await add_staff(core, STAFF_USER)
    return ChatDriver(core, STAFF_USER, name="Lan")


async def test_staff_get_their_station_in_two_sheets(core: Core, clock: Clock, chat: ChatDriver,
                                                    staff: ChatDriver) -> None:
    an = await station_with_people(core, clock, chat)
    await staff.say("/xuat")
    exported = document(staff.last, f"cachly-{PLEIKU}-20261129")
    assert exported.file_name == f"cachly-{PLEIKU}-20261129.xlsx"
    assert "Phường Pleiku" in staff.last[0].text and "2 người, 2 lượt khai báo" in staff.last[0].text
    book = openpyxl.load_workbook(io.BytesIO(exported.content))
    assert book.sheetnames == ["Danh sách", "Khai báo"]
    people = sheet_rows(exported.content, "Danh sách")
    assert people[0] == PEOPLE_HEADER
    assert [r[1] for r in people[1:]] == ["Lê Thị Bình", "Nguyễn Văn An"]  # Quy Nhơn's Cường is not theirs
    row = people[2]
    assert row[:9] == (an.id, "Nguyễn Văn An", 1980, "Nam", "0912345678", None, "12 Lê Lợi, tổ 3", "Phường Pleiku",
                       "F1 (tiếp xúc gần)")
    assert row[9:12] == (datetime(2026, 11, 29), datetime(2026, 12, 12), "Đang cách ly")
    assert row[12].replace(second=0) == datetime(2026, 11, 29, 15, 30) and row[13:] == ("Theo dõi", 1)
    assert people[1][11] == "Đã kết thúc" and people[1][12] is None and people[1][14] == 0
    declarations = sheet_rows(exported.content, "Khai báo")
    assert declarations[0] == DECLARATIONS_HEADER
    assert len(declarations) == 3
    morning, afternoon = declarations[1:]
    assert morning[:6] == (an.id, "Nguyễn Văn An", datetime(2026, 11, 29), "08:00",
                           morning[4], 36.8) and morning[4].hour == 9  # a number, shown as 36,8 in Vietnamese
    assert morning[6:] == (None, None, None, None, "Bình thường")
    assert afternoon[3:] == ("15:00", afternoon[4], 38.2, "Ho, Sốt", 97, 18, "mệt", "Theo dõi")


async def test_the_export_is_audited(core: Core, clock: Clock, chat: ChatDriver, staff: ChatDriver) -> None:
    await station_with_people(core, clock, chat)
    await staff.say("/export")
    [event] = await rows(core, AuditEvent, AuditEvent.action == "export.run")
    assert (event.entity_id, event.after) == (PLEIKU, {"format": "xlsx", "people": 2, "declarations": 2})
    assert event.actor.startswith(f"telegram:{STAFF_USER}")


async def test_admins_get_the_province_or_a_station(core: Core, clock: Clock, chat: ChatDriver) -> None:
    await station_with_people(core, clock, chat)
    admin = ChatDriver(core, ADMIN_USER)
    await admin.say("/xuat")
    exported = document(admin.last, "cachly-toan-tinh")
    assert "toàn tỉnh" in admin.last[0].text
    names = sorted(r[1] for r in sheet_rows(exported.content, "Danh sách")[1:])
    assert names == ["Lê Thị Bình", "Nguyễn Văn An", "Phạm Văn Cường"]
    await admin.say(f"/xuat {QUY_NHON}")
    assert [r[1] for r in sheet_rows(document(admin.last, "cachly-").content)[1:]] == ["Phạm Văn Cường"]
    await admin.say("/xuat quy nhon")
    assert [r[1] for r in sheet_rows(document(admin.last, "cachly-").content)[1:]] == ["Phạm Văn Cường"]
    await admin.say("/xuat quy")
    assert "Có nhiều trạm khớp với «quy»" in admin.text() and f"Quy Nhơn ({QUY_NHON})" in admin.text()
    await admin.say("/xuat khongcodau")
    assert "Không tìm thấy trạm «khongcodau»" in admin.text()


async def test_who_may_export_what(core: Core, clock: Clock, chat: ChatDriver, staff: ChatDriver) -> None:
    await station_with_people(core, clock, chat)
    await staff.say(f"/xuat {QUY_NHON}")
    assert "không có quyền" in staff.text() and staff.last[0].document is None
    await staff.say(f"/xuat {PLEIKU}")
    assert document(staff.last, "cachly-")
    await add_staff(core, VIEWER_USER, "province", None)
    viewer = ChatDriver(core, VIEWER_USER)
    await viewer.say(f"/xuat {QUY_NHON}")
    assert document(viewer.last, "cachly-")
    nobody = ChatDriver(core, NOBODY_USER)
    await nobody.say("/xuat")
    assert "không có quyền" in nobody.text() and nobody.last[-1].document is None
    refused = await rows(core, AuditEvent, AuditEvent.action == "access.refused")
    assert len(refused) == 2


async def test_english_speaking_staff_get_english_headers(core: Core, clock: Clock, chat: ChatDriver) -> None:
    await station_with_people(core, clock, chat)
    await add_staff(core, "502")
    english = ChatDriver(core, "502", language_code="en")
    await english.say("/export")
    book = openpyxl.load_workbook(io.BytesIO(document(english.last, "cachly-").content))
    assert book.sheetnames == ["People", "Declarations"]
    assert book["People"]["B1"].value == "Full name" and book["People"]["I3"].value == "F1 (close contact)"


async def test_csv_is_the_line_list_with_a_bom(core: Core, clock: Clock, chat: ChatDriver) -> None:
    await station_with_people(core, clock, chat)
    async with core.db.session() as session:
        done = await run_export(session, core, "test", None, "csv", "vi")
    assert done.file_name == "cachly-toan-tinh-20261129.csv"
    assert done.content.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(done.content.decode("utf-8-sig"))))
    assert tuple(table[0]) == PEOPLE_HEADER and len(table) == 4
    an = next(r for r in table if r[1] == "Nguyễn Văn An")
    assert an[9:14] == ["29/11/2026", "12/12/2026", "Đang cách ly", an[12], "Theo dõi"]
    assert an[12].startswith("29/11/2026 15:30")


async def test_an_empty_station_exports_headers_only(core: Core, staff: ChatDriver) -> None:
    await staff.say("/xuat")
    exported = document(staff.last, "cachly-")
    assert sheet_rows(exported.content, "Danh sách") == [PEOPLE_HEADER]
    assert sheet_rows(exported.content, "Khai báo") == [DECLARATIONS_HEADER]
    assert TODAY.year == 2026


def test_cachly_export(cachly: Cachly, tmp_path: Path) -> None:
    assert cachly("station", "import", str(UNITS_CSV)).returncode == 0
    result = cachly("export", "--station", PLEIKU, "--format", "csv", "--output", str(tmp_path / "out.csv"))
    assert result.returncode == 0, result.stderr
    assert "out.csv: 0 people, 0 declarations" in result.stdout
    assert (tmp_path / "out.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    result = cachly("export", "--province")
    assert result.returncode == 0, result.stderr
    written = next(tmp_path.glob("cachly-toan-tinh-*.xlsx"))
    assert openpyxl.load_workbook(written).sheetnames == ["Danh sách", "Khai báo"]
    assert one_error_line(cachly("export", "--station", "nowhere")) == "unknown station nowhere"
    assert cachly("export").returncode == 2  # --station or --province is required
