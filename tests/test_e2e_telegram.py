"""End to end on Telegram: the real python-telegram-bot Application, over HTTP, against FakeBotAPI.

Nothing of python-telegram-bot is mocked: updates come by long polling, replies go out as Bot API
calls, and the tests read what a person or a station group would see. Time is the test's clock;
waiting is on the fake's events, never on sleep.
"""
from __future__ import annotations

import pytest

from storage.models import StaffMember
from tests.factories import PLEIKU, bind_code
from tests.fake_bot_api import JSON, FakeBotAPI
from tests.telegram_steps import (
    ADMIN,
    CITIZEN,
    GROUP,
    PHONE,
    STAFF_BINH,
    STAFF_LAN,
    Harness,
    alert_shown,
    bind_group_via_telegram,
    checkin_via_telegram,
    danger_checkin,
    register_via_telegram,
    say,
    tap,
)


def is_alert(msg: JSON) -> bool:
    return "NGUY HIỂM" in msg["text"]


# --- the scenarios ---------------------------------------------------------------------------------------


async def test_start_up_sets_command_menus_per_language_and_chat_type(harness: Harness) -> None:
    fake = harness.fake
    private, groups = {"type": "all_private_chats"}, {"type": "all_group_chats"}
    vi_private = {c["command"]: c["description"] for c in fake.commands("", private)}
    assert {"start", "khaibao", "nguoithan", "huy"} <= vi_private.keys()
    assert vi_private["khaibao"] == "Khai báo sức khỏe"
    en_private = {c["command"]: c["description"] for c in fake.commands("en", private)}
    assert {"start", "checkin", "household", "cancel"} <= en_private.keys()
    assert en_private["checkin"] == "Declare your health"
    assert "lienket" in [c["command"] for c in fake.commands("", groups)]
    assert "bind" in [c["command"] for c in fake.commands("en", groups)]
    assert "khaibao" not in [c["command"] for c in fake.commands("", groups)]  # citizens' commands stay private


async def test_registration_in_vietnamese_with_the_share_contact_button(harness: Harness) -> None:
    fake = harness.fake
    done = await register_via_telegram(fake)
    assert "12/12/2026" in done["text"]  # F1: 14 days from today, 29/11/2026
    keyboards = fake.reply_keyboards(CITIZEN)
    assert keyboards[0]["keyboard"][0][0]["request_contact"] is True
    assert keyboards[-1] == {"remove_keyboard": True}  # the share button goes away once used
    status = await say(fake, CITIZEN, "/start", "Tình trạng cách ly")
    assert "Nguyễn Văn An" in status["text"] and "đến hết ngày 12/12/2026 (còn" in status["text"]
    assert "chưa khai báo" in status["text"]


async def test_registration_with_a_typed_phone_number(harness: Harness) -> None:
    fake = harness.fake
    await register_via_telegram(fake, phone="0912.345.678")
    status = await say(fake, CITIZEN, "/start", "Tình trạng cách ly")
    assert "Nguyễn Văn An" in status["text"]


async def test_an_english_speaking_person_registers_in_english(harness: Harness) -> None:
    fake = harness.fake
    fake.user(2002, "John", "en")
    await say(fake, 2002, "/start", "Do you agree?")
    await tap(fake, 2002, "I agree", "full name")
    await say(fake, 2002, "John Smith", "What year were you born?")
    await say(fake, 2002, "20xx", "4 digits")  # a bad answer: what is expected, and the question again
    await say(fake, 2002, "1985", "Your gender?")
    await tap(fake, 2002, "Male", "phone number")
    await say(fake, 2002, "+84 912 345 678", "citizen ID")
    await tap(fake, 2002, "Skip", "commune or ward")
    await say(fake, 2002, "quy nhon", "Tap your commune")
    await tap(fake, 2002, "Quy Nhơn", "The address")
    await say(fake, 2002, "5 Tran Hung Dao", "kind of quarantine")
    await tap(fake, 2002, "F2", "start?")
    summary = await tap(fake, 2002, "Today", "Confirm")
    assert "John Smith" in summary["text"]
    done = await tap(fake, 2002, "Confirm", "You are registered!")
    assert "05/12/2026" in done["text"]  # F2: 7 days


async def test_household_member_is_offered_when_declaring(harness: Harness) -> None:
    fake = harness.fake
    await register_via_telegram(fake)
    await say(fake, CITIZEN, "/nguoithan", "người thân bạn khai hộ")
    await say(fake, CITIZEN, "Trần Thị Bình", "Người này sinh năm nào")
    await say(fake, CITIZEN, "1950", "Giới tính của người này")
    await tap(fake, CITIZEN, "Nữ", "diện cách ly nào")
    await tap(fake, CITIZEN, "F1", "bắt đầu cách ly")
    summary = await tap(fake, CITIZEN, "Hôm qua", "Thông tin người được khai hộ")
    assert "Trần Thị Bình" in summary["text"]
    await tap(fake, CITIZEN, "Xác nhận", "Đã thêm Trần Thị Bình")
    who = await say(fake, CITIZEN, "/khaibao", "Khai báo cho ai?")
    assert [label for label, _ in fake.buttons(who)] == ["Nguyễn Văn An", "Trần Thị Bình"]
    result = await checkin_via_telegram(fake, who="Trần Thị Bình")
    assert "Trần Thị Bình" in result["text"]
    again = await say(fake, CITIZEN, "/khaibao", "Khai báo cho ai?")
    assert [label for label, _ in fake.buttons(again)] == ["Nguyễn Văn An", "✅ Trần Thị Bình"]


async def test_a_normal_checkin_gets_a_result_and_alerts_nobody(harness: Harness) -> None:
    fake = harness.fake
    await bind_group_via_telegram(harness)
    await register_via_telegram(fake)
    result = await checkin_via_telegram(fake, temperature="36.8", spo2="98", breathing="16")
    assert "Sức khỏe bình thường" in result["text"]
    status = await say(fake, CITIZEN, "/start", "Tình trạng cách ly")
    assert "08:00" in status["text"]  # the 09:30 declaration belongs to the morning slot
    assert len(fake.sent(GROUP)) == 1  # the bind reply only
    assert fake.sent(ADMIN) == []
    assert await harness.outbox() == []


async def test_danger_checkin_alerts_the_bound_group_and_staff_take_it(harness: Harness) -> None:
    fake = harness.fake
    bound = await bind_group_via_telegram(harness)
    assert "Phường Pleiku" in bound["text"]
    await register_via_telegram(fake)
    await danger_checkin(fake)

    # Alerted at the tick of "Khó thở", then edited as the answers came: it ends showing them all, complete.
    alert = await alert_shown(harness, GROUP, lambda m: is_alert(m) and "SpO2 92" in m["text"]
                              and "chưa đủ" not in m["text"])
    for shown in ("Nguyễn Văn An", PHONE, "12 Lê Lợi", "SpO2 92", "Khó thở", "39,2°C"):
        assert shown in alert["text"], shown
    assert [label for label, _ in fake.buttons(alert)] == ["✋ Đã tiếp nhận", "✅ Đã xử lý"]
    assert fake.sent(ADMIN) == []  # a bound group: the admins are not bothered

    query = await fake.press(STAFF_LAN, alert, fake.button(alert, "Đã tiếp nhận"))
    answer = await fake.wait_for_call("answerCallbackQuery", lambda p: p["callback_query_id"] == query)
    assert "tiếp nhận" in answer["text"]
    taken = await fake.wait_for_edit(GROUP, alert["message_id"], lambda m: "Đã tiếp nhận:" in m["text"])
    assert "Đã tiếp nhận: Lan lúc 09:30" in taken["text"] and "Nguyễn Văn An" in taken["text"]
    assert [label for label, _ in fake.buttons(taken)] == ["✅ Đã xử lý"]

    # Bình's phone still showed the old buttons: the toast says who was first, nothing changes.
    query = await fake.press(STAFF_BINH, alert, fake.button(alert, "Đã tiếp nhận"), force=True)
    answer = await fake.wait_for_call("answerCallbackQuery", lambda p: p["callback_query_id"] == query)
    assert answer["text"] == "Lan đã tiếp nhận trước lúc 09:30."

    harness.clock.advance(minutes=20)
    query = await fake.press(STAFF_BINH, taken, fake.button(taken, "Đã xử lý"))
    await fake.wait_for_call("answerCallbackQuery", lambda p: p["callback_query_id"] == query)
    handled = await fake.wait_for_edit(GROUP, alert["message_id"], lambda m: "Đã xử lý:" in m["text"])
    assert "Đã xử lý: Bình lúc 09:50" in handled["text"] and "Đã tiếp nhận: Lan" in handled["text"]
    assert fake.buttons(handled) == []

    query = await fake.press(STAFF_LAN, alert, fake.button(alert, "Đã tiếp nhận"), force=True)
    answer = await fake.wait_for_call("answerCallbackQuery", lambda p: p["callback_query_id"] == query)
    assert answer["text"] == "Bình đã xử lý xong lúc 09:50."
    assert len([m for m in fake.sent(GROUP) if is_alert(m)]) == 1  # one message, edited in place


async def test_bind_codes_that_are_unknown_used_or_expired_are_refused(harness: Harness) -> None:
    fake, clock = harness.fake, harness.clock
    fake.group(GROUP, "Trạm Y tế Phường Pleiku")
    fake.group(GROUP - 1, "Nhóm khác")
    await say(fake, STAFF_LAN, "/lienket ABCD2345", "Mã liên kết không đúng", chat=GROUP)
    await say(fake, STAFF_LAN, "/lienket", "Cách dùng: /lienket MÃ", chat=GROUP)

    code = await bind_code(harness.core, PLEIKU)
    await say(fake, STAFF_LAN, f"/lienket {code.lower()}", "đã được liên kết", chat=GROUP)
    await say(fake, STAFF_BINH, f"/lienket {code}", "đã được dùng rồi", chat=GROUP - 1)

    old = await bind_code(harness.core, PLEIKU)
    clock.advance(hours=25)
    await say(fake, STAFF_BINH, f"/lienket {old}", "đã hết hạn", chat=GROUP - 1)


async def test_a_station_without_a_group_alerts_the_admins_in_private(harness: Harness) -> None:
    fake = harness.fake
    await register_via_telegram(fake)
    await danger_checkin(fake)
    alert = await fake.wait_for_message(ADMIN, is_alert)
    assert "Nguyễn Văn An" in alert["text"] and PHONE in alert["text"]
    query = await fake.press(ADMIN, alert, fake.button(alert, "Đã tiếp nhận"))
    await fake.wait_for_call("answerCallbackQuery", lambda p: p["callback_query_id"] == query)
    taken = await fake.wait_for_edit(ADMIN, alert["message_id"], lambda m: "Đã tiếp nhận:" in m["text"])
    assert "Đã tiếp nhận: Quản trị" in taken["text"]


async def test_a_restart_in_the_middle_of_registration_continues_where_it_stopped(harness: Harness) -> None:
    fake = harness.fake
    await say(fake, CITIZEN, "/start", "Bạn có đồng ý không?")
    await tap(fake, CITIZEN, "Đồng ý", "Họ và tên")
    await say(fake, CITIZEN, "Lê Thị Hoa", "sinh năm nào")
    await say(fake, CITIZEN, "1990", "Giới tính")

    await harness.restart()  # a new TelegramBot and Core on the same database and Bot API

    await tap(fake, CITIZEN, "Nữ", "Số điện thoại")  # a button of the old process still works
    await say(fake, CITIZEN, "0987 654 321", "Số CCCD")
    await say(fake, CITIZEN, "123", "12 số")  # bad CCCD: said what is expected, asked again
    await say(fake, CITIZEN, "079190001234", "xã/phường nào")
    await say(fake, CITIZEN, "pleiku", "Bấm chọn xã/phường")
    await tap(fake, CITIZEN, "Phường Pleiku", "Địa chỉ")
    await say(fake, CITIZEN, "Thôn 2", "diện cách ly nào")
    await tap(fake, CITIZEN, "F1", "bắt đầu cách ly")
    summary = await tap(fake, CITIZEN, "Hôm nay", "Thông tin đăng ký")
    for given in ("Lê Thị Hoa", "1990", "Nữ", "0987654321", "079190001234"):
        assert given in summary["text"], given
    await tap(fake, CITIZEN, "Xác nhận", "Đăng ký xong")


async def test_an_alert_survives_send_failures(harness: Harness) -> None:
    fake, clock = harness.fake, harness.clock
    await bind_group_via_telegram(harness)
    await register_via_telegram(fake)
    sender = harness.bot.sender
    await sender.stop()  # hold the alert back so that the injected failure hits it, not the citizen's reply
    await danger_checkin(fake)
    fake.fail_next("sendMessage", 500, "Internal Server Error")
    assert await sender.run_once() == 1  # one delivery round, by hand: the Bot API fails it
    [row] = await harness.outbox()
    assert (row.status, row.attempts) == ("pending", 1) and row.last_error
    assert await sender.run_once() == 0  # not again before its backoff
    assert [m for m in fake.sent(GROUP) if is_alert(m)] == []

    sender.start()
    clock.advance(seconds=5)  # past the backoff, on the core's clock
    harness.core.outbox_ready.set()
    alert = await fake.wait_for_message(GROUP, is_alert)
    assert "Nguyễn Văn An" in alert["text"]
    alert_sends = [p for _, p in fake.calls("sendMessage") if "NGUY HIỂM" in p["text"]]
    assert len(alert_sends) == 2  # the failed attempt and the retry, no duplicate


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # PTB's own rate limiter
async def test_an_alert_survives_telegram_flood_control(harness: Harness) -> None:
    fake = harness.fake
    await bind_group_via_telegram(harness)
    await register_via_telegram(fake)
    await harness.bot.sender.stop()
    await danger_checkin(fake)
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    harness.bot.sender.start()
    alert = await fake.wait_for_message(GROUP, is_alert)  # retried after the second Telegram asked for
    assert "Nguyễn Văn An" in alert["text"]
    assert [p["chat_id"] for _, p in fake.calls("sendMessage")][-2:] == [GROUP, GROUP]


async def test_an_alert_queued_while_the_bot_was_down_is_delivered_on_start(harness: Harness) -> None:
    fake = harness.fake
    await bind_group_via_telegram(harness)
    await register_via_telegram(fake)
    await harness.bot.sender.stop()  # the process dies after committing the alert, before sending it
    await danger_checkin(fake)
    await harness.stop()
    assert [row.status for row in await harness.outbox()] == ["pending"]
    assert [m for m in fake.sent(GROUP) if is_alert(m)] == []

    await harness.start()
    alert = await fake.wait_for_message(GROUP, is_alert)
    assert "Nguyễn Văn An" in alert["text"]



OLD_GROUP, SUPERGROUP = -4005001, -1004005001  # a basic group, and the supergroup Telegram upgrades it to


async def bind_basic_group(h: Harness) -> None:
    h.fake.group(OLD_GROUP, "Trạm Y tế Phường Pleiku", type="group")
    await say(h.fake, STAFF_LAN, f"/lienket {await bind_code(h.core, PLEIKU)}", "đã được liên kết", chat=OLD_GROUP)


async def test_a_group_upgraded_to_a_supergroup_keeps_its_station_and_alerts(harness: Harness) -> None:
    fake = harness.fake
    await bind_basic_group(harness)
    fake.migrate_group(OLD_GROUP, SUPERGROUP, by_user=STAFF_LAN)  # Telegram tells the bot in both chats
    report = await say(fake, STAFF_LAN, "/baocao", "Phường Pleiku", chat=SUPERGROUP)  # still bound, new id
    assert "chưa được liên kết" not in report["text"]
    await register_via_telegram(fake)
    await danger_checkin(fake)
    alert = await fake.wait_for_message(SUPERGROUP, is_alert)
    assert "Nguyễn Văn An" in alert["text"]
    assert [p for _, p in fake.calls("sendMessage") if p["chat_id"] == OLD_GROUP and is_alert(p)] == []


async def test_an_alert_to_a_group_that_became_a_supergroup_unseen_follows_it(harness: Harness) -> None:
    """The bot missed Telegram's word of the upgrade: the refused alert itself says where the group went."""
    fake = harness.fake
    await bind_basic_group(harness)
    await register_via_telegram(fake)
    await harness.bot.sender.stop()
    await danger_checkin(fake)
    fake.migrate_group(OLD_GROUP, SUPERGROUP, by_user=STAFF_LAN, tell_bot=False)
    harness.bot.sender.start()
    alert = await fake.wait_for_message(SUPERGROUP, is_alert)
    assert "Nguyễn Văn An" in alert["text"]
    refused = [p for _, p in fake.calls("sendMessage") if p["chat_id"] == OLD_GROUP and is_alert(p)]
    assert len(refused) == 1  # tried once at the old id, then never again
    # The binding moved too: staff take the alert in the new group, and its report is the station's.
    query = await fake.press(STAFF_LAN, alert, fake.button(alert, "Đã tiếp nhận"))
    answer = await fake.wait_for_call("answerCallbackQuery", lambda p: p["callback_query_id"] == query)
    assert "tiếp nhận" in answer["text"]
    await say(fake, STAFF_LAN, "/baocao", "Phường Pleiku", chat=SUPERGROUP)
    await harness.bot.sender.stop()  # its delivery round recorded, then the row is read
    [row] = [r for r in await harness.outbox() if r.alert_id is not None]
    assert (row.chat_id, row.status) == (str(SUPERGROUP), "sent")


def chat_menu(fake: FakeBotAPI, user: int) -> list[str]:
    return [c["command"] for c in fake.commands(scope={"type": "chat", "chat_id": user})]


async def test_each_role_sees_its_commands_in_its_chat_menu(harness: Harness) -> None:
    fake = harness.fake
    # At start, in the background: the admins of the settings get theirs.
    assert await fake.wait_until(lambda: "capquyen" in chat_menu(fake, ADMIN))
    assert chat_menu(fake, ADMIN)[:3] == ["danhsach", "tra", "canhbao"] and "khaibao" in chat_menu(fake, ADMIN)
    assert chat_menu(fake, STAFF_LAN) == []  # no role: the menu every private chat has
    await say(fake, ADMIN, f"/capquyen {STAFF_LAN} nhanvien {PLEIKU}", "nhân viên")
    lan = chat_menu(fake, STAFF_LAN)
    assert {"danhsach", "maunhap", "khaibao"} <= set(lan) and "capquyen" not in lan
    [entry] = [c for c in fake.commands(scope={"type": "chat", "chat_id": STAFF_LAN}) if c["command"] == "xuat"]
    assert entry["description"] == "Xuất danh sách ra tệp Excel"  # in Lan's language
    await say(fake, ADMIN, f"/thuhoi {STAFF_LAN}", "thu hồi")
    assert chat_menu(fake, STAFF_LAN) == []
    async with harness.core.db.session() as session:  # a role given while the bot was down (e.g. restored)
        session.add(StaffMember(channel="telegram", user_id=str(STAFF_BINH), role="province"))
    await harness.restart()  # gets its menu at the next start
    assert await fake.wait_until(lambda: "thongke" in chat_menu(fake, STAFF_BINH))
    assert "maunhap" not in chat_menu(fake, STAFF_BINH)  # a province viewer imports nothing
