"""End to end on Telegram (the real python-telegram-bot over HTTP against FakeBotAPI): a danger sign reaches the
station group at once, a left check-in is alerted as partial, "37 độ rưỡi" comes back in the recap, and one
alert message is edited as the answers come."""
from __future__ import annotations

from tests.fake_bot_api import JSON
from tests.telegram_steps import (
    CITIZEN,
    GROUP,
    Harness,
    bind_group_via_telegram,
    checkin_via_telegram,
    register_via_telegram,
    say,
    tap,
    toggle,
)

PARTIAL = "Khai báo chưa đủ"


def alert_messages(h: Harness) -> list[JSON]:
    return [m for m in h.fake.sent(GROUP) if "NGUY HIỂM" in m["text"] or "CẦN THEO DÕI" in m["text"]]


async def test_khó_thở_ticked_then_huy_reaches_the_group_marked_partial(harness: Harness) -> None:
    fake = harness.fake
    await bind_group_via_telegram(harness)
    await register_via_telegram(fake)
    await say(fake, CITIZEN, "/khaibao", "Nhiệt độ cơ thể")
    await say(fake, CITIZEN, "37", "triệu chứng")
    await toggle(fake, CITIZEN, "Khó thở")
    alert = await fake.wait_for_message(GROUP, lambda m: "NGUY HIỂM" in m["text"])  # before «Xong»
    assert "Khó thở" in alert["text"] and PARTIAL in alert["text"]
    await fake.wait_for_message(CITIZEN, lambda m: "Trạm y tế đã được báo ngay" in m["text"])

    await say(fake, CITIZEN, "/huy", "đã được lưu và trạm y tế đã được báo")
    assert len(alert_messages(harness)) == 1  # the same alert, not a second one
    assert PARTIAL in alert_messages(harness)[0]["text"]


async def test_thirty_minutes_of_silence_alert_the_group_on_the_test_clock(harness: Harness) -> None:
    fake = harness.fake
    await bind_group_via_telegram(harness)
    await register_via_telegram(fake)
    await say(fake, CITIZEN, "/khaibao", "Nhiệt độ cơ thể")
    await say(fake, CITIZEN, "38,6", "triệu chứng")
    harness.clock.advance(minutes=29)
    await harness.bot.scheduler.tick()
    assert alert_messages(harness) == []
    harness.clock.advance(minutes=2)
    await harness.bot.scheduler.tick()
    alert = await fake.wait_for_message(GROUP, lambda m: "CẦN THEO DÕI" in m["text"])
    assert "38,6°C" in alert["text"] and PARTIAL in alert["text"]
    await fake.wait_for_message(CITIZEN, lambda m: "đã được lưu và trạm y tế đã được báo" in m["text"])


async def test_37_độ_rưỡi_comes_back_in_the_recap_and_raises_watch(harness: Harness) -> None:
    fake = harness.fake
    await bind_group_via_telegram(harness)
    await register_via_telegram(fake)
    await say(fake, CITIZEN, "/khaibao", "Nhiệt độ cơ thể")
    await say(fake, CITIZEN, "37 độ hơi sốt nhẹ", "Nhiệt độ cần là một số")  # not read as 37
    await say(fake, CITIZEN, "37 độ rưỡi", "triệu chứng")
    await tap(fake, CITIZEN, "Không có triệu chứng", "SpO2")
    await tap(fake, CITIZEN, "Không có máy đo", "số lần thở")
    await tap(fake, CITIZEN, "Bỏ qua", "nhắn gì thêm")
    recap = await tap(fake, CITIZEN, "Không có", "Đúng chưa?")
    assert "nhiệt độ 37,5 °C" in recap["text"]
    await tap(fake, CITIZEN, "Sửa", "Nhiệt độ cơ thể")  # from the first question again
    await say(fake, CITIZEN, "37,5", "triệu chứng")
    await tap(fake, CITIZEN, "Không có triệu chứng", "SpO2")
    await tap(fake, CITIZEN, "Không có máy đo", "số lần thở")
    await tap(fake, CITIZEN, "Bỏ qua", "nhắn gì thêm")
    await tap(fake, CITIZEN, "Không có", "Đúng chưa?")
    await tap(fake, CITIZEN, "Đúng", "Có dấu hiệu cần theo dõi")
    alert = await fake.wait_for_message(GROUP, lambda m: "CẦN THEO DÕI" in m["text"])
    assert "Nhiệt độ 37,5°C" in alert["text"]


async def test_no_thermometer_felt_fever_is_said_in_the_alert(harness: Harness) -> None:
    fake = harness.fake
    await bind_group_via_telegram(harness)
    await register_via_telegram(fake)
    await say(fake, CITIZEN, "/khaibao", "Nhiệt độ cơ thể")
    await tap(fake, CITIZEN, "Không có nhiệt kế", "nóng người")
    await tap(fake, CITIZEN, "Có", "triệu chứng")
    await tap(fake, CITIZEN, "Không có triệu chứng", "SpO2")
    await tap(fake, CITIZEN, "Không có máy đo", "số lần thở")
    await tap(fake, CITIZEN, "Bỏ qua", "nhắn gì thêm")
    await tap(fake, CITIZEN, "Không có", "không có nhiệt kế, thấy sốt")
    await tap(fake, CITIZEN, "Đúng", "Có dấu hiệu cần theo dõi")
    alert = await fake.wait_for_message(GROUP, lambda m: "CẦN THEO DÕI" in m["text"])
    assert "không có nhiệt kế, thấy sốt" in alert["text"]


async def test_a_second_abnormal_checkin_edits_the_one_open_alert(harness: Harness) -> None:
    fake = harness.fake
    await bind_group_via_telegram(harness)
    await register_via_telegram(fake)
    await checkin_via_telegram(fake, temperature="38", expect="Có dấu hiệu cần theo dõi")
    first = await fake.wait_for_message(GROUP, lambda m: "CẦN THEO DÕI" in m["text"])
    await checkin_via_telegram(fake, temperature="37", breathing="32", expect="CẦN HỖ TRỢ NGAY")
    edited = await fake.wait_for_edit(GROUP, first["message_id"], lambda m: "NGUY HIỂM" in m["text"]
                                      and PARTIAL not in m["text"])
    assert "Nhịp thở 32" in edited["text"] and "Lần khai trước" in edited["text"]
    assert len(alert_messages(harness)) == 1  # one alert, its message edited


async def test_a_low_spo2_alone_is_measured_again_before_the_group_hears(harness: Harness) -> None:
    fake = harness.fake
    await bind_group_via_telegram(harness)
    await register_via_telegram(fake)
    await say(fake, CITIZEN, "/khaibao", "Nhiệt độ cơ thể")
    await say(fake, CITIZEN, "36,8", "triệu chứng")
    await tap(fake, CITIZEN, "Không có triệu chứng", "SpO2")
    await say(fake, CITIZEN, "93", "đo lại sau 1 phút")
    assert alert_messages(harness) == []
    await say(fake, CITIZEN, "92", "số lần thở")
    alert = await fake.wait_for_message(GROUP, lambda m: "NGUY HIỂM" in m["text"])
    assert "SpO2 92" in alert["text"]
