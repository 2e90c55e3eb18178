"""Station staff in their group: binding the group to a station, taking and closing alerts."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import col

from chat.messages import Reply
from chat.payloads import AlertPress
from chat.text import one_line
from conversations.access import actor, may_take_alert, require
from conversations.runtime import Context
from services.alerts import ACK, GROUP_LANGUAGE, render_alert
from services.contact import tell_person
from services.reports import report_replies
from storage.attempts import may_try, note_try
from storage.audit import record
from storage.chats import move_chat
from storage.models import Alert, AlertStatus, Station
from storage.outbox import sent_copies
from storage.roles import ADMIN, PROVINCE, STAFF
from storage.stations import binding_of, redeem_bind_code


async def bind(ctx: Context) -> list[Reply]:
    """/lienket CODE in a group: the group receives that station's alerts from now on."""
    inc = ctx.incoming
    if inc.chat_type == "private":
        return [Reply(ctx.t("bind.in_group_only"))]
    args = inc.command[1] if inc.command else []
    if not args:
        return [Reply(ctx.t("bind.usage"))]
    subject, now = f"{inc.channel}:{inc.user_id}", ctx.core.utcnow()
    if not await may_try(ctx.session, "bind", subject, now):
        return [Reply(ctx.t("code.too_many"))]
    before = await _binding_of(ctx)
    result = await redeem_bind_code(ctx.session, "".join(args), inc.channel, inc.chat_id, inc.user_id, now)
    note_try(ctx.session, "bind", subject, result.status == "ok", now)
    if result.status != "ok":
        return [Reply(ctx.t(f"bind.{result.status}"))]
    after = {"station": result.station.code if result.station else None, "scope": result.scope}
    record(ctx.session, actor(ctx), "binding.bind", "binding", f"{inc.channel}:{inc.chat_id}", before=before,
           after=after, at=ctx.core.utcnow())
    if result.station is None:
        return [Reply(ctx.t("bind.ok_province"))]
    return [Reply(ctx.t("bind.ok", station=result.station.label))]


async def group_moved(ctx: Context) -> list[Reply]:
    """Telegram upgraded the group to a supergroup, under a new id: the binding follows, without a word to the
    group (Telegram tells it). Said by Telegram itself, in both chats: no member can fake it."""
    assert ctx.incoming.chat_moved is not None  # the router sends only a moved chat here
    old, new = ctx.incoming.chat_moved
    if await move_chat(ctx.session, ctx.incoming.channel, old, new, ctx.core.utcnow()):  # once of the two
        record(ctx.session, actor(ctx), "binding.moved", "binding", f"{ctx.incoming.channel}:{old}",
               after={"chat": new}, at=ctx.core.utcnow())
    return []


async def _binding_of(ctx: Context) -> dict | None:
    """The chat's binding as the audit trail shows it, before a change: its station by code."""
    inc = ctx.incoming
    binding = await binding_of(ctx.session, inc.channel, inc.chat_id)
    if binding is None:
        return None
    station = await ctx.session.get(Station, binding.station_id) if binding.station_id else None
    return {"station": station.code if station else None, "scope": binding.scope}


async def report(ctx: Context) -> list[Reply]:
    """/baocao: today's report now; a station group gets its station's, the province group and admins the province's."""
    inc = ctx.incoming
    if inc.chat_type == "private":
        return await private_report(ctx)
    binding = await binding_of(ctx.session, inc.channel, inc.chat_id)
    if binding is None:  # an admin too: the group may not be staff only
        return [Reply(ctx.t("report.not_bound"))]
    station = await ctx.session.get(Station, binding.station_id) if binding.station_id else None
    return await report_replies(ctx.session, ctx.core, station, GROUP_LANGUAGE)


async def private_report(ctx: Context) -> list[Reply]:
    """/baocao in private: staff get their station's report, province viewers and admins the province's."""
    granted = await require(ctx, ADMIN, PROVINCE, STAFF)
    station = await ctx.session.get(Station, granted.station_id) if granted.role == STAFF else None
    if granted.role == STAFF and station is None:  # never the province's figures for a staff member
        return [Reply(ctx.t("access.refused"))]
    return await report_replies(ctx.session, ctx.core, station, ctx.lang)


async def group_help(ctx: Context) -> list[Reply]:
    return [Reply(ctx.t("help.group"))]


async def press_alert(ctx: Context) -> list[Reply]:
    """Đã tiếp nhận / Đã xử lý: the first press wins and is recorded; every copy of the alert is updated."""
    pressed = AlertPress.parse(ctx.incoming.button)
    alert = await ctx.session.get(Alert, pressed.alert_id) if pressed else None
    if pressed is None or alert is None:
        return [Reply(ctx.t("alert.unknown"), toast=True)]
    if not await may_take_alert(ctx, alert):
        return [Reply(ctx.t("alert.not_allowed"), toast=True)]
    notice = await record_press(ctx, alert, pressed.action)
    return [Reply(notice, toast=True), *await updated_copies(ctx, alert)]


async def record_press(ctx: Context, alert: Alert, action: str) -> str:
    """Record the press with conditional UPDATEs: of two staff pressing at once (in any process) the
    database lets one win, and the other is told who was first."""
    # A display name is anyone's to choose: on one line, it cannot fake a line of the alert's posts.
    who, now, user_id = one_line(ctx.incoming.user_name or ctx.incoming.user_id), ctx.core.utcnow(), \
        ctx.incoming.user_id
    before = alert.status
    taken = {"acknowledged_by": who, "acknowledged_by_id": user_id, "acknowledged_at": now}
    done = {"resolved_by": who, "resolved_by_id": user_id, "resolved_at": now, "status": AlertStatus.RESOLVED}
    if action == ACK:
        won = await _update_if(ctx, alert, [AlertStatus.OPEN], {**taken, "status": AlertStatus.ACKNOWLEDGED})
    else:  # handled straight from open also records who took it
        won = (await _update_if(ctx, alert, [AlertStatus.OPEN], {**taken, **done})
               or await _update_if(ctx, alert, [AlertStatus.ACKNOWLEDGED], done))
    await ctx.session.refresh(alert)
    if not won:
        return _first_was(ctx, alert)
    record(ctx.session, actor(ctx), "alert.ack" if action == ACK else "alert.resolve", "alert", alert.id,
           before={"status": before}, after={"status": alert.status}, at=now)
    await tell_person(ctx.session, ctx.core, alert, resolved=action != ACK)  # once: only the winning press
    return ctx.t("alert.recorded_ack" if action == ACK else "alert.recorded_resolved")


async def _update_if(ctx: Context, alert: Alert, statuses: list[str], values: dict) -> bool:
    result = await ctx.session.exec(update(Alert).where(col(Alert.id) == alert.id, col(Alert.status).in_(statuses))
                                    .values(**values))
    return result.rowcount == 1


def _first_was(ctx: Context, alert: Alert) -> str:
    def at(moment: datetime) -> str:
        return ctx.core.to_local(moment).strftime("%H:%M")

    # record_press sets each moment with its status, and a lost press means the alert was taken already.
    if alert.status == AlertStatus.RESOLVED:
        assert alert.resolved_at is not None
        return ctx.t("alert.already_resolved", who=alert.resolved_by, at=at(alert.resolved_at))
    assert alert.acknowledged_at is not None
    return ctx.t("alert.already_acknowledged", who=alert.acknowledged_by, at=at(alert.acknowledged_at))


async def updated_copies(ctx: Context, alert: Alert) -> list[Reply]:
    """New text for the pressed message and every other copy of the alert in this channel."""
    assert alert.id is not None  # read from the database
    inc = ctx.incoming
    targets = {(inc.chat_id, inc.message_id)} if inc.message_id else set()
    targets |= {(row.chat_id, row.sent_message_id) for row in await sent_copies(ctx.session, alert.id)
                if row.channel == inc.channel and row.sent_message_id}
    replies = []
    for chat_id, message_id in sorted(targets):
        private = chat_id == inc.chat_id and inc.chat_type == "private"
        reply = await render_alert(ctx.session, ctx.core, alert, ctx.lang if private else GROUP_LANGUAGE)
        reply.chat_id, reply.edit_id = chat_id, message_id
        replies.append(reply)
    return replies
