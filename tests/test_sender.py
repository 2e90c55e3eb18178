"""The outbox sender: parallel chats, order within a chat, retries, failures recorded, never dropped."""
from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlmodel import select

from delivery.sender import MAX_ATTEMPTS, Moved, OutboxSender, RetryLater, Undeliverable
from storage.models import GroupBinding
from storage.outbox import claim_due, enqueue
from tests.factories import PLEIKU, QUY_NHON
from tests.steps import outbox


async def queue(core, *chats: str) -> None:
    async with core.db.session() as session:
        for n, chat in enumerate(chats):
            enqueue(session, "telegram", chat, {"text": f"m{n}", "buttons": []}, now=core.utcnow())


async def test_a_slow_chat_does_not_hold_up_the_others_and_order_is_kept_per_chat(core):
    await queue(core, "slow", "slow", "fast", "fast")
    release, fast_done, delivered = asyncio.Event(), asyncio.Event(), []

    async def deliver(chat_id: str, payload: dict) -> str:
        if chat_id == "slow":
            await release.wait()
        delivered.append((chat_id, payload["text"]))
        if len(delivered) == 2:
            fast_done.set()
        return str(len(delivered))

    round_ = asyncio.create_task(OutboxSender(core, "telegram", deliver).run_once())
    await asyncio.wait_for(fast_done.wait(), 10)  # the fast chat's messages go out while the slow one waits
    assert delivered == [("fast", "m2"), ("fast", "m3")]
    release.set()
    assert await round_ == 4
    assert [d for d in delivered if d[0] == "slow"] == [("slow", "m0"), ("slow", "m1")]
    assert {r.status for r in await outbox(core)} == {"sent"}


async def test_retry_after_waits_as_asked_and_the_message_is_sent_later(core, clock):
    await queue(core, "a")
    outcomes = [RetryLater(30)]

    async def deliver(chat_id: str, payload: dict) -> str:
        if outcomes:
            raise outcomes.pop()
        return "77"

    sender = OutboxSender(core, "telegram", deliver)
    assert await sender.run_once() == 1
    (row,) = await outbox(core)
    assert row.status == "pending" and row.attempts == 1 and "retry after 30" in row.last_error
    assert await sender.run_once() == 0  # not due yet
    clock.advance(seconds=31)
    assert await sender.run_once() == 1
    (row,) = await outbox(core)
    assert row.status == "sent" and row.sent_message_id == "77" and row.attempts == 2


async def test_undeliverable_is_recorded_with_its_reason(core):
    await queue(core, "gone")

    async def deliver(chat_id: str, payload: dict) -> str:
        raise Undeliverable("Forbidden: bot was blocked by the user")

    await OutboxSender(core, "telegram", deliver).run_once()
    (row,) = await outbox(core)
    assert row.status == "failed" and "blocked" in row.last_error


async def test_other_errors_back_off_and_give_up_only_after_many_attempts(core, clock):
    await queue(core, "flaky")

    async def deliver(chat_id: str, payload: dict) -> str:
        raise ConnectionError("network down")

    sender = OutboxSender(core, "telegram", deliver)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert await sender.run_once() == 1, attempt
        (row,) = await outbox(core)
        clock.advance(seconds=301)
    assert row.status == "failed" and row.attempts == MAX_ATTEMPTS and row.last_error == "ConnectionError"


async def test_a_row_claimed_by_a_sender_that_died_is_taken_again_after_its_lease(core, clock):
    await queue(core, "a")
    sent = []

    async def deliver(chat_id: str, payload: dict) -> str:
        sent.append(chat_id)
        return "1"

    async with core.db.session() as session:  # a sender claims the row, then dies before sending
        assert len(await claim_due(session, "telegram", core.utcnow(), 10, timedelta(seconds=120))) == 1
    sender = OutboxSender(core, "telegram", deliver)
    assert await sender.run_once() == 0
    clock.advance(seconds=121)
    assert await sender.run_once() == 1 and sent == ["a"]


async def test_a_person_who_blocked_the_bot_is_marked_unreachable_and_the_station_told_once(core, chat):
    from tests.conftest import register

    await register(chat)
    await queue(core, "100", "100")  # two messages queued for the person

    async def deliver(chat_id: str, payload: dict) -> str:
        if chat_id == "100":
            raise Undeliverable("Forbidden: bot was blocked by the user", unreachable=True)
        return "1"

    sender = OutboxSender(core, "telegram", deliver)
    await sender.run_once()
    from storage.models import Account
    async with core.db.session() as session:
        account = (await session.exec(select(Account).where(Account.external_id == "100"))).one()
    assert account.unreachable_at is not None and "blocked" in account.unreachable_reason
    person_rows = [r for r in await outbox(core) if r.chat_id == "100"]
    assert [r.status for r in person_rows] == ["failed", "failed"]  # nothing more is tried on that chat
    notices = [r for r in await outbox(core) if r.chat_id == "999"]  # no group: the admin is told
    assert len(notices) == 1 and "0912345678" in notices[0].payload["text"]
    assert "Không liên lạc được" in notices[0].payload["text"]
    await sender.run_once()  # the admin's notice goes out; the person is not told twice
    assert len([r for r in await outbox(core) if r.chat_id == "999"]) == 1
    await chat.say("/start")  # they write again: reachable again
    async with core.db.session() as session:
        account = (await session.exec(select(Account).where(Account.external_id == "100"))).one()
    assert account.unreachable_at is None


async def test_staff_see_what_could_not_be_delivered_to_their_station_only(core, chat):
    from storage.models import StaffMember
    from storage.stations import get_station
    from tests.conftest import ChatDriver, register

    await register(chat)  # Pleiku
    await queue(core, "100")

    async def deliver(chat_id: str, payload: dict) -> str:
        raise Undeliverable("Forbidden: bot was blocked by the user", unreachable=True)

    await OutboxSender(core, "telegram", deliver).run_once()
    async with core.db.session() as session:
        pleiku = await get_station(session, PLEIKU)
        other = await get_station(session, QUY_NHON)
        session.add(StaffMember(channel="telegram", user_id="301", role="staff", station_id=pleiku.id))
        session.add(StaffMember(channel="telegram", user_id="302", role="staff", station_id=other.id))
    mine, theirs, citizen = ChatDriver(core, "301"), ChatDriver(core, "302"), ChatDriver(core, "303")
    await mine.say("/chuagui")
    assert "Nguyễn Văn An (0912345678)" in mine.text() and "blocked" in mine.text()
    await theirs.say("/chuagui")
    assert "Nguyễn Văn An" not in theirs.text() and "Không có tin nhắn" in theirs.text()
    await citizen.say("/chuagui")
    assert "không có quyền" in citizen.text()


async def test_a_chat_with_a_new_id_takes_its_queued_messages_and_a_binding_there_stands(core):
    """The group was upgraded and staff bound the new one before any message failed: the old binding goes."""
    async with core.db.session() as session:
        session.add(GroupBinding(station_id=1, channel="telegram", chat_id="-41"))
        session.add(GroupBinding(station_id=2, channel="telegram", chat_id="-10041"))
    await queue(core, "-41", "-41", "other")
    tried: list[str] = []

    async def deliver(chat_id: str, payload: dict) -> str:
        tried.append(chat_id)
        if chat_id == "-41":
            raise Moved("-10041")
        return "1"

    sender = OutboxSender(core, "telegram", deliver)
    assert await sender.run_once() == 3
    assert sorted(tried) == ["-41", "-41", "other"]  # the second, in hand already, is refused too
    assert await sender.run_once() == 2  # both of the old chat's messages, at once, at the new id
    assert tried[3:] == ["-10041", "-10041"]
    assert [(r.chat_id, r.status) for r in await outbox(core)] == [("-10041", "sent")] * 2 + [("other", "sent")]
    async with core.db.session() as session:
        bindings = (await session.exec(select(GroupBinding.chat_id, GroupBinding.station_id))).all()
    assert [tuple(b) for b in bindings] == [("-10041", 2)]
