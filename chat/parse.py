"""Forgiving parsers for what people type. Each returns the value, or None when it cannot be read."""
from __future__ import annotations

import re
import unicodedata
from datetime import date, time

from chat.text import fold

_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_SEPARATORS = re.compile(r"[\s.\-()]")
_VN_MOBILE = re.compile(r"0[1-9]\d{8}")
# A year has 2 or 4 digits: "25/11/202" is a typo to ask again about, not the year 202.
_DATE = re.compile(r"(\d{1,2})\s*[/.\-]\s*(\d{1,2})(?:\s*[/.\-]\s*(\d{4}|\d{2}))?")
# A temperature is the whole answer, read on folded text ("độ" -> "do"): "37,5", "37.5 °C", "37 độ 5" (spoken:
# 37.5), "37 độ rưỡi" (rưỡi: a half), after "nhiệt độ" or "khoảng" at most. Any other word makes it unreadable
# (asked again): "37 độ hơi sốt" must not become 37.0. One or two decimals ("36,85" is rounded by the caller).
_TEMPERATURE = re.compile(r"(?:(?:nhiet do|khoang)\s*)?(\d{2})(?:[.,](\d{1,2}))?\s*(do|°)?\s*c?\s*(ruoi|\d)?")


def first_number(text: str) -> float | None:
    """The first number in the text, comma or dot as decimal mark: '37,5 độ' -> 37.5."""
    match = _NUMBER.search(text or "")
    return float(match.group().replace(",", ".")) if match else None


def temperature(text: str) -> float | None:
    """A body temperature typed alone (see _TEMPERATURE), or None: nothing is guessed from a sentence."""
    match = _TEMPERATURE.fullmatch(fold(text or ""))
    if not match:
        return None
    whole, decimals, degrees, tail = match.groups()
    if tail is not None and (decimals is not None or (tail != "ruoi" and degrees is None)):
        return None  # "37,5 độ 5" holds two fractions; "37 5" may be 37.5 or a typo: asked again
    if tail == "ruoi":
        return int(whole) + 0.5
    return float(f"{whole}.{decimals or tail or 0}")


def whole_number(text: str) -> int | None:
    """A text that is just a whole number (spaces around allowed): ' 95 ' -> 95, '95%' -> 95."""
    cleaned = (text or "").strip().rstrip("%").strip()
    # not isdigit(): int("²") raises; and int() refuses more than 4300 digits ("0000…" pasted 5000 times)
    return int(cleaned) if cleaned.isdecimal() and len(cleaned) <= NUMBER_DIGITS_MAX else None


NUMBER_DIGITS_MAX = 9  # no answer or button of cachly needs a bigger number; SQLite's integers end at 19 digits


# A count or a reading with the words people put around it, read folded: "khoảng 25 lần", "20 lần/phút",
# "97%", "độ 18 nhịp". Only these words: "25 lần hơi mệt" or "20 30" is asked again, nothing is guessed.
_SPOKEN_NUMBER = re.compile(
    r"(?:(?:khoang|tam|chung|do|duoc|la|spo2)\s*)*(\d{1,9})\s*"
    r"(?:%|phan tram|(?:lan|nhip)?\s*(?:(?:/|tren|moi|trong)\s*(?:1\s*|mot\s*)?phut)?)")


def spoken_number(text: str) -> int | None:
    """A whole number alone or with the words around it (see _SPOKEN_NUMBER): 'khoảng 25 lần' -> 25."""
    match = _SPOKEN_NUMBER.fullmatch(fold(text or "").strip(_END_PUNCTUATION))
    return int(match.group(1)) if match else None


def payload_number(text: str | None) -> int | None:
    """The number in a button's payload (an id, a page, an index: "card:12" -> 12), or None when it is not one.

    A forged payload may hold "²" (isdigit, but int() raises), "-1" or a number too big for the database.
    """
    text = text or ""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= NUMBER_DIGITS_MAX else None


# Phones type the apostrophe of Jrai and Bahnar names (Ksor H'Nhi) as ’ ‘ ʼ or a backtick: all are '.
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"})
_NAME_EDGES = " '-.,;:!?\"«»“”„()"  # "Bá." is "Bá": an end of sentence, not part of the name


def full_name(text: str) -> str | None:
    """A person's name: 2 to 100 characters, letters and spaces (and ' - .), at least two letters."""
    # NFC: some keyboards send "ễ" as e + two combining marks, which are not letters to isalpha().
    typed = unicodedata.normalize("NFC", text or "").translate(_APOSTROPHES)
    name = " ".join(typed.split()).strip(_NAME_EDGES)
    if not 2 <= len(name) <= 100 or sum(c.isalpha() for c in name) < 2:
        return None
    if any(not (c.isalpha() or c in " '-.") for c in name):
        return None
    return name.title() if name.islower() else name


# "1958", "1958.", "năm 1958", "sinh năm 1958" (read folded); a two-digit "80" is only a guess (two_digit_year).
_YEAR = re.compile(r"(?:(?:sinh\s*)?nam\s*)?(\d{4}|\d{2})")
_END_PUNCTUATION = " .,;!?"


def birth_year(text: str, this_year: int) -> int | None:
    year = _year_digits(text)
    return int(year) if year is not None and len(year) == 4 and 1900 <= int(year) <= this_year else None


def two_digit_year(text: str, this_year: int) -> int | None:
    """"80" -> 1980, "05" -> 2005 (when not in the future): a guess the person confirms, never taken as is."""
    year = _year_digits(text)
    if year is None or len(year) != 2:
        return None
    recent = 2000 + int(year)
    return recent if recent <= this_year else 1900 + int(year)


def _year_digits(text: str) -> str | None:
    match = _YEAR.fullmatch(fold(text or "").strip(_END_PUNCTUATION))
    return match.group(1) if match else None


def phone(text: str) -> str | None:
    """A Vietnamese phone number typed as 0xxxxxxxxx or +84xxxxxxxxx (spaces, dots, dashes allowed)."""
    digits = _SEPARATORS.sub("", text or "")
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) == 11:
        digits = "0" + digits[2:]
    return digits if _VN_MOBILE.fullmatch(digits) else None


def shared_phone(raw: str) -> str | None:
    """A number from a chat app's share-contact button: Vietnamese ones as 0x…, others kept as +digits."""
    # phone() reads +84…, 84… (Telegram often drops the '+') and the domestic 0… some clients store.
    vietnamese = phone(raw or "")
    if vietnamese:
        return vietnamese
    digits = _SEPARATORS.sub("", raw or "").lstrip("+")
    return "+" + digits if digits.isdigit() and 8 <= len(digits) <= 15 else None


_VN_LANDLINE = re.compile(r"02\d{9}")  # 0 + area code (0269 for Gia Lai) + subscriber: 11 digits


def station_phone(text: str) -> str | None:
    """A station's number: a mobile as phone() reads it, or a landline ("0269 3823 456", "+84 269 …")."""
    mobile = phone(text)
    if mobile:
        return mobile
    digits = _SEPARATORS.sub("", text or "")
    digits = "0" + digits[3:] if digits.startswith("+84") else digits
    return digits if _VN_LANDLINE.fullmatch(digits) else None


def id_number(text: str) -> str | None:
    """A CCCD (citizen identity card) number: 12 digits, spaces and dots allowed."""
    digits = _SEPARATORS.sub("", text or "")
    return digits if len(digits) == 12 and digits.isdigit() else None


def day(text: str, today: date) -> date | None:
    """A date typed as dd/mm/yyyy (also dd-mm-yyyy, dd.mm.yy, or dd/mm for this year)."""
    match = _DATE.fullmatch((text or "").strip())
    if not match:
        return None
    d, m, y = match.groups()
    year = today.year if y is None else int(y) + (2000 if len(y) == 2 else 0)
    try:
        return date(year, int(m), int(d))
    except ValueError:
        return None


# Read folded ("giờ" -> "gio"): "8:30", "8h30", "8 giờ 30", "9 giờ sáng", "3 giờ chiều", "lúc 8 giờ rưỡi".
_CLOCK = re.compile(r"(?:luc\s*)?(\d{1,2})\s*(?:[:hg.]|gio)?\s*(\d{2}|ruoi)?\s*(?:p|phut)?\s*"
                    r"(sang|trua|chieu|toi|dem)?")


def clock_time(text: str) -> time | None:
    """A time of day: '8:30', '08.30', '8h30', '8 giờ 30', '8h' or '8' -> 08:30 / 08:00; '3 giờ chiều' -> 15:00."""
    match = _CLOCK.fullmatch(fold(text or "").strip(_END_PUNCTUATION))
    if not match:
        return None
    hour, minutes, period = match.groups()
    hour_of_day = _in_24_hours(int(hour), period)
    minute = 30 if minutes == "ruoi" else int(minutes or 0)
    return time(hour_of_day, minute) if hour_of_day is not None and minute < 60 else None


def _in_24_hours(hour: int, period: str | None) -> int | None:
    """The hour on a 24-hour clock for "3 giờ chiều" (15), "1 giờ trưa" (13), "10 giờ đêm" (22), "2 giờ đêm" (2)."""
    if hour > 23 or (period == "sang" and hour > 12):
        return None  # "15 giờ sáng" is not a time
    if hour > 12:
        return hour  # "15 giờ chiều" says it twice
    if period in ("chieu", "toi") and hour < 12:
        return hour + 12
    if (period == "trua" and hour < 6) or (period == "dem" and 6 < hour < 12):
        return hour + 12
    if period in ("sang", "dem") and hour == 12:
        return 0 if period == "dem" else None  # "12 giờ sáng" is unclear: asked again
    return hour
