"""The audit trail: every change to a person, alert, request, role or binding, and every refused attempt."""
from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import AuditEvent


def pseudonym(actor: str) -> str:
    """'telegram:501 (Lan)' -> 'telegram:501': the trail names who acted by an id, never by a display name."""
    return actor.split(" (", 1)[0]


def record(session: AsyncSession, actor: str, action: str, entity: str, entity_id: object = None,
           before: dict | None = None, after: dict | None = None, at: datetime | None = None) -> AuditEvent:
    """Add an audit event in the caller's transaction, so it exists exactly when the change does."""
    event = AuditEvent(actor=pseudonym(actor), action=action, entity=entity,
                       entity_id=None if entity_id is None else str(entity_id), before=before, after=after)
    if at is not None:
        event.at = at
    session.add(event)
    return event


async def history(session: AsyncSession, entity: str, entity_id: object) -> list[AuditEvent]:
    query = (select(AuditEvent).where(AuditEvent.entity == entity, AuditEvent.entity_id == str(entity_id))
             .order_by(col(AuditEvent.at), col(AuditEvent.id)))
    return list((await session.exec(query)).all())
