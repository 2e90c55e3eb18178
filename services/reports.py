"""The report's figures and chart: read by the daily report round and by /baocao and /thongke."""
from __future__ import annotations

import asyncio
import io
import statistics
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chat.messages import Reply
from locales import t
from services.env import Core
from storage.claims import CLOSING
from storage.models import Alert, AlertStatus, Claim, Declaration, Person, PersonStatus, Station

HISTORY_DAYS = 14
TIERS = ("danger", "watch", "silent")
PROVINCE_LINES = 40  # a Telegram message holds 4096 characters
WEEK = 7


@dataclass
class DayFigures:
    day: date
    in_quarantine: int = 0
    declared: int = 0
    alerts: Counter = field(default_factory=Counter)


@dataclass
class Figures:
    in_quarantine: int
    declared_today: int  # of those in quarantine today
    new_alerts: Counter
    open_alerts: int
    completed_today: int  # quarantines closed today (scheduler.closing)
    ending_tomorrow: int
    history: list[DayFigures]

    @property
    def missing_today(self) -> int:
        return self.in_quarantine - self.declared_today


def _in(column, station_ids: list[int] | None):
    return True if station_ids is None else col(column).in_(station_ids)


async def figures(session: AsyncSession, core: Core, station_ids: list[int] | None, today: date) -> Figures:
    """The report's numbers for some stations (None: the whole province) on `today`."""
    first = today - timedelta(days=HISTORY_DAYS - 1)
    history = {first + timedelta(days=i): DayFigures(first + timedelta(days=i)) for i in range(HISTORY_DAYS)}
    spans = await session.exec(select(col(Person.id), col(Person.start_date), col(Person.end_date), col(Person.status))
                               .where(_in(Person.station_id, station_ids), Person.end_date >= first))
    current: set[int] = set()
    ending_tomorrow = 0
    for person_id, start, end, status in spans.all():
        for d in history:
            if start <= d <= end:
                history[d].in_quarantine += 1
        if status == PersonStatus.ACTIVE and start <= today:
            assert person_id is not None  # a primary key
            current.add(person_id)
            ending_tomorrow += end == today + timedelta(days=1)
    declared = await session.exec(
        select(col(Declaration.day), col(Declaration.person_id)).distinct()
        .join(Person, col(Person.id) == Declaration.person_id)
        .where(_in(Person.station_id, station_ids), Declaration.day >= first))
    declared_today: set[int] = set()
    for day, person_id in declared.all():
        if day in history:
            history[day].declared += 1
        if day == today:
            declared_today.add(person_id)
    # UTC: SQLite compares the stored UTC text, so a local-time bound would be off by the zone's offset.
    since = datetime.combine(first, time(0), core.tz).astimezone(UTC)
    alerts = await session.exec(select(Alert.created_at, Alert.tier)
                                .where(_in(Alert.station_id, station_ids), Alert.created_at >= since))
    for created, tier in alerts.all():
        local_day = core.to_local(created).date()
        if local_day in history:
            history[local_day].alerts[tier] += 1
    open_count = await session.exec(select(func.count()).select_from(Alert)
                                    .where(_in(Alert.station_id, station_ids), Alert.status != AlertStatus.RESOLVED))
    today_figures = history[today]
    return Figures(len(current), len(current & declared_today), today_figures.alerts, open_count.one(),
                   await _completed_on(session, station_ids, today), ending_tomorrow, list(history.values()))


async def _completed_on(session: AsyncSession, station_ids: list[int] | None, day: date) -> int:
    """Quarantines closed on `day`: each closing leaves a claim row (scheduler.closing)."""
    subjects = await session.exec(select(Claim.subject).where(Claim.kind == CLOSING, Claim.day == day))
    ids = [int(s.removeprefix("person:")) for s in subjects.all()]
    if not ids:
        return 0
    count = await session.exec(select(func.count()).select_from(Person)
                               .where(col(Person.id).in_(ids), _in(Person.station_id, station_ids)))
    return count.one()


def report_text(lang: str, title: str, today: date, f: Figures) -> str:
    alerts = ", ".join(t(lang, f"report.tier.{tier}", count=f.new_alerts.get(tier, 0)) for tier in TIERS)
    return "\n".join([
        t(lang, "report.title", name=title, day=today.strftime("%d/%m/%Y")),
        t(lang, "report.in_quarantine", count=f.in_quarantine),
        t(lang, "report.declared", count=f.declared_today),
        t(lang, "report.missing", count=f.missing_today),
        t(lang, "report.new_alerts", alerts=alerts),
        t(lang, "report.open_alerts", count=f.open_alerts),
        t(lang, "report.completed_today", count=f.completed_today),
        t(lang, "report.ending_tomorrow", count=f.ending_tomorrow),
    ])


def chart_png(lang: str, title: str, history: list[DayFigures]) -> bytes:
    """Bars of people in quarantine and people who declared, alerts below, over the last 14 days.

    The object API, not pyplot: it keeps no global state, so charts can be drawn in worker threads.
    """
    from matplotlib.figure import Figure

    labels = [d.day.strftime("%d/%m") for d in history]
    x = range(len(history))
    fig = Figure(figsize=(9, 5.5), dpi=100)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.4]})
    top.bar([i - 0.2 for i in x], [d.in_quarantine for d in history], 0.4, color="#b0bec5",
            label=t(lang, "chart.in_quarantine"))
    top.bar([i + 0.2 for i in x], [d.declared for d in history], 0.4, color="#43a047", label=t(lang, "chart.declared"))
    top.set_title(title)
    top.legend(loc="upper left", fontsize=8)
    bottom_sum = [0] * len(history)
    for tier, color in zip(TIERS, ("#e53935", "#fb8c00", "#757575"), strict=True):
        values = [d.alerts.get(tier, 0) for d in history]
        bottom.bar(list(x), values, 0.6, bottom=bottom_sum, color=color, label=t(lang, f"chart.{tier}"))
        bottom_sum = [a + b for a, b in zip(bottom_sum, values, strict=True)]
    bottom.set_ylabel(t(lang, "chart.alerts"), fontsize=8)
    bottom.legend(loc="upper left", fontsize=7, ncol=3)
    bottom.set_xticks(list(x), labels, rotation=45, fontsize=8)
    tallest = max([d.in_quarantine for d in history] + [1])
    top.set_ylim(0, tallest * 1.25)  # headroom: the legend must not cover the bars
    bottom.set_ylim(0, max([*bottom_sum, 1]) * 1.6)
    for axis in (top, bottom):
        axis.yaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


_drawing = threading.Lock()


def draw_chart(lang: str, title: str, history: list[DayFigures]) -> bytes:
    with _drawing:
        return chart_png(lang, title, history)


async def report_replies(session: AsyncSession, core: Core, station: Station | None, lang: str) -> list[Reply]:
    """The report of one station, or of the province (station None, with a line per station)."""
    today = core.today()
    title = station.label if station else t(lang, "report.province")
    station_ids = None
    if station is not None:
        assert station.id is not None  # a station read from the database
        station_ids = [station.id]
    f = await figures(session, core, station_ids, today)
    text = report_text(lang, title, today, f)
    if station is None:
        text += "\n" + await _station_lines(session, lang, today)
    # Drawing takes a good part of a second: in a thread, so that people chatting meanwhile get their answers;
    # one chart at a time, as matplotlib's font caches are not made for concurrent drawing.
    chart = await asyncio.to_thread(draw_chart, lang, title, f.history)
    return [Reply(text), Reply(t(lang, "report.chart_caption", name=title), photo=chart)]


async def _station_lines(session: AsyncSession, lang: str, today: date) -> str:
    """One line per station with people in quarantine, the most people silent first: the province group sees
    where to look."""
    rows = [(people - declared, t(lang, "report.station_line", name=name, count=people, missing=people - declared))
            for name, people, declared, _ in await station_lines(session, today)]
    rows.sort(key=lambda pair: (-pair[0], pair[1]))
    shown = [line for _, line in rows[:PROVINCE_LINES]]
    if len(rows) > PROVINCE_LINES:
        shown.append(t(lang, "report.more_stations", count=len(rows) - PROVINCE_LINES))
    return "\n".join(shown)


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


async def gather(session: AsyncSession, core: Core, station_ids: list[int] | None, today: date) -> Statistics:
    f = await figures(session, core, station_ids, today)
    current = await session.exec(select(Person.category, func.count()).where(
        _in(Person.station_id, station_ids), Person.status == PersonStatus.ACTIVE, Person.start_date <= today)
        .group_by(col(Person.category)))
    # UTC bound: SQLite compares the stored UTC text (as in figures above).
    since = datetime.combine(today - timedelta(days=WEEK - 1), time(0), core.tz).astimezone(UTC)
    alerts = (await session.exec(select(Alert.tier, Alert.status, Alert.created_at, Alert.acknowledged_at).where(
        _in(Alert.station_id, station_ids), Alert.created_at >= since))).all()
    waits = [(core.to_local(taken) - core.to_local(created)).total_seconds() / 60
             for _, _, created, taken in alerts if taken is not None]
    untaken = await session.exec(select(func.count()).select_from(Alert).where(
        _in(Alert.station_id, station_ids), Alert.status == AlertStatus.OPEN))
    completed = await session.exec(select(func.count()).select_from(Person).where(
        _in(Person.station_id, station_ids), Person.status == PersonStatus.COMPLETED))
    return Statistics(f, Counter(dict(current.all())), Counter(tier for tier, *_ in alerts), untaken.one(),
                      statistics.median(waits) if waits else None, completed.one())


async def station_lines(session: AsyncSession, today: date) -> list[tuple[str, int, int, int]]:
    """Each station with people in quarantine: (name, people, declared today, open alerts), most people first."""
    people: dict[int, set[int]] = defaultdict(set)
    for station_id, person_id in (await session.exec(select(Person.station_id, Person.id).where(
            Person.status == PersonStatus.ACTIVE, Person.start_date <= today))).all():
        assert person_id is not None  # a primary key
        people[station_id].add(person_id)
    declared = set((await session.exec(select(Declaration.person_id).where(Declaration.day == today))).all())
    open_alerts = dict((await session.exec(select(Alert.station_id, func.count()).where(
        Alert.status != AlertStatus.RESOLVED).group_by(col(Alert.station_id)))).all())
    names = {s.id: s.name for s in (await session.exec(select(Station).where(
        col(Station.id).in_(list(people))))).all()}
    lines = [(names.get(sid, "?"), len(ids), len(ids & declared), open_alerts.get(sid, 0))
             for sid, ids in people.items()]
    return sorted(lines, key=lambda line: (-line[1], line[0]))
