"""The commune search by the names people still use: old communes and wards (before 1 July 2025), unit-kind
prefixes, qui/quy, one typo; and the commune question of registration showing the old name it matched."""
from __future__ import annotations

import csv
import time
from collections.abc import AsyncIterator
from itertools import groupby

import pytest

from chat.text import fold
from locales import t
from storage.db import Database
from storage.stations import (
    StationSearch,
    _one_edit,
    ensure_seeded,
    old_names,
    search_key,
    search_stations,
)
from tests.conftest import ROOT, ChatDriver
from tests.factories import PLEIKU, QUY_NHON, until_station_question
from tests.steps import vi

OLD_UNITS_CSV = ROOT / "storage" / "data" / "gia-lai-2025-old-units.csv"
OLD_ROWS = list(csv.DictReader(OLD_UNITS_CSV.open(encoding="utf-8")))
QUY_NHON_DONG = "21601"
TAY_SON = "21808"  # Xã Tây Sơn, which took over thị trấn Phú Phong
UNIT_WORDS = ("Phường ", "Xã ", "Thị trấn ", "Thị Trấn ", "Huyện ", "Thành Phố ", "Thị Xã ")


def bare(name: str) -> str:
    """An old unit's name as people type it: no "Xã", no accents, lower case."""
    for word in UNIT_WORDS:
        name = name.removeprefix(word)
    return fold(name)


def split(row: dict[str, str]) -> bool:
    return sum(other["old_ward"] == row["old_ward"] and other["old_district"] == row["old_district"]
               for other in OLD_ROWS) > 1


@pytest.fixture
async def db(migrated_db_url: str) -> AsyncIterator[Database]:
    database = Database(migrated_db_url)
    async with database.session() as session:
        await ensure_seeded(session)
    yield database
    await database.dispose()


async def search(db: Database, query: str, limit: int = 8) -> StationSearch:
    async with db.session() as session:
        return await search_stations(session, query, limit)


async def codes(db: Database, query: str, limit: int = 8) -> list[str]:
    return [hit.station.code for hit in (await search(db, query, limit)).hits]


# --- the mapping file -------------------------------------------------------------------------------------


def test_the_mapping_is_read_once_and_covers_every_unit() -> None:
    assert old_names() is old_names()  # cached for the process
    assert sum(len(names) for names in old_names().values()) == len(OLD_ROWS) == 375
    assert len(old_names()) == 135  # every 2025 unit took over at least one old one
    pleiku = {old.ward: old.district for old in old_names()[PLEIKU]}
    assert pleiku["Hoa Lư"] == "TP Pleiku"


async def test_every_old_unit_finds_the_unit_that_took_it_over(db: Database) -> None:
    missing = []
    for row in OLD_ROWS:
        for query in (f"{row['old_ward']}, {row['old_district']}", bare(row["old_ward"])):
            if row["new_code"] not in await codes(db, query):
                missing.append(query)
    assert not missing, missing


@pytest.mark.parametrize("district", sorted({row["old_district"] for row in OLD_ROWS}))
async def test_a_commune_of_each_old_district_typed_the_way_people_do(db: Database, district: str) -> None:
    # An old commune split between two 2025 units finds both, in either order: take one that was not split.
    rows = [row for row in OLD_ROWS if row["old_district"] == district and not split(row)]
    row = rows[len(rows) // 2]
    query = f"{bare(row['old_ward'])} {bare(district)}"  # "hoa lu pleiku"
    found = await search(db, query)
    assert found.hits[0].station.code == row["new_code"], (query, [h.station.name for h in found.hits])


def test_28_old_districts_are_sampled() -> None:
    assert len({row["old_district"] for row in OLD_ROWS}) == 28


# --- the examples of the issue ----------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "code", "old"), [
    ("hoa lu", PLEIKU, "Hoa Lư"),
    ("nhon binh", QUY_NHON_DONG, "Nhơn Bình"),
    ("thị trấn Phú Phong", TAY_SON, "Phú Phong"),
    ("Hoa Lư, TP Pleiku, Gia Lai", PLEIKU, "Hoa Lư"),
    ("tp pleiku", PLEIKU, None),
    ("qui nhon", QUY_NHON, None),
])
async def test_issue_examples(db: Database, query: str, code: str, old: str | None) -> None:
    first = (await search(db, query)).hits[0]
    assert first.station.code == code
    assert (first.old.ward if first.old else None) == old


async def test_a_new_name_beats_an_old_one(db: Database) -> None:
    """Phường Tây Sơn of old Pleiku is now Phường Pleiku; who types "tây sơn" most likely means Xã Tây Sơn."""
    hits = (await search(db, "tây sơn")).hits
    assert hits[0].station.code == TAY_SON and hits[0].old is None
    assert PLEIKU in [hit.station.code for hit in hits[1:]]


async def test_an_old_name_equal_to_the_new_one_is_not_shown_twice(db: Database) -> None:
    first = (await search(db, "ia o ia grai")).hits[0]  # old xã Ia O of huyện Ia Grai is now xã Ia O
    assert first.station.name == "Ia O" and first.old is None


async def test_a_word_of_the_district_alone_does_not_find_its_communes(db: Database) -> None:
    assert {h.station.name for h in (await search(db, "quy nhon")).hits} == {
        "Quy Nhơn", "Quy Nhơn Bắc", "Quy Nhơn Đông", "Quy Nhơn Nam", "Quy Nhơn Tây"}


# --- prefixes, spellings, typos --------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["tp pleiku", "TP. Pleiku", "thành phố Pleiku", "phường Pleiku", "P Pleiku",
                                   "Pleiku, tỉnh Gia Lai", "TP Pleiku"])
async def test_unit_kind_words_are_ignored(db: Database, query: str) -> None:
    if query == "P Pleiku":  # a lone "p" is not dropped: the remaining letter still only narrows the search
        assert PLEIKU in await codes(db, query)
        return
    assert (await codes(db, query))[0] == PLEIKU


@pytest.mark.parametrize(("query", "name"), [("thi tran phu phong", "Tây Sơn"), ("tt phu phong", "Tây Sơn"),
                                             ("thị xã An Khê", "An Khê"), ("tx an khe", "An Khê"),
                                             ("xã ia grai", "Ia Grai"), ("huyện Ia Grai", "Ia Grai")])
async def test_prefixes_of_every_kind(db: Database, query: str, name: str) -> None:
    assert (await search(db, query)).hits[0].station.name == name


async def test_names_of_a_kind_word_are_still_found(db: Database) -> None:
    """Cừ and Cư An fold to "cu", the word of "cũ": only "cũ)" closing a typed-back label is dropped."""
    assert (await search(db, "nguyen van cu")).hits[0].old.ward == "Nguyễn Văn Cừ"  # type: ignore[union-attr]
    assert "Cư An" in [hit.old.ward for hit in (await search(db, "cu an")).hits if hit.old]


@pytest.mark.parametrize(("typed", "same_as"), [("qui nhon", "quy nhon"), ("Qui Nhơn Bắc", "Quy Nhơn Bắc"),
                                                ("phu mi", "phù mỹ"), ("Phù Mĩ Tây", "Phù Mỹ Tây"),
                                                ("ia li", "ia ly"), ("quinhon", "quy nhon")])
async def test_i_and_y_spell_one_sound(db: Database, typed: str, same_as: str) -> None:
    assert await codes(db, typed) == await codes(db, same_as) != []


def test_the_search_key_keeps_uy_ay_and_ey() -> None:
    assert search_key("Quy Nhơn, Phù Mỹ") == "qui nhon phu mi"
    assert search_key("Tuy Phước Tây Krêy Ly") == "tuy phuoc tay krey li"


@pytest.mark.parametrize(("typo", "code"), [("pleku", PLEIKU), ("pleikku", PLEIKU), ("plieku", PLEIKU),
                                            ("hoa lu pliku", PLEIKU), ("nhon bimh", QUY_NHON_DONG)])
async def test_one_typo_in_a_long_word(db: Database, typo: str, code: str) -> None:
    assert (await codes(db, typo))[0] == code


async def test_no_typo_in_short_words_nor_two_in_one_word(db: Database) -> None:
    assert await codes(db, "hoa lx") == []
    assert await codes(db, "plekk") == []


async def test_a_typo_is_tried_only_when_nothing_matches_as_typed(db: Database) -> None:
    # "binh" one letter off is "linh", "minh", "vinh"...: none of them shows when Bình matches.
    hits = (await search(db, "nhon binh")).hits
    assert hits and all("Bình" in (hit.old.ward if hit.old else hit.station.name) for hit in hits)


@pytest.mark.parametrize(("a", "b", "one"), [("pleiku", "pleku", True), ("pleiku", "pleikuu", True),
                                             ("pleiku", "pleiko", True), ("pleiku", "plieku", True),
                                             ("pleiku", "pliiku", True), ("pleiku", "plku", False),
                                             ("pleiku", "ikupel", False), ("binh", "binh", True)])
def test_one_edit(a: str, b: str, one: bool) -> None:
    assert _one_edit(a, b) is one and _one_edit(b, a) is one


# --- two units, one name; the count of more -----------------------------------------------------------------


async def test_two_old_units_of_one_name_are_told_apart_by_their_district(db: Database) -> None:
    """Phường Ngô Mây was a ward of Quy Nhơn and of An Khê, and thị trấn Ngô Mây the seat of Phù Cát."""
    hits = (await search(db, "ngo may")).hits
    assert hits[0].station.name == "Ngô Mây" and hits[0].old is None  # the 2025 xã Ngô Mây
    old = {hit.station.name: hit.old.district for hit in hits[1:] if hit.old and hit.show_district}
    assert old == {"Quy Nhơn Nam": "TP Quy Nhơn", "An Khê": "TX An Khê", "Phù Cát": "huyện Phù Cát"}
    assert not hits[0].show_district


async def test_the_count_of_more_when_the_list_is_cut(db: Database) -> None:
    everything = await search(db, "ia", limit=1000)
    cut = await search(db, "ia", limit=8)
    assert everything.more == 0 and len(everything.hits) == everything.total > 8
    assert len(cut.hits) == 8 and cut.total == everything.total and cut.more == everything.total - 8
    assert [h.station.code for h in cut.hits] == [h.station.code for h in everything.hits[:8]]


async def test_a_search_over_all_units_stays_fast(db: Database) -> None:
    """Generous bound (CI machines vary): a search reads 135 stations and their 375 old names."""
    start = time.perf_counter()
    for row in OLD_ROWS[:50]:
        await codes(db, bare(row["old_ward"]))
    assert (time.perf_counter() - start) / 50 < 0.1


# --- the commune question of registration ------------------------------------------------------------------


async def labels_for(chat: ChatDriver, query: str) -> list[str]:
    await chat.say(query)
    return [b.label for b in chat.buttons()]


async def test_the_button_shows_the_new_name_and_the_old_one(chat: ChatDriver) -> None:
    await until_station_question(chat)
    assert await labels_for(chat, "hoa lu") == ["Phường Pleiku (Hoa Lư cũ)"]
    assert chat.last[-1].text == vi("reg.station_pick")
    assert (await labels_for(chat, "pleiku")) == ["Phường Pleiku"]
    assert (await labels_for(chat, "nhon binh"))[0] == "Phường Quy Nhơn Đông (Nhơn Bình cũ)"
    await chat.press("Phường Quy Nhơn Đông")
    assert chat.last[-1].text == vi("ask.address"), chat.text()


async def test_the_buttons_tell_two_old_units_of_one_name_apart(chat: ChatDriver) -> None:
    await until_station_question(chat)
    found = await labels_for(chat, "ngô mây")
    assert found[0] == "Xã Ngô Mây"
    assert set(found[1:]) == {"Phường An Khê (Ngô Mây, TX An Khê cũ)", "Xã Phù Cát (Ngô Mây, huyện Phù Cát cũ)",
                              "Phường Quy Nhơn Nam (Ngô Mây, TP Quy Nhơn cũ)"}


async def test_a_button_typed_back_finds_its_unit(chat: ChatDriver) -> None:
    await until_station_question(chat)
    assert await labels_for(chat, "Phường Pleiku (Hoa Lư cũ)") == ["Phường Pleiku (Hoa Lư cũ)"]
    assert await labels_for(chat, "Xã Phù Cát (Ngô Mây, huyện Phù Cát cũ)") == ["Xã Phù Cát (Ngô Mây cũ)"]


async def test_the_question_says_how_many_more_there_are(chat: ChatDriver) -> None:
    await until_station_question(chat)
    await chat.say("ia")
    assert len(chat.buttons()) == 8
    text = chat.last[-1].text
    assert text.startswith(vi("reg.station_pick") + "\n")
    more = int(text.rsplit("Còn ", 1)[1].split()[0])
    assert text.endswith(vi("reg.station_more", count=more)) and more > 0


async def test_no_count_when_every_match_is_shown(chat: ChatDriver) -> None:
    await until_station_question(chat)
    await chat.say("quy nhon")
    assert chat.last[-1].text == vi("reg.station_pick") and len(chat.buttons()) == 5


def test_english_labels() -> None:
    assert t("en", "reg.station_old", station="Phường Pleiku", old="Hoa Lư") == "Phường Pleiku (formerly Hoa Lư)"


def test_rows_sorted_by_new_code() -> None:
    assert [row["new_code"] for row in OLD_ROWS] == sorted(row["new_code"] for row in OLD_ROWS)
    assert all(len(list(group)) >= 1 for _, group in groupby(OLD_ROWS, key=lambda row: row["new_code"]))
