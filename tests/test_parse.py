"""The forgiving parsers of what people type: values when readable, None otherwise."""
from __future__ import annotations

import unicodedata
from datetime import date, time

import pytest

from chat import parse
from tests.factories import TODAY

# --- temperatures -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("37.5", 37.5),
    ("37,5", 37.5),
    ("37", 37.0),
    ("37,5 độ", 37.5),
    ("  36.8  ", 36.8),
    ("38.2°C", 38.2),
    ("nhiệt độ 36,9", 36.9),
    # Spoken Vietnamese: "ba mươi bảy độ rưỡi" is typed "37 độ 5" and means 37.5, not 37.
    ("37 độ 5", 37.5),
    ("38 do 2", 38.2),
    ("37độ5", 37.5),
    ("37°5", 37.5),
])
def test_temperature_is_read_forgivingly(text: str, value: float) -> None:
    assert parse.temperature(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "abc", "sốt", "độ", ".", ","])
def test_temperature_junk_is_none(text: str) -> None:
    assert parse.temperature(text) is None


def test_first_number_takes_comma_or_dot() -> None:
    assert parse.first_number("37,5 độ") == 37.5
    assert parse.first_number("abc") is None


@pytest.mark.parametrize("text, value", [("98", 98), (" 95 ", 95), ("95%", 95), ("95 %", 95)])
def test_whole_number(text: str, value: int) -> None:
    assert parse.whole_number(text) == value


@pytest.mark.parametrize("text", ["", "abc", "9 5", "95.5", "-3", "½", "9²", "²"])
def test_whole_number_refuses_anything_else(text: str) -> None:
    assert parse.whole_number(text) is None


# --- phones -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "0912345678", "0912 345 678", "0912.345.678", "0912-345-678", "+84 912 345 678", "+84912345678",
    "84912345678", "(+84) 912 345 678", " 0912 345 678 ",
])
def test_phone_forms_give_the_same_number(text: str) -> None:
    assert parse.phone(text) == "0912345678"


@pytest.mark.parametrize("text", [
    "091234567",        # 9 digits
    "09123456789",      # 11 digits
    "912345678",        # no leading 0
    "0012345678",       # 0 then 0
    "+84 0912 345 678",  # +84 followed by the domestic 0
    "+1 415 555 0100",   # not Vietnamese
    "0912 abc 678",
    "O912345678",        # letter O for zero
    "",
])
def test_phone_wrong_is_none(text: str) -> None:
    assert parse.phone(text) is None


@pytest.mark.parametrize("raw, number", [
    ("84912345678", "0912345678"),     # Telegram sends own contacts without '+', sometimes
    ("+84912345678", "0912345678"),
    ("+84 912 345 678", "0912345678"),
    ("0912345678", "0912345678"),      # a domestic form, as some clients store it
    ("+14155550100", "+14155550100"),  # a foreign SIM is kept as it is
    ("14155550100", "+14155550100"),
])
def test_shared_phone(raw: str, number: str) -> None:
    assert parse.shared_phone(raw) == number


@pytest.mark.parametrize("raw", ["", "abc", "+12", "1234567890123456"])
def test_shared_phone_junk_is_none(raw: str) -> None:
    assert parse.shared_phone(raw) is None


# --- CCCD ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["079086001234", "0790 8600 1234", "079 086 001 234", "079.086.001.234"])
def test_id_number_with_separators(text: str) -> None:
    assert parse.id_number(text) == "079086001234"


@pytest.mark.parametrize("text", ["07908600123", "0790860012345", "07908600123a", "", "CCCD 079086001234"])
def test_id_number_wrong_is_none(text: str) -> None:
    assert parse.id_number(text) is None


# --- names --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, name", [
    ("Nguyễn Văn An", "Nguyễn Văn An"),
    ("  Nguyễn   Văn  An ", "Nguyễn Văn An"),
    ("nguyễn văn an", "Nguyễn Văn An"),
    ("đặng thị ánh", "Đặng Thị Ánh"),
    ("Y Blông Niê", "Y Blông Niê"),     # an Ê Đê name keeps its capitals
    ("H'Hen Niê", "H'Hen Niê"),
    ("An", "An"),
    ("McDonald", "McDonald"),            # mixed case is left as typed
])
def test_full_name(text: str, name: str) -> None:
    assert parse.full_name(text) == name


@pytest.mark.parametrize("text", [
    "Nguyễn Văn 4n", "An 1980", "Nguyễn Văn An 😀", "😀😀", "A", "A.", "", "   ", "a" * 101, "Nguyễn/An",
])
def test_full_name_refused(text: str) -> None:
    assert parse.full_name(text) is None


def test_full_name_typed_decomposed_is_stored_composed() -> None:
    decomposed = unicodedata.normalize("NFD", "Nguyễn Văn An")
    assert decomposed != "Nguyễn Văn An"
    assert parse.full_name(decomposed) == "Nguyễn Văn An"


def test_full_name_length_bounds() -> None:
    assert parse.full_name("a" * 100) is not None
    assert parse.full_name("a" * 101) is None


# --- birth years --------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, year", [("1980", 1980), (" 1945 ", 1945), ("1900", 1900), ("2026", 2026)])
def test_birth_year(text: str, year: int) -> None:
    assert parse.birth_year(text, 2026) == year


@pytest.mark.parametrize("text", ["1899", "2027", "80", "19800", "năm 80", "năm nay", "abc", ""])
def test_birth_year_refused(text: str) -> None:
    assert parse.birth_year(text, 2026) is None


# --- dates --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, day", [
    ("25/11/2026", date(2026, 11, 25)),
    ("5/1/26", date(2026, 1, 5)),
    ("25-11-2026", date(2026, 11, 25)),
    ("25.11.2026", date(2026, 11, 25)),
    ("25/11", date(2026, 11, 25)),
    (" 25 / 11 / 2026 ", date(2026, 11, 25)),
    ("29/02/2028", date(2028, 2, 29)),
])
def test_day(text: str, day: date) -> None:
    assert parse.day(text, TODAY) == day


@pytest.mark.parametrize("text", [
    "31/02/2026", "29/02/2026", "32/1/2026", "1/13/2026", "0/1/2026",
    "25/11/202",      # a 3-digit year is a typo, not the year 202
    "25/11/20266", "hôm qua", "2026-11-25x", "", "25", "abc",
])
def test_day_junk_is_none(text: str) -> None:
    assert parse.day(text, TODAY) is None


# --- forgiving input (issue 13): the words and marks people type around a value -----------------------

@pytest.mark.parametrize("text, year", [("năm 1958", 1958), ("1958.", 1958), ("Năm 1958", 1958),
                                        ("sinh năm 1958", 1958), ("nam 1958", 1958), ("1958 ", 1958)])
def test_birth_year_with_words_or_a_full_stop(text: str, year: int) -> None:
    assert parse.birth_year(text, 2026) == year


@pytest.mark.parametrize("text, year", [("80", 1980), ("năm 80", 1980), ("45.", 1945), ("05", 2005),
                                        ("26", 2026), ("27", 1927), ("00", 2000)])
def test_two_digit_year_is_a_guess_of_its_century(text: str, year: int) -> None:
    assert parse.two_digit_year(text, 2026) == year


@pytest.mark.parametrize("text", ["1980", "8", "800", "tám mươi", "80 tuổi", "", "abc"])
def test_two_digit_year_refused(text: str) -> None:
    assert parse.two_digit_year(text, 2026) is None


@pytest.mark.parametrize("text, value", [
    ("25", 25), ("khoảng 25 lần", 25), ("khoang 25 lan", 25), ("20 lần/phút", 20), ("20 lần / phút", 20),
    ("18 lần trong 1 phút", 18), ("18 nhịp/phút", 18), ("tầm 18", 18), ("97%", 97), ("97 %", 97),
    ("SpO2 97%", 97), ("97 phần trăm", 97), ("được 96", 96), ("25.", 25), (" 25 ", 25),
])
def test_spoken_number(text: str, value: int) -> None:
    assert parse.spoken_number(text) == value


@pytest.mark.parametrize("text", [
    "", "abc", "20 30", "25 lần hơi mệt", "không biết", "2.5", "-5", "½", "9²", "khoảng", "1234567890",
])
def test_spoken_number_refused(text: str) -> None:
    assert parse.spoken_number(text) is None


@pytest.mark.parametrize("text, hour, minute", [
    ("9 giờ sáng", 9, 0), ("9 gio sang", 9, 0), ("9h sáng", 9, 0), ("9h30 sáng", 9, 30), ("3 giờ chiều", 15, 0),
    ("3h chiều", 15, 0), ("7 giờ tối", 19, 0), ("10 giờ đêm", 22, 0), ("2 giờ đêm", 2, 0), ("12 giờ đêm", 0, 0),
    ("1 giờ trưa", 13, 0), ("12 giờ trưa", 12, 0), ("11 giờ trưa", 11, 0), ("15 giờ chiều", 15, 0),
    ("lúc 8 giờ", 8, 0), ("8 giờ rưỡi", 8, 30), ("8:30", 8, 30), ("8 30", 8, 30), ("08.30", 8, 30),
    ("8h30", 8, 30), ("8 giờ 30 phút", 8, 30), ("9 giờ sáng.", 9, 0), ("20", 20, 0),
])
def test_clock_time_as_people_say_it(text: str, hour: int, minute: int) -> None:
    assert parse.clock_time(text) == time(hour, minute)


@pytest.mark.parametrize("text", ["", "abc", "25", "24:00", "8:60", "15 giờ sáng", "12 giờ sáng", "sáng", "9 giờ mai"])
def test_clock_time_refused(text: str) -> None:
    assert parse.clock_time(text) is None


@pytest.mark.parametrize("text", ["37,5 độ", "khoảng 37,5", "37,5 độ C", "37.5°C"])
def test_temperature_with_its_words(text: str) -> None:
    assert parse.temperature(text) == pytest.approx(37.5)


@pytest.mark.parametrize("text, name", [
    ("Ksor H’Nhi", "Ksor H'Nhi"), ("Ksor H‘Nhi", "Ksor H'Nhi"), ("Ksor Hʼnhi", "Ksor H'nhi"),
    ("ksor h’nhi", "Ksor H'Nhi"), ("Bá.", "Bá"), ("Nguyễn Văn Bá.", "Nguyễn Văn Bá"), ("“Rơ Mah Lan”", "Rơ Mah Lan"),
    ("- Siu H'Bia -", "Siu H'Bia"), ("Trần Thị Bình!", "Trần Thị Bình"), ("(Đinh Văn Rốt)", "Đinh Văn Rốt"),
    ("Ksor H`Nhi", "Ksor H'Nhi"),
])
def test_full_name_apostrophes_and_punctuation_around(text: str, name: str) -> None:
    assert parse.full_name(text) == name


@pytest.mark.parametrize("text", ["B.", "...", "’’", "H’", "Nguyễn, An", "An; Bình"])
def test_full_name_still_refused(text: str) -> None:
    assert parse.full_name(text) is None
