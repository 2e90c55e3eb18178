"""Alerts to the station: created with the declaration, posted through the outbox, taken with a button."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from chat.messages import Button, Reply
from chat.payloads import AlertPress
from locales import number, t
from storage.models import Account, Alert, AlertStatus, Declaration, Person, Station
from storage.outbox import post
from storage.stations import bound_chats

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from services.env import Core

ACK: Final = "ack"
RESOLVE: Final = "done"
GROUP_LANGUAGE = "vi"  # station groups read Vietnamese


async def raise_alert(session: AsyncSession, core: Core, person: Person, declaration: Declaration) -> Alert:
    """Store the alert and queue it for the station's groups (or the admins) in the same transaction."""
    assert person.id is not None  # the person declared, so is stored
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
        t(lang, "alert.address", address=person.address, station=station.label),
        t(lang, "alert.category", category=t(lang, f"category.{person.category}"),
          end=person.end_date.strftime("%d/%m/%Y")),
    ]
    if declaration is not None:
        lines.append(t(lang, "alert.reasons", reasons="; ".join(reason_texts(core, lang, declaration.reasons))))
        lines.append(t(lang, "alert.values", temperature=number(lang, declaration.temperature),
                       spo2=declaration.spo2 if declaration.spo2 is not None else "—",
                       breathing=declaration.breathing_rate if declaration.breathing_rate is not None else "—"))
        if declaration.note:
            lines.append(t(lang, "alert.note", note=declaration.note))
        lines.append(t(lang, "alert.declared_at", at=local(declaration.declared_at).strftime("%H:%M %d/%m/%Y")))
        if not person.is_self:
            lines.append(t(lang, "alert.by_household"))
    if alert.tier == "silent":
        lines.append(t(lang, "alert.missed", days=core.rules.schedule.missed_days_alert))
    if alert.acknowledged_at:
        lines.append(t(lang, "alert.acknowledged", who=alert.acknowledged_by,
                       at=local(alert.acknowledged_at).strftime("%H:%M %d/%m")))
    if alert.resolved_at:
        lines.append(t(lang, "alert.resolved", who=alert.resolved_by,
                       at=local(alert.resolved_at).strftime("%H:%M %d/%m")))
    return Reply("\n".join(lines), alert_buttons(lang, alert))


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
    for reason in reasons:
        params = dict(reason.get("params", {}))
        if reason["key"] == "reason.temperature":
            params["value"] = number(lang, float(params["value"]))
        if reason["key"] == "reason.symptom":
            params["name"] = core.rules.symptom_label(params["code"], lang)
        texts.append(t(lang, reason["key"], **params))
    return texts
