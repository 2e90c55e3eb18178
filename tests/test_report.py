"""The daily report: its figures on a known data set, the chart, the round at the report time, /baocao."""
from __future__ import annotations

import base64
import io
from datetime import date, timedelta

import pytest
from sqlmodel import select

from scheduler.closing import closing_round
from services.env import Core
from services.reports import HISTORY_DAYS, chart_png, figures, report_replies, report_text
from storage.models import Outbox, Person, Station
from tests.conftest import ChatDriver, Clock
from tests.factories import (
    IA_GRAI,
    QUY_NHON,
    TODAY,
    add_alert,
    add_declaration,
    add_person,
    at,
    bind_group,
    sent_to,
    station_id,
    tick,
)
from tests.steps import rows, vi

YESTERDAY, TOMORROW = TODAY - timedelta(days=1), TODAY + timedelta(days=1)


async def known_data_set(core: Core, clock: Clock) -> None:
    """Phường Pleiku: 5 in quarantine (3 declared today), one more who ends today, one who starts tomorrow;
    Quy Nhơn: 3, none declared; Ia Grai: 1, declared. Alerts of today, yesterday and older."""
    first_day = TODAY - timedelta(days=HISTORY_DAYS - 1)
    an = await add_person(core, "An", "301", start=TODAY - timedelta(days=5))
    binh = await add_person(core, "Bình", "302", start=TODAY - timedelta(days=5))
    cuong = await add_person(core, "Cường", "303", start=TODAY - timedelta(days=3))
    dung = await add_person(core, "Dung", "304", start=TODAY - timedelta(days=12), end=TOMORROW)
    em = await add_person(core, "Em", "305", start=TODAY - timedelta(days=2))
    phuc = await add_person(core, "Phúc", "306", start=TODAY - timedelta(days=13), end=TODAY)  # last day
    await add_person(core, "Giang", "307", start=TOMORROW)
    await add_declaration(core, an, TODAY, "08:00")
    await add_declaration(core, binh, TODAY, "08:00", tier="watch")
    await add_declaration(core, cuong, TODAY, "15:00", tier="danger")
    await add_declaration(core, phuc, TODAY, "08:00")
    await add_alert(core, binh, "watch", at=at(8, 10))
    await add_alert(core, cuong, "danger", at=at(15, 5), status="acknowledged")
    await add_alert(core, dung, "watch", at=at(10, day=YESTERDAY))  # still open from yesterday
    await add_alert(core, em, "silent", at=at(23, 30, day=YESTERDAY), status="resolved")  # late yesterday
    await add_alert(core, an, "watch", at=at(3, day=first_day), status="resolved")  # early on the chart's first day
    qn = [await add_person(core, f"Quy Nhơn {i}", f"40{i}", station=QUY_NHON, start=YESTERDAY) for i in range(3)]
    await add_alert(core, qn[0], "silent", at=at(0, 30))  # just after midnight: today's
    ia = await add_person(core, "Ia Grai 1", "501", station=IA_GRAI, start=YESTERDAY)
    await add_declaration(core, ia, TODAY, "15:00")
    clock.set_local(at(17))
    async with core.db.session() as session:  # Phúc's quarantine closes (the closing round alone, no other sweep)
        assert await closing_round(session, core, core.now()) == 1
    clock.set_local(at(17, 30))


STATION_TEXT = "\n".join([
    "📊 Báo cáo ngày 29/11/2026 — Phường Pleiku",
    "• Đang cách ly: 5 người",
    "• Đã khai báo hôm nay: 3",
    "• Chưa khai báo hôm nay: 2",
    "• Cảnh báo mới hôm nay: nguy hiểm 1, theo dõi 1, không khai báo 0",
    "• Cảnh báo chưa xử lý xong: 3",
    "• Kết thúc cách ly hôm nay: 1",
    "• Kết thúc cách ly ngày mai: 1",
])
PROVINCE_TEXT = "\n".join([
    "📊 Báo cáo ngày 29/11/2026 — Toàn tỉnh",
    "• Đang cách ly: 9 người",
    "• Đã khai báo hôm nay: 4",
    "• Chưa khai báo hôm nay: 5",
    "• Cảnh báo mới hôm nay: nguy hiểm 1, theo dõi 1, không khai báo 1",
    "• Cảnh báo chưa xử lý xong: 4",
    "• Kết thúc cách ly hôm nay: 1",
    "• Kết thúc cách ly ngày mai: 1",
    "  – Quy Nhơn: 3 người, 3 chưa khai",
    "  – Pleiku: 5 người, 2 chưa khai",
    "  – Ia Grai: 1 người, 0 chưa khai",
])


async def test_the_station_figures_on_a_known_data_set(core: Core, clock: Clock) -> None:
    await known_data_set(core, clock)
    async with core.db.session() as session:
        f = await figures(session, core, [await station_id(core)], TODAY)
    assert (f.in_quarantine, f.declared_today, f.missing_today) == (5, 3, 2)
    assert dict(f.new_alerts) == {"danger": 1, "watch": 1}
    assert (f.open_alerts, f.completed_today, f.ending_tomorrow) == (3, 1, 1)
    assert len(f.history) == HISTORY_DAYS and f.history[-1].day == TODAY
    today, yesterday, first = f.history[-1], f.history[-2], f.history[0]
    assert (today.in_quarantine, today.declared) == (6, 4)  # Phúc was in quarantine, and declared, on their last day
    assert (yesterday.in_quarantine, yesterday.declared) == (6, 0)
    assert dict(yesterday.alerts) == {"watch": 1, "silent": 1}
    assert first.day == date(2026, 11, 16) and dict(first.alerts) == {"watch": 1}
    assert first.in_quarantine == 1  # Phúc only
    assert report_text("vi", "Phường Pleiku", TODAY, f) == STATION_TEXT


async def test_the_province_report_has_a_line_per_station_most_silent_first(core: Core, clock: Clock) -> None:
    await known_data_set(core, clock)
    async with core.db.session() as session:
        text, chart = await report_replies(session, core, None, "vi")
    assert text.text == PROVINCE_TEXT
    assert chart.text == vi("report.chart_caption", name="Toàn tỉnh") and chart.photo.startswith(b"\x89PNG")


async def test_the_report_in_english(core: Core, clock: Clock) -> None:
    await known_data_set(core, clock)
    async with core.db.session() as session:
        station = await session.get(Station, await station_id(core))
        text, _ = await report_replies(session, core, station, "en")
    assert text.text.split("\n")[:3] == ["📊 Report for 29/11/2026 — Phường Pleiku", "• In quarantine: 5",
                                         "• Declared today: 3"]


async def test_the_chart_is_a_real_png_of_sensible_size(core: Core, clock: Clock) -> None:
    from matplotlib import image

    await known_data_set(core, clock)
    async with core.db.session() as session:
        f = await figures(session, core, None, TODAY)
    png = chart_png("vi", "Toàn tỉnh — 29/11/2026", f.history)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert 10_000 <= len(png) <= 300_000, len(png)
    pixels = image.imread(io.BytesIO(png), format="png")
    height, width, channels = pixels.shape
    assert 400 <= height <= 1200 and 600 <= width <= 1600 and channels in (3, 4), pixels.shape
    assert width > height  # landscape, readable on a phone turned sideways
    assert pixels.std() > 0.05  # not a blank image
    empty = chart_png("vi", "Trạm trống", [type(day)(day.day) for day in f.history])  # a station with nobody
    assert empty.startswith(b"\x89PNG") and len(empty) >= 10_000


# --- the round at the report time ----------------------------------------------------------------------------


async def reports(core: Core, group: str) -> list[Outbox]:
    return [m for m in await sent_to(core, group) if "Báo cáo" in m.payload["text"] or "photo" in m.payload]


async def test_the_report_round_sends_each_bound_group_its_report_once_a_day(core: Core, clock: Clock) -> None:
    clock.set_local(at(7))
    await bind_group(core, chat_id="-5001")
    await bind_group(core, "PROVINCE", "-7001", user_id="502")
    await add_person(core, "An", "301", start=YESTERDAY)
    await tick(core, clock, at(17, 29))
    assert await reports(core, "-5001") == [] and await reports(core, "-7001") == []
    await tick(core, clock, at(17, 30))
    await tick(core, clock, at(17, 31))
    await tick(core, clock, at(23, 59))
    station_text, station_photo = await reports(core, "-5001")
    assert station_text.payload["text"].startswith("📊 Báo cáo ngày 29/11/2026 — Phường Pleiku")
    assert "photo" not in station_text.payload
    assert station_photo.payload["text"] == vi("report.chart_caption", name="Phường Pleiku")
    assert base64.b64decode(station_photo.payload["photo"]).startswith(b"\x89PNG")
    province_text, province_photo = await reports(core, "-7001")
    assert province_text.payload["text"].startswith("📊 Báo cáo ngày 29/11/2026 — Toàn tỉnh")
    assert "  – Pleiku: 1 người, 1 chưa khai" in province_text.payload["text"]
    assert "photo" in province_photo.payload
    await tick(core, clock, at(17, 29, day=TOMORROW))
    assert len(await reports(core, "-5001")) == 2
    await tick(core, clock, at(17, 30, day=TOMORROW))
    assert len(await reports(core, "-5001")) == 4 and len(await reports(core, "-7001")) == 4
    assert (await reports(core, "-5001"))[2].payload["text"].startswith("📊 Báo cáo ngày 30/11/2026")


async def test_a_bot_that_starts_after_the_report_time_still_reports_that_day(core: Core, clock: Clock) -> None:
    clock.set_local(at(7))
    await bind_group(core, chat_id="-5001")
    await tick(core, clock, at(21))
    assert len(await reports(core, "-5001")) == 2


# --- /baocao ------------------------------------------------------------------------------------------------


async def test_baocao_in_a_bound_group_gives_the_report_with_its_chart(core: Core, clock: Clock) -> None:
    staff = await bind_group(core, chat_id="-5001")
    await add_person(core, "An", "301", start=YESTERDAY)
    await staff.say("/baocao")
    text, chart = staff.last
    assert text.text.startswith("📊 Báo cáo ngày 29/11/2026 — Phường Pleiku")
    assert "• Đang cách ly: 1 người" in text.text and "• Chưa khai báo hôm nay: 1" in text.text
    assert chart.photo is not None and chart.photo.startswith(b"\x89PNG")
    await staff.say("/report")  # the English alias
    assert staff.last[0].text == text.text


async def test_baocao_in_an_unbound_group_says_how_to_bind(core: Core) -> None:
    staff = ChatDriver(core, "501", chat_id="-5009", chat_type="group", name="Lan")
    await staff.say("/baocao")
    assert staff.text() == vi("report.not_bound")
    admin = ChatDriver(core, "999", chat_id="-5009", chat_type="group", name="Quản trị")
    await admin.say("/baocao")  # not even for an admin: who else is in that group is unknown
    assert admin.text() == vi("report.not_bound")


async def test_baocao_in_private_is_for_admins_only(core: Core, clock: Clock) -> None:
    await add_person(core, "An", "301", start=YESTERDAY)
    citizen = ChatDriver(core, "100")
    await citizen.say("/baocao")
    assert citizen.text() == vi("access.refused")  # staff roles: tests/test_authorization.py
    assert all(r.photo is None for r in citizen.last)
    admin = ChatDriver(core, "999", name="Quản trị")
    await admin.say("/baocao")
    text, chart = admin.last
    assert text.text.startswith("📊 Báo cáo ngày 29/11/2026 — Toàn tỉnh")
    assert "  – Pleiku: 1 người, 1 chưa khai" in text.text
    assert chart.photo.startswith(b"\x89PNG")


async def test_an_english_admin_gets_the_province_report_in_english(core: Core) -> None:
    admin = ChatDriver(core, "999", language_code="en", name="Admin")
    await admin.say("/report")
    assert admin.last[0].text.startswith("📊 Report for 29/11/2026 — Whole province")


@pytest.mark.parametrize("count", [45])
async def test_a_province_with_many_stations_keeps_its_report_short(core: Core, count: int) -> None:
    async with core.db.session() as session:
        codes = list((await session.exec(select(Station.code).order_by(Station.code).limit(count))).all())
    for i, code in enumerate(codes):
        await add_person(core, f"Người {i}", str(2000 + i), station=code, start=YESTERDAY)
    async with core.db.session() as session:
        text, _ = await report_replies(session, core, None, "vi")
    assert len(text.text) < 4096
    assert text.text.endswith(vi("report.more_stations", count=count - 40))
    assert len(await rows(core, Person)) == count
