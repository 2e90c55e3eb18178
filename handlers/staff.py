"""Station staff in their group: binding the group to a station, taking and closing alerts."""
from __future__ import annotations

from datetime import datetime

from sqlmodel import select

from conversations.alerts import ACK, ACKNOWLEDGED, GROUP_LANGUAGE, OPEN, RESOLVE, RESOLVED, render_alert
from conversations.messages import Reply
from conversations.runtime import Context
from scheduler.report import report_replies
from storage.models import Alert, GroupBinding, Station
from storage.outbox import sent_copies
from storage.stations import redeem_bind_code


async def bind(ctx: Context) -> list[Reply]:
    """/lienket CODE in a group: the group receives that station's alerts from now on."""
    inc = ctx.incoming
    if inc.chat_type == "private":
        return [Reply(ctx.t("bind.in_group_only"))]
    args = inc.command[1] if inc.command else []
    if not args:
        return [Reply(ctx.t("bind.usage"))]
    result = await redeem_bind_code(ctx.session, "".join(args), inc.channel, inc.chat_id, inc.user_id,
                                    ctx.core.utcnow())
    if result.status != "ok":
        return [Reply(ctx.t(f"bind.{result.status}"))]
    if result.station is None:
        return [Reply(ctx.t("bind.ok_province"))]
    return [Reply(ctx.t("bind.ok", station=result.station.full_name or result.station.name))]


async def report(ctx: Context) -> list[Reply]:
    """/baocao: today's report now; a station group gets its station's, the province group and admins the province's."""
    inc = ctx.incoming
    query = select(GroupBinding).where(GroupBinding.channel == inc.channel, GroupBinding.chat_id == inc.chat_id)
    binding = (await ctx.session.exec(query)).first() if inc.chat_type != "private" else None
    if binding is None and inc.chat_type != "private":  # an admin too: the group may not be staff only
        return [Reply(ctx.t("report.not_bound"))]
    if binding is None and not ctx.core.is_admin(inc.channel, inc.user_id):
        return [Reply(ctx.t("report.group_only"))]
    station = await ctx.session.get(Station, binding.station_id) if binding and binding.station_id else None
    lang = GROUP_LANGUAGE if inc.chat_type != "private" else ctx.lang
    return await report_replies(ctx.session, ctx.core, station, lang)


async def group_help(ctx: Context) -> list[Reply]:
    return [Reply(ctx.t("help.group"))]


async def may_act(ctx: Context, alert: Alert) -> bool:
    """Members of a group bound to the alert's station, admins, and the sandbox console."""
    inc, core = ctx.incoming, ctx.core
    if core.is_admin(inc.channel, inc.user_id) or (inc.channel, inc.chat_id) == core.staff_console:
        return True
    query = select(GroupBinding).where(GroupBinding.channel == inc.channel, GroupBinding.chat_id == inc.chat_id,
                                       GroupBinding.station_id == alert.station_id)
    return (await ctx.session.exec(query)).first() is not None


async def press_alert(ctx: Context) -> list[Reply]:
    """Đã tiếp nhận / Đã xử lý: the first press wins and is recorded; every copy of the alert is updated."""
    parts = ctx.incoming.button.split(":")
    alert = await ctx.session.get(Alert, int(parts[2])) if len(parts) == 3 and parts[2].isdigit() else None
    if alert is None or parts[1] not in (ACK, RESOLVE):
        return [Reply(ctx.t("alert.unknown"), toast=True)]
    if not await may_act(ctx, alert):
        return [Reply(ctx.t("alert.not_allowed"), toast=True)]
    notice = record_press(ctx, alert, parts[1])
    return [Reply(notice, toast=True), *await updated_copies(ctx, alert)]


def record_press(ctx: Context, alert: Alert, action: str) -> str:
    who, now = ctx.incoming.user_name or ctx.incoming.user_id, ctx.core.utcnow()
    def at(moment: datetime) -> str:
        return ctx.core.to_local(moment).strftime("%H:%M")

    if alert.status == RESOLVED:
        return ctx.t("alert.already_resolved", who=alert.resolved_by, at=at(alert.resolved_at))
    if action == ACK and alert.status == ACKNOWLEDGED:
        return ctx.t("alert.already_acknowledged", who=alert.acknowledged_by, at=at(alert.acknowledged_at))
    if alert.status == OPEN:
        alert.acknowledged_by, alert.acknowledged_by_id, alert.acknowledged_at = who, ctx.incoming.user_id, now
        alert.status = ACKNOWLEDGED
    if action == RESOLVE:
        alert.resolved_by, alert.resolved_by_id, alert.resolved_at = who, ctx.incoming.user_id, now
        alert.status = RESOLVED
    ctx.session.add(alert)
    return ctx.t("alert.recorded_ack" if action == ACK else "alert.recorded_resolved")


async def updated_copies(ctx: Context, alert: Alert) -> list[Reply]:
    """New text for the pressed message and every other copy of the alert in this channel."""
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
