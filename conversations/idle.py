"""A message outside any question. Words of a danger sign get the danger advice at once and one tap that alerts
the station; other text the safety line and the ways to reach the station; what the bot cannot read (a voice
message, a sticker, a photo) is said so, with the same safety line. Everyone sees the station's phone.

The advice is a one-step flow: the person's words wait in its data on the server (too long for a button), so
the alert carries them; anything else typed meanwhile is read as outside a question again. The button is a
payload of its own kind, so that it alerts even after the person has moved on to another question."""
from __future__ import annotations

from sqlmodel import col, select

from chat.messages import Button, Reply
from chat.payloads import DistressPress, Go
from conversations.runtime import Context, Done, Flow, Input, Outcome, Retry, Stay, Step, begin, load_state
from health.distress import words_of_danger
from services.alerts import open_alert_of
from services.contact import station_of_account, with_phone
from services.distress import WORDS_MAX, raise_distress
from storage.models import Person, PersonStatus, Station

CONFIRM = "confirm"


async def registered_people(ctx: Context) -> list[Person]:
    query = (select(Person).where(Person.account_id == ctx.account_id)
             .order_by(col(Person.is_self).desc(), col(Person.id)))
    return list((await ctx.session.exec(query)).all())


def menu(ctx: Context) -> list[list[Button]]:
    return [[Button(ctx.t("menu.checkin"), Go("checkin").encode())],
            [Button(ctx.t("menu.household"), Go("household").encode())]]


async def outside_question(ctx: Context) -> list[Reply]:
    """What a message outside any conversation gets (see the module's docstring)."""
    inc = ctx.incoming
    if words_of_danger(inc.text) and await _followed(ctx):
        return await begin(ctx, FLOW, {"words": (inc.text or "").strip()[:WORDS_MAX]})
    replies = await _pointers(ctx)
    if inc.unreadable or (inc.photo_id and not inc.text):
        return [Reply(ctx.t("idle.cannot_read")), *replies]
    return replies


async def _followed(ctx: Context) -> list[Person]:
    """The people of the account still followed by a station: those a danger alert can be about."""
    return [p for p in await registered_people(ctx) if p.status == PersonStatus.ACTIVE and p.anonymized_at is None]


async def _pointers(ctx: Context) -> list[Reply]:
    """The safety line and the ways to reach the station; for someone not registered, the registration button."""
    if not any(p.is_self for p in await registered_people(ctx)):
        return [Reply(ctx.t("idle.new"), [[Button(ctx.t("menu.register"), Go("register").encode())]])]
    station = await station_of_account(ctx.session, ctx.account_id)
    return [Reply(with_phone(ctx.lang, ctx.t("idle.registered"), station), menu(ctx))]


async def ask_confirm(ctx: Context) -> list[Reply]:
    people = await _followed(ctx)
    station = await station_of_account(ctx.session, ctx.account_id)
    if len(people) == 1:
        rows = [[Button(ctx.t("distress.button"), _press(people[0]))]]
    else:
        rows = [[Button(ctx.t("distress.button_for", name=p.full_name), _press(p))] for p in people]
    return [Reply(with_phone(ctx.lang, ctx.t("distress.advice"), station), rows)]


def _press(person: Person) -> str:
    assert person.id is not None  # read from the database
    return DistressPress(person.id).encode()


async def answer_confirm(ctx: Context, inp: Input) -> Outcome:
    """Typed again: more danger words are read as the new ones, anything else as outside a question."""
    if inp.choice is not None:  # the button is a DistressPress, never a step's answer
        return Retry(ctx.t("err.use_buttons"))
    if words_of_danger(inp.text):
        ctx.data["words"] = (inp.text or "").strip()[:WORDS_MAX]
        return Stay(await ask_confirm(ctx))
    return Done(await outside_question(ctx))


async def press(ctx: Context) -> list[Reply] | None:
    """«Báo trạm y tế ngay»: the station alerted with the person's words; None for a person not the account's.

    Pressed after the person moved on (the words are gone), it alerts with the button's own words, unless the
    person's alert is open already (a second tap): the station has it."""
    pressed = DistressPress.parse(ctx.incoming.button)
    person = next((p for p in await _followed(ctx) if pressed is not None and p.id == pressed.person_id), None)
    if person is None or person.id is None:
        return None
    state = await load_state(ctx.session, ctx.account_id)
    words = state.data.get("words") if state is not None and state.flow == FLOW.name else None
    if words is not None:
        await ctx.session.delete(state)
    if words is not None or await open_alert_of(ctx.session, person.id) is None:
        await raise_distress(ctx.session, ctx.core, person, words or ctx.t("distress.button"))
    station = await ctx.session.get(Station, person.station_id)
    text = ctx.t("distress.sent", station=station.label if station else "")
    return [Reply(with_phone(ctx.lang, text, station))]


FLOW = Flow(name="distress", first=CONFIRM, steps={CONFIRM: Step(ask_confirm, answer_confirm)})
