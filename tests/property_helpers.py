"""Machinery for the property tests: a small world, every step of every flow reached through the real core,
hostile inputs as hypothesis strategies, and the checks every answer must pass.

A flow's steps are found by exploring from the command that begins it (its buttons first, then a few
plausible answers), so a step added to a flow is covered without changing this file; a flow added to
dispatch.FLOWS without an entry below is begun through the runtime for whichever actor it accepts.
"""
from __future__ import annotations

import copy
import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from hypothesis import strategies as st
from sqlmodel import select

from chat.messages import Attachment, Incoming, Reply
from chat.payloads import StepAnswer
from conversations.runtime import Context, Flow, Retry, Step, begin, load_state
from handlers import dispatch
from locales import LANGUAGES, t
from services.env import Core
from storage.models import Account, ConversationState, HelpMessage, HelpRequest, Outbox, Person
from tests.conftest import ChatDriver
from tests.factories import GROUP, PLEIKU, QUY_NHON, add_alert, add_person, add_staff, bind_group, get

TEXT_MAX, CALLBACK_MAX = 4096, 64  # Telegram's limits: a message's text, a button's callback data (bytes)
RAW_KEY = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")
PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")
LEAKS = ("Traceback", "Error:")

STEP_BUTTON = StepAnswer.prefix  # a button answering a step: s:<step>:<value>


# --- the world -------------------------------------------------------------------------------------------


@dataclass
class World:
    """Who is there: a person reporting for a household, a newcomer, staff, an admin, a station group."""

    core: Core
    person: ChatDriver  # "100": registered with a dependent at Pleiku
    newcomer: ChatDriver  # "101": never registered
    staff: ChatDriver  # "500": staff of Pleiku, in private
    admin: ChatDriver  # "999": admin from the settings
    group: ChatDriver  # "300" in the group bound to Pleiku
    person_id: int = 0
    dependent_id: int = 0
    stranger_id: int = 0  # a person at another station
    request_id: int = 0
    alert_id: int = 0

    def actors(self) -> list[ChatDriver]:
        return [self.person, self.staff, self.admin, self.newcomer, self.group]


async def build_world(core: Core) -> World:
    """The background written straight to the database; what a test exercises goes through the core."""
    world = World(core, person=ChatDriver(core, "100"), newcomer=ChatDriver(core, "101"),
                  staff=ChatDriver(core, "500", name="Lan"), admin=ChatDriver(core, "999", name="Admin"),
                  group=ChatDriver(core, "300", chat_id=GROUP, chat_type="group", name="Chị Hoa"))
    world.person_id = (await add_person(core, "Nguyễn Văn An", chat_id="100", phone="0912345678")).id
    account_id = (await get(core, Person, world.person_id)).account_id
    world.dependent_id = (await add_person(core, "Trần Thị Bình", account_id=account_id, is_self=False,
                                          birth_year=1950, gender="female")).id
    world.stranger_id = (await add_person(core, "Lê Văn Cường", station=QUY_NHON, chat_id="102")).id
    await add_staff(core, "500", name="Lan")
    await bind_group(core, PLEIKU, GROUP)
    world.alert_id = await add_alert(core, world.person_id)
    world.request_id = await _help_request(core, world.person_id)
    return world


async def _help_request(core: Core, person_id: int) -> int:
    async with core.db.session() as session:
        person = await session.get(Person, person_id)
        request = HelpRequest(person_id=person.id, station_id=person.station_id, account_id=person.account_id,
                              created_at=core.utcnow(), updated_at=core.utcnow())
        session.add(request)
        await session.flush()
        session.add(HelpMessage(request_id=request.id, sender="person", text="Nhà tôi hết thuốc", at=core.utcnow()))
        return request.id


async def account_id_of(core: Core, driver: ChatDriver) -> int:
    async with core.db.session() as session:
        query = select(Account.id).where(Account.channel == "telegram", Account.external_id == driver.user_id)
        return (await session.exec(query)).one()


# How each flow is begun, as its users begin it; the returned driver is then in the flow.
Entry = Callable[[World], Awaitable[ChatDriver]]


async def _said(driver: ChatDriver, text: str) -> ChatDriver:
    await driver.say(text)
    return driver


async def _pressed(driver: ChatDriver, payload: str) -> ChatDriver:
    await driver.send(button=payload, message_id="1")
    return driver


ENTRIES: dict[str, Entry] = {
    "registration": lambda w: _said(w.newcomer, "/start"),
    "household": lambda w: _said(w.person, "/nguoithan"),
    "checkin": lambda w: _said(w.person, "/khaibao"),
    "reminders": lambda w: _said(w.person, "/nhacnho"),
    "help_request": lambda w: _said(w.person, "/phananh"),
    "help_answer": lambda w: _pressed(w.group, f"req:answer:{w.request_id}"),
    "tram": lambda w: _said(w.admin, "/tram pleiku"),
    "staff_extend": lambda w: _pressed(w.staff, f"pa:ext:{w.person_id}"),
    "staff_transfer": lambda w: _pressed(w.staff, f"pa:xfer:{w.person_id}"),
    "staff_note": lambda w: _pressed(w.staff, f"pa:note:{w.person_id}"),
    "staff_find": lambda w: _said(w.staff, "/tra"),
    "staff_scope": lambda w: _said(w.admin, "/danhsach"),
}


async def begin_directly(world: World, flow: Flow) -> ChatDriver | None:
    """A flow without a known entry: begun through the runtime for the first actor it does not refuse."""
    core = world.core
    for driver in world.actors():
        await driver.say("/huy")  # creates the account and leaves any flow
        inc = Incoming(channel="telegram", user_id=driver.user_id, chat_id=driver.chat_id,
                       chat_type=driver.chat_type, user_name=driver.name)
        async with core.db.session() as session:
            account = await session.get(Account, await account_id_of(core, driver))
            ctx = Context(session=session, account=account, core=core, incoming=inc)
            driver.last = await begin(ctx, flow, {"person_id": world.person_id, "request_id": world.request_id})
        state = await read_state(core, await account_id_of(core, driver))
        if state is not None and state.flow == flow.name:
            return driver
    return None


# --- conversation state: read, snapshot, restore -------------------------------------------------------


@dataclass
class Snapshot:
    flow: str
    step: str
    data: dict
    replies: list[Reply] = field(default_factory=list)  # what the step showed (its buttons)


async def read_state(core: Core, account_id: int) -> Snapshot | None:
    async with core.db.session() as session:
        state = await load_state(session, account_id)
        return Snapshot(state.flow, state.step, copy.deepcopy(state.data)) if state else None


async def restore(core: Core, account_id: int, snap: Snapshot) -> None:
    """Put the account back on the step with the answers it had: the next input starts from there."""
    async with core.db.session() as session:
        state = await load_state(session, account_id) or ConversationState(account_id=account_id, flow=snap.flow,
                                                                            step=snap.step)
        state.flow, state.step, state.data = snap.flow, snap.step, copy.deepcopy(snap.data)
        session.add(state)


# --- exploring a flow's steps --------------------------------------------------------------------------

TODAY = "29/11/2026"  # the clock fixture's day
HINTS = {  # a plausible answer per step name, tried before the others
    "name": "Nguyễn Văn An", "birth_year": "1980", "phone": "0912 345 678", "station": "pleiku",
    "address": "12 Lê Lợi, tổ 3", "start_date": TODAY, "temperature": "36,8", "spo2": "97", "breathing": "18",
    "note": "Không có gì", "time": "08:30", "days": "3", "query": "An", "scope": "pleiku",
    "content": "Nhà tôi cần thuốc", "answer": "Trạm sẽ gọi lại", "list": "pleiku",
    "spo2_again": "92",  # typed at "spo2" too: a low reading alone is measured again
}
FIRST_VALUES = ("yes", "none", "done", "skip", "0")  # buttons that usually move a flow on
LAST_VALUES = ("ok", "no", "off", "cancel", "back", "default", "all")  # ends, undoes or goes back: tried last


def step_buttons(replies: list[Reply], step: str) -> list[str]:
    prefix = f"{STEP_BUTTON}:{step}:"
    return [b.payload for r in replies for row in r.buttons for b in row if b.payload.startswith(prefix)]


def candidates(step: str, replies: list[Reply]) -> list[dict]:
    def rank(payload: str) -> int:
        value = payload.split(":", 2)[2]
        return 0 if value in FIRST_VALUES else 2 if value in LAST_VALUES else 1
    buttons = sorted(step_buttons(replies, step), key=rank)
    texts = [HINTS[step]] if step in HINTS else []
    texts += [v for v in HINTS.values() if v not in texts]
    return [{"button": b, "message_id": "1"} for b in buttons] + [{"text": v} for v in texts]


async def explore(core: Core, driver: ChatDriver, account_id: int, flow: Flow) -> dict[str, Snapshot]:
    """Every step of the flow reachable from where the driver is, with the state and question of each."""
    first = await read_state(core, account_id)
    assert first is not None and first.flow == flow.name, f"{flow.name}: not begun ({driver.text()[:200]})"
    first.replies = driver.last
    reached = {first.step: first}

    async def visit(snap: Snapshot) -> None:
        queue, tried, current = deque(candidates(snap.step, snap.replies)), set(), snap
        while queue and len(reached) < len(flow.steps):
            action = queue.popleft()
            if repr(action) in tried:
                continue
            tried.add(repr(action))
            await restore(core, account_id, current)
            replies = await driver.send(**action)
            state = await read_state(core, account_id)
            if state is None or state.flow != flow.name:
                continue
            state.replies = replies
            if state.step == current.step:  # e.g. a search that showed choices: go on from there
                state.replies = [*current.replies, *replies]
                current = state
                queue.extend(candidates(state.step, replies))
            elif state.step not in reached:
                reached[state.step] = state
                await visit(state)

    await visit(first)
    return reached


# --- hostile inputs ------------------------------------------------------------------------------------

EXOTIC = ["😷🤒🏥", "👨‍👩‍👧‍👦", "🏳️‍🌈", "مرحبا بالعالم", "שלום", "\u202eRTL override", "a\u0301\u0302\u0303" * 20,
          "\x00", "\x00\x01\x02\x1b[31m", "\r\n", "\u2028\u2029", "\ufeff", "\u200b\u200c\u200d", "{user_typed}", "{0}",
          "%s %d", "{}", "<b>đậm</b>", "' OR 1=1 --", "NGUYỄN VĂN AN", "nguyễn văn an", "Ｎｇｕｙễｎ", "𝓐𝓷",
          "ⅫⅣ", "ﷺ", "\t\t", "Không", "không có", "xong", "pleiku", "Khó thở", "\\", "%", "../../etc/passwd"]
ODD_NUMBERS = ["37,5", "37.5", "37.5.5", "37,,5", "٣٧٫٥", "٣٧", "３７", "𝟑𝟕", "²", "12²", "½", "Ⅻ", "1e3", "1E400",
               "-0", "-1", "+37", "0", "00000", "NaN", "nan", "inf", "-inf", "0x25", "1_000", "99999999999999999999999",
               "9" * 400, "37°C", "37 độ 5", "37 do 5", "36,8 độ", "95%", "%95", "1/1/1", "31/02/2026", "29/11/2026",
               "32/13/2026", "00/00/0000", "29/11", "25/11/202", "24:00", "23:60", "8h", "08:30", "8 giờ 30",
               "+84 912 345 678", "84912345678", "0912 345 678", "091234567890123", "001234567890", "0"]
BLANK_CHARS = " \t\n\r\u00a0\u2000\u2003\u200b\u3000\ufeff"
COMMANDS_OUT_OF_PLACE = ["/lienket", "/lienket ABC123", "/bind xyz", "/khaibao", "/checkin", "/", "/@", "/@cachly_bot",
                         "/start extra args", "/start 🎉", "/START", "/khaibao@cachly_bot", "/khaibao@otherbot",
                         "/khongcolenhnay", "/x", "//", "/ /", "/nhanvien 000000", "/nhanvien", "/capquyen 1 admin",
                         "/capquyen", "/thuhoi 1", "/tram 🙂", "/danhsach x", "/tra ab", "/tra 0912", "/canhbao",
                         "/phananh", "/phananh 🙂", "/phananhmo", "/huy", "/ngonngu", "/trogiup", "/baocao", "/maunhap",
                         "/nguoithan", "/nhacnho", "/dangky", "/register extra", "/tram", "/start " + "x" * 300]
FORGED = ["alert:ack:-1", "alert:ack:999999", "alert:ack:²", "alert:ack:99999999999999999999", "alert:", "alert",
          "go:checkin:abc", "go:checkin:²", "go:checkin:99999999999999999999", "go:", "go:nowhere", "lang:", "lang:xx",
          "lang:en", "lang:vi", "go:household", "go:register",
          "lang", "card:0", "card:", "card:-1", "card:²", "card:99999999999999999999", "req:answer:abc",
          "req:answer:²", "req:done:0", "req:", "pa:ext:²", "pa:ext:", "pa::", "pa:cat:1:", "list:", "list:abn:²:p",
          "list:all:0:99999999999999999999", "alerts:::", "alerts:p:²", "alerts:²:0", "s:", "s::", "s:x", ":", "",
          ":::", "s:s:s:s", "🙂", "x" * 64]


def stepped(step: str, steps: list[str]) -> st.SearchStrategy[str]:
    """Payloads shaped like step buttons: another step's, or this step's with a value it never offered."""
    values = st.one_of(st.text(max_size=40), st.sampled_from(["x", "", "-1", "²", "9" * 30, "0", "p9", "p-1"]))
    others = st.sampled_from(steps or [step]).map(lambda other: f"{STEP_BUTTON}:{other}:x")
    return st.one_of(others, values.map(lambda v: f"{STEP_BUTTON}:{step}:{v}"))


def text_inputs() -> st.SearchStrategy[str]:
    long = st.builds(lambda unit, n: (unit * n)[:n], st.text(min_size=1, max_size=8), st.integers(5000, 20000))
    mixed = st.lists(st.one_of(st.sampled_from(EXOTIC), st.sampled_from(ODD_NUMBERS), st.text(max_size=20)),
                     min_size=1, max_size=6).map("".join)
    numbers = st.one_of(st.sampled_from(ODD_NUMBERS), st.integers().map(str),
                        st.floats(allow_nan=True, allow_infinity=True).map(str),
                        st.floats(-1e6, 1e6).map(lambda f: f"{f:.2f}".replace(".", ",")))
    return st.one_of(st.text(max_size=300), st.just(""), st.text(BLANK_CHARS, min_size=1, max_size=30), long,
                     numbers, mixed, st.sampled_from(EXOTIC))


def command_inputs() -> st.SearchStrategy[str]:
    known = sorted(set(dispatch.PRIVATE_COMMANDS) | set(dispatch.GROUP_COMMANDS))
    args = st.one_of(st.just(""), st.text(max_size=30).map(lambda a: " " + a))
    made = st.builds(lambda c, a: c + a, st.sampled_from(known), args)
    unknown = st.text("abcdefghijklmnopqrstuvwxyz@_0123456789đ", max_size=20).map(lambda c: "/" + c)
    return st.one_of(st.sampled_from(COMMANDS_OUT_OF_PLACE), made, unknown)


def button_inputs(step: str, steps: list[str]) -> st.SearchStrategy[str]:
    prefixes = sorted(dispatch.BUTTONS)
    random = st.text(max_size=30)
    prefixed = st.one_of(st.builds(lambda p, v: f"{p}:{v}", st.sampled_from(prefixes), random),
                         st.builds(lambda p, a, b: f"{p}:{a}:{b}", st.sampled_from(prefixes), random, random))
    return st.one_of(st.text(max_size=80), st.sampled_from(FORGED), stepped(step, steps), prefixed)


def document_inputs() -> st.SearchStrategy[dict]:
    names = st.one_of(st.sampled_from(["danh-sach.xlsx", "danh-sach.csv", "a.xls", "x.exe", "", "file", ".csv",
                                       "😷.xlsx", "a" * 300 + ".csv"]), st.text(max_size=40))
    mimes = st.sampled_from(["application/octet-stream", "text/csv", "application/pdf", "",
                             "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"])
    contents = st.one_of(st.binary(max_size=3000), st.sampled_from([b"", b"PK\x03\x04junk", b"\xff\xfe\x00",
                                                                  "Họ tên,Điện thoại\nAn,0912\n".encode()]))
    document = st.builds(Attachment, names, contents, mimes)
    return st.one_of(st.fixed_dictionaries({"document": document}, optional={"text": text_inputs()}),
                     st.just({"document_too_large": True}))


def any_input(step: str, steps: list[str]) -> st.SearchStrategy[dict]:
    """One thing a person might send while the flow is on `step`: anything at all."""
    phones = st.one_of(st.text(max_size=40), st.sampled_from(ODD_NUMBERS),
                       st.from_regex(r"\+?[0-9 ]{0,25}", fullmatch=True))
    photo_ids = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=120)
    return st.one_of(
        text_inputs().map(lambda text: {"text": text}),
        command_inputs().map(lambda text: {"text": text}),
        st.builds(lambda b, m: {"button": b, "message_id": m}, button_inputs(step, steps),
                  st.sampled_from(["1", None])),
        st.builds(lambda p, own: {"contact_phone": p, "contact_is_own": own}, phones, st.booleans()),
        document_inputs(),
        st.builds(lambda p, c: {"photo_id": p, "text": c}, photo_ids, st.one_of(st.just(""), text_inputs())),
    )


# Answered by their handlers whatever the step: each is sent on one step of the flow, in turn.
ANY_STEP = [{"button": "alert:ack:-1"}, {"button": "alert:ack:999999"}, {"button": "go:checkin:abc"},
            {"button": "lang:"}, {"button": "card:0"}, {"text": "/lienket"}, {"text": "/@"},
            {"text": "/start extra args"}]


def battery(step: str, steps: list[str]) -> list[dict]:
    """Inputs every step gets at least once, whatever hypothesis draws."""
    other = next((s for s in steps if s != step), step)
    turn = [fields for i, fields in enumerate(ANY_STEP) if i % len(steps) == steps.index(step) % len(ANY_STEP)]
    return [{"text": ""}, {"text": " \n\t\u200b"}, {"text": "Á😷" * 10_000}, {"text": "²"}, {"text": "{user_typed}"},
            {"button": f"s:{other}:x", "message_id": "1"}, {"button": f"s:{step}:²", "message_id": "1"},
            {"text": "/khaibao"}, {"text": "/"}, {"contact_phone": "12", "contact_is_own": True},
            {"document": Attachment("danh-sach.xlsx", b"PK\x03\x04junk")}, {"photo_id": "AgACAgUAAx", "text": ""},
            *turn]


def group_battery(step: str, replies: list[Reply]) -> list[dict]:
    """What the user may write meanwhile in another group: the step's very answer too."""
    inputs = [{"text": HINTS.get(step, "Chào mọi người")}, {"text": "Chào mọi người"}, {"contact_phone": "0912345678"}]
    return inputs + [{"button": payload, "message_id": "1"} for payload in step_buttons(replies, step)[:1]]


# --- what every answer must be -------------------------------------------------------------------------


def error_texts() -> set[str]:
    return {t(lang, "common.error") for lang in LANGUAGES}


def given_strings(fields: dict) -> list[str]:
    """What the person sent, which an answer may quote back ("no station matches '{x}'")."""
    document = fields.get("document")
    values = [fields.get("text"), fields.get("button"), fields.get("contact_phone"), fields.get("photo_id"),
              document.file_name if document is not None else None]
    return [v for v in values if v]


def quoted(fragment: str, given: list[str]) -> bool:
    return any(fragment in value for value in given)


def reply_problems(reply: Reply, given: list[str], where: str) -> list[str]:
    problems = []
    text = reply.text or ""
    media = reply.photo is not None or reply.photo_id is not None or reply.document is not None
    if text in error_texts():
        problems.append(f"{where}: the error message (an exception was caught)")
    if not media and not text.strip():
        problems.append(f"{where}: an empty text")
    if not media and len(text) > TEXT_MAX:
        problems.append(f"{where}: text of {len(text)} characters")
    problems += [f"{where}: {leak!r} in the text" for leak in LEAKS if leak in text and not quoted(leak, given)]
    problems += [f"{where}: unformatted {p}" for p in PLACEHOLDER.findall(text) if not quoted(p, given)]
    problems += [f"{where}: a raw message key {line!r}" for line in text.splitlines()
                 if RAW_KEY.fullmatch(line.strip()) and not quoted(line.strip(), given)]
    for row in reply.buttons:
        for button in row:
            if len(button.payload.encode()) > CALLBACK_MAX:
                problems.append(f"{where}: a button payload of {len(button.payload.encode())} bytes")
            if not button.label.strip():
                problems.append(f"{where}: a button without a label")
    return problems


def answer_problems(replies: list[Reply], given: list[str], group: bool) -> list[str]:
    """`given`: whatever was sent so far, which lists and threads may show again."""
    problems = [p for i, r in enumerate(replies) for p in reply_problems(r, given, f"reply {i}")]
    if not group and not any((r.text or "").strip() for r in replies):
        problems.append("no reply with a text")
    return problems


async def outbox_problems(core: Core, after_id: int, given: list[str]) -> tuple[list[str], int]:
    """The messages queued for other chats by this input pass the same checks."""
    async with core.db.session() as session:
        rows = (await session.exec(select(Outbox).where(Outbox.id > after_id).order_by(Outbox.id))).all()
    problems = [p for row in rows for p in reply_problems(Reply.from_payload(row.payload), given, f"outbox {row.id}")]
    return problems, max([after_id, *[row.id for row in rows]])


# --- watching the steps' answers -----------------------------------------------------------------------


@dataclass
class Outcomes:
    """Which step answers ran during one input, and whether each rejected it (Retry)."""

    seen: list[tuple[str, str, bool]] = field(default_factory=list)  # (flow, step, rejected)

    def recording(self, flow: str, name: str, step: Step) -> Step:
        async def answer(ctx, inp):
            outcome = await step.answer(ctx, inp)
            self.seen.append((flow, name, isinstance(outcome, Retry)))
            return outcome
        return Step(step.ask, answer)


def watch_answers(monkeypatch) -> Outcomes:
    outcomes = Outcomes()
    for flow in dispatch.FLOWS.values():
        for name, step in list(flow.steps.items()):
            monkeypatch.setitem(flow.steps, name, outcomes.recording(flow.name, name, step))
    return outcomes


def stray(fields: dict, step: str) -> bool:
    """A button neither a handler nor the current step owns (an old or forged one): it must change nothing."""
    button = fields.get("button")
    return (button is not None and button.split(":", 1)[0] not in dispatch.BUTTONS
            and not button.startswith(f"{STEP_BUTTON}:{step}:"))


def answers(data: dict) -> dict:
    """The answers kept in a flow's data: internal markers ("_editing") and empty values aside."""
    return {k: v for k, v in data.items() if not k.startswith("_") and v not in (None, "", [], {})}


def handled(fields: dict) -> bool:
    """A command or a button of a handler: it may begin or end a conversation wherever it is sent."""
    button = fields.get("button")
    if button is not None:
        return button.split(":", 1)[0] in dispatch.BUTTONS
    return (fields.get("text") or "").startswith("/")


def state_problems(before: Snapshot, after: Snapshot | None, fields: dict, rejected: bool,
                   elsewhere: bool = False) -> list[str]:
    """`elsewhere`: the input came from a group other than the chat the conversation was begun in."""
    problems = []
    if after is not None:
        flow = dispatch.FLOWS.get(after.flow)
        if flow is None or after.step not in flow.steps:
            problems.append(f"state {after.flow}/{after.step} is no step of a flow")
    same_step = after is not None and (after.flow, after.step) == (before.flow, before.step)
    if rejected:
        if not same_step:
            problems.append(f"rejected, yet the state moved to {after and (after.flow, after.step)}")
        else:
            kept = answers(after.data)
            changed = sorted(k for k, v in answers(before.data).items() if kept.get(k) != v)
            if changed:
                problems.append(f"rejected, yet the answers {changed} changed")
    if stray(fields, before.step) and not (same_step and after.data == before.data):
        problems.append("a stray button changed the conversation")
    if elsewhere and not handled(fields) and not (same_step and after.data == before.data):
        problems.append("a message in another group changed the conversation")
    return problems


class ErrorLog(logging.Handler):
    """The core's log line for a caught exception says where it happened: shown when a check fails."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def shown(fields: dict) -> str:
    return repr({k: (v[:80] + f"…({len(v)})" if isinstance(v, str) and len(v) > 80 else v)
                 for k, v in fields.items()})[:600]

