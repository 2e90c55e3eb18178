"""An alert is never given up: its copies are retried while it is open, and the admins are told when none
could be delivered."""
from __future__ import annotations

import itertools
from datetime import timedelta

from delivery.sender import MAX_ATTEMPTS, MAX_BACKOFF_SECONDS, OutboxSender
from services.env import Core
from storage.models import Alert, Outbox
from storage.outbox import enqueue
from tests.conftest import Clock
from tests.factories import GROUP, add_alert, add_person, at, audit_events, bind_group, get, sent_to, tick
from tests.steps import outbox


class BadGateway(Exception):
    """What a Bot API answering 502 looks like to the sender: an error that is neither 429 nor final."""


async def _queue(core: Core, alert_id: int | None, text: str) -> int:
    async with core.db.session() as session:
        row = enqueue(session, "telegram", GROUP, {"text": text, "buttons": []}, alert_id=alert_id,
                      now=core.utcnow())
        await session.flush()
        assert row.id is not None
        return row.id


async def test_an_alert_is_delivered_after_two_hours_of_server_errors(core: Core, clock: Clock) -> None:
    person = await add_person(core, "Nguyễn Văn An")
    clock.set_local(at(9))
    started = clock()
    alert_row = await _queue(core, await add_alert(core, person), "alert")
    reminder_row = await _queue(core, None, "reminder")
    tries: list = []

    async def deliver(chat_id: str, payload: dict) -> str:
        if payload["text"] == "alert":
            tries.append(clock())
        if clock() - started < timedelta(hours=2):
            raise BadGateway("502")
        return "42"

    sender = OutboxSender(core, "telegram", deliver)
    while not (await get(core, Outbox, alert_row)).sent_at:
        await sender.run_once()
        clock.advance(seconds=30)
        assert clock() - started < timedelta(hours=3)
    row = await get(core, Outbox, alert_row)
    assert row.status == "sent" and row.sent_message_id == "42" and row.attempts > MAX_ATTEMPTS
    assert tries[-1] - started >= timedelta(hours=2)
    gaps = [b - a for a, b in itertools.pairwise(tries)]
    assert max(gaps) <= timedelta(seconds=MAX_BACKOFF_SECONDS + 30)  # capped backoff, one sender round late
    assert (await get(core, Outbox, reminder_row)).status == "failed"  # other messages still give up


async def test_a_taken_alert_s_copy_gives_up_like_any_message(core: Core, clock: Clock) -> None:
    person = await add_person(core, "Nguyễn Văn An")
    row_id = await _queue(core, await add_alert(core, person, status="acknowledged"), "alert")

    async def deliver(chat_id: str, payload: dict) -> str:
        raise BadGateway("502")

    sender = OutboxSender(core, "telegram", deliver)
    for _ in range(MAX_ATTEMPTS):
        await sender.run_once()
        clock.advance(seconds=MAX_BACKOFF_SECONDS + 1)
    assert (await get(core, Outbox, row_id)).status == "failed"


async def test_the_admins_are_told_once_when_no_copy_was_delivered_in_30_minutes(core: Core, clock: Clock) -> None:
    await bind_group(core)
    person = await add_person(core, "Nguyễn Văn An")
    clock.set_local(at(9))
    alert_id = await add_alert(core, person, at=at(9))
    await _queue(core, alert_id, "alert")  # never delivered: no sender runs
    await tick(core, clock, at(9, 29))
    assert not [m for m in await sent_to(core, "999") if "chưa gửi được tới trạm" in m.payload["text"]]
    await tick(core, clock, at(9, 30))
    await tick(core, clock, at(9, 45))
    (warning,) = [m for m in await sent_to(core, "999") if "chưa gửi được tới trạm" in m.payload["text"]]
    assert warning.payload["text"].startswith("⚠️ Cảnh báo này đã 30 phút mà chưa gửi được tới trạm y tế.")
    assert "Nguyễn Văn An" in warning.payload["text"] and warning.alert_id == alert_id
    assert [label for row in warning.payload["buttons"] for label, _ in row] == ["✋ Đã tiếp nhận", "✅ Đã xử lý"]
    assert (await get(core, Alert, alert_id)).undelivered_warned_at is not None
    assert len(await audit_events(core, "alert.undelivered_warning")) == 1


async def test_no_warning_when_a_copy_was_delivered(core: Core, clock: Clock) -> None:
    await bind_group(core)
    person = await add_person(core, "Nguyễn Văn An")
    clock.set_local(at(9))
    alert_id = await add_alert(core, person, at=at(9))
    await _queue(core, alert_id, "alert")

    async def deliver(chat_id: str, payload: dict) -> str:
        return "1"

    await OutboxSender(core, "telegram", deliver).run_once()
    await tick(core, clock, at(9, 40))
    assert not [m for m in await outbox(core) if "chưa gửi được tới trạm" in m.payload["text"]]
