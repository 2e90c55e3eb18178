"""Household (khai hộ): dependents without a smartphone, declared for by the registered person."""
from __future__ import annotations

from datetime import date

from health.triage import DANGER, NORMAL
from services.env import Core
from storage.models import Declaration
from tests.conftest import ChatDriver, register
from tests.steps import add_dependent, declarations, declare, people, rows, vi


async def test_household_needs_a_registration_first(core: Core, chat: ChatDriver) -> None:
    await chat.say("/nguoithan")
    assert chat.text() == vi("household.need_registration")
    await chat.say("Trần Thị Bình")  # no conversation was started
    assert chat.text() == vi("idle.new")
    await chat.send(button="go:household", message_id="1")
    assert chat.text() == vi("household.need_registration")


async def test_a_dependent_shares_station_address_and_phone(core: Core, chat: ChatDriver) -> None:
    await register(chat)
    await add_dependent(chat)
    assert chat.text() == vi("household.done", name="Trần Thị Bình", end="12/12/2026")
    reporter, dependent = await people(core)
    assert reporter.is_self and not dependent.is_self
    assert dependent.account_id == reporter.account_id
    assert (dependent.station_id, dependent.address, dependent.phone) == (
        reporter.station_id, reporter.address, reporter.phone)
    assert (dependent.full_name, dependent.birth_year, dependent.gender, dependent.category) == (
        "Trần Thị Bình", 1950, "female", "f1")
    assert (dependent.start_date, dependent.end_date) == (date(2026, 11, 29), date(2026, 12, 12))


async def test_household_summary_and_edit(core: Core, chat: ChatDriver) -> None:
    await register(chat)
    await chat.say("/household")
    await chat.say("B")  # too short
    assert chat.last[0].text == vi("err.name_letters") and chat.last[-1].text == vi("ask.name.other")
    await chat.say("trần thị bình")
    await chat.say("1950")
    await chat.press("Nữ")
    await chat.press("F2")
    await chat.press("Hôm qua")
    summary = chat.text()
    assert "Trần Thị Bình" in summary and "F2 (tiếp xúc với F1)" in summary
    assert "28/11/2026" in summary and "04/12/2026" in summary
    assert "12 Lê Lợi" not in summary and "0912345678" not in summary  # shown to the reporter already
    await chat.press("Sửa")
    assert [b.label for b in chat.buttons()] == [vi(f"field.{f}") for f in (
        "name", "birth_year", "gender", "category", "start_date")]
    await chat.press("Năm sinh")
    await chat.say("1952")
    assert "1952" in chat.text() and "Trần Thị Bình" in chat.text()
    await chat.press("Xác nhận")
    assert (await people(core))[1].birth_year == 1952


async def test_cancel_in_the_middle_of_adding_a_dependent(core: Core, chat: ChatDriver) -> None:
    await register(chat)
    await chat.say("/nguoithan")
    await chat.say("Trần Thị Bình")
    await chat.say("/huy")
    assert chat.text() == vi("common.cancelled")
    assert len(await people(core)) == 1


async def test_declaring_for_a_dependent(core: Core, chat: ChatDriver) -> None:
    await register(chat)
    await add_dependent(chat)
    await chat.say("/khaibao")
    assert chat.text() == vi("ask.who")
    assert [b.label for b in chat.buttons()] == ["Nguyễn Văn An", "Trần Thị Bình"]
    await chat.press("Trần Thị Bình")
    assert chat.text() == vi("ask.temperature", name="Trần Thị Bình")
    await declare(chat)
    reporter, dependent = await people(core)
    [declaration] = await declarations(core)
    assert declaration.person_id == dependent.id
    assert declaration.account_id == reporter.account_id
    assert declaration.tier == NORMAL

    # the one still due in this slot is offered next, with a button that goes straight to them
    assert chat.last[0].text == vi("result.normal", name="Trần Thị Bình")
    assert chat.last[1].text == vi("checkin.next_person", name="Nguyễn Văn An")
    await chat.press("Nguyễn Văn An")
    assert chat.text() == vi("ask.temperature", name="Nguyễn Văn An")
    await declare(chat)
    assert [r.text for r in chat.last] == [vi("result.normal", name="Nguyễn Văn An")]  # nobody left
    assert [d.person_id for d in await declarations(core)] == [dependent.id, reporter.id]

    await chat.say("/khaibao")  # both declared in this slot: ticked
    assert [b.label for b in chat.buttons()] == ["✅ Nguyễn Văn An", "✅ Trần Thị Bình"]


async def test_a_stale_next_person_button_for_someone_else_is_ignored(core: Core, chat: ChatDriver) -> None:
    await register(chat)
    await add_dependent(chat)
    other = ChatDriver(core, "200", name="Bình")
    await register(other, name="Lê Văn Cường", station="quy nhon")
    dependent = (await people(core))[1]
    await other.send(button=f"go:checkin:{dependent.id}", message_id="1")  # a forged or misrouted button
    assert other.text() == vi("ask.temperature", name="Lê Văn Cường")
    await declare(other)
    [declaration] = await declarations(core)
    assert declaration.person_id != dependent.id


async def test_a_child_gets_the_child_symptom_and_breathing_threshold(core: Core, chat: ChatDriver) -> None:
    await register(chat)
    await add_dependent(chat, name="Nguyễn Bé Na", year="2015", gender="Nữ")  # 11 this year: a child
    await add_dependent(chat, name="Nguyễn Văn Tí", year="2014", gender="Nam")  # 12: the adult threshold
    await chat.say("/khaibao")
    await chat.press("Nguyễn Bé Na")
    await chat.say("36,8")
    assert "child_cannot_drink" in [b.payload.rsplit(":", 1)[1] for b in chat.buttons()]
    await chat.press("Trẻ không uống")
    await chat.press("Xong")
    await chat.press("Không có máy đo")
    await chat.say("29")  # under the 5-11 years threshold of 30
    await chat.press("Không có")
    child = (await people(core))[1]
    [declaration] = await rows(core, Declaration, Declaration.person_id == child.id)
    assert declaration.symptoms == ["child_cannot_drink"]
    assert declaration.tier == DANGER
    assert [r["key"] for r in declaration.reasons] == ["reason.symptom"]  # 29/min is fine at 11

    await chat.say("/khaibao")
    await chat.press("Nguyễn Bé Na")
    await declare(chat, breathing="30")
    latest = (await rows(core, Declaration, Declaration.person_id == child.id))[-1]
    assert latest.tier == DANGER
    assert latest.reasons[0]["params"] == {"value": 30, "limit": 30}

    await chat.say("/khaibao")
    await chat.press("Nguyễn Văn Tí")
    await chat.say("36,8")
    assert "child_cannot_drink" not in [b.payload.rsplit(":", 1)[1] for b in chat.buttons()]
    await chat.press("Không có triệu chứng")
    await chat.press("Không có máy đo")
    await chat.say("20")
    await chat.press("Không có")
    teen = (await people(core))[2]
    [declaration] = await rows(core, Declaration, Declaration.person_id == teen.id)
    assert declaration.tier == DANGER and declaration.reasons[0]["params"] == {"value": 20, "limit": 20}


async def test_the_reporter_alone_is_not_asked_who(chat: ChatDriver) -> None:
    await register(chat)
    await chat.say("/khaibao")
    assert chat.text() == vi("ask.temperature", name="Nguyễn Văn An")
