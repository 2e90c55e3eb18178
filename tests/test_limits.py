"""Telegram's sending budget: direct replies and alerts before the outbox's background rows, within the limit."""
from __future__ import annotations

import asyncio

from bot.limits import PriorityBudget, RepliesFirst
from delivery.sender import BACKGROUND, OutboxSender
from storage.outbox import enqueue
from tests.conftest import register
from tests.steps import declare, outbox

RATE = 200  # places a second: a full bucket frees one every 5 ms, so the tests wait milliseconds, not seconds


async def full_budget() -> PriorityBudget:
    budget = PriorityBudget(RATE)
    for _ in range(RATE):  # the burst a bucket allows; whoever comes next waits
        await budget.acquire(urgent=False)
    return budget


async def test_urgent_requests_get_the_next_places_before_background_ones_each_in_order():
    budget = await full_budget()
    served: list[str] = []

    async def ask(name: str, urgent: bool) -> None:
        await budget.acquire(urgent)
        served.append(name)

    waiting = [asyncio.create_task(ask(f"b{i}", urgent=False)) for i in range(3)]
    await asyncio.sleep(0)  # the background ones queue first
    waiting += [asyncio.create_task(ask(f"u{i}", urgent=True)) for i in range(2)]
    await asyncio.gather(*waiting)
    assert served == ["u0", "u1", "b0", "b1", "b2"]


async def test_the_budget_never_lets_more_through_than_its_rate():
    budget = PriorityBudget(RATE)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*(budget.acquire(urgent=i % 2 == 0) for i in range(RATE + 40)))
    assert loop.time() - started >= 40 / RATE * 0.9  # the burst at once, then 40 more at RATE a second


async def test_a_cancelled_wait_gives_its_place_to_the_next():
    budget = await full_budget()
    cancelled = asyncio.create_task(budget.acquire(urgent=True))
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.wait_for(budget.acquire(urgent=False), 1)


async def test_replies_first_serves_a_reply_before_the_outbox_background_row_queued_before_it():
    limiter = RepliesFirst(per_second=RATE)
    await limiter.initialize()
    for _ in range(RATE):
        await limiter.budget.acquire(urgent=False)
    sent: list[str] = []

    async def post(name: str) -> bool:
        sent.append(name)
        return True

    async def request(name: str, chat_id: int, background: bool) -> None:
        BACKGROUND.set(background)
        await limiter.process_request(post, (name,), {}, "sendMessage", {"chat_id": chat_id}, None)

    reminder = asyncio.create_task(request("reminder", 1001, background=True))
    await asyncio.sleep(0)
    reply = asyncio.create_task(request("reply", 1002, background=False))
    await asyncio.gather(reminder, reply)
    assert sent == ["reply", "reminder"]
    # a request to no chat (answering a button press) is not counted against the budget, so never waits for it
    await asyncio.wait_for(limiter.process_request(post, ("toast",), {}, "answerCallbackQuery", {}, None), 1)
    await limiter.shutdown()


async def test_the_sender_marks_alerts_urgent_and_everything_else_background(core, chat):
    await register(chat)
    await chat.say("/khaibao")
    await declare(chat, spo2="94")  # a danger sign: an alert to the admins, through the outbox
    async with core.db.session() as session:
        enqueue(session, "telegram", "100", {"text": "reminder", "buttons": []}, now=core.utcnow())
    seen: dict[str, bool] = {}

    async def deliver(chat_id: str, payload: dict) -> str:
        seen[payload["text"].splitlines()[0]] = BACKGROUND.get()
        return "1"

    queued = await outbox(core)  # read before sending: a sent row keeps no text
    alert_text = next(r.payload["text"] for r in queued if r.alert_id is not None).splitlines()[0]
    await OutboxSender(core, "telegram", deliver).run_once()
    assert seen == {alert_text: False, "reminder": True}
    assert BACKGROUND.get() is False  # the sender's marks stay in its own tasks
