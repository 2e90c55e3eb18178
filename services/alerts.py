"""Alerts to the station: created with the declaration, posted through the outbox, taken with a button."""
from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import TYPE_CHECKING, Final

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chat.messages import Button, Reply
from chat.payloads import AlertPress
from chat.text import one_line
from health.triage import DANGER, NORMAL, WATCH, in_alert_order
from locales import number, t
from storage.models import Account, Alert, AlertStatus, Declaration, Outbox, OutboxStatus, Person, Station
from storage.outbox import post, same_content
from storage.stations import bound_chats

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from services.env import Core

ACK: Final = "ack"
RESOLVE: Final = "done"
GROUP_LANGUAGE = "vi"  # station groups read Vietnamese


RANK = {NORMAL: 0, WATCH: 1, DANGER: 2}


async def raise_alert(session: AsyncSession, core: Core, person: Person, declaration: Declaration) -> Alert:
    """Store the alert and queue it for the station's groups (or the admins) in the same transaction.

    One case per person: the alert of this declaration (raised at its first danger answer), or else the
    person's open alert, is updated instead (tier raised if need be, its copies edited), never doubled."""
    assert person.id is not None  # the person declared, so is stored
    alert = await alert_of(session, declaration) or await open_alert_of(session, person.id)
    if alert is not None:
        alert.declaration_id = declaration.id
        alert.tier = max(alert.tier, declaration.tier, key=lambda tier: RANK.get(tier, 0))
        session.add(alert)
        await session.flush()
        await update_copies(session, core, alert)
        return alert
    alert = Alert(person_id=person.id, station_id=person.station_id, declaration_id=declaration.id,
                  tier=declaration.tier, created_at=declaration.declared_at)
    session.add(alert)
    await session.flush()
    chats = await destinations(session, core, person.station_id)
    if not chats:  # stored all the same: visible to staff once the station has a group or an admin
        log.warning("alert %s of station %s has no group and there are no admins to send it to",
                    alert.id, person.station_id)
    for channel, chat_id, lang in chats:
        reply = await render_alert(session, core, alert, lang)
        post(session, channel, chat_id, reply, core.utcnow(), alert_id=alert.id)
    return alert


async def alert_of(session: AsyncSession, declaration: Declaration) -> Alert | None:
    if declaration.id is None:
        return None
    return (await session.exec(select(Alert).where(Alert.declaration_id == declaration.id)
                               .order_by(col(Alert.id).desc()))).first()


async def open_alert_of(session: AsyncSession, person_id: int) -> Alert | None:
    """The person's alert about their declarations that staff have not closed yet (silent ones are another case)."""
    query = (select(Alert).where(Alert.person_id == person_id, col(Alert.status) != AlertStatus.RESOLVED,
                                 col(Alert.tier).in_([DANGER, WATCH])).order_by(col(Alert.id).desc()))
    return (await session.exec(query)).first()


async def update_copies(session: AsyncSession, core: Core, alert: Alert) -> int:
    """Show the alert as it is now in every chat it went to: a copy or an edit not sent yet is rewritten, a sent
    copy edited through the outbox. (A copy being sent at this moment keeps its text until the next update.)"""
    assert alert.id is not None  # stored
    rows = (await session.exec(select(Outbox).where(Outbox.alert_id == alert.id).order_by(col(Outbox.id)))).all()
    langs = {(channel, chat_id): lang for channel, chat_id, lang in await destinations(session, core, alert.station_id)}
    latest: dict[tuple[str, str, str], Outbox] = {}  # each sent message -> the row of its latest text
    edits = 0
    for row in rows:
        message_id = row.payload.get("edit_id") or row.sent_message_id
        if message_id and (row.payload.get("edit_id") or row.status == OutboxStatus.SENT):
            latest[(row.channel, row.chat_id, message_id)] = row
        elif row.status == OutboxStatus.PENDING:
            row.payload = (await render_alert(session, core, alert, langs.get((row.channel, row.chat_id),
                                                                               GROUP_LANGUAGE))).to_payload()
            session.add(row)
    for (channel, chat_id, message_id), row in latest.items():
        reply = await render_alert(session, core, alert, langs.get((channel, chat_id), GROUP_LANGUAGE))
        reply.edit_id = message_id
        if row.payload.get("edit_id") and row.status == OutboxStatus.PENDING:  # an edit still to send: rewritten
            row.payload = reply.to_payload()
            session.add(row)
        elif not same_content(row, reply.to_payload()):  # unchanged: no edit (20 a minute)
            post(session, channel, chat_id, reply, core.utcnow(), alert_id=alert.id)
            edits += 1
    return edits


async def destinations(session: AsyncSession, core: Core, station_id: int) -> list[tuple[str, str, str]]:
    """The station's bound groups; with none, the admins in private. Plus the sandbox console, if any."""
    chats = [(b.channel, b.chat_id, GROUP_LANGUAGE) for b in await bound_chats(session, station_id)]
    if not chats:
        for channel, chat_id in core.admin_chats:
            account = (await session.exec(select(Account).where(
                Account.channel == channel, Account.external_id == chat_id))).first()
            chats.append((channel, chat_id, account.language if account else GROUP_LANGUAGE))
    if core.staff_console is not None and core.staff_console not in [(c, i) for c, i, _ in chats]:
        chats.append((*core.staff_console, GROUP_LANGUAGE))
    return chats


async def render_alert(session: AsyncSession, core: Core, alert: Alert, lang: str) -> Reply:
    person = await session.get(Person, alert.person_id)
    station = await session.get(Station, alert.station_id)
    declaration = await session.get(Declaration, alert.declaration_id) if alert.declaration_id else None
    assert person is not None and station is not None  # the alert's foreign keys
    local = core.to_local
    lines = [
        t(lang, f"alert.title.{alert.tier}"),
        t(lang, "alert.person", name=person.full_name, age=core.today().year - person.birth_year,
          gender=t(lang, f"gender.{person.gender}")),
        t(lang, "alert.phone", phone=person.phone),
        t(lang, "alert.address", address=one_line(person.address), station=station.label),
        t(lang, "alert.category", category=t(lang, f"category.{person.category}"),
          end=person.end_date.strftime("%d/%m/%Y")),
    ]
    if alert.words:  # services/distress.py: danger words typed outside a check-in
        # one message a line in storage; shown joined, so that no line of theirs looks like the post's own
        lines.append(t(lang, "alert.words", words=" / ".join(one_line(w) for w in alert.words.splitlines())))
    if declaration is not None:
        lines.append(t(lang, "alert.reasons", reasons="; ".join(reason_texts(core, lang, declaration.reasons))))
        lines.append(t(lang, "alert.values", temperature=number(lang, declaration.temperature),
                       spo2=declaration.spo2 if declaration.spo2 is not None else "—",
                       breathing=declaration.breathing_rate if declaration.breathing_rate is not None else "—"))
        if declaration.note:
            lines.append(t(lang, "alert.note", note=one_line(declaration.note)))
        if declaration.partial:  # the person stopped (or is still) before the last question
            lines.append(t(lang, "alert.partial"))
        lines.append(t(lang, "alert.declared_at", at=local(declaration.declared_at).strftime("%H:%M %d/%m/%Y")))
        lines += await earlier_lines(session, core, lang, alert, declaration)
        if not person.is_self:
            lines.append(t(lang, "alert.by_household"))
    if alert.tier == "silent":
        lines.append(t(lang, "alert.missed", days=await silent_days(session, core, alert, person)))
    if alert.escalated_at:  # scheduler/escalation.py: nobody took it in time
        lines.append(t(lang, "alert.escalated", minutes=core.rules.schedule.escalate_after_minutes,
                       at=local(alert.escalated_at).strftime("%H:%M %d/%m")))
    if alert.acknowledged_at:
        lines.append(t(lang, "alert.acknowledged", who=alert.acknowledged_by,
                       at=local(alert.acknowledged_at).strftime("%H:%M %d/%m")))
    if alert.resolved_at:
        lines.append(t(lang, "alert.resolved", who=alert.resolved_by,
                       at=local(alert.resolved_at).strftime("%H:%M %d/%m")))
    return Reply("\n".join(lines), alert_buttons(lang, alert))


async def earlier_lines(session: AsyncSession, core: Core, lang: str, alert: Alert,
                        latest: Declaration) -> list[str]:
    """The person's other abnormal declarations since the alert opened: one alert gathers them all."""
    query = (select(Declaration).where(Declaration.person_id == alert.person_id, Declaration.id != latest.id,
                                       col(Declaration.declared_at) >= alert.created_at,
                                       Declaration.tier != NORMAL).order_by(col(Declaration.declared_at)))
    return [t(lang, "alert.earlier", at=core.to_local(d.declared_at).strftime("%H:%M %d/%m"),
              reasons="; ".join(reason_texts(core, lang, d.reasons)))
            for d in (await session.exec(query)).all()]


def alert_buttons(lang: str, alert: Alert) -> list[list[Button]]:
    assert alert.id is not None  # buttons are drawn for a stored alert
    row = []
    if alert.status == AlertStatus.OPEN:
        row.append(Button(t(lang, "alert.button.ack"), AlertPress(ACK, alert.id).encode()))
    if alert.status != AlertStatus.RESOLVED:
        row.append(Button(t(lang, "alert.button.resolve"), AlertPress(RESOLVE, alert.id).encode()))
    return [row] if row else []


def reason_texts(core: Core, lang: str, reasons: list[dict]) -> list[str]:
    texts = []
    for reason in in_alert_order(core.rules, reasons):
        params = dict(reason.get("params", {}))
        if reason["key"] == "reason.temperature":
            params["value"] = number(lang, float(params["value"]))
        if reason["key"] == "reason.symptom":
            params["name"] = core.rules.symptom_label(params["code"], lang)
        texts.append(t(lang, reason["key"], **params))
    return texts


async def silent_days(session: AsyncSession, core: Core, alert: Alert, person: Person) -> int:
    """Whole days without a declaration before the missed-days alert's day, counted from the last declaration,
    or from the later of the start and the registration (scheduler/rounds.py raises it on the same count)."""
    day = core.to_local(alert.created_at).date()
    last = (await session.exec(select(func.max(Declaration.day)).where(
        Declaration.person_id == person.id, Declaration.day < day))).one()
    since = max(person.start_date, core.to_local(person.created_at).date(),
                last + timedelta(days=1) if last else date.min)
    return max((day - since).days, 1)
