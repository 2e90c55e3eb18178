"""Importing a list of people from .xlsx or .csv: the template, checks of every row, invitations, the files back.

Spreadsheets are made in the tests with openpyxl and csv, sent to the core as a staff member would send a
document, and the files that come back are opened with openpyxl.
"""
from __future__ import annotations

import csv
import io
import re
import time
import unicodedata
from datetime import date, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from sqlmodel import select

from chat.messages import Attachment, Reply
from locales import catalog
from services.env import Core
from services.spreadsheets import COLUMNS, XLSX_MIME, header_key
from storage.models import AuditEvent, Invitation, Person
from storage.stations import code_key
from tests.conftest import UNITS_CSV, Cachly, ChatDriver, one_error_line
from tests.factories import (
    ADMIN_USER,
    HEADER,
    NOBODY_USER,
    PLEIKU,
    QUY_NHON,
    STAFF_USER,
    TODAY,
    VIEWER_USER,
    add_person,
    add_staff,
    background_replies,
    document,
    documents,
    person_row,
    sheet_rows,
    station_id,
    xlsx,
)
from tests.steps import rows

# --- helpers ------------------------------------------------------------------------------------------------


def csv_bytes(*data: list[object], delimiter: str = ",", bom: bool = True, header: list[object] | None = None,
              encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(HEADER if header is None else header)
    writer.writerows(data)
    text = buffer.getvalue()
    return (b"\xef\xbb\xbf" if bom else b"") + (windows_1258(text) if encoding == "cp1258" else text.encode(encoding))


def windows_1258(text: str) -> bytes:
    """As Excel saves a plain CSV on Vietnamese Windows: letters like ơ precomposed, tone marks combining."""
    tones = "\u0300\u0301\u0303\u0309\u0323"
    out = bytearray()
    for char in text:
        base, *marks = unicodedata.normalize("NFD", char)
        letter = unicodedata.normalize("NFC", base + "".join(m for m in marks if m not in tones))
        out += (letter + "".join(m for m in marks if m in tones)).encode("cp1258")
    return bytes(out)


@pytest.fixture
async def staff(core: Core) -> ChatDriver:
    """Lan, staff of Phường Pleiku, in private chat with the bot."""
    await add_staff(core, STAFF_USER)
    return ChatDriver(core, STAFF_USER, name="Lan")


@pytest.fixture
def admin(core: Core) -> ChatDriver:
    return ChatDriver(core, ADMIN_USER, name="Quản trị")


async def send_file(chat: ChatDriver, name: str, content: bytes, mime: str = XLSX_MIME,
                    caption: str = "") -> list[Reply]:
    return await chat.send(document=Attachment(name, content, mime), text=caption)


async def invitations(core: Core) -> list[Invitation]:
    async with core.db.session() as session:
        return list((await session.exec(select(Invitation).order_by(Invitation.created_at))).all())


def result_line(chat: ChatDriver) -> tuple[int, int, int]:
    match = re.search(r"(\d+) dòng hợp lệ, (\d+) dòng bị từ chối, (\d+) dòng trống", chat.last[0].text)
    assert match, chat.text()
    return int(match[1]), int(match[2]), int(match[3])


def rejections(chat: ChatDriver) -> dict[int, str]:
    """Row number -> reasons, from the result file."""
    content = document(chat.last, "ket-qua").content
    header, *data = sheet_rows(content)
    assert header[-2:] == ("Dòng", "Lý do từ chối")
    return {row[-2]: row[-1] for row in data}


# --- the template ---------------------------------------------------------------------------------------


async def test_the_template_has_the_columns_an_example_and_a_guide(staff: ChatDriver) -> None:
    await staff.say("/maunhap")
    template = document(staff.last, "mau-nhap")
    book = openpyxl.load_workbook(io.BytesIO(template.content))
    assert book.sheetnames == ["Danh sách", "Hướng dẫn"]
    header, example = sheet_rows(template.content)[:2]
    assert list(header) == HEADER == ["Họ tên*", "Năm sinh*", "Giới tính*", "Điện thoại*", "Số CCCD", "Địa chỉ*",
                                      "Diện cách ly*", "Ngày bắt đầu*", "Mã trạm", "Số quyết định"]
    assert example[0] == "Nguyễn Văn An" and example[7].date() == TODAY
    guide = sheet_rows(template.content, "Hướng dẫn")
    assert [r[0] for r in guide[1:11]] == HEADER
    assert all(r[1] for r in guide[1:11]) and "F1: 14" in guide[7][1].replace("F1 (tiếp xúc gần)", "F1")
    await staff.say("/template")
    assert documents(staff.last)


async def test_the_template_sent_back_unchanged_invites_nobody(staff: ChatDriver) -> None:
    await staff.say("/maunhap")
    await send_file(staff, "mau.xlsx", document(staff.last, "mau-nhap").content)
    assert result_line(staff) == (0, 1, 0)
    assert "dòng ví dụ" in rejections(staff)[2]


# --- accepted rows become invitations, not people --------------------------------------------------------


async def test_valid_rows_become_invitations_and_a_links_file(core: Core, staff: ChatDriver) -> None:
    await send_file(staff, "ds.xlsx", xlsx(person_row(1), person_row(2, full_name="Lê Văn Cường", gender="Nam",
                                                                          decision_number="12/QĐ-UBND"),
                                           person_row(3, category="Sau cách ly tập trung", id_number="")))
    assert result_line(staff) == (3, 0, 0)
    assert "ket-qua" not in " ".join(documents(staff.last))  # no rejection, no result file
    assert not await rows(core, Person)  # a person exists once they confirm
    invited = await invitations(core)
    assert len(invited) == 3 and {i.station_id for i in invited} == {await station_id(core)}
    second = next(i for i in invited if i.data["full_name"] == "Lê Văn Cường")
    assert second.data["decision_number"] == "12/QĐ-UBND" and second.data["station_name"] == "Phường Pleiku"
    assert {k: second.data[k] for k in ("birth_year", "gender", "phone", "id_number", "category", "start_date",
                                         "station_code", "address")} == {
        "birth_year": 1975, "gender": "male", "phone": "0900000002", "id_number": "064000000002", "category": "f1",
        "start_date": "2026-11-27", "station_code": PLEIKU, "address": "5 Hùng Vương, tổ 2"}
    assert {i.data["category"] for i in invited} == {"f1", "after_central"}
    assert all((i.expires_at - i.created_at).days == 14 for i in invited)
    header, *links = sheet_rows(document(staff.last, "lien-ket-moi").content)
    assert header[:4] == ("Dòng", "Họ tên", "Điện thoại", "Liên kết mời")
    codes = {link.removeprefix("https://t.me/cachly_bot?start=") for *_, link, _ in links}
    assert {len(c) for c in codes} == {12}  # the links carry the codes, the database only their hashes
    assert {code_key(c) for c in codes} == {i.code for i in invited}
    assert [(r[0], r[1], r[2]) for r in links] == [(2, "Trần Thị Bình", "0900000001"),
                                                   (3, "Lê Văn Cường", "0900000002"),
                                                   (4, "Trần Thị Bình", "0900000003")]


async def test_the_import_is_audited_with_counts_only(core: Core, staff: ChatDriver) -> None:
    await send_file(staff, "ds.xlsx", xlsx(person_row(1), person_row(2, phone="123"), []))
    [event] = await rows(core, AuditEvent, AuditEvent.action == "import.run")
    assert event.after == {"accepted": 1, "rejected": 1, "empty": 0, "stations": [PLEIKU]}
    assert event.actor.startswith(f"telegram:{STAFF_USER}") and event.entity_id == PLEIKU
    assert "Bình" not in str(event.after) and "09000" not in str(event.after)


# --- columns --------------------------------------------------------------------------------------------


async def test_a_file_without_the_required_columns_is_refused_naming_them(core: Core, staff: ChatDriver) -> None:
    await send_file(staff, "ds.xlsx", xlsx(["An", 30], header=["Tên", "Tuổi"]))
    assert "thiếu cột bắt buộc" in staff.text()
    for name in ("Họ tên", "Năm sinh", "Giới tính", "Điện thoại", "Địa chỉ", "Diện cách ly", "Ngày bắt đầu"):
        assert name in staff.text()
    without_address = [h for h in HEADER if h != "Địa chỉ*"]
    await send_file(staff, "ds.xlsx", xlsx(header=without_address))
    assert "thiếu cột bắt buộc: Địa chỉ." in staff.text()
    assert not await invitations(core)


@pytest.mark.parametrize("header", [
    ["HỌ TÊN", "năm sinh", "Gioi tinh", "Số điện thoại", "CCCD", "dia chi", "DIỆN CÁCH LY",
     "Ngày bắt đầu (dd/mm/yyyy)", "Mã trạm", "Số quyết định"],
    ["Full name", "Birth year", "Gender", "Phone", "ID number", "Address", "Category", "Start date", "Station code",
     "Decision number"],
])
async def test_headers_match_without_accents_or_case_and_in_english(core: Core, staff: ChatDriver,
                                                                   header: list[str]) -> None:
    await send_file(staff, "ds.xlsx", xlsx(person_row(1), header=header))
    assert result_line(staff) == (1, 0, 0)


async def test_columns_in_another_order_with_extra_ones_and_a_title_row(staff: ChatDriver) -> None:
    order = [7, 0, 3, 1, 2, 5, 6, 4]
    header = ["STT", *[HEADER[i] for i in order], "Ghi chú riêng"]
    data = [[n, *[person_row(n)[i] for i in order], "x"] for n in (1, 2)]
    await send_file(staff, "ds.xlsx", xlsx(*data, header=header, title="DANH SÁCH F1 PHƯỜNG PLEIKU"))
    assert result_line(staff) == (2, 0, 0)


def test_every_header_alias_is_folded() -> None:
    for column in COLUMNS:
        assert header_key(column.header) in column.aliases or header_key(column.header)
        assert all(alias == header_key(alias) for alias in column.aliases)


# --- rows -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("changes", "reason"), [
    ({"start_date": "31/02/2026"}, "ngày bắt đầu không đọc được"),
    ({"start_date": "hôm qua"}, "ngày bắt đầu không đọc được"),
    ({"start_date": "30/11/2026"}, "ngày bắt đầu sau hôm nay"),
    ({"start_date": datetime(2026, 12, 25)}, "ngày bắt đầu sau hôm nay"),
    ({"start_date": "01/11/2026"}, "đã quá 14 ngày cách ly"),
    ({"start_date": "20/11/2026", "category": "F2"}, "đã quá 7 ngày cách ly"),
    ({"phone": "12345"}, "số điện thoại không đúng"),
    ({"phone": "091234567a"}, "số điện thoại không đúng"),
    ({"birth_year": 1850}, "năm sinh phải từ 1900 đến 2026"),
    ({"birth_year": "năm"}, "năm sinh phải từ 1900"),
    ({"gender": "X"}, "giới tính phải là Nam, Nữ hoặc Khác"),
    ({"category": "F0"}, "diện cách ly phải là F1, F2"),
    ({"id_number": "12345"}, "số CCCD phải đủ 12 chữ số"),
    ({"full_name": "@@"}, "họ tên chỉ gồm chữ cái"),
    ({"full_name": ""}, "thiếu Họ tên"),
    ({"address": "  "}, "thiếu Địa chỉ"),
    ({"station_code": "99999"}, "không có trạm mã 99999"),
    ({"station_code": QUY_NHON}, f"trạm {QUY_NHON} không phải trạm của bạn"),
    ({"decision_number": "x" * 101}, "số quyết định dài quá 100 ký tự"),
])
async def test_a_bad_value_rejects_its_row_with_the_reason(core: Core, staff: ChatDriver, changes: dict,
                                                          reason: str) -> None:
    await send_file(staff, "ds.xlsx", xlsx(person_row(1), person_row(2, **changes)))
    assert result_line(staff) == (1, 1, 0)
    assert reason in rejections(staff)[3]
    assert f"• Dòng 3: {reason}" in staff.text()
    assert len(await invitations(core)) == 1


async def test_every_problem_of_a_row_is_listed(staff: ChatDriver) -> None:
    await send_file(staff, "ds.xlsx", xlsx(person_row(1, phone="1", gender="?", start_date="")))
    reasons = rejections(staff)[2]
    assert "số điện thoại" in reasons and "giới tính" in reasons and "thiếu Ngày bắt đầu" in reasons


@pytest.mark.parametrize(("category", "code"), [("F1", "f1"), ("f2", "f2"), ("F1 (tiếp xúc gần)", "f1"),
                                                ("Sau cách ly tập trung", "after_central"),
                                                ("sau cach ly tap trung", "after_central"), ("Khác", "other"),
                                                ("after_central", "after_central")])
async def test_categories_as_staff_write_them(core: Core, staff: ChatDriver, category: str, code: str) -> None:
    await send_file(staff, "ds.xlsx", xlsx(person_row(1, category=category)))
    assert [i.data["category"] for i in await invitations(core)] == [code]


@pytest.mark.parametrize(("gender", "code"), [("Nam", "male"), ("NỮ", "female"), ("nu", "female"),
                                              ("Khác", "other"), ("female", "female")])
async def test_genders_as_staff_write_them(core: Core, staff: ChatDriver, gender: str, code: str) -> None:
    await send_file(staff, "ds.xlsx", xlsx(person_row(1, gender=gender)))
    assert [i.data["gender"] for i in await invitations(core)] == [code]


async def test_excel_dates_numbers_and_lost_leading_zeros(core: Core, staff: ChatDriver) -> None:
    """Date cells, a date cell shown as a number, dd-mm-yy; phones and CCCD numbers typed as numbers."""
    await send_file(staff, "ds.xlsx", xlsx(
        person_row(1, start_date=datetime(2026, 11, 25)),
        person_row(2, start_date=date(2026, 11, 26), phone=912345602, id_number=64000000002),
        person_row(3, start_date=46352, birth_year=1975.0),  # 46352 = 26/11/2026 as Excel counts days
        person_row(4, start_date="28-11-26"),
        person_row(5, start_date="2026-11-29"),
    ))
    assert result_line(staff) == (5, 0, 0)
    data = [i.data for i in await invitations(core)]
    assert [d["start_date"] for d in data] == ["2026-11-25", "2026-11-26", "2026-11-26", "2026-11-28", "2026-11-29"]
    assert data[1]["phone"] == "0912345602" and data[1]["id_number"] == "064000000002"
    assert data[2]["birth_year"] == 1975


async def test_empty_rows_are_skipped_and_counted(core: Core, staff: ChatDriver) -> None:
    await send_file(staff, "ds.xlsx", xlsx(person_row(1), [], [None, "  ", None], person_row(2), [], [], []))
    assert result_line(staff) == (2, 0, 2)  # the empty tail of a sheet is not counted
    assert len(await invitations(core)) == 2


async def test_a_file_of_only_a_header_or_nothing(staff: ChatDriver) -> None:
    await send_file(staff, "ds.xlsx", xlsx())
    assert "không có dòng dữ liệu nào" in staff.text()
    await send_file(staff, "ds.csv", b"", "text/csv")
    assert "không có dòng dữ liệu nào" in staff.text()


# --- duplicates -----------------------------------------------------------------------------------------


async def test_the_same_cccd_twice_in_a_file_keeps_the_first(core: Core, staff: ChatDriver) -> None:
    await send_file(staff, "ds.xlsx", xlsx(person_row(1), person_row(2), person_row(3, id_number="064000000001")))
    assert result_line(staff) == (2, 1, 0)
    assert rejections(staff) == {4: "số CCCD trùng với dòng 2"}


async def test_a_cccd_or_phone_of_someone_already_followed_by_the_station(core: Core, staff: ChatDriver) -> None:
    person = await add_person(core, "Đã Có", "200", phone="0900000002")
    async with core.db.session() as session:
        person = await session.get(Person, person.id)
        person.id_number = "064000000001"
        session.add(person)
    elsewhere = await add_person(core, "Nơi Khác", "201", phone="0900000003", station=QUY_NHON)
    done = await add_person(core, "Xong Rồi", "202", phone="0900000004", status="completed")
    assert elsewhere.id and done.id
    await send_file(staff, "ds.xlsx", xlsx(person_row(1), person_row(2), person_row(3), person_row(4)))
    assert result_line(staff) == (2, 2, 0)  # another station's person, or a finished quarantine, is no duplicate
    assert rejections(staff) == {2: "số CCCD đã có người đang cách ly hoặc đã được mời ở trạm này",
                                 3: "số điện thoại đã thuộc một người đang cách ly ở trạm này"}


async def test_importing_the_same_list_twice_invites_once(core: Core, staff: ChatDriver) -> None:
    content = xlsx(person_row(1), person_row(2))
    await send_file(staff, "ds.xlsx", content)
    await send_file(staff, "ds.xlsx", content)
    assert result_line(staff) == (0, 2, 0)
    assert len(await invitations(core)) == 2


async def test_a_fixed_result_file_can_be_sent_again(core: Core, staff: ChatDriver) -> None:
    await send_file(staff, "ds.xlsx", xlsx(person_row(1), person_row(2, phone="12")))
    book = openpyxl.load_workbook(io.BytesIO(document(staff.last, "ket-qua").content))
    book.active["D2"] = "0900000002"  # the phone column, fixed
    buffer = io.BytesIO()
    book.save(buffer)
    await send_file(staff, "ket-qua.xlsx", buffer.getvalue())
    assert result_line(staff) == (1, 0, 0)
    assert len(await invitations(core)) == 2


# --- csv ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("delimiter", "bom", "encoding"), [(",", True, "utf-8"), (";", True, "utf-8"),
                                                           (",", False, "utf-8"), (";", False, "cp1258"),
                                                           ("\t", False, "utf-8")])
async def test_csv_with_or_without_bom_and_either_separator(core: Core, staff: ChatDriver, delimiter: str,
                                                            bom: bool, encoding: str) -> None:
    content = csv_bytes(person_row(1), person_row(2, phone="0900000002"), [], person_row(3, gender="Nữ"),
                        delimiter=delimiter, bom=bom, encoding=encoding)
    await send_file(staff, "ds.csv", content, "text/csv")
    assert result_line(staff) == (3, 0, 1)
    assert [i.data["full_name"] for i in await invitations(core)] == ["Trần Thị Bình"] * 3
    assert {i.data["address"] for i in await invitations(core)} == {"5 Hùng Vương, tổ 2"}


# --- who imports, into which station --------------------------------------------------------------------


async def test_an_admin_names_the_station_in_the_column_or_the_caption(core: Core, admin: ChatDriver) -> None:
    await send_file(admin, "ds.xlsx", xlsx(person_row(1), person_row(2, station_code=QUY_NHON)))
    assert result_line(admin) == (1, 1, 0)
    assert "thiếu mã trạm" in rejections(admin)[2]
    await send_file(admin, "ds.xlsx", xlsx(person_row(3), person_row(4, station_code=QUY_NHON)), caption=PLEIKU)
    assert result_line(admin) == (2, 0, 0)
    stations = {i.data["full_name"] + i.data["phone"]: i.data["station_code"] for i in await invitations(core)}
    assert sorted(stations.values()) == sorted([QUY_NHON, PLEIKU, QUY_NHON])


async def test_a_station_code_typed_as_a_number(core: Core, admin: ChatDriver) -> None:
    await send_file(admin, "ds.xlsx", xlsx(person_row(1, station_code=int(QUY_NHON))))
    assert [i.data["station_code"] for i in await invitations(core)] == [QUY_NHON]


async def test_who_may_import(core: Core) -> None:
    await add_staff(core, VIEWER_USER, "province", None)
    for user in (NOBODY_USER, VIEWER_USER):
        chat = ChatDriver(core, user)
        await send_file(chat, "ds.xlsx", xlsx(person_row(1)))
        assert "không có quyền" in chat.text()
        await chat.say("/maunhap")
        assert "không có quyền" in chat.text() and not documents(chat.last)
    assert not await invitations(core)
    refused = await rows(core, AuditEvent, AuditEvent.action == "access.refused")
    assert {(e.actor.split(" ")[0], e.entity_id) for e in refused} >= {(f"telegram:{NOBODY_USER}", "import"),
                                                                       (f"telegram:{VIEWER_USER}", "import")}


async def test_a_file_sent_mid_registration_is_not_read_and_the_question_repeated(chat: ChatDriver) -> None:
    await chat.say("/start")
    await chat.press("Đồng ý")
    await send_file(chat, "ds.xlsx", xlsx(person_row(1)))
    assert "chưa đọc được tệp" in chat.last[0].text  # not a refusal about staff codes: they are registering
    assert "Họ và tên của bạn" in chat.last[-1].text


async def test_other_files_and_too_large_ones_get_a_clear_answer(staff: ChatDriver) -> None:
    await send_file(staff, "anh.jpg", b"\xff\xd8\xff\xe0 a photo", "image/jpeg")
    assert "chỉ đọc được tệp Excel (.xlsx) hoặc CSV" in staff.text()
    await send_file(staff, "old.xls", b"\xd0\xcf\x11\xe0 an old Excel file", "application/vnd.ms-excel")
    assert "chỉ đọc được tệp Excel (.xlsx)" in staff.text()
    await send_file(staff, "broken.xlsx", b"PK\x03\x04 not really a zip")
    assert "Không mở được tệp này" in staff.text()
    await staff.send(document_too_large=True, text="")
    assert "Tệp quá lớn" in staff.text()


# --- many rows ------------------------------------------------------------------------------------------


def big_workbook(count: int) -> bytes:
    """`count` rows: one in a hundred with a bad phone, one in a thousand empty."""
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Danh sách")
    sheet.append(HEADER)
    for i in range(1, count + 1):
        if i % 1000 == 500:
            sheet.append([])
        else:
            sheet.append(person_row(i, phone="1" if i % 100 == 7 else f"09{i:08d}",
                                    start_date=datetime(2026, 11, 20 + i % 9)))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


async def test_ten_thousand_rows(core: Core, staff: ChatDriver) -> None:
    """A big list is imported in the background: the update is answered at once, the result comes through the
    outbox."""
    content = big_workbook(10_000)
    started = time.monotonic()
    await send_file(staff, "ds.xlsx", content)
    assert staff.text().startswith("📥 Đã nhận danh sách.")
    staff.last = await background_replies(core, STAFF_USER)
    elapsed = time.monotonic() - started
    said = re.search(r"Thời gian xử lý: ([\d.]+) giây", staff.text())
    assert said, staff.text()
    print(f"\n10,000 rows: {elapsed:.1f} s for the whole update, {said[1]} s for the import itself")
    assert result_line(staff) == (9_890, 100, 10)
    assert len(await invitations(core)) == 9_890
    assert len(sheet_rows(document(staff.last, "lien-ket-moi").content)) == 9_891
    assert len(rejections(staff)) == 100
    assert "… và 85 dòng bị từ chối khác" in staff.text()
    assert len(staff.last[0].text) < 4096  # one Telegram message


# --- the CLI --------------------------------------------------------------------------------------------


def test_cachly_import_prints_a_summary_writes_the_files_and_shows_progress(cachly: Cachly,
                                                                            tmp_path: Path) -> None:
    assert cachly("station", "import", str(UNITS_CSV)).returncode == 0
    yesterday = date.today() - timedelta(days=1)  # the CLI runs on the real clock
    data = [person_row(i, start_date=yesterday.strftime("%d/%m/%Y")) for i in range(1, 2501)]
    data[4][3] = "bad phone"
    source = tmp_path / "danh-sach.csv"
    source.write_bytes(csv_bytes(*data, delimiter=";"))
    result = cachly("import", str(source), "--station", PLEIKU, "--bot", "tram_bot")
    assert result.returncode == 0, result.stderr
    assert "2499 accepted, 1 rejected, 0 empty" in result.stdout
    assert "row 6: số điện thoại không đúng" in result.stdout  # the fifth person, under the header
    progress = [line for line in result.stderr.splitlines() if "rows" in line]
    assert progress == [f"{done}/2500 rows" for done in (500, 1000, 1500, 2000, 2500)]  # one line a batch
    links = sheet_rows((tmp_path / "danh-sach-lien-ket-moi.xlsx").read_bytes())
    assert len(links) == 2500 and links[1][3].startswith("https://t.me/tram_bot?start=")
    assert len(sheet_rows((tmp_path / "danh-sach-ket-qua.xlsx").read_bytes())) == 2
    again = cachly("import", str(source), "--bot", "tram_bot")
    assert again.returncode == 0 and "0 accepted, 2500 rejected" in again.stdout  # all known, or no station


def test_cachly_import_problems_are_one_line(cachly: Cachly, tmp_path: Path) -> None:
    assert cachly("station", "import", str(UNITS_CSV)).returncode == 0
    missing = cachly("import", str(tmp_path / "none.xlsx"), "--bot", "b")
    assert missing.returncode == 2 and "file not found" in missing.stderr
    wrong = tmp_path / "x.csv"
    wrong.write_text("Tên,Tuổi\nAn,3\n", "utf-8")
    assert "thiếu cột bắt buộc: Họ tên" in one_error_line(cachly("import", str(wrong), "--station", PLEIKU,
                                                                "--bot", "b"))
    assert one_error_line(cachly("import", str(wrong), "--station", "nowhere", "--bot", "b")) == \
        "unknown station nowhere"
    assert "--bot" in one_error_line(cachly("import", str(wrong)))  # no token to ask Telegram with


# --- the catalogs hold every text this module names -----------------------------------------------------


def test_every_import_text_key_has_both_languages() -> None:
    source = (Path(__file__).parents[1] / "services" / "spreadsheets.py").read_text("utf-8")
    keys = set(re.findall(r'"((?:upload|xlsx|template)\.[a-z_.]+)"', source))
    keys |= {f"template.{c.field}" for c in COLUMNS}
    keys |= {f"xlsx.col.{k}" for k in ("id", "name", "birth_year", "gender", "phone", "id_number", "address",
                                       "station", "category", "start", "end", "status", "last_declared",
                                       "last_tier", "open_alerts", "day", "slot", "declared_at", "temperature",
                                       "symptoms", "spo2", "breathing", "note", "tier")}
    keys |= {f"xlsx.status.{s}" for s in ("active", "completed")} | {f"xlsx.tier.{s}" for s in
                                                                     ("normal", "watch", "danger")}
    assert len(keys) > 60
    for lang in ("vi", "en"):
        assert not [k for k in keys if not catalog(lang).get(k)], lang



async def test_the_readme_example_imports(core: Core, staff: ChatDriver) -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text("utf-8")
    example = re.search(r"```csv\n(.*?)```", readme, re.DOTALL)
    assert example, "the README shows an example list"
    await send_file(staff, "vi-du.csv", example[1].encode("utf-8"), "text/csv")
    assert result_line(staff) == (2, 0, 0)
    data = sorted((i.data for i in await invitations(core)), key=lambda d: d["full_name"])
    assert [(d["full_name"], d["category"], d["decision_number"]) for d in data] == [
        ("Lê Văn Cường", "after_central", None), ("Trần Thị Bình", "f1", "12/QĐ-UBND")]
