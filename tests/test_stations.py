"""Station repository against a real SQLite file: CSV import, search, bind codes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chat.text import fold
from storage.db import Database
from storage.models import Station
from storage.stations import (
    BIND_ALPHABET,
    add_station,
    bound_chats,
    ensure_seeded,
    find_stations,
    get_station,
    import_units_csv,
    issue_bind_code,
    redeem_bind_code,
)
from tests.conftest import UNITS_CSV
from tests.factories import PLEIKU, QUY_NHON

HEADER = "code,name,full_name,type,province_code,province_name\n"
NOW = datetime(2025, 8, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def db(migrated_db_url: str) -> AsyncIterator[Database]:
    database = Database(migrated_db_url)
    yield database
    await database.dispose()


@pytest.fixture
async def seeded(db: Database) -> Database:
    async with db.session() as s:
        await import_units_csv(s, UNITS_CSV)
    return db


def names(stations: list[Station]) -> list[str]:
    return [s.name for s in stations]


# --- fold -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["Quy Nhơn", "quy nhon", "QUY  NHƠN", " quy\tnhơn "])
def test_fold_ignores_accents_case_and_spacing(text: str) -> None:
    assert fold(text) == "quy nhon"


def test_fold_d_and_tone_placement() -> None:
    assert fold("Đắk Đoa") == "dak doa"
    assert fold("Hoà") == fold("Hòa") == "hoa"


# --- import -----------------------------------------------------------------------------------------


async def test_import_real_csv_and_reimport(db: Database) -> None:
    async with db.session() as s:
        first = await import_units_csv(s, UNITS_CSV)
    assert (first.created, first.updated, first.skipped) == (135, 0, [])
    async with db.session() as s:
        second = await import_units_csv(s, UNITS_CSV)
        assert (second.created, second.updated, second.skipped) == (0, 135, [])
        station = await get_station(s, QUY_NHON)
    assert station is not None
    assert (station.name, station.full_name, station.unit_type) == ("Quy Nhơn", "Phường Quy Nhơn", "phuong")
    assert (station.parent_code, station.search_key, station.active) == ("52", "quy nhon", True)


async def test_import_updates_names_and_reports_bad_rows(db: Database, tmp_path: Path) -> None:
    csv_file = tmp_path / "units.csv"
    csv_file.write_text(
        "\ufeff"
        + HEADER  # a BOM, as Excel writes it
        + "100,Old Name,Xã Old Name,xa,52,Gia Lai\n"
        + ",No Code,Xã No Code,xa,52,Gia Lai\n"
        + "101,,Xã,xa,52,Gia Lai\n"
        + "100,Again,Xã Again,xa,52,Gia Lai\n",
        encoding="utf-8",
    )
    async with db.session() as s:
        result = await import_units_csv(s, csv_file)
    assert (result.created, result.updated) == (1, 0)
    assert result.skipped == ["row 3: empty code", "row 4: empty name", "row 5: duplicate code"]

    csv_file.write_text(HEADER + "100,Ân Tường,Xã Ân Tường,xa,52,Gia Lai\n", encoding="utf-8")
    async with db.session() as s:
        result = await import_units_csv(s, csv_file)
        station = await get_station(s, "100")
    assert (result.created, result.updated) == (0, 1)
    assert station is not None and (station.name, station.search_key) == ("Ân Tường", "an tuong")


async def test_import_wrong_header_names_missing_columns(db: Database, tmp_path: Path) -> None:
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text("code,ten,full_name,type\n1,A,B,xa\n", encoding="utf-8")
    async with db.session() as s:
        with pytest.raises(ValueError, match="name, province_code, province_name"):
            await import_units_csv(s, csv_file)


async def test_ensure_seeded_only_on_empty_database(db: Database) -> None:
    async with db.session() as s:
        assert await ensure_seeded(s) == 135
    async with db.session() as s:
        assert await ensure_seeded(s) == 0


async def test_add_station_rejects_duplicate_code(db: Database) -> None:
    async with db.session() as s:
        station = await add_station(s, "T1", "Trạm Thử", parent_code="52")
        assert station.id is not None and station.search_key == "tram thu"
        with pytest.raises(ValueError, match="T1"):
            await add_station(s, "T1", "Other")


# --- search -----------------------------------------------------------------------------------------


async def test_search_examples(seeded: Database) -> None:
    async with seeded.session() as s:
        assert names(await find_stations(s, "pleiku"))[0] == "Pleiku"
        quy_nhon = names(await find_stations(s, "quy nhon"))
        assert quy_nhon[0] == "Quy Nhơn"
        assert set(quy_nhon[1:5]) == {"Quy Nhơn Bắc", "Quy Nhơn Đông", "Quy Nhơn Nam", "Quy Nhơn Tây"}
        assert names(await find_stations(s, "QUY NHƠN")) == quy_nhon
        assert names(await find_stations(s, "quynhon"))[0] == "Quy Nhơn"
        # The data spells "An Hoà" (old tone placement); people type either way or none.
        for query in ("an hoa", "An Hòa", "An Hoà", "xã an hoà"):
            assert names(await find_stations(s, query))[0] == "An Hoà"


async def test_search_every_word_must_match(seeded: Database) -> None:
    async with seeded.session() as s:
        found = await find_stations(s, "nhon bac", limit=20)
        assert found and all("nhon" in fold(x.name) and "bac" in fold(x.name) for x in found)
        assert await find_stations(s, "pleiku xyz") == []


async def test_search_limit_blank_and_inactive(seeded: Database) -> None:
    async with seeded.session() as s:
        assert len(await find_stations(s, "a")) == 8
        assert len(await find_stations(s, "a", limit=3)) == 3
        assert await find_stations(s, "") == []
        assert await find_stations(s, "   ") == []
        pleiku = await get_station(s, PLEIKU)
        assert pleiku is not None
        pleiku.active = False
    async with seeded.session() as s:
        assert "Pleiku" not in names(await find_stations(s, "pleiku"))


async def test_find_stations_knows_old_names_and_prefixes(seeded: Database) -> None:
    """Every caller of find_stations (registration, a transfer, the admin's lists) finds a unit by its old name."""
    async with seeded.session() as s:
        assert names(await find_stations(s, "hoa lu")) == ["Pleiku"]  # phường Hoa Lư of TP Pleiku
        assert names(await find_stations(s, "TP. Quy Nhơn"))[0] == "Quy Nhơn"
        assert names(await find_stations(s, "qui nhon")) == names(await find_stations(s, "quy nhon"))
        assert names(await find_stations(s, "pleku")) == ["Pleiku"]  # one letter dropped
        assert await find_stations(s, "hoa lu", limit=0) == []


# --- bind codes -------------------------------------------------------------------------------------


async def test_bind_code_shape_and_unknown_station(seeded: Database) -> None:
    async with seeded.session() as s:
        code = await issue_bind_code(s, PLEIKU, NOW)
        assert len(code) == 8 and set(code) <= set(BIND_ALPHABET)
        assert not set(code) & set("0O1I")
        with pytest.raises(ValueError, match="nope"):
            await issue_bind_code(s, "nope", NOW)


async def test_bind_code_ok_then_used(seeded: Database) -> None:
    async with seeded.session() as s:
        code = await issue_bind_code(s, PLEIKU, NOW)
    typed = f" {code[:4].lower()} {code[4:]} "  # case and spaces do not matter
    async with seeded.session() as s:
        result = await redeem_bind_code(s, typed, "telegram", "-1001", "staff:42", NOW + timedelta(hours=1))
        assert result.status == "ok" and result.station is not None and result.station.code == PLEIKU
        chats = await bound_chats(s, result.station.id)
        assert [(c.channel, c.chat_id, c.bound_by) for c in chats] == [("telegram", "-1001", "staff:42")]
    async with seeded.session() as s:
        again = await redeem_bind_code(s, code, "telegram", "-1002", "staff:43", NOW + timedelta(hours=2))
        assert again.status == "used"


async def test_bind_code_unknown_and_expired(seeded: Database) -> None:
    async with seeded.session() as s:
        assert (await redeem_bind_code(s, "ABCDEFGH", "telegram", "-1", "x", NOW)).status == "unknown"
        code = await issue_bind_code(s, PLEIKU, NOW, ttl=timedelta(hours=24))
        late = (NOW + timedelta(hours=24)).replace(tzinfo=None)  # naive UTC is accepted too
        assert (await redeem_bind_code(s, code, "telegram", "-1", "x", late)).status == "expired"
        just_in_time = NOW + timedelta(hours=23, minutes=59)
        assert (await redeem_bind_code(s, code, "telegram", "-1", "x", just_in_time)).status == "ok"


async def test_rebind_moves_chat_to_new_station(seeded: Database) -> None:
    async with seeded.session() as s:
        pleiku, quy_nhon = await get_station(s, PLEIKU), await get_station(s, QUY_NHON)
        assert pleiku is not None and quy_nhon is not None
        first = await issue_bind_code(s, pleiku.code, NOW)
        second = await issue_bind_code(s, quy_nhon.code, NOW)
        assert (await redeem_bind_code(s, first, "telegram", "-1001", "a", NOW)).status == "ok"
        assert (await redeem_bind_code(s, second, "telegram", "-1001", "b", NOW)).status == "ok"
        assert await bound_chats(s, pleiku.id) == []  # type: ignore[arg-type]
        moved = await bound_chats(s, quy_nhon.id)  # type: ignore[arg-type]
        assert [(c.chat_id, c.bound_by) for c in moved] == [("-1001", "b")]
