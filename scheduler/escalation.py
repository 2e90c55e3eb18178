"""Alerts nobody lets lie: one nobody took in time goes up to the province, one nobody received is told.

Like the other sweeps, each step is taken once per alert with a conditional UPDATE of its moment
(alert.escalated_at, alert.undelivered_warned_at) in the transaction that queues its messages: a restart, or
two processes on one database, never do it twice.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chat.messages import Reply
from locales import t
from services.alerts import GROUP_LANGUAGE, render_alert
from services.env import Core
from storage.audit import record
from storage.models import Account, Alert, AlertStatus, GroupBinding, Outbox, OutboxStatus, Person
from storage.outbox import post
from storage.stations import bound_chats

log = logging.getLogger(__name__)
ACTOR = "scheduler"
SILENT = "silent"  # missed-days alerts ask for a phone call today: the station's own work, neither escalated
# nor warned of (their copies are retried all the same while they are open)
Chat = tuple[str, str, str]  # channel, chat id, language
REMINDER_NAMES = 30  # names in the station's reminder (a flood of alerts makes one message, not hundreds)


async def escalation_round(session: AsyncSession, core: Core, now: datetime) -> int:
    """Escalate the alerts nobody took in time, then warn of those no copy of which was delivered."""
    sent = await _escalate_due(session, core)
    await session.commit()
    return sent + await _warn_undelivered(session, core)


async def _escalate_due(session: AsyncSession, core: Core) -> int:
    minutes = core.rules.schedule.escalate_after_minutes
    due = (select(Alert).where(Alert.status == AlertStatus.OPEN, col(Alert.escalated_at).is_(None),
                               Alert.tier != SILENT, Alert.created_at <= core.utcnow() - timedelta(minutes=minutes))
           .order_by(col(Alert.id)))
    sent = 0
    names: dict[int, list[str]] = defaultdict(list)  # by station: whom its group is reminded of
    for alert in (await session.exec(due)).all():
        if not await _take(session, alert, Alert.escalated_at, core.utcnow()):
            continue  # taken meanwhile, or escalated by another process
        province = await _province_chats(session)
        targets = province or await admin_chats(session, core)
        if core.staff_console is not None:
            targets.append((*core.staff_console, GROUP_LANGUAGE))
        sent += await _post_copies(session, core, alert, await _without_copies(session, alert, targets))
        person = await session.get(Person, alert.person_id)
        assert person is not None  # the alert's foreign key
        names[alert.station_id].append(person.full_name)
        record(session, ACTOR, "alert.escalate", "alert", alert.id, before={"escalated_at": None},
               after={"to": "province" if province else "admins", "minutes": minutes}, at=core.utcnow())
        log.info("alert %s escalated to the %s after %s minutes", alert.id, "province" if province else "admins",
                 minutes)
    for station_id, people in names.items():  # each station reminded once, in one message however many
        listed = ", ".join(people[:REMINDER_NAMES]) + (" …" if len(people) > REMINDER_NAMES else "")
        # the chats that got the alert: the station's groups, or the admins when it has none
        groups = [(b.channel, b.chat_id) for b in await bound_chats(session, station_id)] or list(core.admin_chats)
        if core.staff_console is not None and core.staff_console not in groups:
            groups.append(core.staff_console)  # the sandbox's terminal stands for the station's group
        for channel, chat_id in groups:
            post(session, channel, chat_id,
                 Reply(t(GROUP_LANGUAGE, "escalation.reminder", minutes=minutes, name=listed)), core.utcnow())
            sent += 1
    return sent  # committed by the caller with the escalations: a reminder exists exactly when they do


async def _warn_undelivered(session: AsyncSession, core: Core) -> int:
    """Open alerts none of whose copies reached a chat within the time: the admins and the sandbox console are
    told in another message (another chat), with the alert and its buttons."""
    delivered = exists().where(col(Outbox.alert_id) == Alert.id, col(Outbox.status) == OutboxStatus.SENT)
    minutes = core.rules.schedule.undelivered_warn_minutes
    due = (select(Alert).where(Alert.status == AlertStatus.OPEN, col(Alert.undelivered_warned_at).is_(None),
                               Alert.tier != SILENT,
                               Alert.created_at <= core.utcnow() - timedelta(minutes=minutes), ~delivered)
           .order_by(col(Alert.id)))
    sent = 0
    for alert in (await session.exec(due)).all():
        if not await _take(session, alert, Alert.undelivered_warned_at, core.utcnow()):
            continue
        targets = await admin_chats(session, core)
        if core.staff_console is not None and core.staff_console not in [(c, i) for c, i, _ in targets]:
            targets.append((*core.staff_console, GROUP_LANGUAGE))
        if not targets:
            log.error("alert %s undelivered for %s minutes and there are no admins to tell", alert.id, minutes)
        for channel, chat_id, lang in targets:
            rendered = await render_alert(session, core, alert, lang)
            warning = t(lang, "escalation.undelivered", minutes=minutes)
            post(session, channel, chat_id, Reply(f"{warning}\n\n{rendered.text}", rendered.buttons), core.utcnow(),
                 alert_id=alert.id)
            sent += 1
        record(session, ACTOR, "alert.undelivered_warning", "alert", alert.id, after={"minutes": minutes},
               at=core.utcnow())
        log.warning("alert %s: no copy delivered after %s minutes; the admins are told", alert.id, minutes)
        await session.commit()
    return sent


async def _take(session: AsyncSession, alert: Alert, moment: Any, now: datetime) -> bool:
    """Set the alert's moment if it is still open and unset: of two processes, one wins."""
    result = await session.exec(update(Alert).where(col(Alert.id) == alert.id, col(Alert.status) == AlertStatus.OPEN,
                                                    col(moment).is_(None))
                                .values({moment: now}))
    if result.rowcount != 1:
        return False
    await session.refresh(alert)
    return True


async def _province_chats(session: AsyncSession) -> list[Chat]:
    query = select(GroupBinding).where(col(GroupBinding.station_id).is_(None)).order_by(col(GroupBinding.id))
    return [(b.channel, b.chat_id, GROUP_LANGUAGE) for b in (await session.exec(query)).all()]


async def admin_chats(session: AsyncSession, core: Core) -> list[Chat]:
    """The admins' private chats, each in the language of their account."""
    chats = []
    for channel, chat_id in core.admin_chats:
        account = (await session.exec(select(Account).where(
            Account.channel == channel, Account.external_id == chat_id))).first()
        chats.append((channel, chat_id, account.language if account else GROUP_LANGUAGE))
    return chats


async def _without_copies(session: AsyncSession, alert: Alert, chats: list[Chat]) -> list[Chat]:
    """The chats that do not hold a copy of the alert yet (a station without a group: the admins do)."""
    held = {(row.channel, row.chat_id) for row in (await session.exec(
        select(Outbox).where(Outbox.alert_id == alert.id))).all()}
    unique = list(dict.fromkeys(chats))
    return [c for c in unique if (c[0], c[1]) not in held]


async def _post_copies(session: AsyncSession, core: Core, alert: Alert, chats: list[Chat]) -> int:
    for channel, chat_id, lang in chats:
        post(session, channel, chat_id, await render_alert(session, core, alert, lang), core.utcnow(),
             alert_id=alert.id)
    return len(chats)
