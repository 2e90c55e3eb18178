"""/thongke: statistics of a station, or of the province station by station, as text and a 14-day chart.

The daily report's figures and chart (services.reports) are reused; what the report lacks (categories,
a week of alerts, time to take an alert, completed quarantines, the stations side by side) is added here.
"""
from __future__ import annotations

import asyncio

from chat.messages import Reply
from conversations.access import require
from conversations.runtime import Context
from handlers.people_files import scope_station
from services.reports import WEEK, Statistics, draw_chart, gather, station_lines
from storage.roles import ADMIN, PROVINCE, STAFF

STATION_LINES = 30  # a Telegram message holds 4096 characters
TIER_KEYS = {"danger": "report.tier.danger", "watch": "report.tier.watch", "silent": "report.tier.silent"}


def stats_text(ctx: Context, title: str, s: Statistics) -> str:
    f = s.figures
    categories = ", ".join(f"{ctx.t(f'category.{c}')}: {n}" for c, n in sorted(s.by_category.items())) or "—"
    alerts = ", ".join(ctx.t(key, count=s.week_alerts.get(tier, 0)) for tier, key in TIER_KEYS.items())
    median = (ctx.t("stats.median_take", minutes=round(s.median_minutes)) if s.median_minutes is not None
              else ctx.t("stats.median_take_none"))
    lines = [
        ctx.t("stats.title", name=title, day=ctx.today().strftime("%d/%m/%Y")),
        ctx.t("stats.in_quarantine", count=f.in_quarantine),
        ctx.t("stats.by_category", categories=categories),
        ctx.t("stats.declared", declared=f.declared_today, total=f.in_quarantine, percent=s.declared_percent),
        ctx.t("stats.week_alerts", days=WEEK, alerts=alerts),
        ctx.t("stats.open_alerts", count=f.open_alerts, untaken=s.untaken),
        median,
        ctx.t("stats.completed", count=s.completed),
    ]
    if s.stations:
        lines.append(ctx.t("stats.by_station"))
        for name, people, declared, open_alerts in s.stations[:STATION_LINES]:
            percent = round(100 * declared / people) if people else 0
            lines.append(ctx.t("stats.station_line", name=name, count=people, percent=percent, alerts=open_alerts))
        if len(s.stations) > STATION_LINES:
            lines.append(ctx.t("stats.more_stations", count=len(s.stations) - STATION_LINES))
    return "\n".join(lines)


async def stats(ctx: Context) -> list[Reply]:
    """/thongke, /stats: staff see their station; admins and province viewers the province, or /thongke CODE."""
    granted = await require(ctx, ADMIN, PROVINCE, STAFF)
    station = await scope_station(ctx, granted, "stats")
    if isinstance(station, list):
        return station
    today = ctx.today()
    station_ids = None  # the province
    if station is not None:
        assert station.id is not None  # read from the database
        station_ids = [station.id]
    s = await gather(ctx.session, ctx.core, station_ids, today)
    if station is None:
        s.stations = await station_lines(ctx.session, today)
    title = station.label if station else ctx.t("report.province")
    # Drawn in a thread, one chart at a time (see services.reports): other chats get their answers meanwhile.
    chart = await asyncio.to_thread(draw_chart, ctx.lang, title, s.figures.history)
    return [Reply(stats_text(ctx, title, s)), Reply(ctx.t("report.chart_caption", name=title), photo=chart)]
