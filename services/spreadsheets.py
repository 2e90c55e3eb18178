"""Lists of people in and out as spreadsheets: the import template, imported lists (.xlsx / .csv), the line
list export, and the files that go back to staff (rejected rows, invitation links).

Reading and validating know nothing of chats: a row's problems are catalog keys with parameters, shown
in the reader's language by whoever reports them. Nothing here logs a cell's content.
"""
from __future__ import annotations

import asyncio
import csv
import io
import re
import time
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from itertools import islice
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import from_excel
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chat import parse
from chat.text import fold
from health.rules import Rules
from locales import LANGUAGES, t
from storage.invitations import VALID_FOR, create_invitations, link, pending_id_numbers
from storage.models import Alert, AlertStatus, Declaration, Invitation, Person, PersonStatus, Station
from storage.stations import as_utc

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIME = "text/csv"
MAX_ROWS = 20_000  # a commune's list is hundreds; a province's, a few thousand
ROW_LIMIT = MAX_ROWS + 100  # rows read at most: room for title rows, the header and blank rows
# What a list may be, checked before it is read (issue 12): a real one is ~12 columns and ~15 times smaller
# packed than unpacked; bigger files are split by the sender, forged ones refused in milliseconds.
MAX_FILE_BYTES = 5 * 1024 * 1024  # what the Telegram channel downloads at most
MAX_COLUMNS = 50
MAX_UNPACKED_BYTES = 50 * 1024 * 1024  # 20,000 rows of 12 columns unpack to ~10 MB
MAX_RATIO = 100  # a zip bomb packs 1,000 times and more
MAX_MEMBERS = 200  # files inside the zip: a workbook has about ten
# Invitations written by another import while this one runs: that import began at most this long before (those
# from before this one began are known from the start), so the search of each batch's CCCD stays short.
MEANWHILE = timedelta(hours=1)
DATE_FORMAT, TIME_FORMAT = "DD/MM/YYYY", "DD/MM/YYYY HH:MM"
_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")


# --- the import columns ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    field: str
    header: str  # as in the template; "*" marks a required column
    aliases: tuple[str, ...]  # folded, without "*": Vietnamese with or without accents, English
    example: object = ""
    width: int = 16

    @property
    def required(self) -> bool:
        return self.header.endswith("*")

    @property
    def name(self) -> str:
        return self.header.rstrip("*")


# The export's column titles, xlsx.col.<key> in the catalogs: the people sheet, the declarations sheet.
PEOPLE_KEYS = ("id", "name", "birth_year", "gender", "phone", "id_number", "address", "station", "category", "start",
               "end", "status", "last_declared", "last_tier", "open_alerts")
DECLARATION_KEYS = ("id", "name", "day", "slot", "declared_at", "temperature", "symptoms", "spo2", "breathing", "note",
                    "tier")
COLUMNS = (
    Column("full_name", "Họ tên*", ("ho ten", "ho va ten", "full name", "name"), "Nguyễn Văn An", 24),
    Column("birth_year", "Năm sinh*", ("nam sinh", "birth year", "year of birth"), 1980, 10),
    Column("gender", "Giới tính*", ("gioi tinh", "gender", "sex"), "Nam", 10),
    Column("phone", "Điện thoại*", ("dien thoai", "so dien thoai", "sdt", "phone", "phone number"),
           "0912345678", 14),
    Column("id_number", "Số CCCD", ("so cccd", "cccd", "so cmnd/cccd", "cmnd/cccd", "so can cuoc",
                                    "id number", "national id"), "064080001234", 16),
    Column("address", "Địa chỉ*", ("dia chi", "address"), "12 Lê Lợi, tổ 3", 30),
    Column("category", "Diện cách ly*", ("dien cach ly", "dien", "category"), "F1", 22),
    Column("start_date", "Ngày bắt đầu*", ("ngay bat dau", "ngay bat dau cach ly", "start date", "start"), None, 14),
    Column("station_code", "Mã trạm", ("ma tram", "station code", "station"), "", 10),
    Column("decision_number", "Số quyết định", ("so quyet dinh", "so qd", "decision number", "decision"),
           "123/QĐ-UBND", 16),
)
BY_FIELD = {c.field: c for c in COLUMNS}
_GENDERS = {"nam": "male", "male": "male", "m": "male", "nu": "female", "female": "female", "f": "female",
            "khac": "other", "other": "other"}
# The spec's words for the categories; the catalog labels of every rules category are accepted as well.
_CATEGORY_WORDS = {"sau cach ly tap trung": "after_central", "after central quarantine": "after_central",
                   "after centralized quarantine": "after_central", "khac": "other"}
_PARENTHESES = re.compile(r"\([^)]*\)")
DECISION_MAX = 100


class FileProblem(Exception):
    """The file as a whole cannot be imported; `key` and `params` say why, in the catalogs."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key, self.params = key, params


def header_key(text: object) -> str:
    """A header as compared: folded, without "*", parentheses ("(dd/mm/yyyy)") or underscores."""
    return fold(_PARENTHESES.sub(" ", str(text or "")).replace("*", " ").replace("_", " ")).strip(" :.")


_ALIASES = {alias: c.field for c in COLUMNS for alias in (*c.aliases, header_key(c.header))}


# --- reading a file -------------------------------------------------------------------------------------


def spreadsheet_kind(file_name: str, content: bytes) -> str | None:
    """"xlsx" or "csv" when the file is one we read, else None (a photo, a PDF, an old .xls)."""
    name = file_name.lower()
    if content.startswith(b"PK\x03\x04") and (name.endswith((".xlsx", ".xlsm")) or "." not in name):
        return "xlsx"  # an .xlsm is recognised, to be refused for its macros with a message that says so
    if name.endswith((".csv", ".txt")) and b"\x00" not in content[:4096]:
        return "csv"
    return None


def read_table(file_name: str, content: bytes) -> list[tuple[int, tuple]]:
    """(row number as the spreadsheet shows it, cell values) for every row of the first sheet, within the bounds
    (FileProblem naming the bound otherwise). Blocking: callers on the event loop run it in a thread."""
    if len(content) > MAX_FILE_BYTES:
        raise FileProblem("upload.file.too_big", max=MAX_FILE_BYTES // (1024 * 1024))
    kind = spreadsheet_kind(file_name, content)
    if kind == "xlsx":
        return _bounded(_xlsx_rows(file_name, content))
    if kind == "csv":
        return _bounded(_csv_rows(content))
    raise FileProblem("upload.file.not_spreadsheet")


def _bounded(rows: list[tuple[int, tuple]]) -> list[tuple[int, tuple]]:
    """Refuse more than MAX_COLUMNS filled columns or MAX_ROWS rows below a header; cut the empty columns
    and rows at the right and the bottom (a sheet's formatted but empty tail)."""
    width = max((_filled_width(cells) for _, cells in rows), default=0)
    if width > MAX_COLUMNS:
        raise FileProblem("upload.file.too_many_columns", max=MAX_COLUMNS)
    while rows and is_empty(rows[-1][1]):
        rows.pop()
    if len(rows) > ROW_LIMIT:
        raise FileProblem("upload.file.too_many_rows", max=MAX_ROWS)
    return [(number, tuple(cells[:width])) for number, cells in rows]


def _filled_width(cells: tuple) -> int:
    for index in range(len(cells) - 1, -1, -1):
        if not is_blank(cells[index]):
            return index + 1
    return 0


def _check_archive(file_name: str, content: bytes) -> None:
    """An .xlsx is a zip: refuse macros, a zip that is not a workbook, and a zip bomb, from the zip's directory
    alone, before anything is unpacked (the sizes it declares bound what zipfile will unpack)."""
    if file_name.lower().endswith((".xlsm", ".xltm", ".xlam")):
        raise FileProblem("upload.file.macros")
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            members = archive.infolist()
            if len(members) > MAX_MEMBERS or "xl/workbook.xml" not in archive.namelist():
                raise FileProblem("upload.file.unreadable")
            if any(_is_macro(m.filename) for m in members) or b"macroEnabled" in archive.read("[Content_Types].xml"):
                raise FileProblem("upload.file.macros")
    except (zipfile.BadZipFile, KeyError, OSError, ValueError):  # KeyError: no [Content_Types].xml, not an xlsx
        raise FileProblem("upload.file.unreadable") from None
    unpacked = sum(m.file_size for m in members)
    if unpacked > MAX_UNPACKED_BYTES or any(_too_packed(m) for m in members):
        raise FileProblem("upload.file.too_big_unpacked", max=MAX_UNPACKED_BYTES // (1024 * 1024))


def _is_macro(member_name: str) -> bool:
    name = member_name.lower()
    return name.endswith(("vbaproject.bin", ".bin")) and ("vba" in name or "macro" in name)


def _too_packed(member: zipfile.ZipInfo) -> bool:
    """A member that unpacks to more than MAX_RATIO times its packed size (XML packs about 10-15 times)."""
    return member.file_size > 1024 * 1024 and member.file_size > MAX_RATIO * max(member.compress_size, 1)


def _claimed_size(sheet) -> None:
    """The size the sheet's <dimension> claims, read without reading the rows (a 5 KB file can claim 16,384
    columns, which openpyxl would then give every row)."""
    if (sheet.max_column or 0) > MAX_COLUMNS:
        raise FileProblem("upload.file.too_many_columns", max=MAX_COLUMNS)
    if (sheet.max_row or 0) > ROW_LIMIT:
        raise FileProblem("upload.file.too_many_rows", max=MAX_ROWS)


def _xlsx_rows(file_name: str, content: bytes) -> list[tuple[int, tuple]]:
    _check_archive(file_name, content)
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        try:
            sheet = book.worksheets[0]
            _claimed_size(sheet)
            # Bounded whatever the dimension says (it may be missing or lie): one column and one row more than
            # allowed, to tell a file over the bounds from one at them.
            rows = sheet.iter_rows(max_row=ROW_LIMIT + 1, max_col=MAX_COLUMNS + 1, values_only=True)
            return list(enumerate(rows, start=1))
        finally:
            book.close()
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError, IndexError, TypeError):
        raise FileProblem("upload.file.unreadable") from None


def _csv_text(content: bytes) -> str:
    try:
        return content.decode("utf-8-sig")  # utf-8-sig: Excel's "CSV UTF-8" starts with a BOM
    except UnicodeDecodeError:
        return content.decode("cp1258", errors="replace")  # Excel's plain CSV on Vietnamese Windows


def _csv_rows(content: bytes) -> list[tuple[int, tuple]]:
    text = _csv_text(content)
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    # Excel writes ";" where the decimal mark is a comma (Vietnamese settings), "," elsewhere.
    delimiter = max(";,\t", key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return list(enumerate((tuple(r) for r in islice(reader, ROW_LIMIT + 1)), start=1))
    except csv.Error:
        raise FileProblem("upload.file.unreadable") from None


def is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def is_empty(cells: Iterable[object]) -> bool:
    return all(is_blank(c) for c in cells)


def header_row(rows: list[tuple[int, tuple]]) -> int:
    """Where the header is: the first row naming three known columns, below a title row or two if any;
    else the first non-empty row (whose missing columns are then reported)."""
    filled = [i for i, (_, cells) in enumerate(rows) if not is_empty(cells)]
    if not filled:
        raise FileProblem("upload.file.no_rows")
    for i in filled[:10]:
        if len({_ALIASES.get(header_key(c)) for c in rows[i][1]} - {None}) >= 3:
            return i
    return filled[0]


def map_header(cells: tuple) -> dict[str, int]:
    """field -> column index; FileProblem naming the required columns the header lacks."""
    found: dict[str, int] = {}
    for index, cell in enumerate(cells):
        known = _ALIASES.get(header_key(cell))
        if known is not None and known not in found:  # the first of two same columns wins
            found[known] = index
    missing = [c.name for c in COLUMNS if c.required and c.field not in found]
    if missing:
        raise FileProblem("upload.file.missing_columns", columns=", ".join(missing))
    return found


# --- validating a row -----------------------------------------------------------------------------------

Reason = tuple[str, dict]  # a catalog key and its parameters


def cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    # NFC: Excel's plain CSV on Vietnamese Windows (cp1258) and some Mac files write tone marks apart.
    return " ".join(unicodedata.normalize("NFC", str(value)).split())


def read_phone(value: object) -> str | None:
    text = cell_text(value)
    # Excel keeps 0912345678 as the number 912345678: the lost leading zero is put back.
    return parse.phone(text) or (parse.phone("0" + text) if len(text) == 9 and text.isdigit() else None)


def read_id_number(value: object) -> str | None:
    text = cell_text(value)
    # CCCD numbers start with the province code 0xx, a zero Excel drops from a number too.
    return parse.id_number(text) or (parse.id_number("0" + text) if len(text) == 11 and text.isdigit() else None)


def read_date(value: object, today: date) -> date | None:
    """An Excel date cell, an Excel serial number, dd/mm/yyyy (and parse.day's other forms) or yyyy-mm-dd."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and 20_000 <= value <= 80_000:
        return from_excel(value).date()  # a date cell that lost its date format: days since 1899-12-30
    text = cell_text(value)
    found = parse.day(text, today)
    if found is None and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            found = date.fromisoformat(text)
        except ValueError:
            return None
    return found


def category_words(rules: Rules) -> dict[str, str]:
    words = dict(_CATEGORY_WORDS)
    for code in rules.categories:
        words[fold(code)] = words[fold(code.replace("_", " "))] = code
        for lang in LANGUAGES:
            label = t(lang, f"category.{code}")
            words[fold(label)] = words[header_key(label)] = code  # "F1 (tiếp xúc gần)" and "F1"
    return {word: code for word, code in words.items() if code in rules.categories}


def is_the_example(data: dict) -> bool:
    """The template's example row, left in by mistake: it must not invite a person who does not exist."""
    return all(data.get(f) == BY_FIELD[f].example for f in ("full_name", "phone", "id_number"))


@dataclass
class Accepted:
    row: int
    station_id: int
    data: dict  # what the invitation pre-fills: the registration's field names


@dataclass
class Rejected:
    row: int
    cells: tuple
    reasons: list[Reason]


@dataclass
class Checker:
    """Everything a row is checked against: the rules, the stations, and who is already followed."""

    rules: Rules
    today: date
    stations: dict[str, Station]  # by code, active ones
    default_station: Station | None
    only_station_id: int | None  # staff import into their own station only; None: any (admins)
    known_ids: set[tuple[int, str]]  # (station id, CCCD) of active people and open invitations
    known_phones: set[tuple[int, str]]  # (station id, phone) of active people
    categories: dict[str, str] = field(default_factory=dict)
    seen_ids: dict[str, int] = field(default_factory=dict)  # CCCD -> first row in this file
    scope: list[int] = field(default_factory=list)  # the stations whose people are known

    def __post_init__(self) -> None:
        self.categories = category_words(self.rules)

    def check(self, row: int, cells: tuple, columns: dict[str, int]) -> Accepted | Rejected:
        def value(name: str) -> object:
            index = columns.get(name)
            return cells[index] if index is not None and index < len(cells) else None

        data: dict[str, Any] = {}
        reasons: list[Reason] = []
        for column in COLUMNS:
            raw = value(column.field)
            if column.required and not cell_text(raw):
                reasons.append(("upload.reason.missing", {"column": column.name}))
                continue
            problem = self._field(column.field, raw, data)
            if problem is not None:
                reasons.append(problem)
        station = self._station(data.pop("_station_code", ""), reasons)
        if station is not None:
            assert station.id is not None  # a station read from the database
            data["station_code"], data["station_name"] = station.code, station.label
            self._duplicates(row, station.id, data, reasons)
        self._dates(data, reasons)
        if is_the_example(data):
            reasons.append(("upload.reason.example", {}))
        if reasons:
            return Rejected(row, cells, reasons)
        assert station is not None and station.id is not None  # _station gives a reason whenever it finds none
        return Accepted(row, station.id, data)

    def _field(self, name: str, raw: object, data: dict) -> Reason | None:
        """Read one cell into `data`; a problem with it, or None."""
        text = cell_text(raw)
        if name == "full_name":
            data[name] = parse.full_name(text)
            return None if data[name] else ("upload.reason.name", {})
        if name == "birth_year":
            data[name] = parse.birth_year(text, self.today.year)
            return None if data[name] else ("upload.reason.birth_year", {"this_year": self.today.year})
        if name == "gender":
            data[name] = _GENDERS.get(fold(text))
            return None if data[name] else ("upload.reason.gender", {})
        if name == "phone":
            data[name] = read_phone(raw)
            return None if data[name] else ("upload.reason.phone", {})
        if name == "id_number":
            data[name] = read_id_number(raw) if text else None
            return None if data[name] or not text else ("upload.reason.id_number", {})
        if name == "address":
            data[name] = text
            return None if 3 <= len(text) <= 300 and any(c.isalnum() for c in text) else ("upload.reason.address", {})
        if name == "category":
            data[name] = self.categories.get(fold(text)) or self.categories.get(header_key(text))
            return None if data[name] else ("upload.reason.category", {})
        if name == "start_date":
            start = read_date(raw, self.today)
            data[name] = start.isoformat() if start else None
            return None if start else ("upload.reason.date", {})
        if name == "station_code":
            data["_station_code"] = text
            return None
        data[name] = text or None  # decision_number
        return None if len(text) <= DECISION_MAX else ("upload.reason.decision", {"max": DECISION_MAX})

    def _station(self, code: str, reasons: list[Reason]) -> Station | None:
        if not code:
            if self.default_station is None:
                reasons.append(("upload.reason.station_missing", {}))
            return self.default_station
        station = self.stations.get(code) or (self.stations.get(code.zfill(5)) if code.isdigit() else None)
        if station is None:
            reasons.append(("upload.reason.station_unknown", {"code": code[:20]}))
        elif self.only_station_id is not None and station.id != self.only_station_id:
            reasons.append(("upload.reason.station_not_yours", {"code": station.code}))
            return None
        return station

    def _duplicates(self, row: int, station_id: int, data: dict, reasons: list[Reason]) -> None:
        id_number, phone = data.get("id_number"), data.get("phone")
        if id_number:
            first = self.seen_ids.setdefault(id_number, row)
            if first != row:
                reasons.append(("upload.reason.duplicate_in_file", {"row": first}))
            elif (station_id, id_number) in self.known_ids:
                reasons.append(("upload.reason.known_id_number", {}))
        if phone and (station_id, phone) in self.known_phones:
            reasons.append(("upload.reason.known_phone", {}))

    def _dates(self, data: dict, reasons: list[Reason]) -> None:
        """Like registration: the start is not in the future and the quarantine is not already over."""
        if not data.get("start_date") or not data.get("category"):
            return
        start = date.fromisoformat(data["start_date"])
        days = self.rules.quarantine_days[data["category"]]
        if start > self.today:
            reasons.append(("upload.reason.date_future", {}))
        elif start + timedelta(days=days - 1) < self.today:
            reasons.append(("upload.reason.date_too_old", {"days": days}))


# --- an import ------------------------------------------------------------------------------------------


@dataclass
class ImportResult:
    header: tuple = ()
    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    empty: int = 0
    codes: list[str] = field(default_factory=list)  # the invitations, in the order of `accepted`
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        """For the audit trail and logs: numbers only, never a row's content."""
        return {"accepted": len(self.accepted), "rejected": len(self.rejected), "empty": self.empty}

    def add(self, part: ImportResult) -> None:
        self.accepted += part.accepted
        self.rejected += part.rejected
        self.codes += part.codes
        self.empty += part.empty


Progress = Callable[[int, int], None]  # (rows done, rows in all)


async def known_people(session: AsyncSession, scope: list[int], now: datetime) -> tuple[set, set]:
    """(station id, CCCD) of active people and open invitations, (station id, phone) of active people."""
    people = await session.exec(select(Person.station_id, Person.id_number, Person.phone).where(
        Person.status == PersonStatus.ACTIVE, col(Person.station_id).in_(scope)))
    known_ids, known_phones = set(), set()
    for station_id, id_number, phone in people.all():
        if id_number:
            known_ids.add((station_id, id_number))
        known_phones.add((station_id, phone))
    return known_ids | await pending_id_numbers(session, scope, now), known_phones


async def checker_for(session: AsyncSession, rules: Rules, today: date, now: datetime,
                      default_station: Station | None, only_station_id: int | None) -> Checker:
    stations = {s.code: s for s in (await session.exec(select(Station).where(col(Station.active).is_(True)))).all()}
    scope = [only_station_id] if only_station_id is not None else [s.id for s in stations.values() if s.id is not None]
    known_ids, known_phones = await known_people(session, scope, now)
    return Checker(rules, today, stations, default_station, only_station_id, known_ids, known_phones, scope=scope)


async def import_batch(session: AsyncSession, checker: Checker, table: Table, body: list[tuple[int, tuple]],
                       created_by: str, now: datetime) -> ImportResult:
    """Some rows checked and invited in the caller's transaction, kept short by the caller (a few hundred rows).
    Their CCCD invited since the checker was made (by another import running meanwhile) are known first."""
    await _invited_meanwhile(session, checker, _id_numbers(table, body), now)
    part = check_rows(checker, table, body)
    part.codes = await invite(session, part.accepted, created_by, now)
    return part


def _id_numbers(table: Table, body: list[tuple[int, tuple]]) -> list[str]:
    index = table.columns.get("id_number")
    if index is None:
        return []
    return [found for _, cells in body if index < len(cells) and (found := read_id_number(cells[index]))]


async def _invited_meanwhile(session: AsyncSession, checker: Checker, id_numbers: list[str], now: datetime) -> None:
    if not id_numbers:
        return
    id_number = col(Invitation.data)["id_number"].as_string()  # json_extract on SQLite, ->> on PostgreSQL
    found = await session.exec(select(Invitation.station_id, id_number).where(
        Invitation.created_at >= as_utc(now) - MEANWHILE, col(Invitation.station_id).in_(checker.scope),
        col(Invitation.used_at).is_(None), id_number.in_(id_numbers)))
    checker.known_ids |= set(found.all())


@dataclass
class Table:
    """An imported list as read: its header, the rows below it, and where each import column is."""

    header: tuple
    body: list[tuple[int, tuple]]
    columns: dict[str, int]


def read_list(file_name: str, content: bytes) -> Table:
    """Read and bound a list, find its header (FileProblem if any of it fails). Blocking: run it in a thread."""
    rows = read_table(file_name, content)
    at = header_row(rows)
    header, body = rows[at][1], rows[at + 1:]
    columns = map_header(header)
    if len(body) > MAX_ROWS:
        raise FileProblem("upload.file.too_many_rows", max=MAX_ROWS)
    if all(is_empty(cells) for _, cells in body):
        raise FileProblem("upload.file.no_rows")
    return Table(header, body, columns)


def check_rows(checker: Checker, table: Table, body: list[tuple[int, tuple]]) -> ImportResult:
    """Some rows of the table checked, no invitation written yet (pure computation: a thread may run it)."""
    result = ImportResult(header=table.header)
    for row, cells in body:
        if is_empty(cells):
            result.empty += 1
            continue
        outcome = checker.check(row, cells, table.columns)
        if isinstance(outcome, Accepted):
            result.accepted.append(outcome)
        else:
            result.rejected.append(outcome)
    return result


async def invite(session: AsyncSession, accepted: list[Accepted], created_by: str, now: datetime) -> list[str]:
    return await create_invitations(session, [(a.station_id, a.data) for a in accepted], created_by, now)


async def import_people(session: AsyncSession, checker: Checker, file_name: str, content: bytes, created_by: str,
                        now: datetime) -> ImportResult:
    """Check every row; each accepted row becomes an invitation (no Person until the person confirms).

    Reading and checking take seconds for a big list: in a thread, so that the event loop (everyone else's
    answers, the outbox) goes on. The invitations are written here, in the caller's session.
    """
    started = time.monotonic()
    table = await asyncio.to_thread(read_list, file_name, content)
    result = await asyncio.to_thread(check_rows, checker, table, table.body)
    result.codes = await invite(session, result.accepted, created_by, now)
    result.seconds = time.monotonic() - started
    return result


def reason_text(lang: str, reasons: list[Reason]) -> str:
    return "; ".join(t(lang, key, **params) for key, params in reasons)


# --- files back to staff --------------------------------------------------------------------------------


# What a spreadsheet runs as a formula when a cell begins with it (OWASP, "CSV injection"): an address or a
# note typed as =HYPERLINK(...) must stay a text in every file we write.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_like(value: object) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def _header_cells(sheet, titles: list[str]) -> list[Cell]:
    cells = []
    for title in titles:
        cell = _text_cell(sheet, title)
        cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL
        cells.append(cell)
    return cells


def _text_cell(sheet, text: str) -> Cell:
    """A text cell, never a formula (openpyxl makes one of any text starting with "="); quotePrefix keeps it a
    text when someone edits it in Excel (Excel's own leading apostrophe)."""
    cell = WriteOnlyCell(sheet, value=text)
    if formula_like(text):
        cell.data_type = "s"
        cell.quotePrefix = True
    return cell


def _cell(sheet, value: object) -> object:
    """Every value of every workbook written here: texts as texts (see formula_like), dates and times with
    their format, a decimal of one place (a temperature) shown so, other numbers as they are."""
    if isinstance(value, str):
        return _text_cell(sheet, value) if formula_like(value) else value
    if isinstance(value, date):
        # types-openpyxl types WriteOnlyCell's value narrower than the Cell it makes, which takes a date
        cell = WriteOnlyCell(sheet, value=value)  # type: ignore[arg-type]
        cell.number_format = TIME_FORMAT if isinstance(value, datetime) else DATE_FORMAT
        return cell
    if isinstance(value, float) and round(value, 1) == value:
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "0.0"
        return cell
    return value


def _cells(sheet, values: Iterable[object]) -> list[object]:
    return [_cell(sheet, v) for v in values]


def _new_sheet(book: Workbook, title: str, titles: list[str], widths: list[int]):
    sheet = book.create_sheet(title)
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    sheet.append(_header_cells(sheet, titles))
    return sheet


def _saved(book: Workbook) -> bytes:
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def rejected_workbook(lang: str, result: ImportResult) -> bytes:
    """The rejected rows as they were, with their row number and reasons last: fixed, the same file can be
    sent again (the two extra columns are not import columns and are ignored)."""
    book = Workbook(write_only=True)
    header = [cell_text(h) for h in result.header]
    titles = [*header, t(lang, "xlsx.col.row"), t(lang, "xlsx.col.reasons")]
    sheet = _new_sheet(book, t(lang, "xlsx.sheet.result"), titles, [16] * len(header) + [8, 60])
    for item in result.rejected:
        cells = list(item.cells) + [None] * (len(header) - len(item.cells))
        sheet.append(_cells(sheet, [*cells[:len(header)], item.row, reason_text(lang, item.reasons)]))
    return _saved(book)


def links_workbook(lang: str, result: ImportResult, bot_username: str, tz: tzinfo, now: datetime) -> bytes:
    """Name, phone and deep link of each invitation: staff send each person their link."""
    book = Workbook(write_only=True)
    titles = [t(lang, "xlsx.col.row"), t(lang, "xlsx.col.name"), t(lang, "xlsx.col.phone"),
              t(lang, "xlsx.col.link"), t(lang, "xlsx.col.expires")]
    sheet = _new_sheet(book, t(lang, "xlsx.sheet.links"), titles, [8, 26, 14, 48, 12])
    expires = (now + VALID_FOR).astimezone(tz).date()
    for item, code in zip(result.accepted, result.codes, strict=True):
        sheet.append(_cells(sheet, [item.row, item.data["full_name"], item.data["phone"], link(bot_username, code),
                                    expires]))
    return _saved(book)


def template_workbook(lang: str, rules: Rules, today: date) -> bytes:
    """The import template: the headers, one example row, and a sheet explaining each column."""
    book = Workbook()
    sheet = book.active
    assert isinstance(sheet, Worksheet)  # a new workbook starts with one worksheet, the active one
    sheet.title = t("vi", "xlsx.sheet.people")  # the import reads the first sheet, whatever its name
    sheet.append([c.header for c in COLUMNS])
    sheet.append([today if c.field == "start_date" else c.example for c in COLUMNS])
    for index, column in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = column.width
        sheet[f"{letter}1"].font, sheet[f"{letter}1"].fill = _HEADER_FONT, _HEADER_FILL
        if column.field in ("phone", "id_number", "station_code"):
            for row in range(2, 2001):  # text cells: Excel must keep the leading zeros
                sheet[f"{letter}{row}"].number_format = "@"
    sheet[f"{get_column_letter(_index('start_date'))}2"].number_format = DATE_FORMAT
    sheet.freeze_panes = "A2"
    _choices(sheet, "gender", [t("vi", f"gender.{g}") for g in ("male", "female", "other")])
    _choices(sheet, "category", ["F1", "F2", "Sau cách ly tập trung", "Khác"])
    guide = book.create_sheet(t(lang, "xlsx.sheet.guide"))
    guide.append([t(lang, "xlsx.col.column"), t(lang, "xlsx.col.explanation")])
    for cell in guide[1]:
        cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL
    days = ", ".join(f"{t(lang, f'category.{c}')}: {d}" for c, d in rules.quarantine_days.items())
    for column in COLUMNS:
        guide.append([column.header, t(lang, f"template.{column.field}", days=days)])
    guide.append([])
    guide.append(["*", t(lang, "template.required")])
    guide.column_dimensions["A"].width, guide.column_dimensions["B"].width = 18, 100
    for row in guide.iter_rows(min_row=2):
        row[1].alignment = Alignment(wrap_text=True, vertical="top")
    return _saved(book)


def _index(name: str) -> int:
    return [c.field for c in COLUMNS].index(name) + 1


def _choices(sheet, name: str, values: list[str]) -> None:
    """A drop-down list in Excel; other spellings stay allowed (the import reads them)."""
    letter = get_column_letter(_index(name))
    rule = DataValidation(type="list", formula1='"' + ",".join(values) + '"', allow_blank=True, showErrorMessage=False)
    sheet.add_data_validation(rule)
    rule.add(f"{letter}2:{letter}2000")


# --- the line list export -------------------------------------------------------------------------------


@dataclass
class LineList:
    people: list[Person]
    stations: dict[int, Station]
    declarations: list[Declaration]  # every declaration of these people, oldest first
    open_alerts: Counter  # person id -> alerts not resolved

    def last_declaration(self) -> dict[int, Declaration]:
        last: dict[int, Declaration] = {}
        for declaration in self.declarations:
            last[declaration.person_id] = declaration  # oldest first: the last one written wins
        return last


async def line_list(session: AsyncSession, station_ids: list[int] | None) -> LineList:
    """Everyone (active or done) of some stations, None: the province; with their declarations and alerts."""
    def within(column):
        return True if station_ids is None else col(column).in_(station_ids)

    people = list((await session.exec(select(Person).where(within(Person.station_id))
                                      .order_by(col(Person.station_id), col(Person.full_name), col(Person.id)))).all())
    ids = {p.id for p in people}
    stations = {s.id: s for s in (await session.exec(select(Station).where(
        col(Station.id).in_(list({p.station_id for p in people}))))).all() if s.id is not None}
    declarations = [d for d in (await session.exec(
        select(Declaration).join(Person, col(Person.id) == Declaration.person_id).where(within(Person.station_id))
        .order_by(col(Declaration.declared_at), col(Declaration.id)))).all() if d.person_id in ids]
    alerts = await session.exec(select(Alert.person_id, func.count()).where(
        within(Alert.station_id), Alert.status != AlertStatus.RESOLVED).group_by(col(Alert.person_id)))
    return LineList(people, stations, declarations, Counter(dict(alerts.all())))


def _local(moment: datetime, tz: tzinfo) -> datetime:
    """Local wall time without a zone: Excel has no time zones."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(tz).replace(tzinfo=None)


def people_titles(lang: str) -> list[str]:
    return [t(lang, f"xlsx.col.{key}") for key in PEOPLE_KEYS]


def people_rows(lang: str, lines: LineList, tz: tzinfo) -> Iterator[list[object]]:
    last = lines.last_declaration()
    for p in lines.people:
        assert p.id is not None  # read from the database
        station = lines.stations.get(p.station_id)
        declared = last.get(p.id)
        yield [p.id, p.full_name, p.birth_year, t(lang, f"gender.{p.gender}"), p.phone, p.id_number or "",
               p.address, station.label if station else "", t(lang, f"category.{p.category}"),
               p.start_date, p.end_date, t(lang, f"xlsx.status.{p.status}"),
               _local(declared.declared_at, tz) if declared else None,
               t(lang, f"xlsx.tier.{declared.tier}") if declared else "", lines.open_alerts.get(p.id, 0)]


def symptom_labels(lang: str, rules: Rules, codes: list[str]) -> str:
    return ", ".join(rules.symptom_label(code, lang) for code in codes)


def declaration_rows(lang: str, lines: LineList, rules: Rules, tz: tzinfo) -> Iterator[list[object]]:
    names = {p.id: p.full_name for p in lines.people}
    for d in lines.declarations:
        yield [d.person_id, names.get(d.person_id, ""), d.day, d.slot, _local(d.declared_at, tz),
               d.temperature, symptom_labels(lang, rules, d.symptoms), d.spo2, d.breathing_rate,
               d.note or "", t(lang, f"xlsx.tier.{d.tier}")]


def export_workbook(lang: str, lines: LineList, rules: Rules, tz: tzinfo) -> bytes:
    """Two sheets: the line list ("Danh sách"), one row per person, and every declaration ("Khai báo")."""
    book = Workbook(write_only=True)
    sheet = _new_sheet(book, t(lang, "xlsx.sheet.people"), people_titles(lang),
                       [7, 24, 9, 8, 13, 14, 30, 22, 20, 12, 12, 14, 17, 12, 10])
    for values in people_rows(lang, lines, tz):
        sheet.append(_cells(sheet, values))
    history = _new_sheet(book, t(lang, "xlsx.sheet.declarations"), [t(lang, f"xlsx.col.{k}") for k in DECLARATION_KEYS],
                         [7, 24, 12, 7, 17, 9, 40, 7, 9, 30, 12])
    for values in declaration_rows(lang, lines, rules, tz):
        history.append(_cells(history, values))
    return _saved(book)


def export_csv(lang: str, lines: LineList, tz: tzinfo) -> bytes:
    """The line list only, UTF-8 with a BOM so that Excel shows the Vietnamese letters."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(people_titles(lang))
    for values in people_rows(lang, lines, tz):
        writer.writerow([_csv_value(v) for v in values])
    return buffer.getvalue().encode("utf-8-sig")


def _csv_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.strftime("%d/%m/%Y %H:%M")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if formula_like(value):  # OWASP: a leading apostrophe, which spreadsheets show as the text it is
        return f"'{value}"
    return "" if value is None else value
