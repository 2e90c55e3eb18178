"""What station staff change on a person's record, and the flows for what they type.

Each change is checked again when it is applied (a role or a person's station may have changed since the
button was pressed), recorded in the audit trail with its before and after, and confirmed. Flows:
picking a station (admins and province viewers), a search, the days of an extension, the station of a
transfer, the text of a note.
"""
from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import col, select

from conversations import parse
from conversations.alerts import destinations
from conversations.help_request import IN_PROGRESS as REQUEST_IN_PROGRESS
from conversations.help_request import NEW as REQUEST_NEW
from conversations.messages import Button, Reply, one_per_row
from conversations.runtime import Context, Done, Flow, Input, Outcome, Retry, Stay, Step, clear_state, load_state
from handlers.access import access, actor, refuse, require
from locales import t
from storage.audit import record
from storage.models import Account, Alert, HelpRequest, Person, PersonNote, Station
from storage.outbox import enqueue
from storage.people import ACTIVE, OPEN_ALERT_STATUSES, find_people
from storage.roles import ADMIN, PROVINCE, STAFF
from storage.stations import find_stations, get_station
from storage.text import fold

EXTEND_MIN, EXTEND_MAX = 1, 30
NOTE_MAX = 500
QUERY_MIN = 2
PROVINCE_CHOICE = "p"
CANCEL = "cancel"
# Where a picked station leads: the lists menu or the open alerts.
THEN_LISTS, THEN_ALERTS = "lists", "alerts"


# --- who changes what ----------------------------------------------------------------------------------


def staff_name(ctx: Context) -> str:
    """The name colleagues know the staff member by, shown as reviewer and note author."""
    inc = ctx.incoming
    return inc.user_name or f"{inc.channel}:{inc.user_id}"


def card_button(ctx: Context, person_id: int) -> list[Button]:
    return [Button(ctx.t("card.open"), f"card:{person_id}")]


async def changeable(ctx: Context, person_id: object, what: str) -> Person | list[Reply]:
    """The person if the caller may change their record now; else the refusal (recorded) or 'not found'."""
    person = await ctx.session.get(Person, person_id) if isinstance(person_id, int) else None
    if person is None:
        return [Reply(ctx.t("card.not_found"))]
    if not (await access(ctx)).changes(person.station_id):
        return await refuse(ctx, what)
    return person


def _audit(ctx: Context, action: str, person: Person, before: dict, after: dict) -> None:
    record(ctx.session, actor(ctx), action, "person", person.id, before, after, at=ctx.core.utcnow())


async def _tell_person(ctx: Context, person: Person, key: str, **params: object) -> None:
    """A notice to the account that reports for the person, in its language, through the outbox."""
    account = await ctx.session.get(Account, person.account_id)
    if account is None:
        return
    text = t(account.language, key, name=person.full_name, **params)
    enqueue(ctx.session, account.channel, account.external_id, Reply(text).to_payload(), now=ctx.core.utcnow())


def _day(value: date) -> str:
    return value.strftime("%d/%m/%Y")


# --- the changes ---------------------------------------------------------------------------------------


async def end_early(ctx: Context, person: Person) -> list[Reply]:
    """The last day becomes today; the closing round completes the record and sends the closing advice."""
    today = ctx.today()
    if person.end_date <= today:
        return [Reply(ctx.t("card.already_ending", name=person.full_name, end=_day(person.end_date)))]
    before = person.end_date
    person.end_date = today
    ctx.session.add(person)
    _audit(ctx, "person.end_early", person, {"end_date": before.isoformat()}, {"end_date": today.isoformat()})
    return [Reply(ctx.t("card.ended_early", name=person.full_name, end=_day(today)), [card_button(ctx, person.id)])]


async def extend(ctx: Context, person: Person, days: int) -> list[Reply]:
    before = person.end_date
    person.end_date = before + timedelta(days=days)
    ctx.session.add(person)
    _audit(ctx, "person.extend", person, {"end_date": before.isoformat()},
           {"end_date": person.end_date.isoformat(), "days": days})
    await _tell_person(ctx, person, "card.told_new_end", end=_day(person.end_date))
    return [Reply(ctx.t("card.extended", name=person.full_name, days=days, end=_day(person.end_date)),
                  [card_button(ctx, person.id)])]


async def change_category(ctx: Context, person: Person, category: str) -> list[Reply]:
    """A new category; the end date follows from the start date by the rules (day 1 is the start date)."""
    if category == person.category:
        return [Reply(ctx.t("card.category_same"), [card_button(ctx, person.id)])]
    before = {"category": person.category, "end_date": person.end_date.isoformat()}
    person.category = category
    person.end_date = person.start_date + timedelta(days=ctx.core.rules.quarantine_days[category] - 1)
    ctx.session.add(person)
    _audit(ctx, "person.category", person, before, {"category": category, "end_date": person.end_date.isoformat()})
    if person.end_date != date.fromisoformat(before["end_date"]):
        await _tell_person(ctx, person, "card.told_new_end", end=_day(person.end_date))
    key = "card.category_changed_past" if person.end_date < ctx.today() else "card.category_changed"
    return [Reply(ctx.t(key, name=person.full_name, category=ctx.t(f"category.{category}"),
                        end=_day(person.end_date)), [card_button(ctx, person.id)])]


async def transfer(ctx: Context, person: Person, station: Station) -> list[Reply]:
    """Move the person, and their alerts and help requests still open, to another station; its groups and the
    person are told."""
    old = await ctx.session.get(Station, person.station_id)
    person.station_id = station.id
    ctx.session.add(person)
    alerts = await _move_open(ctx, Alert, person, station, OPEN_ALERT_STATUSES)
    requests = await _move_open(ctx, HelpRequest, person, station, (REQUEST_NEW, REQUEST_IN_PROGRESS))
    _audit(ctx, "person.transfer", person, {"station": old.code, "station_name": _name(old)},
           {"station": station.code, "station_name": _name(station), "open_alerts_moved": alerts,
            "open_requests_moved": requests})
    await _tell_new_station(ctx, person, old, station)
    await _tell_person(ctx, person, "card.told_transfer", station=_name(station))
    buttons = [card_button(ctx, person.id)] if (await access(ctx)).sees(station.id) else []
    return [Reply(ctx.t("card.transferred", name=person.full_name, station=_name(station)), buttons)]


async def _move_open(ctx: Context, model: type[Alert | HelpRequest], person: Person, station: Station,
                     open_statuses: tuple[str, ...]) -> int:
    """Alerts not yet resolved and requests not yet done follow the person: the new station is the one to act
    on them now (the old one's buttons on them then refuse: not its station's any more)."""
    query = select(model).where(model.person_id == person.id, col(model.status).in_(open_statuses))
    rows = list((await ctx.session.exec(query)).all())
    for row in rows:
        row.station_id = station.id
        ctx.session.add(row)
    return len(rows)


async def _tell_new_station(ctx: Context, person: Person, old: Station, station: Station) -> None:
    for channel, chat_id, lang in await destinations(ctx.session, ctx.core, station.id):
        text = t(lang, "card.transfer_notice", name=person.full_name, age=ctx.today().year - person.birth_year,
                 phone=person.phone, address=person.address, station=_name(station), old=_name(old),
                 category=t(lang, f"category.{person.category}"), end=_day(person.end_date), who=staff_name(ctx))
        enqueue(ctx.session, channel, chat_id, Reply(text).to_payload(), now=ctx.core.utcnow())


def _name(station: Station) -> str:
    return station.full_name or station.name


async def mark_reviewed(ctx: Context, person: Person) -> str:
    before = {"reviewed_at": person.reviewed_at.isoformat() if person.reviewed_at else None,
              "reviewed_by": person.reviewed_by}
    person.reviewed_at, person.reviewed_by = ctx.core.utcnow(), staff_name(ctx)
    ctx.session.add(person)
    _audit(ctx, "person.review", person, before,
           {"reviewed_at": person.reviewed_at.isoformat(), "reviewed_by": person.reviewed_by})
    return ctx.t("card.reviewed_done", name=person.full_name)


async def add_note(ctx: Context, person: Person, text: str) -> list[Reply]:
    note = PersonNote(person_id=person.id, author=staff_name(ctx), text=text, at=ctx.core.utcnow())
    ctx.session.add(note)
    await ctx.session.flush()
    _audit(ctx, "person.note", person, {}, {"note_id": note.id, "note": text})
    return [Reply(ctx.t("card.note_saved", name=person.full_name), [card_button(ctx, person.id)])]


# --- flows: typed input for the card's actions ---------------------------------------------------------


def _cancel_row(ctx: Context, step: str) -> list[Button]:
    return [ctx.button(step, CANCEL, "card.cancel")]


async def _person_in_flow(ctx: Context, what: str) -> Person | list[Reply]:
    person = await changeable(ctx, ctx.data.get("person_id"), what)
    if isinstance(person, Person) and person.status != ACTIVE and what != "pa:note":
        return [Reply(ctx.t("card.completed", name=person.full_name))]
    return person


async def _asked_about(ctx: Context) -> Person | None:
    person_id = ctx.data.get("person_id")
    return await ctx.session.get(Person, person_id) if isinstance(person_id, int) else None


async def ask_days(ctx: Context) -> list[Reply]:
    person = await _asked_about(ctx)
    if person is None:
        return [Reply(ctx.t("card.not_found"))]
    text = ctx.t("card.ask_extend", name=person.full_name, end=_day(person.end_date), low=EXTEND_MIN,
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
    return [Reply(ctx.t("card.ask_transfer", name=person.full_name, station=_name(station)),
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
    buttons = [ctx.choice("station", s.code, _name(s)) for s in found]
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


EXTEND_FLOW = Flow(name="staff_extend", first="days", steps={"days": Step(ask_days, answer_days)})
TRANSFER_FLOW = Flow(name="staff_transfer", first="station", steps={"station": Step(ask_station, answer_station)})
NOTE_FLOW = Flow(name="staff_note", first="note", steps={"note": Step(ask_note, answer_note)})


# --- flows: a search, and the station an admin or province viewer looks at -----------------------------


async def staff_only(ctx: Context) -> list[Reply] | None:
    granted = await require(ctx, ADMIN, PROVINCE, STAFF)
    return granted if isinstance(granted, list) else None


async def ask_query(ctx: Context) -> list[Reply]:
    return [Reply(ctx.t("find.ask"))]


async def answer_query(ctx: Context, inp: Input) -> Outcome:
    from handlers import station as station_handlers  # late: the handlers begin these flows

    query = (inp.text or "").strip()
    if len(fold(query)) < QUERY_MIN:
        return Retry(ctx.t("find.too_short"))
    scope = station_handlers.own_scope(await access(ctx))
    if scope is False:
        return Done(await refuse(ctx, "find"))
    found = await find_people(ctx.session, query, scope)
    if not found.people:
        return Retry(ctx.t("find.none", query=query[:50]))
    return Done(await station_handlers.results_replies(ctx, found, scope))


FIND_FLOW = Flow(name="staff_find", first="query", start=staff_only, steps={"query": Step(ask_query, answer_query)})


async def viewers_only(ctx: Context) -> list[Reply] | None:
    granted = await require(ctx, ADMIN, PROVINCE)
    return granted if isinstance(granted, list) else None


async def ask_scope(ctx: Context) -> list[Reply]:
    province = [ctx.button("scope", PROVINCE_CHOICE, "lists.province_button")]
    query = ctx.data.get("query") or ""
    if query:  # "/danhsach pleiku": the search is already typed
        found = await find_stations(ctx.session, query)
        if found:
            buttons = [ctx.choice("scope", str(s.id), _name(s)) for s in found]
            return [Reply(ctx.t("lists.pick_station"), [*one_per_row(buttons), province])]
        return [Reply(ctx.t("lists.station_none", query=query[:50]), [province])]
    return [Reply(ctx.t("lists.ask_station"), [province])]


async def answer_scope(ctx: Context, inp: Input) -> Outcome:
    from handlers import station as station_handlers  # late: the handlers begin these flows

    ctx.data.pop("query", None)  # asked again from now on, the question is the plain one
    if inp.choice == PROVINCE_CHOICE:
        return Done(await station_handlers.after_scope(ctx, ctx.data.get("then"), None))
    station_id = parse.payload_number(inp.choice)
    if station_id is not None and await ctx.session.get(Station, station_id):
        return Done(await station_handlers.after_scope(ctx, ctx.data.get("then"), station_id))
    if inp.choice:
        return Retry(ctx.t("err.use_buttons"))
    query = (inp.text or "").strip()
    if len(fold(query)) < QUERY_MIN:
        return Retry(ctx.t("card.err_station_query"))
    found = await find_stations(ctx.session, query)
    if not found:
        return Retry(ctx.t("lists.station_none", query=query[:50]))
    buttons = [ctx.choice("scope", str(s.id), _name(s)) for s in found]
    province = [ctx.button("scope", PROVINCE_CHOICE, "lists.province_button")]
    return Stay([Reply(ctx.t("lists.pick_station"), [*one_per_row(buttons), province])])


SCOPE_FLOW = Flow(name="staff_scope", first="scope", start=viewers_only,
                  steps={"scope": Step(ask_scope, answer_scope)})

FLOWS = (EXTEND_FLOW, TRANSFER_FLOW, NOTE_FLOW, FIND_FLOW, SCOPE_FLOW)
FLOW_NAMES = {flow.name for flow in FLOWS}


async def drop_staff_flow(ctx: Context) -> None:
    """Opening a card or a list leaves any half-typed staff action, so a later number or text cannot land on
    the previous person's record; a citizen's own conversation (registration, check-in) is kept."""
    state = await load_state(ctx.session, ctx.account.id)
    if state is not None and state.flow in FLOW_NAMES:
        await clear_state(ctx.session, ctx.account.id)
