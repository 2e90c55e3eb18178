"""Registration of oneself: consent, identity, contact, station, address, quarantine; then a summary."""
from __future__ import annotations

from datetime import date

from chat import parse
from chat.messages import Button, Reply, one_per_row
from chat.payloads import Go
from conversations.access import actor
from conversations.person_steps import (
    EDIT_MENU,
    SUMMARY,
    ask,
    birth_year_step,
    category_step,
    edit_menu_step,
    end_date,
    following,
    gender_step,
    name_step,
    start_date_step,
    summary_question,
)
from conversations.runtime import Context, Done, Flow, Input, Next, Outcome, Retry, Stay, Step
from health.slots import slot_text
from services.contact import with_phone
from storage.audit import record
from storage.invitations import use_invitation
from storage.models import Person, Station
from storage.stations import StationHit, get_station, search_stations

ORDER = ["consent", "name", "birth_year", "gender", "phone", "id_number", "station", "address", "category",
         "start_date", SUMMARY]
EDITABLE = ORDER[1:-1]
CHECKIN_BUTTON = Go("checkin").encode()
INVITED = "_invite"  # the invitation's code, when the answers came pre-filled from an imported list
ANSWERS = ("full_name", "birth_year", "gender", "phone", "id_number", "station_code", "address", "category",
           "start_date")


async def ask_consent(ctx: Context) -> list[Reply]:
    days = ctx.core.retention_days
    buttons = [[ctx.button("consent", "yes", "consent.yes"), ctx.button("consent", "no", "consent.no")]]
    return [Reply(ctx.t("reg.welcome")), Reply(ctx.t("ask.consent", days=days), buttons)]


async def answer_consent(ctx: Context, inp: Input) -> Outcome:
    choice = inp.choice  # a label typed out counts as its press (the runtime): the same explicit act
    if choice == "yes":
        ctx.data["consent"] = True
        # Invited from an imported list: every answer is there, the person only checks them.
        complete = ctx.data.get(INVITED) and all(key in ctx.data for key in ANSWERS)
        return Next(SUMMARY if complete else "name")
    if choice == "no":
        return Done([Reply(await consent_refused_text(ctx))])
    return Retry(ctx.t("err.use_buttons"))


async def consent_refused_text(ctx: Context) -> str:
    """Without consent the bot cannot follow them: the station's phone when it is known (an invitation)."""
    text = ctx.t("reg.consent_refused")
    station = await get_station(ctx.session, ctx.data["station_code"]) if ctx.data.get("station_code") else None
    if station is None or not station.phone:
        return text
    return f"{text}\n{ctx.t('reg.consent_refused.station_phone', station=station.label, phone=station.phone)}"


async def ask_phone(ctx: Context) -> list[Reply]:
    return [Reply(ctx.t("ask.phone"), request_contact=ctx.t("phone.share"))]


async def answer_phone(ctx: Context, inp: Input) -> Outcome:
    if inp.contact_phone is not None:
        number = parse.shared_phone(inp.contact_phone) if inp.contact_is_own else None
        if number is None:
            return Retry(ctx.t("err.phone_contact"))
    else:
        number = parse.phone(inp.text or "")
        if number is None:
            return Retry(ctx.t("err.phone"))
    ctx.data["phone"] = number
    ack = Reply(ctx.t("reg.phone_saved", phone=number), remove_keyboard=True)
    return Next(following(ctx, ORDER, "phone"), [ack])


async def ask_id_number(ctx: Context) -> list[Reply]:
    return [Reply(ctx.t("ask.id_number"), [[ctx.button("id_number", "skip", "common.skip")]])]


async def answer_id_number(ctx: Context, inp: Input) -> Outcome:
    if inp.choice == "skip":
        ctx.data["id_number"] = None
    else:
        number = parse.id_number(inp.text or "")
        if number is None:
            return Retry(ctx.t("err.id_number"))
        ctx.data["id_number"] = number
    return Next(following(ctx, ORDER, "id_number"))


async def answer_station(ctx: Context, inp: Input) -> Outcome:
    if inp.choice:
        station = await get_station(ctx.session, inp.choice)
        if station is None or not station.active:
            return Retry(ctx.t("err.station_gone"))
        ctx.data["station_code"], ctx.data["station_name"] = station.code, station.label
        return Next(following(ctx, ORDER, "station"))
    query = (inp.text or "").strip()
    if len(query) < 2:
        return Retry(ctx.t("err.station_query"))
    found = await search_stations(ctx.session, query)
    if not found.hits:
        return Retry(ctx.t("err.station_none", query=query[:50]))
    buttons = [ctx.choice("station", hit.station.code, station_hit_label(ctx, hit)) for hit in found.hits]
    text = ctx.t("reg.station_pick")
    if found.more:
        text += "\n" + ctx.t("reg.station_more", count=found.more)
    return Stay([Reply(text, one_per_row(buttons))])


def station_hit_label(ctx: Context, hit: StationHit) -> str:
    """The new name; the old one in brackets when it matched, with its old district when two old names are one."""
    if hit.old is None:
        return hit.station.label
    if hit.show_district:
        return ctx.t("reg.station_old_district", station=hit.station.label, old=hit.old.ward, district=hit.old.district)
    return ctx.t("reg.station_old", station=hit.station.label, old=hit.old.ward)


async def answer_address(ctx: Context, inp: Input) -> Outcome:
    address = " ".join((inp.text or "").split())
    if not 3 <= len(address) <= 300 or not any(c.isalnum() for c in address):
        return Retry(ctx.t("err.address"))
    ctx.data["address"] = address
    return Next(following(ctx, ORDER, "address"))


async def ask_summary(ctx: Context) -> list[Reply]:
    return summary_question(ctx, "reg.summary_title", ctx.data)


async def answer_summary(ctx: Context, inp: Input) -> Outcome:
    if inp.choice == "edit":
        return Next(EDIT_MENU)
    if inp.choice != "ok":
        return Retry(ctx.t("err.use_buttons"))
    station = await get_station(ctx.session, ctx.data["station_code"])
    if station is None or not station.active:
        ctx.data["_editing"] = True
        return Next("station", [Reply(ctx.t("err.station_gone"))])
    assert station.id is not None  # read from the database
    code = ctx.data.get(INVITED)
    if code and not await use_invitation(ctx.session, code, ctx.account_id, ctx.core.utcnow()):
        return Done([Reply(ctx.t("invite.used_meanwhile"))])  # the same link confirmed on another phone
    person = make_person(ctx, ctx.data, station.id)
    ctx.session.add(person)
    await ctx.session.flush()
    record_created(ctx, person, code)
    text = ctx.t("reg.done", end=person.end_date.strftime("%d/%m/%Y"), slots=slot_text(ctx.core.rules))
    done = Reply(with_phone(ctx.lang, text, await ctx.session.get(Station, person.station_id)),
                 [[Button(ctx.t("menu.checkin"), CHECKIN_BUTTON)]])
    return Done([done])


def record_created(ctx: Context, person: Person, code: str | None) -> None:
    """The registration in the audit trail (and the invitation used, if any): no personal data in it."""
    who, at = actor(ctx), ctx.core.utcnow()
    source = {"source": "invitation", "invitation": code} if code else {"source": "chat"}
    record(ctx.session, who, "person.create", "person", person.id, at=at,
           after={**source, "station_id": person.station_id, "category": person.category,
                  "start_date": person.start_date.isoformat()})
    if code:
        record(ctx.session, who, "invitation.use", "invitation", code, at=at,
               after={"person_id": person.id, "account_id": ctx.account_id})


def make_person(ctx: Context, data: dict, station_id: int, is_self: bool = True) -> Person:
    start = date.fromisoformat(data["start_date"])
    return Person(
        account_id=ctx.account_id, is_self=is_self, full_name=data["full_name"], birth_year=data["birth_year"],
        gender=data["gender"], phone=data["phone"], id_number=data.get("id_number"), station_id=station_id,
        address=data["address"], category=data["category"], start_date=start,
        end_date=end_date(ctx, data["category"], start), consent_at=ctx.core.utcnow(), created_at=ctx.core.utcnow(),
    )


FLOW = Flow(
    name="registration",
    first="consent",
    steps={
        "consent": Step(ask_consent, answer_consent),
        "name": name_step(ORDER, "self"),
        "birth_year": birth_year_step(ORDER, "self"),
        "gender": gender_step(ORDER, "self"),
        "phone": Step(ask_phone, answer_phone),
        "id_number": Step(ask_id_number, answer_id_number),
        "station": Step(ask("ask.station"), answer_station),
        "address": Step(ask("ask.address"), answer_address),
        "category": category_step(ORDER, "self"),
        "start_date": start_date_step(ORDER, "self"),
        SUMMARY: Step(ask_summary, answer_summary),
        EDIT_MENU: edit_menu_step(EDITABLE),
    },
)
