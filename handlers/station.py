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
from datetime import date, datetime

from sqlmodel import col, select

from conversations import parse, staff_actions
from conversations.alerts import alert_buttons
from conversations.messages import Button, Reply
from conversations.runtime import Context, begin
from conversations.staff_actions import THEN_ALERTS, THEN_LISTS, drop_staff_flow
from handlers.access import refuse, require
from locales import number
from storage.audit import history
from storage.models import Alert, AuditEvent, Declaration, Person, Station
from storage.people import (
    ABNORMAL,
    ACTIVE,
    ENDING_SOON,
    LIST_KINDS,
    NOT_DECLARED,
    UNDER_QUARANTINE,
    Found,
    alerts_of,
    count_list,
    declarations_of,
    find_people,
    last_declarations,
    list_page,
    notes_of,
    open_alerts,
    reporter_of,
    requests_of,
)
from storage.roles import ADMIN, PROVINCE, STAFF, Access

PAGE_SIZE = 10
PROVINCE_TOKEN = "p"
MENU = "menu"
CARD_DECLARATIONS, CARD_ALERTS, CARD_REQUESTS, CARD_NOTES, CARD_HISTORY = 10, 5, 5, 5, 10
CARD_NOTE_CHARS = 200  # a note in full is one tap away in the history; the card must stay one message
MESSAGE_LIMIT = 4000  # Telegram takes 4096 (UTF-16 units); room for a closing "…"
LIST_KEYS = {UNDER_QUARANTINE: "lists.name.act", ABNORMAL: "lists.name.abn", NOT_DECLARED: "lists.name.nod",
             ENDING_SOON: "lists.name.end"}
TIER_KEYS = {"danger": "lists.tier.danger", "watch": "lists.tier.watch", "normal": "lists.tier.normal",
             "silent": "lists.tier.silent"}
REQUEST_KEYS = {"new": "card.request.new", "in_progress": "card.request.in_progress", "done": "card.request.done"}
HISTORY_KEYS = {"person.end_early": "card.history.end_early", "person.extend": "card.history.extend",
                "person.category": "card.history.category", "person.transfer": "card.history.transfer",
                "person.review": "card.history.review", "person.note": "card.history.note"}
_ACTOR_NAME = re.compile(r"\((.+)\)$")


# --- who asks, and for which station -------------------------------------------------------------------


async def staff_access(ctx: Context) -> Access | list[Reply]:
    """Staff, province viewers and admins, in a private chat: people's records stay out of groups."""
    if ctx.incoming.chat_type != "private":
        return [Reply(ctx.t("lists.private_only"), toast=ctx.incoming.button is not None)]
    return await require(ctx, ADMIN, PROVINCE, STAFF)


def own_scope(granted: Access) -> int | bool | None:
    """A staff member's station; None (the whole province) for admins and viewers; False: no scope at all."""
    if granted.role in (ADMIN, PROVINCE):
        return None
    if granted.role == STAFF and granted.station_id is not None:
        return granted.station_id
    return False


def scope_from(granted: Access, token: str) -> int | bool | None:
    """The station a payload names, if the caller may see it; False for a forged or broken one."""
    own = own_scope(granted)
    if own is False or not (token == PROVINCE_TOKEN or parse.payload_number(token) is not None):
        return False
    wanted = None if token == PROVINCE_TOKEN else parse.payload_number(token)
    if own is not None and wanted != own:
        return False
    return wanted


def token_of(station_id: int | None) -> str:
    return PROVINCE_TOKEN if station_id is None else str(station_id)


async def scope_name(ctx: Context, station_id: int | None) -> str:
    if station_id is None:
        return ctx.t("lists.province")
    station = await ctx.session.get(Station, station_id)
    return (station.full_name or station.name) if station else str(station_id)


def payload_parts(ctx: Context, count: int) -> list[str]:
    """The button's payload split on ':', padded with empty strings to `count` parts."""
    parts = ctx.incoming.button.split(":")
    return parts + [""] * (count - len(parts))


def as_id(text: str) -> int | None:
    return parse.payload_number(text)


# --- /danhsach -----------------------------------------------------------------------------------------


async def lists(ctx: Context) -> list[Reply]:
    """/danhsach: staff get their station's menu; admins and viewers pick a station or the province first."""
    granted = await staff_access(ctx)
    if isinstance(granted, list):
        return granted
    await drop_staff_flow(ctx)
    scope = own_scope(granted)
    if scope is False:
        return await refuse(ctx, "lists")
    if scope is not None:
        return [await menu_reply(ctx, scope)]
    query = " ".join(ctx.incoming.command[1]) if ctx.incoming.command else ""
    return await begin(ctx, staff_actions.SCOPE_FLOW, {"then": THEN_LISTS, "query": query})


async def after_scope(ctx: Context, then: str | None, station_id: int | None) -> list[Reply]:
    """Where an admin's or viewer's station pick leads."""
    if then == THEN_ALERTS:
        return await alert_page(ctx, station_id, 0)
    return [await menu_reply(ctx, station_id)]


async def menu_reply(ctx: Context, station_id: int | None) -> Reply:
    today, token = ctx.today(), token_of(station_id)
    buttons = []
    for kind in LIST_KINDS:
        count = await count_list(ctx.session, kind, station_id, today)
        label = ctx.t("lists.menu_item", name=ctx.t(LIST_KEYS[kind]), count=count)
        buttons.append([Button(label, f"list:{kind}:0:{token}")])
    return Reply(ctx.t("lists.menu", scope=await scope_name(ctx, station_id)), buttons)


async def press_list(ctx: Context) -> list[Reply]:
    """A list's page, or the menu, edited into the message that was pressed."""
    granted = await staff_access(ctx)
    if isinstance(granted, list):
        return granted
    _, kind, page, token = payload_parts(ctx, 4)[:4]
    scope = scope_from(granted, token)
    if scope is False or not (kind == MENU or kind in LIST_KINDS) or parse.payload_number(page) is None:
        return await refuse(ctx, ctx.incoming.button[:64])
    reply = await menu_reply(ctx, scope) if kind == MENU else await page_reply(ctx, kind, scope, int(page))
    reply.edit_id = ctx.incoming.message_id
    return [reply]


async def page_reply(ctx: Context, kind: str, station_id: int | None, page: int) -> Reply:
    today, token = ctx.today(), token_of(station_id)
    name, scope = ctx.t(LIST_KEYS[kind]), await scope_name(ctx, station_id)
    back = [Button(ctx.t("lists.back"), f"list:{MENU}:0:{token}")]
    total = await count_list(ctx.session, kind, station_id, today)
    if total == 0:
        return Reply(ctx.t("lists.empty", name=name, scope=scope), [back])
    pages = -(-total // PAGE_SIZE)
    page = min(page, pages - 1)  # the list may have shrunk since the button was drawn
    people = await list_page(ctx.session, kind, station_id, today, page, PAGE_SIZE)
    first = page * PAGE_SIZE + 1
    title = ctx.t("lists.title", name=name, scope=scope, count=total, page=page + 1, pages=pages)
    lines, buttons = await entries(ctx, people, first, show_station=station_id is None)
    nav = []
    if page > 0:
        nav.append(Button(ctx.t("lists.prev"), f"list:{kind}:{page - 1}:{token}"))
    if page < pages - 1:
        nav.append(Button(ctx.t("lists.next"), f"list:{kind}:{page + 1}:{token}"))
    return Reply("\n".join([title, *lines]), [*buttons, *([nav] if nav else []), back])


async def entries(ctx: Context, people: list[Person], first: int,
                  show_station: bool) -> tuple[list[str], list[list[Button]]]:
    """One numbered line per person (name, age, phone, last declaration) and a button to their card."""
    last = await last_declarations(ctx.session, [p.id for p in people])
    stations = await station_names(ctx, {p.station_id for p in people}) if show_station else {}
    lines, buttons = [], []
    for offset, person in enumerate(people):
        n = first + offset
        line = ctx.t("lists.entry", number=n, name=person.full_name, age=age(ctx, person), phone=person.phone,
                     status=status_text(ctx, person, last.get(person.id)))
        if show_station:
            line += ctx.t("lists.entry_station", station=stations.get(person.station_id, ""))
        lines.append(line)
        buttons.append([Button(ctx.t("lists.button", number=n, name=person.full_name), f"card:{person.id}")])
    return lines, buttons


async def station_names(ctx: Context, ids: set[int]) -> dict[int, str]:
    rows = (await ctx.session.exec(select(Station).where(col(Station.id).in_(ids)))).all() if ids else []
    return {s.id: s.full_name or s.name for s in rows}


def age(ctx: Context, person: Person) -> int:
    return ctx.today().year - person.birth_year


def status_text(ctx: Context, person: Person, declaration: Declaration | None) -> str:
    if person.status != ACTIVE:
        return ctx.t("lists.status_completed")
    if declaration is None:
        return ctx.t("lists.status_none")
    return ctx.t("lists.status_last", tier=ctx.t(TIER_KEYS.get(declaration.tier, "lists.tier.normal")),
                 at=moment(ctx, declaration.declared_at))


def moment(ctx: Context, at: datetime) -> str:
    return ctx.core.to_local(at).strftime("%H:%M %d/%m")


# --- /tra ----------------------------------------------------------------------------------------------


async def find(ctx: Context) -> list[Reply]:
    """/tra QUERY, or /tra and then the query: phone (any format), CCCD, or name without accents."""
    granted = await staff_access(ctx)
    if isinstance(granted, list):
        return granted
    scope = own_scope(granted)
    if scope is False:
        return await refuse(ctx, "find")
    await drop_staff_flow(ctx)
    query = " ".join(ctx.incoming.command[1]) if ctx.incoming.command else ""
    if len(query.strip()) < staff_actions.QUERY_MIN:
        return await begin(ctx, staff_actions.FIND_FLOW)
    found = await find_people(ctx.session, query, scope)
    if found.people:
        return await results_replies(ctx, found, scope)
    return [Reply(ctx.t("find.none", query=query[:50])), *await begin(ctx, staff_actions.FIND_FLOW)]


async def results_replies(ctx: Context, found: Found, station_id: int | None) -> list[Reply]:
    lines, buttons = await entries(ctx, found.people, 1, show_station=station_id is None)
    head = [ctx.t("find.found", count=found.total)]
    if found.total > len(found.people):
        head.append(ctx.t("find.more", shown=len(found.people)))
    return [Reply("\n".join([*head, *lines]), buttons)]


# --- the person card -----------------------------------------------------------------------------------


async def visible_person(ctx: Context, person_id: int | None) -> tuple[Access, Person] | list[Reply]:
    """The card's person if the caller may see it; a refusal (recorded) for another station's."""
    granted = await staff_access(ctx)
    if isinstance(granted, list):
        return granted
    person = await ctx.session.get(Person, person_id) if person_id is not None else None
    if person is None:
        return [Reply(ctx.t("card.not_found"))]
    if not granted.sees(person.station_id) or own_scope(granted) is False:
        return await refuse(ctx, ctx.incoming.button[:64] if ctx.incoming.button else "card")
    return granted, person


async def press_card(ctx: Context) -> list[Reply]:
    seen = await visible_person(ctx, as_id(payload_parts(ctx, 2)[1]))
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
    def b(key: str, action: str) -> Button:
        return Button(ctx.t(key), f"pa:{action}:{person.id}")

    rows = []
    if person.status == ACTIVE:
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
        ctx.t("card.address", address=person.address),
        ctx.t("card.station", station=station),
        ctx.t("card.category", category=ctx.t(f"category.{person.category}"), start=day(person.start_date),
              end=day(person.end_date)),
    ]
    if person.status == ACTIVE:
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
    rows = await declarations_of(ctx.session, person.id, CARD_DECLARATIONS)
    lines = [ctx.t("card.declarations", count=len(rows))]
    for d in rows:
        symptoms = ", ".join(symptom_name(ctx, code) for code in d.symptoms) or ctx.t("card.no_symptoms")
        lines.append(ctx.t("card.declaration", day=d.day.strftime("%d/%m"), slot=d.slot,
                           temperature=number(ctx.lang, d.temperature), spo2=dash(d.spo2),
                           breathing=dash(d.breathing_rate), symptoms=symptoms, tier=ctx.t(TIER_KEYS[d.tier])))
    return lines if rows else [*lines, ctx.t("card.none")]


def symptom_name(ctx: Context, code: str) -> str:
    symptom = ctx.core.rules.symptom(code)
    custom = symptom.label.get(ctx.lang) if symptom is not None else None
    return custom or ctx.t(f"symptom.{code}")


def dash(value: object) -> str:
    return "—" if value is None else str(value)


async def alert_lines(ctx: Context, person: Person) -> list[str]:
    rows = await alerts_of(ctx.session, person.id, CARD_ALERTS)
    if not rows:
        return []
    lines = [ctx.t("card.alerts")]
    for alert in rows:
        lines.append(ctx.t("card.alert", at=moment(ctx, alert.created_at), tier=ctx.t(TIER_KEYS[alert.tier]),
                           status=taken_text(ctx, alert)))
    return lines


def taken_text(ctx: Context, alert: Alert) -> str:
    if alert.resolved_at:
        return ctx.t("card.alert_resolved", who=alert.resolved_by, at=moment(ctx, alert.resolved_at))
    if alert.acknowledged_at:
        return ctx.t("card.alert_acknowledged", who=alert.acknowledged_by, at=moment(ctx, alert.acknowledged_at))
    return ctx.t("card.alert_open")


async def request_lines(ctx: Context, person: Person) -> list[str]:
    rows = await requests_of(ctx.session, person.id, CARD_REQUESTS)
    if not rows:
        return []
    return [ctx.t("card.requests"), *(ctx.t("card.request", at=moment(ctx, r.created_at),
                                            status=ctx.t(REQUEST_KEYS.get(r.status, "card.request.new")))
                                      for r in rows)]


async def note_lines(ctx: Context, person: Person) -> list[str]:
    rows = await notes_of(ctx.session, person.id, CARD_NOTES)
    if not rows:
        return []
    return [ctx.t("card.notes"), *(ctx.t("card.note", at=moment(ctx, n.at), author=n.author,
                                         text=shorten(n.text, CARD_NOTE_CHARS)) for n in reversed(rows))]


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


async def history_lines(ctx: Context, person: Person) -> list[str]:
    events = (await history(ctx.session, "person", person.id))[-CARD_HISTORY:]
    if not events:
        return []
    return [ctx.t("card.history"), *(ctx.t("card.history_line", at=moment(ctx, e.at), who=actor_name(e.actor),
                                           what=change_text(ctx, e)) for e in events)]


def actor_name(actor: str) -> str:
    """'telegram:501 (Lan)' -> 'Lan': the name colleagues know; the ids stay in the audit trail."""
    match = _ACTOR_NAME.search(actor)
    return match.group(1) if match else actor


def change_text(ctx: Context, event: AuditEvent) -> str:
    """The shortest readable form of a change: a sentence for the card's own actions, else what changed."""
    before, after = event.before or {}, event.after or {}
    key = HISTORY_KEYS.get(event.action)
    if key is None:
        changed = [f"{k}: {before.get(k, '—')} → {v}" for k, v in after.items() if before.get(k) != v]
        return shorten("; ".join([event.action, *changed]), 200)
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
    _, action, person_id, value = payload_parts(ctx, 4)[:4]
    seen = await visible_person(ctx, as_id(person_id))
    if isinstance(seen, list):
        return seen
    granted, person = seen
    handler = ACTIONS.get(action)
    if handler is None or not granted.changes(person.station_id):
        return await refuse(ctx, ctx.incoming.button[:64])
    if person.status != ACTIVE and action not in ("rev", "note"):
        return [Reply(ctx.t("card.completed", name=person.full_name))]
    return await handler(ctx, granted, person, value)


async def ask_end(ctx: Context, granted: Access, person: Person, _: str) -> list[Reply]:
    buttons = [[Button(ctx.t("card.button.end_confirm"), f"pa:endok:{person.id}"),
                Button(ctx.t("card.button.keep"), f"pa:keep:{person.id}")]]
    return [Reply(ctx.t("card.ask_end", name=person.full_name, end=day(person.end_date),
                        today=day(ctx.today())), buttons)]


async def confirm_end(ctx: Context, granted: Access, person: Person, _: str) -> list[Reply]:
    return edited(ctx, await staff_actions.end_early(ctx, person))


async def keep(ctx: Context, granted: Access, person: Person, _: str) -> list[Reply]:
    return edited(ctx, [Reply(ctx.t("card.nothing_changed"), [staff_actions.card_button(ctx, person.id)])])


async def category(ctx: Context, granted: Access, person: Person, value: str) -> list[Reply]:
    """Without a value: the categories as buttons; with one: the change."""
    categories = ctx.core.rules.categories
    if value in categories:
        return edited(ctx, await staff_actions.change_category(ctx, person, value))
    buttons = [[Button(("✓ " if c == person.category else "") + ctx.t(f"category.{c}"), f"pa:cat:{person.id}:{c}")]
               for c in categories]
    return [Reply(ctx.t("card.ask_category", name=person.full_name), buttons)]


async def review(ctx: Context, granted: Access, person: Person, _: str) -> list[Reply]:
    notice = await staff_actions.mark_reviewed(ctx, person)
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
    "ext": flow_action(staff_actions.EXTEND_FLOW), "xfer": flow_action(staff_actions.TRANSFER_FLOW),
    "note": flow_action(staff_actions.NOTE_FLOW),
}


# --- /canhbao ------------------------------------------------------------------------------------------


async def alerts(ctx: Context) -> list[Reply]:
    """/canhbao: open alerts, newest first. Staff: their station's; admins and viewers: all, or
    /canhbao NAME for one station."""
    granted = await staff_access(ctx)
    if isinstance(granted, list):
        return granted
    scope = own_scope(granted)
    if scope is False:
        return await refuse(ctx, "alerts")
    await drop_staff_flow(ctx)
    query = " ".join(ctx.incoming.command[1]) if ctx.incoming.command else ""
    if scope is None and query.strip():
        return await begin(ctx, staff_actions.SCOPE_FLOW, {"then": THEN_ALERTS, "query": query})
    return await alert_page(ctx, scope, 0)


async def press_alerts(ctx: Context) -> list[Reply]:
    granted = await staff_access(ctx)
    if isinstance(granted, list):
        return granted
    _, token, page = payload_parts(ctx, 3)[:3]
    scope = scope_from(granted, token)
    if scope is False or parse.payload_number(page) is None:
        return await refuse(ctx, ctx.incoming.button[:64])
    return await alert_page(ctx, scope, int(page))


async def alert_page(ctx: Context, station_id: int | None, page: int) -> list[Reply]:
    """A heading, then one message per alert, so that taking one updates that message in place."""
    rows, total = await open_alerts(ctx.session, station_id, page * PAGE_SIZE, PAGE_SIZE)
    scope = await scope_name(ctx, station_id)
    if not rows:
        return [Reply(ctx.t("alertlist.none", scope=scope))]
    first = page * PAGE_SIZE + 1
    replies = [Reply(ctx.t("alertlist.title", scope=scope, count=total, first=first, last=first + len(rows) - 1))]
    stations = await station_names(ctx, {a.station_id for a, _ in rows}) if station_id is None else {}
    for alert, person in rows:
        text = ctx.t("alertlist.item", tier=ctx.t(TIER_KEYS[alert.tier]), name=person.full_name,
                     age=age(ctx, person), phone=person.phone, ago=ago(ctx, alert.created_at),
                     taken=taken_text(ctx, alert))
        if station_id is None:
            text += "\n" + ctx.t("alertlist.station", station=stations.get(alert.station_id, ""))
        card = [Button(ctx.t("alertlist.card", name=person.full_name), f"card:{person.id}")]
        replies.append(Reply(text, [*alert_buttons(ctx.lang, alert), card]))
    left = total - (first + len(rows) - 1)
    if left > 0:
        more = Button(ctx.t("alertlist.next"), f"alerts:{token_of(station_id)}:{page + 1}")
        replies.append(Reply(ctx.t("alertlist.more", count=left), [[more]]))
    return replies


def ago(ctx: Context, at: datetime) -> str:
    minutes = int((ctx.core.utcnow() - ctx.core.to_local(at)).total_seconds() // 60)
    if minutes < 1:
        return ctx.t("alertlist.ago_now")
    if minutes < 60:
        return ctx.t("alertlist.ago_minutes", count=minutes)
    if minutes < 24 * 60:
        return ctx.t("alertlist.ago_hours", count=minutes // 60)
    return ctx.t("alertlist.ago_days", count=minutes // (24 * 60))
