"""The station's phone: read from what an admin types, set by `cachly station phone`, the import's optional
column and /tram, and given in every message that tells the person to call the station."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from chat import parse
from conversations.household import MAX_DEPENDENTS
from services.env import Core
from storage.db import Database
from storage.stations import get_station, import_units_csv
from tests.conftest import ChatDriver, Clock, register, run_cachly
from tests.factories import (
    PLEIKU,
    STATION_PHONE,
    TODAY,
    add_person,
    at,
    audit_events,
    sent_to,
    set_station_phone,
    tick,
)
from tests.steps import vi

PHONE_LINE = vi("contact.station_phone", station="Phường Pleiku", phone=STATION_PHONE)
HEADER = "code,name,full_name,type,province_code,province_name"


@pytest.mark.parametrize(("typed", "read"), [
    ("0269 3823 456", "02693823456"), ("0269.3823.456", "02693823456"), ("+84 269 3823 456", "02693823456"),
    ("0912 345 678", "0912345678"), ("+84912345678", "0912345678"),
    ("115", None), ("0269 382", None), ("12345678901", None), ("số máy bàn", None), ("", None),
])
def test_a_station_phone_is_a_landline_or_a_mobile(typed: str, read: str | None) -> None:
    assert parse.station_phone(typed) == read


async def station_phone_of(core: Core | Database, code: str = PLEIKU) -> str:
    db = core if isinstance(core, Database) else core.db
    async with db.session() as session:
        station = await get_station(session, code)
        assert station is not None
        return station.phone


# --- cachly station phone ------------------------------------------------------------------------------------


async def test_cli_sets_the_phone_and_audits_it(core: Core, db_url: str) -> None:
    result = run_cachly(db_url, "station", "phone", PLEIKU, "0269 3823 456")
    assert result.returncode == 0, result.stderr
    assert STATION_PHONE in result.stdout
    assert await station_phone_of(core) == STATION_PHONE
    [event] = await audit_events(core, "station.phone")
    assert (event.actor, event.entity, event.before, event.after) == (
        "cli", "station", {"phone": ""}, {"phone": STATION_PHONE})


@pytest.mark.parametrize(("args", "says"), [
    (("station", "phone", PLEIKU, "12345"), "12345"),
    (("station", "phone", "nope", "0269 3823 456"), "nope"),
])
async def test_cli_phone_problems_are_one_line(core: Core, db_url: str, args: tuple, says: str) -> None:
    result = run_cachly(db_url, *args)
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and says in result.stderr
    assert await station_phone_of(core) == ""
    assert await audit_events(core, "station.phone") == []


# --- cachly station import: the optional phone column --------------------------------------------------------


async def test_import_reads_the_phone_column_and_rows_without_it_keep_theirs(migrated_db_url: str,
                                                                           tmp_path: Path) -> None:
    db = Database(migrated_db_url)
    csv_file = tmp_path / "units.csv"
    try:
        csv_file.write_text(f"{HEADER},phone\n100,Ân Tường,Xã Ân Tường,xa,52,Gia Lai,0256 3811 222\n"
                            "101,Ân Hảo,Xã Ân Hảo,xa,52,Gia Lai,\n"
                            "102,Ân Mỹ,Xã Ân Mỹ,xa,52,Gia Lai,gọi chị Lan\n", encoding="utf-8")
        async with db.session() as session:
            result = await import_units_csv(session, csv_file)
        assert (result.created, result.skipped) == (2, ["row 4: phone not a Vietnamese number"])
        assert (await station_phone_of(db, "100"), await station_phone_of(db, "101")) == ("02563811222", "")

        csv_file.write_text(f"{HEADER}\n100,Ân Tường,Xã Ân Tường,xa,52,Gia Lai\n", encoding="utf-8")  # no column
        async with db.session() as session:
            assert (await import_units_csv(session, csv_file)).updated == 1
        assert await station_phone_of(db, "100") == "02563811222"
    finally:
        await db.dispose()


# --- /tram -----------------------------------------------------------------------------------------------------


async def test_the_tram_page_shows_the_phone_and_the_admin_sets_it(core: Core) -> None:
    admin = ChatDriver(core, "999", name="Quản trị")
    await admin.say("/tram pleiku")
    await admin.press("Phường Pleiku")
    assert vi("tram.no_phone") in admin.text()
    await admin.press(vi("tram.button.phone"))
    assert admin.text() == vi("tram.phone_ask", station="Phường Pleiku")
    await admin.say("0269 38")
    assert admin.last[0].text == vi("tram.phone_invalid")
    assert admin.last[-1].text == vi("tram.phone_ask", station="Phường Pleiku")  # a second chance
    await admin.say("0269 3823 456")
    assert admin.text().startswith(vi("tram.phone_set", station="Phường Pleiku", phone=STATION_PHONE))
    assert vi("tram.phone", phone=STATION_PHONE) in admin.text()
    assert await station_phone_of(core) == STATION_PHONE
    [event] = await audit_events(core, "station.phone")
    assert (event.actor, event.before, event.after) == ("telegram:999", {"phone": ""},
                                                       {"phone": STATION_PHONE})


async def test_back_from_the_phone_question_keeps_the_phone(core: Core) -> None:
    await set_station_phone(core)
    admin = ChatDriver(core, "999", name="Quản trị")
    await admin.say("/tram pleiku")
    await admin.press("Phường Pleiku")
    assert vi("tram.phone", phone=STATION_PHONE) in admin.text()
    await admin.press(vi("tram.button.phone"))
    await admin.press(vi("tram.button.back"))
    assert vi("tram.phone", phone=STATION_PHONE) in admin.text()
    assert await audit_events(core, "station.phone") == []


# --- the number in the messages that say to call the station ------------------------------------------------


async def test_registration_help_and_idle_give_the_number(core: Core, chat: ChatDriver) -> None:
    await set_station_phone(core)
    await register(chat)
    assert PHONE_LINE in chat.text()  # reg.done: "gọi ngay trạm y tế hoặc 115"
    await chat.say("/trogiup")
    assert chat.text() == f"{vi('help.citizen')}\n{PHONE_LINE}"
    await chat.say("xin chào")
    assert chat.text() == f"{vi('idle.registered')}\n{PHONE_LINE}"


async def test_without_a_phone_the_texts_read_as_before(core: Core, chat: ChatDriver) -> None:
    await register(chat)
    await chat.say("/trogiup")
    assert chat.text() == vi("help.citizen")
    await chat.say("xin chào")
    assert chat.text() == vi("idle.registered")


async def test_the_last_day_message_gives_the_number(core: Core, clock: Clock) -> None:
    await set_station_phone(core)
    person = await add_person(core, "Trần Văn Bảo", "700", start=TODAY - timedelta(days=14),
                              end=TODAY - timedelta(days=1))
    await tick(core, clock, at(7))
    [closing] = await sent_to(core, "700")
    assert closing.payload["text"] == (
        f"{vi('closing.message', name=person.full_name, days=core.rules.self_monitoring_days)}\n{PHONE_LINE}")


async def test_a_full_household_is_told_the_number(core: Core, chat: ChatDriver) -> None:
    await set_station_phone(core)
    await register(chat)
    for i in range(MAX_DEPENDENTS):
        await add_person(core, f"Người Thân {i}", chat.chat_id, is_self=False)
    await chat.say("/nguoithan")
    assert chat.text() == f"{vi('household.too_many', max=MAX_DEPENDENTS)}\n{PHONE_LINE}"
