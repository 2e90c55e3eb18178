"""The daily check-in: temperature, symptoms, SpO2, breathing rate, a note; then triage and, if needed, an alert."""
from __future__ import annotations

from sqlmodel import col, select

from chat import parse
from chat.messages import Button, Reply, one_per_row
from chat.payloads import Go
from chat.text import fold
from conversations.runtime import Context, Done, Flow, Input, Next, Outcome, Retry, Stay, Step
from health.slots import slot_of
from health.triage import NORMAL, Answers, triage
from locales import number
from services.alerts import raise_alert
from storage.models import Declaration, Person, PersonStatus

NONE, DONE, SKIP = "none", "done", "skip"
BREATHING_RANGE = (5, 120)
NOTE_MAX = 500


async def active_people(ctx: Context) -> list[Person]:
    query = (select(Person).where(Person.account_id == ctx.account_id, Person.status == PersonStatus.ACTIVE)
             .order_by(col(Person.is_self).desc(), col(Person.id)))
    return list((await ctx.session.exec(query)).all())


async def declared_ids(ctx: Context, people: list[Person]) -> set[int]:
    day, slot = slot_of(ctx.core.rules, ctx.core.tz, ctx.now())
    query = select(Declaration.person_id).where(
        col(Declaration.person_id).in_([p.id for p in people]), Declaration.day == day, Declaration.slot == slot)
    return set((await ctx.session.exec(query)).all())


async def pick_person(ctx: Context, refusal_key: str, first_step: str) -> list[Reply] | None:
    """The start of a flow about one of the account's people: refused with none, and no "for whom?"
    question when there is only one (or a valid one was chosen already, e.g. by a reminder's button)."""
    people = await active_people(ctx)
    if not people:
        return [Reply(ctx.t(refusal_key))]
    if ctx.data.get("person_id") not in [p.id for p in people]:  # a stale or forged choice
        ctx.data.pop("person_id", None)
    if "person_id" not in ctx.data and len(people) == 1:
        ctx.data["person_id"] = people[0].id
    if "person_id" in ctx.data:
        ctx.data["_first"] = first_step  # nobody to choose: straight to the first question
    return None


async def start(ctx: Context) -> list[Reply] | None:
    return await pick_person(ctx, "checkin.not_registered", "temperature")


async def person_of(ctx: Context) -> Person | None:
    person = await ctx.session.get(Person, ctx.data.get("person_id", 0))
    return person if person is not None and person.account_id == ctx.account_id else None


def age_of(ctx: Context, person: Person) -> int:
    return max(0, ctx.today().year - person.birth_year)


async def ask_who(ctx: Context) -> list[Reply]:
    people = await active_people(ctx)
    done = await declared_ids(ctx, people)
    buttons = [ctx.choice("who", str(p.id), ("✅ " if p.id in done else "") + p.full_name) for p in people]
    return [Reply(ctx.t("ask.who"), one_per_row(buttons))]


async def answer_who(ctx: Context, inp: Input) -> Outcome:
    people = {str(p.id): p for p in await active_people(ctx)}
    if inp.choice not in people:
        return Retry(ctx.t("err.use_buttons"))
    ctx.data["person_id"] = people[inp.choice].id
    return Next("temperature")


async def ask_temperature(ctx: Context) -> list[Reply]:
    person = await person_of(ctx)
    name = person.full_name if person is not None else ""
    return [Reply(ctx.t("ask.temperature", name=name))]


async def answer_temperature(ctx: Context, inp: Input) -> Outcome:
    rules = ctx.core.rules
    value = parse.temperature(inp.text or "")
    if value is None or not rules.temperature_min <= value <= rules.temperature_max:
        return Retry(ctx.t("err.temperature", low=number(ctx.lang, rules.temperature_min),
                           high=number(ctx.lang, rules.temperature_max)))
    ctx.data["temperature"] = round(value, 1)
    ctx.data.setdefault("symptoms", [])
    return Next("symptoms")


async def symptom_codes(ctx: Context) -> list[str]:
    person = await person_of(ctx)
    age = age_of(ctx, person) if person is not None else 99
    return [s.code for s in ctx.core.rules.symptoms_for_age(age)]


def symptom_label(ctx: Context, code: str) -> str:
    return ctx.core.rules.symptom_label(code, ctx.lang)


async def symptoms_reply(ctx: Context, edit: bool = False) -> Reply:
    chosen = set(ctx.data.get("symptoms", []))
    buttons = [ctx.choice("symptoms", c, ("✅ " if c in chosen else "▫️ ") + symptom_label(ctx, c))
               for c in await symptom_codes(ctx)]
    rows = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    rows.append([ctx.button("symptoms", NONE, "symptoms.none")] if not chosen
                else [ctx.button("symptoms", DONE, "symptoms.done", count=len(chosen))])
    return Reply(ctx.t("ask.symptoms"), rows, edit_id=ctx.incoming.message_id if edit else None)


async def ask_symptoms(ctx: Context) -> list[Reply]:
    return [await symptoms_reply(ctx)]


async def answer_symptoms(ctx: Context, inp: Input) -> Outcome:
    chosen: list[str] = ctx.data.setdefault("symptoms", [])
    if inp.choice == NONE:
        chosen.clear()
        return Next("spo2")
    if inp.choice == DONE:
        return Next("spo2")
    if inp.choice in await symptom_codes(ctx):
        chosen.remove(inp.choice) if inp.choice in chosen else chosen.append(inp.choice)
        return Stay([await symptoms_reply(ctx, edit=True)])
    typed = fold(inp.text or "")
    if typed in ("khong", "no", "none", "0") or typed.startswith("khong co"):
        chosen.clear()
        return Next("spo2")
    if typed in ("xong", "done"):  # the button's word, typed
        return Next("spo2")
    return Retry(ctx.t("err.symptoms"))


async def ask_spo2(ctx: Context) -> list[Reply]:
    return [Reply(ctx.t("ask.spo2"), [[ctx.button("spo2", SKIP, "spo2.no_meter")]])]


async def answer_spo2(ctx: Context, inp: Input) -> Outcome:
    if inp.choice == SKIP:
        ctx.data["spo2"] = None
        return Next("breathing")
    value = parse.whole_number(inp.text or "")
    if value is None or not ctx.core.rules.spo2_min <= value <= 100:
        return Retry(ctx.t("err.spo2", low=ctx.core.rules.spo2_min))
    ctx.data["spo2"] = value
    return Next("breathing")


async def ask_breathing(ctx: Context) -> list[Reply]:
    return [Reply(ctx.t("ask.breathing"), [[ctx.button("breathing", SKIP, "common.skip")]])]


async def answer_breathing(ctx: Context, inp: Input) -> Outcome:
    if inp.choice == SKIP:
        ctx.data["breathing_rate"] = None
        return Next("note")
    value = parse.whole_number(inp.text or "")
    low, high = BREATHING_RANGE
    if value is None or not low <= value <= high:
        return Retry(ctx.t("err.breathing", low=low, high=high))
    ctx.data["breathing_rate"] = value
    return Next("note")


async def ask_note(ctx: Context) -> list[Reply]:
    return [Reply(ctx.t("ask.note"), [[ctx.button("note", SKIP, "note.nothing")]])]


async def answer_note(ctx: Context, inp: Input) -> Outcome:
    if inp.choice == SKIP:
        note = None
    else:
        note = " ".join((inp.text or "").split())
        if not note or len(note) > NOTE_MAX:
            return Retry(ctx.t("err.note", max=NOTE_MAX))
    ctx.data["note"] = note
    return await finish(ctx)


async def finish(ctx: Context) -> Outcome:
    person = await person_of(ctx)
    if person is None or person.status != PersonStatus.ACTIVE:
        return Done([Reply(ctx.t("checkin.person_gone"))])
    assert person.id is not None  # read from the database
    answers = Answers(ctx.data["temperature"], tuple(ctx.data.get("symptoms", [])), ctx.data.get("spo2"),
                      ctx.data.get("breathing_rate"))
    result = triage(ctx.core.rules, answers, age_of(ctx, person))
    day, slot = slot_of(ctx.core.rules, ctx.core.tz, ctx.now())
    declaration = Declaration(
        person_id=person.id, account_id=ctx.account_id, day=day, slot=slot, declared_at=ctx.core.utcnow(),
        temperature=answers.temperature,
        symptoms=list(answers.symptoms), spo2=answers.spo2, breathing_rate=answers.breathing_rate,
        note=ctx.data.get("note"), tier=result.tier, reasons=[r.as_json() for r in result.reasons])
    ctx.session.add(declaration)
    await ctx.session.flush()
    if result.tier != NORMAL:
        await raise_alert(ctx.session, ctx.core, person, declaration)
    return Done([Reply(ctx.t(f"result.{result.tier}", name=person.full_name)), *await next_person(ctx)])


async def next_person(ctx: Context) -> list[Reply]:
    """Offer the next household member still due in this slot, so a family is declared in one go."""
    people = await active_people(ctx)
    done = await declared_ids(ctx, people)
    due = [p for p in people if p.id not in done]
    if not due:
        return []
    return [Reply(ctx.t("checkin.next_person", name=due[0].full_name),
                  [[Button(ctx.t("checkin.declare_for", name=due[0].full_name), Go("checkin", due[0].id).encode())]])]


FLOW = Flow(
    name="checkin",
    first="who",
    start=start,
    steps={
        "who": Step(ask_who, answer_who),
        "temperature": Step(ask_temperature, answer_temperature),
        "symptoms": Step(ask_symptoms, answer_symptoms),
        "spo2": Step(ask_spo2, answer_spo2),
        "breathing": Step(ask_breathing, answer_breathing),
        "note": Step(ask_note, answer_note),
    },
)
