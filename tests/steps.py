"""Helpers shared by the conversation tests: a whole check-in, and reading what the core stored."""
from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import select

from locales import t
from services.env import Core
from storage.models import Alert, Declaration, Outbox, Person
from tests.conftest import ChatDriver


def vi(key: str, **params: object) -> str:
    return t("vi", key, **params)


async def declare(chat: ChatDriver, temperature: str = "36,8", symptoms: Sequence[str] = (),
                  spo2: str | None = None, breathing: str | None = None, note: str | None = None) -> None:
    """Answer the check-in questions from the temperature on (the person is already chosen)."""
    await chat.say(temperature)
    assert chat.last[-1].text == vi("ask.symptoms"), chat.text()
    for label in symptoms:
        await chat.press(label)
    await chat.press("Xong" if symptoms else "Không có triệu chứng")
    await (chat.say(spo2) if spo2 is not None else chat.press("Không có máy đo"))
    await (chat.say(breathing) if breathing is not None else chat.press("Bỏ qua"))
    await (chat.say(note) if note is not None else chat.press("Không có"))


async def rows(core: Core, table: type, *where: object) -> list:
    async with core.db.session() as session:
        return list((await session.exec(select(table).where(*where).order_by(table.id))).all())


async def people(core: Core) -> list[Person]:
    return await rows(core, Person)


async def declarations(core: Core) -> list[Declaration]:
    return await rows(core, Declaration)


async def alerts(core: Core) -> list[Alert]:
    return await rows(core, Alert)


async def outbox(core: Core) -> list[Outbox]:
    return await rows(core, Outbox)
