"""Exports never carry formulas (issue 12, item 3): what people typed (a name, an address, a note) that begins
with = + - @, a tab or a carriage return is a text in every .xlsx we write and is neutralised in the CSV (OWASP:
a leading apostrophe); numbers stay numbers, phones and CCCD texts with their leading zero.

Every file is read back: with openpyxl (no cell of data_type "f") and with csv.
"""
from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from chat.messages import Attachment
from handlers.people_files import run_export
from services.env import Core
from services.spreadsheets import XLSX_MIME, formula_like
from storage.models import Declaration, Person
from tests.conftest import ChatDriver, register
from tests.factories import HEADER, STAFF_USER, add_staff, document, person_row, xlsx
from tests.steps import declare, rows

HYPERLINK = '=HYPERLINK("http://x","y")'
FORMULAS = [HYPERLINK, "+1", "-2", "@SUM(A1)", "\tx", "\rx", "=1+1"]


def cells(content: bytes) -> list[openpyxl.cell.Cell]:
    book = openpyxl.load_workbook(io.BytesIO(content))
    return [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]


def assert_no_formula(content: bytes) -> list[object]:
    """Every cell of every sheet: none a formula; their values."""
    found = cells(content)
    assert [c.coordinate for c in found if c.data_type == "f"] == []
    return [c.value for c in found]


@pytest.mark.parametrize("value", FORMULAS)
def test_what_a_spreadsheet_would_run_is_recognised(value: str) -> None:
    assert formula_like(value)


@pytest.mark.parametrize("value", ["Nguyễn Văn An", "12 Lê Lợi", "0912345678", "—", " =x", "", None, -2, 37.5])
def test_other_values_are_left_alone(value: object) -> None:
    assert not formula_like(value)


async def station_with_formulas(core: Core, chat: ChatDriver) -> Person:
    """An, registered; her address, and her check-in's note typed as formulas; the note through the chat."""
    await register(chat)
    [an] = await rows(core, Person, Person.full_name == "Nguyễn Văn An")
    async with core.db.session() as session:
        an.address, an.full_name = HYPERLINK, "@SUM(A1)"  # as another channel or an old version may have kept them
        session.add(an)
    await chat.say("/khaibao")
    await declare(chat, "37,5", spo2="97", breathing="18", note=HYPERLINK)
    [declaration] = await rows(core, Declaration, Declaration.person_id == an.id)
    assert declaration.note == HYPERLINK  # kept as typed: only the files neutralise it
    return an


async def test_the_station_workbook_holds_texts_and_numbers_not_formulas(core: Core, chat: ChatDriver) -> None:
    an = await station_with_formulas(core, chat)
    async with core.db.session() as session:
        exported = await run_export(session, core, "test", None, "xlsx", "vi")
    values = assert_no_formula(exported.content)
    assert HYPERLINK in values and "@SUM(A1)" in values
    book = openpyxl.load_workbook(io.BytesIO(exported.content))
    person = next(r for r in book["Danh sách"].iter_rows(min_row=2) if r[0].value == an.id)
    assert [person[i].data_type for i in (0, 1, 2, 4, 6)] == ["n", "s", "n", "s", "s"]  # id, name, year, phone, address
    assert person[4].value == "0912345678" and person[6].value == HYPERLINK
    assert person[6].quotePrefix  # Excel keeps it a text when someone edits the cell
    declaration = next(book["Khai báo"].iter_rows(min_row=2))
    temperature, spo2, breathing, note = declaration[5], declaration[7], declaration[8], declaration[9]
    assert (temperature.value, temperature.data_type, temperature.number_format) == (37.5, "n", "0.0")
    assert (spo2.value, spo2.data_type, breathing.value, breathing.data_type) == (97, "n", 18, "n")
    assert (note.value, note.data_type) == (HYPERLINK, "s")


async def test_the_csv_export_neutralises_them(core: Core, chat: ChatDriver) -> None:
    await station_with_formulas(core, chat)
    async with core.db.session() as session:
        exported = await run_export(session, core, "test", None, "csv", "vi")
    table = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    person = table[1]
    assert person[1] == "'@SUM(A1)" and person[6] == "'" + HYPERLINK
    assert person[2] == "1980" and person[4] == "0912345678"  # numbers and phones as they were
    assert not [value for row in table for value in row if formula_like(value)]


async def test_the_files_back_from_an_import_hold_no_formula(core: Core) -> None:
    """The rejected rows go back as they were sent (a CSV's texts, an .xlsx's cached values): texts, never
    formulas; the links file neither, whatever the names."""
    await add_staff(core, STAFF_USER)
    staff = ChatDriver(core, STAFF_USER, name="Lan")
    sent = [person_row(i, address=value, decision_number=value, phone="12345") for i, value in enumerate(FORMULAS)]
    sent.append(person_row(99))  # one good row: a links file comes back too
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows([[*HEADER[:-1], "=cmd|' /C calc'!A0"], *sent])
    replies = await staff.send(document=Attachment("ds.csv", buffer.getvalue().encode(), "text/csv"), text="")
    rejected = document(replies, "ket-qua-nhap")
    values = assert_no_formula(rejected.content)
    assert HYPERLINK in values and "=cmd|' /C calc'!A0" in values  # the header too: the sender's own text
    assert_no_formula(document(replies, "lien-ket-moi").content)


async def test_an_uploaded_workbook_with_live_formulas_comes_back_without_them(core: Core) -> None:
    """openpyxl writes the text "=..." of a cell as a formula; a formula cell read from an upload is its
    cached value (data_only), None when no program computed it."""
    await add_staff(core, STAFF_USER)
    staff = ChatDriver(core, STAFF_USER, name="Lan")
    content = xlsx(person_row(1, address=HYPERLINK, phone="12345"))
    assert [c.data_type for c in cells(content) if c.value == HYPERLINK] == ["f"]  # a live formula, as sent
    replies = await staff.send(document=Attachment("ds.xlsx", content, XLSX_MIME), text="")
    assert_no_formula(document(replies, "ket-qua-nhap").content)

