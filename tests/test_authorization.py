"""The authorization matrix: every staff and admin command, sent in private by every role.

The commands come from handlers/dispatch.py at test time: whatever is not a citizen command is a
staff or admin command and must have its allowed roles in EXPECTED, or the matrix fails naming it.
Aliases share their handler, so one name per handler is sent and the others must not disagree.

Refused: the access.refused text and one access.refused audit event. Allowed: neither. Staff of
another station (B) may run station commands, but never see the station A person in any reply.
"""
from __future__ import annotations

import io
from collections.abc import Callable

import openpyxl
import pytest

from chat.messages import Reply
from handlers.dispatch import PRIVATE_COMMANDS
from services.env import Core
from storage.models import AuditEvent
from storage.roles import ADMIN, PROVINCE, STAFF
from tests.conftest import ChatDriver
from tests.factories import PLEIKU, QUY_NHON, add_staff
from tests.steps import declare, rows, vi

# Commands anyone may send. /lienket and /nhanvien are open too: without a code they only explain.
CITIZEN_COMMANDS = {"/start", "/dangky", "/khaibao", "/nguoithan", "/huy", "/ngonngu", "/trogiup", "/nhacnho",
                    "/phananh", "/xoadulieu", "/lienket", "/nhanvien"}

READ = frozenset({STAFF, PROVINCE, ADMIN})  # province viewers read everything
CHANGE = frozenset({STAFF, ADMIN})
ADMIN_ONLY = frozenset({ADMIN})
EXPECTED: dict[str, frozenset[str]] = {  # by the Vietnamese name; an alias follows its handler
    "/danhsach": READ, "/tra": READ, "/canhbao": READ, "/phananhmo": READ, "/baocao": READ,
    "/thongke": READ, "/xuat": READ, "/chuagui": READ,
    "/maunhap": CHANGE,  # the import template: importing changes records
    "/tram": ADMIN_ONLY, "/capquyen": ADMIN_ONLY, "/thuhoi": ADMIN_ONLY,
}
ARGS = {"/tra": "0987654321", "/find": "0987654321"}  # the station A person's phone

# actor -> (user id, role or None); the citizen "100" is registered at station A (Pleiku) with an alert.
ACTORS = {
    "none": ("200", None),
    "citizen": ("100", None),
    "staff_a": ("300", STAFF),
    "staff_b": ("301", STAFF),
    "province": ("302", PROVINCE),
    "admin": ("999", ADMIN),  # CACHLY_ADMIN_IDS
    "admin_granted": ("303", ADMIN),
}
# The station A person, with data no template or example holds; station B must never see it.
NAME, PHONE, ADDRESS = "Hà Thị Mười Bảy", "0987 654 321", "77 Đường Ma Trận, tổ 9"
PERSON_MARKS = (NAME, PHONE.replace(" ", ""), "Ma Trận")


def is_citizen(command: str) -> bool:
    handler = PRIVATE_COMMANDS[command]
    citizen_handlers = {PRIVATE_COMMANDS[c] for c in CITIZEN_COMMANDS if c in PRIVATE_COMMANDS}
    return command in CITIZEN_COMMANDS or handler in citizen_handlers or handler.__module__ == "handlers.citizen"


def by_handler() -> list[list[str]]:
    """The staff and admin commands, aliases together, in the order dispatch lists them."""
    groups: dict[Callable, list[str]] = {}
    for command, handler in PRIVATE_COMMANDS.items():
        if not is_citizen(command):
            groups.setdefault(handler, []).append(command)
    return list(groups.values())


STAFF_COMMANDS = by_handler()


def expected_for(names: list[str]) -> frozenset[str]:
    found = {EXPECTED[name] for name in names if name in EXPECTED}
    if not found:
        pytest.fail(f"{' / '.join(names)} is a staff or admin command without an entry in EXPECTED "
                    "(tests/test_authorization.py): say which roles may use it")
    assert len(found) == 1, f"aliases {names} disagree in EXPECTED"
    return found.pop()


def test_every_staff_and_admin_command_is_in_the_matrix() -> None:
    missing = [" / ".join(names) for names in STAFF_COMMANDS if not any(n in EXPECTED for n in names)]
    assert not missing, f"add these to EXPECTED in tests/test_authorization.py: {missing}"
    assert any("/tram" in names for names in STAFF_COMMANDS)  # the matrix is not empty by mistake


async def register_at_station_a(chat: ChatDriver) -> None:
    await chat.say("/start")
    await chat.press("Đồng ý")
    for answer in (NAME, "1960"):
        await chat.say(answer)
    await chat.press("Nữ")
    await chat.say(PHONE)
    await chat.press("Bỏ qua")
    await chat.say("pleiku")
    await chat.press("Phường Pleiku")
    await chat.say(ADDRESS)
    await chat.press("F1")
    await chat.press("Hôm nay")
    await chat.press("Xác nhận")
    assert "Đăng ký xong" in chat.text(), chat.text()


async def setup_actors(core: Core) -> dict[str, ChatDriver]:
    chats = {name: ChatDriver(core, user_id, name=name) for name, (user_id, _) in ACTORS.items()}
    await register_at_station_a(chats["citizen"])
    await chats["citizen"].say("/khaibao")
    await declare(chats["citizen"], "37,8")  # an open alert at station A
    for user_id, role, station in (("300", STAFF, PLEIKU), ("301", STAFF, QUY_NHON), ("302", PROVINCE, None),
                                   ("303", ADMIN, None)):
        await add_staff(core, user_id, role, station, name="")
    return chats


async def refusals(core: Core, user_id: str) -> int:
    events = await rows(core, AuditEvent, AuditEvent.action == "access.refused")
    return sum(1 for e in events if e.actor.startswith(f"telegram:{user_id} ") or e.actor == f"telegram:{user_id}")


def shown(replies: list[Reply]) -> str:
    """Everything a reply shows: texts, button labels, and the cells or lines of a file."""
    parts = []
    for reply in replies:
        parts.append(reply.text)
        parts += [b.label for row in reply.buttons for b in row]
        if reply.document is not None:
            parts.append(document_text(reply.document.file_name, reply.document.content))
    return "\n".join(parts)


def document_text(name: str, content: bytes) -> str:
    if name.endswith(".xlsx"):
        book = openpyxl.load_workbook(io.BytesIO(content), read_only=True)
        return "\n".join(str(cell) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)
                         for cell in row if cell is not None)
    return content.decode("utf-8", errors="replace")


@pytest.mark.parametrize("names", STAFF_COMMANDS, ids=[" ".join(n) for n in STAFF_COMMANDS])
async def test_matrix(core: Core, names: list[str]) -> None:
    allowed_roles = expected_for(names)
    command = names[0]
    chats = await setup_actors(core)
    for actor, (user_id, role) in ACTORS.items():
        chat = chats[actor]
        before = await refusals(core, user_id)
        replies = await chat.say(f"{command} {ARGS.get(command, '')}".strip())
        refused = vi("access.refused") in [r.text for r in replies]
        recorded = await refusals(core, user_id) - before
        if role in allowed_roles:
            assert not refused and recorded == 0, (actor, command, shown(replies))
        else:
            assert refused and recorded == 1, (actor, command, shown(replies), recorded)
        if actor == "staff_b":
            await assert_station_a_unseen(chat, ARGS.get(command, ""), replies)
        await chat.say("/huy")  # leave any conversation the command opened


async def assert_station_a_unseen(chat: ChatDriver, typed: str, replies: list[Reply]) -> None:
    """Station B staff see nothing of station A's person: in the answer, nor one button further.

    What they typed themselves (a phone to find) may be echoed back; the rest of the record may not.
    """
    marks = [mark for mark in PERSON_MARKS if mark not in typed]
    assert not [mark for mark in marks if mark in shown(replies)], shown(replies)
    for payload in [b.payload for r in replies for row in r.buttons for b in row]:
        after = await chat.send(button=payload, message_id="1")
        assert not [mark for mark in marks if mark in shown(after)], (payload, shown(after))


async def test_citizen_commands_are_never_refused(core: Core) -> None:
    """The other side of the matrix: no role is needed for a citizen command, and none is recorded."""
    chats = await setup_actors(core)
    citizen_commands = [c for c in PRIVATE_COMMANDS if is_citizen(c)]
    assert {"/khaibao", "/phananh", "/nhanvien"} <= set(citizen_commands)
    for actor in ("none", "citizen", "staff_b"):
        for command in citizen_commands:
            replies = await chats[actor].say(command)
            assert vi("access.refused") not in [r.text for r in replies], (actor, command)
            await chats[actor].say("/huy")
    assert await rows(core, AuditEvent, AuditEvent.action == "access.refused") == []


async def test_the_marks_are_there_for_station_a_to_see(core: Core) -> None:
    """A control for the station B check: the same search by station A staff does show the person."""
    if "/tra" not in PRIVATE_COMMANDS:
        pytest.skip("/tra is not built yet")
    chats = await setup_actors(core)
    for actor in ("staff_a", "province", "admin"):
        replies = await chats[actor].say(f"/tra {ARGS['/tra']}")
        assert NAME in shown(replies), (actor, shown(replies))
