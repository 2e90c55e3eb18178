"""Escalation end to end: an alert nobody took reaches the province group over the Bot API, and is taken there."""
from __future__ import annotations

from tests.factories import add_alert, add_person, at, bind_code
from tests.telegram_steps import GROUP, STAFF_BINH, Harness, bind_group_via_telegram, newest_button, say

PROVINCE_GROUP = -1007001


async def test_an_untaken_alert_reaches_the_province_group_and_is_taken_there(harness: Harness) -> None:
    fake, clock = harness.fake, harness.clock
    await bind_group_via_telegram(harness)
    fake.group(PROVINCE_GROUP, "Sở Y tế Gia Lai")
    await say(fake, STAFF_BINH, f"/lienket {await bind_code(harness.core, 'PROVINCE')}", "cấp tỉnh",
              chat=PROVINCE_GROUP)
    clock.set_local(at(9))
    await add_alert(harness.core, await add_person(harness.core, "Nguyễn Văn An"))

    clock.set_local(at(9, 15))
    await harness.bot.scheduler.tick()
    escalated = await fake.wait_for_message(PROVINCE_GROUP, lambda m: "NGUY HIỂM" in m["text"])
    assert "Nguyễn Văn An" in escalated["text"] and "Chưa ai tiếp nhận sau 15 phút" in escalated["text"]
    reminder = await fake.wait_for_message(GROUP, lambda m: m["text"].startswith("⏰"))
    assert "Nguyễn Văn An" in reminder["text"]

    message, data = newest_button(fake, PROVINCE_GROUP, "✋ Đã tiếp nhận")
    await fake.press(STAFF_BINH, message, data)
    taken = await fake.wait_for_edit(PROVINCE_GROUP, message["message_id"], lambda m: "Đã tiếp nhận:" in m["text"])
    assert "Bình" in taken["text"]
    assert [[b["text"] for b in row] for row in taken["reply_markup"]["inline_keyboard"]] == [["✅ Đã xử lý"]]
