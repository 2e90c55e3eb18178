"""Escalation: an alert nobody took within N minutes goes to the province group (or the admins), once."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings
from chat.payloads import AlertPress
from health.rules import load_rules
from scheduler.runner import Scheduler
from services.alerts import ACK, render_alert
from services.env import Core
from storage.db import Database
from storage.models import Alert
from storage.outbox import post
from tests.conftest import TZ, Clock
from tests.factories import (
    GROUP,
    add_alert,
    add_person,
    at,
    audit_events,
    bind_group,
    get,
    group_chat,
    sent_to,
    texts,
    tick,
)

PROVINCE_GROUP = "-7001"


async def _untaken_alert(core: Core, clock: Clock, province: bool = True) -> int:
    await bind_group(core)
    if province:
        await bind_group(core, "PROVINCE", PROVINCE_GROUP, user_id="502")
    person = await add_person(core, "Nguyễn Văn An")
    clock.set_local(at(9))
    return await add_alert(core, person, at=at(9))


async def test_an_alert_nobody_took_goes_to_the_province_group_after_15_minutes(core: Core, clock: Clock) -> None:
    alert_id = await _untaken_alert(core, clock)
    await tick(core, clock, at(9, 14))
    assert [m for m in await sent_to(core, PROVINCE_GROUP) if m.alert_id] == []  # not yet at 14 minutes
    await tick(core, clock, at(9, 15))
    copies = [m for m in await sent_to(core, PROVINCE_GROUP) if m.alert_id == alert_id]
    assert len(copies) == 1
    text = copies[0].payload["text"]
    assert "NGUY HIỂM" in text and "Nguyễn Văn An" in text and "Chưa ai tiếp nhận sau 15 phút" in text
    assert [label for row in copies[0].payload["buttons"] for label, _ in row] == ["✋ Đã tiếp nhận", "✅ Đã xử lý"]
    reminders = [t for t in texts(await sent_to(core, GROUP)) if t.startswith("⏰")]
    assert reminders == ["⏰ Cảnh báo chưa ai tiếp nhận sau 15 phút: Nguyễn Văn An. Đã báo lên tuyến tỉnh. Xin bấm "
                         "«Đã tiếp nhận» trên tin cảnh báo, hoặc gõ /canhbao để xem."]
    assert (await get(core, Alert, alert_id)).escalated_at is not None
    (event,) = await audit_events(core, "alert.escalate")
    assert event.entity_id == str(alert_id) and event.after == {"to": "province", "minutes": 15}


async def test_without_a_province_group_the_admins_get_it(core: Core, clock: Clock) -> None:
    alert_id = await _untaken_alert(core, clock, province=False)
    await tick(core, clock, at(9, 20))
    (copy,) = [m for m in await sent_to(core, "999") if m.alert_id == alert_id]
    assert "Chưa ai tiếp nhận sau 15 phút" in copy.payload["text"]
    assert (await audit_events(core, "alert.escalate"))[0].after["to"] == "admins"


async def test_never_twice_even_across_a_restart(core: Core, clock: Clock, seeded_db_url: str) -> None:
    alert_id = await _untaken_alert(core, clock)
    await tick(core, clock, at(9, 15))
    await tick(core, clock, at(9, 16))
    restarted = Core(Database(seeded_db_url), core.rules, TZ, admin_chats=core.admin_chats, clock=clock)
    try:
        clock.set_local(at(10))
        await Scheduler(restarted).tick()
    finally:
        await restarted.db.dispose()
    assert len([m for m in await sent_to(core, PROVINCE_GROUP) if m.alert_id == alert_id]) == 1
    assert len([t for t in texts(await sent_to(core, GROUP)) if t.startswith("⏰")]) == 1
    assert len(await audit_events(core, "alert.escalate")) == 1


async def test_a_taken_or_silent_alert_is_not_escalated(core: Core, clock: Clock) -> None:
    await bind_group(core, "PROVINCE", PROVINCE_GROUP, user_id="502")
    person = await add_person(core, "Nguyễn Văn An")
    clock.set_local(at(9))
    await add_alert(core, person, status="acknowledged")
    await add_alert(core, person, tier="silent")
    await tick(core, clock, at(10))
    assert [m for m in await sent_to(core, PROVINCE_GROUP) if m.alert_id] == []


async def test_the_province_group_may_take_an_escalated_alert_not_before(core: Core, clock: Clock) -> None:
    alert_id = await _untaken_alert(core, clock)
    province = group_chat(core, "700", "Anh Tuấn", PROVINCE_GROUP)
    await province.send(button=AlertPress(ACK, alert_id).encode(), message_id="5")
    assert province.last[0].text == "Bạn không thuộc trạm y tế phụ trách cảnh báo này."
    await tick(core, clock, at(9, 15))
    await province.send(button=AlertPress(ACK, alert_id).encode(), message_id="5")
    assert province.last[0].toast and "tiếp nhận" in province.last[0].text
    alert = await get(core, Alert, alert_id)
    assert alert.status == "acknowledged" and alert.acknowledged_by == "Anh Tuấn"


async def test_several_alerts_escalated_at_once_make_one_reminder(core: Core, clock: Clock) -> None:
    await _untaken_alert(core, clock)
    await add_alert(core, await add_person(core, "Lê Thị Hoa"), tier="watch", at=at(9, 1))
    await tick(core, clock, at(9, 30))
    assert [t for t in texts(await sent_to(core, GROUP)) if t.startswith("⏰")] == [
        "⏰ Cảnh báo chưa ai tiếp nhận sau 15 phút: Nguyễn Văn An, Lê Thị Hoa. Đã báo lên tuyến tỉnh. Xin bấm "
        "«Đã tiếp nhận» trên tin cảnh báo, hoặc gõ /canhbao để xem."]
    assert len([m for m in await sent_to(core, PROVINCE_GROUP) if m.alert_id]) == 2


async def test_the_minutes_come_from_the_rules_file_or_the_environment(core: Core, clock: Clock,
                                                                       tmp_path: Path) -> None:
    assert load_rules().schedule.escalate_after_minutes == 15
    rules_file = tmp_path / "rules.toml"
    rules_file.write_text("[alerts]\nescalate_after_minutes = 30\n", "utf-8")
    assert load_rules(rules_file).schedule.escalate_after_minutes == 30
    settings = load_settings(rules_file=rules_file, escalate_after_minutes=5)
    assert load_rules(settings.rules_file, settings.rules_overrides()).schedule.escalate_after_minutes == 5
    with pytest.raises(SettingsError, match="CACHLY_ESCALATE_AFTER_MINUTES"):
        load_settings(escalate_after_minutes=0)

    core.rules = load_rules(None, load_settings(escalate_after_minutes=5).rules_overrides())
    alert_id = await _untaken_alert(core, clock)
    await tick(core, clock, at(9, 5))
    assert [m for m in await sent_to(core, PROVINCE_GROUP) if m.alert_id == alert_id]


async def test_the_sandbox_console_sees_the_escalation(core: Core, clock: Clock) -> None:
    core.staff_console = ("sandbox", "console")
    person = await add_person(core, "Nguyễn Văn An")
    clock.set_local(at(9))
    alert_id = await add_alert(core, person, at=at(9))
    await tick(core, clock, at(9, 15))
    console = texts(await sent_to(core, "console"))
    assert any("Chưa ai tiếp nhận sau 15 phút" in text for text in console)
    assert any(text.startswith("⏰ Cảnh báo chưa ai tiếp nhận sau 15 phút: Nguyễn Văn An.") for text in console)
    assert [m for m in await sent_to(core, "999") if m.alert_id == alert_id]  # and the admins, as ever


async def test_a_station_without_a_group_reminds_the_admins_who_hold_the_alert(core: Core, clock: Clock) -> None:
    person = await add_person(core, "Nguyễn Văn An")
    clock.set_local(at(9))
    alert_id = await add_alert(core, person, at=at(9))
    async with core.db.session() as session:  # its copy went to the admins, the station having no group
        alert = await session.get(Alert, alert_id)
        post(session, "telegram", "999", await render_alert(session, core, alert, "vi"), core.utcnow(),
             alert_id=alert_id)
    await tick(core, clock, at(9, 15))
    admin = await sent_to(core, "999")
    assert len([m for m in admin if m.alert_id == alert_id]) == 1  # no second copy
    assert [t for t in texts(admin) if t.startswith("⏰")] == [
        "⏰ Cảnh báo chưa ai tiếp nhận sau 15 phút: Nguyễn Văn An. Đã báo lên tuyến tỉnh. Xin bấm «Đã tiếp nhận» "
        "trên tin cảnh báo, hoặc gõ /canhbao để xem."]
