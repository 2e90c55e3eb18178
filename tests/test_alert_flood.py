"""A flood of alerts for one group: the danger one first, never more than Telegram's 20 a minute, none lost."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select

from delivery.sender import OutboxSender
from services.env import Core
from storage.models import Alert, Outbox
from storage.outbox import enqueue
from tests.conftest import Clock
from tests.factories import GROUP, add_person, at
from tests.steps import outbox


async def queue_alerts(core: Core, person_id: int, station_id: int, tiers: list[str]) -> None:
    """Alerts of these tiers, each with its copy queued for the group, in one transaction."""
    async with core.db.session() as session:
        for n, tier in enumerate(tiers):
            alert = Alert(person_id=person_id, station_id=station_id, tier=tier, created_at=core.utcnow())
            session.add(alert)
            await session.flush()
            enqueue(session, "telegram", GROUP, {"text": f"{tier} {n}", "buttons": []}, alert_id=alert.id,
                    now=core.utcnow())


def most_in_a_minute(times: list[datetime]) -> int:
    return max(sum(start <= t < start + timedelta(minutes=1) for t in times) for start in times)


async def everything_sent(core: Core) -> bool:
    async with core.db.session() as session:
        return (await session.exec(select(Outbox).where(col(Outbox.status) != "sent"))).first() is None


class Group:
    """A fake delivery that records what reached which chat, when (on the test clock)."""

    def __init__(self, clock: Clock) -> None:
        self.clock, self.got = clock, []

    async def deliver(self, chat_id: str, payload: dict) -> str:
        self.got.append((self.clock(), payload["text"]))
        return str(len(self.got))


async def test_200_watch_alerts_and_a_danger_one_the_danger_first_and_at_most_20_a_minute(core: Core,
                                                                                          clock: Clock) -> None:
    person = await add_person(core, "Nguyễn Văn An")
    clock.set_local(at(9))
    await queue_alerts(core, person.id, person.station_id, ["watch"] * 100 + ["danger"] + ["watch"] * 100)
    group = Group(clock)
    sender = OutboxSender(core, "telegram", group.deliver)
    for _ in range(600):
        await sender.run_once()
        if await everything_sent(core):
            break
        clock.advance(seconds=1)
    assert await everything_sent(core)
    assert group.got[0][1] == "danger 100"
    assert most_in_a_minute([when for when, _ in group.got]) <= 20
    single = [text for _, text in group.got if text.startswith("watch")]
    summed = [int(text.split()[1]) for _, text in group.got if "cảnh báo mới" in text]
    assert summed and len(single) + sum(summed) == 200  # each watch alert shown alone or counted, once
    summary = group.got[1][1]
    assert summary.startswith(f"🟠 {summed[0]} cảnh báo mới cần theo dõi: Nguyễn Văn An, ")
    assert summary.endswith(" … — gõ /canhbao để xem") and summary.count("Nguyễn Văn An") == 10


async def test_alerts_arriving_one_a_second_stay_within_the_group_s_minute(core: Core, clock: Clock) -> None:
    person = await add_person(core, "Nguyễn Văn An")
    clock.set_local(at(9))
    group = Group(clock)
    sender = OutboxSender(core, "telegram", group.deliver)
    for _ in range(40):
        await queue_alerts(core, person.id, person.station_id, ["watch"])
        await sender.run_once()
        clock.advance(seconds=1)
    for _ in range(120):
        await sender.run_once()
        clock.advance(seconds=1)
    assert await everything_sent(core)
    assert most_in_a_minute([when for when, _ in group.got]) <= 20
    single = [text for _, text in group.got if text.startswith("watch")]
    summed = [int(text.split()[1]) for _, text in group.got if "cảnh báo mới" in text]
    assert len(single) + sum(summed) == 40 and len(single) == 18
    assert {row.attempts for row in await outbox(core)} == {1}  # waiting for room is not a failed attempt


async def test_a_few_watch_alerts_go_one_by_one(core: Core, clock: Clock) -> None:
    person = await add_person(core, "Nguyễn Văn An")
    await queue_alerts(core, person.id, person.station_id, ["watch"] * 3)
    group = Group(clock)
    await OutboxSender(core, "telegram", group.deliver).run_once()
    assert [text for _, text in group.got] == ["watch 0", "watch 1", "watch 2"]
