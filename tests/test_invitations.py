"""Invitations: the deep link of an imported person pre-fills their registration; they consent and confirm."""
from __future__ import annotations

import pytest

from services.env import Core
from storage.invitations import CODE_LENGTH, create_invitations, find_invitation, link
from storage.models import AuditEvent, ConversationState, Invitation, Person
from storage.stations import code_key
from tests.conftest import ChatDriver, Clock, register
from tests.factories import PLEIKU, TODAY, station_id
from tests.steps import rows

DATA = {"full_name": "Trần Thị Bình", "birth_year": 1975, "gender": "female", "phone": "0905111222",
        "id_number": "064175000123", "address": "5 Hùng Vương, tổ 2", "category": "f1", "start_date": "2026-11-27",
        "station_code": PLEIKU, "station_name": "Phường Pleiku", "decision_number": "12/QĐ-UBND"}


async def invite(core: Core, **changes: object) -> str:
    async with core.db.session() as session:
        [code] = await create_invitations(session, [(await station_id(core), {**DATA, **changes})], "test",
                                          core.utcnow())
    return code


async def invitation(core: Core, code: str) -> Invitation:
    async with core.db.session() as session:
        return await session.get(Invitation, code_key(code))  # only the hash of the code is stored


def test_links_are_telegram_deep_links() -> None:
    assert link("tram_bot", "ABCDEFGHJKLM") == "https://t.me/tram_bot?start=ABCDEFGHJKLM"


async def test_codes_are_long_distinct_and_unambiguous(core: Core) -> None:
    async with core.db.session() as session:
        codes = await create_invitations(session, [(await station_id(core), DATA)] * 500, "test", core.utcnow())
    assert len(set(codes)) == 500 and {len(c) for c in codes} == {CODE_LENGTH} == {12}
    assert not set("".join(codes)) & set("01IO")


async def test_the_link_asks_consent_then_shows_the_summary_and_confirming_creates_the_person(
        core: Core, chat: ChatDriver) -> None:
    code = await invite(core)
    await chat.say(f"/start {code}")
    assert "Phường Pleiku đã chuẩn bị sẵn thông tin đăng ký" in chat.text()
    assert "Bạn có đồng ý không?" in chat.last[-1].text
    await chat.press("Đồng ý")
    summary = chat.text()
    assert "Thông tin đăng ký của bạn" in summary
    for shown in ("Trần Thị Bình", "1975", "Nữ", "0905111222", "064175000123", "Phường Pleiku", "5 Hùng Vương",
                  "F1", "27/11/2026", "10/12/2026"):
        assert shown in summary
    assert not await rows(core, Person)
    await chat.press("Xác nhận")
    assert "Đăng ký xong" in chat.text()
    [person] = await rows(core, Person)
    assert (person.full_name, person.birth_year, person.gender, person.phone, person.id_number, person.address,
            person.category, str(person.start_date), str(person.end_date), person.is_self) == (
        "Trần Thị Bình", 1975, "female", "0905111222", "064175000123", "5 Hùng Vương, tổ 2", "f1", "2026-11-27",
        "2026-12-10", True)
    assert person.station_id == await station_id(core)
    used = await invitation(core, code)
    assert used.used_at is not None and used.used_by_account == person.account_id
    async with core.db.session() as session:
        assert await session.get(ConversationState, person.account_id) is None  # the conversation is over


async def test_the_invitation_use_is_audited_without_personal_data(core: Core, chat: ChatDriver) -> None:
    code = await invite(core)
    await chat.say(f"/start {code}")
    await chat.press("Đồng ý")
    await chat.press("Xác nhận")
    [person] = await rows(core, Person)
    [created] = await rows(core, AuditEvent, AuditEvent.action == "person.create")
    assert (created.entity, created.entity_id, created.actor) == ("person", str(person.id), "telegram:100")
    assert created.after == {"source": "invitation", "invitation": code_key(code), "station_id": person.station_id,
                             "category": "f1", "start_date": "2026-11-27"}
    [used] = await rows(core, AuditEvent, AuditEvent.action == "invitation.use")
    assert (used.entity, used.entity_id, used.after) == ("invitation", code_key(code), {"person_id": person.id,
                                                                               "account_id": person.account_id})


async def test_edit_still_works_before_confirming(core: Core, chat: ChatDriver) -> None:
    code = await invite(core)
    await chat.say(f"/start {code}")
    await chat.press("Đồng ý")
    await chat.press("Sửa")
    await chat.press("Địa chỉ")
    await chat.say("7 Trần Phú, tổ 5")
    assert "7 Trần Phú, tổ 5" in chat.text() and "Thông tin đăng ký của bạn" in chat.text()
    await chat.press("Xác nhận")
    [person] = await rows(core, Person)
    assert person.address == "7 Trần Phú, tổ 5" and person.full_name == "Trần Thị Bình"


async def test_refusing_consent_registers_nothing_and_keeps_the_invitation(core: Core, chat: ChatDriver) -> None:
    code = await invite(core)
    await chat.say(f"/start {code}")
    await chat.press("Không đồng ý")
    assert "chưa đồng ý" in chat.text()
    assert not await rows(core, Person) and (await invitation(core, code)).used_at is None
    await chat.say(f"/start {code}")  # thought better of it
    await chat.press("Đồng ý")
    await chat.press("Xác nhận")
    assert len(await rows(core, Person)) == 1


async def test_a_code_typed_in_lower_case_with_spaces_works(core: Core, chat: ChatDriver) -> None:
    code = await invite(core)
    await chat.say(f"/dangky {code[:6].lower()}-{code[6:]}")
    assert "đã chuẩn bị sẵn" in chat.text()


async def test_an_unknown_code_says_so_and_registration_starts(chat: ChatDriver) -> None:
    await chat.say("/start KHONGCOMAYDAU")
    assert "Liên kết mời này không đúng" in chat.last[0].text
    assert "Bạn có đồng ý không?" in chat.last[-1].text
    await chat.press("Đồng ý")
    assert "Họ và tên của bạn" in chat.text()  # the usual questions, nothing pre-filled


async def test_a_used_code_says_so_to_anyone_else(core: Core, chat: ChatDriver) -> None:
    code = await invite(core)
    await chat.say(f"/start {code}")
    await chat.press("Đồng ý")
    await chat.press("Xác nhận")
    other = ChatDriver(core, "200")
    await other.say(f"/start {code}")
    assert "đã được dùng để đăng ký rồi" in other.last[0].text
    assert "Bạn có đồng ý không?" in other.last[-1].text
    await chat.say(f"/start {code}")  # the person who used it: already registered
    assert "Bạn đã đăng ký rồi" in chat.last[0].text and "Trần Thị Bình" in chat.text()


async def test_an_expired_code_says_so(core: Core, clock: Clock, chat: ChatDriver) -> None:
    code = await invite(core)
    clock.advance(days=14, seconds=1)
    await chat.say(f"/start {code}")
    assert "đã hết hạn" in chat.last[0].text and "Bạn có đồng ý không?" in chat.last[-1].text


async def test_a_link_still_valid_on_its_last_day(core: Core, clock: Clock, chat: ChatDriver) -> None:
    code = await invite(core, start_date=TODAY.isoformat())
    clock.advance(days=13, hours=23)
    await chat.say(f"/start {code}")
    assert "đã chuẩn bị sẵn" in chat.text()


async def test_someone_already_registered_is_told_and_shown_their_status(core: Core, chat: ChatDriver) -> None:
    await register(chat)
    code = await invite(core)
    await chat.say(f"/start {code}")
    assert "Bạn đã đăng ký rồi" in chat.last[0].text and "Nguyễn Văn An" in chat.text()
    assert (await invitation(core, code)).used_at is None


async def test_the_same_link_confirmed_on_two_phones_registers_once(core: Core, chat: ChatDriver) -> None:
    code = await invite(core)
    other = ChatDriver(core, "200")
    for phone in (chat, other):
        await phone.say(f"/start {code}")
        await phone.press("Đồng ý")
    await chat.press("Xác nhận")
    await other.press("Xác nhận")
    assert "vừa được dùng ở một máy khác" in other.text()
    assert len(await rows(core, Person)) == 1


@pytest.mark.parametrize("missing", ["address", "id_number"])
async def test_incomplete_data_asks_the_questions_as_usual(core: Core, chat: ChatDriver, missing: str) -> None:
    """An invitation written by an older import, say, without a field: nothing is taken for granted."""
    data = {k: v for k, v in DATA.items() if k != missing}
    async with core.db.session() as session:
        [code] = await create_invitations(session, [(await station_id(core), data)], "test", core.utcnow())
    await chat.say(f"/start {code}")
    await chat.press("Đồng ý")
    assert "Thông tin đăng ký của bạn" not in chat.text()


async def test_find_invitation_statuses(core: Core, clock: Clock) -> None:
    code = await invite(core)
    async with core.db.session() as session:
        assert (await find_invitation(session, code, core.utcnow())).status == "ok"
        assert (await find_invitation(session, "NOPE", core.utcnow())).status == "unknown"
    clock.advance(days=15)
    async with core.db.session() as session:
        assert (await find_invitation(session, code, core.utcnow())).status == "expired"
