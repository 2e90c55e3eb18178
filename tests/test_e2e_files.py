"""End to end on Telegram with files: a staff member gets the template, sends a list, gets the report and the
links; a person opens their link and confirms; the station's export and statistics come back as files.

The real python-telegram-bot over HTTP against FakeBotAPI: documents go up with fake.send_document and come
down as sendDocument calls whose content is opened with openpyxl.
"""
from __future__ import annotations

import io

import openpyxl

from services.spreadsheets import XLSX_MIME
from tests.factories import PLEIKU, add_staff, person_row, sheet_rows, xlsx
from tests.fake_bot_api import JSON, FakeBotAPI
from tests.telegram_steps import CITIZEN, STAFF_LAN, Harness, say, tap


async def next_document(fake: FakeBotAPI, chat: int, name_prefix: str, after: int) -> JSON:
    return await fake.wait_for_message(
        chat, lambda m: m["document"]["file_name"].startswith(name_prefix), after=after, timeout=15)


async def test_import_invite_register_and_export_over_telegram(harness: Harness) -> None:
    fake = harness.fake
    await add_staff(harness.core, str(STAFF_LAN))  # what `/nhanvien CODE` leaves behind

    # The template.
    after = len(fake.sent(STAFF_LAN))
    await fake.send_text(STAFF_LAN, "/maunhap")
    template = await next_document(fake, STAFF_LAN, "mau-nhap-danh-sach", after)
    assert template["document"]["mime_type"] == XLSX_MIME
    assert openpyxl.load_workbook(io.BytesIO(template["content"])).sheetnames == ["Danh sách", "Hướng dẫn"]

    # The list: two people and a row with a bad phone number.
    content = xlsx(person_row(1, full_name="Trần Thị Bình"), person_row(2, phone="12345"),
                   person_row(3, full_name="Lê Văn Cường", gender="Nam"))
    after = len(fake.sent(STAFF_LAN))
    await fake.send_document(STAFF_LAN, "danh-sach.xlsx", content, XLSX_MIME)
    report = await fake.wait_for_message(STAFF_LAN, lambda m: "Kết quả nhập danh sách" in m["text"], after=after,
                                         timeout=15)
    assert "2 dòng hợp lệ, 1 dòng bị từ chối" in report["text"] and "• Dòng 3: số điện thoại" in report["text"]
    rejected = await next_document(fake, STAFF_LAN, "ket-qua-nhap", after)
    assert [r[-2] for r in sheet_rows(rejected["content"])[1:]] == [3]
    links_message = await next_document(fake, STAFF_LAN, "lien-ket-moi", after)
    links = {row[1]: row[3] for row in sheet_rows(links_message["content"])[1:]}
    assert set(links) == {"Trần Thị Bình", "Lê Văn Cường"}
    assert links["Trần Thị Bình"].startswith("https://t.me/cachly_test_bot?start=")

    # The person opens the link: consent, summary, confirm.
    code = links["Trần Thị Bình"].split("start=")[1]
    await say(fake, CITIZEN, f"/start {code}", "Bạn có đồng ý không?")
    summary = await tap(fake, CITIZEN, "Đồng ý", "Thông tin đăng ký của bạn")
    assert "Trần Thị Bình" in summary["text"] and "Phường Pleiku" in summary["text"]
    await tap(fake, CITIZEN, "Xác nhận", "Đăng ký xong")

    # The station's file has her.
    after = len(fake.sent(STAFF_LAN))
    await fake.send_text(STAFF_LAN, "/xuat")
    exported = await next_document(fake, STAFF_LAN, f"cachly-{PLEIKU}", after)
    people = sheet_rows(exported["content"], "Danh sách")
    assert [row[1] for row in people[1:]] == ["Trần Thị Bình"]
    assert people[1][4] == "0900000001" and people[1][11] == "Đang cách ly"

    # And the statistics count her, with a chart.
    after = len(fake.sent(STAFF_LAN))
    await fake.send_text(STAFF_LAN, "/thongke")
    figures = await fake.wait_for_message(STAFF_LAN, lambda m: "Thống kê ngày" in m["text"], after=after)
    assert "• Đang cách ly: 1 người" in figures["text"]
    chart = await fake.wait_for_message(STAFF_LAN, lambda m: "photo" in m, after=after, timeout=15)
    assert chart["content"].startswith(b"\x89PNG")


async def test_a_person_without_a_role_sending_a_file_is_refused(harness: Harness) -> None:
    fake = harness.fake
    after = len(fake.sent(CITIZEN))
    await fake.send_document(CITIZEN, "danh-sach.xlsx", xlsx(person_row(1)), XLSX_MIME)
    refused = await fake.wait_for_message(CITIZEN, lambda m: "không có quyền" in m["text"], after=after)
    assert "/nhanvien" in refused["text"]


async def test_a_photo_sent_as_a_file_gets_a_clear_answer(harness: Harness) -> None:
    fake = harness.fake
    await add_staff(harness.core, str(STAFF_LAN))  # what `/nhanvien CODE` leaves behind
    await fake.send_document(STAFF_LAN, "anh.jpg", b"\xff\xd8\xff\xe0 not a list", "image/jpeg")
    answer = await fake.wait_for_message(STAFF_LAN, lambda m: "Excel" in m["text"])
    assert "/maunhap" in answer["text"]
