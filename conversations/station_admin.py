"""/tram for admins: browse and search the stations, and act on one: codes, groups, deactivation.

A flow, so the admin can type part of a name to search at any point; which station is open lives in
the flow's data on the server, never in a button, so a forged button cannot reach another record.
The flow's guard checks again before every answer that the caller is still an admin: a role revoked mid-flow
stops there.
"""
from __future__ import annotations

import math
from datetime import timedelta

from sqlmodel import col, func, select

from chat import parse
from chat.messages import Button, Reply
from chat.text import fold
from conversations.access import actor, require
from conversations.runtime import Context, Flow, Input, Next, Outcome, Retry, Stay, Step
from locales import t
from services.alerts import GROUP_LANGUAGE
from storage.audit import record
from storage.models import GroupBinding, Person, PersonStatus, StaffMember, Station
from storage.outbox import post
from storage.roles import ADMIN, STAFF
from storage.stations import bound_chats, code_key, find_stations, issue_bind_code, issue_staff_code

PAGE_SIZE = 10
CODE_TTL = timedelta(hours=24)
LIST, STATION, UNBIND, PHONE = "list", "station", "unbind", "phone"
QUERY_SHOWN = 50  # of a search quoted back: a pasted page must not make the answer too long to send


# --- helpers ----------------------------------------------------------------------------------------


def _here(ctx: Context) -> str | None:
    """The message a pressed button sits on, so browsing edits it instead of piling up new messages."""
    return ctx.incoming.message_id if ctx.incoming.button is not None else None


async def _listed(ctx: Context) -> list[Station]:
    """The stations matching the current search, or all of them (inactive ones too: they can be reactivated)."""
    query = ctx.data.get("query")
    if query:
        return await find_stations(ctx.session, query, limit=10_000, include_inactive=True)
    stations = (await ctx.session.exec(select(Station))).all()
    return sorted(stations, key=lambda s: (fold(s.name), s.code))


async def _station(ctx: Context) -> Station | None:
    station_id = ctx.data.get("station_id")
    return await ctx.session.get(Station, station_id) if station_id is not None else None


async def _interrupted(ctx: Context) -> Outcome | None:
    """None to go on; else why not: the admin writing in a group meanwhile."""
    if ctx.incoming.chat_type != "private":  # /tram is held in private: a group's chatter must not steer it
        return Stay([])
    return None


async def admins_only(ctx: Context) -> None:
    """The flow's guard: checked when it begins (the refusal recorded as "/tram") and before every answer."""
    await require(ctx, ADMIN, what="" if ctx.incoming.command else "tram")


async def _search(ctx: Context, text: str) -> Outcome:
    """Typed text at any step searches the stations by name, accents optional."""
    text = text.strip()
    if not fold(text):
        return Retry(ctx.t("tram.search_hint"))
    if not await find_stations(ctx.session, text, limit=1, include_inactive=True):
        return Retry(ctx.t("tram.no_match", query=text[:QUERY_SHOWN]))
    ctx.data.update(query=text, page=0, station_id=None)
    return Next(LIST)


async def start(ctx: Context) -> list[Reply] | None:
    args = ctx.incoming.command[1] if ctx.incoming.command else []
    query = " ".join(args).strip()
    ctx.data.update(page=0, query=None, station_id=None)
    if query:
        if not await find_stations(ctx.session, query, limit=1, include_inactive=True):
            ctx.data["notice"] = ctx.t("tram.no_match", query=query[:QUERY_SHOWN])
        else:
            ctx.data["query"] = query
    return None


# --- the list ---------------------------------------------------------------------------------------


async def ask_list(ctx: Context) -> list[Reply]:
    stations = await _listed(ctx)
    pages = max(1, math.ceil(len(stations) / PAGE_SIZE))
    page = min(max(int(ctx.data.get("page") or 0), 0), pages - 1)
    ctx.data["page"] = page
    shown = stations[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]
    rows = [[ctx.choice(LIST, str(s.id), ("⛔ " if not s.active else "") + s.label)] for s in shown]
    nav = []
    if page > 0:
        nav.append(ctx.choice(LIST, f"p{page - 1}", "◀"))
    if page < pages - 1:
        nav.append(ctx.choice(LIST, f"p{page + 1}", "▶"))
    if nav:
        rows.append(nav)
    if ctx.data.get("query"):
        rows.append([ctx.button(LIST, "all", "tram.all")])
        title = ctx.t("tram.list_found", query=ctx.data["query"][:QUERY_SHOWN], count=len(stations), page=page + 1,
                      pages=pages)
    else:
        title = ctx.t("tram.list", count=len(stations), page=page + 1, pages=pages)
    notice = ctx.data.pop("notice", None)
    text = "\n".join([*([notice] if notice else []), title, ctx.t("tram.list_hint")])
    return [Reply(text, rows, edit_id=_here(ctx))]


async def answer_list(ctx: Context, inp: Input) -> Outcome:
    if stop := await _interrupted(ctx):
        return stop
    if inp.choice is None:
        return await _search(ctx, inp.text or "")
    if inp.choice == "all":
        ctx.data.update(query=None, page=0)
        return Stay(await ask_list(ctx))
    if inp.choice.startswith("p") and parse.payload_number(inp.choice[1:]) is not None:
        ctx.data["page"] = parse.payload_number(inp.choice[1:])
        return Stay(await ask_list(ctx))
    station_id = parse.payload_number(inp.choice)
    station = await ctx.session.get(Station, station_id) if station_id is not None else None
    if station is None:
        return Retry(ctx.t("err.use_buttons"))
    ctx.data["station_id"] = station.id
    return Next(STATION)


# --- one station ------------------------------------------------------------------------------------


async def _counts(ctx: Context, station: Station) -> tuple[int, int]:
    """People under quarantine at the station, and its active staff."""
    people = select(func.count()).select_from(Person).where(Person.station_id == station.id,
                                                             Person.status == PersonStatus.ACTIVE)
    staff = select(func.count()).select_from(StaffMember).where(
        StaffMember.station_id == station.id, StaffMember.role == STAFF, col(StaffMember.active).is_(True))
    return (await ctx.session.exec(people)).one(), (await ctx.session.exec(staff)).one()


def _group_line(ctx: Context, binding: GroupBinding) -> str:
    bound = ctx.core.to_local(binding.bound_at).strftime("%H:%M %d/%m/%Y")
    return ctx.t("tram.group_line", channel=binding.channel, chat=binding.chat_id, at=bound)


async def station_page(ctx: Context, station: Station, notice: str | None = None) -> Reply:
    assert station.id is not None  # read from the database by _station
    people, staff = await _counts(ctx, station)
    groups = await bound_chats(ctx.session, station.id)
    lines = [*([notice, ""] if notice else []),
             ctx.t("tram.station", name=station.label, code=station.code),
             ctx.t("tram.active" if station.active else "tram.inactive"),
             ctx.t("tram.phone", phone=station.phone) if station.phone else ctx.t("tram.no_phone"),
             ctx.t("tram.people", count=people), ctx.t("tram.staff", count=staff),
             ctx.t("tram.groups", count=len(groups)), *[_group_line(ctx, g) for g in groups]]
    rows: list[list[Button]] = []
    if station.active:  # a code for a closed station would only invite work nobody will see
        rows += [[ctx.button(STATION, "bind", "tram.button.bind_code")],
                 [ctx.button(STATION, "staff", "tram.button.staff_code")]]
    rows.append([ctx.button(STATION, "phone", "tram.button.phone")])
    if groups:
        rows.append([ctx.button(STATION, "unbind", "tram.button.unbind")])
    rows.append([ctx.button(STATION, "off", "tram.button.deactivate") if station.active
                 else ctx.button(STATION, "on", "tram.button.activate")])
    rows.append([ctx.button(STATION, "back", "tram.button.back")])
    return Reply("\n".join(lines), rows, edit_id=_here(ctx))


async def ask_station(ctx: Context) -> list[Reply]:
    station = await _station(ctx)
    if station is None:  # deleted meanwhile: show the list rather than fail
        ctx.data["station_id"] = None
        return await ask_list(ctx)
    return [await station_page(ctx, station, ctx.data.pop("notice", None))]


async def answer_station(ctx: Context, inp: Input) -> Outcome:
    if stop := await _interrupted(ctx):
        return stop
    if inp.choice is None:
        return await _search(ctx, inp.text or "")
    station = await _station(ctx)
    if inp.choice == "back" or station is None:
        ctx.data["station_id"] = None
        return Next(LIST)
    action = STATION_ACTIONS.get(inp.choice)
    if action is None:
        return Retry(ctx.t("err.use_buttons"))
    return await action(ctx, station)


async def _issue_bind_code(ctx: Context, station: Station) -> Outcome:
    return await _issue_code(ctx, station, issue_bind_code, "binding.code", "tram.bind_code")


async def _issue_staff_code(ctx: Context, station: Station) -> Outcome:
    return await _issue_code(ctx, station, issue_staff_code, "staffcode.issue", "tram.staff_code")


async def _issue_code(ctx: Context, station: Station, issue, action: str, text_key: str) -> Outcome:
    if not station.active:
        return Retry(ctx.t("tram.inactive_no_codes"))
    code = await issue(ctx.session, station.code, ctx.core.utcnow(), CODE_TTL)
    expires = ctx.core.utcnow() + CODE_TTL
    record(ctx.session, actor(ctx), action, "station", station.id,
           after={"code": code_key(code), "expires_at": expires.isoformat()}, at=ctx.core.utcnow())  # as stored
    text = ctx.t(text_key, station=station.label, code=code, until=_until(ctx, expires))
    return Stay([Reply(text)])  # a new message: the admin forwards it to the station


def _until(ctx: Context, moment) -> str:
    return ctx.core.to_local(moment).strftime("%H:%M %d/%m/%Y")


async def _set_active(ctx: Context, station: Station, active: bool) -> Outcome:
    if station.active != active:
        record(ctx.session, actor(ctx), "station.activate" if active else "station.deactivate", "station",
               station.id, before={"active": station.active}, after={"active": active}, at=ctx.core.utcnow())
        station.active = active
        ctx.session.add(station)
    notice = ctx.t("tram.activated" if active else "tram.deactivated", station=station.label)
    return Stay([await station_page(ctx, station, notice)])


async def _deactivate(ctx: Context, station: Station) -> Outcome:
    return await _set_active(ctx, station, False)


async def _activate(ctx: Context, station: Station) -> Outcome:
    return await _set_active(ctx, station, True)


async def _choose_unbind(ctx: Context, station: Station) -> Outcome:
    assert station.id is not None  # read from the database by _station
    if not await bound_chats(ctx.session, station.id):
        return Retry(ctx.t("tram.no_groups"))
    return Next(UNBIND)


async def _choose_phone(ctx: Context, station: Station) -> Outcome:
    return Next(PHONE)


STATION_ACTIONS = {"bind": _issue_bind_code, "staff": _issue_staff_code, "off": _deactivate, "on": _activate,
                   "unbind": _choose_unbind, "phone": _choose_phone}


# --- the station's phone ----------------------------------------------------------------------------


async def ask_phone(ctx: Context) -> list[Reply]:
    station = await _station(ctx)
    return [Reply(ctx.t("tram.phone_ask", station=station.label if station else ""),
                  [[ctx.button(PHONE, "back", "tram.button.back")]])]


async def answer_phone(ctx: Context, inp: Input) -> Outcome:
    """The number people are told to call: typed here (a search does not make sense at this step)."""
    if stop := await _interrupted(ctx):
        return stop
    station = await _station(ctx)
    if inp.choice == "back" or station is None:
        return Next(STATION if station else LIST)
    if inp.choice is not None:
        return Retry(ctx.t("err.use_buttons"))
    phone = parse.station_phone(inp.text or "")
    if phone is None:
        return Retry(ctx.t("tram.phone_invalid"))
    record(ctx.session, actor(ctx), "station.phone", "station", station.id, before={"phone": station.phone},
           after={"phone": phone}, at=ctx.core.utcnow())
    station.phone = phone
    ctx.session.add(station)
    ctx.data["notice"] = ctx.t("tram.phone_set", station=station.label, phone=phone)
    return Next(STATION)


# --- unbinding a group ------------------------------------------------------------------------------


async def ask_unbind(ctx: Context) -> list[Reply]:
    station = await _station(ctx)
    groups = await bound_chats(ctx.session, station.id) if station and station.id is not None else []
    rows = [[ctx.choice(UNBIND, str(g.id), ctx.t("tram.group_button", channel=g.channel, chat=g.chat_id))]
            for g in groups]
    rows.append([ctx.button(UNBIND, "back", "tram.button.back")])
    return [Reply(ctx.t("tram.unbind_which", station=station.label if station else ""), rows,
                  edit_id=_here(ctx))]


async def answer_unbind(ctx: Context, inp: Input) -> Outcome:
    if stop := await _interrupted(ctx):
        return stop
    if inp.choice is None:
        return await _search(ctx, inp.text or "")
    station = await _station(ctx)
    if inp.choice == "back" or station is None:
        return Next(STATION if station else LIST)
    binding_id = parse.payload_number(inp.choice)
    binding = await ctx.session.get(GroupBinding, binding_id) if binding_id is not None else None
    if binding is None or binding.station_id != station.id:  # only this station's groups, whatever the payload
        return Retry(ctx.t("err.use_buttons"))
    await unbind(ctx, binding, station)
    ctx.data["notice"] = ctx.t("tram.unbound", channel=binding.channel, chat=binding.chat_id)
    return Next(STATION)


async def unbind(ctx: Context, binding: GroupBinding, station: Station) -> None:
    """Remove the binding, record it, and tell the group (through the outbox) that alerts stop coming."""
    record(ctx.session, actor(ctx), "binding.unbind", "binding", f"{binding.channel}:{binding.chat_id}",
           before={"station": station.code, "scope": binding.scope}, after=None, at=ctx.core.utcnow())
    notice = Reply(t(GROUP_LANGUAGE, "tram.unbound_group", station=station.label))
    post(ctx.session, binding.channel, binding.chat_id, notice, ctx.core.utcnow())
    await ctx.session.delete(binding)
    await ctx.session.flush()


FLOW = Flow(name="tram", first=LIST, start=start, guard=admins_only, steps={
    LIST: Step(ask_list, answer_list),
    STATION: Step(ask_station, answer_station),
    UNBIND: Step(ask_unbind, answer_unbind),
    PHONE: Step(ask_phone, answer_phone),
})
