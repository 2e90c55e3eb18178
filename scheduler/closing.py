"""End of quarantine: on the last day the person gets the closing advice and the record is completed."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chat.messages import Reply
from locales import t
from services.contact import with_phone
from services.env import Core
from storage.claims import CLOSING, claim
from storage.models import Account, Person, PersonStatus, Station
from storage.outbox import post


async def closing_round(session: AsyncSession, core: Core, now: datetime) -> int:
    """Close every quarantine whose end date (as it stands now, extended or not) has come.

    On the end date itself that is from the closing time on; a quarantine whose end passed while the
    bot was down is closed at once. The conditional UPDATE makes each closing happen once.
    """
    ending = Person.end_date < now.date()
    if now.time() >= core.rules.schedule.closing_time:
        ending = Person.end_date <= now.date()
    query = (select(Person, Account).join(Account, col(Account.id) == Person.account_id)
             .where(Person.status == PersonStatus.ACTIVE, ending))
    closed = 0
    for person, account in (await session.exec(query)).all():
        result = await session.exec(update(Person)
                                    .where(col(Person.id) == person.id, col(Person.status) == PersonStatus.ACTIVE)
                                    .values(status=PersonStatus.COMPLETED))
        if result.rowcount != 1:
            continue
        await claim(session, CLOSING, f"person:{person.id}", now.date(), core.utcnow())  # for the report
        text = with_phone(account.language, t(account.language, "closing.message", name=person.full_name,
                                              days=core.rules.self_monitoring_days),
                          await session.get(Station, person.station_id))
        post(session, account.channel, account.external_id, Reply(text), core.utcnow())
        closed += 1
    return closed
