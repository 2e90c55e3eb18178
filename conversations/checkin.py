"""The daily check-in: temperature, symptoms, SpO2, breathing rate, a note, a recap; then triage and, if needed,
an alert.

A danger sign is never kept waiting for the remaining questions: from the answer that shows it, what was given
is stored as a partial declaration and the station alerted; later answers update that declaration and alert.
A check-in left before its end (/huy, another command, 30 minutes of silence: scheduler/abandoned.py) is saved
as a partial declaration, triaged and alerted like any other (see `leave`).
"""
from __future__ import annotations

import copy
from datetime import timedelta

from sqlmodel import col, select

from chat import parse
from chat.messages import Button, Reply, one_per_row
from chat.payloads import Go
from chat.text import fold
from conversations.runtime import Context, Done, Flow, Input, Next, Outcome, Retry, Stay, Step, load_state
from health.slots import slot_of
from health.triage import DANGER, NORMAL, WATCH, Answers, Result, triage
from locales import number
from services.alerts import alert_of, raise_alert, update_copies
from services.contact import with_phone
from storage.models import ConversationState, Declaration, Person, PersonStatus, Station

NONE, DONE, SKIP = "none", "done", "skip"
NO_THERMOMETER, YES, NO, RIGHT, FIX = "nothermo", "yes", "no", "right", "fix"
ABANDONED_AFTER = timedelta(minutes=30)  # without an answer, a check-in is left: what was given is saved
# 261/QĐ-BYT: an abnormal SpO2 is measured again after a minute's rest before it counts. A reading still not
# repeated this long after is alerted on all the same (the project's own limit: a minute to rest, two to answer).
SPO2_RECHECK_WAIT = timedelta(minutes=3)
ANSWER_KEYS = ("temperature", "no_thermometer", "feverish", "symptoms", "spo2", "spo2_first", "breathing_rate", "note")
DECLARATION = "declaration_id"  # in the flow's data: the declaration stored at the first danger answer
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
    return [Reply(ctx.t("ask.temperature", name=name),
                  [[ctx.button("temperature", NO_THERMOMETER, "temperature.no_thermometer")]])]


async def answer_temperature(ctx: Context, inp: Input) -> Outcome:
    rules = ctx.core.rules
    if inp.choice == NO_THERMOMETER:
        ctx.data.update(temperature=None, no_thermometer=True)
        return await onward(ctx, "feverish")
    value = parse.temperature(inp.text or "")
    if value is None or not rules.temperature_min <= value <= rules.temperature_max:
        return Retry(ctx.t("err.temperature", low=number(ctx.lang, rules.temperature_min),
                           high=number(ctx.lang, rules.temperature_max)))
    ctx.data["temperature"] = round(value, 1)
    ctx.data.pop("no_thermometer", None)
    ctx.data.pop("feverish", None)
    ctx.data.setdefault("symptoms", [])
    return await onward(ctx, "symptoms")


async def ask_feverish(ctx: Context) -> list[Reply]:
    return [Reply(ctx.t("ask.feverish"), [[ctx.button("feverish", YES, "feverish.yes"),
                                            ctx.button("feverish", NO, "feverish.no")]])]


async def answer_feverish(ctx: Context, inp: Input) -> Outcome:
    typed = fold(inp.text or "")
    choice = inp.choice or (YES if typed in ("co", "yes") else NO if typed in ("khong", "no") else None)
    if choice not in (YES, NO):
        return Retry(ctx.t("err.use_buttons"))
    ctx.data["feverish"] = choice == YES
    ctx.data.setdefault("symptoms", [])
    return await onward(ctx, "symptoms")


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
        return await onward(ctx, "spo2")
    if inp.choice == DONE:
        return await onward(ctx, "spo2")
    if inp.choice in await symptom_codes(ctx):
        chosen.remove(inp.choice) if inp.choice in chosen else chosen.append(inp.choice)
        # A danger symptom just ticked alerts the station now, before "Xong": the person may stop here.
        told = DECLARATION not in ctx.data and await keep_station_told(ctx)
        # Only a pressed button's message can be edited: a typed label gets the list anew.
        edited = ctx.incoming.button is not None
        return Stay([await symptoms_reply(ctx, edit=edited), *(await station_told(ctx) if told else [])])
    typed = fold(inp.text or "")
    if typed in ("khong", "no", "none", "0") or typed.startswith("khong co"):
        chosen.clear()
        return await onward(ctx, "spo2")
    if typed in ("xong", "done"):  # the button's word, typed
        return await onward(ctx, "spo2")
    return Retry(ctx.t("err.symptoms"))


async def ask_spo2(ctx: Context) -> list[Reply]:
    return [Reply(ctx.t("ask.spo2"), [[ctx.button("spo2", SKIP, "spo2.no_meter")]])]


async def answer_spo2(ctx: Context, inp: Input) -> Outcome:
    if inp.choice == SKIP:
        ctx.data["spo2"] = None
        return await onward(ctx, "breathing")
    value = parse.spoken_number(inp.text or "")
    if value is None or not ctx.core.rules.spo2_min <= value <= 100:
        return Retry(ctx.t("err.spo2", low=ctx.core.rules.spo2_min))
    ctx.data.pop("spo2_first", None)
    so_far = await triage_so_far(ctx)
    if value <= ctx.core.rules.spo2_danger_max and (so_far is None or so_far.tier != DANGER):
        ctx.data["spo2_first"] = value  # alone, a low reading is measured again first (261/QĐ-BYT)
        ctx.data.pop("spo2", None)
        return Next("spo2_again")
    ctx.data["spo2"] = value
    return await onward(ctx, "breathing")


async def ask_spo2_again(ctx: Context) -> list[Reply]:
    return [Reply(ctx.t("ask.spo2_again", value=ctx.data.get("spo2_first", "")),
                  [[ctx.button("spo2_again", SKIP, "spo2.cannot_remeasure")]])]


async def answer_spo2_again(ctx: Context, inp: Input) -> Outcome:
    """The second reading is the one kept; none (the person cannot measure again): the first one counts."""
    if inp.choice == SKIP:
        ctx.data["spo2"] = ctx.data.get("spo2_first")
        return await onward(ctx, "breathing")
    value = parse.spoken_number(inp.text or "")
    if value is None or not ctx.core.rules.spo2_min <= value <= 100:
        return Retry(ctx.t("err.spo2", low=ctx.core.rules.spo2_min))
    ctx.data["spo2"] = value
    return await onward(ctx, "breathing")


async def ask_breathing(ctx: Context) -> list[Reply]:
    return [Reply(ctx.t("ask.breathing"), [[ctx.button("breathing", SKIP, "common.skip")]])]


async def answer_breathing(ctx: Context, inp: Input) -> Outcome:
    if inp.choice == SKIP:
        ctx.data["breathing_rate"] = None
        return await onward(ctx, "note")
    value = parse.spoken_number(inp.text or "")
    low, high = BREATHING_RANGE
    if value is None or not low <= value <= high:
        return Retry(ctx.t("err.breathing", low=low, high=high))
    ctx.data["breathing_rate"] = value
    return await onward(ctx, "note")


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
    return Next("recap")


async def ask_recap(ctx: Context) -> list[Reply]:
    return [Reply(await recap_text(ctx), [[ctx.button("recap", RIGHT, "recap.right"),
                                           ctx.button("recap", FIX, "recap.fix")]])]


async def recap_text(ctx: Context) -> str:
    """One line of what was recorded, in the person's words, before it is saved."""
    data, person = ctx.data, await person_of(ctx)
    if data.get("temperature") is not None:
        temperature = ctx.t("recap.temperature", value=number(ctx.lang, data["temperature"]))
    else:
        temperature = ctx.t("recap.felt_fever" if data.get("feverish") else "recap.no_fever")
    symptoms = ", ".join(symptom_label(ctx, c) for c in data.get("symptoms", [])) or ctx.t("recap.nothing")
    spo2 = f"{data['spo2']}%" if data.get("spo2") is not None else ctx.t("recap.not_measured")
    rate = data.get("breathing_rate")
    breathing = ctx.t("recap.per_minute", value=rate) if rate is not None else ctx.t("recap.not_measured")
    return ctx.t("recap.line", name=person.full_name if person else "", temperature=temperature,
                 symptoms=symptoms, spo2=spo2, breathing=breathing)


async def answer_recap(ctx: Context, inp: Input) -> Outcome:
    typed = fold(inp.text or "")
    choice = inp.choice or (RIGHT if typed in ("dung", "ok") else FIX if typed == "sua" else None)
    if choice == RIGHT:
        return await finish(ctx)
    if choice == FIX:  # from the first question again, nothing of the wrong answers kept
        for key in ANSWER_KEYS:
            ctx.data.pop(key, None)
        return Next("temperature")
    return Retry(ctx.t("err.use_buttons"))


def answers_given(ctx: Context, unconfirmed_spo2: bool = False) -> Answers | None:
    """The answers so far, or None before the temperature question was answered. A low SpO2 waiting to be
    measured again counts only when the person left (or took too long): it is all there is."""
    data = ctx.data
    if "temperature" not in data:
        return None
    spo2 = data.get("spo2")
    if spo2 is None and unconfirmed_spo2:
        spo2 = data.get("spo2_first")
    return Answers(data["temperature"], tuple(data.get("symptoms", [])), spo2, data.get("breathing_rate"),
                   bool(data.get("feverish")))


async def triage_so_far(ctx: Context) -> Result | None:
    person, answers = await person_of(ctx), answers_given(ctx)
    return None if person is None or answers is None else triage(ctx.core.rules, answers, age_of(ctx, person))


async def onward(ctx: Context, step: str) -> Outcome:
    """The next question, once the station knows of any danger sign in the answers so far."""
    first = DECLARATION not in ctx.data
    told = await keep_station_told(ctx)
    return Next(step, await station_told(ctx) if told and first else [])


async def keep_station_told(ctx: Context) -> bool:
    """From the first danger sign on, what was given is stored (partial) and the station's alert kept up to date."""
    result = await triage_so_far(ctx)
    if result is None or (DECLARATION not in ctx.data and result.tier != DANGER):
        return False
    return await store(ctx, partial=True) is not None


async def station_told(ctx: Context) -> list[Reply]:
    return [Reply(ctx.t("checkin.station_told")), await call_station(ctx)]


async def call_station(ctx: Context) -> Reply:
    """The number to call: the station's, when it has one set; 115 always."""
    person = await person_of(ctx)
    station = await ctx.session.get(Station, person.station_id) if person is not None else None
    if station is None or not station.phone:
        return Reply(ctx.t("checkin.call_115"))
    return Reply(ctx.t("checkin.call_station", station=station.label, phone=station.phone))


async def store(ctx: Context, partial: bool, unconfirmed_spo2: bool = False) -> tuple[Declaration, Result] | None:
    """Store (or update) this check-in's declaration from the answers so far, and alert the station when it is
    not normal (or update the alert it already has). None when there is nothing to store or nobody to store for."""
    person, answers = await person_of(ctx), answers_given(ctx, unconfirmed_spo2)
    if person is None or person.status != PersonStatus.ACTIVE or answers is None:
        return None
    assert person.id is not None  # read from the database
    result = triage(ctx.core.rules, answers, age_of(ctx, person))
    declaration = await ctx.session.get(Declaration, ctx.data.get(DECLARATION, 0))
    if declaration is None or declaration.person_id != person.id:
        day, slot = slot_of(ctx.core.rules, ctx.core.tz, ctx.now())
        declaration = Declaration(person_id=person.id, account_id=ctx.account_id, day=day, slot=slot,
                                  declared_at=ctx.core.utcnow(), tier=result.tier)
    declaration.temperature, declaration.symptoms = answers.temperature, list(answers.symptoms)
    declaration.spo2, declaration.breathing_rate, declaration.note = answers.spo2, answers.breathing_rate, \
        ctx.data.get("note")
    declaration.tier, declaration.reasons = result.tier, [r.as_json() for r in result.reasons]
    declaration.partial = partial
    ctx.session.add(declaration)
    await ctx.session.flush()
    ctx.data[DECLARATION] = declaration.id
    if result.tier != NORMAL:
        await raise_alert(ctx.session, ctx.core, person, declaration)
    elif (alert := await alert_of(ctx.session, declaration)) is not None:  # corrected to normal: shown so
        await update_copies(ctx.session, ctx.core, alert)
    return declaration, result


async def finish(ctx: Context) -> Outcome:
    stored = await store(ctx, partial=False)
    person = await person_of(ctx)
    if stored is None or person is None:
        return Done([Reply(ctx.t("checkin.person_gone"))])
    _, result = stored
    text = ctx.t(f"result.{result.tier}", name=person.full_name)
    if result.tier == WATCH:  # "call the station if it gets worse": with its number
        text = with_phone(ctx.lang, text, await ctx.session.get(Station, person.station_id))
    replies = [Reply(text)]
    if result.tier == DANGER:
        replies.append(await call_station(ctx))
    return Done([*replies, *await next_person(ctx)])


async def leave(ctx: Context, data: dict, unconfirmed_spo2: bool = True) -> list[Reply]:
    """The person left the check-in (its state `data`) before its end: what they gave is saved, partial."""
    left = Context(ctx.session, ctx.account, ctx.core, ctx.incoming, copy.deepcopy(data))
    stored = await store(left, partial=True, unconfirmed_spo2=unconfirmed_spo2)
    if stored is None:
        return []
    _, result = stored
    replies = [Reply(left.t("checkin.partial_alerted" if result.tier != NORMAL else "checkin.partial_saved"))]
    return [*replies, await call_station(left)] if result.tier == DANGER else replies


def snapshot(state: object) -> dict | None:
    """A check-in's data before an update that may leave it (a command, a button of another kind)."""
    return copy.deepcopy(state.data) if isinstance(state, ConversationState) and state.flow == FLOW_NAME else None


async def leave_if_left(ctx: Context, before: dict | None) -> list[Reply]:
    """After such an update: the check-in is gone or begun again (new data) -> `leave` saves what it held."""
    if before is None:
        return []
    state = await load_state(ctx.session, ctx.account_id)
    if state is not None and state.flow == FLOW_NAME and state.data == before:
        return []
    return await leave(ctx, before)


async def next_person(ctx: Context) -> list[Reply]:
    """Offer the next household member still due in this slot, so a family is declared in one go."""
    people = await active_people(ctx)
    done = await declared_ids(ctx, people)
    due = [p for p in people if p.id not in done]
    if not due:
        return []
    return [Reply(ctx.t("checkin.next_person", name=due[0].full_name),
                  [[Button(ctx.t("checkin.declare_for", name=due[0].full_name), Go("checkin", due[0].id).encode())]])]


FLOW_NAME = "checkin"
FLOW = Flow(
    name=FLOW_NAME,
    first="who",
    start=start,
    steps={
        "who": Step(ask_who, answer_who),
        "temperature": Step(ask_temperature, answer_temperature),
        "feverish": Step(ask_feverish, answer_feverish),
        "symptoms": Step(ask_symptoms, answer_symptoms),
        "spo2": Step(ask_spo2, answer_spo2),
        "spo2_again": Step(ask_spo2_again, answer_spo2_again),
        "breathing": Step(ask_breathing, answer_breathing),
        "note": Step(ask_note, answer_note),
        "recap": Step(ask_recap, answer_recap),
    },
)
