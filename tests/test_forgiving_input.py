"""Forgiving input (issue 13): a button's label typed is the press; years, numbers, times and names as people type
them; after a wrong answer a short re-ask."""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from chat.messages import Button
from chat.payloads import StepAnswer
from chat.text import fold
from conversations import checkin, registration
from conversations.runtime import Context, Flow, Input, Outcome, Stay, Step
from services.env import Core
from storage.models import Declaration
from tests.conftest import ChatDriver, register
from tests.factories import add_person
from tests.steps import people, rows, vi
from tests.telegram_steps import CITIZEN, Harness, say, tap

# --- every button label of every step, typed, is the press ---------------------------------------------


@dataclass
class Recorder:
    """Stands in for a step's answer: keeps what the step was given, changes nothing (the flow stays)."""

    given: list[Input] = field(default_factory=list)

    def around(self, step: Step) -> Step:
        async def answer(ctx: Context, inp: Input) -> Outcome:
            self.given.append(inp)
            return Stay([])
        return Step(step.ask, answer)


def typed_forms(label: str) -> list[str]:
    """The label as shown, without accents, and without its emoji in capitals: all are the same press."""
    folded = fold(label)
    bare = folded.lstrip("".join({"✅", "▫", "✏", " ", "\ufe0f"}))
    return [label, folded, bare.upper(), f"  {bare}. "]


def step_buttons(chat: ChatDriver, step: str) -> list[tuple[Button, str]]:
    found = [(b, pressed.value) for b in chat.buttons()
             if (pressed := StepAnswer.parse(b.payload)) is not None and pressed.step == step]
    assert found, f"no button of {step} in {[b.label for b in chat.buttons()]}"
    return found


async def assert_labels_are_presses(chat: ChatDriver, flow: Flow, step: str,
                                    monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every button of the current question `step`, typed in every form, reaches the step as its press."""
    question, real = chat.last, flow.steps[step]
    recorder = Recorder()
    monkeypatch.setitem(flow.steps, step, recorder.around(real))
    try:
        for button, value in step_buttons(chat, step):
            for typed in typed_forms(button.label):
                recorder.given.clear()
                await chat.say(typed)
                assert recorder.given == [Input(choice=value)], (step, typed, recorder.given)
    finally:
        monkeypatch.setitem(flow.steps, step, real)
        chat.last = question
    return [b.label for b, _ in step_buttons(chat, step)]


async def test_every_registration_button_typed_is_pressed(core: Core, chat: ChatDriver,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    flow, seen = registration.FLOW, {}

    async def check(step: str) -> None:
        seen[step] = await assert_labels_are_presses(chat, flow, step, monkeypatch)

    await chat.say("/start")
    await check("consent")
    await chat.say("đồng ý")  # typed for real: the consent goes on
    assert chat.text() == vi("ask.name.self")
    await chat.say("Ksor H’Nhi")
    await chat.say("80")
    await check("birth_year")
    await chat.say("đúng")
    await check("gender")
    await chat.say("nu")
    await chat.say("0912 345 678")
    await check("id_number")
    await chat.say("bo qua")
    await chat.say("pleiku")
    await chat.press(chat.buttons()[0].label)
    await chat.say("12 Lê Lợi, tổ 3")
    await check("category")
    await chat.say("f1")
    await check("start_date")
    await chat.say("hom nay")
    await check("summary")
    await chat.say("sửa")
    await check("edit_menu")
    await chat.say("ho ten")
    assert chat.text() == vi("ask.name.self")
    await chat.say("Siu H‘Bia.")
    await chat.say("xac nhan")
    [person] = await people(core)
    assert (person.full_name, person.birth_year, person.gender, person.id_number, person.category) == (
        "Siu H'Bia", 1980, "female", None, "f1")
    assert seen["birth_year"] == [vi("birth_year.right"), vi("birth_year.wrong")]
    assert len(seen["edit_menu"]) == len(registration.EDITABLE)


async def test_every_checkin_button_typed_is_pressed(core: Core, chat: ChatDriver,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    flow = checkin.FLOW
    await register(chat)
    await add_person(core, "Trần Thị Bình", chat_id="100", is_self=False)

    async def check(step: str) -> list[str]:
        return await assert_labels_are_presses(chat, flow, step, monkeypatch)

    await chat.say("/khaibao")
    assert await check("who") == ["Nguyễn Văn An", "Trần Thị Bình"]
    await chat.say("nguyen van an")
    await check("temperature")
    await chat.say("khong co nhiet ke")
    await check("feverish")
    await chat.say("không")
    assert chat.text() == vi("ask.symptoms")
    await check("symptoms")
    await chat.say("ho")  # ticked by its typed label: a new list is sent, a typed message cannot be edited
    assert chat.last[-1].edit_id is None and "✅ Ho" in [b.label for b in chat.buttons()]
    await check("symptoms")  # now with «Xong (1 đã chọn)»
    await chat.say("xong")
    await check("spo2")
    await chat.say("SpO2 90%")
    assert vi("ask.spo2_again", value=90) in chat.text()
    await check("spo2_again")
    await chat.say("khong do lai duoc")
    await check("breathing")
    await chat.say("khoảng 20 lần/phút")
    await check("note")
    await chat.say("không có")
    await check("recap")
    await chat.say("đúng")
    [declaration] = await rows(core, Declaration)
    assert (declaration.temperature, declaration.symptoms, declaration.spo2, declaration.breathing_rate) == (
        None, ["cough"], 90, 20)
    assert not declaration.partial


# --- the parts of "Tried as a new user would" ------------------------------------------------------------


async def until_birth_year(chat: ChatDriver) -> None:
    await chat.say("/start")
    await chat.say("Đồng ý")
    await chat.say("Nguyễn Văn An")


async def test_two_digits_are_confirmed_as_a_year(core: Core, chat: ChatDriver) -> None:
    await until_birth_year(chat)
    await chat.say("80")
    assert chat.text() == vi("ask.birth_year_guess", year=1980) == "Năm 1980, đúng không?"
    assert [b.label for b in chat.buttons()] == ["Đúng", "Không"]
    await chat.press("Đúng")
    assert chat.text() == vi("ask.gender.self")


async def test_a_wrong_guess_asks_the_year_again(core: Core, chat: ChatDriver) -> None:
    await until_birth_year(chat)
    await chat.say("58")
    await chat.say("không")
    assert [r.text for r in chat.last] == [vi("err.birth_year", this_year=2026), vi("ask.birth_year.self")]
    await chat.say("năm 1958")
    assert chat.text() == vi("ask.gender.self")


async def test_a_full_year_typed_instead_of_confirming_is_taken(core: Core, chat: ChatDriver) -> None:
    await until_birth_year(chat)
    await chat.say("80")
    await chat.say("1978.")
    assert chat.text() == vi("ask.gender.self")
    await chat.press("Nam")
    await chat.say("0912 345 678")
    await chat.press("Bỏ qua")
    await chat.say("pleiku")
    await chat.press(chat.buttons()[0].label)
    await chat.say("12 Lê Lợi")
    await chat.press("F1")
    await chat.press("Hôm nay")
    assert "1978" in chat.text() and "1980" not in chat.text()


async def test_an_old_confirm_button_does_not_set_the_year(core: Core, chat: ChatDriver) -> None:
    await until_birth_year(chat)
    await chat.say("80")
    stale = chat.last
    await chat.say("75")  # a new guess: 1975
    chat.last = stale
    await chat.press("Đúng")  # the button of 1980, pressed late
    assert chat.last[0].text == vi("err.birth_year", this_year=2026)


async def test_the_name_error_says_what_a_name_may_hold(core: Core, chat: ChatDriver) -> None:
    await chat.say("/start")
    await chat.say("dong y")
    await chat.say("Nguyễn Văn 4n")
    assert [r.text for r in chat.last] == [vi("err.name_letters"), vi("ask.name.self")]
    assert "Ksor H'Nhi" in vi("err.name_letters") and "Ksor H'Nhi" in chat.last[0].text
    await chat.say("Ksor H’Nhi")
    assert chat.text() == vi("ask.birth_year.self")


async def test_a_wrong_answer_gets_a_short_reask_without_the_preamble(core: Core, chat: ChatDriver) -> None:
    asked = await chat.say("/start")
    await chat.say("abc")
    assert [r.text for r in chat.last] == [vi("err.use_buttons"), asked[-1].text]  # the welcome is not repeated
    assert chat.last[-1].buttons == asked[-1].buttons
    assert [b.label for b in chat.buttons()] == [vi("consent.yes"), vi("consent.no")]


async def test_not_agreeing_typed_is_not_agreeing(core: Core, chat: ChatDriver) -> None:
    await chat.say("/start")
    await chat.say("Không đồng ý")
    assert chat.text() == vi("reg.consent_refused")
    assert await people(core) == []


async def test_the_reminder_time_as_people_say_it(core: Core, chat: ChatDriver) -> None:
    await register(chat)
    await chat.say("/nhacnho")
    await chat.say("doi gio nhac buoi 1 (08:00)")  # a button's label, typed
    assert chat.text() == vi("reminders.ask_time", number=1, start="08:00", end="15:00")
    await chat.say("9 giờ sáng")
    assert chat.text() == vi("reminders.saved", times="09:00, 15:00")


async def test_a_new_user_on_telegram_types_instead_of_pressing(harness: Harness) -> None:
    """Through the real python-telegram-bot: every answer typed, buttons' labels without accents included."""
    fake, user = harness.fake, CITIZEN
    await say(fake, user, "/start", "")
    await say(fake, user, "dong y", vi("ask.name.self"))
    await say(fake, user, "Ksor H’Nhi", vi("ask.birth_year.self"))
    await say(fake, user, "80", vi("ask.birth_year_guess", year=1980))
    await say(fake, user, "đúng", vi("ask.gender.self"))
    await say(fake, user, "nữ", "Số điện thoại")
    await say(fake, user, "0912 345 678", vi("ask.id_number"))
    await say(fake, user, "bo qua", vi("ask.station"))
    await say(fake, user, "pleiku", "")  # the list of units found
    await tap(fake, user, "Phường Pleiku", vi("ask.address"))
    await say(fake, user, "12 Lê Lợi, tổ 3", vi("ask.category.self"))
    await say(fake, user, "f1", vi("ask.start_date.self"))
    await say(fake, user, "hom nay", vi("reg.summary_title"))
    await say(fake, user, "xac nhan", "Đăng ký xong")
    [person] = await people(harness.core)
    assert (person.full_name, person.birth_year, person.gender) == ("Ksor H'Nhi", 1980, "female")
