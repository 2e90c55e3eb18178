"""The consent (issue 13, item 1): the law in force (Luật 91/2025/QH15, Nghị định 356/2025/NĐ-CP), every element the
law asks a consent to name, the retention from the rules, and consent only as an explicit act."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from health.rules import load_rules
from locales import LANGUAGES, catalog, t
from services.env import Core
from storage.invitations import create_invitations
from storage.models import Person
from tests.conftest import ChatDriver
from tests.factories import PLEIKU, STATION_PHONE, set_station_phone, station_id
from tests.steps import people, vi

ROOT = Path(__file__).resolve().parent.parent
CATALOGS = sorted((ROOT / "locales").glob("*/LC_MESSAGES/cachly.po"))

# What the consent must name, per language: each element is a list of phrases that must all be in the text.
ELEMENTS = {
    "vi": {
        "data: name, year of birth, gender, phone": ["họ tên", "năm sinh", "giới tính", "số điện thoại"],
        "data: ID number if given": ["căn cước", "CCCD", "nếu bạn khai"],
        "data: address": ["địa chỉ"],
        "data: health answers": ["câu trả lời về sức khỏe"],
        "purpose": ["Để làm gì", "theo dõi sức khỏe", "cách ly"],
        "who sees it": ["Ai được xem", "chỉ bạn", "trạm y tế xã, phường nơi bạn ở", "Sở Y tế tỉnh"],
        "how long": ["đến khi hết cách ly và thêm {days} ngày", "được xóa"],
        "withdraw and deletion": ["rút lại sự đồng ý", "xin xóa", "/xoadulieu"],
        "the law": ["Luật Bảo vệ dữ liệu cá nhân số 91/2025/QH15", "Nghị định 356/2025/NĐ-CP"],
        "the question": ["Bạn có đồng ý không?"],
    },
    "en": {
        "data: name, year of birth, gender, phone": ["full name", "year of birth", "gender", "phone number"],
        "data: ID number if given": ["ID card number", "CCCD", "if you give it"],
        "data: address": ["address"],
        "data: health answers": ["answers about your health"],
        "purpose": ["Why", "follow your health", "quarantine"],
        "who sees it": ["Who sees it", "only you", "health station of your commune or ward",
                        "provincial Department of Health"],
        "how long": ["until your quarantine ends plus {days} days", "deleted"],
        "withdraw and deletion": ["withdraw your consent", "ask for your data to be deleted", "/deletedata"],
        "the law": ["Law on Personal Data Protection No. 91/2025/QH15", "Decree 356/2025/ND-CP"],
        "the question": ["Do you agree?"],
    },
}


@pytest.mark.parametrize("lang", sorted(ELEMENTS))
def test_the_consent_names_every_required_element(lang: str) -> None:
    text = catalog(lang)["ask.consent"]
    missing = {element: [p for p in phrases if p not in text]
               for element, phrases in ELEMENTS[lang].items() if any(p not in text for p in phrases)}
    assert not missing, missing


def test_every_language_of_the_app_is_checked() -> None:
    assert set(LANGUAGES) == set(ELEMENTS)


def test_the_vietnamese_consent_speaks_plainly_and_never_as_minh() -> None:
    for key in ("ask.consent", "reg.consent_refused", "consent.yes", "consent.no"):
        assert not re.search(r"\bmình\b", catalog("vi")[key], re.IGNORECASE), key
    lines = [line for line in catalog("vi")["ask.consent"].split("\n") if line]
    assert max(len(line) for line in lines) <= 100, lines  # short lines on a cheap phone's screen


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: p.parts[-3])
def test_no_catalog_cites_the_replaced_decree(path: Path) -> None:
    assert "13/2023" not in path.read_text("utf-8")


@pytest.mark.parametrize("lang", sorted(ELEMENTS))
def test_the_refusal_says_the_bot_cannot_follow_them_and_to_call_the_station(lang: str) -> None:
    text = catalog(lang)["reg.consent_refused"]
    needed = (["chưa thể theo dõi", "gọi điện cho trạm y tế", "/dangky"] if lang == "vi"
              else ["cannot follow your health", "call the health station", "/register"])
    assert [p for p in needed if p not in text] == [], text


async def test_the_retention_days_of_the_rules_are_in_the_consent_shown(core: Core, chat: ChatDriver) -> None:
    core.rules = load_rules(None, {"privacy": {"retention_days": 45}})
    await chat.say("/start")
    assert "đến khi hết cách ly và thêm 45 ngày" in chat.text()
    assert chat.last[-1].text == vi("ask.consent", days=45)
    english = ChatDriver(core, "101", language_code="en")
    await english.say("/start")
    assert "until your quarantine ends plus 45 days" in english.text()


def test_the_default_retention_is_the_rules_file_value() -> None:
    days = load_rules().retention_days
    assert f"thêm {days} ngày" in t("vi", "ask.consent", days=days)


async def test_no_consent_is_assumed_the_question_waits_for_an_answer(core: Core, chat: ChatDriver) -> None:
    await chat.say("/start")
    labels = [b.label for b in chat.buttons()]
    assert labels == ["Đồng ý", "Không đồng ý"]
    for loose in ("ok", "vâng", "có", "Nguyễn Văn An", "dong y khong"):
        await chat.say(loose)
        assert chat.last[0].text == vi("err.use_buttons"), loose
        assert chat.last[-1].text == vi("ask.consent", days=core.retention_days)
    assert await people(core) == []


@pytest.mark.parametrize("typed", ["đồng ý", "Đồng ý", "dong y", "ĐỒNG Ý.", "  đồng   ý!"])
async def test_typing_the_agree_label_is_consent(chat: ChatDriver, typed: str) -> None:
    await chat.say("/start")
    await chat.say(typed)
    assert chat.text() == vi("ask.name.self")


@pytest.mark.parametrize("typed", ["không đồng ý", "Khong dong y", "KHÔNG ĐỒNG Ý."])
async def test_typing_the_refuse_label_is_refusal_not_consent(core: Core, chat: ChatDriver, typed: str) -> None:
    await chat.say("/start")
    await chat.say(typed)
    assert chat.text() == vi("reg.consent_refused")
    assert await people(core) == []


async def test_english_typed_consent_goes_on(core: Core) -> None:
    english = ChatDriver(core, "102", language_code="en")
    await english.say("/start")
    await english.say("i agree")
    assert english.text() == t("en", "ask.name.self")


async def test_refusing_an_invitation_gives_the_stations_phone(core: Core, chat: ChatDriver) -> None:
    await set_station_phone(core)
    data = {"full_name": "Trần Thị Bình", "birth_year": 1975, "gender": "female", "phone": "0905111222",
            "address": "5 Hùng Vương, tổ 2", "category": "f1", "start_date": "2026-11-27", "station_code": PLEIKU,
            "station_name": "Phường Pleiku"}
    async with core.db.session() as session:
        [code] = await create_invitations(session, [(await station_id(core), data)], "test", core.utcnow())
    await chat.say(f"/start {code}")
    await chat.press("Không đồng ý")
    assert chat.text().startswith(vi("reg.consent_refused"))
    assert STATION_PHONE in chat.text()
    async with core.db.session() as session:
        assert (await session.get(Person, 1)) is None


async def test_refusing_without_a_known_station_gives_the_plain_refusal(chat: ChatDriver) -> None:
    await chat.say("/start")
    await chat.press("Không đồng ý")
    assert chat.text() == vi("reg.consent_refused")
