"""Retention: a person's personal data is anonymised N days after their quarantine ends, or when their
deletion request is confirmed. What stays is what anonymous statistics need: station, category, dates,
gender, decade of birth, the declarations' values and tiers, and the alerts' tiers and times.

Gone means gone from everywhere the project writes: the person's rows, the messages about them still in the
outbox (a sent message keeps no text, only a digest to tell a changed rendering: storage.outbox.mark_sent), the
names in the audit trail and on the alerts and requests, their chat's conversation, invitation, code attempts.
SQLite zeroes what is deleted (secure_delete, storage/db.py) and `settle` empties the write-ahead log of the pages
as they were before."""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from sqlalchemy import String, cast, delete, exists, or_, text, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.attempts import WINDOW
from storage.audit import pseudonym
from storage.models import (
    UNDELIVERED,
    Account,
    Alert,
    AlertStatus,
    Attempt,
    AuditEvent,
    ConversationState,
    Declaration,
    DeletionRequest,
    HelpMessage,
    HelpRequest,
    Invitation,
    Outbox,
    OutboxStatus,
    Person,
    PersonNote,
    PersonStatus,
    ProcessedUpdate,
    RequestStatus,
)
from storage.outbox import stripped

log = logging.getLogger(__name__)

ANONYMOUS = "—"
REDELIVERY_DAYS = 7  # a channel redelivers an update within minutes, a replayed one within days: a week is plenty
SENT_KEPT_DAYS = 7  # sent messages' bookkeeping: /undelivered and the alert copies look a week back at most
SETTLE_WAIT_MS = 200  # how long the checkpoint after a purge waits for readers, holding writers back meanwhile
PSEUDONYM = re.compile(r"^[a-z]+:[\w-]+$")  # "telegram:501": an actor without a display name


async def anonymise(session: AsyncSession, person: Person, now: datetime, search_invitations: bool = True) -> None:
    """Remove everything that identifies the person; idempotent. A person still followed stops being followed.

    `search_invitations`: for one prepared for them and opened by someone else (a quarantine ended long ago needs
    none: its invitations expired long ago, and the retention purge empties those)."""
    assert person.id is not None  # read from the database
    needles = _needles(person)
    person.full_name, person.phone, person.id_number, person.address = ANONYMOUS, "", None, ""
    person.birth_year = person.birth_year // 10 * 10
    person.reviewed_by = None
    person.anonymized_at = now
    if person.status == PersonStatus.ACTIVE:
        person.status = PersonStatus.CANCELLED
    session.add(person)
    await session.exec(update(Declaration).where(col(Declaration.person_id) == person.id).values(note=None))
    alerts = list((await session.exec(select(Alert.id).where(Alert.person_id == person.id))).all())
    await _close_alerts(session, person.id, now)
    requests = list((await session.exec(select(HelpRequest.id).where(HelpRequest.person_id == person.id))).all())
    await session.exec(update(HelpRequest).where(col(HelpRequest.person_id) == person.id,
                                                 col(HelpRequest.status) != RequestStatus.DONE)
                       .values(status=RequestStatus.DONE, updated_at=now))
    await session.exec(update(HelpMessage).where(col(HelpMessage.request_id).in_(requests))
                       .values(text="", photo_id=None))
    await session.exec(update(HelpMessage).where(col(HelpMessage.request_id).in_(requests),
                                                 col(HelpMessage.staff_name).is_not(None))
                       .values(staff_name=ANONYMOUS))
    await session.exec(delete(PersonNote).where(col(PersonNote.person_id) == person.id))
    await _forget_deciders(session, person.id)
    await _forget_in_trail(session, person.id, requests, alerts)
    await _forget_in_outbox(session, alerts, needles)
    await _forget_in_invitations(session, person.station_id, needles if search_invitations else [])
    await _forget_account_if_done(session, person.account_id)


def _needles(person: Person) -> list[str]:
    """The person's values that messages and invitations carry, long enough not to match someone else's."""
    values = [person.full_name, person.phone, person.id_number or "", person.address]
    return [value for value in values if len(value) >= 6 and value != ANONYMOUS]


async def _close_alerts(session: AsyncSession, person_id: int, now: datetime) -> None:
    """Staff's names off the person's alerts (their ids stay); an alert still open is closed: nobody to call."""
    for column in (Alert.acknowledged_by, Alert.resolved_by):
        await session.exec(update(Alert).where(col(Alert.person_id) == person_id, col(column).is_not(None))
                           .values({column: ANONYMOUS}))
    await session.exec(update(Alert).where(col(Alert.person_id) == person_id,
                                           col(Alert.status) != AlertStatus.RESOLVED)
                       .values(status=AlertStatus.RESOLVED, resolved_at=now, resolved_by=ANONYMOUS))
    await session.exec(update(Alert).where(col(Alert.person_id) == person_id).values(words=None))


async def _forget_deciders(session: AsyncSession, person_id: int) -> None:
    """Who decided the person's deletion requests, as an id only (older rows kept a display name)."""
    rows = (await session.exec(select(DeletionRequest).where(DeletionRequest.person_id == person_id))).all()
    for request in rows:
        if request.decided_by is not None and not PSEUDONYM.match(request.decided_by):
            request.decided_by = ANONYMOUS
            session.add(request)


async def _forget_in_trail(session: AsyncSession, person_id: int, requests: list[int | None],
                           alerts: list[int | None]) -> None:
    """The trail about the person, their requests and alerts keeps who (an id) did what and when, not the values."""
    about = or_((col(AuditEvent.entity) == "person") & (col(AuditEvent.entity_id) == str(person_id)),
                (col(AuditEvent.entity) == "request") & col(AuditEvent.entity_id).in_([str(i) for i in requests]),
                (col(AuditEvent.entity) == "alert") & col(AuditEvent.entity_id).in_([str(i) for i in alerts]))
    for event in (await session.exec(select(AuditEvent).where(about))).all():
        event.actor = pseudonym(event.actor)
        if event.entity != "alert":  # an alert's rows hold statuses only; a request's the staff member's name
            event.before = event.after = None
        session.add(event)


async def _forget_in_outbox(session: AsyncSession, alerts: list[int | None], needles: list[str]) -> None:
    """The person's alert copies: sent ones stripped, others dropped (nobody is to act on them any more). Any other
    message not sent yet that names them (a help request's post, a staff answer, the deletion request itself)
    goes; a failed one keeps its bookkeeping for /undelivered, without the text."""
    copies = (await session.exec(select(Outbox).where(col(Outbox.alert_id).in_(alerts)))).all()
    for row in {row.id: row for row in [*copies, *await _naming(session, needles)]}.values():
        if row.status in (OutboxStatus.SENT, OutboxStatus.FAILED):
            row.payload = stripped(row.payload)
            session.add(row)
        else:
            await session.delete(row)


async def _naming(session: AsyncSession, needles: list[str]) -> list[Outbox]:
    """The rows not delivered (yet) that carry one of the values (a sent row carries none)."""
    if not needles:
        return []
    unsent = or_(text(UNDELIVERED), col(Outbox.status) == OutboxStatus.FAILED)
    query = select(Outbox).where(unsent, or_(*(_contains(cast(Outbox.payload, String), n) for n in needles)))
    return [row for row in (await session.exec(query)).all() if _names(row.payload, needles)]


def _contains(column, needle: str):
    """LIKE on the JSON text: non-ASCII letters are stored escaped (json.dumps), so the needle is written so too."""
    escaped = json.dumps(needle)[1:-1]
    pattern = escaped.replace("#", "##").replace("%", "#%").replace("_", "#_")
    return column.like(f"%{pattern}%", escape="#")


def _names(data: dict, needles: Iterable[str]) -> bool:
    """Whether the values appear in the data as whole words ("Văn An" must not match "Văn Anh")."""
    content = json.dumps(data, ensure_ascii=False)
    return any(re.search(rf"(?<!\w){re.escape(n)}(?!\w)", content) for n in needles)


async def _forget_in_invitations(session: AsyncSession, station_id: int, needles: list[str]) -> None:
    """An invitation prepared for the person (used or not) holds their name, phone, CCCD and address."""
    if not needles:
        return
    query = select(Invitation).where(Invitation.station_id == station_id,
                                     or_(*(_contains(cast(Invitation.data, String), n) for n in needles)))
    for invitation in (await session.exec(query)).all():
        if _names(invitation.data, needles):
            invitation.data = {}
            session.add(invitation)


async def _forget_account_if_done(session: AsyncSession, account_id: int) -> None:
    """Once nobody the account declared for is identifiable, its chat id goes too, with everything kept by it."""
    remaining = select(Person.id).where(Person.account_id == account_id, col(Person.anonymized_at).is_(None))
    if (await session.exec(remaining)).first() is not None:
        return
    account = await session.get(Account, account_id)
    if account is None or account.external_id.startswith("anon-"):
        return
    chat, anonymous = f"{account.channel}:{account.external_id}", f"account:{account.id}"
    await session.exec(delete(Outbox).where(col(Outbox.channel) == account.channel,
                                            col(Outbox.chat_id) == account.external_id))
    await session.exec(delete(Attempt).where(col(Attempt.subject) == chat))
    await session.exec(update(AuditEvent).where(or_(col(AuditEvent.actor) == chat,
                                                    col(AuditEvent.actor).startswith(f"{chat} (")))
                       .values(actor=anonymous))
    await session.exec(update(AuditEvent).where(col(AuditEvent.entity_id) == chat).values(entity_id=anonymous))
    await session.exec(delete(ConversationState).where(col(ConversationState.account_id) == account_id))
    await session.exec(update(Invitation).where(col(Invitation.used_by_account) == account_id).values(data={}))
    account.external_id = f"anon-{account.id}"
    account.reminder_times = None
    account.unreachable_reason = None
    session.add(account)


async def purge_expired(session: AsyncSession, today: date, retention_days: int, now: datetime) -> int:
    """The daily purge: the tables that only grow pruned, then every completed quarantine that ended more than
    `retention_days` ago anonymised; how many people were. (On SQLite, `settle` once committed.)"""
    await prune(session, now, retention_days)
    cutoff = today - timedelta(days=retention_days)
    query = select(Person).where(Person.status == PersonStatus.COMPLETED, Person.end_date < cutoff,
                                 col(Person.anonymized_at).is_(None))
    people = (await session.exec(query)).all()
    for person in people:
        await anonymise(session, person, now, search_invitations=False)
    expired = now - timedelta(days=retention_days)
    # unused invitations hold names and phones too: emptied once expired for as long
    await session.exec(update(Invitation).where(col(Invitation.used_at).is_(None), col(Invitation.expires_at) < expired)
                       .values(data={}))
    # a conversation left that long (a registration typed half-way, an invitation opened) holds what was typed
    await session.exec(delete(ConversationState).where(col(ConversationState.updated_at) < expired))
    return len(people)


async def prune(session: AsyncSession, now: datetime, retention_days: int) -> int:
    """The daily sweep of the tables that only grow; how many rows went."""
    sent_before = now - timedelta(days=SENT_KEPT_DAYS)
    unresolved = exists().where(col(Alert.id) == Outbox.alert_id, col(Alert.status) != AlertStatus.RESOLVED)
    statements = [
        delete(ProcessedUpdate).where(col(ProcessedUpdate.at) < now - timedelta(days=REDELIVERY_DAYS)),
        delete(Attempt).where(col(Attempt.at) < now - WINDOW),
        delete(AuditEvent).where(col(AuditEvent.action) == "access.refused",
                                 col(AuditEvent.at) < now - timedelta(days=retention_days)),
        # an unresolved alert's copies are edited when it is taken: kept while it is open
        delete(Outbox).where(col(Outbox.status) == OutboxStatus.SENT, col(Outbox.sent_at) < sent_before, ~unresolved),
        # a message that could never be delivered still names its person: kept for the retention period only
        delete(Outbox).where(col(Outbox.status) == OutboxStatus.FAILED,
                             col(Outbox.created_at) < now - timedelta(days=retention_days)),
    ]
    return sum([(await session.exec(statement)).rowcount for statement in statements])


async def settle(engine: AsyncEngine) -> None:
    """After a purge, on SQLite: the write-ahead log holds the pages as they were before (with the data); a
    checkpoint copies them into the file (zeroed there by secure_delete) and truncates the log. It waits for
    readers holding the write lock, so briefly (people checking in must not stall): a reader still on an old
    snapshot keeps the log until the next purge or erasure, which try again."""
    if engine.dialect.name != "sqlite":
        return
    async with engine.connect() as connection:
        patience = (await connection.exec_driver_sql("PRAGMA busy_timeout")).one()[0]
        await connection.exec_driver_sql(f"PRAGMA busy_timeout={SETTLE_WAIT_MS}")
        try:
            busy = (await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")).one()[0]
        finally:
            await connection.exec_driver_sql(f"PRAGMA busy_timeout={int(patience)}")
    if busy:
        log.info("purge: the write-ahead log could not be truncated yet (a reader is on it); the next purge will")
