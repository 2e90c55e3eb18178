"""What station staff see: the lists menu and pages, search results and the open alerts, rendered as Replies."""
from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from chat import parse
from chat.messages import Button, Reply
from chat.payloads import AlertsPage, CardOpen, ListPage
from conversations.runtime import Context
from services.alerts import alert_buttons
from storage.models import Alert, Declaration, Person, PersonStatus, Station
from storage.people import (
    ABNORMAL,
    ENDING_SOON,
    LIST_KINDS,
    NOT_DECLARED,
    UNDER_QUARANTINE,
    Found,
    count_list,
    last_declarations,
    list_page,
    open_alerts,
)
from storage.roles import ADMIN, PROVINCE, STAFF, Access

# Where a picked station leads: the lists menu or the open alerts.
THEN_LISTS, THEN_ALERTS = "lists", "alerts"
PAGE_SIZE = 10


PROVINCE_TOKEN = "p"


MENU = "menu"


LIST_KEYS = {UNDER_QUARANTINE: "lists.name.act", ABNORMAL: "lists.name.abn", NOT_DECLARED: "lists.name.nod",
             ENDING_SOON: "lists.name.end"}


TIER_KEYS = {"danger": "lists.tier.danger", "watch": "lists.tier.watch", "normal": "lists.tier.normal",
             "silent": "lists.tier.silent"}


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
    return station.label if station else str(station_id)


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
        buttons.append([Button(label, ListPage(kind, 0, token).encode())])
    return Reply(ctx.t("lists.menu", scope=await scope_name(ctx, station_id)), buttons)


async def page_reply(ctx: Context, kind: str, station_id: int | None, page: int) -> Reply:
    today, token = ctx.today(), token_of(station_id)
    name, scope = ctx.t(LIST_KEYS[kind]), await scope_name(ctx, station_id)
    back = [Button(ctx.t("lists.back"), ListPage(MENU, 0, token).encode())]
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
        nav.append(Button(ctx.t("lists.prev"), ListPage(kind, page - 1, token).encode()))
    if page < pages - 1:
        nav.append(Button(ctx.t("lists.next"), ListPage(kind, page + 1, token).encode()))
    return Reply("\n".join([title, *lines]), [*buttons, *([nav] if nav else []), back])


async def entries(ctx: Context, people: list[Person], first: int,
                  show_station: bool) -> tuple[list[str], list[list[Button]]]:
    """One numbered line per person (name, age, phone, last declaration) and a button to their card."""
    last = await last_declarations(ctx.session, [p.id for p in people if p.id is not None])  # all are saved rows
    stations = await station_names(ctx, {p.station_id for p in people}) if show_station else {}
    lines, buttons = [], []
    for offset, person in enumerate(people):
        assert person.id is not None  # read from the database
        n = first + offset
        line = ctx.t("lists.entry", number=n, name=person.full_name, age=age(ctx, person), phone=person.phone,
                     status=status_text(ctx, person, last.get(person.id)))
        if show_station:
            line += ctx.t("lists.entry_station", station=stations.get(person.station_id, ""))
        lines.append(line)
        buttons.append([Button(ctx.t("lists.button", number=n, name=person.full_name), CardOpen(person.id).encode())])
    return lines, buttons


async def station_names(ctx: Context, ids: set[int]) -> dict[int, str]:
    rows = (await ctx.session.exec(select(Station).where(col(Station.id).in_(ids)))).all() if ids else []
    return {s.id: s.label for s in rows if s.id is not None}  # all are saved rows


def age(ctx: Context, person: Person) -> int:
    return ctx.today().year - person.birth_year


def status_text(ctx: Context, person: Person, declaration: Declaration | None) -> str:
    if person.status != PersonStatus.ACTIVE:
        return ctx.t("lists.status_completed")
    if declaration is None:
        return ctx.t("lists.status_none")
    return ctx.t("lists.status_last", tier=ctx.t(TIER_KEYS.get(declaration.tier, "lists.tier.normal")),
                 at=moment(ctx, declaration.declared_at))


def moment(ctx: Context, at: datetime) -> str:
    return ctx.core.to_local(at).strftime("%H:%M %d/%m")


async def results_replies(ctx: Context, found: Found, station_id: int | None) -> list[Reply]:
    lines, buttons = await entries(ctx, found.people, 1, show_station=station_id is None)
    head = [ctx.t("find.found", count=found.total)]
    if found.total > len(found.people):
        head.append(ctx.t("find.more", shown=len(found.people)))
    return [Reply("\n".join([*head, *lines]), buttons)]


def taken_text(ctx: Context, alert: Alert) -> str:
    if alert.resolved_at:
        return ctx.t("card.alert_resolved", who=alert.resolved_by, at=moment(ctx, alert.resolved_at))
    if alert.acknowledged_at:
        return ctx.t("card.alert_acknowledged", who=alert.acknowledged_by, at=moment(ctx, alert.acknowledged_at))
    return ctx.t("card.alert_open")


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
        assert person.id is not None  # read from the database
        text = ctx.t("alertlist.item", tier=ctx.t(TIER_KEYS[alert.tier]), name=person.full_name,
                     age=age(ctx, person), phone=person.phone, ago=ago(ctx, alert.created_at),
                     taken=taken_text(ctx, alert))
        if station_id is None:
            text += "\n" + ctx.t("alertlist.station", station=stations.get(alert.station_id, ""))
        card = [Button(ctx.t("alertlist.card", name=person.full_name), CardOpen(person.id).encode())]
        replies.append(Reply(text, [*alert_buttons(ctx.lang, alert), card]))
    left = total - (first + len(rows) - 1)
    if left > 0:
        more = Button(ctx.t("alertlist.next"), AlertsPage(token_of(station_id), page + 1).encode())
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
