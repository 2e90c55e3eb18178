"""Faults: a system clock stepped back does not stall the outbox, and a reply longer than Telegram takes is sent
in several messages cut at line breaks instead of failing with "message is too long"."""
from __future__ import annotations

from datetime import timedelta

from chat.messages import Button, Reply
from delivery.sender import MAX_BACKOFF_SECONDS, OutboxSender, RetryLater
from services.env import Core
from storage.models import Outbox
from storage.outbox import FAR_AHEAD, claim_due, enqueue, post
from tests.conftest import Clock
from tests.steps import outbox
from tests.telegram_steps import CITIZEN, Harness, say

GROUP_CHAT = "-100777"
STEP_BACK = timedelta(hours=1)  # NTP correcting a clock that ran an hour fast, a VM restored from a snapshot


async def queue(core: Core, chat: str, count: int = 1) -> None:
    async with core.db.session() as session:
        for n in range(count):
            enqueue(session, "telegram", chat, {"text": f"m{n}", "buttons": []}, now=core.utcnow())


def failing_once(delivered: list[str]):
    failures = [ConnectionError("network down")]

    async def deliver(chat_id: str, payload: dict) -> str:
        if failures:
            raise failures.pop()
        delivered.append(payload["text"])
        return str(len(delivered))
    return deliver


# --- a clock stepped back --------------------------------------------------------------------------------------

async def test_a_retry_timed_before_the_clock_stepped_back_is_not_held_for_an_hour(core: Core, clock: Clock) -> None:
    await queue(core, "100")
    delivered: list[str] = []
    sender = OutboxSender(core, "telegram", failing_once(delivered))
    assert await sender.run_once() == 1  # failed: due again in 2 s, on the clock as it was
    assert await sender.run_once() == 0  # not before its backoff

    clock.advance(seconds=-STEP_BACK.total_seconds())
    assert await sender.run_once() == 1
    assert delivered == ["m0"] and [r.status for r in await outbox(core)] == ["sent"]


async def test_a_backoff_under_the_horizon_is_still_waited_for(core: Core, clock: Clock) -> None:
    """The horizon is beyond every wait the sender sets itself: the longest backoff is not cut short."""
    assert timedelta(seconds=MAX_BACKOFF_SECONDS) < FAR_AHEAD
    await queue(core, "100")
    async with core.db.session() as session:
        [row] = await claim_due(session, "telegram", core.utcnow(), 10, timedelta(seconds=120))
    async with core.db.session() as session:
        row = await session.get(Outbox, row.id)
        assert row is not None
        row.status, row.lease_until = "pending", None
        row.next_attempt_at = core.utcnow() + timedelta(seconds=MAX_BACKOFF_SECONDS)
        session.add(row)
    sender = OutboxSender(core, "telegram", failing_once([]))
    assert await sender.run_once() == 0
    clock.advance(seconds=MAX_BACKOFF_SECONDS)
    assert await sender.run_once() == 1


async def test_a_lease_taken_before_the_clock_stepped_back_runs_out(core: Core, clock: Clock) -> None:
    await queue(core, "100")
    lease = timedelta(seconds=120)
    async with core.db.session() as session:  # a sender claims it and dies
        [row] = await claim_due(session, "telegram", core.utcnow(), 10, lease)
    async with core.db.session() as session:
        assert await claim_due(session, "telegram", core.utcnow(), 10, lease) == []  # its lease holds

    clock.advance(seconds=-STEP_BACK.total_seconds())
    async with core.db.session() as session:  # the lease now seems to last another hour: it is taken now
        [again] = await claim_due(session, "telegram", core.utcnow(), 10, lease)
    assert again.id == row.id and again.attempts == 2


async def test_a_long_flood_wait_is_retried_within_the_longest_backoff(core: Core, clock: Clock) -> None:
    """A row timed further ahead than the horizon would be taken for one from before a step back, and claimed at
    once: a 429 asking for two hours is retried within the longest backoff instead (and met by another 429)."""
    await queue(core, "100")
    outcomes = [RetryLater(7200)]

    async def deliver(chat_id: str, payload: dict) -> str:
        if outcomes:
            raise outcomes.pop()
        return "1"

    sender = OutboxSender(core, "telegram", deliver)
    assert await sender.run_once() == 1
    [row] = await outbox(core)
    assert row.status == "pending" and row.next_attempt_at <= core.utcnow() + timedelta(seconds=MAX_BACKOFF_SECONDS)
    assert await sender.run_once() == 0  # not hammered: it waits
    clock.advance(seconds=MAX_BACKOFF_SECONDS)
    assert await sender.run_once() == 1


async def test_a_groups_full_minute_empties_when_the_clock_steps_back(core: Core, clock: Clock) -> None:
    delivered: list[str] = []

    async def deliver(chat_id: str, payload: dict) -> str:
        delivered.append(payload["text"])
        return str(len(delivered))

    sender = OutboxSender(core, "telegram", deliver, group_per_minute=3)
    await queue(core, GROUP_CHAT, 3)
    assert await sender.run_once() == 3
    clock.advance(seconds=-STEP_BACK.total_seconds())
    await queue(core, GROUP_CHAT)
    assert await sender.run_once() == 1
    assert len(delivered) == 4  # not postponed to an hour and a minute from now
    assert {r.status for r in await outbox(core)} == {"sent"}


# --- a reply longer than Telegram takes -----------------------------------------------------------------------

def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def long_list(lines: int) -> str:
    """A list as staff get it: one line per person, with emoji (two UTF-16 units each, as Telegram counts)."""
    return "🟠 Danh sách chưa khai báo:\n" + "\n".join(f"{n}. Nguyễn Văn Thử số {n} — 📞 0912 000 {n:03d}"
                                                       for n in range(1, lines + 1))


async def delivered_parts(h: Harness, reply: Reply, chat: int = CITIZEN) -> list[dict]:
    await say(h.fake, chat, "/start", "đồng ý")  # the chat exists
    before = len(h.fake.sent(chat))
    async with h.core.db.session() as session:
        post(session, "telegram", str(chat), reply, h.core.utcnow())
    h.core.outbox_ready.set()
    assert await h.fake.wait_until(lambda: _received(h.fake.sent(chat)[before:]) >= len(reply.text), 10)
    assert h.bot is not None
    await h.bot.sender.stop()  # the round ends once it has recorded the delivery
    return h.fake.sent(chat)[before:]


def _received(messages: list[dict]) -> int:
    """How much of the text has come, counting the line break at each cut."""
    return sum(len(m.get("text") or m.get("caption") or "") + 1 for m in messages) - 1


async def test_a_text_over_4096_goes_as_several_messages_cut_at_line_breaks(harness: Harness) -> None:
    text = long_list(250)
    assert units(text) > 2 * 4096
    parts = await delivered_parts(harness, Reply(text, [[Button("Xem thêm", "x:1")]]))

    assert all(units(m["text"]) <= 4096 for m in parts) and len(parts) >= -(-units(text) // 4096)
    assert "\n".join(m["text"] for m in parts) == text  # cut between lines, nothing lost or doubled
    assert [bool(m.get("reply_markup")) for m in parts] == [False] * (len(parts) - 1) + [True]  # buttons last
    [row] = [r for r in await harness.outbox() if r.chat_id == str(CITIZEN)]
    assert (row.status, row.sent_message_id) == ("sent", str(parts[-1]["message_id"]))  # presses refer to it


async def test_a_caption_over_1024_goes_on_in_messages_after_the_photo(harness: Harness) -> None:
    text = long_list(40)
    assert 1024 < units(text) <= 4096
    parts = await delivered_parts(harness, Reply(text, [[Button("Đã nhận", "x:2")]], photo=b"\x89PNG fake"))

    photo, *rest = parts
    assert "photo" in photo and units(photo["caption"]) <= 1024 and photo.get("reply_markup")
    assert rest and all("photo" not in m for m in rest)
    assert "\n".join([photo["caption"], *(m["text"] for m in rest)]) == text
