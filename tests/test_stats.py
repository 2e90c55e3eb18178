"""/thongke: a station's statistics, the province's station by station, as text and a chart; who may see them."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.env import Core
from services.reports import gather
from storage.models import Person
from tests.conftest import TZ, ChatDriver
from tests.factories import (
    ADMIN_USER,
    NOBODY_USER,
    PLEIKU,
    QUY_NHON,
    STAFF_USER,
    TODAY,
    VIEWER_USER,
    add_alert,
    add_declaration,
    add_person,
    add_staff,
    station_id,
)

PNG = b"\x89PNG\r\n\x1a\n"


def utc(day_offset: int, hour: int, minute: int = 0) -> datetime:
    local = datetime.combine(TODAY + timedelta(days=day_offset), datetime.min.time()).replace(hour=hour, minute=minute)
    return local.replace(tzinfo=TZ).astimezone(UTC)


async def person(core: Core, name: str, category: str, station: str = PLEIKU, status: str = "active") -> Person:
    start = TODAY - timedelta(days=3)
    return await add_person(core, name, f"chat-{name}", start=start, end=start + timedelta(days=13), station=station,
                            status=status, category=category, phone=f"09{sum(map(ord, name)):08d}")


@pytest.fixture
async def data(core: Core) -> None:
    """Phường Pleiku: 3 in quarantine (F1, F2, after central; 2 declared today), 1 completed; alerts of the week
    taken after 12 and 30 minutes, one not taken, one older. Quy Nhơn: 1 (F1, silent), an open danger alert."""
    an = await person(core, "An", "f1")
    binh = await person(core, "Bình", "f2")
    cuong = await person(core, "Cường", "after_central")
    await person(core, "Dũng", "f1", status="completed")
    await add_declaration(core, an, TODAY, "08:00")
    await add_declaration(core, cuong, TODAY, "08:00", tier="watch")
    await add_declaration(core, cuong, TODAY - timedelta(days=1), "08:00")
    await add_alert(core, cuong, "watch", "resolved", at=utc(0, 8, 10), taken_at=utc(0, 8, 22))
    await add_alert(core, an, "danger", "acknowledged", at=utc(-1, 10), taken_at=utc(-1, 10, 30))
    await add_alert(core, binh, "silent", at=utc(-3, 9))
    await add_alert(core, binh, "watch", "resolved", at=utc(-8, 9), taken_at=utc(-8, 9, 5))  # more than a week ago
    em = await person(core, "Em", "f1", station=QUY_NHON)
    await add_alert(core, em, "danger", at=utc(0, 7))


async def test_the_figures_of_a_station(core: Core, data: None) -> None:
    async with core.db.session() as session:
        s = await gather(session, core, [await station_id(core)], TODAY)
    assert s.figures.in_quarantine == 3 and s.figures.declared_today == 2 and s.declared_percent == 67
    assert dict(s.by_category) == {"f1": 1, "f2": 1, "after_central": 1}
    assert dict(s.week_alerts) == {"watch": 1, "danger": 1, "silent": 1}
    assert (s.figures.open_alerts, s.untaken, s.median_minutes, s.completed) == (2, 1, 21, 1)


async def test_staff_see_their_station_as_text_and_a_chart(core: Core, data: None) -> None:
    await add_staff(core, STAFF_USER)
    staff = ChatDriver(core, STAFF_USER)
    await staff.say("/thongke")
    text, chart = staff.last
    assert text.text.splitlines() == [
        "📈 Thống kê ngày 29/11/2026 — Phường Pleiku",
        "• Đang cách ly: 3 người",
        "• Theo diện: Sau cách ly tập trung: 1, F1 (tiếp xúc gần): 1, F2 (tiếp xúc với F1): 1",
        "• Đã khai báo hôm nay: 2/3 (67%)",
        "• Cảnh báo 7 ngày qua: nguy hiểm 1, theo dõi 1, không khai báo 1",
        "• Cảnh báo chưa xử lý xong: 2 (chưa ai nhận: 1)",
        "• Thời gian nhận cảnh báo (trung vị, 7 ngày qua): 21 phút",
        "• Đã hoàn thành cách ly: 1 người",
    ]
    assert chart.photo.startswith(PNG) and "Phường Pleiku" in chart.text
    await staff.say("/stats")
    assert staff.last[1].photo.startswith(PNG)


async def test_admins_see_the_province_by_station_or_one_station(core: Core, data: None) -> None:
    admin = ChatDriver(core, ADMIN_USER)
    await admin.say("/thongke")
    lines = admin.last[0].text.splitlines()
    assert lines[0] == "📈 Thống kê ngày 29/11/2026 — Toàn tỉnh"
    assert "• Đang cách ly: 4 người" in lines and "• Đã khai báo hôm nay: 2/4 (50%)" in lines
    at = lines.index("Theo trạm (đang cách ly, đã khai hôm nay, cảnh báo chưa xong):")
    assert lines[at + 1:] == ["  – Pleiku: 3 người, 67% đã khai, 2 cảnh báo",
                              "  – Quy Nhơn: 1 người, 0% đã khai, 1 cảnh báo"]
    assert admin.last[1].photo.startswith(PNG)
    await admin.say(f"/thongke {QUY_NHON}")
    assert admin.last[0].text.splitlines()[1] == "• Đang cách ly: 1 người"
    assert "Theo trạm" not in admin.last[0].text


async def test_no_alert_taken_yet(core: Core) -> None:
    admin = ChatDriver(core, ADMIN_USER)
    await admin.say("/thongke")
    assert "chưa có cảnh báo nào được nhận trong 7 ngày qua" in admin.text()
    assert "• Đã khai báo hôm nay: 0/0 (0%)" in admin.text()


async def test_who_may_see_which_statistics(core: Core, data: None) -> None:
    await add_staff(core, STAFF_USER)
    staff = ChatDriver(core, STAFF_USER)
    await staff.say(f"/thongke {QUY_NHON}")
    assert "không có quyền" in staff.text() and all(r.photo is None for r in staff.last)
    await add_staff(core, VIEWER_USER, "province", None)
    viewer = ChatDriver(core, VIEWER_USER)
    await viewer.say(f"/thongke {QUY_NHON}")
    assert viewer.last[1].photo.startswith(PNG)
    nobody = ChatDriver(core, NOBODY_USER)
    await nobody.say("/thongke")
    assert "không có quyền" in nobody.text() and all(r.photo is None for r in nobody.last)
