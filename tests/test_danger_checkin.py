"""Danger signs in a check-in: the station alerted at the first danger answer, one alert kept up to date, partial
declarations when the person leaves, the recap, no thermometer, and a low SpO2 measured again."""
from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from chat import parse
from health.rules import load_rules
from health.triage import DANGER, NORMAL, WATCH
from scheduler.runner import Scheduler
from services.env import Core
from storage.db import Database
from storage.models import Alert, ConversationState, Declaration, Station
from storage.outbox import claim_due, mark_sent
from tests.conftest import TZ, ChatDriver, Clock, register
from tests.factories import GROUP, add_person, bind_group, station_id
from tests.steps import alerts, declarations, declare, outbox, vi

NAME = "Nguyễn Văn An"


async def at_temperature(chat: ChatDriver) -> ChatDriver:
    await register(chat)
    await chat.say("/khaibao")
    assert chat.text() == vi("ask.temperature", name=NAME)
    return chat


async def mark_all_sent(core: Core) -> None:
    """The sender delivered every queued row: message ids 100, 101, … (edits keep theirs)."""
    for n, row in enumerate(await outbox(core)):
        if row.status == "pending":
            async with core.db.session() as session:
                await mark_sent(session, row.id, row.payload.get("edit_id") or str(100 + n), core.utcnow())


# --- reading temperatures -----------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("37 độ rưỡi", 37.5), ("37 do ruoi", 37.5), ("37 rưỡi", 37.5), ("37 độ 5", 37.5), ("37,5 độ", 37.5),
    ("38 độ", 38.0), ("37.5", 37.5), ("37,5", 37.5), ("khoảng 37", 37.0), ("38,2 °C", 38.2),
])
def test_spoken_and_written_temperatures(text: str, value: float) -> None:
    assert parse.temperature(text) == pytest.approx(value)


@pytest.mark.parametrize("text", [
    "37 độ hơi sốt nhẹ",  # words the parser does not know: asked again, never 37.0
    "hôm qua 37 hôm nay 38", "37 5", "37,5 độ rưỡi", "37 độ 55", "375", "sốt 38", "37 độ rưỡi rưỡi",
])
def test_temperatures_with_words_not_understood_are_refused(text: str) -> None:
    assert parse.temperature(text) is None


async def test_a_sentence_is_asked_again_not_reduced_to_its_first_number(core: Core, chat: ChatDriver) -> None:
    await at_temperature(chat)
    await chat.say("37 độ hơi sốt nhẹ")
    assert chat.last[0].text == vi("err.temperature", low="34", high="43")
    assert chat.last[-1].text == vi("ask.temperature", name=NAME)
    await chat.say("37 độ rưỡi")
    assert chat.text() == vi("ask.symptoms")


# --- the recap ------------------------------------------------------------------------------------------

async def test_the_recap_shows_what_was_recorded_and_watch_is_raised(core: Core, chat: ChatDriver) -> None:
    await at_temperature(chat)
    await chat.say("37 độ rưỡi")
    await chat.send(button="s:symptoms:cough", message_id="1")
    await chat.press("Xong")
    await chat.say("97")
    await chat.say("18")
    await chat.press("Không có")
    recap = vi("recap.line", name=NAME, temperature="37,5 °C", symptoms="Ho", spo2="97%", breathing="18 lần/phút")
    assert chat.text() == recap
    assert [b.label for b in chat.buttons()] == ["Đúng", "Sửa"]
    assert await declarations(core) == []  # nothing saved before "Đúng"
    await chat.press("Đúng")
    [declaration] = await declarations(core)
    assert (declaration.temperature, declaration.tier, declaration.partial) == (37.5, WATCH, False)
    assert [a.tier for a in await alerts(core)] == [WATCH]


async def test_fix_goes_back_to_the_first_question_keeping_nothing_wrong(core: Core, chat: ChatDriver) -> None:
    await at_temperature(chat)
    await declare_until_recap(chat, "38,5")
    await chat.press("Sửa")
    assert chat.text() == vi("ask.temperature", name=NAME)
    await chat.say("36,8")
    assert vi("symptoms.none") in chat.buttons()[-1].label  # no symptom kept ticked
    await chat.press("Không có triệu chứng")
    await chat.press("Không có máy đo")
    await chat.press("Bỏ qua")
    await chat.press("Không có")
    assert "36,8 °C; triệu chứng: không có" in chat.text()
    await chat.press("Đúng")
    [declaration] = await declarations(core)
    assert (declaration.temperature, declaration.symptoms, declaration.tier) == (36.8, [], NORMAL)
    assert await alerts(core) == []


async def declare_until_recap(chat: ChatDriver, temperature: str) -> None:
    await chat.say(temperature)
    await chat.press("Sốt")
    await chat.press("Xong")
    await chat.press("Không có máy đo")
    await chat.press("Bỏ qua")
    await chat.press("Không có")
    assert "Đúng chưa?" in chat.text()


# --- no thermometer ------------------------------------------------------------------------------------

async def test_no_thermometer_and_feeling_feverish_counts_as_the_fever_sign(core: Core, chat: ChatDriver) -> None:
    await bind_group(core)
    await at_temperature(chat)
    await chat.press("Không có nhiệt kế")
    assert chat.text() == vi("ask.feverish")
    await chat.press("Có")
    assert chat.text() == vi("ask.symptoms")
    await chat.press("Không có triệu chứng")
    await chat.press("Không có máy đo")
    await chat.press("Bỏ qua")
    await chat.press("Không có")
    assert vi("recap.felt_fever") in chat.text()
    await chat.press("Đúng")
    [declaration] = await declarations(core)
    assert (declaration.temperature, declaration.tier) == (None, WATCH)
    [row] = await outbox(core)
    assert "không có nhiệt kế, thấy sốt" in row.payload["text"]
    assert "Nhiệt độ —°C" in row.payload["text"]


async def test_no_thermometer_and_no_fever_is_normal(core: Core, chat: ChatDriver) -> None:
    await at_temperature(chat)
    await chat.press("Không có nhiệt kế")
    await chat.say("không")
    await chat.press("Không có triệu chứng")
    await chat.press("Không có máy đo")
    await chat.press("Bỏ qua")
    await chat.press("Không có")
    assert vi("recap.no_fever") in chat.text()
    await chat.press("Đúng")
    [declaration] = await declarations(core)
    assert (declaration.temperature, declaration.tier) == (None, NORMAL)


# --- alerted at the first danger answer ----------------------------------------------------------------

async def test_a_danger_symptom_ticked_alerts_before_done_and_later_answers_edit_it(core: Core,
                                                                                     chat: ChatDriver) -> None:
    await bind_group(core)
    await at_temperature(chat)
    await chat.say("37")
    await chat.press("Khó thở")
    assert vi("checkin.station_told") in chat.text() and vi("checkin.call_115") in chat.text()
    [alert] = await alerts(core)
    [row] = await outbox(core)
    assert (alert.tier, row.chat_id, row.alert_id) == (DANGER, GROUP, alert.id)
    assert vi("alert.partial") in row.payload["text"]
    await mark_all_sent(core)  # the group has it

    await chat.press("Xong")
    await chat.say("95")  # with a danger sign already: no second reading asked for
    assert chat.text() == vi("ask.breathing")
    await chat.say("30")
    await chat.press("Không có")
    await chat.press("Đúng")
    assert len(await alerts(core)) == 1
    copies = [r for r in await outbox(core) if "edit_id" not in r.payload]
    edits = [r for r in await outbox(core) if "edit_id" in r.payload]
    assert len(copies) == 1 and edits and {r.payload["edit_id"] for r in edits} == {copies[0].sent_message_id}
    final = edits[-1].payload["text"]
    assert "SpO2 95" in final and "Nhịp thở 30" in final and vi("alert.partial") not in final
    [declaration] = await declarations(core)
    assert (declaration.partial, declaration.spo2, declaration.breathing_rate) == (False, 95, 30)


async def test_an_unsent_copy_is_rewritten_not_edited(core: Core, chat: ChatDriver) -> None:
    await bind_group(core)
    await at_temperature(chat)
    await declare(chat, "37", symptoms=["Khó thở"], breathing="30")
    [row] = await outbox(core)  # still pending: one message, with the final values
    assert "Nhịp thở 30" in row.payload["text"] and vi("alert.partial") not in row.payload["text"]


async def test_an_update_while_the_copy_is_being_sent_is_shown_by_the_next_tick(core: Core,
                                                                              chat: ChatDriver) -> None:
    await bind_group(core)
    await at_temperature(chat)
    await chat.say("37")
    await chat.press("Khó thở")
    async with core.db.session() as session:  # the sender holds the copy: no message id yet
        [copy] = await claim_due(session, "telegram", core.utcnow(), 10, timedelta(seconds=60))
    await chat.press("Xong")
    await chat.press("Không có máy đo")
    await chat.say("30")
    assert [r.id for r in await outbox(core)] == [copy.id]  # nothing to edit yet
    async with core.db.session() as session:
        await mark_sent(session, copy.id, "55", core.utcnow())
    await Scheduler(core).tick()
    [edit] = [r for r in await outbox(core) if "edit_id" in r.payload]
    assert edit.payload["edit_id"] == "55" and "Nhịp thở 30" in edit.payload["text"]
    await Scheduler(core).tick()
    assert len(await outbox(core)) == 2  # once: the message is up to date


async def test_the_danger_advice_gives_the_station_phone(core: Core, chat: ChatDriver) -> None:
    async with core.db.session() as session:
        station = await session.get(Station, await station_id(core))
        assert station is not None
        station.phone = "0269 3824 123"
        session.add(station)
    await at_temperature(chat)
    await declare(chat, "37", symptoms=["Khó thở"])
    assert chat.last[1].text == vi("checkin.call_station", station="Phường Pleiku", phone="0269 3824 123")
    await chat.say("/khaibao")
    await declare(chat, "38")  # watch: "call the station if it gets worse", with its number
    assert chat.last[0].text.endswith(vi("contact.station_phone", station="Phường Pleiku", phone="0269 3824 123"))


# --- leaving a check-in --------------------------------------------------------------------------------

async def test_danger_ticked_then_huy_keeps_a_partial_declaration_and_one_alert(core: Core, chat: ChatDriver) -> None:
    await bind_group(core)
    await at_temperature(chat)
    await chat.say("37,2")
    await chat.press("Khó thở")
    await chat.say("/huy")
    assert chat.last[0].text == vi("checkin.partial_alerted")
    assert vi("common.cancelled") in chat.text()
    [declaration] = await declarations(core)
    assert (declaration.partial, declaration.symptoms, declaration.tier) == (True, ["breathless"], DANGER)
    [alert] = await alerts(core)
    [row] = await outbox(core)
    assert row.alert_id == alert.id and vi("alert.partial") in row.payload["text"]


async def test_another_command_leaves_the_checkin_and_saves_what_was_given(core: Core, chat: ChatDriver) -> None:
    await at_temperature(chat)
    await chat.say("38,5")
    await chat.say("/nguoithan")  # another flow begins: the check-in is left
    [declaration] = await declarations(core)
    assert (declaration.partial, declaration.temperature, declaration.tier) == (True, 38.5, WATCH)
    assert [a.tier for a in await alerts(core)] == [WATCH]


async def test_a_command_that_keeps_the_question_does_not_leave(core: Core, chat: ChatDriver) -> None:
    await at_temperature(chat)
    await chat.say("38,5")
    await chat.say("/trogiup")
    assert await declarations(core) == []


async def test_nothing_answered_nothing_saved(core: Core, chat: ChatDriver) -> None:
    await at_temperature(chat)
    await chat.say("/huy")
    assert await declarations(core) == [] and chat.text() == vi("common.cancelled")


async def test_thirty_minutes_of_silence_save_a_partial_declaration(core: Core, chat: ChatDriver,
                                                                   clock: Clock) -> None:
    await bind_group(core)
    await at_temperature(chat)
    await chat.say("36,8")
    await chat.press("Khó thở")
    clock.advance(minutes=29)
    await Scheduler(core).tick()
    async with core.db.session() as session:
        assert (await session.exec(select(ConversationState))).first() is not None  # still hers
    clock.advance(minutes=2)
    await Scheduler(core).tick()
    async with core.db.session() as session:
        assert (await session.exec(select(ConversationState))).first() is None
    [declaration] = await declarations(core)
    assert declaration.partial and declaration.tier == DANGER
    assert len(await alerts(core)) == 1
    told = [r for r in await outbox(core) if r.chat_id == "100"]
    assert [r.payload["text"] for r in told] == [vi("checkin.partial_alerted"), vi("checkin.call_115")]
    await Scheduler(core).tick()
    assert len(await declarations(core)) == 1  # once


async def test_silence_after_a_normal_temperature_saves_it_without_an_alert(core: Core, chat: ChatDriver,
                                                                          clock: Clock) -> None:
    await at_temperature(chat)
    await chat.say("36,8")
    clock.advance(minutes=31)
    await Scheduler(core).tick()
    [declaration] = await declarations(core)
    assert (declaration.partial, declaration.tier) == (True, NORMAL)
    assert await alerts(core) == []


# --- one open alert per person -------------------------------------------------------------------------

async def test_a_second_abnormal_checkin_updates_the_open_alert(core: Core, chat: ChatDriver) -> None:
    await bind_group(core)
    await at_temperature(chat)
    await declare(chat, "38")
    [alert] = await alerts(core)
    assert alert.tier == WATCH
    await mark_all_sent(core)
    await chat.say("/khaibao")
    await declare(chat, "37", breathing="32")
    [alert] = await alerts(core)
    assert alert.tier == DANGER  # raised
    edits = [r for r in await outbox(core) if "edit_id" in r.payload]
    assert len(edits) == 1
    text = edits[0].payload["text"]
    assert text.startswith(vi("alert.title.danger")) and "Nhịp thở 32" in text
    assert "Lần khai trước" in text and "38°C" in text  # the earlier values kept in the alert


async def test_after_the_alert_is_resolved_a_new_one_is_raised(core: Core, chat: ChatDriver) -> None:
    await at_temperature(chat)
    await declare(chat, "38")
    async with core.db.session() as session:
        [alert] = await alerts(core)
        alert.status = "resolved"
        session.add(alert)
    await chat.say("/khaibao")
    await declare(chat, "38,2")
    assert [a.status for a in await alerts(core)] == ["resolved", "open"]


# --- SpO2 measured again -------------------------------------------------------------------------------

async def test_a_low_spo2_alone_is_measured_again_before_alerting(core: Core, chat: ChatDriver) -> None:
    await at_temperature(chat)
    await chat.say("36,8")
    await chat.press("Không có triệu chứng")
    await chat.say("93")
    assert chat.text() == vi("ask.spo2_again", value=93)
    assert await alerts(core) == []  # not on one reading alone
    await chat.say("97")  # the second reading is fine
    assert chat.text() == vi("ask.breathing")
    await chat.press("Bỏ qua")
    await chat.press("Không có")
    await chat.press("Đúng")
    [declaration] = await declarations(core)
    assert (declaration.spo2, declaration.tier) == (97, NORMAL)
    assert await alerts(core) == []


async def test_a_second_low_spo2_alerts_at_once(core: Core, chat: ChatDriver) -> None:
    await at_temperature(chat)
    await chat.say("36,8")
    await chat.press("Không có triệu chứng")
    await chat.say("93")
    await chat.say("92")
    assert vi("checkin.station_told") in chat.text()
    [alert] = await alerts(core)
    assert alert.tier == DANGER
    [declaration] = await declarations(core)
    assert (declaration.spo2, declaration.partial) == (92, True)


async def test_cannot_measure_again_keeps_the_first_reading(core: Core, chat: ChatDriver) -> None:
    await at_temperature(chat)
    await chat.say("36,8")
    await chat.press("Không có triệu chứng")
    await chat.say("90")
    await chat.press("Không đo lại được")
    assert [a.tier for a in await alerts(core)] == [DANGER]


async def test_a_low_spo2_not_measured_again_is_alerted_after_minutes(core: Core, chat: ChatDriver,
                                                                     clock: Clock) -> None:
    await at_temperature(chat)
    await chat.say("36,8")
    await chat.press("Không có triệu chứng")
    await chat.say("90")
    clock.advance(minutes=4)
    await Scheduler(core).tick()
    assert [a.tier for a in await alerts(core)] == [DANGER]
    await chat.say("91")  # the conversation goes on and updates the same declaration and alert
    await chat.press("Bỏ qua")
    await chat.press("Không có")
    await chat.press("Đúng")
    [declaration] = await declarations(core)
    assert (declaration.spo2, declaration.partial) == (91, False)
    assert len(await alerts(core)) == 1


# --- whatever happens, one open alert ------------------------------------------------------------------

ANSWERS = [
    {"text": "/khaibao"}, {"text": "37"}, {"text": "38,5"}, {"text": "37 độ rưỡi"},
    {"button": "s:temperature:nothermo"}, {"button": "s:feverish:yes"}, {"button": "s:feverish:no"},
    {"button": "s:symptoms:breathless"}, {"button": "s:symptoms:cough"}, {"button": "s:symptoms:done"},
    {"button": "s:symptoms:none"}, {"text": "92"}, {"text": "98"}, {"button": "s:spo2:skip"},
    {"button": "s:spo2_again:skip"}, {"text": "30"}, {"button": "s:breathing:skip"}, {"button": "s:note:skip"},
    {"button": "s:recap:right"}, {"button": "s:recap:fix"}, {"text": "/huy"}, {"text": "/trogiup"},
    {"text": "/nguoithan"},
]
TIMEOUT, RESTART, HUY = "timeout", "restart", ANSWERS.index({"text": "/huy"})
_people = iter(range(700_000, 799_999))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=st.lists(st.sampled_from([*range(len(ANSWERS)), TIMEOUT, RESTART]), max_size=25))
async def test_a_danger_sign_always_ends_in_exactly_one_open_alert(seeded_db_url: str, clock: Clock,
                                                                   actions: list) -> None:
    """Answers in any order, /huy, other commands, 30 minutes of silence and restarts of the core (a new one on
    the same database): a declaration holding a danger sign ends in exactly one open alert for the person."""
    user = str(next(_people))
    cores = [Core(Database(seeded_db_url), load_rules(), TZ, admin_chats=[("telegram", "999")], clock=clock)]
    try:
        person = await add_person(cores[0], "Nguyễn Văn An", chat_id=user)
        chat = ChatDriver(cores[-1], user)
        for action in [*actions, HUY, TIMEOUT]:  # in the end the person leaves: whatever was given is saved
            if action == TIMEOUT:
                clock.advance(minutes=31)
                await Scheduler(cores[-1]).tick()
            elif action == RESTART:
                cores.append(Core(Database(seeded_db_url), load_rules(), TZ, admin_chats=[("telegram", "999")],
                                  clock=clock))
                chat = ChatDriver(cores[-1], user)
            else:
                fields = ANSWERS[int(action)]
                await chat.send(**({**fields, "message_id": "1"} if "button" in fields else fields))
        async with cores[-1].db.session() as session:
            mine = (await session.exec(select(Declaration).where(Declaration.person_id == person.id))).all()
            open_alerts = (await session.exec(select(Alert).where(Alert.person_id == person.id,
                                                                  Alert.status != "resolved"))).all()
        assert len(open_alerts) <= 1
        if any(d.tier == DANGER for d in mine):
            assert len(open_alerts) == 1 and open_alerts[0].tier == DANGER
    finally:
        for core in cores:
            await core.db.dispose()
