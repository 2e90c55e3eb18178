"""Requests for help (phản ánh): the person writes, the station group answers, the thread and its status are kept."""
from __future__ import annotations

import pytest

from chat.messages import Attachment, Reply
from services.env import Core
from storage.audit import history
from storage.models import AuditEvent, HelpMessage, HelpRequest, Outbox
from storage.outbox import mark_sent
from tests.conftest import ChatDriver, Clock, register
from tests.factories import GROUP, OTHER_GROUP, QUY_NHON, add_staff, bind_group, group_chat, sent_to
from tests.steps import add_dependent, people, rows, vi

PERSON_CHAT = "100"
PHOTO = "AgACAgUAAxkBAAIBQ2ZmZmZmZmZmZmZm"


# --- helpers -----------------------------------------------------------------------------------------------


async def requests_(core: Core) -> list[HelpRequest]:
    return await rows(core, HelpRequest)


async def messages(core: Core) -> list[HelpMessage]:
    return await rows(core, HelpMessage)


async def sent(core: Core, row: Outbox, message_id: str) -> None:
    """The sender delivered the row as that message of its chat."""
    async with core.db.session() as session:
        await mark_sent(session, row.id, message_id, core.utcnow())


def labels(reply: Reply) -> list[str]:
    return [b.label for row in reply.buttons for b in row]


def payloads(reply: Reply) -> list[str]:
    return [b.payload for row in reply.buttons for b in row]


async def press_on(driver: ChatDriver, row: Outbox, label: str, message_id: str) -> list[Reply]:
    """Press a button of a posted message, as the group sees it."""
    post = Reply.from_payload(row.payload)
    [payload] = [b.payload for r in post.buttons for b in r if label in b.label]
    return await driver.send(button=payload, message_id=message_id)


async def ask_for_help(chat: ChatDriver, text: str = "Nhà tôi hết thuốc hạ sốt, nhờ trạm giúp.") -> None:
    await chat.say("/phananh")
    assert chat.text() == vi("helpreq.ask"), chat.text()
    await chat.say(text)


async def refused_actions(core: Core) -> list[AuditEvent]:
    return await rows(core, AuditEvent, AuditEvent.action == "access.refused")


# --- the round trip ----------------------------------------------------------------------------------------


async def test_request_answer_done_round_trip(core: Core, chat: ChatDriver, clock: Clock) -> None:
    hoa = await bind_group(core)
    await register(chat)
    await ask_for_help(chat)
    [request] = await requests_(core)
    assert chat.text() == vi("helpreq.sent", id=request.id, station="Phường Pleiku")
    assert (request.status, request.station_id) == ("new", (await people(core))[0].station_id)
    [message] = await messages(core)
    assert (message.sender, message.text, message.photo_id) == ("person", "Nhà tôi hết thuốc hạ sốt, nhờ trạm giúp.",
                                                                None)

    [row] = await sent_to(core, GROUP)
    post = Reply.from_payload(row.payload)
    for shown in (f"#{request.id}", "Nguyễn Văn An", "46 tuổi", "0912345678", "12 Lê Lợi, tổ 3", "Phường Pleiku",
                  "Nhà tôi hết thuốc hạ sốt"):
        assert shown in post.text, shown
    assert labels(post) == ["💬 Trả lời", "✅ Đã xong"]
    assert payloads(post) == [f"req:answer:{request.id}", f"req:done:{request.id}"]
    assert post.photo_id is None
    await sent(core, row, "41")

    clock.advance(minutes=10)
    await press_on(hoa, row, "Trả lời", "41")
    [prompt] = hoa.last
    assert prompt.force_reply and prompt.chat_id is None  # in the group the button was pressed in
    assert prompt.text.startswith(f"Nhập câu trả lời cho phản ánh #{request.id} của Nguyễn Văn An:")
    assert await sent_to(core, PERSON_CHAT) == []  # nothing reaches the person before the answer

    await hoa.say("Chiều nay trạm mang thuốc tới nhà, anh chờ nhé.")
    assert hoa.text() == vi("helpreq.answer_sent", id=request.id, name="Nguyễn Văn An")
    [request] = await requests_(core)
    assert request.status == "in_progress"
    answer = (await messages(core))[-1]
    assert (answer.sender, answer.staff_name, answer.text) == ("staff", "Chị Hoa",
                                                               "Chiều nay trạm mang thuốc tới nhà, anh chờ nhé.")
    [to_person] = await sent_to(core, PERSON_CHAT)
    assert to_person.payload["text"].startswith(f"💬 Trạm y tế trả lời phản ánh #{request.id} (Nguyễn Văn An):")
    assert "Chiều nay trạm mang thuốc tới nhà" in to_person.payload["text"]
    await hoa.say("cả nhóm ơi, trưa nay họp nhé")  # the answer is given: the group's chatter stays in the group
    assert hoa.last == [] and len(await sent_to(core, PERSON_CHAT)) == 1

    clock.advance(minutes=50)
    await press_on(hoa, row, "Đã xong", "41")
    toast, edit = hoa.last
    assert toast.toast and toast.text == vi("helpreq.marked_done", id=request.id)
    assert (edit.chat_id, edit.edit_id, edit.buttons) == (GROUP, "41", [])
    assert edit.text.startswith(post.text) and edit.text.endswith("✅ Đã xong: Chị Hoa lúc 10:30")
    assert (await requests_(core))[0].status == "done"
    done = (await sent_to(core, PERSON_CHAT))[-1]
    assert done.payload["text"] == vi("helpreq.to_person.done", id=request.id, name="Nguyễn Văn An")

    events = await history_of(core, request.id)
    assert [(e.action, e.before, e.after) for e in events] == [
        ("request.new", None, {"status": "new", "person_id": request.person_id, "station_id": request.station_id}),
        ("request.answer", {"status": "new"}, {"status": "in_progress", "by": "Chị Hoa"}),
        ("request.done", {"status": "in_progress"}, {"status": "done", "by": "Chị Hoa"}),
    ]
    assert events[0].actor == "telegram:100" and events[1].actor == "telegram:300"


async def history_of(core: Core, request_id: int) -> list[AuditEvent]:
    async with core.db.session() as session:
        return await history(session, "request", request_id)


async def test_pressing_on_a_done_request_says_so(core: Core, chat: ChatDriver) -> None:
    hoa = await bind_group(core)
    await register(chat)
    await ask_for_help(chat)
    [row] = await sent_to(core, GROUP)
    await press_on(hoa, row, "Đã xong", "1")
    [request] = await requests_(core)
    for label in ("Đã xong", "Trả lời"):
        await press_on(hoa, row, label, "1")
        assert [(r.text, r.toast) for r in hoa.last] == [(vi("helpreq.already_done", id=request.id), True)]
    assert [e.action for e in await history_of(core, request.id)] == ["request.new", "request.done"]


async def test_the_edit_reaches_every_sent_copy_in_the_channel(core: Core, chat: ChatDriver) -> None:
    """Without a group, the admins get the request; each copy loses its buttons when it is done."""
    await register(chat)
    await ask_for_help(chat)
    [row] = await sent_to(core, "999")
    await sent(core, row, "12")
    admin = ChatDriver(core, "999", name="Quản trị")
    await press_on(admin, row, "Đã xong", "12")
    [edit] = [r for r in admin.last if r.edit_id]
    assert (edit.chat_id, edit.edit_id, edit.buttons) == ("999", "12", [])


# --- photos ----------------------------------------------------------------------------------------------


async def test_a_photo_with_a_caption_is_forwarded_by_its_id(core: Core, chat: ChatDriver) -> None:
    hoa = await bind_group(core)
    await register(chat)
    await chat.say("/phananh")
    await chat.send(text="Con tôi nổi mẩn đỏ", photo_id=PHOTO)
    [request] = await requests_(core)
    assert chat.text() == vi("helpreq.sent", id=request.id, station="Phường Pleiku")
    [message] = await messages(core)
    assert (message.text, message.photo_id) == ("Con tôi nổi mẩn đỏ", PHOTO)
    [row] = await sent_to(core, GROUP)
    post = Reply.from_payload(row.payload)
    assert post.photo_id == PHOTO and "Con tôi nổi mẩn đỏ" in post.text and "Nguyễn Văn An" in post.text
    assert labels(post) == ["💬 Trả lời", "✅ Đã xong"]

    await sent(core, row, "9")
    await press_on(hoa, row, "Đã xong", "9")
    [edit] = [r for r in hoa.last if r.edit_id]
    assert edit.photo_id == PHOTO and edit.buttons == []  # the channel edits the photo's caption


async def test_a_photo_alone_is_enough(core: Core, chat: ChatDriver) -> None:
    await bind_group(core)
    await register(chat)
    await chat.say("/phananh")
    await chat.send(text="", photo_id=PHOTO)
    [message] = await messages(core)
    assert (message.text, message.photo_id) == ("", PHOTO)
    post = Reply.from_payload((await sent_to(core, GROUP))[0].payload)
    assert vi("helpreq.post.photo_only") in post.text and post.photo_id == PHOTO


async def test_a_long_caption_goes_in_a_second_message(core: Core, chat: ChatDriver) -> None:
    await bind_group(core)
    await register(chat)
    await chat.say("/phananh")
    await chat.send(text="Tôi cần giúp. " * 70, photo_id=PHOTO)  # 980 characters: too long with the header
    photo, text = [Reply.from_payload(r.payload) for r in await sent_to(core, GROUP)]
    assert photo.photo_id == PHOTO and photo.buttons == [] and len(photo.text) < 100
    assert text.photo_id is None and "Tôi cần giúp. Tôi cần giúp." in text.text and labels(text)


async def test_staff_may_answer_with_a_photo(core: Core, chat: ChatDriver) -> None:
    hoa = await bind_group(core)
    await register(chat)
    await ask_for_help(chat)
    [row] = await sent_to(core, GROUP)
    await press_on(hoa, row, "Trả lời", "1")
    await hoa.send(text="Đơn thuốc của anh", photo_id="AgAC-prescription")
    to_person = Reply.from_payload((await sent_to(core, PERSON_CHAT))[0].payload)
    assert to_person.photo_id == "AgAC-prescription" and "Đơn thuốc của anh" in to_person.text


# --- the person's side: bad input, household, follow-ups ---------------------------------------------------


async def test_empty_and_too_long_text_get_a_second_chance(core: Core, chat: ChatDriver) -> None:
    await register(chat)
    await chat.say("/phananh")
    await chat.say("   ")
    assert [r.text for r in chat.last] == [vi("helpreq.err_empty"), vi("helpreq.ask")]
    await chat.say("x" * 1001)
    assert [r.text for r in chat.last] == [vi("helpreq.err_too_long", length=1001, max=1000), vi("helpreq.ask")]
    await chat.send(document=Attachment("anh.jpg", b"jpeg", "image/jpeg"))  # a file is no request...
    assert chat.last[-1].text == vi("helpreq.ask")  # ...and the question is asked again
    assert await requests_(core) == []
    await chat.say("y" * 1000)  # the limit itself is fine
    [message] = await messages(core)
    assert len(message.text) == 1000


async def test_cancel_stops_without_a_request(core: Core, chat: ChatDriver) -> None:
    await register(chat)
    await chat.say("/phananh")
    await chat.say("/huy")
    assert chat.text() == vi("common.cancelled")
    await chat.say("Nhà tôi hết thuốc")
    assert await requests_(core) == [] and chat.text() == vi("idle.registered")


async def test_not_registered_people_are_told_to_register(core: Core, chat: ChatDriver) -> None:
    await chat.say("/request")
    assert chat.text() == vi("helpreq.not_registered")
    assert await requests_(core) == []


async def test_a_text_given_with_the_command_is_sent_at_once(core: Core, chat: ChatDriver) -> None:
    await bind_group(core)
    await register(chat)
    await chat.say("/phananh Cần giấy xác nhận hoàn thành cách ly")
    [request] = await requests_(core)
    assert chat.text() == vi("helpreq.sent", id=request.id, station="Phường Pleiku")
    assert (await messages(core))[0].text == "Cần giấy xác nhận hoàn thành cách ly"


async def test_a_request_sent_mid_checkin_repeats_the_checkin_question(core: Core, chat: ChatDriver) -> None:
    await register(chat)
    await chat.say("/khaibao")
    await chat.say("/phananh Cho tôi hỏi lịch xét nghiệm")
    assert [r.text for r in chat.last][1:] == [vi("common.continue"), vi("ask.temperature", name="Nguyễn Văn An")]
    await chat.say("36,8")  # the check-in goes on
    assert chat.last[-1].text == vi("ask.symptoms")


async def test_a_household_account_picks_for_whom(core: Core, chat: ChatDriver) -> None:
    await bind_group(core)
    await register(chat)
    await add_dependent(chat)
    await chat.say("/phananh")
    assert chat.text() == vi("helpreq.ask_who")
    assert [b.label for b in chat.buttons()] == ["Nguyễn Văn An", "Trần Thị Bình"]
    await chat.say("Bà tôi ho nhiều")  # typed before choosing: kept, and the choice is asked again
    assert [r.text for r in chat.last] == [vi("err.use_buttons"), vi("helpreq.ask_who")]
    await chat.press("Trần Thị Bình")
    [request] = await requests_(core)
    dependent = (await people(core))[1]
    assert request.person_id == dependent.id
    assert (await messages(core))[0].text == "Bà tôi ho nhiều"
    post = Reply.from_payload((await sent_to(core, GROUP))[0].payload)
    assert "Trần Thị Bình" in post.text and vi("helpreq.post.by_household") in post.text


async def test_a_new_message_while_open_joins_the_same_thread(core: Core, chat: ChatDriver) -> None:
    hoa = await bind_group(core)
    await register(chat)
    await ask_for_help(chat)
    [request] = await requests_(core)
    await chat.say("/phananh")
    assert chat.text() == vi("helpreq.ask_more", id=request.id, name="Nguyễn Văn An")
    await chat.say("Tôi quên nói: cần thêm khẩu trang")
    assert chat.text() == vi("helpreq.sent_more", id=request.id, station="Phường Pleiku")
    assert len(await requests_(core)) == 1
    assert [m.text for m in await messages(core)] == ["Nhà tôi hết thuốc hạ sốt, nhờ trạm giúp.",
                                                      "Tôi quên nói: cần thêm khẩu trang"]
    first, second = [Reply.from_payload(r.payload) for r in await sent_to(core, GROUP)]
    assert second.text.startswith(vi("helpreq.post.title_more", id=request.id))
    assert payloads(second) == payloads(first)
    assert [e.action for e in await history_of(core, request.id)] == ["request.new", "request.followup"]

    await press_on(hoa, (await sent_to(core, GROUP))[1], "Đã xong", "2")
    await ask_for_help(chat, "Cần giấy xác nhận")  # after done: a new request
    assert [r.id for r in await requests_(core)] == [request.id, request.id + 1]


# --- the staff's side: who may press, bad answers ------------------------------------------------------------


async def test_presses_outside_the_station_are_refused_and_recorded(core: Core, chat: ChatDriver) -> None:
    await bind_group(core)
    await register(chat)
    await ask_for_help(chat)
    [row] = await sent_to(core, GROUP)
    await add_staff(core, "701", station=QUY_NHON)
    await add_staff(core, "702", role="province", station=None)
    pressers = [
        group_chat(core, "400", "Người lạ", chat_id="-100999"),  # a group bound to nothing
        await bind_group(core, QUY_NHON, OTHER_GROUP),  # another station's group
        ChatDriver(core, "500"),  # someone in private
        ChatDriver(core, "701"),  # staff of another station
        ChatDriver(core, "702"),  # a province viewer: reads, does not act
    ]
    for presser in pressers:
        for label in ("Trả lời", "Đã xong"):
            await press_on(presser, row, label, "1")
            assert [(r.text, r.toast) for r in presser.last] == [(vi("helpreq.not_allowed"), True)]
    assert [e.entity_id for e in await refused_actions(core)] == ["request:1"] * 10
    assert (await requests_(core))[0].status == "new"
    assert len(await messages(core)) == 1


async def test_station_staff_and_admins_may_answer_in_private(core: Core, chat: ChatDriver) -> None:
    await bind_group(core)
    await register(chat)
    await ask_for_help(chat)
    [row] = await sent_to(core, GROUP)
    await add_staff(core, "600", name="Chị Mai")
    mai = ChatDriver(core, "600", name="Mai")
    await press_on(mai, row, "Trả lời", "5")
    assert mai.last[0].force_reply
    await mai.say("Trạm đã nhận, chiều nay gọi lại anh.")
    assert (await messages(core))[-1].staff_name == "Chị Mai"  # the name on the staff record
    admin = ChatDriver(core, "999", name="Quản trị")
    await press_on(admin, row, "Đã xong", "7")
    assert admin.last[0].text == vi("helpreq.marked_done", id=1)
    assert (await requests_(core))[0].status == "done"


@pytest.mark.parametrize("payload", ["req:answer:999", "req:zzz:1", "req:answer", "req:done:abc", "req:",
                                     "req:done:-1", "req:done:1:2", "req:done:99999999999999999999"])
async def test_a_forged_request_payload_gets_a_clear_answer(core: Core, chat: ChatDriver, payload: str) -> None:
    group = await bind_group(core)
    await register(chat)
    await ask_for_help(chat)
    await group.send(button=payload, message_id="5")
    assert [(r.text, r.toast) for r in group.last] == [(vi("helpreq.unknown"), True)]
    assert (await requests_(core))[0].status == "new"


async def test_a_bad_answer_is_asked_again_and_cancel_in_the_group_drops_it(core: Core, chat: ChatDriver) -> None:
    hoa = await bind_group(core)
    await register(chat)
    await ask_for_help(chat)
    [row] = await sent_to(core, GROUP)
    await press_on(hoa, row, "Trả lời", "1")
    await hoa.say("z" * 1200)
    error, prompt = hoa.last
    assert error.text == vi("helpreq.err_too_long", length=1200, max=1000) and prompt.force_reply
    await hoa.send(document=Attachment("don-thuoc.pdf", b"%PDF", "application/pdf"))
    assert [r.text for r in hoa.last] == [vi("helpreq.err_file"), prompt.text]
    await hoa.say("   ")
    assert [r.text for r in hoa.last] == [vi("helpreq.err_empty"), prompt.text]
    await hoa.say("/huy")
    assert hoa.text() == vi("requests.group_cancelled")
    await hoa.say("Chị em ơi ai đi phát thuốc?")
    assert hoa.last == []
    assert await sent_to(core, PERSON_CHAT) == [] and (await requests_(core))[0].status == "new"
    await hoa.say("/huy")
    assert hoa.text() == vi("requests.group_nothing")


# --- /phananhmo ----------------------------------------------------------------------------------------------


async def two_stations_with_requests(core: Core, chat: ChatDriver) -> None:
    await register(chat)
    await ask_for_help(chat, "Cần thuốc")
    other = ChatDriver(core, "101", name="Bình")
    await register(other, name="Lê Thị Bình", station="quy nhon")
    await ask_for_help(other, "Cần giấy xác nhận")


async def test_staff_see_their_station_open_requests(core: Core, chat: ChatDriver) -> None:
    await two_stations_with_requests(core, chat)
    await add_staff(core, "600")
    mai = ChatDriver(core, "600", name="Mai")
    await mai.say("/phananhmo")
    title, thread = mai.last
    assert title.text == vi("requests.title", count=1)
    assert "Phản ánh #1 (mới)" in thread.text and "Nguyễn Văn An" in thread.text
    assert "Người dân nhắn: Cần thuốc" in thread.text and "Lê Thị Bình" not in thread.text
    assert payloads(thread) == ["req:answer:1", "req:done:1"]

    await mai.press("Đã xong")  # from the list: the list's message loses its buttons
    toast, edit = mai.last
    assert toast.toast and (edit.chat_id, edit.edit_id, edit.buttons) == ("600", "1", [])
    assert "Phản ánh #1 (đã xong)" in edit.text
    await mai.say("/requests")
    assert mai.text() == vi("requests.none")


async def test_admins_see_all_and_province_viewers_read_only(core: Core, chat: ChatDriver) -> None:
    await two_stations_with_requests(core, chat)
    admin = ChatDriver(core, "999", name="Quản trị")
    await admin.say("/phananhmo")
    assert admin.last[0].text == vi("requests.title", count=2)
    assert [payloads(r) for r in admin.last[1:]] == [["req:answer:1", "req:done:1"], ["req:answer:2", "req:done:2"]]
    await add_staff(core, "702", role="province", station=None)
    viewer = ChatDriver(core, "702")
    await viewer.say("/phananhmo")
    assert len(viewer.last) == 3 and all(r.buttons == [] for r in viewer.last)


async def test_the_list_is_refused_to_people_without_a_role(core: Core, chat: ChatDriver) -> None:
    await two_stations_with_requests(core, chat)
    await chat.say("/phananhmo")
    assert chat.text() == vi("access.refused")
    assert [e.entity_id for e in await refused_actions(core)] == ["/phananhmo"]


async def test_a_bound_group_lists_its_station_requests(core: Core, chat: ChatDriver) -> None:
    hoa = await bind_group(core)
    await two_stations_with_requests(core, chat)
    await hoa.say("/phananhmo")
    title, thread = hoa.last
    assert title.text == vi("requests.title", count=1) and payloads(thread) == ["req:answer:1", "req:done:1"]
    stranger = group_chat(core, "400", "Người lạ", chat_id="-100999")
    await stranger.say("/requests")
    assert stranger.text() == vi("report.not_bound")


async def test_a_thread_shows_answers_and_its_status(core: Core, chat: ChatDriver) -> None:
    hoa = await bind_group(core)
    await register(chat)
    await ask_for_help(chat, "Cần thuốc")
    [row] = await sent_to(core, GROUP)
    await press_on(hoa, row, "Trả lời", "1")
    await hoa.say("Trạm mang tới ngay")
    await chat.say("/phananh")
    await chat.send(text="", photo_id=PHOTO)
    await hoa.say("/phananhmo")
    thread = hoa.last[1].text
    assert "Phản ánh #1 (đang xử lý)" in thread
    assert thread.index("Người dân nhắn: Cần thuốc") < thread.index("Chị Hoa nhắn: Trạm mang tới ngay") \
        < thread.index("Người dân nhắn: [ảnh]")
