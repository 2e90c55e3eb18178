"""Routing: commands, buttons and text to the handler or the conversation that owns them."""
from __future__ import annotations

from chat.messages import Reply
from chat.payloads import (
    AlertPress,
    AlertsPage,
    CardAction,
    CardOpen,
    DeletionPress,
    DistressPress,
    Go,
    LanguagePick,
    ListPage,
    RequestPress,
    kind_of,
)
from conversations import checkin
from conversations.access import access
from conversations.registry import FLOWS
from conversations.runtime import ASKED_IN, Context, Refused, advance, load_state, recheck
from handlers import (
    admin,
    citizen,
    data_deletion,
    failed_deliveries,
    help_requests,
    people_files,
    staff,
    station_stats,
    station_work,
)
from handlers.commands import COMMANDS, GROUP, PRIVATE
from storage.roles import ADMIN, STAFF

# The handler of each command of handlers/commands.py, by its Vietnamese name: in private chats, and in groups.
PRIVATE_HANDLERS = {
    "chuagui": failed_deliveries.undelivered, "xoadulieu": data_deletion.request_deletion,
    "start": citizen.start, "khaibao": citizen.checkin, "nguoithan": citizen.household, "huy": citizen.cancel,
    "ngonngu": citizen.language, "trogiup": citizen.help_, "nhacnho": citizen.reminders,
    "phananh": help_requests.request_help, "phananhmo": help_requests.open_requests,
    "lienket": staff.bind, "baocao": staff.report,
    "nhanvien": admin.join_staff, "tram": admin.stations, "capquyen": admin.grant, "thuhoi": admin.revoke,
    "danhsach": station_work.lists, "tra": station_work.find, "canhbao": station_work.alerts,
    "maunhap": people_files.template, "xuat": people_files.export, "thongke": station_stats.stats,
}
GROUP_HANDLERS = {
    "lienket": staff.bind, "trogiup": staff.group_help, "start": staff.group_help,
    "phananhmo": help_requests.open_requests, "huy": help_requests.cancel_in_group, "baocao": staff.report,
    "nhanvien": admin.join_staff,
}
PRIVATE_COMMANDS = {f"/{name}": PRIVATE_HANDLERS[c.vi] for c in COMMANDS if PRIVATE in c.where for name in c.names}
GROUP_COMMANDS = {f"/{name}": GROUP_HANDLERS[c.vi] for c in COMMANDS if GROUP in c.where for name in c.names}
BUTTONS = {kind.prefix: handler for kind, handler in (  # by the payload's kind: "alert:ack:12" -> AlertPress
    (DeletionPress, data_deletion.press),
    (AlertPress, staff.press_alert),
    (Go, citizen.go),
    (DistressPress, citizen.distress),
    (LanguagePick, citizen.set_language),
    (RequestPress, help_requests.press),
    (ListPage, station_work.press_list),
    (CardOpen, station_work.press_card),
    (CardAction, station_work.press_action),
    (AlertsPage, station_work.press_alerts),
)}


async def dispatch(ctx: Context) -> list[Reply]:
    # A command or another kind of button may leave a check-in: what it held is then saved (checkin.leave).
    inc = ctx.incoming
    leaving = inc.chat_type == "private" and (inc.command is not None or kind_of(inc.button or "") in BUTTONS)
    before = checkin.snapshot(await load_state(ctx.session, ctx.account_id)) if leaving else None
    try:
        replies = await _route(ctx)
    except Refused as refused:  # the refusal's audit row commits with the update
        replies = refused.replies
        await _end_flow_if_refused(ctx)
    return [*await checkin.leave_if_left(ctx, before), *replies]


async def _route(ctx: Context) -> list[Reply]:
    inc = ctx.incoming
    if inc.chat_moved is not None:
        return await staff.group_moved(ctx)
    if inc.button is not None:
        handler = BUTTONS.get(kind_of(inc.button))
        if handler is not None:
            return await handler(ctx)
    if inc.chat_type != "private":
        return await _group(ctx)
    if (inc.document is not None or inc.document_too_large) and await _is_import(ctx):
        return await people_files.receive_document(ctx)
    if inc.command is not None:
        handler = PRIVATE_COMMANDS.get(inc.command[0])
        return await handler(ctx) if handler else await citizen.unknown_command(ctx)
    state = await load_state(ctx.session, ctx.account_id)
    if state is not None and state.flow in FLOWS:
        return await advance(ctx, FLOWS[state.flow], state, inc)
    if inc.button is not None:
        return [Reply(ctx.t("common.stale_button")), *await citizen.idle(ctx)]
    return await citizen.idle(ctx)


async def _end_flow_if_refused(ctx: Context) -> None:
    """After a refused command or button, the open conversation is checked too: one needing the role that was
    revoked ends now (its refusal is the one already given), not at its next answer."""
    state = await load_state(ctx.session, ctx.account_id)
    if state is not None and state.flow in FLOWS:
        await recheck(ctx, FLOWS[state.flow], state)


async def _is_import(ctx: Context) -> bool:
    """A file is a list to import from staff and admins, and from anyone outside a conversation (who is
    then told imports need a role); a person's file in the middle of e.g. a help request goes to that flow."""
    if (await access(ctx)).role in (ADMIN, STAFF):
        return True
    return await load_state(ctx.session, ctx.account_id) is None


async def _group(ctx: Context) -> list[Reply]:
    """In a staff group the bot answers its commands and buttons only, never the staff's chatter."""
    command = ctx.incoming.command
    if command is None:  # e.g. a staff member's answer typed in reply to the bot's question
        state = await load_state(ctx.session, ctx.account_id)
        # Only a question asked in this group: a private conversation (a registration, a search) never takes
        # the group's chatter as its answer, nor shows its reply, personal data included, to the group.
        if state is None or state.data.get(ASKED_IN) != ctx.incoming.chat_id or state.flow not in FLOWS:
            return []
        return await advance(ctx, FLOWS[state.flow], state, ctx.incoming)
    handler = GROUP_COMMANDS.get(command[0])
    if handler is not None:
        return await handler(ctx)
    if command[0] in PRIVATE_COMMANDS:
        return [Reply(ctx.t("group.private_only"))]
    return []
