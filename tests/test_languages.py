"""A new language is one file: a catalog dropped into locales/ is offered, used and put in the menus, no code changed.

The catalogs here are throw-away ones in a temporary locales directory, beside copies of the real two.
"""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

import locales
from bot.telegram import set_command_menus
from locales import language_for, languages, t
from services.env import Core
from storage.models import Account
from tests.conftest import ChatDriver

REAL = Path(locales.__file__).parent
# A fake language: a few texts translated, the rest left to Vietnamese.
XX = {
    "language.name": "Xxish",
    "language.set": "Xx: switched to Xxish.",
    "reg.welcome": "Xx: welcome!",
    "cmd.ngonngu": "Xx: choose a language",
}


def write_catalog(directory: Path, lang: str, texts: dict[str, str]) -> None:
    entries = "".join(f'msgid "{key}"\nmsgstr "{text}"\n\n' for key, text in texts.items())
    path = directory / lang / "LC_MESSAGES" / f"{locales.DOMAIN}.po"
    path.parent.mkdir(parents=True)
    path.write_text(f'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n"Language: {lang}\\n"\n\n'
                    f"{entries}", "utf-8")


@pytest.fixture
def locales_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A locales directory of the test's own, holding copies of the real catalogs; the caches follow it."""
    directory = tmp_path / "locales"
    for lang in ("vi", "en"):
        shutil.copytree(REAL / lang, directory / lang)
    monkeypatch.setattr(locales, "_DIR", directory)
    locales.languages.cache_clear()
    locales.catalog.cache_clear()
    yield directory
    locales.languages.cache_clear()  # the real directory again for the next test (monkeypatch undoes _DIR)
    locales.catalog.cache_clear()


@pytest.fixture
def xx(locales_dir: Path) -> str:
    write_catalog(locales_dir, "xx", XX)
    return "xx"


async def account_language(core: Core, user_id: str) -> str:
    async with core.db.session() as session:
        account = (await session.exec(select(Account).where(Account.external_id == user_id))).one()
    return account.language


def test_the_real_catalogs() -> None:
    assert languages() == locales.LANGUAGES == ("vi", "en")


def test_languages_are_the_catalogs_vietnamese_first_then_sorted(locales_dir: Path) -> None:
    for lang in ("zz", "ab"):
        write_catalog(locales_dir, lang, {"language.name": lang.upper()})
    (locales_dir / "notes").mkdir()  # a directory without a catalog is no language
    (locales_dir / "qq" / "LC_MESSAGES").mkdir(parents=True)
    assert languages() == ("vi", "ab", "en", "zz")


@pytest.mark.parametrize(("code", "lang"), [
    ("en", "en"), ("en-US", "en"), ("EN_gb", "en"), ("xx", "xx"), ("xx-YY", "xx"), ("vi-VN", "vi"), ("vi", "vi"),
    ("fr", "vi"), ("fr-CA", "vi"), ("", "vi"), (None, "vi"), ("e", "vi"), ("english", "vi"),
])
def test_a_client_language_code_is_matched_by_its_primary_subtag(xx: str, code: str | None, lang: str) -> None:
    assert language_for(code) == lang


def test_a_missing_text_falls_back_to_vietnamese(xx: str) -> None:
    assert t(xx, "reg.welcome") == "Xx: welcome!"
    assert t(xx, "ask.consent", days=30) == t("vi", "ask.consent", days=30)


async def test_the_language_command_offers_a_new_catalog_and_switches_to_it(xx: str, core: Core,
                                                                            chat: ChatDriver) -> None:
    await chat.say("/ngonngu")
    assert chat.last[0].text == t("vi", "language.ask")
    assert [b.label for b in chat.buttons()] == ["Tiếng Việt", "English", "Xxish"]  # each named by its own catalog
    await chat.press("Xxish")
    assert chat.last[0].text == "Xx: switched to Xxish."
    assert await account_language(core, chat.user_id) == "xx"
    await chat.say("/start")
    assert chat.last[0].text == "Xx: welcome!"
    assert chat.text().endswith(t("vi", "ask.consent", days=core.retention_days))  # not translated: Vietnamese
    await chat.say("/language")
    await chat.press("English")
    assert chat.last[0].text == t("en", "language.set")
    assert await account_language(core, chat.user_id) == "en"


async def test_a_user_whose_telegram_speaks_the_new_language_starts_in_it(xx: str, core: Core) -> None:
    chat = ChatDriver(core, "101", language_code="xx-YY")
    await chat.say("/start")
    assert chat.last[0].text == "Xx: welcome!"
    assert await account_language(core, "101") == "xx"
    other = ChatDriver(core, "102", language_code="fr")  # no catalog: Vietnamese
    await other.say("/start")
    assert other.last[0].text == t("vi", "reg.welcome")
    assert await account_language(core, "102") == "vi"


async def test_a_removed_catalog_is_no_longer_offered(xx: str, locales_dir: Path, chat: ChatDriver) -> None:
    await chat.say("/ngonngu")
    pressed = next(b.payload for b in chat.buttons() if b.label == "Xxish")
    shutil.rmtree(locales_dir / "xx")
    locales.languages.cache_clear()  # a restart
    await chat.send(button=pressed, message_id="1")
    assert chat.last[0].text == t("vi", "language.ask")  # an old button of a language gone: asked again
    assert [b.label for b in chat.buttons()] == ["Tiếng Việt", "English"]


class MenuBot:
    """What set_command_menus asks of Telegram's Bot: set_my_commands, recorded."""

    def __init__(self) -> None:
        self.menus: dict[tuple[str | None, str], dict[str, str]] = {}

    async def set_my_commands(self, commands, scope, language_code=None) -> bool:
        self.menus[(language_code, scope.type)] = {c.command: c.description for c in commands}
        return True


async def test_the_new_language_gets_command_menus(xx: str) -> None:
    bot = MenuBot()
    await set_command_menus(bot)  # type: ignore[arg-type]
    assert {code for code, _ in bot.menus} == {None, "en", "xx"}  # None: the default menu, in Vietnamese
    private = bot.menus[("xx", "all_private_chats")]
    assert private["language"] == "Xx: choose a language"
    assert private["start"] == t("vi", "cmd.start")  # not translated: Vietnamese
    assert bot.menus[("xx", "all_group_chats")].keys() == bot.menus[("en", "all_group_chats")].keys()
