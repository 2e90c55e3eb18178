"""Questions about a person, shared by registration (oneself) and household (a dependent)."""
from __future__ import annotations

from datetime import date, timedelta

from chat import parse
from chat.messages import Reply, one_per_row
from chat.text import fold
from conversations.runtime import Context, Input, Next, Outcome, Retry, Stay, Step

GENDERS = ("male", "female", "other")
_GENDER_WORDS = {"nam": "male", "male": "male", "nu": "female", "female": "female", "khac": "other",
                 "other": "other"}  # folded: "Nữ", "NỮ" and "nu" all read as female
SUMMARY, EDIT_MENU = "summary", "edit_menu"


def following(ctx: Context, order: list[str], step: str) -> str:
    """The next question: back to the summary when the person is correcting one answer."""
    if ctx.data.pop("_editing", False):
        return SUMMARY
    return order[order.index(step) + 1]


def end_date(ctx: Context, category: str, start: date) -> date:
    """The last day of quarantine: day 1 is the start date."""
    return start + timedelta(days=ctx.core.rules.quarantine_days[category] - 1)


def ask(key: str, **params: object):
    async def _ask(ctx: Context) -> list[Reply]:
        return [Reply(ctx.t(key, **params))]
    return _ask


def name_step(order: list[str], who: str) -> Step:
    async def answer(ctx: Context, inp: Input) -> Outcome:
        name = parse.full_name(inp.text or "")
        if name is None:
            return Retry(ctx.t("err.name_letters"))
        ctx.data["full_name"] = name
        return Next(following(ctx, order, "name"))
    return Step(ask(f"ask.name.{who}"), answer)


YEAR_GUESS = "_year_guess"  # in the flow's data: the year read from two digits ("80"), until confirmed


def birth_year_step(order: list[str], who: str) -> Step:
    async def ask_year(ctx: Context) -> list[Reply]:
        guess = ctx.data.get(YEAR_GUESS)
        if guess is None:
            return [Reply(ctx.t(f"ask.birth_year.{who}"))]
        buttons = [[ctx.button("birth_year", str(guess), "birth_year.right"),
                    ctx.button("birth_year", "no", "birth_year.wrong")]]
        return [Reply(ctx.t("ask.birth_year_guess", year=guess), buttons)]

    async def answer(ctx: Context, inp: Input) -> Outcome:
        this_year = ctx.today().year
        guess = ctx.data.pop(YEAR_GUESS, None)
        if inp.choice is not None:  # Đúng (the guessed year) or Không
            if guess is None or inp.choice != str(guess):
                return Retry(ctx.t("err.birth_year", this_year=this_year))
            return accept(ctx, guess)
        year = parse.birth_year(inp.text or "", this_year)
        if year is not None:
            return accept(ctx, year)
        guess = parse.two_digit_year(inp.text or "", this_year)
        if guess is None:
            return Retry(ctx.t("err.birth_year", this_year=this_year))
        ctx.data[YEAR_GUESS] = guess  # "80" may be 1980 or a typo: the person says which
        return Stay(await ask_year(ctx))

    def accept(ctx: Context, year: int) -> Outcome:
        ctx.data["birth_year"] = year
        return Next(following(ctx, order, "birth_year"))
    return Step(ask_year, answer)


def gender_step(order: list[str], who: str) -> Step:
    async def ask_gender(ctx: Context) -> list[Reply]:
        buttons = [[ctx.button("gender", g, f"gender.{g}") for g in GENDERS]]
        return [Reply(ctx.t(f"ask.gender.{who}"), buttons)]

    async def answer(ctx: Context, inp: Input) -> Outcome:
        gender = inp.choice if inp.choice in GENDERS else _GENDER_WORDS.get(fold(inp.text or ""))
        if gender is None:
            return Retry(ctx.t("err.use_buttons"))
        ctx.data["gender"] = gender
        return Next(following(ctx, order, "gender"))
    return Step(ask_gender, answer)


def category_step(order: list[str], who: str) -> Step:
    async def ask_category(ctx: Context) -> list[Reply]:
        buttons = [ctx.button("category", c, f"category.{c}") for c in ctx.core.rules.categories]
        return [Reply(ctx.t(f"ask.category.{who}"), one_per_row(buttons))]

    async def answer(ctx: Context, inp: Input) -> Outcome:
        typed = (inp.text or "").strip().lower()
        category = inp.choice if inp.choice in ctx.core.rules.categories else typed
        if category not in ctx.core.rules.categories:
            return Retry(ctx.t("err.use_buttons"))
        ctx.data["category"] = category
        if ctx.data.get("_editing") and quarantine_over(ctx, category):
            # A shorter category can end a quarantine before today: the kept start date needs a second look.
            days = ctx.core.rules.quarantine_days[category]
            return Next("start_date", [Reply(ctx.t("err.date_too_old", days=days))])
        return Next(following(ctx, order, "category"))
    return Step(ask_category, answer)


def quarantine_over(ctx: Context, category: str) -> bool:
    start = ctx.data.get("start_date")
    return start is not None and end_date(ctx, category, date.fromisoformat(start)) < ctx.today()


def start_date_step(order: list[str], who: str) -> Step:
    async def ask_start(ctx: Context) -> list[Reply]:
        buttons = [[ctx.button("start_date", "0", "date.today"), ctx.button("start_date", "1", "date.yesterday")]]
        return [Reply(ctx.t(f"ask.start_date.{who}"), buttons)]

    async def answer(ctx: Context, inp: Input) -> Outcome:
        today = ctx.today()
        start: date | None
        if inp.choice in ("0", "1"):
            start = today - timedelta(days=int(inp.choice))
        else:
            start = parse.day(inp.text or "", today)
        if start is None:
            return Retry(ctx.t("err.date"))
        if start > today:
            return Retry(ctx.t("err.date_future"))
        category = ctx.data.get("category", "other")
        if end_date(ctx, category, start) < today:
            return Retry(ctx.t("err.date_too_old", days=ctx.core.rules.quarantine_days[category]))
        ctx.data["start_date"] = start.isoformat()
        return Next(following(ctx, order, "start_date"))
    return Step(ask_start, answer)


def edit_menu_step(fields: list[str]) -> Step:
    """Which answer to change; then that question, then back to the summary."""
    async def ask_field(ctx: Context) -> list[Reply]:
        buttons = [ctx.button(EDIT_MENU, f, f"field.{f}") for f in fields]
        return [Reply(ctx.t("ask.edit_which"), one_per_row(buttons))]

    async def answer(ctx: Context, inp: Input) -> Outcome:
        if inp.choice not in fields:
            return Retry(ctx.t("err.use_buttons"))
        ctx.data["_editing"] = True
        return Next(inp.choice)
    return Step(ask_field, answer)


def summary_question(ctx: Context, title_key: str, data: dict) -> list[Reply]:
    """The answers so far under a title, with Xác nhận / Sửa."""
    text = "\n".join([ctx.t(title_key), *summary_lines(ctx, data), "", ctx.t("reg.summary_check")])
    buttons = [[ctx.button(SUMMARY, "ok", "common.confirm"), ctx.button(SUMMARY, "edit", "common.edit")]]
    return [Reply(text, buttons)]


def summary_lines(ctx: Context, data: dict) -> list[str]:
    """The answers so far, one line each, for the summary before confirming."""
    lines = []
    for f in ("full_name", "birth_year", "gender", "phone", "id_number", "station_name", "address", "category"):
        if f not in data:
            continue
        value = data[f]
        if f == "gender":
            value = ctx.t(f"gender.{value}")
        elif f == "category":
            value = ctx.t(f"category.{value}")
        elif f == "id_number" and not value:
            value = ctx.t("summary.none")
        lines.append(ctx.t(f"summary.{f}", value=value))
    if "start_date" in data:
        start = date.fromisoformat(data["start_date"])
        end = end_date(ctx, data.get("category", "other"), start)
        lines.append(ctx.t("summary.dates", start=fmt_date(start), end=fmt_date(end)))
    return lines


def fmt_date(d: date) -> str:
    return d.strftime("%d/%m/%Y")
