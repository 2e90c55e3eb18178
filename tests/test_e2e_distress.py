"""End to end on Telegram (the real python-telegram-bot against FakeBotAPI): danger words outside a question,
then one tap to the station group; a voice message and a sticker; the person told when staff take the alert."""
from __future__ import annotations

from tests.factories import STATION_PHONE, set_station_phone
from tests.fake_bot_api import JSON
from tests.telegram_steps import (
    CITIZEN,
    GROUP,
    STAFF_BINH,
    STAFF_LAN,
    Harness,
    bind_group_via_telegram,
    register_via_telegram,
    say,
    tap,
)


def is_distress_alert(msg: JSON) -> bool:
    return "Người bệnh nhắn" in msg["text"]


async def test_danger_words_then_one_tap_reach_the_group_and_the_person_hears_back(harness: Harness) -> None:
    fake = harness.fake
    await set_station_phone(harness.core)
    await bind_group_via_telegram(harness)
    done = await register_via_telegram(fake)
    assert STATION_PHONE in done["text"]

    advice = await say(fake, CITIZEN, "toi bi kho tho qua", "dấu hiệu nguy hiểm")  # no accents
    assert "115" in advice["text"] and "ngồi dậy hoặc nằm đầu cao" in advice["text"]
    assert STATION_PHONE in advice["text"]
    assert [label for label, _ in fake.buttons(advice)] == ["Báo trạm y tế ngay"]
    sent = await tap(fake, CITIZEN, "Báo trạm y tế ngay", "Đã báo trạm y tế Phường Pleiku")
    assert STATION_PHONE in sent["text"]

    alert = await fake.wait_for_message(GROUP, is_distress_alert)
    assert "«toi bi kho tho qua»" in alert["text"] and "Nguyễn Văn An" in alert["text"]
    after = len(fake.sent(CITIZEN))
    query = await fake.press(STAFF_LAN, alert, fake.button(alert, "Đã tiếp nhận"))
    await fake.wait_for_call("answerCallbackQuery", lambda p: p["callback_query_id"] == query)
    taken = await fake.wait_for_message(CITIZEN, lambda m: "đã nhận được cảnh báo" in m["text"], after=after)
    assert "Phường Pleiku" in taken["text"] and STATION_PHONE in taken["text"]

    edited = await fake.wait_for_edit(GROUP, alert["message_id"])
    after = len(fake.sent(CITIZEN))
    query = await fake.press(STAFF_BINH, edited, fake.button(edited, "Đã xử lý"))
    await fake.wait_for_call("answerCallbackQuery", lambda p: p["callback_query_id"] == query)
    handled = await fake.wait_for_message(CITIZEN, lambda m: "đã xử lý cảnh báo" in m["text"], after=after)
    assert STATION_PHONE in handled["text"]


async def test_the_same_words_inside_a_question_are_its_answer(harness: Harness) -> None:
    fake = harness.fake
    await bind_group_via_telegram(harness)
    await register_via_telegram(fake)
    await say(fake, CITIZEN, "/phananh", "Bạn cần trạm y tế giúp gì?")
    await say(fake, CITIZEN, "khó thở", "Đã gửi phản ánh")
    assert not any("dấu hiệu nguy hiểm" in m["text"] for m in fake.sent(CITIZEN))


async def test_a_voice_message_and_a_sticker_outside_a_question(harness: Harness) -> None:
    fake = harness.fake
    await set_station_phone(harness.core)
    await register_via_telegram(fake)
    for send in (fake.send_voice, fake.send_sticker):
        after = len(fake.sent(CITIZEN))
        await send(CITIZEN)
        await fake.wait_for_message(CITIZEN, lambda m: "chưa nghe được tin nhắn thoại" in m["text"], after=after)
        pointers = await fake.wait_for_message(CITIZEN, lambda m: "115" in m["text"], after=after)
        assert STATION_PHONE in pointers["text"] and "/phananh" in pointers["text"]
