"""Outside any question: words of a danger sign get the danger advice and one tap that alerts the station;
other text the safety line and the ways to reach the station; what the bot cannot read is said so. And the
person hears when staff take, then handle, their alert."""
from __future__ import annotations

import pytest
from sqlmodel import select

from chat.messages import Reply
from chat.payloads import AlertPress
from health.distress import words_of_danger
from locales import t
from services.alerts import ACK, RESOLVE
from services.env import Core
from storage.models import Alert, ConversationState, HelpRequest, Person
from tests.conftest import ChatDriver, register
from tests.factories import (
    GROUP,
    STATION_PHONE,
    add_alert,
    add_person,
    bind_group,
    get,
    group_chat,
    sent_to,
    set_station_phone,
)
from tests.steps import add_dependent, alerts, rows, vi

PHONE_LINE = vi("contact.station_phone", station="Phường Pleiku", phone=STATION_PHONE)
ADVICE = f"{vi('distress.advice')}\n{PHONE_LINE}"


@pytest.mark.parametrize("text", [
    "tôi bị khó thở quá", "toi bi kho tho", "KHÓ THỞ!!", "Thở không được", "tức ngực từ sáng", "đau nguc",
    "môi tím tái", "bà lơ mơ, gọi không dậy", "ngu li bi", "cháu bị co giật", "ho ra máu", "I can't breathe",
])
def test_danger_words_with_or_without_accents(text: str) -> None:
    assert words_of_danger(text)


@pytest.mark.parametrize("text", ["xin chào", "tìm mọi cách", "bị ngạt mũi", "ho nhẹ", "", "thở đều"])
def test_other_words_are_not_danger(text: str) -> None:
    assert not words_of_danger(text)


async def states(core: Core) -> list[ConversationState]:
    async with core.db.session() as session:
        return list((await session.exec(select(ConversationState))).all())


async def group_alerts(core: Core) -> list[str]:
    return [m.payload["text"] for m in await sent_to(core, GROUP) if m.alert_id is not None]


@pytest.mark.parametrize("words", ["tôi bị khó thở quá", "toi bi kho tho qua"])
async def test_distress_gets_the_advice_then_one_tap_alerts_the_station(core: Core, chat: ChatDriver,
                                                                        words: str) -> None:
    await bind_group(core)
    await set_station_phone(core)
    await register(chat)
    await chat.say(words)
    assert chat.text() == ADVICE
    assert [b.label for b in chat.buttons()] == [vi("distress.button")]
    assert await alerts(core) == []  # a tap first: "không khó thở" must not page the station

    await chat.press(vi("distress.button"))
    assert chat.text() == f"{vi('distress.sent', station='Phường Pleiku')}\n{PHONE_LINE}"
    [alert] = await alerts(core)
    assert (alert.tier, alert.status, alert.words, alert.declaration_id) == ("danger", "open", words, None)
    [posted] = await group_alerts(core)
    assert posted.startswith(vi("alert.title.danger"))
    assert vi("alert.words", words=words) in posted and "Nguyễn Văn An" in posted
    assert await states(core) == []


async def test_distress_joins_the_persons_open_alert(core: Core, chat: ChatDriver) -> None:
    await register(chat)
    [person] = await rows(core, Person)
    open_id = await add_alert(core, person, tier="watch")
    await chat.say("khó thở")
    await chat.press(vi("distress.button"))
    [alert] = await alerts(core)
    assert (alert.id, alert.tier, alert.words) == (open_id, "danger", "khó thở")


async def test_typing_on_after_the_advice(core: Core, chat: ChatDriver) -> None:
    await register(chat)
    await chat.say("khó thở")
    await chat.say("đau ngực nữa")  # more danger words: the advice again, with the new words
    assert chat.text() == vi("distress.advice")  # no phone yet: the text alone
    await chat.press(vi("distress.button"))
    [alert] = await alerts(core)
    assert alert.words == "đau ngực nữa"

    await chat.say("khó thở")
    await chat.say("cảm ơn")  # anything else: read as outside a question
    assert chat.text() == vi("idle.registered")
    assert await states(core) == [] and len(await alerts(core)) == 1


async def test_a_household_gets_one_button_per_person(core: Core, chat: ChatDriver) -> None:
    await register(chat)
    await add_dependent(chat)
    await chat.say("bà bị khó thở")
    assert [b.label for b in chat.buttons()] == [vi("distress.button_for", name="Nguyễn Văn An"),
                                                 vi("distress.button_for", name="Trần Thị Bình")]
    await chat.press("Trần Thị Bình")
    [alert] = await alerts(core)
    assert (await get(core, Person, alert.person_id)).full_name == "Trần Thị Bình"


async def test_inside_a_flow_the_words_answer_the_question(core: Core, chat: ChatDriver) -> None:
    await bind_group(core)
    await register(chat)
    await chat.say("/phananh")
    await chat.say("tôi khó thở quá")
    [request] = await rows(core, HelpRequest)
    assert chat.text() == vi("helpreq.sent", id=request.id, station="Phường Pleiku")
    assert await alerts(core) == []


async def test_someone_not_registered_gets_the_safety_line_and_the_button(chat: ChatDriver) -> None:
    await chat.say("khó thở quá")
    assert chat.text() == vi("idle.new")
    assert "115" in chat.text()
    assert [b.label for b in chat.buttons()] == [vi("menu.register")]


async def test_other_text_gets_the_safety_line_and_the_ways_to_reach_the_station(core: Core,
                                                                                chat: ChatDriver) -> None:
    await set_station_phone(core)
    await register(chat)
    await chat.say("hôm nay trời đẹp")
    assert chat.text() == f"{vi('idle.registered')}\n{PHONE_LINE}"
    assert "115" in chat.text() and "/phananh" in chat.text()
    assert [b.label for b in chat.buttons()] == [vi("menu.checkin"), vi("menu.household")]


@pytest.mark.parametrize("kind", ["voice", "sticker", "video_note", "location", "other"])
async def test_what_the_bot_cannot_read_outside_a_flow(core: Core, chat: ChatDriver, kind: str) -> None:
    await set_station_phone(core)
    await register(chat)
    await chat.send(text="", unreadable=kind)
    assert [r.text for r in chat.last] == [vi("idle.cannot_read"), f"{vi('idle.registered')}\n{PHONE_LINE}"]


async def test_a_photo_outside_a_flow_and_a_voice_message_of_someone_not_registered(chat: ChatDriver) -> None:
    await chat.send(text="", photo_id="AgAD-photo")
    assert [r.text for r in chat.last] == [vi("idle.cannot_read"), vi("idle.new")]
    await chat.send(text="", unreadable="voice")
    assert [r.text for r in chat.last] == [vi("idle.cannot_read"), vi("idle.new")]


# --- the person told -----------------------------------------------------------------------------------------


async def press(core: Core, action: str, alert_id: int, user_id: str = "300", name: str = "Chị Hoa") -> None:
    await group_chat(core, user_id, name).send(button=AlertPress(action, alert_id).encode(), message_id="9")


async def told(core: Core, chat_id: str) -> list[str]:
    return [Reply.from_payload(m.payload).text for m in await sent_to(core, chat_id)]


async def test_the_person_is_told_on_taken_then_on_handled(core: Core) -> None:
    await bind_group(core)
    await set_station_phone(core)
    person = await add_person(core, "Lê Thị Hoa", "700")
    alert_id = await add_alert(core, person)
    await press(core, ACK, alert_id)
    taken = f"{vi('alert.to_person.acknowledged', station='Phường Pleiku', name='Lê Thị Hoa')}\n{PHONE_LINE}"
    assert await told(core, "700") == [taken]
    await press(core, ACK, alert_id, "301", "Anh Minh")  # a second press loses: nothing more to the person
    assert await told(core, "700") == [taken]
    await press(core, RESOLVE, alert_id)
    handled = f"{vi('alert.to_person.resolved', station='Phường Pleiku', name='Lê Thị Hoa')}\n{PHONE_LINE}"
    assert await told(core, "700") == [taken, handled]
    await press(core, RESOLVE, alert_id)
    assert await told(core, "700") == [taken, handled]
    assert (await get(core, Alert, alert_id)).status == "resolved"


async def test_handled_straight_from_open_is_one_message(core: Core) -> None:
    await bind_group(core)
    person = await add_person(core, "Lê Thị Hoa", "700", language="en")
    await press(core, RESOLVE, await add_alert(core, person))
    assert await told(core, "700") == [
        t("en", "alert.to_person.resolved", station="Phường Pleiku", name="Lê Thị Hoa")]


async def test_the_button_still_alerts_after_the_person_moved_on(core: Core, chat: ChatDriver) -> None:
    await register(chat)
    await chat.say("khó thở")
    sos = chat.buttons()[0].payload
    await chat.say("/khaibao")  # a reminder's button, say: the advice's flow is gone
    question = chat.last[-1].text
    await chat.send(button=sos, message_id="5")
    assert chat.last[0].text == vi("distress.sent", station="Phường Pleiku")
    assert chat.last[-1].text == question  # and the check-in question again
    [alert] = await alerts(core)
    assert (alert.tier, alert.words) == ("danger", vi("distress.button"))


async def test_a_double_tap_alerts_once_and_a_forged_one_not_at_all(core: Core, chat: ChatDriver) -> None:
    await register(chat)
    await chat.say("khó thở")
    sos = chat.buttons()[0].payload
    await chat.send(button=sos, message_id="5")
    await chat.send(button=sos, message_id="5")  # a slow phone sends it twice
    assert chat.text() == vi("distress.sent", station="Phường Pleiku")
    [alert] = await alerts(core)
    assert alert.words == "khó thở"
    stranger = await add_person(core, "Người Lạ", "800")
    await chat.send(button=f"sos:{stranger.id}", message_id="5")
    assert chat.text() == vi("common.stale_button")
    assert len(await alerts(core)) == 1
