"""The danger alert of words a person typed outside a check-in ("tôi khó thở quá"), sibling of raise_alert:
the person's open alert takes them (tier raised to danger, its copies edited), or a new one is posted."""
from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel.ext.asyncio.session import AsyncSession

from health.triage import DANGER
from services.alerts import destinations, open_alert_of, render_alert, update_copies
from storage.models import Alert, Person
from storage.outbox import post

if TYPE_CHECKING:
    from services.env import Core

WORDS_MAX = 1000  # Alert.words


async def raise_distress(session: AsyncSession, core: Core, person: Person, words: str) -> Alert:
    assert person.id is not None  # one of the account's stored people
    alert = await open_alert_of(session, person.id)
    if alert is not None:
        alert.words = f"{alert.words}\n{words}"[-WORDS_MAX:] if alert.words else words
        alert.tier = DANGER
        session.add(alert)
        await session.flush()
        await update_copies(session, core, alert)
        return alert
    alert = Alert(person_id=person.id, station_id=person.station_id, tier=DANGER, created_at=core.utcnow(),
                  words=words)
    session.add(alert)
    await session.flush()
    for channel, chat_id, lang in await destinations(session, core, person.station_id):
        reply = await render_alert(session, core, alert, lang)
        post(session, channel, chat_id, reply, core.utcnow(), alert_id=alert.id)
    return alert
