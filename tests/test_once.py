"""Once only: an update delivered twice acts once; claims and inserts decided by the database."""
from __future__ import annotations

from sqlmodel import func, select

from conversations.messages import Incoming
from storage.models import Account, ProcessedUpdate


def update(text: str, update_id: str) -> Incoming:
    return Incoming("telegram", "100", "100", text=text, update_id=update_id, language_code="vi")


async def count(core, model) -> int:
    async with core.db.session() as session:
        return (await session.exec(select(func.count()).select_from(model))).one()


async def test_an_update_delivered_twice_is_handled_once(core):
    first = await core.handle(update("/start", "501"))
    again = await core.handle(update("/start", "501"))
    assert first and again == []
    assert await count(core, ProcessedUpdate) == 1 and await count(core, Account) == 1


async def test_different_updates_are_all_handled(core):
    assert await core.handle(update("/start", "601"))
    assert await core.handle(update("/trogiup", "602"))
    assert await count(core, ProcessedUpdate) == 2


async def test_a_failed_update_is_not_marked_processed_so_a_retry_handles_it(core, monkeypatch):
    import handlers.dispatch as dispatch

    async def broken(ctx):
        raise RuntimeError("database went away")

    monkeypatch.setattr(dispatch, "dispatch", broken)
    replies = await core.handle(update("/start", "701"))
    assert "lỗi" in replies[0].text  # the person is told, not left in silence
    monkeypatch.undo()
    assert await count(core, ProcessedUpdate) == 0
    assert await core.handle(update("/start", "701"))  # the redelivery is handled
