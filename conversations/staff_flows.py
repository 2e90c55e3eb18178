"""The flows of station staff, for what they type: picking a station (admins and province viewers), a search,
the days of an extension, the station of a transfer, the text of a note. The changes themselves are in
conversations/person_changes.py."""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from chat import parse
from chat.messages import Button, Reply, one_per_row
from chat.text import fold
from conversations.access import access, refuse, require
from conversations.person_changes import (
    add_note,
    changeable,
    extend,
    short_day,
    transfer,
)
from conversations.runtime import Context, Done, Flow, Input, Outcome, Retry, Stay, Step, clear_state, load_state
from conversations.station_views import after_scope, own_scope, results_replies
from storage.models import Person, PersonStatus, Station
from storage.people import find_people
from storage.roles import ADMIN, PROVINCE, STAFF
from storage.stations import find_stations, get_station

EXTEND_MIN, EXTEND_MAX = 1, 30
NOTE_MAX = 500
QUERY_MIN = 2
PROVINCE_CHOICE = "p"
CANCEL = "cancel"



# --- flows: typed input for the card's actions ---------------------------------------------------------


def _cancel_row(ctx: Context, step: str) -> list[Button]:
    return [ctx.button(step, CANCEL, "card.cancel")]


async def _person_in_flow(ctx: Context, what: str) -> Person | list[Reply]:
    person = await _asked_about(ctx)  # the flow's guard has just checked the caller may change their record
    if person is None:
        return [Reply(ctx.t("card.not_found"))]
    if person.status != PersonStatus.ACTIVE and what != "pa:note":
        return [Reply(ctx.t("card.completed", name=person.full_name))]
    return person


async def _asked_about(ctx: Context) -> Person | None:
    person_id = ctx.data.get("person_id")
    return await ctx.session.get(Person, person_id) if isinstance(person_id, int) else None


async def ask_days(ctx: Context) -> list[Reply]:
    person = await _asked_about(ctx)
    if person is None:
        return [Reply(ctx.t("card.not_found"))]
    text = ctx.t("card.ask_extend", name=person.full_name, end=short_day(person.end_date), low=EXTEND_MIN,
                 high=EXTEND_MAX)
    return [Reply(text, [_cancel_row(ctx, "days")])]


async def answer_days(ctx: Context, inp: Input) -> Outcome:
    if inp.choice == CANCEL:
        return Done([Reply(ctx.t("card.nothing_changed"))])
    days = parse.whole_number(inp.text or "")
    if days is None or not EXTEND_MIN <= days <= EXTEND_MAX:
        return Retry(ctx.t("card.err_days", low=EXTEND_MIN, high=EXTEND_MAX))
    person = await _person_in_flow(ctx, "pa:ext")
    return Done(person if isinstance(person, list) else await extend(ctx, person, days))


async def ask_station(ctx: Context) -> list[Reply]:
    person = await _asked_about(ctx)
    if person is None:
        return [Reply(ctx.t("card.not_found"))]
    station = await ctx.session.get(Station, person.station_id)
    assert station is not None  # a foreign key, and stations are never deleted
    return [Reply(ctx.t("card.ask_transfer", name=person.full_name, station=station.label),
                  [_cancel_row(ctx, "station")])]


async def answer_station(ctx: Context, inp: Input) -> Outcome:
    if inp.choice == CANCEL:
        return Done([Reply(ctx.t("card.nothing_changed"))])
    if inp.choice:
        return await _transfer_to(ctx, inp.choice)
    query = (inp.text or "").strip()
    if len(fold(query)) < QUERY_MIN:
        return Retry(ctx.t("card.err_station_query"))
    person = await _asked_about(ctx)
    current = person.station_id if person is not None else None
    found = [s for s in await find_stations(ctx.session, query) if s.id != current]
    if not found:
        return Retry(ctx.t("card.err_station_none", query=query[:50]))
    buttons = [ctx.choice("station", s.code, s.label) for s in found]
    return Stay([Reply(ctx.t("card.pick_station"), [*one_per_row(buttons), _cancel_row(ctx, "station")])])


async def _transfer_to(ctx: Context, code: str) -> Outcome:
    station = await get_station(ctx.session, code)
    if station is None or not station.active:
        return Retry(ctx.t("card.err_station_inactive"))
    person = await _person_in_flow(ctx, "pa:xfer")
    if isinstance(person, list):
        return Done(person)
    if station.id == person.station_id:
        return Retry(ctx.t("card.err_station_same"))
    return Done(await transfer(ctx, person, station))


async def ask_note(ctx: Context) -> list[Reply]:
    person = await _asked_about(ctx)
    if person is None:
        return [Reply(ctx.t("card.not_found"))]
    return [Reply(ctx.t("card.ask_note", name=person.full_name, max=NOTE_MAX), [_cancel_row(ctx, "note")])]


async def answer_note(ctx: Context, inp: Input) -> Outcome:
    if inp.choice == CANCEL:
        return Done([Reply(ctx.t("card.nothing_changed"))])
    text = (inp.text or "").strip()
    if not text:
        return Retry(ctx.t("card.err_note_empty"))
    if len(text) > NOTE_MAX:
        return Retry(ctx.t("card.err_note_long", max=NOTE_MAX, length=len(text)))
    person = await _person_in_flow(ctx, "pa:note")
    return Done(person if isinstance(person, list) else await add_note(ctx, person, text))


def changes_asked_person(what: str) -> Callable[[Context], Awaitable[None]]:
    """The guard of a card's flow: the caller still changes the records of the person's station (a revoked role,
    a staff member moved to another station, or the person transferred away end the flow)."""
    async def guard(ctx: Context) -> None:
        await changeable(ctx, ctx.data.get("person_id"), what)  # a person not found is said by the step
    return guard


EXTEND_FLOW = Flow(name="staff_extend", first="days", guard=changes_asked_person("pa:ext"),
                   steps={"days": Step(ask_days, answer_days)})
TRANSFER_FLOW = Flow(name="staff_transfer", first="station", guard=changes_asked_person("pa:xfer"),
                     steps={"station": Step(ask_station, answer_station)})
NOTE_FLOW = Flow(name="staff_note", first="note", guard=changes_asked_person("pa:note"),
                 steps={"note": Step(ask_note, answer_note)})


# --- flows: a search, and the station an admin or province viewer looks at -----------------------------


async def staff_only(ctx: Context) -> None:
    await require(ctx, ADMIN, PROVINCE, STAFF, what="find")


async def ask_query(ctx: Context) -> list[Reply]:
    return [Reply(ctx.t("find.ask"))]


async def answer_query(ctx: Context, inp: Input) -> Outcome:
    query = (inp.text or "").strip()
    if len(fold(query)) < QUERY_MIN:
        return Retry(ctx.t("find.too_short"))
    scope = own_scope(await access(ctx))
    if scope is False:
        return Done(await refuse(ctx, "find"))
    found = await find_people(ctx.session, query, scope)
    if not found.people:
        return Retry(ctx.t("find.none", query=query[:50]))
    return Done(await results_replies(ctx, found, scope))


FIND_FLOW = Flow(name="staff_find", first="query", guard=staff_only, steps={"query": Step(ask_query, answer_query)})


async def viewers_only(ctx: Context) -> None:
    await require(ctx, ADMIN, PROVINCE, what=ctx.data.get("then") or "lists")


async def ask_scope(ctx: Context) -> list[Reply]:
    province = [ctx.button("scope", PROVINCE_CHOICE, "lists.province_button")]
    query = ctx.data.get("query") or ""
    if query:  # "/danhsach pleiku": the search is already typed
        found = await find_stations(ctx.session, query)
        if found:
            buttons = [ctx.choice("scope", str(s.id), s.label) for s in found]
            return [Reply(ctx.t("lists.pick_station"), [*one_per_row(buttons), province])]
        return [Reply(ctx.t("lists.station_none", query=query[:50]), [province])]
    return [Reply(ctx.t("lists.ask_station"), [province])]


async def answer_scope(ctx: Context, inp: Input) -> Outcome:
    ctx.data.pop("query", None)  # asked again from now on, the question is the plain one
    if inp.choice == PROVINCE_CHOICE:
        return Done(await after_scope(ctx, ctx.data.get("then"), None))
    station_id = parse.payload_number(inp.choice)
    if station_id is not None and await ctx.session.get(Station, station_id) is not None:
        return Done(await after_scope(ctx, ctx.data.get("then"), station_id))
    if inp.choice:
        return Retry(ctx.t("err.use_buttons"))
    query = (inp.text or "").strip()
    if len(fold(query)) < QUERY_MIN:
        return Retry(ctx.t("card.err_station_query"))
    found = await find_stations(ctx.session, query)
    if not found:
        return Retry(ctx.t("lists.station_none", query=query[:50]))
    buttons = [ctx.choice("scope", str(s.id), s.label) for s in found]
    province = [ctx.button("scope", PROVINCE_CHOICE, "lists.province_button")]
    return Stay([Reply(ctx.t("lists.pick_station"), [*one_per_row(buttons), province])])


SCOPE_FLOW = Flow(name="staff_scope", first="scope", guard=viewers_only,
                  steps={"scope": Step(ask_scope, answer_scope)})

FLOWS = (EXTEND_FLOW, TRANSFER_FLOW, NOTE_FLOW, FIND_FLOW, SCOPE_FLOW)
FLOW_NAMES = {flow.name for flow in FLOWS}


async def drop_staff_flow(ctx: Context) -> None:
    """Opening a card or a list leaves any half-typed staff action, so a later number or text cannot land on
    the previous person's record; a citizen's own conversation (registration, check-in) is kept."""
    state = await load_state(ctx.session, ctx.account_id)
    if state is not None and state.flow in FLOW_NAMES:
        await clear_state(ctx.session, ctx.account_id)
