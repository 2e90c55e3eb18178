"""Household (khai hộ): a registered person adds a dependent without a smartphone and declares for them."""
from __future__ import annotations

from sqlmodel import select

from chat.messages import Button, Reply
from chat.payloads import Go
from conversations.person_steps import (
    EDIT_MENU,
    SUMMARY,
    birth_year_step,
    category_step,
    edit_menu_step,
    gender_step,
    name_step,
    start_date_step,
    summary_question,
)
from conversations.registration import CHECKIN_BUTTON, make_person
from conversations.runtime import Context, Done, Flow, Input, Next, Outcome, Retry, Step
from services.contact import with_phone
from storage.models import Person, PersonStatus, Station

ORDER = ["name", "birth_year", "gender", "category", "start_date", SUMMARY]
EDITABLE = ORDER[:-1]
MAX_DEPENDENTS = 15


async def self_person(ctx: Context) -> Person | None:
    query = select(Person).where(Person.account_id == ctx.account_id, Person.is_self,
                                 Person.status == PersonStatus.ACTIVE)
    return (await ctx.session.exec(query)).first()


async def start(ctx: Context) -> list[Reply] | None:
    reporter = await self_person(ctx)
    if reporter is None:
        return [Reply(ctx.t("household.need_registration"))]
    count = len((await ctx.session.exec(select(Person.id).where(Person.account_id == ctx.account_id))).all())
    if count > MAX_DEPENDENTS:
        station = await ctx.session.get(Station, reporter.station_id)
        return [Reply(with_phone(ctx.lang, ctx.t("household.too_many", max=MAX_DEPENDENTS), station))]
    ctx.data.update(phone=reporter.phone, address=reporter.address, station_id=reporter.station_id)
    return None


async def ask_summary(ctx: Context) -> list[Reply]:
    shown = {k: v for k, v in ctx.data.items() if k not in ("phone", "address")}  # the reporter's, not theirs
    return summary_question(ctx, "household.summary_title", shown)


async def answer_summary(ctx: Context, inp: Input) -> Outcome:
    if inp.choice == "edit":
        return Next(EDIT_MENU)
    if inp.choice != "ok":
        return Retry(ctx.t("err.use_buttons"))
    person = make_person(ctx, ctx.data, ctx.data["station_id"], is_self=False)
    ctx.session.add(person)
    await ctx.session.flush()
    buttons = [[Button(ctx.t("menu.checkin"), CHECKIN_BUTTON)],
               [Button(ctx.t("menu.household"), Go("household").encode())]]
    return Done([Reply(ctx.t("household.done", name=person.full_name,
                             end=person.end_date.strftime("%d/%m/%Y")), buttons)])


FLOW = Flow(
    name="household",
    first="name",
    start=start,
    steps={
        "name": name_step(ORDER, "other"),
        "birth_year": birth_year_step(ORDER, "other"),
        "gender": gender_step(ORDER, "other"),
        "category": category_step(ORDER, "other"),
        "start_date": start_date_step(ORDER, "other"),
        SUMMARY: Step(ask_summary, answer_summary),
        EDIT_MENU: edit_menu_step(EDITABLE),
    },
)
