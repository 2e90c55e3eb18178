"""/chuagui: what could not be delivered, so staff can reach those people another way."""
from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from chat.messages import Reply
from conversations.access import require
from conversations.runtime import Context
from storage.models import Account, Outbox, OutboxStatus, Person
from storage.roles import ADMIN, PROVINCE, STAFF
from storage.stations import binding_of

DAYS = 7
SHOWN = 30
PREVIEW = 60  # characters of the message, enough to recognise it


async def undelivered(ctx: Context) -> list[Reply]:
    granted = await require(ctx, STAFF, PROVINCE, ADMIN)
    since = ctx.core.utcnow() - timedelta(days=DAYS)
    query = select(Outbox).where(Outbox.status == OutboxStatus.FAILED, Outbox.created_at >= since)
    rows = (await ctx.session.exec(query.order_by(col(Outbox.created_at).desc()))).all()
    lines = []
    for row in rows:
        who = await _recipient(ctx, row, granted)
        if who is None:
            continue
        at = ctx.core.to_local(row.created_at).strftime("%H:%M %d/%m")
        preview = " ".join(row.payload.get("text", "").split())[:PREVIEW]
        lines.append(ctx.t("undelivered.line", at=at, who=who, reason=(row.last_error or "?")[:80], text=preview))
    if not lines:
        return [Reply(ctx.t("undelivered.none", days=DAYS))]
    head = ctx.t("undelivered.title", count=len(lines), days=DAYS)
    more = [ctx.t("undelivered.more", count=len(lines) - SHOWN)] if len(lines) > SHOWN else []
    return [Reply("\n".join([head, *lines[:SHOWN], *more]))]


async def _recipient(ctx: Context, row: Outbox, granted) -> str | None:
    """Who the message was for, if the caller may know: a person of their station, or their group."""
    account = (await ctx.session.exec(select(Account).where(Account.channel == row.channel,
                                                             Account.external_id == row.chat_id))).first()
    if account is not None:
        people = (await ctx.session.exec(select(Person).where(Person.account_id == account.id))).all()
        visible = [p for p in people if granted.sees(p.station_id)]
        return ", ".join(f"{p.full_name} ({p.phone})" for p in visible) or None
    binding = await binding_of(ctx.session, row.channel, row.chat_id)
    if binding is not None and granted.sees(binding.station_id):
        return ctx.t("undelivered.group")
    return ctx.t("undelivered.admin") if granted.role == ADMIN else None
