"""/nhacnho: a person moves their own reminder times, each within its check-in slot."""
from __future__ import annotations

from datetime import datetime

from sqlmodel import select

from chat import parse
from chat.messages import Reply, one_per_row
from conversations.runtime import Context, Done, Flow, Input, Next, Outcome, Retry, Step
from health.slots import reminder_time, windows
from storage.models import Person, PersonStatus

DEFAULT = "default"


async def start(ctx: Context) -> list[Reply] | None:
    query = select(Person.id).where(Person.account_id == ctx.account_id, Person.status == PersonStatus.ACTIVE)
    if (await ctx.session.exec(query)).first() is None:
        return [Reply(ctx.t("checkin.not_registered"))]
    return None


def current_times(ctx: Context) -> list[str]:
    return [reminder_time(w, ctx.account.reminder_times).strftime("%H:%M")
            for w in windows(ctx.core.rules, ctx.today(), ctx.core.tz)]


async def ask_slot(ctx: Context) -> list[Reply]:
    times = current_times(ctx)
    buttons = [ctx.button("slot", str(i), "reminders.change", number=i + 1, time=at) for i, at in enumerate(times)]
    buttons.append(ctx.button("slot", DEFAULT, "reminders.default"))
    shown = ", ".join(times)
    return [Reply(ctx.t("reminders.current", times=shown), one_per_row(buttons))]


async def answer_slot(ctx: Context, inp: Input) -> Outcome:
    if inp.choice == DEFAULT:
        ctx.account.reminder_times = None
        ctx.session.add(ctx.account)
        return Done([Reply(ctx.t("reminders.saved", times=", ".join(current_times(ctx))))])
    slot = parse.payload_number(inp.choice)
    if slot is None or slot >= len(ctx.core.rules.slots):
        return Retry(ctx.t("err.use_buttons"))
    ctx.data["slot"] = slot
    return Next("time")


def _window(ctx: Context):
    return windows(ctx.core.rules, ctx.today(), ctx.core.tz)[ctx.data["slot"]]


async def ask_time(ctx: Context) -> list[Reply]:
    window = _window(ctx)
    return [Reply(ctx.t("reminders.ask_time", number=window.index + 1, start=window.start.strftime("%H:%M"),
                        end=window.end.strftime("%H:%M")))]


async def answer_time(ctx: Context, inp: Input) -> Outcome:
    window = _window(ctx)
    chosen = parse.clock_time(inp.text or "")
    if chosen is None or not window.is_open(datetime.combine(window.start.date(), chosen, window.start.tzinfo)):
        return Retry(ctx.t("err.reminder_time", start=window.start.strftime("%H:%M"),
                           end=window.end.strftime("%H:%M")))
    # Only the slot the person changed is stored: the others follow the rules file if a province moves them.
    stored = list(ctx.account.reminder_times or [])
    stored += [None] * (len(ctx.core.rules.slots) - len(stored))
    stored[window.index] = chosen.strftime("%H:%M")
    ctx.account.reminder_times = stored
    ctx.session.add(ctx.account)
    return Done([Reply(ctx.t("reminders.saved", times=", ".join(current_times(ctx))))])


FLOW = Flow(name="reminders", first="slot", start=start,
            steps={"slot": Step(ask_slot, answer_slot), "time": Step(ask_time, answer_time)})
