"""/nhacnho (/reminders): a person moves their own reminder times, each inside its check-in slot."""
from __future__ import annotations

import pytest

from health.rules import load_rules
from locales import t
from scheduler.runner import Scheduler
from services.env import Core
from storage.db import Database
from storage.models import Account
from tests.conftest import TZ, ChatDriver, Clock, register
from tests.factories import add_person, at, sent_to, tick
from tests.steps import rows, vi


async def stored_times(core: Core, user: str = "100") -> list | None:
    [account] = await rows(core, Account, Account.external_id == user)
    return account.reminder_times


async def test_moving_the_afternoon_reminder(core: Core, chat: ChatDriver) -> None:
    await register(chat)
    await chat.say("/nhacnho")
    assert chat.text() == vi("reminders.current", times="08:00, 15:00")
    assert [b.label for b in chat.buttons()] == [
        vi("reminders.change", number=1, time="08:00"), vi("reminders.change", number=2, time="15:00"),
        vi("reminders.default")]
    await chat.press("buổi 2")
    assert chat.text() == vi("reminders.ask_time", number=2, start="15:00", end="00:00")
    await chat.say("16h30")
    assert chat.text() == vi("reminders.saved", times="08:00, 16:30")
    assert await stored_times(core) == [None, "16:30"]  # only what the person changed
    await chat.say("/reminders")  # the English alias; the new time is shown
    assert chat.text() == vi("reminders.current", times="08:00, 16:30")
    await chat.press("buổi 1")
    await chat.say("9:15")
    assert chat.text() == vi("reminders.saved", times="09:15, 16:30")
    assert await stored_times(core) == ["09:15", "16:30"]


@pytest.mark.parametrize("typed", ["25:00", "abc", "14:00", "8:00", "", "15:60", "-1"])
async def test_a_bad_time_gets_the_error_and_the_question_again(core: Core, chat: ChatDriver, typed: str) -> None:
    await register(chat)
    await chat.say("/nhacnho")
    await chat.press("buổi 2")
    await chat.say(typed)
    assert [r.text for r in chat.last] == [vi("err.reminder_time", start="15:00", end="00:00"),
                                           vi("reminders.ask_time", number=2, start="15:00", end="00:00")]
    assert await stored_times(core) is None
    await chat.say("15:45")  # the second chance
    assert chat.text() == vi("reminders.saved", times="08:00, 15:45")


@pytest.mark.parametrize(("typed", "accepted"), [("7:59", False), ("15:00", False), ("8:00", True),
                                                 ("14:59", True), ("8 giờ 30", True)])
async def test_the_morning_window_runs_from_its_slot_until_the_next(core: Core, chat: ChatDriver, typed: str,
                                                                    accepted: bool) -> None:
    await register(chat)
    await chat.say("/nhacnho")
    await chat.press("buổi 1")
    await chat.say(typed)
    assert (chat.last[0].text.startswith(vi("reminders.saved", times="")[:8])) is accepted, chat.text()


async def test_back_to_the_default_times(core: Core, chat: ChatDriver) -> None:
    await register(chat)
    await chat.say("/nhacnho")
    await chat.press("buổi 1")
    await chat.say("10:00")
    assert await stored_times(core) == ["10:00", None]
    await chat.say("/nhacnho")
    await chat.press("Về giờ mặc định")
    assert chat.text() == vi("reminders.saved", times="08:00, 15:00")
    assert await stored_times(core) is None


async def test_typing_instead_of_pressing_a_slot_button(core: Core, chat: ChatDriver) -> None:
    await register(chat)
    await chat.say("/nhacnho")
    await chat.say("9:00")
    assert chat.last[0].text == vi("err.use_buttons")
    assert chat.last[-1].text == vi("reminders.current", times="08:00, 15:00")
    await chat.say("/huy")
    assert chat.text() == vi("common.cancelled")
    assert await stored_times(core) is None


async def test_reminders_need_a_registration(core: Core, chat: ChatDriver) -> None:
    await chat.say("/nhacnho")
    assert chat.text() == vi("checkin.not_registered")


async def test_english_texts_for_an_english_account(core: Core) -> None:
    await add_person(core, "John Smith", "301", language="en")
    chat = ChatDriver(core, "301", language_code="en", name="John")
    await chat.say("/reminders")
    assert chat.text() == t("en", "reminders.current", times="08:00, 15:00")
    await chat.press("Change reminder 2")
    assert chat.text() == t("en", "reminders.ask_time", number=2, start="15:00", end="00:00")
    await chat.say("abc")
    assert chat.last[0].text == t("en", "err.reminder_time", start="15:00", end="00:00")
    await chat.say("17:05")
    assert chat.text() == t("en", "reminders.saved", times="08:00, 17:05")
    await chat.say("/reminders")
    await chat.press("Back to the default times")
    assert chat.text() == t("en", "reminders.saved", times="08:00, 15:00")


async def test_the_chosen_time_is_when_the_reminder_comes(core: Core, clock: Clock, chat: ChatDriver) -> None:
    clock.set_local(at(7))
    await register(chat)
    await chat.say("/nhacnho")
    await chat.press("buổi 2")
    await chat.say("19:30")
    await tick(core, clock, at(8))
    await tick(core, clock, at(15))
    await tick(core, clock, at(19, 29))
    assert [m.payload["text"] for m in await sent_to(core, "100")] == [
        vi("remind.remind", slot="08:00", names="Nguyễn Văn An")]
    await tick(core, clock, at(19, 30))
    assert len(await sent_to(core, "100")) == 2


async def test_a_province_moving_a_slot_moves_the_reminders_nobody_changed(core: Core, clock: Clock,
                                                                            chat: ChatDriver, db_url: str) -> None:
    clock.set_local(at(6))
    await register(chat)
    await chat.say("/nhacnho")
    await chat.press("buổi 2")
    await chat.say("16:00")
    moved = Core(Database(db_url), load_rules(None, {"checkin": {"slots": ["07:00", "15:00"]}}), TZ,
                 admin_chats=[("telegram", "999")], clock=clock)
    try:
        clock.set_local(at(7))
        await Scheduler(moved).tick()
        assert [m.payload["text"] for m in await sent_to(moved, "100")] == [
            vi("remind.remind", slot="07:00", names="Nguyễn Văn An")]
        await tick(moved, clock, at(15, 59))
        await tick(moved, clock, at(16))
        assert len(await sent_to(moved, "100")) == 2
    finally:
        await moved.db.dispose()
