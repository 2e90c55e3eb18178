"""Every command once: its names, who it is for, where it is accepted and shown. The router, the staff help
and the channels' command menus are all built from this table, so none of them can offer what another lacks.

Data only: the handlers a name leads to are wired in handlers/dispatch.py.
"""
from __future__ import annotations

from dataclasses import dataclass

from storage.roles import ADMIN, PROVINCE, STAFF

PRIVATE, GROUP = "private", "group"
EVERY_ROLE = (STAFF, PROVINCE, ADMIN)


@dataclass(frozen=True)
class Command:
    vi: str  # the name shown in Vietnamese, and the catalog key of its description: cmd.<vi>
    en: str | None = None  # the English name, shown in every other language's menu
    aliases: tuple[str, ...] = ()  # further names that lead to the same handler
    roles: tuple[str, ...] = ()  # the roles it is for, in help and menus; () for everyone
    where: tuple[str, ...] = (PRIVATE,)  # the chats that accept it
    menu: tuple[str, ...] = ()  # the chats whose command menu shows it (private: the role's menu if roles)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.vi, *((self.en,) if self.en else ()), *self.aliases)

    @property
    def key(self) -> str:
        return f"cmd.{self.vi}"

    def shown_as(self, lang: str) -> str:
        return self.vi if lang == "vi" or self.en is None else self.en


# In the order of the help and the menus: a role's work first, then what everyone has.
COMMANDS = (
    Command("danhsach", "list", roles=EVERY_ROLE, menu=(PRIVATE,)),
    Command("tra", "find", roles=EVERY_ROLE, menu=(PRIVATE,)),
    Command("canhbao", "alerts", roles=EVERY_ROLE, menu=(PRIVATE,)),
    Command("baocao", "report", roles=EVERY_ROLE, where=(PRIVATE, GROUP), menu=(PRIVATE, GROUP)),
    Command("phananhmo", "requests", roles=EVERY_ROLE, where=(PRIVATE, GROUP), menu=(PRIVATE, GROUP)),
    Command("thongke", "stats", roles=EVERY_ROLE, menu=(PRIVATE,)),
    Command("xuat", "export", roles=EVERY_ROLE, menu=(PRIVATE,)),
    Command("chuagui", "undelivered", roles=EVERY_ROLE, menu=(PRIVATE,)),
    Command("maunhap", "template", roles=(STAFF, ADMIN), menu=(PRIVATE,)),
    Command("tram", "stations", roles=(ADMIN,), menu=(PRIVATE,)),
    Command("capquyen", "grant", roles=(ADMIN,), menu=(PRIVATE,)),
    Command("thuhoi", "revoke", roles=(ADMIN,), menu=(PRIVATE,)),
    Command("lienket", "bind", where=(PRIVATE, GROUP), menu=(GROUP,)),
    Command("khaibao", "checkin", menu=(PRIVATE,)),
    Command("start", aliases=("dangky", "register"), where=(PRIVATE, GROUP), menu=(PRIVATE,)),
    Command("nguoithan", "household", menu=(PRIVATE,)),
    Command("nhacnho", "reminders", menu=(PRIVATE,)),
    Command("phananh", "request", menu=(PRIVATE,)),
    Command("ngonngu", "language", menu=(PRIVATE,)),
    Command("huy", "cancel", where=(PRIVATE, GROUP), menu=(PRIVATE,)),
    Command("trogiup", "help", where=(PRIVATE, GROUP), menu=(PRIVATE, GROUP)),
    Command("xoadulieu", "deletedata"),
    Command("nhanvien", "staff", where=(PRIVATE, GROUP)),
)


def menu(where: str, role: str | None = None) -> list[Command]:
    """A command menu: a group's; a private chat's for everyone; or a role's, its work before everyone's."""
    if where == GROUP:
        return [c for c in COMMANDS if GROUP in c.menu]
    everyone = [c for c in COMMANDS if PRIVATE in c.menu and not c.roles]
    return [c for c in COMMANDS if PRIVATE in c.menu and role in c.roles] + everyone


def for_role(role: str) -> list[Command]:
    """The commands of a role, as its help lists them."""
    return [c for c in COMMANDS if role in c.roles]
