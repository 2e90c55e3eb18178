"""Imports are bounded and never freeze anything (issue 12, item 4).

Crafted workbooks (a forged <dimension>, a zip bomb, too many rows or columns, macros) are refused before they are
read, with a message naming the bound; a legitimate list of 20,000 rows is read and checked off the event loop and
without holding SQLite's write lock, so that a person checking in meanwhile is answered while it runs; the CLI
writes in short transactions, so that two imports at once on one SQLite file both succeed. How fast: see
bench/import_list.py (no test here times anything).
"""
from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pytest
from sqlmodel import select

from chat.messages import Attachment
from handlers.people_files import BACKGROUND_BYTES, IMPORT_BATCH, RUNNING
from locales import t
from services.env import Core
from services.spreadsheets import MAX_COLUMNS, MAX_ROWS, XLSX_MIME, FileProblem, read_list
from storage.models import Invitation
from tests.conftest import ROOT, UNITS_CSV, Cachly, ChatDriver, one_error_line, sqlite_url
from tests.factories import (
    HEADER,
    PLEIKU,
    STAFF_USER,
    add_person,
    add_staff,
    background_replies,
    big_list,
    forged_dimension,
    person_row,
    rezipped,
    xlsx,
    zip_bomb,
)
from tests.fake_bot_api import JSON
from tests.telegram_steps import CITIZEN, STAFF_LAN, Harness, register_via_telegram, say, tap

SMALL = xlsx(person_row(1), person_row(2), person_row(3))  # about 5 KB
MACROS_TYPE = (b'<Override PartName="/xl/workbook.xml" '
               b'ContentType="application/vnd.ms-excel.sheet.macroEnabled.main+xml"/>')


def wide(columns: int) -> bytes:
    """A list with `columns` filled columns: the template's, then extra ones."""
    extra = [f"cột {i}" for i in range(len(HEADER) + 1, columns + 1)]
    return xlsx(person_row(1) + ["x"] * len(extra), header=HEADER + extra)


def csv_list(rows: list[list[object]]) -> bytes:
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


CRAFTED = {  # name: (file name, content, the refusal's key and parameters)
    "forged 16,384 columns": ("ds.xlsx", forged_dimension(SMALL, "A1:XFD4"),
                              ("upload.file.too_many_columns", {"max": MAX_COLUMNS})),
    "forged 1,048,576 rows": ("ds.xlsx", forged_dimension(SMALL, "A1:J1048576"),
                              ("upload.file.too_many_rows", {"max": MAX_ROWS})),
    "500 columns": ("ds.xlsx", wide(500), ("upload.file.too_many_columns", {"max": MAX_COLUMNS})),
    "500 columns, no dimension": ("ds.xlsx", forged_dimension(wide(500), "A1"),
                                  ("upload.file.too_many_columns", {"max": MAX_COLUMNS})),
    "500 columns of csv": ("ds.csv", csv_list([HEADER + ["x"] * 490, person_row(1) + ["x"] * 490]),
                           ("upload.file.too_many_columns", {"max": MAX_COLUMNS})),
    "zip bomb": ("ds.xlsx", zip_bomb(SMALL, 60), ("upload.file.too_big_unpacked", {"max": 50})),
    "packed 1,000 times": ("ds.xlsx", zip_bomb(SMALL, 10), ("upload.file.too_big_unpacked", {"max": 50})),
    ".xlsm": ("ds.xlsm", SMALL, ("upload.file.macros", {})),
    "macros in an .xlsx": ("ds.xlsx", rezipped(SMALL, {"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0 macro"}),
                           ("upload.file.macros", {})),
    "a macro-enabled workbook named .xlsx": (
        "ds.xlsx", rezipped(SMALL, {"[Content_Types].xml": b'<Types xmlns="http://schemas.openxmlformats.org/'
                                    b'package/2006/content-types">' + MACROS_TYPE + b"</Types>"}),
        ("upload.file.macros", {})),
    "a zip that is no workbook": ("ds.xlsx", rezipped(SMALL, {"xl/workbook.xml": None}),
                                  ("upload.file.unreadable", {})),
    "over 5 MB": ("ds.csv", b"x" * (5 * 1024 * 1024 + 1), ("upload.file.too_big", {"max": 5})),
}


@pytest.mark.parametrize("name", CRAFTED)
def test_a_crafted_file_is_refused_before_it_is_read(name: str) -> None:
    file_name, content, (key, params) = CRAFTED[name]
    with pytest.raises(FileProblem) as refused:
        read_list(file_name, content)
    assert (refused.value.key, refused.value.params) == (key, params)


def test_a_forged_dimension_is_refused_from_a_5_kb_file() -> None:
    assert len(CRAFTED["forged 16,384 columns"][1]) < 6_000  # the file: 5 KB that froze the bot


def test_20001_rows_are_refused_and_20000_read() -> None:
    with pytest.raises(FileProblem) as refused:
        read_list("ds.xlsx", big_list(MAX_ROWS + 1))
    assert refused.value.key == "upload.file.too_many_rows"
    with pytest.raises(FileProblem):
        read_list("ds.csv", csv_list([HEADER, *(person_row(i) for i in range(1, MAX_ROWS + 2))]))
    table = read_list("ds.xlsx", big_list(MAX_ROWS))
    assert len(table.body) == MAX_ROWS and len(table.header) == len(HEADER)


def test_a_lying_small_dimension_does_not_hide_rows_or_columns() -> None:
    """A dimension is a claim: the rows are read whatever it says, within the bounds."""
    lying = forged_dimension(xlsx(*(person_row(i) for i in range(1, 6))), "A1:B2")
    table = read_list("ds.xlsx", lying)
    assert len(table.body) == 5 and len(table.header) == len(HEADER)


def test_the_sheets_formatted_empty_tail_is_cut() -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    sheet.append(person_row(1))
    sheet.cell(row=400, column=40).number_format = "@"  # a formatted cell far away, no value
    buffer = io.BytesIO()
    book.save(buffer)
    table = read_list("ds.xlsx", buffer.getvalue())
    assert [len(cells) for _, cells in table.body] == [len(HEADER)]


# --- through the chat ---------------------------------------------------------------------------------------


@pytest.fixture
async def staff(core: Core) -> ChatDriver:
    await add_staff(core, STAFF_USER)
    return ChatDriver(core, STAFF_USER, name="Lan")


@pytest.mark.parametrize("name", ["forged 16,384 columns", "zip bomb", "500 columns", ".xlsm"])
async def test_staff_sending_a_crafted_file_are_told_the_bound(core: Core, staff: ChatDriver, name: str) -> None:
    file_name, content, (key, params) = CRAFTED[name]
    replies = await staff.send(document=Attachment(file_name, content, XLSX_MIME), text="")
    assert [r.text for r in replies] == [t("vi", key, **params)]
    assert str(params.get("max", "")) in replies[0].text
    async with core.db.session() as session:
        assert not (await session.exec(select(Invitation))).all()


async def test_a_list_over_the_rows_bound_is_refused_in_english_too(core: Core) -> None:
    await add_staff(core, STAFF_USER)
    staff = ChatDriver(core, STAFF_USER, name="Lan", language_code="en")
    replies = await staff.send(document=Attachment("ds.xlsx", CRAFTED["forged 1,048,576 rows"][1], XLSX_MIME))
    assert replies[0].text == t("en", "upload.file.too_many_rows", max=MAX_ROWS)
    assert "20000 at most" in replies[0].text


async def test_a_check_in_is_answered_while_a_20000_row_list_is_imported(core: Core, staff: ChatDriver) -> None:
    """Both as Telegram delivers them, each update with its id (so each writes its processed-update record):
    the list's update is answered at once and the import goes on in the background, reading and checking in a
    thread without SQLite's write lock, so that the person's check-in steps, which write, are answered while it
    runs; its result then comes through the outbox."""
    await add_person(core, "Nguyễn Văn An", chat_id="100")
    person = ChatDriver(core, "100")
    started = await staff.send(document=Attachment("ds.xlsx", big_list(MAX_ROWS), XLSX_MIME), text="",
                               update_id="9001")
    assert [r.text for r in started] == [t("vi", "files.import_started")]
    assert "Nhiệt độ" in (await person.send(text="/khaibao", update_id="9002"))[0].text
    assert "triệu chứng" in (await person.send(text="36,8", update_id="9003"))[0].text
    assert RUNNING  # the import is still running
    report, *files = await background_replies(core, STAFF_USER)
    assert f"{MAX_ROWS} dòng hợp lệ" in report.text
    assert [f.document.file_name[:12] for f in files if f.document] == ["lien-ket-moi"]
    async with core.db.session() as session:
        assert len((await session.exec(select(Invitation.code))).all()) == MAX_ROWS


async def test_a_big_crafted_file_is_refused_from_the_background_too(core: Core, staff: ChatDriver) -> None:
    content = forged_dimension(xlsx(*(person_row(i) for i in range(1, 4000))), "A1:XFD4000")
    assert len(content) > BACKGROUND_BYTES
    await staff.send(document=Attachment("ds.xlsx", content, XLSX_MIME), text="")
    assert [r.text for r in await background_replies(core, STAFF_USER)] == [
        t("vi", "upload.file.too_many_columns", max=MAX_COLUMNS)]


async def test_over_telegram_a_crafted_workbook_and_a_20000_row_list_while_a_person_checks_in(
        harness: Harness) -> None:
    """The real bot over HTTP: the crafted workbook is refused at once, the list imported in the background,
    and the person's check-in, sent right behind both, answered while the import runs. The waits are printed
    (pytest -s), not asserted."""
    fake = harness.fake
    await add_staff(harness.core, str(STAFF_LAN))
    await register_via_telegram(fake)
    waits: dict[str, float] = {}

    async def answered(name: str, chat: int, expect: str, after: int, started: float) -> JSON:
        message = await fake.wait_for_message(chat, lambda m: expect in m["text"], after=after, timeout=90)
        waits[name] = time.monotonic() - started
        return message

    legitimate = big_list(MAX_ROWS)
    staff_after, citizen_after, started = len(fake.sent(STAFF_LAN)), len(fake.sent(CITIZEN)), time.monotonic()
    await fake.send_document(STAFF_LAN, "ds.xlsx", CRAFTED["forged 16,384 columns"][1], XLSX_MIME)
    await fake.send_document(STAFF_LAN, "ds-20000.xlsx", legitimate, XLSX_MIME)
    await fake.send_text(CITIZEN, "/khaibao")
    refusal = await answered("refusal of the crafted workbook", STAFF_LAN, "quá nhiều cột", staff_after, started)
    assert refusal["text"] == t("vi", "upload.file.too_many_columns", max=MAX_COLUMNS)
    await answered("list received", STAFF_LAN, "Đã nhận danh sách", staff_after, started)
    await answered("first check-in answer", CITIZEN, "Nhiệt độ cơ thể", citizen_after, started)
    await say(fake, CITIZEN, "36,8", "triệu chứng")
    waits["second check-in answer"] = time.monotonic() - started
    assert not [m for m in fake.sent(STAFF_LAN)[staff_after:] if "Kết quả nhập" in m.get("text", "")]  # running
    report = await answered("import report", STAFF_LAN, "Kết quả nhập danh sách", staff_after, started)
    assert f"{MAX_ROWS} dòng hợp lệ" in report["text"]
    await tap(fake, CITIZEN, "Không có triệu chứng", "SpO2")
    await tap(fake, CITIZEN, "Không có máy đo", "số lần thở")
    await tap(fake, CITIZEN, "Bỏ qua", "nhắn gì thêm")
    await tap(fake, CITIZEN, "Không có", "Đúng chưa?")
    await tap(fake, CITIZEN, "Đúng", "Đã ghi nhận khai báo")
    print("\n" + "\n".join(f"{name}: {seconds:.2f} s after the uploads" for name, seconds in waits.items()))


# --- the CLI ----------------------------------------------------------------------------------------------------


def test_cachly_import_refuses_a_forged_file_in_one_line(cachly: Cachly, tmp_path: Path) -> None:
    assert cachly("station", "import", str(UNITS_CSV)).returncode == 0
    source = tmp_path / "ds.xlsx"
    source.write_bytes(CRAFTED["forged 16,384 columns"][1])
    line = one_error_line(cachly("import", str(source), "--station", PLEIKU, "--bot", "tram_bot", "--lang", "en"))
    assert line == f"{source}: {t('en', 'upload.file.too_many_columns', max=MAX_COLUMNS)}"


def test_two_cli_imports_at_once_both_succeed(cachly: Cachly, tmp_path: Path) -> None:
    """Each writes its 3,000 invitations IMPORT_BATCH at a time, in transactions of their own: neither waits for
    the other longer than a batch. The second list shares 1,000 CCCD with the first: whichever invites them
    first, the other rejects them (both may within the window of one batch, never more)."""
    assert cachly("station", "import", str(UNITS_CSV)).returncode == 0
    first, second = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    first.write_bytes(big_list(3000))
    second.write_bytes(csv_list([HEADER, *(person_row(i) for i in range(2001, 5001))]))  # 2001..3000: in both
    second = second.rename(tmp_path / "b.csv")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CACHLY_")}
    environment.update({"PYTHONPATH": str(ROOT), "CACHLY_DATABASE_URL": sqlite_url(tmp_path / "cli.db")})
    runs = [subprocess.Popen([sys.executable, "-m", "bot.cli", "import", str(path), "--station", PLEIKU,
                              "--bot", "tram_bot"], cwd=tmp_path, env=environment, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for path in (first, second)]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err for _, err in outputs]
    accepted = [int(re.search(r": (\d+) accepted", out).group(1)) for out, _ in outputs]  # type: ignore[union-attr]
    assert 5000 <= sum(accepted) <= 5000 + IMPORT_BATCH


def test_the_cli_checks_the_cccd_invited_by_an_earlier_batch(cachly: Cachly, tmp_path: Path) -> None:
    """Row 2 and row 1,202 carry the same CCCD, in different batches: the second is a duplicate."""
    assert cachly("station", "import", str(UNITS_CSV)).returncode == 0
    rows = [person_row(i) for i in range(1, 1301)]
    rows[1200] = person_row(5000, id_number=rows[0][4])
    source = tmp_path / "ds.csv"
    source.write_bytes(csv_list([HEADER, *rows]))
    result = cachly("import", str(source), "--station", PLEIKU, "--bot", "tram_bot")
    assert result.returncode == 0, result.stderr
    assert "1299 accepted, 1 rejected" in result.stdout
    assert "row 1202: " in result.stdout
    again = cachly("import", str(source), "--station", PLEIKU, "--bot", "tram_bot")
    assert "0 accepted, 1300 rejected" in again.stdout  # all invited already: by CCCD
