"""One table of commands: the router, the staff help and the command menus all come from it."""
from __future__ import annotations

import re

import pytest

from handlers.commands import COMMANDS, GROUP, PRIVATE, for_role, menu
from handlers.dispatch import GROUP_COMMANDS, PRIVATE_COMMANDS
from locales import LANGUAGES, catalog
from storage.roles import ADMIN, PROVINCE, STAFF

TELEGRAM_NAME = re.compile(r"[a-z0-9_]{1,32}")  # what setMyCommands accepts


def test_the_router_has_exactly_the_table_s_names() -> None:
    assert set(PRIVATE_COMMANDS) == {f"/{n}" for c in COMMANDS if PRIVATE in c.where for n in c.names}
    assert set(GROUP_COMMANDS) == {f"/{n}" for c in COMMANDS if GROUP in c.where for n in c.names}


def test_every_name_belongs_to_one_command_and_telegram_accepts_it() -> None:
    names = [n for c in COMMANDS for n in c.names]
    assert len(names) == len(set(names))
    assert all(TELEGRAM_NAME.fullmatch(n) for n in names)


def test_the_names_of_one_command_lead_to_one_handler() -> None:
    for command in COMMANDS:
        for table, where in ((PRIVATE_COMMANDS, PRIVATE), (GROUP_COMMANDS, GROUP)):
            if where in command.where:
                assert len({table[f"/{n}"] for n in command.names}) == 1, command.vi


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_command_is_described_in_every_catalog(lang: str) -> None:
    assert [c.key for c in COMMANDS if c.key not in catalog(lang)] == []


def test_a_menu_shows_only_what_its_chat_accepts() -> None:
    for role in (None, STAFF, PROVINCE, ADMIN):
        assert all(PRIVATE in c.where for c in menu(PRIVATE, role))
    assert all(GROUP in c.where for c in menu(GROUP))
    assert [c.vi for c in menu(GROUP)] == ["baocao", "phananhmo", "lienket", "trogiup"]


def test_a_role_s_menu_puts_its_work_before_what_everyone_has() -> None:
    everyone = menu(PRIVATE)
    assert all(not c.roles for c in everyone)
    for role in (STAFF, PROVINCE, ADMIN):
        own = for_role(role)
        assert menu(PRIVATE, role) == [c for c in own if PRIVATE in c.menu] + everyone
    assert [c.vi for c in for_role(ADMIN)][-3:] == ["tram", "capquyen", "thuhoi"]
    assert "maunhap" not in [c.vi for c in for_role(PROVINCE)]  # viewers import nothing
    assert {c.vi for c in for_role(STAFF)} < {c.vi for c in for_role(ADMIN)}


def test_a_menu_shows_english_names_outside_vietnamese() -> None:
    checkin = next(c for c in COMMANDS if c.vi == "khaibao")
    start = next(c for c in COMMANDS if c.vi == "start")
    assert (checkin.shown_as("vi"), checkin.shown_as("en")) == ("khaibao", "checkin")
    assert start.shown_as("en") == "start"  # no English alias: the one name for all
