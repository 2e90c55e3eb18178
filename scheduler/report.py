"""The daily report round: at the report time each bound group gets its station's (or the province's) report."""
from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.alerts import GROUP_LANGUAGE
from services.env import Core
from services.reports import report_replies
from storage.claims import claim, claimed
from storage.models import GroupBinding, Station
from storage.outbox import post

REPORT = "report"


async def report_round(session: AsyncSession, core: Core, now: datetime) -> int:
    """At the report time, each bound group gets its report once a day (the province group: the province's).

    Each group's report is drawn before its claim is taken and committed right after, so the database is
    not held (SQLite: its one write lock) while charts are drawn.
    """
    if now.time() < core.rules.schedule.report_time:
        return 0
    sent = 0
    for binding in (await session.exec(select(GroupBinding).order_by(col(GroupBinding.id)))).all():
        scope = f"station:{binding.station_id}" if binding.station_id else "province"
        subject = f"{scope}:{binding.channel}:{binding.chat_id}"
        if await claimed(session, REPORT, subject, now.date()):
            continue
        station = await session.get(Station, binding.station_id) if binding.station_id else None
        replies = await report_replies(session, core, station, GROUP_LANGUAGE)
        if not await claim(session, REPORT, subject, now.date(), core.utcnow()):
            continue  # another process was quicker
        for reply in replies:
            post(session, binding.channel, binding.chat_id, reply, core.utcnow())
        await session.commit()
        sent += 1
    return sent
