"""The daily check-in, triage, alerts to the station through the outbox, and staff taking them."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from chat.messages import Reply
from health.triage import DANGER, NORMAL, WATCH
from services.env import Core
from storage.models import Alert
from storage.outbox import claim_due, mark_retry, mark_sent
from tests.conftest import ChatDriver, Clock, register
from tests.factories import GROUP, OTHER_GROUP, QUY_NHON, bind_code, bind_group, group_chat
from tests.steps import alerts, declarations, declare, outbox, rows, vi

LEASE = timedelta(seconds=60)


async def registered(chat: ChatDriver) -> ChatDriver:
    await register(chat)
    await chat.say("/khaibao")
    assert chat.text() == vi("ask.temperature", name="Nguyễn Văn An")
    return chat


def show_alert(group: ChatDriver, payload: dict) -> None:
    """The group now sees the alert message as the sender posted it."""
    group.last = [Reply.from_payload(payload)]


def symptom_codes(chat: ChatDriver) -> dict[str, str]:
    """code -> label of the symptom buttons on screen."""
    codes = {b.payload.rsplit(":", 1)[1]: b.label for b in chat.buttons() if b.payload.startswith("s:symptoms:")}
    return {code: label for code, label in codes.items() if code not in ("none", "done")}


async def toggle(chat: ChatDriver, code: str) -> None:
    assert code in symptom_codes(chat), symptom_codes(chat)
    await chat.send(button=f"s:symptoms:{code}", message_id="41")


# --- refusals before anything is asked ----------------------------------------------------------------

async def test_checkin_before_registration(core: Core, chat: ChatDriver) -> None:
    await chat.say("/khaibao")
    assert chat.text() == vi("checkin.not_registered")
    await chat.say("37")
    assert chat.text() == vi("idle.new")  # no conversation was started
    assert await declarations(core) == []


async def test_checkin_alias_and_button(chat: ChatDriver) -> None:
    await register(chat)
    await chat.press("Khai báo sức khỏe")  # the button under "Đăng ký xong"
    assert chat.text() == vi("ask.temperature", name="Nguyễn Văn An")
    await chat.say("/checkin")
    assert chat.text() == vi("ask.temperature", name="Nguyễn Văn An")


# --- a normal check-in, and its slot ------------------------------------------------------------------

async def test_normal_checkin_is_stored_without_alert(core: Core, chat: ChatDriver) -> None:
    await registered(chat)
    await declare(chat, "36,8", spo2="98", breathing="16", note="Hơi khó ngủ")
    assert chat.text() == vi("result.normal", name="Nguyễn Văn An")
    [declaration] = await declarations(core)
    assert declaration.tier == NORMAL and declaration.reasons == []
    assert (declaration.temperature, declaration.symptoms, declaration.spo2, declaration.breathing_rate) == (
        36.8, [], 98, 16)
    assert declaration.note == "Hơi khó ngủ"
    assert (str(declaration.day), declaration.slot) == ("2026-11-29", "08:00")
    assert await alerts(core) == [] and await outbox(core) == []


@pytest.mark.parametrize("local, day, slot", [
    (datetime(2026, 11, 29, 9, 30), "2026-11-29", "08:00"),
    (datetime(2026, 11, 29, 16, 0), "2026-11-29", "15:00"),
    (datetime(2026, 11, 29, 15, 0), "2026-11-29", "15:00"),
    (datetime(2026, 11, 30, 6, 0), "2026-11-30", "08:00"),   # before the first slot: the coming one
    (datetime(2026, 11, 30, 23, 59), "2026-11-30", "15:00"),
])
async def test_declaration_slot(core: Core, chat: ChatDriver, clock: Clock, local: datetime, day: str,
                                slot: str) -> None:
    await register(chat)
    clock.set_local(local)
    await chat.say("/khaibao")
    await declare(chat)
    [declaration] = await declarations(core)
    assert (str(declaration.day), declaration.slot) == (day, slot)


# --- bad answers --------------------------------------------------------------------------------------

@pytest.mark.parametrize("typed", ["33", "44", "abc", "33,9", "43,1", ""])
async def test_temperature_out_of_range_or_junk(chat: ChatDriver, typed: str) -> None:
    await registered(chat)
    await chat.say(typed)
    assert chat.last[0].text == vi("err.temperature", low="34", high="43")
    assert chat.last[-1].text == vi("ask.temperature", name="Nguyễn Văn An")


@pytest.mark.parametrize("typed, stored", [("37.5", 37.5), ("37,5", 37.5), ("37", 37.0), ("34", 34.0),
                                           ("43", 43.0), ("37 độ 5", 37.5), ("36,85", 36.9)])
async def test_temperature_forms(core: Core, chat: ChatDriver, typed: str, stored: float) -> None:
    await registered(chat)
    await declare(chat, typed)
    assert (await declarations(core))[0].temperature == stored


async def test_bad_temperature_then_good(core: Core, chat: ChatDriver) -> None:
    await registered(chat)
    for bad in ("33", "44", "abc"):
        await chat.say(bad)
        assert chat.last[0].text == vi("err.temperature", low="34", high="43")
    await declare(chat, "37,2")
    assert (await declarations(core))[0].temperature == 37.2


# --- symptoms -----------------------------------------------------------------------------------------

async def test_symptoms_toggle_on_and_off_by_editing_the_keyboard(core: Core, chat: ChatDriver) -> None:
    await registered(chat)
    await chat.say("36,8")
    codes = symptom_codes(chat)
    assert set(codes) == {"breathless", "chest_pain", "confusion", "blue_lips", "fever", "cough", "sore_throat",
                          "runny_nose", "tired", "chills", "taste_smell_loss", "diarrhoea", "headache",
                          "muscle_pain", "cough_blood", "nausea_vomiting"}  # no children's sign for an adult
    assert codes["cough"] == "▫️ Ho"
    assert chat.buttons()[-1].label == vi("symptoms.none")

    await toggle(chat, "cough")
    [edited] = chat.last
    assert edited.edit_id == "41" and edited.text == vi("ask.symptoms")
    assert symptom_codes(chat)["cough"] == "✅ Ho"
    assert chat.buttons()[-1].label == vi("symptoms.done", count=1)

    await toggle(chat, "fever")
    assert chat.buttons()[-1].label == vi("symptoms.done", count=2)
    await toggle(chat, "cough")  # off again
    assert symptom_codes(chat)["cough"] == "▫️ Ho" and symptom_codes(chat)["fever"] == "✅ Sốt"
    assert chat.last[0].edit_id == "41"
    assert chat.buttons()[-1].label == vi("symptoms.done", count=1)
    await toggle(chat, "fever")
    assert chat.buttons()[-1].label == vi("symptoms.none")

    await toggle(chat, "headache")
    await chat.press("Xong")
    assert chat.last[-1].text == vi("ask.spo2")
    await chat.press("Không có máy đo")
    await chat.press("Bỏ qua")
    await chat.press("Không có")
    await chat.press("Đúng")
    [declaration] = await declarations(core)
    assert declaration.symptoms == ["headache"] and declaration.tier == WATCH


async def test_no_symptoms_button(core: Core, chat: ChatDriver) -> None:
    await registered(chat)
    await chat.say("36,8")
    await chat.press("Không có triệu chứng")
    assert chat.text() == vi("ask.spo2")


async def test_typed_text_at_the_symptom_step(core: Core, chat: ChatDriver) -> None:
    await registered(chat)
    await chat.say("36,8")
    await chat.say("ho nhiều")
    assert chat.last[0].text == vi("err.symptoms")
    assert chat.last[-1].text == vi("ask.symptoms") and chat.last[-1].edit_id is None  # asked anew
    await toggle(chat, "cough")
    await chat.say("Xong")  # the button's word, typed: keeps the choice
    assert chat.text() == vi("ask.spo2")
    await chat.press("Không có máy đo")
    await chat.press("Bỏ qua")
    await chat.press("Không có")
    await chat.press("Đúng")
    assert (await declarations(core))[0].symptoms == ["cough"]


@pytest.mark.parametrize("typed", ["không", "Không có", "khong", "không có triệu chứng"])
async def test_typed_no_at_the_symptom_step(core: Core, chat: ChatDriver, typed: str) -> None:
    await registered(chat)
    await chat.say("36,8")
    await chat.say(typed)
    assert chat.text() == vi("ask.spo2")


async def test_a_symptom_button_from_an_earlier_keyboard_is_stale(core: Core, chat: ChatDriver) -> None:
    await registered(chat)
    await chat.say("36,8")
    await chat.press("Không có triệu chứng")
    await chat.send(button="s:symptoms:breathless", message_id="41")  # tapped late on the old keyboard
    assert chat.last[0].text == vi("common.stale_button")
    assert chat.last[-1].text == vi("ask.spo2")


# --- SpO2, breathing, note ----------------------------------------------------------------------------

async def at_spo2(chat: ChatDriver) -> None:
    await registered(chat)
    await chat.say("36,8")
    await chat.press("Không có triệu chứng")


@pytest.mark.parametrize("typed", ["69", "101", "abc", "9 8", "98.5", ""])
async def test_spo2_refused(chat: ChatDriver, typed: str) -> None:
    await at_spo2(chat)
    await chat.say(typed)
    assert chat.last[0].text == vi("err.spo2", low=70)
    assert chat.last[-1].text == vi("ask.spo2")
    assert [b.label for b in chat.buttons()] == [vi("spo2.no_meter")]


async def test_spo2_bounds_and_percent(core: Core, chat: ChatDriver) -> None:
    await at_spo2(chat)
    await chat.say("70")
    assert chat.text() == vi("ask.spo2_again", value=70)  # low, alone: measured again first
    await chat.say("70")
    assert chat.text().endswith(vi("ask.breathing"))
    await chat.say("/huy")  # left: kept as a partial declaration
    await chat.say("/khaibao")
    await chat.say("36,8")
    await chat.press("Không có triệu chứng")
    await chat.say("100 %")
    await chat.press("Bỏ qua")
    await chat.press("Không có")
    await chat.press("Đúng")
    assert [(d.spo2, d.partial) for d in await declarations(core)] == [(70, True), (100, False)]


async def test_no_meter(core: Core, chat: ChatDriver) -> None:
    await at_spo2(chat)
    await chat.press("Không có máy đo")
    assert chat.text() == vi("ask.breathing")
    await chat.press("Bỏ qua")
    await chat.press("Không có")
    await chat.press("Đúng")
    assert (await declarations(core))[0].spo2 is None


@pytest.mark.parametrize("typed", ["4", "121", "abc", "18 lần hơi mệt", ""])
async def test_breathing_refused(chat: ChatDriver, typed: str) -> None:
    await at_spo2(chat)
    await chat.press("Không có máy đo")
    await chat.say(typed)
    assert chat.last[0].text == vi("err.breathing", low=5, high=120)
    assert chat.last[-1].text == vi("ask.breathing")


async def test_breathing_skipped_and_given(core: Core, chat: ChatDriver) -> None:
    await at_spo2(chat)
    await chat.press("Không có máy đo")
    await chat.press("Bỏ qua")
    assert chat.text() == vi("ask.note")
    await chat.press("Không có")
    await chat.press("Đúng")
    assert (await declarations(core))[0].breathing_rate is None


async def test_note_too_long_or_empty(core: Core, chat: ChatDriver) -> None:
    await at_spo2(chat)
    await chat.press("Không có máy đo")
    await chat.press("Bỏ qua")
    await chat.say("a" * 501)
    assert chat.last[0].text == vi("err.note", max=500)
    assert chat.last[-1].text == vi("ask.note")
    await chat.say("   ")
    assert chat.last[0].text == vi("err.note", max=500)
    await chat.say("  Ho   về đêm ")
    await chat.press("Đúng")
    assert (await declarations(core))[0].note == "Ho về đêm"


async def test_checkin_resumes_after_a_restart_of_the_core(core: Core, chat: ChatDriver, db_url: str,
                                                           clock: Clock) -> None:
    from health.rules import load_rules
    from services.env import Core as NewCore
    from storage.db import Database
    from tests.conftest import TZ

    await at_spo2(chat)
    db = Database(db_url)
    try:
        again = ChatDriver(NewCore(db, load_rules(), TZ, admin_chats=[("telegram", "999")], clock=clock), "100")
        await again.say("95")  # SpO2 95: danger, though the temperature was given before the restart
        await again.say("95")  # measured again, still low
        await again.press("Bỏ qua")
        await again.press("Không có")
        await again.press("Đúng")
        [declaration] = await declarations(core)
        assert (declaration.temperature, declaration.spo2, declaration.tier) == (36.8, 95, DANGER)
    finally:
        await db.dispose()


# --- alerts -------------------------------------------------------------------------------------------

async def test_watch_alert_goes_to_the_admins_without_a_group(core: Core, chat: ChatDriver) -> None:
    await registered(chat)
    await declare(chat, "37,5")
    assert chat.text() == vi("result.watch", name="Nguyễn Văn An")
    [declaration] = await declarations(core)
    [alert] = await alerts(core)
    assert (declaration.tier, alert.tier, alert.status) == (WATCH, WATCH, "open")
    assert alert.declaration_id == declaration.id
    [row] = await outbox(core)
    assert (row.channel, row.chat_id, row.alert_id, row.status) == ("telegram", "999", alert.id, "pending")
    assert row.payload["text"].startswith(vi("alert.title.watch"))


async def test_danger_reply_says_to_call_now(core: Core, chat: ChatDriver) -> None:
    await registered(chat)
    await declare(chat, "36,8", symptoms=["Khó thở"], spo2="94")
    assert chat.last[0].text == vi("result.danger", name="Nguyễn Văn An")
    assert chat.last[1].text == vi("checkin.call_115")  # the station has no phone set
    assert "115" in chat.text()
    [alert] = await alerts(core)
    assert alert.tier == DANGER


async def test_alert_goes_to_the_bound_group_only(core: Core, chat: ChatDriver) -> None:
    group = await bind_group(core)
    assert group.text() == vi("bind.ok", station="Phường Pleiku")
    await registered(chat)
    await declare(chat, "38,5", symptoms=["Sốt"], spo2="95", breathing="24", note="Đau đầu nhiều")
    [row] = await outbox(core)
    assert (row.channel, row.chat_id) == ("telegram", GROUP)
    text = row.payload["text"]
    assert text.startswith(vi("alert.title.danger"))
    for shown in ("Nguyễn Văn An", "46 tuổi", "Nam", "0912345678", "12 Lê Lợi, tổ 3", "Phường Pleiku",
                  "SpO2 95%", "Thở 24 lần/phút (ngưỡng 20)", "Nhiệt độ 38,5°C", "Sốt", "Đau đầu nhiều",
                  "09:30 29/11/2026", "12/12/2026"):
        assert shown in text, (shown, text)
    assert text.index("SpO2 95%") < text.index("Sốt")  # danger reasons first
    labels = [label for row_ in row.payload["buttons"] for label, _ in row_]
    assert labels == [vi("alert.button.ack"), vi("alert.button.resolve")]


async def test_alert_of_a_dependent_says_declared_by_household(core: Core, chat: ChatDriver) -> None:
    await register(chat)
    await chat.say("/nguoithan")
    for answer in ("Trần Thị Bình", "1950"):
        await chat.say(answer)
    await chat.press("Nữ")
    await chat.press("F1")
    await chat.press("Hôm nay")
    await chat.press("Xác nhận")
    await chat.say("/khaibao")
    await chat.press("Trần Thị Bình")
    await declare(chat, "37,8")
    [row] = await outbox(core)
    assert "Trần Thị Bình — 76 tuổi, Nữ" in row.payload["text"]
    assert vi("alert.by_household") in row.payload["text"]


async def test_staff_take_and_resolve_an_alert(core: Core, chat: ChatDriver, clock: Clock) -> None:
    hoa = await bind_group(core)
    await registered(chat)
    await declare(chat, "37,5")
    [row] = await outbox(core)
    clock.advance(minutes=5)

    show_alert(hoa, row.payload)
    await hoa.press("Đã tiếp nhận")
    toast, edit = hoa.last
    assert toast.toast and toast.text == vi("alert.recorded_ack")
    assert (edit.chat_id, edit.edit_id) == (GROUP, "1")
    assert vi("alert.acknowledged", who="Chị Hoa", at="09:35 29/11") in edit.text
    assert [b.label for r in edit.buttons for b in r] == [vi("alert.button.resolve")]  # no second "take"
    [alert] = await alerts(core)
    assert (alert.status, alert.acknowledged_by, alert.acknowledged_by_id) == ("acknowledged", "Chị Hoa", "300")
    assert core.to_local(alert.acknowledged_at).strftime("%H:%M") == "09:35"

    minh = group_chat(core, "301", "Anh Minh")
    show_alert(minh, row.payload)  # his copy still shows both buttons
    clock.advance(minutes=1)
    await minh.press("Đã tiếp nhận")
    assert minh.last[0].toast
    assert minh.last[0].text == vi("alert.already_acknowledged", who="Chị Hoa", at="09:35")
    assert (await alerts(core))[0].acknowledged_by == "Chị Hoa"  # the first press stays

    await minh.press("Đã xử lý")
    assert minh.last[0].text == vi("alert.recorded_resolved")
    edit = minh.last[1]
    assert vi("alert.resolved", who="Anh Minh", at="09:36 29/11") in edit.text
    assert vi("alert.acknowledged", who="Chị Hoa", at="09:35 29/11") in edit.text
    assert edit.buttons == []
    alert = (await alerts(core))[0]
    assert (alert.status, alert.resolved_by, alert.resolved_by_id) == ("resolved", "Anh Minh", "301")

    show_alert(hoa, row.payload)
    await hoa.press("Đã xử lý")
    assert hoa.last[0].text == vi("alert.already_resolved", who="Anh Minh", at="09:36")


async def test_every_sent_copy_is_edited_once(core: Core, chat: ChatDriver) -> None:
    hoa = await bind_group(core)
    await registered(chat)
    await declare(chat, "37,5")
    [row] = await outbox(core)
    async with core.db.session() as session:
        await mark_sent(session, row.id, "77", core.utcnow())
    await hoa.send(button=row.payload["buttons"][0][0][1], message_id="77")
    edits = [r for r in hoa.last if r.edit_id]
    assert [(r.chat_id, r.edit_id) for r in edits] == [(GROUP, "77")]


async def test_a_press_from_an_unbound_or_other_group_is_refused(core: Core, chat: ChatDriver) -> None:
    await bind_group(core)
    await registered(chat)
    await declare(chat, "37,5")
    [row] = await outbox(core)
    stranger = group_chat(core, "400", "Người lạ", chat_id="-100999")
    show_alert(stranger, row.payload)
    await stranger.press("Đã tiếp nhận")
    assert [(r.text, r.toast) for r in stranger.last] == [(vi("alert.not_allowed"), True)]
    elsewhere = await bind_group(core, QUY_NHON, OTHER_GROUP)
    show_alert(elsewhere, row.payload)
    await elsewhere.press("Đã xử lý")
    assert elsewhere.last[0].text == vi("alert.not_allowed")
    citizen = ChatDriver(core, "500")  # a person in private chat with a copied payload
    await citizen.send(button=row.payload["buttons"][0][0][1], message_id="3")
    assert citizen.last[0].text == vi("alert.not_allowed")
    assert (await alerts(core))[0].status == "open"


async def test_an_admin_takes_an_alert_in_private(core: Core, chat: ChatDriver) -> None:
    await registered(chat)
    await declare(chat, "37,5")
    [row] = await outbox(core)
    admin = ChatDriver(core, "999", name="Admin")
    show_alert(admin, row.payload)
    await admin.press("Đã tiếp nhận")
    assert admin.last[0].text == vi("alert.recorded_ack")
    assert admin.last[1].edit_id == "1" and admin.last[1].chat_id == "999"
    assert (await alerts(core))[0].acknowledged_by == "Admin"


@pytest.mark.parametrize("payload", ["alert:ack:9999", "alert:xx:1", "alert:ack", "alert:ack:abc", "alert:",
                                     "alert:done:-1", "alert:ack:1:2"])
async def test_a_forged_alert_payload_gets_a_clear_answer(core: Core, chat: ChatDriver, payload: str) -> None:
    group = await bind_group(core)
    await registered(chat)
    await declare(chat, "37,5")
    await group.send(button=payload, message_id="5")
    assert [(r.text, r.toast) for r in group.last] == [(vi("alert.unknown"), True)]
    assert (await alerts(core))[0].status == "open"


# --- binding a group ----------------------------------------------------------------------------------

async def test_bind_code_unknown(core: Core) -> None:
    group = group_chat(core)
    await group.say("/lienket ABCDEFGH")
    assert group.text() == vi("bind.unknown")


async def test_bind_code_used(core: Core) -> None:
    code = await bind_code(core)
    first = group_chat(core)
    await first.say(f"/lienket {code.lower()}")  # any case, as people copy it
    assert first.text() == vi("bind.ok", station="Phường Pleiku")
    second = group_chat(core, "301", chat_id=OTHER_GROUP)
    await second.say(f"/bind {code}")
    assert second.text() == vi("bind.used")


async def test_bind_code_expired(core: Core, clock: Clock) -> None:
    code = await bind_code(core)
    clock.advance(hours=24, seconds=1)
    group = group_chat(core)
    await group.say(f"/lienket {code}")
    assert group.text() == vi("bind.expired")


async def test_bind_without_a_code_and_in_private(core: Core, chat: ChatDriver) -> None:
    group = group_chat(core)
    await group.say("/lienket")
    assert group.text() == vi("bind.usage")
    await chat.say(f"/lienket {await bind_code(core)}")
    assert chat.text() == vi("bind.in_group_only")


async def test_bind_with_the_bot_name_and_spaces(core: Core) -> None:
    code = await bind_code(core)
    group = group_chat(core)
    await group.say(f"/lienket@cachly_bot {code[:4]} {code[4:]}")
    assert group.text() == vi("bind.ok", station="Phường Pleiku")


async def test_group_chatter_is_ignored_and_private_commands_explained(core: Core) -> None:
    group = group_chat(core)
    await group.say("chào cả nhà")
    assert group.last == []
    await group.say("/khaibao")
    assert group.text() == vi("group.private_only")


# --- the outbox keeps the alert -----------------------------------------------------------------------

async def test_outbox_keeps_the_alert_after_a_failure(core: Core, chat: ChatDriver, clock: Clock) -> None:
    await registered(chat)
    await declare(chat, "37,5")
    async with core.db.session() as session:
        [row] = await claim_due(session, "telegram", core.utcnow(), 10, LEASE)
        assert (row.chat_id, row.status, row.attempts) == ("999", "sending", 1)
        assert await claim_due(session, "telegram", core.utcnow(), 10, LEASE) == []  # leased
        await mark_retry(session, row.id, "NetworkError", core.utcnow() + timedelta(minutes=1))
    async with core.db.session() as session:
        assert await claim_due(session, "telegram", core.utcnow(), 10, LEASE) == []  # not yet due
    clock.advance(minutes=1)
    async with core.db.session() as session:
        [again] = await claim_due(session, "telegram", core.utcnow(), 10, LEASE)
    assert (again.id, again.attempts, again.last_error) == (row.id, 2, "NetworkError")
    assert again.payload == row.payload
    assert len(await rows(core, Alert)) == 1


async def test_a_sender_that_died_mid_send_loses_its_lease(core: Core, chat: ChatDriver, clock: Clock) -> None:
    await registered(chat)
    await declare(chat, "37,5")
    async with core.db.session() as session:
        [row] = await claim_due(session, "telegram", core.utcnow(), 10, LEASE)
    clock.advance(seconds=61)  # the sender never marked it: after the lease another one takes it
    async with core.db.session() as session:
        [again] = await claim_due(session, "telegram", core.utcnow(), 10, LEASE)
    assert again.id == row.id and again.attempts == 2


async def test_english_checkin_and_an_english_admin(core: Core) -> None:
    from locales import t

    admin = ChatDriver(core, "999", language_code="en", name="Admin")
    await admin.say("/help")  # the admin's account exists, in English
    person = ChatDriver(core, "101", language_code="en")
    await person.say("/start")
    await person.press("I agree")
    for answer in ("Nguyen Van An", "1980"):
        await person.say(answer)
    await person.press("Male")
    await person.say("0912345678")
    await person.press("Skip")
    await person.say("pleiku")
    await person.press("Pleiku")
    await person.say("12 Le Loi")
    await person.press("F1")
    await person.press("Today")
    await person.press("Confirm")
    await person.press("Declare")
    assert person.text() == t("en", "ask.temperature", name="Nguyen Van An")
    await person.say("36.9")
    assert "▫️ Cough" in [b.label for b in person.buttons()]
    await person.send(button="s:symptoms:cough", message_id="9")
    await person.press("Done")
    await person.press("No meter")
    await person.press("Skip")
    await person.press("Nothing")
    assert person.text().startswith(t("en", "recap.line", name="Nguyen Van An", temperature="36.9 °C",
                                      symptoms="Cough", spo2="not measured", breathing="not measured")[:40])
    await person.press("Right")
    assert person.text() == t("en", "result.watch", name="Nguyen Van An")
    [row] = await outbox(core)
    assert row.chat_id == "999"
    assert row.payload["text"].startswith(t("en", "alert.title.watch"))
    assert "Cough" in row.payload["text"]
