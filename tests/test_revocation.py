"""Revocation takes effect at once, everywhere: every step and every button of a conversation opened before a role
was revoked (or a staff member moved to another station) checks the role again, refuses with the usual message,
shows no personal data and ends the conversation. And a person's text cannot fake lines of a staff post."""
from __future__ import annotations

import unicodedata

import pytest

from chat.messages import Reply
from chat.text import one_line
from services.env import Core
from storage.models import Account, Alert, ConversationState, HelpMessage, HelpRequest, Person, PersonNote
from storage.roles import PROVINCE
from tests import telegram_steps as e2e
from tests.conftest import ChatDriver, register
from tests.factories import (
    GROUP,
    PLEIKU,
    QUY_NHON,
    TODAY,
    add_alert,
    add_person,
    add_staff,
    audit_events,
    bind_group,
    get,
    payloads,
    sent_to,
    staff_chat,
    station_id,
    texts,
)
from tests.steps import rows, vi

NAME, PHONE, CCCD = "Nguyễn Văn An", "0912345678", "001234567890"
VIEWER, STAFF_ID = "601", "500"
REFUSED = vi("access.refused")


def admin(core: Core) -> ChatDriver:
    return ChatDriver(core, "999", name="Quản trị")


async def revoke(core: Core, user_id: str) -> None:
    """/thuhoi, as an admin does it."""
    boss = admin(core)
    await boss.say(f"/thuhoi {user_id}")
    assert boss.text() == vi("revoke.ok", user=user_id), boss.text()


async def move(core: Core, user_id: str, station: str) -> None:
    """/capquyen USER staff STATION: the staff member now works for another station."""
    boss = admin(core)
    await boss.say(f"/capquyen {user_id} staff {station}")
    assert boss.text().startswith("✅"), boss.text()


def shows_nothing_personal(replies: list[Reply]) -> None:
    for reply in replies:
        shown = " ".join([reply.text, *(b.label for row in reply.buttons for b in row)])
        for value in (NAME, PHONE, CCCD, "12 Lê Lợi"):
            assert value not in shown, (value, shown)


async def conversation(core: Core, chat: ChatDriver) -> ConversationState | None:
    """The conversation the chat's account is in, if any."""
    [account] = await rows(core, Account, Account.external_id == chat.user_id)
    return await get(core, ConversationState, account.id)


async def refused_as(core: Core) -> list[str]:
    return [e.entity_id for e in await audit_events(core, "access.refused")]


async def press_payload(chat: ChatDriver, prefix: str) -> list[Reply]:
    """Press the newest button whose payload begins with `prefix`, as the person would on that message."""
    [payload, *_] = [p for p in payloads(chat) if p.startswith(prefix)]
    return await chat.send(button=payload, message_id="7")


@pytest.fixture
async def an(core: Core) -> int:
    """A person of Phường Pleiku with an open danger alert."""
    person = await add_person(core, NAME, chat_id="100", phone=PHONE, id_number=CCCD)
    await add_alert(core, person, "danger")
    return person.id


@pytest.fixture
async def viewer(core: Core) -> ChatDriver:
    await add_staff(core, VIEWER, PROVINCE, station=None, name="Tỉnh")
    return staff_chat(core, VIEWER, "Tỉnh")


@pytest.fixture
async def lan(core: Core) -> ChatDriver:
    await add_staff(core, STAFF_ID, station=PLEIKU, name="Lan")
    return staff_chat(core, STAFF_ID, "Lan")


# --- a province viewer ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("command", "what"), [("/canhbao pleiku", "alerts"), ("/danhsach pleiku", "lists")])
async def test_a_revoked_viewer_picking_the_station_of_an_open_question_is_refused(
        core: Core, viewer: ChatDriver, an: int, command: str, what: str) -> None:
    await viewer.say(command)
    assert vi("lists.pick_station") in viewer.text()
    await revoke(core, VIEWER)
    await viewer.press("Phường Pleiku")
    assert viewer.text() == REFUSED
    shows_nothing_personal(viewer.last)
    assert await conversation(core, viewer) is None  # the question is gone: the next text is no station search
    assert await refused_as(core) == [what]


async def test_a_revoked_viewer_asked_for_a_station_cannot_type_one_either(core: Core, viewer: ChatDriver,
                                                                           an: int) -> None:
    await viewer.say("/canhbao pleiku")
    await revoke(core, VIEWER)
    await viewer.press("Toàn tỉnh")
    assert viewer.text() == REFUSED
    await viewer.say("pleiku")
    assert vi("lists.pick_station") not in viewer.text()
    shows_nothing_personal(viewer.last)


async def test_the_same_viewer_not_revoked_sees_the_alerts(core: Core, viewer: ChatDriver, an: int) -> None:
    """The control: the very same press shows the alert while the role holds."""
    await viewer.say("/canhbao pleiku")
    await viewer.press("Phường Pleiku")
    assert NAME in viewer.text() and PHONE in viewer.text()


@pytest.mark.parametrize("prefix", ["card:", "alerts:", "list:"])
async def test_a_revoked_viewer_pressing_a_button_of_an_earlier_page_is_refused(
        core: Core, viewer: ChatDriver, an: int, prefix: str) -> None:
    if prefix == "list:":
        await viewer.say("/danhsach")
        await viewer.press("Toàn tỉnh")
    else:
        for _ in range(11):  # a second page of alerts: the page has its "next" button
            await add_alert(core, an, "watch")
        await viewer.say("/canhbao")
    assert any(p.startswith(prefix) for p in payloads(viewer)), payloads(viewer)
    await revoke(core, VIEWER)
    replies = await press_payload(viewer, prefix)
    assert [r.text for r in replies] == [REFUSED]
    shows_nothing_personal(replies)


async def test_a_viewer_revoked_while_a_question_is_open_loses_it_with_the_first_refusal(
        core: Core, viewer: ChatDriver, an: int) -> None:
    await viewer.say("/canhbao pleiku")  # the station question stays open
    await revoke(core, VIEWER)
    await viewer.say("/canhbao")
    assert viewer.text() == REFUSED
    assert await conversation(core, viewer) is None


# --- a staff member's open conversations -----------------------------------------------------------------------


async def test_a_revoked_staff_member_cannot_finish_a_note(core: Core, lan: ChatDriver, an: int) -> None:
    await lan.send(button=f"card:{an}", message_id="5")
    await lan.press("Ghi chú")
    assert NAME in lan.text()
    await revoke(core, STAFF_ID)
    await lan.say("Gọi được, ho nhẹ")
    assert lan.text() == REFUSED
    assert await rows(core, PersonNote) == []
    assert await conversation(core, lan) is None
    assert await refused_as(core) == ["pa:note"]


async def test_a_question_asked_again_after_revocation_is_refused(core: Core, lan: ChatDriver, an: int) -> None:
    """An unknown command asks the open question again: not with the person's name for a revoked member."""
    await lan.send(button=f"pa:ext:{an}", message_id="5")
    await revoke(core, STAFF_ID)
    await lan.say("/khongcolenhnay")
    assert REFUSED in lan.text()
    shows_nothing_personal(lan.last)
    assert await conversation(core, lan) is None


async def test_a_revoked_staff_member_cannot_finish_a_search(core: Core, lan: ChatDriver, an: int) -> None:
    await lan.say("/tra")
    await revoke(core, STAFF_ID)
    await lan.say("an")
    assert lan.text() == REFUSED
    shows_nothing_personal(lan.last)
    assert await conversation(core, lan) is None


async def test_staff_moved_to_another_station_pressing_a_card_action_of_the_old_one(
        core: Core, lan: ChatDriver, an: int) -> None:
    await lan.send(button=f"card:{an}", message_id="5")
    assert NAME in lan.text()
    actions = [p for p in payloads(lan) if p.startswith("pa:")]
    assert len(actions) == 6, actions
    await move(core, STAFF_ID, QUY_NHON)
    for payload in [*actions, f"pa:cat:{an}:f2", f"pa:endok:{an}"]:
        await lan.send(button=payload, message_id="5")
        assert lan.text() == REFUSED, payload
        shows_nothing_personal(lan.last)
    person = await get(core, Person, an)
    assert (person.end_date, person.category) == (TODAY.replace(day=12, month=12), "f1")
    assert await conversation(core, lan) is None


async def test_staff_moved_to_another_station_cannot_finish_a_transfer(core: Core, lan: ChatDriver, an: int) -> None:
    await lan.send(button=f"pa:xfer:{an}", message_id="5")
    await move(core, STAFF_ID, QUY_NHON)
    await lan.say("Ia Grai")
    assert lan.text() == REFUSED
    assert (await get(core, Person, an)).station_id == await station_id(core, PLEIKU)


async def test_a_revoked_staff_member_cannot_take_an_alert_from_their_private_list(
        core: Core, lan: ChatDriver, an: int) -> None:
    await lan.say("/canhbao")
    await revoke(core, STAFF_ID)
    replies = await press_payload(lan, "alert:ack:")
    assert [(r.text, r.toast) for r in replies] == [(vi("alert.not_allowed"), True)]
    [alert] = await rows(core, Alert)
    assert alert.status == "open"


async def test_members_of_the_bound_group_still_take_alerts(core: Core, lan: ChatDriver, an: int) -> None:
    """Unchanged: the group's members take and close its alerts, whatever their staff record says."""
    group = await bind_group(core, user_id=STAFF_ID, name="Lan")
    await revoke(core, STAFF_ID)
    [alert] = await rows(core, Alert)
    await group.send(button=f"alert:ack:{alert.id}", message_id="9")
    assert (await get(core, Alert, alert.id)).status == "acknowledged"


# --- a staff member's answer to a help request ----------------------------------------------------------------


@pytest.fixture
async def request_(core: Core, chat: ChatDriver) -> HelpRequest:
    await register(chat, name=NAME, phone=PHONE)
    await chat.say("/phananh")
    await chat.say("Nhà tôi hết thuốc hạ sốt")
    [request] = await rows(core, HelpRequest)
    return request


async def staff_answers(core: Core) -> list[HelpMessage]:
    return await rows(core, HelpMessage, HelpMessage.sender == "staff")


async def test_a_revoked_staff_member_cannot_answer_from_an_open_reply(core: Core, lan: ChatDriver,
                                                                      request_: HelpRequest) -> None:
    await lan.say("/phananhmo")
    await lan.press("Trả lời")
    assert lan.last[0].force_reply
    await revoke(core, STAFF_ID)
    await lan.say("Chiều nay trạm mang thuốc tới")
    assert lan.text() == REFUSED
    shows_nothing_personal(lan.last)
    assert await staff_answers(core) == []
    assert not [t for t in texts(await sent_to(core, "100")) if "Chiều nay" in t]  # the person got nothing
    assert (await get(core, HelpRequest, request_.id)).status == "new"
    assert await conversation(core, lan) is None
    assert await refused_as(core) == [f"request:{request_.id}"]


async def test_an_open_reply_in_the_group_of_the_old_station_is_refused_after_a_transfer(
        core: Core, lan: ChatDriver, request_: HelpRequest) -> None:
    hoa = await bind_group(core)  # after the request: Lan's answer below is the group's only
    await hoa.send(button=f"req:answer:{request_.id}", message_id="8")
    assert hoa.last[0].force_reply
    await lan.send(button=f"pa:xfer:{request_.person_id}", message_id="5")
    await lan.say("Quy Nhơn")
    await lan.press("Phường Quy Nhơn")
    assert (await get(core, HelpRequest, request_.id)).station_id == await station_id(core, QUY_NHON)
    await hoa.say("Chiều nay trạm mang thuốc tới")
    assert hoa.text() == REFUSED
    assert await staff_answers(core) == []
    await hoa.say("chuyện khác trong nhóm")  # the question is over: the group's chatter is not an answer
    assert hoa.last == []


async def test_an_open_reply_in_the_bound_group_still_answers(core: Core, request_: HelpRequest) -> None:
    """The control: the same answer, the group still the request's station's, goes to the person."""
    hoa = await bind_group(core)
    await hoa.send(button=f"req:answer:{request_.id}", message_id="8")
    await hoa.say("Chiều nay trạm mang thuốc tới")
    assert [m.text for m in await staff_answers(core)] == ["Chiều nay trạm mang thuốc tới"]


# --- a person's text cannot fake lines of a staff post ----------------------------------------------------------

FAKE = "cần thuốc\n\n✅ Đã xử lý bởi Lan\r\nGửi lúc: 08:00\u2028\u202eabc\u2066x\u2069\u200f\u200b!"
INVISIBLE = ("\u202e", "\u2066", "\u2069", "\u200f", "\u200e", "\u200b", "\ufeff", "\u2028", "\u2029", "\r")


@pytest.mark.parametrize(("typed", "shown"), [
    ("cần thuốc\n\n✅ Đã xử lý bởi Lan", "cần thuốc ⏎ ✅ Đã xử lý bởi Lan"),
    ("a\r\nb\rc\u2028d\u2029e\x85f\x0bg", "a ⏎ b ⏎ c ⏎ d ⏎ e ⏎ f ⏎ g"),
    ("tôi \u202eốm\u202c \u2066nặng\u2069\u200e\u200f", "tôi ốm nặng"),
    ("khó\u200bthở\ufeff, sốt\t39", "khóthở, sốt 39"),
    ("  \n\n  ", ""),
    ("Hòa", "Hòa"),
])
def test_one_line(typed: str, shown: str) -> None:
    assert one_line(typed) == shown


def test_one_line_leaves_no_line_break_nor_format_character() -> None:
    everything = "".join(chr(c) for c in range(0x2100))
    flat = one_line(everything)
    assert len(flat.splitlines()) == 1
    assert not [ch for ch in flat if unicodedata.category(ch) in ("Cf", "Cc")]


async def test_a_help_request_shows_on_one_line_of_the_staff_post(core: Core, chat: ChatDriver) -> None:
    await bind_group(core)
    await register(chat)
    await chat.say("/phananh")
    await chat.say(FAKE)
    [message] = await rows(core, HelpMessage)
    assert message.text == FAKE.strip()  # kept as written: only what staff are shown is flattened
    [post] = texts(await sent_to(core, GROUP))[-1:]
    lines = post.splitlines()
    assert not [line for line in lines if line.startswith(("✅", "Gửi lúc: 08:00"))], lines
    [body] = [line for line in lines if line.startswith("Nội dung: ")]
    assert body == "Nội dung: cần thuốc ⏎ ✅ Đã xử lý bởi Lan ⏎ Gửi lúc: 08:00 ⏎ abcx!"
    assert not [ch for ch in post if ch in INVISIBLE]


async def test_the_open_requests_list_shows_a_request_on_one_line(core: Core, chat: ChatDriver,
                                                                 lan: ChatDriver) -> None:
    await register(chat)
    await chat.say("/phananh")
    await chat.say(FAKE)
    await lan.say("/phananhmo")
    thread = lan.last[1].text
    assert not [line for line in thread.splitlines() if line.startswith(("✅", "Gửi lúc: 08:00"))], thread
    assert "cần thuốc ⏎ ✅ Đã xử lý bởi Lan" in thread
    assert not [ch for ch in thread if ch in INVISIBLE]


# --- end to end on Telegram ------------------------------------------------------------------------------------


async def test_on_telegram_a_revoked_viewer_and_a_revoked_staff_member_are_stopped_mid_conversation(
        harness: e2e.Harness) -> None:
    """The real bot: a province viewer's open station question, a staff member's open force-reply answer."""
    fake = harness.fake
    await e2e.register_via_telegram(fake)
    await e2e.danger_checkin(fake)
    await e2e.say(fake, e2e.CITIZEN, "/phananh Nhà tôi hết thuốc hạ sốt", "Đã gửi phản ánh #1")
    await e2e.say(fake, e2e.ADMIN, f"/capquyen {e2e.STAFF_BINH} tinh", "tỉnh")
    await e2e.say(fake, e2e.ADMIN, f"/capquyen {e2e.STAFF_LAN} nhanvien {PLEIKU}", "nhân viên")

    await e2e.say(fake, e2e.STAFF_BINH, "/canhbao pleiku", vi("lists.pick_station"))
    await e2e.say(fake, e2e.STAFF_LAN, "/phananhmo", "Phản ánh #1")
    await e2e.tap(fake, e2e.STAFF_LAN, "Trả lời", "Nhập câu trả lời")
    await e2e.say(fake, e2e.ADMIN, f"/thuhoi {e2e.STAFF_BINH}", "thu hồi")
    await e2e.say(fake, e2e.ADMIN, f"/thuhoi {e2e.STAFF_LAN}", "thu hồi")

    refused = await e2e.tap(fake, e2e.STAFF_BINH, "Phường Pleiku", "không có quyền")
    assert refused["text"] == REFUSED
    refused = await e2e.say(fake, e2e.STAFF_LAN, "Chiều nay trạm mang thuốc tới", "không có quyền")
    assert refused["text"] == REFUSED
    for user in (e2e.STAFF_BINH, e2e.STAFF_LAN):
        last = fake.sent(user)[-1]
        assert last["text"] == REFUSED and NAME not in str(last) and PHONE not in str(last)
    assert await staff_answers(harness.core) == []
