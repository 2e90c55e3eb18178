"""End to end on Telegram: a request for help with a photo, answered from the station's group, then closed."""
from __future__ import annotations

from sqlmodel import select

from storage.models import HelpMessage, HelpRequest
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
)

RASH = b"\xff\xd8\xff\xe0 a photo of a rash"


def is_request_post(msg: JSON) -> bool:
    return "PHẢN ÁNH #" in msg.get("caption", msg.get("text", ""))


async def stored(h: Harness) -> tuple[list[HelpRequest], list[HelpMessage]]:
    async with h.core.db.session() as session:
        requests = list((await session.exec(select(HelpRequest))).all())
        messages = list((await session.exec(select(HelpMessage).order_by(HelpMessage.id))).all())
    return requests, messages


async def test_a_photo_request_is_answered_from_the_group_and_closed(harness: Harness) -> None:
    fake = harness.fake
    await bind_group_via_telegram(harness)
    await register_via_telegram(fake)

    await say(fake, CITIZEN, "/phananh", "Bạn cần trạm y tế giúp gì?")
    after = len(fake.sent(CITIZEN))
    await fake.send_photo(CITIZEN, RASH, caption="Con tôi nổi mẩn đỏ khắp tay")
    confirmation = await fake.wait_for_message(CITIZEN, lambda m: "Đã gửi phản ánh #1" in m["text"], after=after)
    assert "trả lời bạn ngay trong cuộc trò chuyện này" in confirmation["text"]

    post = await fake.wait_for_message(GROUP, is_request_post)
    assert "photo" in post and post["content"] == RASH  # the person's photo, re-sent by its file id
    for shown in ("Nguyễn Văn An", "0912345678", "12 Lê Lợi", "Con tôi nổi mẩn đỏ khắp tay"):
        assert shown in post["caption"], shown
    assert [label for label, _ in fake.buttons(post)] == ["💬 Trả lời", "✅ Đã xong"]
    [(_, photo_call)] = [c for c in fake.calls("sendPhoto") if c[1].get("chat_id") == GROUP]
    assert isinstance(photo_call["photo"], str)  # a file id, not an upload

    after = len(fake.sent(GROUP))
    await fake.press(STAFF_LAN, post, fake.button(post, "Trả lời"))
    prompt = await fake.wait_for_message(GROUP, lambda m: "Nhập câu trả lời" in m["text"], after=after)
    assert prompt["text"].startswith("Nhập câu trả lời cho phản ánh #1 của Nguyễn Văn An:")
    assert fake.reply_keyboards(GROUP)[-1].get("force_reply") is True

    await say(fake, STAFF_LAN, "Chiều nay trạm đến khám cho cháu, chị đợi nhé.", "Đã gửi câu trả lời", chat=GROUP)
    answer = await fake.wait_for_message(CITIZEN, lambda m: "Trạm y tế trả lời phản ánh #1" in m["text"])
    assert "Chiều nay trạm đến khám cho cháu" in answer["text"]
    [request], messages = await stored(harness)
    assert request.status == "in_progress"
    assert [(m.sender, m.staff_name) for m in messages] == [("person", None), ("staff", "Lan")]
    assert messages[0].photo_id and messages[0].text == "Con tôi nổi mẩn đỏ khắp tay"

    await fake.press(STAFF_BINH, post, fake.button(post, "Đã xong"))
    closed = await fake.wait_for_edit(GROUP, post["message_id"], lambda m: "Đã xong: Bình" in m["caption"])
    assert fake.buttons(closed) == [] and "photo" in closed
    await fake.wait_for_message(CITIZEN, lambda m: "đã xử lý xong phản ánh #1" in m["text"])
    [request], _ = await stored(harness)
    assert request.status == "done"
