"""Helpers shared by the conversation tests: a whole check-in, a dependent, a registration at a time, and reading
what the core stored."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import select

from locales import t
from services.env import Core
from storage.models import Alert, Declaration, Outbox, Person
from tests.conftest import ChatDriver, Clock, register


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
    if spo2 is not None and vi("ask.spo2_again", value=spo2.strip()) in chat.text():
        await chat.say(spo2)  # a low SpO2 alone is measured again (261/QĐ-BYT): the same reading, confirmed
    await (chat.say(breathing) if breathing is not None else chat.press("Bỏ qua"))
    await (chat.say(note) if note is not None else chat.press("Không có"))
    assert "Đúng chưa?" in chat.text(), chat.text()  # the recap of what was recorded, before it is saved
    await chat.press("Đúng")


async def checkin(chat: ChatDriver, who: str | None = None) -> None:
    """/khaibao to the end, for `who` when the account declares for several people."""
    await chat.say("/khaibao")
    if who is not None:
        await chat.press(who)
    await declare(chat)
    assert "Đã ghi nhận" in chat.text(), chat.text()


async def add_dependent(chat: ChatDriver, name: str = "Trần Thị Bình", year: str = "1950",
                        gender: str = "Nữ", category: str = "F1") -> None:
    """/nguoithan to the end: a household member the registered person declares for."""
    await chat.say("/nguoithan")
    assert chat.text() == vi("ask.name.other"), chat.text()
    await chat.say(name)
    await chat.say(year)
    await chat.press(gender)
    await chat.press(category)
    await chat.press("Hôm nay")
    assert chat.text().startswith(vi("household.summary_title")), chat.text()
    await chat.press("Xác nhận")
    assert name in chat.text(), chat.text()


async def register_at(core: Core, clock: Clock, user: str, name: str, moment: datetime,
                      phone: str = "0912 345 678") -> ChatDriver:
    """A person registering at that local time; their chat."""
    clock.set_local(moment)
    chat = ChatDriver(core, user)
    await register(chat, name=name, phone=phone)
    return chat


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
