"""How a person reaches their station: the station's phone added to every text that says to call it, and the
person told when staff take or close their alert."""
from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chat.messages import Reply
from locales import t
from storage.models import Account, Alert, Declaration, Person, Station
from storage.outbox import post

if TYPE_CHECKING:
    from services.env import Core


def with_phone(lang: str, text: str, station: Station | None) -> str:
    """The text, and under it the station's number; the text alone while the station has none."""
    if station is None or not station.phone:
        return text
    return f"{text}\n{t(lang, 'contact.station_phone', station=station.label, phone=station.phone)}"


async def station_of_account(session: AsyncSession, account_id: int) -> Station | None:
    """The station of the people an account declares for: its own person's first."""
    query = (select(Station).join(Person, col(Person.station_id) == Station.id)
             .where(Person.account_id == account_id).order_by(col(Person.is_self).desc(), col(Person.id)))
    return (await session.exec(query)).first()


async def tell_person(session: AsyncSession, core: Core, alert: Alert, resolved: bool) -> None:
    """The account that declared hears, through the outbox, that the station took (or handled) the alert."""
    person = await session.get(Person, alert.person_id)
    station = await session.get(Station, alert.station_id)
    if person is None or station is None or person.anonymized_at is not None:
        return
    declaration = await session.get(Declaration, alert.declaration_id) if alert.declaration_id else None
    account = await session.get(Account, declaration.account_id if declaration else person.account_id)
    if account is None:
        return
    key = "alert.to_person.resolved" if resolved else "alert.to_person.acknowledged"
    text = with_phone(account.language, t(account.language, key, name=person.full_name, station=station.label),
                      station)
    post(session, account.channel, account.external_id, Reply(text), core.utcnow())
