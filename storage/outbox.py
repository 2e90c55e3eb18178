"""The outbox: messages that must not be lost, delivered by a sender that claims rows with a lease."""
from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, String, insert, literal, or_, text, update
from sqlalchemy import select as core_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from chat.messages import Reply
from health.triage import DANGER
from storage.bulk import field, json_rows
from storage.models import UNDELIVERED, Alert, AlertStatus, Outbox, OutboxStatus, Person

FORGET_CHAT = "forget_chat"  # in a payload: mark_sent forgets the row's chat (see forget_chat_once_sent)
QUEUED = "outbox_queued"  # in session.info: this transaction queued messages (the sender is woken after commit)


def enqueue(session: AsyncSession, channel: str, chat_id: str, payload: dict, alert_id: int | None = None,
            now: datetime | None = None) -> Outbox:
    """Add a message to the outbox, in the caller's transaction."""
    row = Outbox(channel=channel, chat_id=chat_id, payload=payload, alert_id=alert_id)
    if now is not None:
        row.created_at = row.next_attempt_at = now
    session.add(row)
    session.info[QUEUED] = True
    return row


def post(session: AsyncSession, channel: str, chat_id: str, reply: Reply, now: datetime,
         alert_id: int | None = None) -> Outbox:
    """A Reply to a chat through the outbox, in the caller's transaction: sent even if nobody is chatting."""
    return enqueue(session, channel, chat_id, reply.to_payload(), alert_id=alert_id, now=now)


async def enqueue_many(session: AsyncSession, channel: str, messages: list[tuple[str, dict]], now: datetime) -> None:
    """Add many (chat_id, payload) messages in one statement, in the caller's transaction: a reminder round
    queues thousands, and per-row parameters (or ORM objects) cost more than the round's queries."""
    if not messages:
        return
    table = Outbox.__table__  # type: ignore[attr-defined]  # SQLModel's types omit the __table__ of table models
    rows = json_rows(session, [[chat_id, payload] for chat_id, payload in messages])
    at = literal(now, table.c.created_at.type)
    source = core_select(literal(channel, String), field(session, rows, 0), field(session, rows, 1, as_json=True),
                    literal(OutboxStatus.PENDING, String), literal(0), at, at)
    await session.exec(insert(table).from_select(
        ["channel", "chat_id", "payload", "status", "attempts", "created_at", "next_attempt_at"], source))
    session.info[QUEUED] = True


# No sender times a row or holds a lease this far ahead (delivery/sender.py: a backoff of 5 minutes at most, a
# lease of 2, a group's full minute): a row due or leased later than that was timed by a clock that has stepped
# back since (NTP correcting a fast clock, a VM restored). It is due now, or it would stall for as long as the step.
FAR_AHEAD = timedelta(minutes=10)


def _far_ahead(now: datetime, lease: timedelta) -> datetime:
    return now + max(FAR_AHEAD, 2 * lease)


def _claimable(now: datetime, lease: timedelta) -> ColumnElement[bool]:
    """Pending rows, or rows whose sender's lease ran out (it died or hung), or was taken before the clock
    stepped back: those come back."""
    lease_over = or_(col(Outbox.lease_until) < now, col(Outbox.lease_until) > _far_ahead(now, lease))
    leased_out = (col(Outbox.status) == OutboxStatus.SENDING) & lease_over
    return or_(col(Outbox.status) == OutboxStatus.PENDING, leased_out)


async def _bring_forward(session: AsyncSession, channel: str, now: datetime, lease: timedelta) -> None:
    """Rows timed before the clock stepped back (see FAR_AHEAD) are due now. Retimed rather than matched by an OR
    in the claim's WHERE: that would walk every row not due yet, each round, under SQLite's write lock; this is
    the index's range beyond the horizon, empty but for a clock that stepped back."""
    await session.exec(update(Outbox).where(col(Outbox.channel) == channel, text(UNDELIVERED),  # the index's condition
                                            col(Outbox.next_attempt_at) > _far_ahead(now, lease))
                       .values(next_attempt_at=now))


async def claim_due(session: AsyncSession, channel: str, now: datetime, limit: int,
                    lease: timedelta) -> list[Outbox]:
    """Claim up to `limit` due rows of a channel: pending ones, or ones whose sender's lease ran out; the copies
    of open danger alerts first, then by id.

    Two senders on one database never take the same row. On PostgreSQL the due rows are locked with
    SELECT ... FOR UPDATE SKIP LOCKED: concurrent senders each take other rows at once, without waiting on
    each other's locks. On SQLite, whose one writer needs no row locks, one UPDATE takes them. The claim
    holds until `now + lease`; the caller's transaction must commit it. Rows timed or leased far ahead of `now`,
    by a clock that has stepped back since, are due too (FAR_AHEAD).
    """
    due = (select(col(Outbox.id))  # UNDELIVERED, literally: the condition of the index the query then uses
           .where(Outbox.channel == channel, Outbox.next_attempt_at <= now, text(UNDELIVERED), _claimable(now, lease))
           .order_by(col(Outbox.next_attempt_at), col(Outbox.id)))
    await _bring_forward(session, channel, now, lease)
    take = _claim_skipping_locked if session.get_bind().dialect.name == "postgresql" else _claim_in_one_update
    # Copies of open danger alerts first, whatever is queued before them (a flood of watch alerts, a round):
    # a few rows, found from the open alerts.
    danger = select(Alert.id).where(Alert.tier == DANGER, Alert.status == AlertStatus.OPEN)
    urgent = await take(session, due.where(col(Outbox.alert_id).in_(danger)).limit(limit), now, lease)
    claimed = urgent + (await take(session, due.limit(limit - len(urgent)), now, lease) if len(urgent) < limit else [])
    if not claimed:
        return []
    rows = await session.exec(select(Outbox).where(col(Outbox.id).in_(claimed)).order_by(col(Outbox.id))
                              .execution_options(populate_existing=True))
    first = set(urgent)
    return sorted(rows.all(), key=lambda row: row.id not in first)  # stable: by id within each


def _take(now: datetime, lease: timedelta) -> dict:
    return {"status": OutboxStatus.SENDING, "lease_until": now + lease, "attempts": Outbox.attempts + 1}


async def _claim_skipping_locked(session: AsyncSession, due: SelectOfScalar[int | None], now: datetime,
                                 lease: timedelta) -> list[int | None]:
    """PostgreSQL: lock the due rows no other transaction holds, and take them all in one UPDATE. The locks
    last until the caller commits; by then the rows are `sending`, so no later query finds them due."""
    ids = list((await session.exec(due.with_for_update(skip_locked=True))).all())
    if ids:
        await session.exec(update(Outbox).where(col(Outbox.id).in_(ids)).values(**_take(now, lease)))
    return ids


async def _claim_in_one_update(session: AsyncSession, due: SelectOfScalar[int | None], now: datetime,
                              lease: timedelta) -> list[int | None]:
    """SQLite: one UPDATE takes the due rows; SQLite's one writer lets no other sender in between. (An UPDATE
    per row held the write lock, which people's check-ins wait for, 250 ms per 100 rows.)"""
    if sqlite3.sqlite_version_info < (3, 35):  # no RETURNING before SQLite 3.35: row by row
        return [row_id for row_id in (await session.exec(due)).all()
                if (await session.exec(update(Outbox).where(col(Outbox.id) == row_id, _claimable(now, lease))
                                       .values(**_take(now, lease)))).rowcount == 1]
    taken = update(Outbox).where(col(Outbox.id).in_(due)).values(**_take(now, lease)).returning(col(Outbox.id))
    return list((await session.exec(taken)).scalars().all())


async def mark_sent(session: AsyncSession, row_id: int, message_id: str | None, now: datetime) -> None:
    """Delivered: the row keeps its bookkeeping, never the text (names, phones, symptoms were in it); a row marked
    so (the last message to an erased account) forgets its chat too."""
    payload = dict((await session.exec(select(Outbox.payload).where(Outbox.id == row_id))).first() or {})
    forget = {"chat_id": ""} if payload.get(FORGET_CHAT) else {}
    await session.exec(update(Outbox).where(col(Outbox.id) == row_id)
                       .values(status=OutboxStatus.SENT, sent_message_id=message_id, sent_at=now, lease_until=None,
                               last_error=None, payload=stripped(payload), **forget))


async def mark_retry(session: AsyncSession, row_id: int, error: str, at: datetime) -> None:
    await session.exec(update(Outbox).where(col(Outbox.id) == row_id)
                       .values(status=OutboxStatus.PENDING, next_attempt_at=at, lease_until=None,
                               last_error=error[:500]))


async def mark_failed(session: AsyncSession, row_id: int, error: str) -> None:
    await session.exec(update(Outbox).where(col(Outbox.id) == row_id)
                       .values(status=OutboxStatus.FAILED, lease_until=None, last_error=error[:500]))


async def sent_copies(session: AsyncSession, alert_id: int) -> list[Outbox]:
    """Where an alert was posted, to edit every copy when someone takes it."""
    query = select(Outbox).where(Outbox.alert_id == alert_id, Outbox.status == OutboxStatus.SENT)
    return list((await session.exec(query)).all())


async def postpone(session: AsyncSession, row_ids: list[int], at: datetime) -> None:
    """Claimed rows put back untried, due at `at` (a group's minute is full): the claim's attempt is undone."""
    if row_ids:
        await session.exec(update(Outbox).where(col(Outbox.id).in_(row_ids))
                           .values(status=OutboxStatus.PENDING, next_attempt_at=at, lease_until=None,
                                   attempts=Outbox.attempts - 1))


async def alert_tiers(session: AsyncSession, alert_ids: list[int]) -> dict[int, tuple[str, str]]:
    """The tier and the person's name of these alerts, by id (the sender coalesces watch alerts in a flood)."""
    if not alert_ids:
        return {}
    rows = await session.exec(select(Alert.id, Alert.tier, Person.full_name)
                              .join(Person, col(Person.id) == Alert.person_id).where(col(Alert.id).in_(set(alert_ids))))
    return {alert_id: (tier, name) for alert_id, tier, name in rows.all() if alert_id is not None}


def forget_chat_once_sent(row: Outbox) -> None:
    """The chat of this queued message is known nowhere else any more: once delivered, the row forgets it."""
    row.payload = {**row.payload, FORGET_CHAT: True}


def stripped(payload: dict) -> dict:
    """What a sent message's row keeps: its buttons' data (generic labels and ids: help requests find their posts by
    them), the message it edited, and a digest of the content, to tell an unchanged rendering from a new one."""
    kept: dict = {"text": "", "buttons": payload.get("buttons", []), "digest": digest(payload)}
    if payload.get("edit_id"):
        kept["edit_id"] = payload["edit_id"]
    return kept


def digest(payload: dict) -> str:
    """Of the content only (not the message it edits); a stripped payload keeps its own."""
    if "digest" in payload:
        return str(payload["digest"])
    content = {k: v for k, v in payload.items() if k != "edit_id"}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:32]


def same_content(row: Outbox, payload: dict) -> bool:
    """Does the row (sent and stripped, or not yet sent) carry this content?"""
    return digest(row.payload) == digest(payload)
