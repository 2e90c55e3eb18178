"""Requests for help (phản ánh): /phananh for people; the group's buttons and /phananhmo for staff."""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func
from sqlmodel import col, select

from chat.messages import Reply
from chat.payloads import RequestPress
from conversations import help_request as hr
from conversations.access import may_act_on_station, note_refusal, require
from conversations.checkin import active_people
from conversations.registry import current_question
from conversations.runtime import Context, begin, clear_state, load_state
from handlers.citizen import begin_or_remind
from locales import t
from services.alerts import GROUP_LANGUAGE
from storage.models import HelpRequest, RequestStatus
from storage.roles import ADMIN, PROVINCE, STAFF
from storage.stations import binding_of

LIST_MAX = 20  # open requests shown at once; the oldest first, as they have waited longest


# --- the person ------------------------------------------------------------------------------------------


def command_text(text: str | None) -> str:
    """What follows the command ("/phananh Tôi cần thuốc" or a photo's caption), line breaks kept."""
    parts = (text or "").split(None, 1)
    return parts[1].strip() if len(parts) == 2 else ""


async def request_help(ctx: Context) -> list[Reply]:
    """/phananh: ask what the person needs; a text or photo sent with the command goes at once."""
    inc = ctx.incoming
    text, photo_id = command_text(inc.text), inc.photo_id
    if not text and not photo_id:
        return await begin_or_remind(ctx, hr.FLOW)
    error = hr.content_error(ctx.lang, text, photo_id)
    if error is not None:
        return [Reply(error), *await begin_or_remind(ctx, hr.FLOW)]
    people = await active_people(ctx)
    if len(people) != 1:  # none: the flow says why; a household: it asks for whom, then sends
        return await begin_or_remind(ctx, hr.FLOW, {"text": text, "photo_id": photo_id})
    return [*await hr.submit(ctx, people[0], text, photo_id), *await question_left_open(ctx)]


async def question_left_open(ctx: Context) -> list[Reply]:
    """A request sent in one go leaves another conversation where it was: ask its question again."""
    state = await load_state(ctx.session, ctx.account_id)
    if state is not None and state.flow == hr.FLOW.name:  # an earlier /phananh: this message answered it
        await clear_state(ctx.session, ctx.account_id)
        return []
    question = await current_question(ctx)
    return [Reply(ctx.t("common.continue")), *question] if question else []


# --- the group's buttons -------------------------------------------------------------------------------


async def press(ctx: Context) -> list[Reply]:
    """💬 Trả lời: ask this staff member for the answer; ✅ Đã xong: close the request."""
    lang = hr.language(ctx)
    pressed = RequestPress.parse(ctx.incoming.button)
    request = await ctx.session.get(HelpRequest, pressed.request_id) if pressed else None
    if pressed is None or request is None:
        return [Reply(t(lang, "helpreq.unknown"), toast=True)]
    if not await may_act_on_station(ctx, request.station_id):
        await note_refusal(ctx, f"request:{request.id}")  # the answer is a short toast on the button
        return [Reply(t(lang, "helpreq.not_allowed"), toast=True)]
    if request.status == RequestStatus.DONE:
        return [Reply(t(lang, "helpreq.already_done", id=request.id), toast=True)]
    if pressed.action == hr.ANSWER:
        return await begin(ctx, hr.ANSWER_FLOW, {"request_id": request.id})
    return [Reply(t(lang, "helpreq.marked_done", id=request.id), toast=True), *await hr.mark_done(ctx, request)]


async def cancel_in_group(ctx: Context) -> list[Reply]:
    """/huy in a group: drop the answer this staff member was asked for, so their next message stays in the group."""
    cancelled = await clear_state(ctx.session, ctx.account_id)
    return [Reply(t(GROUP_LANGUAGE, "requests.group_cancelled" if cancelled else "requests.group_nothing"))]


# --- the list of open requests ---------------------------------------------------------------------------


async def open_requests(ctx: Context) -> list[Reply]:
    """/phananhmo: staff see their station's open requests; admins and province viewers all (viewers read only)."""
    if ctx.incoming.chat_type != "private":
        return await group_open_requests(ctx)
    granted = await require(ctx, ADMIN, PROVINCE, STAFF)
    station_id = granted.station_id if granted.role == STAFF else None
    return await list_replies(ctx, station_id, ctx.lang, lambda request: granted.changes(request.station_id))


async def group_open_requests(ctx: Context) -> list[Reply]:
    """In a station's group, that station's requests with their buttons; in the province group, all, to read."""
    inc = ctx.incoming
    binding = await binding_of(ctx.session, inc.channel, inc.chat_id)
    if binding is None:
        return [Reply(t(GROUP_LANGUAGE, "report.not_bound"))]
    if binding.station_id is None:
        return await list_replies(ctx, None, GROUP_LANGUAGE, lambda _request: False)
    return await list_replies(ctx, binding.station_id, GROUP_LANGUAGE, lambda _request: True)


async def list_replies(ctx: Context, station_id: int | None, lang: str,
                       may_change: Callable[[HelpRequest], bool]) -> list[Reply]:
    where = [HelpRequest.status != RequestStatus.DONE]
    if station_id is not None:
        where.append(HelpRequest.station_id == station_id)
    total = (await ctx.session.exec(select(func.count()).select_from(HelpRequest).where(*where))).one()
    if not total:
        return [Reply(t(lang, "requests.none"))]
    query = select(HelpRequest).where(*where).order_by(col(HelpRequest.created_at), col(HelpRequest.id)).limit(LIST_MAX)
    replies = [Reply(t(lang, "requests.title", count=total))]
    for request in (await ctx.session.exec(query)).all():
        replies.append(await hr.thread_reply(ctx.session, ctx.core, request, lang, may_change(request)))
    if total > LIST_MAX:
        replies.append(Reply(t(lang, "requests.more", count=total - LIST_MAX)))
    return replies
