"""Registration through the core, step by step: good answers, bad answers, edits, commands mid-way."""
from __future__ import annotations

from datetime import date

from sqlmodel import select

from health.rules import load_rules
from locales import t
from services.env import Core
from storage.db import Database
from storage.models import ConversationState
from tests.conftest import TZ, ChatDriver, Clock, register
from tests.factories import TODAY
from tests.steps import people, vi


async def state_of(core: Core) -> ConversationState | None:
    async with core.db.session() as session:
        return (await session.exec(select(ConversationState))).first()


def asks(chat: ChatDriver, key: str, **params: object) -> bool:
    """The last reply is the question `key` (after any error or acknowledgement)."""
    return chat.last[-1].text == vi(key, **params)


def refused(chat: ChatDriver, error_key: str, question_key: str, **params: object) -> None:
    texts = [r.text for r in chat.last]
    assert texts[0] == vi(error_key, **params), texts
    assert texts[-1] == vi(question_key), texts


async def until_phone(chat: ChatDriver) -> None:
    await chat.say("/start")
    await chat.press("Đồng ý")
    await chat.say("Nguyễn Văn An")
    await chat.say("1980")
    await chat.press("Nam")


async def until_station(chat: ChatDriver) -> None:
    await until_phone(chat)
    await chat.say("0912 345 678")
    await chat.press("Bỏ qua")


async def until_start_date(chat: ChatDriver, category: str = "F1 (tiếp xúc gần)") -> None:
    await until_station(chat)
    await chat.say("pleiku")
    await chat.press("Phường Pleiku")
    await chat.say("12 Lê Lợi, tổ 3")
    await chat.press(category)


async def until_summary(chat: ChatDriver) -> None:
    await until_start_date(chat)
    await chat.press("Hôm nay")
    assert chat.text().startswith(vi("reg.summary_title")), chat.text()


# --- the happy path and what it stores ----------------------------------------------------------------

async def test_happy_path_stores_the_person(core: Core, chat: ChatDriver) -> None:
    await register(chat)
    assert chat.buttons()[0].payload == "go:checkin"
    [person] = await people(core)
    assert (person.full_name, person.birth_year, person.gender, person.phone) == (
        "Nguyễn Văn An", 1980, "male", "0912345678")
    assert person.id_number is None and person.is_self and person.status == "active"
    assert person.address == "12 Lê Lợi, tổ 3" and person.category == "f1"
    assert await state_of(core) is None


async def test_f1_lasts_14_days_counting_the_first(core: Core, chat: ChatDriver) -> None:
    await register(chat)
    [person] = await people(core)
    assert person.start_date == TODAY
    assert person.end_date == date(2026, 12, 12)  # 29/11 + 14 - 1
    assert "12/12/2026" in chat.text()


async def test_f2_lasts_7_days_counting_the_first(core: Core, chat: ChatDriver) -> None:
    await until_start_date(chat, "F2")
    await chat.press("Hôm qua")
    assert "28/11/2026" in chat.text() and "04/12/2026" in chat.text()  # the summary shows both dates
    await chat.press("Xác nhận")
    [person] = await people(core)
    assert (person.start_date, person.end_date) == (date(2026, 11, 28), date(2026, 12, 4))


# --- bad answers: an error, the same question, nothing lost ------------------------------------------

async def test_every_step_refuses_a_bad_answer_and_keeps_the_others(core: Core, chat: ChatDriver) -> None:
    await chat.say("/start")
    await chat.say("ok")  # typed instead of pressing a consent button
    assert chat.last[0].text == vi("err.use_buttons")
    assert chat.last[-1].text == vi("ask.consent", days=core.retention_days)
    await chat.press("Đồng ý")

    await chat.say("Nguyễn Văn 4n")
    refused(chat, "err.name_letters", "ask.name.self")
    await chat.say("trần thị bình")  # lower case is fine, and gets capitals

    await chat.say("năm tám mươi")
    assert chat.last[0].text == vi("err.birth_year", this_year=2026)
    assert asks(chat, "ask.birth_year.self")
    await chat.say("2027")
    assert chat.last[0].text == vi("err.birth_year", this_year=2026)
    await chat.say("1985")

    await chat.say("gái")
    refused(chat, "err.use_buttons", "ask.gender.self")
    assert [b.label for b in chat.buttons()] == ["Nam", "Nữ", "Khác"]
    await chat.say("Nữ")  # the button's word, typed, is understood

    await chat.say("12345")
    refused(chat, "err.phone", "ask.phone")
    assert chat.last[-1].request_contact == vi("phone.share")  # the share button is offered again
    await chat.say("+84 987.654.321")

    await chat.say("123")
    refused(chat, "err.id_number", "ask.id_number")
    await chat.say("0790 8600 1234")

    await chat.say("p")
    refused(chat, "err.station_query", "ask.station")
    await chat.say("xyzxyz")
    refused(chat, "err.station_none", "ask.station", query="xyzxyz")
    await chat.say("quy nhon")
    await chat.say("Quy Nhơn")  # typed again instead of pressing: a new search, no harm
    await chat.press("Phường Quy Nhơn")

    await chat.say("!!")
    refused(chat, "err.address", "ask.address")
    await chat.say("5 Trần Hưng Đạo")

    await chat.say("F9")
    refused(chat, "err.use_buttons", "ask.category.self")
    await chat.press("F2")

    await chat.say("hôm kia")
    refused(chat, "err.date", "ask.start_date.self")
    await chat.say("27/11/2026")

    await chat.say("đúng rồi")
    assert chat.last[0].text == vi("err.use_buttons")
    summary = chat.last[-1].text
    for shown in ("Trần Thị Bình", "1985", "Nữ", "0987654321", "079086001234", "Phường Quy Nhơn",
                  "5 Trần Hưng Đạo", "F2 (tiếp xúc với F1)", "27/11/2026", "03/12/2026"):
        assert shown in summary, (shown, summary)
    await chat.press("Xác nhận")
    [person] = await people(core)
    assert (person.full_name, person.birth_year, person.gender, person.phone, person.id_number) == (
        "Trần Thị Bình", 1985, "female", "0987654321", "079086001234")
    assert (person.address, person.category, person.start_date) == ("5 Trần Hưng Đạo", "f2", date(2026, 11, 27))


async def test_consent_refused(core: Core, chat: ChatDriver) -> None:
    await chat.say("/start")
    await chat.press("Không đồng ý")
    assert chat.text() == vi("reg.consent_refused")
    assert chat.buttons() == []
    assert await state_of(core) is None and await people(core) == []
    await chat.say("/dangky")  # they may change their mind
    assert asks(chat, "ask.consent", days=core.retention_days)


# --- phone --------------------------------------------------------------------------------------------

async def test_phone_question_offers_the_share_contact_button(chat: ChatDriver) -> None:
    await until_phone(chat)
    assert chat.last[-1].request_contact == vi("phone.share")


async def test_phone_by_own_shared_contact(core: Core, chat: ChatDriver) -> None:
    await until_phone(chat)
    await chat.contact("84912345678", own=True)
    ack, question = chat.last
    assert ack.text == vi("reg.phone_saved", phone="0912345678")
    assert ack.remove_keyboard  # the share-contact keyboard goes away once used
    assert question.text == vi("ask.id_number") and question.request_contact is None
    await chat.press("Bỏ qua")
    await chat.say("pleiku")
    await chat.press("Phường Pleiku")
    await chat.say("12 Lê Lợi")
    await chat.press("F1")
    await chat.press("Hôm nay")
    await chat.press("Xác nhận")
    assert (await people(core))[0].phone == "0912345678"


async def test_someone_elses_contact_is_refused(chat: ChatDriver) -> None:
    await until_phone(chat)
    await chat.contact("+84987654321", own=False)
    refused(chat, "err.phone_contact", "ask.phone")
    assert chat.last[-1].request_contact == vi("phone.share")
    await chat.say("0912345678")
    assert chat.last[0].text == vi("reg.phone_saved", phone="0912345678")


async def test_typed_phone_also_removes_the_share_keyboard(chat: ChatDriver) -> None:
    await until_phone(chat)
    await chat.say("0912.345.678")
    assert chat.last[0].remove_keyboard


# --- CCCD ---------------------------------------------------------------------------------------------

async def test_id_number_valid_is_stored(core: Core, chat: ChatDriver) -> None:
    await until_phone(chat)
    await chat.say("0912345678")
    await chat.say("079 086 001 234")
    assert asks(chat, "ask.station")
    await chat.say("pleiku")
    await chat.press("Pleiku")
    await chat.say("12 Lê Lợi")
    await chat.press("F1")
    await chat.press("Hôm nay")
    assert "079086001234" in chat.text()
    await chat.press("Xác nhận")
    assert (await people(core))[0].id_number == "079086001234"


async def test_id_number_skipped_shows_none(chat: ChatDriver) -> None:
    await until_summary(chat)
    assert vi("summary.id_number", value=vi("summary.none")) in chat.text()


# --- station search -----------------------------------------------------------------------------------

async def labels_for(chat: ChatDriver, query: str) -> list[str]:
    await chat.say(query)
    assert chat.last[-1].text == vi("reg.station_pick"), chat.text()
    return [b.label for b in chat.buttons()]


async def test_station_search_is_accent_and_case_insensitive(chat: ChatDriver) -> None:
    await until_station(chat)
    assert (await labels_for(chat, "pleiku"))[0] == "Phường Pleiku"
    quy_nhon = await labels_for(chat, "quy nhon")
    assert quy_nhon[0] == "Phường Quy Nhơn"
    assert {"Phường Quy Nhơn Bắc", "Phường Quy Nhơn Nam"} <= set(quy_nhon)
    assert await labels_for(chat, "QUY NHƠN") == quy_nhon
    assert await labels_for(chat, "  Quy   Nhơn ") == quy_nhon


async def test_station_search_without_a_match_or_too_short(chat: ChatDriver) -> None:
    await until_station(chat)
    await chat.say("Hà Nội")
    refused(chat, "err.station_none", "ask.station", query="Hà Nội")
    await chat.say("q")
    refused(chat, "err.station_query", "ask.station")
    assert chat.buttons() == []


async def test_station_picked_is_in_the_summary(chat: ChatDriver) -> None:
    await until_station(chat)
    await chat.say("quy nhon")
    await chat.press("Phường Quy Nhơn Đông")
    assert asks(chat, "ask.address")


async def test_a_forged_station_code_is_refused(chat: ChatDriver) -> None:
    await until_station(chat)
    await chat.send(button="s:station:NOPE", message_id="1")
    refused(chat, "err.station_gone", "ask.station")


# --- start date ---------------------------------------------------------------------------------------

async def start_date_of(core: Core, chat: ChatDriver) -> date:
    assert chat.text().startswith(vi("reg.summary_title")), chat.text()
    await chat.press("Xác nhận")
    return (await people(core))[0].start_date


async def test_start_date_today_button(core: Core, chat: ChatDriver) -> None:
    await until_start_date(chat)
    assert [b.label for b in chat.buttons()] == ["Hôm nay", "Hôm qua"]
    await chat.press("Hôm nay")
    assert await start_date_of(core, chat) == TODAY


async def test_start_date_yesterday_button(core: Core, chat: ChatDriver) -> None:
    await until_start_date(chat)
    await chat.press("Hôm qua")
    assert await start_date_of(core, chat) == date(2026, 11, 28)


async def test_start_date_typed(core: Core, chat: ChatDriver) -> None:
    await until_start_date(chat)
    await chat.say("20/11")
    assert await start_date_of(core, chat) == date(2026, 11, 20)


async def test_start_date_in_the_future_is_refused(chat: ChatDriver) -> None:
    await until_start_date(chat)
    await chat.say("30/11/2026")
    refused(chat, "err.date_future", "ask.start_date.self")


async def test_start_date_whose_quarantine_is_over_is_refused(core: Core, chat: ChatDriver) -> None:
    await until_start_date(chat)  # F1: 14 days
    await chat.say("15/11/2026")  # would end on 28/11, yesterday
    refused(chat, "err.date_too_old", "ask.start_date.self", days=14)
    await chat.say("16/11/2026")  # ends today: still in quarantine
    assert await start_date_of(core, chat) == date(2026, 11, 16)


async def test_start_date_uses_the_local_day_not_utc(core: Core, chat: ChatDriver, clock: Clock) -> None:
    await until_start_date(chat)
    clock.set_local(clock().astimezone(TZ).replace(hour=0, minute=30, tzinfo=None))  # 17:30 UTC the day before
    await chat.press("Hôm nay")
    assert await start_date_of(core, chat) == TODAY


# --- edits --------------------------------------------------------------------------------------------

async def test_edit_one_field_returns_to_the_summary(core: Core, chat: ChatDriver) -> None:
    await until_summary(chat)
    await chat.press("Sửa")
    assert asks(chat, "ask.edit_which")
    assert [b.label for b in chat.buttons()] == [vi(f"field.{f}") for f in (
        "name", "birth_year", "gender", "phone", "id_number", "station", "address", "category", "start_date")]
    await chat.press("Địa chỉ")
    assert asks(chat, "ask.address")
    await chat.say("x")  # a bad answer while editing still returns to the summary afterwards
    refused(chat, "err.address", "ask.address")
    await chat.say("7 Hùng Vương")
    summary = chat.text()
    assert summary.startswith(vi("reg.summary_title"))
    assert "7 Hùng Vương" in summary and "12 Lê Lợi" not in summary
    assert "Nguyễn Văn An" in summary and "0912345678" in summary and "Phường Pleiku" in summary
    await chat.press("Xác nhận")
    assert (await people(core))[0].address == "7 Hùng Vương"


async def test_edit_station_and_phone(core: Core, chat: ChatDriver) -> None:
    await until_summary(chat)
    await chat.press("Sửa")
    await chat.press("Xã/phường")
    await chat.say("quy nhon")
    await chat.press("Phường Quy Nhơn Tây")
    assert "Phường Quy Nhơn Tây" in chat.text() and chat.text().startswith(vi("reg.summary_title"))
    await chat.press("Sửa")
    await chat.press("Điện thoại")
    assert chat.last[-1].request_contact == vi("phone.share")
    await chat.contact("+84987654321")
    assert chat.last[0].remove_keyboard and chat.last[-1].text.startswith(vi("reg.summary_title"))
    await chat.press("Xác nhận")
    person = (await people(core))[0]
    assert person.phone == "0987654321"


async def test_edit_category_that_would_end_the_quarantine_asks_the_date_again(chat: ChatDriver) -> None:
    await until_start_date(chat)  # F1
    await chat.say("20/11/2026")  # F1 runs to 03/12
    await chat.press("Sửa")
    await chat.press("Diện cách ly")
    await chat.press("F2")  # F2 from 20/11 would have ended on 26/11
    assert chat.last[0].text == vi("err.date_too_old", days=7)
    assert asks(chat, "ask.start_date.self")
    await chat.press("Hôm qua")
    assert chat.text().startswith(vi("reg.summary_title"))
    assert "28/11/2026" in chat.text() and "04/12/2026" in chat.text()


# --- commands and buttons mid-way ---------------------------------------------------------------------

async def test_cancel_midway_clears_the_state(core: Core, chat: ChatDriver) -> None:
    await until_phone(chat)
    await chat.say("/huy")
    assert chat.text() == vi("common.cancelled")
    assert chat.last[0].remove_keyboard  # the share-contact keyboard must not linger
    assert await state_of(core) is None
    await chat.say("Nguyễn Văn An")
    assert chat.text() == vi("idle.new")
    await chat.say("/cancel")
    assert chat.text() == vi("common.nothing_to_cancel")
    await chat.say("/start")
    assert asks(chat, "ask.consent", days=core.retention_days)  # from the beginning


async def test_start_midway_resumes_the_same_question(chat: ChatDriver) -> None:
    await until_station(chat)
    await chat.say("/start")
    assert chat.last[0].text == vi("common.continue")
    assert asks(chat, "ask.station")
    await chat.say("pleiku")
    await chat.press("Phường Pleiku")
    await chat.say("12 Lê Lợi")
    await chat.press("F1")
    await chat.press("Hôm nay")
    assert "Nguyễn Văn An" in chat.text() and "0912345678" in chat.text()


async def test_a_stale_button_gets_the_current_question(chat: ChatDriver) -> None:
    await chat.say("/start")
    consent_buttons = chat.buttons()
    await chat.press("Đồng ý")
    await chat.say("Nguyễn Văn An")
    await chat.send(button=consent_buttons[1].payload, message_id="1")  # "Không đồng ý" from before
    assert chat.last[0].text == vi("common.stale_button")
    assert asks(chat, "ask.birth_year.self")
    await chat.say("1980")
    assert asks(chat, "ask.gender.self")


async def test_unknown_command_midway_repeats_the_question(chat: ChatDriver) -> None:
    await until_station(chat)
    await chat.say("/abc")
    assert chat.last[0].text == vi("common.unknown_command")
    assert asks(chat, "ask.station")


async def test_start_when_registered_shows_the_status(chat: ChatDriver, clock: Clock) -> None:
    await register(chat)
    await chat.say("/start")
    assert vi("status.title") in chat.text()
    assert vi("status.person", name="Nguyễn Văn An", end="12/12/2026", left=14) in chat.text()  # today counts
    assert vi("status.not_declared") in chat.text()
    await chat.say("/khaibao")
    await chat.say("36,8")
    await chat.press("Không có triệu chứng")
    await chat.press("Không có máy đo")
    await chat.press("Bỏ qua")
    await chat.press("Không có")
    clock.advance(days=1)
    await chat.say("/start")
    assert vi("status.person", name="Nguyễn Văn An", end="12/12/2026", left=13) in chat.text()
    assert vi("status.not_declared") in chat.text()  # yesterday's declaration is not today's
    await chat.say("/khaibao")
    await chat.say("36,8")
    await chat.press("Không có triệu chứng")
    await chat.press("Không có máy đo")
    await chat.press("Bỏ qua")
    await chat.press("Không có")
    await chat.say("/dangky")
    assert vi("status.declared", slots="08:00") in chat.text()


# --- languages ----------------------------------------------------------------------------------------

async def test_english_user_gets_english(core: Core) -> None:
    chat = ChatDriver(core, "101", language_code="en-GB")
    await chat.say("/register")
    assert chat.last[0].text == t("en", "reg.welcome")
    await chat.press("I agree")
    assert chat.text() == t("en", "ask.name.self")
    await chat.say("4")
    assert chat.last[0].text == t("en", "err.name_letters")
    await chat.say("Nguyen Van An")
    await chat.say("1980")
    assert [b.label for b in chat.buttons()] == ["Male", "Female", "Other"]
    await chat.press("Male")
    await chat.say("0912345678")
    await chat.press("Skip")
    await chat.say("pleiku")
    await chat.press("Pleiku")
    await chat.say("12 Le Loi")
    await chat.press("F1")
    await chat.press("Today")
    assert chat.text().startswith(t("en", "reg.summary_title"))
    await chat.press("Confirm")
    assert chat.text().startswith("🎉 You are registered!")


async def test_language_switch_reasks_the_current_question(core: Core, chat: ChatDriver) -> None:
    await until_phone(chat)
    await chat.say("/ngonngu")
    assert chat.text() == vi("language.ask")
    await chat.press("English")
    assert chat.last[0].text == "Switched to English."
    assert chat.last[-1].text == t("en", "ask.phone")
    assert chat.last[-1].request_contact == t("en", "phone.share")
    await chat.say("12")
    assert chat.last[0].text == t("en", "err.phone")
    await chat.say("/language")
    await chat.press("Tiếng Việt")
    assert chat.last[0].text == vi("language.set")
    assert asks(chat, "ask.phone")


async def test_language_switch_outside_a_conversation(chat: ChatDriver) -> None:
    await chat.say("/language")
    await chat.press("English")
    assert [r.text for r in chat.last] == ["Switched to English."]
    await chat.say("/start")
    assert chat.last[0].text == t("en", "reg.welcome")


# --- restarts -----------------------------------------------------------------------------------------

async def test_registration_continues_on_a_restarted_core(core: Core, chat: ChatDriver, db_url: str,
                                                          clock: Clock) -> None:
    await until_station(chat)
    await chat.say("pleiku")
    await chat.press("Phường Pleiku")
    await core.db.dispose()  # the first process goes away

    db = Database(db_url)
    try:
        restarted = Core(db, load_rules(), TZ, admin_chats=[("telegram", "999")], clock=clock)
        again = ChatDriver(restarted, "100")
        await again.say("12 Lê Lợi, tổ 3")
        assert again.last[-1].text == vi("ask.category.self")
        await again.press("F1")
        await again.press("Hôm nay")
        summary = again.text()
        for shown in ("Nguyễn Văn An", "1980", "0912345678", "Phường Pleiku", "12 Lê Lợi, tổ 3"):
            assert shown in summary
        await again.press("Xác nhận")
        assert "Đăng ký xong" in again.text()
        assert [p.full_name for p in await people(restarted)] == ["Nguyễn Văn An"]
    finally:
        await db.dispose()


async def test_start_after_restart_resumes(core: Core, chat: ChatDriver, db_url: str, clock: Clock) -> None:
    await until_phone(chat)
    db = Database(db_url)
    try:
        again = ChatDriver(Core(db, load_rules(), TZ, clock=clock), "100")
        await again.say("/start")
        assert [r.text for r in again.last] == [vi("common.continue"), vi("ask.phone")]
        assert again.last[-1].request_contact == vi("phone.share")
    finally:
        await db.dispose()



async def test_a_forged_language_button(chat: ChatDriver) -> None:
    for payload in ("lang:xx", "lang:", "lang"):
        await chat.send(button=payload, message_id="1")
        assert chat.last[0].text == vi("language.ask"), (payload, chat.text())


async def test_a_double_tap_on_confirm_registers_once(core: Core, chat: ChatDriver) -> None:
    await until_summary(chat)
    confirm = chat.buttons()[0].payload
    await chat.press("Xác nhận")
    await chat.send(button=confirm, message_id="1")  # the same button again, as a slow phone sends it twice
    assert chat.last[0].text == vi("common.stale_button")
    assert chat.last[-1].text == vi("idle.registered")
    assert len(await people(core)) == 1
