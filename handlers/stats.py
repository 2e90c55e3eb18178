"""/thongke: statistics of a station, or of the province station by station, as text and a 14-day chart.

The daily report's figures and chart (scheduler.report) are reused; what the report lacks (categories,
a week of alerts, time to take an alert, completed quarantines, the stations side by side) is added here.
"""
from __future__ import annotations

import asyncio
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from conversations.messages import Reply
from conversations.runtime import Context
from handlers.access import require
from handlers.core import Core
from handlers.files import scope_station
from scheduler.report import Figures, _locked_chart, figures
from storage.models import Alert, Declaration, Person, Station
from storage.roles import ADMIN, PROVINCE, STAFF

WEEK = 7
STATION_LINES = 30  # a Telegram message holds 4096 characters
TIER_KEYS = {"danger": "report.tier.danger", "watch": "report.tier.watch", "silent": "report.tier.silent"}


@dataclass
class Statistics:
    figures: Figures
    by_category: Counter
    week_alerts: Counter
    untaken: int  # open alerts nobody has taken yet
    median_minutes: float | None  # from an alert to the press of "taken", alerts of the last week
    completed: int  # quarantines finished, all time
    stations: list[tuple[str, int, int, int]] = field(default_factory=list)  # name, people, declared, open alerts

    @property
    def declared_percent(self) -> int:
        f = self.figures
        return round(100 * f.declared_today / f.in_quarantine) if f.in_quarantine else 0


def _within(column, station_ids: list[int] | None):
    return True if station_ids is None else col(column).in_(station_ids)


async def gather(session: AsyncSession, core: Core, station_ids: list[int] | None, today: date) -> Statistics:
    f = await figures(session, core, station_ids, today)
    current = await session.exec(select(Person.category, func.count()).where(
        _within(Person.station_id, station_ids), Person.status == "active", Person.start_date <= today)
        .group_by(Person.category))
    # UTC bound: SQLite compares the stored UTC text (as in scheduler.report).
    since = datetime.combine(today - timedelta(days=WEEK - 1), time(0), core.tz).astimezone(UTC)
    alerts = (await session.exec(select(Alert.tier, Alert.status, Alert.created_at, Alert.acknowledged_at).where(
        _within(Alert.station_id, station_ids), Alert.created_at >= since))).all()
    waits = [(core.to_local(taken) - core.to_local(created)).total_seconds() / 60
             for _, _, created, taken in alerts if taken is not None]
    untaken = await session.exec(select(func.count()).select_from(Alert).where(
        _within(Alert.station_id, station_ids), Alert.status == "open"))
    completed = await session.exec(select(func.count()).select_from(Person).where(
        _within(Person.station_id, station_ids), Person.status == "completed"))
    return Statistics(f, Counter(dict(current.all())), Counter(tier for tier, *_ in alerts), untaken.one(),
                      statistics.median(waits) if waits else None, completed.one())


async def station_lines(session: AsyncSession, today: date) -> list[tuple[str, int, int, int]]:
    """Each station with people in quarantine: (name, people, declared today, open alerts), most people first."""
    people: dict[int, set[int]] = defaultdict(set)
    for station_id, person_id in (await session.exec(select(Person.station_id, Person.id).where(
            Person.status == "active", Person.start_date <= today))).all():
        people[station_id].add(person_id)
    declared = set((await session.exec(select(Declaration.person_id).where(Declaration.day == today))).all())
    open_alerts = dict((await session.exec(select(Alert.station_id, func.count()).where(
        Alert.status != "resolved").group_by(Alert.station_id))).all())
    names = {s.id: s.name for s in (await session.exec(select(Station).where(
        col(Station.id).in_(list(people))))).all()}
    lines = [(names.get(sid, "?"), len(ids), len(ids & declared), open_alerts.get(sid, 0))
             for sid, ids in people.items()]
    return sorted(lines, key=lambda line: (-line[1], line[0]))


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
    if isinstance(granted, list):
        return granted
    station = await scope_station(ctx, granted, "stats")
    if isinstance(station, list):
        return station
    today = ctx.today()
    s = await gather(ctx.session, ctx.core, [station.id] if station else None, today)
    if station is None:
        s.stations = await station_lines(ctx.session, today)
    title = (station.full_name or station.name) if station else ctx.t("report.province")
    # Drawn in a thread, one chart at a time (see scheduler.report): other chats get their answers meanwhile.
    chart = await asyncio.to_thread(_locked_chart, ctx.lang, title, s.figures.history)
    return [Reply(stats_text(ctx, title, s)), Reply(ctx.t("report.chart_caption", name=title), photo=chart)]
