"""Retention: a person's personal data is anonymised N days after their quarantine ends, or when their
deletion request is confirmed. What stays is what anonymous statistics need: station, category, dates,
gender, decade of birth, the declarations' values and tiers, and the alerts' tiers and times."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import (
    Account,
    Alert,
    AuditEvent,
    ConversationState,
    Declaration,
    HelpMessage,
    HelpRequest,
    Invitation,
    Person,
    PersonNote,
    PersonStatus,
)

ANONYMOUS = "—"


async def anonymise(session: AsyncSession, person: Person, now: datetime) -> None:
    """Remove everything that identifies the person; idempotent."""
    person.full_name, person.phone, person.id_number, person.address = ANONYMOUS, "", None, ""
    person.birth_year = person.birth_year // 10 * 10
    person.reviewed_by = None
    person.anonymized_at = now
    session.add(person)
    await session.exec(update(Declaration).where(col(Declaration.person_id) == person.id).values(note=None))
    await session.exec(update(Alert).where(col(Alert.person_id) == person.id).values(words=None))
    requests = select(HelpRequest.id).where(HelpRequest.person_id == person.id)
    await session.exec(update(HelpMessage).where(col(HelpMessage.request_id).in_(requests))
                       .values(text="", photo_id=None))
    await session.exec(delete(PersonNote).where(col(PersonNote.person_id) == person.id))
    await session.exec(update(AuditEvent).where(col(AuditEvent.entity) == "person",
                                                col(AuditEvent.entity_id) == str(person.id))
                       .values(before=None, after=None))  # the trail keeps who did what and when
    await _forget_account_if_done(session, person.account_id)


async def _forget_account_if_done(session: AsyncSession, account_id: int) -> None:
    """Once nobody the account declared for is identifiable, its chat id goes too."""
    remaining = select(Person.id).where(Person.account_id == account_id, col(Person.anonymized_at).is_(None))
    if (await session.exec(remaining)).first() is not None:
        return
    account = await session.get(Account, account_id)
    if account is not None and not account.external_id.startswith("anon-"):
        account.external_id = f"anon-{account.id}"
        account.reminder_times = None
        session.add(account)
        await session.exec(delete(ConversationState).where(col(ConversationState.account_id) == account_id))
        await session.exec(update(Invitation).where(col(Invitation.used_by_account) == account_id)
                           .values(data={}))


async def purge_expired(session: AsyncSession, today: date, retention_days: int, now: datetime) -> int:
    """Anonymise every completed quarantine that ended more than `retention_days` ago."""
    cutoff = today - timedelta(days=retention_days)
    query = select(Person).where(Person.status == PersonStatus.COMPLETED, Person.end_date < cutoff,
                                 col(Person.anonymized_at).is_(None))
    people = (await session.exec(query)).all()
    for person in people:
        await anonymise(session, person, now)
    # unused invitations hold names and phones too: emptied once expired for as long
    await session.exec(update(Invitation).where(col(Invitation.used_at).is_(None),
                                                col(Invitation.expires_at) < now - timedelta(days=retention_days))
                       .values(data={}))
    return len(people)
