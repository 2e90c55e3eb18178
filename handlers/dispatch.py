"""Routing: commands, buttons and text to the handler or the conversation that owns them."""
from __future__ import annotations

from conversations import checkin, help_request, household, registration, reminder_times, station_admin
from conversations import staff_actions as staff_flows
from conversations.messages import Reply
from conversations.runtime import ASKED_IN, Context, Flow, advance, load_state, resume
from handlers import admin, citizen, staff
from handlers import files as people_files
from handlers import privacy as data_deletion
from handlers import requests as help_requests
from handlers import station as station_work
from handlers import stats as station_stats
from handlers import undelivered as failed_deliveries
from handlers.access import access
from storage.roles import ADMIN, STAFF

FLOWS: dict[str, Flow] = {f.name: f for f in (
    registration.FLOW,
    household.FLOW,
    checkin.FLOW,
    reminder_times.FLOW,
    help_request.FLOW,
    help_request.ANSWER_FLOW,
    station_admin.FLOW,
    *staff_flows.FLOWS,
)}

PRIVATE_COMMANDS = {
    "/chuagui": failed_deliveries.undelivered, "/undelivered": failed_deliveries.undelivered,
    "/xoadulieu": data_deletion.request_deletion, "/deletedata": data_deletion.request_deletion,
    "/start": citizen.start, "/dangky": citizen.start, "/register": citizen.start,
    "/khaibao": citizen.checkin, "/checkin": citizen.checkin,
    "/nguoithan": citizen.household, "/household": citizen.household,
    "/huy": citizen.cancel, "/cancel": citizen.cancel,
    "/ngonngu": citizen.language, "/language": citizen.language,
    "/trogiup": citizen.help_, "/help": citizen.help_,
    "/nhacnho": citizen.reminders, "/reminders": citizen.reminders,
    "/phananh": help_requests.request_help, "/request": help_requests.request_help,
    "/phananhmo": help_requests.open_requests, "/requests": help_requests.open_requests,
    "/lienket": staff.bind, "/bind": staff.bind,
    "/baocao": staff.report, "/report": staff.report,
    "/nhanvien": admin.join_staff, "/staff": admin.join_staff,
    "/tram": admin.stations, "/stations": admin.stations,
    "/capquyen": admin.grant, "/grant": admin.grant,
    "/thuhoi": admin.revoke, "/revoke": admin.revoke,
    "/danhsach": station_work.lists, "/list": station_work.lists,
    "/tra": station_work.find, "/find": station_work.find,
    "/canhbao": station_work.alerts, "/alerts": station_work.alerts,
    "/maunhap": people_files.template, "/template": people_files.template,
    "/xuat": people_files.export, "/export": people_files.export,
    "/thongke": station_stats.stats, "/stats": station_stats.stats,
}
GROUP_COMMANDS = {
    "/lienket": staff.bind, "/bind": staff.bind,
    "/trogiup": staff.group_help, "/help": staff.group_help, "/start": staff.group_help,
    "/phananhmo": help_requests.open_requests, "/requests": help_requests.open_requests,
    "/huy": help_requests.cancel_in_group, "/cancel": help_requests.cancel_in_group,
    "/baocao": staff.report, "/report": staff.report,
    "/nhanvien": admin.join_staff, "/staff": admin.join_staff,
}
BUTTONS = {  # by the payload's prefix, "alert:ack:12" -> "alert"
    "del": data_deletion.press,
    "alert": staff.press_alert,
    "go": citizen.go,
    "lang": citizen.set_language,
    "req": help_requests.press,
    "list": station_work.press_list,
    "card": station_work.press_card,
    "pa": station_work.press_action,
    "alerts": station_work.press_alerts,
}


async def dispatch(ctx: Context) -> list[Reply]:
    inc = ctx.incoming
    if inc.chat_moved is not None:
        return await staff.group_moved(ctx)
    if inc.button is not None:
        handler = BUTTONS.get(inc.button.split(":", 1)[0])
        if handler is not None:
            return await handler(ctx)
    if inc.chat_type != "private":
        return await _group(ctx)
    if (inc.document is not None or inc.document_too_large) and await _is_import(ctx):
        return await people_files.receive_document(ctx)
    if inc.command is not None:
        handler = PRIVATE_COMMANDS.get(inc.command[0])
        return await handler(ctx) if handler else await citizen.unknown_command(ctx)
    state = await load_state(ctx.session, ctx.account.id)
    if state is not None and state.flow in FLOWS:
        return await advance(ctx, FLOWS[state.flow], state, inc)
    if inc.button is not None:
        return [Reply(ctx.t("common.stale_button")), *await citizen.idle(ctx)]
    return await citizen.idle(ctx)


async def _is_import(ctx: Context) -> bool:
    """A file is a list to import from staff and admins, and from anyone outside a conversation (who is
    then told imports need a role); a person's file in the middle of e.g. a help request goes to that flow."""
    if (await access(ctx)).role in (ADMIN, STAFF):
        return True
    return await load_state(ctx.session, ctx.account.id) is None


async def _group(ctx: Context) -> list[Reply]:
    """In a staff group the bot answers its commands and buttons only, never the staff's chatter."""
    command = ctx.incoming.command
    if command is None:  # e.g. a staff member's answer typed in reply to the bot's question
        state = await load_state(ctx.session, ctx.account.id)
        # Only a question asked in this group: a private conversation (a registration, a search) never takes
        # the group's chatter as its answer, nor shows its reply, personal data included, to the group.
        asked_here = state is not None and state.data.get(ASKED_IN) == ctx.incoming.chat_id
        return await advance(ctx, FLOWS[state.flow], state, ctx.incoming) if asked_here and state.flow in FLOWS else []
    handler = GROUP_COMMANDS.get(command[0])
    if handler is not None:
        return await handler(ctx)
    if command[0] in PRIVATE_COMMANDS:
        return [Reply(ctx.t("group.private_only"))]
    return []


async def current_question(ctx: Context) -> list[Reply]:
    """The question the account is on, if any: asked again after a language change or a stray command."""
    state = await load_state(ctx.session, ctx.account.id)
    if state is None or state.flow not in FLOWS:
        return []
    return await resume(ctx, FLOWS[state.flow], state)
