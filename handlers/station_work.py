"""Station work in a private chat: the lists (/danhsach), search (/tra), the person card and its actions,
and the open alerts (/canhbao).

Staff see and change their own station's people; admins see and change every station's; province viewers
see every station's and change nothing. Every button is checked again on press, because a payload can be
forged: a person of another station is refused and the attempt recorded.

Payloads (Telegram allows 64 bytes): "list:<kind|menu>:<page>:<scope>", "card:<person>",
"pa:<action>:<person>[:<value>]", "alerts:<scope>:<page>"; scope is a station id, or "p" for the province.
"""
from __future__ import annotations

import re
from datetime import date

from chat.messages import Button, Reply
from chat.payloads import AlertsPage, CardAction, CardOpen, ListPage
from chat.text import one_line
from conversations import person_changes, staff_flows
from conversations.access import refuse, require
from conversations.runtime import Context, Refused, begin
from conversations.staff_flows import drop_staff_flow
from conversations.station_views import (
    MENU,
    THEN_ALERTS,
    THEN_LISTS,
    TIER_KEYS,
    age,
    alert_page,
    menu_reply,
    moment,
    own_scope,
    page_reply,
    results_replies,
    scope_from,
    scope_name,
    taken_text,
)
from locales import number
from storage.audit import history
from storage.models import AuditEvent, Person, PersonStatus, RequestStatus
from storage.people import (
    LIST_KINDS,
    alerts_of,
    declarations_of,
    find_people,
    notes_of,
    reporter_of,
    requests_of,
)
from storage.roles import ADMIN, PROVINCE, STAFF, Access, staff_member

CARD_DECLARATIONS, CARD_ALERTS, CARD_REQUESTS, CARD_NOTES, CARD_HISTORY = 10, 5, 5, 5, 10
CARD_NOTE_CHARS = 200  # a note in full is one tap away in the history; the card must stay one message
MESSAGE_LIMIT = 4000  # Telegram takes 4096 (UTF-16 units); room for a closing "…"
REQUEST_KEYS: dict[str, str] = {status: f"card.request.{status}" for status in RequestStatus}
HISTORY_KEYS = {"person.end_early": "card.history.end_early", "person.extend": "card.history.extend",
                "person.category": "card.history.category", "person.transfer": "card.history.transfer",
                "person.review": "card.history.review", "person.note": "card.history.note"}
_ACTOR_NAME = re.compile(r"\((.+)\)$")


# --- who asks, and for which station -------------------------------------------------------------------


async def staff_access(ctx: Context) -> Access:
    """Staff, province viewers and admins, in a private chat: people's records stay out of groups."""
    if ctx.incoming.chat_type != "private":
        raise Refused([Reply(ctx.t("lists.private_only"), toast=ctx.incoming.button is not None)])
    return await require(ctx, ADMIN, PROVINCE, STAFF)


# --- /danhsach -----------------------------------------------------------------------------------------


async def lists(ctx: Context) -> list[Reply]:
    """/danhsach: staff get their station's menu; admins and viewers pick a station or the province first."""
    granted = await staff_access(ctx)
    await drop_staff_flow(ctx)
    scope = own_scope(granted)
    if scope is False:
        return await refuse(ctx, "lists")
    if scope is not None:
        return [await menu_reply(ctx, scope)]
    query = " ".join(ctx.incoming.command[1]) if ctx.incoming.command else ""
    return await begin(ctx, staff_flows.SCOPE_FLOW, {"then": THEN_LISTS, "query": query})


async def press_list(ctx: Context) -> list[Reply]:
    """A list's page, or the menu, edited into the message that was pressed."""
    granted = await staff_access(ctx)
    pressed = ListPage.parse(ctx.incoming.button)
    scope = scope_from(granted, pressed.scope) if pressed else False
    if pressed is None or scope is False or not (pressed.kind == MENU or pressed.kind in LIST_KINDS):
        await refuse(ctx, ctx.incoming.button or "list")
    kind = pressed.kind
    reply = await menu_reply(ctx, scope) if kind == MENU else await page_reply(ctx, kind, scope, pressed.page)
    reply.edit_id = ctx.incoming.message_id
    return [reply]


# --- /tra ----------------------------------------------------------------------------------------------


async def find(ctx: Context) -> list[Reply]:
    """/tra QUERY, or /tra and then the query: phone (any format), CCCD, or name without accents."""
    granted = await staff_access(ctx)
    scope = own_scope(granted)
    if scope is False:
        return await refuse(ctx, "find")
    await drop_staff_flow(ctx)
    query = " ".join(ctx.incoming.command[1]) if ctx.incoming.command else ""
    if len(query.strip()) < staff_flows.QUERY_MIN:
        return await begin(ctx, staff_flows.FIND_FLOW)
    found = await find_people(ctx.session, query, scope)
    if found.people:
        return await results_replies(ctx, found, scope)
    return [Reply(ctx.t("find.none", query=query[:50])), *await begin(ctx, staff_flows.FIND_FLOW)]


# --- the person card -----------------------------------------------------------------------------------


async def visible_person(ctx: Context, person_id: int | None) -> tuple[Access, Person] | list[Reply]:
    """The card's person if the caller may see it; a refusal (recorded) for another station's."""
    granted = await staff_access(ctx)
    person = await ctx.session.get(Person, person_id) if person_id is not None else None
    if person is None:
        return [Reply(ctx.t("card.not_found"))]
    if not granted.sees(person.station_id) or own_scope(granted) is False:
        return await refuse(ctx, ctx.incoming.button[:64] if ctx.incoming.button else "card")
    return granted, person


async def press_card(ctx: Context) -> list[Reply]:
    pressed = CardOpen.parse(ctx.incoming.button)
    seen = await visible_person(ctx, pressed.person_id if pressed else None)
    if isinstance(seen, list):
        return seen
    await drop_staff_flow(ctx)
    return [await card_reply(ctx, *seen)]


async def card_reply(ctx: Context, granted: Access, person: Person) -> Reply:
    sections = [await details(ctx, person), await declaration_lines(ctx, person), await alert_lines(ctx, person),
                await request_lines(ctx, person), await note_lines(ctx, person), await history_lines(ctx, person)]
    text = "\n\n".join("\n".join(lines) for lines in sections if lines)
    if len(text) > MESSAGE_LIMIT:
        text = text[:MESSAGE_LIMIT] + "…"
    if not granted.changes(person.station_id):
        return Reply(text)
    return Reply(text, card_buttons(ctx, person))


def card_buttons(ctx: Context, person: Person) -> list[list[Button]]:
    person_id = person.id
    assert person_id is not None  # read from the database (visible_person)

    def b(key: str, action: str) -> Button:
        return Button(ctx.t(key), CardAction(action, person_id).encode())

    rows = []
    if person.status == PersonStatus.ACTIVE:
        rows += [[b("card.button.end", "end"), b("card.button.extend", "ext")],
                 [b("card.button.category", "cat"), b("card.button.transfer", "xfer")]]
    rows.append([b("card.button.review", "rev"), b("card.button.note", "note")])
    return rows


async def details(ctx: Context, person: Person) -> list[str]:
    station = await scope_name(ctx, person.station_id)
    lines = [
        ctx.t("card.title", name=person.full_name, id=person.id),
        ctx.t("card.born", year=person.birth_year, age=age(ctx, person), gender=ctx.t(f"gender.{person.gender}")),
        ctx.t("card.phone", phone=person.phone, id_number=person.id_number or ctx.t("summary.none")),
        ctx.t("card.address", address=one_line(person.address)),  # an imported cell may hold line breaks
        ctx.t("card.station", station=station),
        ctx.t("card.category", category=ctx.t(f"category.{person.category}"), start=day(person.start_date),
              end=day(person.end_date)),
    ]
    if person.status == PersonStatus.ACTIVE:
        lines.append(ctx.t("card.status_active", left=max((person.end_date - ctx.today()).days + 1, 0)))
    else:
        lines.append(ctx.t("card.status_completed"))
    lines.append(await reporter_line(ctx, person))
    lines.append(ctx.t("card.reviewed", who=person.reviewed_by, at=moment(ctx, person.reviewed_at))
                 if person.reviewed_at else ctx.t("card.not_reviewed"))
    return [line for line in lines if line]


async def reporter_line(ctx: Context, person: Person) -> str:
    if person.is_self:
        return ""
    reporter = await reporter_of(ctx.session, person)
    if reporter is None:
        return ctx.t("card.reporter_unknown")
    return ctx.t("card.reporter", name=reporter.full_name, phone=reporter.phone)


def day(value: date) -> str:
    return value.strftime("%d/%m/%Y")


async def declaration_lines(ctx: Context, person: Person) -> list[str]:
    assert person.id is not None  # read from the database (visible_person)
    rows = await declarations_of(ctx.session, person.id, CARD_DECLARATIONS)
    lines = [ctx.t("card.declarations", count=len(rows))]
    for d in rows:
        labels = [ctx.core.rules.symptom_label(code, ctx.lang) for code in d.symptoms]
        symptoms = ", ".join(labels) or ctx.t("card.no_symptoms")
        lines.append(ctx.t("card.declaration", day=d.day.strftime("%d/%m"), slot=d.slot,
                           temperature=number(ctx.lang, d.temperature), spo2=dash(d.spo2),
                           breathing=dash(d.breathing_rate), symptoms=symptoms, tier=ctx.t(TIER_KEYS[d.tier])))
    return lines if rows else [*lines, ctx.t("card.none")]


def dash(value: object) -> str:
    return "—" if value is None else str(value)


async def alert_lines(ctx: Context, person: Person) -> list[str]:
    assert person.id is not None  # read from the database (visible_person)
    rows = await alerts_of(ctx.session, person.id, CARD_ALERTS)
    if not rows:
        return []
    lines = [ctx.t("card.alerts")]
    for alert in rows:
        lines.append(ctx.t("card.alert", at=moment(ctx, alert.created_at), tier=ctx.t(TIER_KEYS[alert.tier]),
                           status=taken_text(ctx, alert)))
    return lines


async def request_lines(ctx: Context, person: Person) -> list[str]:
    assert person.id is not None  # read from the database (visible_person)
    rows = await requests_of(ctx.session, person.id, CARD_REQUESTS)
    if not rows:
        return []
    return [ctx.t("card.requests"), *(ctx.t("card.request", at=moment(ctx, r.created_at),
                                            status=ctx.t(REQUEST_KEYS.get(r.status, "card.request.new")))
                                      for r in rows)]


async def note_lines(ctx: Context, person: Person) -> list[str]:
    assert person.id is not None  # read from the database (visible_person)
    rows = await notes_of(ctx.session, person.id, CARD_NOTES)
    if not rows:
        return []
    return [ctx.t("card.notes"), *(ctx.t("card.note", at=moment(ctx, n.at), author=n.author,
                                         text=shorten(one_line(n.text), CARD_NOTE_CHARS)) for n in reversed(rows))]


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


async def history_lines(ctx: Context, person: Person) -> list[str]:
    events = (await history(ctx.session, "person", person.id))[-CARD_HISTORY:]
    if not events:
        return []
    names = await staff_names(ctx, {e.actor for e in events})
    return [ctx.t("card.history"), *(ctx.t("card.history_line", at=moment(ctx, e.at),
                                           who=names.get(e.actor) or actor_name(e.actor), what=change_text(ctx, e))
                                     for e in events)]


async def staff_names(ctx: Context, actors: set[str]) -> dict[str, str]:
    """'telegram:501' -> 'Lan': the audit trail keeps the id only; the name colleagues know is the staff record's."""
    names = {}
    for who in actors:
        channel, _, user_id = who.partition(":")
        member = await staff_member(ctx.session, channel, user_id) if user_id.isdigit() else None
        if member is not None and member.name:
            names[who] = one_line(member.name)
    return names


def actor_name(actor: str) -> str:
    """'telegram:501 (Lan)' -> 'Lan', as older audit rows name the actor; the ids stay in the audit trail."""
    match = _ACTOR_NAME.search(actor)
    return match.group(1) if match else actor


def change_text(ctx: Context, event: AuditEvent) -> str:
    """The shortest readable form of a change: a sentence for the card's own actions, else what changed."""
    before, after = event.before or {}, event.after or {}
    key = HISTORY_KEYS.get(event.action)
    if key is None:
        changed = [f"{k}: {before.get(k, '—')} → {v}" for k, v in after.items() if before.get(k) != v]
        return shorten(one_line("; ".join([event.action, *changed])), 200)
    params = {"before": iso_day(before.get("end_date")), "after": iso_day(after.get("end_date")),
              "days": after.get("days", ""),
              "old": before.get("station_name", ""), "new": after.get("station_name", ""),
              "category": ctx.t(f"category.{after['category']}") if after.get("category") else ""}
    return ctx.t(key, **params)


def iso_day(value: str | None) -> str:
    if not value:
        return "—"
    return "/".join(reversed(value.split("-")))


# --- the card's actions --------------------------------------------------------------------------------


async def press_action(ctx: Context) -> list[Reply]:
    """pa:<action>:<person>[:<value>]: only those who may change the person's station get past here."""
    pressed = CardAction.parse(ctx.incoming.button)
    seen = await visible_person(ctx, pressed.person_id if pressed else None)
    if isinstance(seen, list):
        return seen
    granted, person = seen
    assert pressed is not None and ctx.incoming.button is not None  # a person was found: the payload was read
    action, value = pressed.action, pressed.value
    handler = ACTIONS.get(action)
    if handler is None or not granted.changes(person.station_id):
        return await refuse(ctx, ctx.incoming.button[:64])
    if person.status != PersonStatus.ACTIVE and action not in ("rev", "note"):
        return [Reply(ctx.t("card.completed", name=person.full_name))]
    return await handler(ctx, granted, person, value)


async def ask_end(ctx: Context, granted: Access, person: Person, _: str) -> list[Reply]:
    assert person.id is not None  # read from the database (visible_person)
    buttons = [[Button(ctx.t("card.button.end_confirm"), CardAction("endok", person.id).encode()),
                Button(ctx.t("card.button.keep"), CardAction("keep", person.id).encode())]]
    return [Reply(ctx.t("card.ask_end", name=person.full_name, end=day(person.end_date),
                        today=day(ctx.today())), buttons)]


async def confirm_end(ctx: Context, granted: Access, person: Person, _: str) -> list[Reply]:
    return edited(ctx, await person_changes.end_early(ctx, person))


async def keep(ctx: Context, granted: Access, person: Person, _: str) -> list[Reply]:
    return edited(ctx, [Reply(ctx.t("card.nothing_changed"), [person_changes.card_button(ctx, person)])])


async def category(ctx: Context, granted: Access, person: Person, value: str) -> list[Reply]:
    """Without a value: the categories as buttons; with one: the change."""
    assert person.id is not None  # read from the database (visible_person)
    categories = ctx.core.rules.categories
    if value in categories:
        return edited(ctx, await person_changes.change_category(ctx, person, value))
    buttons = [[Button(("✓ " if c == person.category else "") + ctx.t(f"category.{c}"),
                       CardAction("cat", person.id, c).encode())] for c in categories]
    return [Reply(ctx.t("card.ask_category", name=person.full_name), buttons)]


async def review(ctx: Context, granted: Access, person: Person, _: str) -> list[Reply]:
    notice = await person_changes.mark_reviewed(ctx, person)
    card = await card_reply(ctx, granted, person)
    return [Reply(notice, toast=True), *edited(ctx, [card])]


def flow_action(flow):
    async def start(ctx: Context, granted: Access, person: Person, _: str) -> list[Reply]:
        return await begin(ctx, flow, {"person_id": person.id})
    return start


def edited(ctx: Context, replies: list[Reply]) -> list[Reply]:
    """The first reply replaces the pressed message (a question answered, a card refreshed)."""
    if replies and ctx.incoming.message_id:
        replies[0].edit_id = ctx.incoming.message_id
    return replies


ACTIONS = {
    "end": ask_end, "endok": confirm_end, "keep": keep, "cat": category, "rev": review,
    "ext": flow_action(staff_flows.EXTEND_FLOW), "xfer": flow_action(staff_flows.TRANSFER_FLOW),
    "note": flow_action(staff_flows.NOTE_FLOW),
}


# --- /canhbao ------------------------------------------------------------------------------------------


async def alerts(ctx: Context) -> list[Reply]:
    """/canhbao: open alerts, newest first. Staff: their station's; admins and viewers: all, or
    /canhbao NAME for one station."""
    granted = await staff_access(ctx)
    scope = own_scope(granted)
    if scope is False:
        return await refuse(ctx, "alerts")
    await drop_staff_flow(ctx)
    query = " ".join(ctx.incoming.command[1]) if ctx.incoming.command else ""
    if scope is None and query.strip():
        return await begin(ctx, staff_flows.SCOPE_FLOW, {"then": THEN_ALERTS, "query": query})
    return await alert_page(ctx, scope, 0)


async def press_alerts(ctx: Context) -> list[Reply]:
    granted = await staff_access(ctx)
    pressed = AlertsPage.parse(ctx.incoming.button)
    scope = scope_from(granted, pressed.scope) if pressed else False
    if pressed is None or scope is False:
        await refuse(ctx, ctx.incoming.button or "alerts")
    return await alert_page(ctx, scope, pressed.page)


