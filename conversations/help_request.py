"""Requests for help (phản ánh): a person writes to their station, staff answer from their group, the thread is kept.

Two flows: the person's (for whom, then a text and/or a photo) and a staff member's answer (one text, asked
with a force-reply so it works in a busy group). Everything that must reach another chat goes through the
outbox; every change of a request is an audit event.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from sqlalchemy import String, cast
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chat.messages import Button, Reply, one_per_row
from chat.payloads import RequestPress
from chat.text import one_line
from conversations.access import actor, may_act_on_station, refuse
from conversations.checkin import active_people, pick_person
from conversations.runtime import Context, Done, Flow, Input, Next, Outcome, Retry, Step
from locales import t
from services.alerts import GROUP_LANGUAGE, destinations
from storage.audit import record
from storage.models import (
    Account,
    HelpMessage,
    HelpRequest,
    Outbox,
    OutboxStatus,
    Person,
    PersonStatus,
    RequestStatus,
    Station,
)
from storage.outbox import post
from storage.roles import staff_member

if TYPE_CHECKING:
    from services.env import Core

log = logging.getLogger(__name__)

PERSON, STAFF = "person", "staff"  # HelpMessage.sender
ANSWER: Final = "answer"  # button payloads "req:answer:12", "req:done:12" (chat.payloads.RequestPress)
FINISH: Final = "done"
TEXT_MAX = 1000
CAPTION_MAX = 1024  # Telegram's limit for a photo's caption
THREAD_SHOWN, LINE_MAX = 8, 300  # a thread in a list: its last messages, each clipped
STATUS_KEYS: dict[str, str] = {status: f"helpreq.status.{status}" for status in RequestStatus}


# --- shared helpers ------------------------------------------------------------------------------------


def language(ctx: Context) -> str:
    """Station groups read Vietnamese; in private, the account's language."""
    return ctx.lang if ctx.incoming.chat_type == "private" else GROUP_LANGUAGE


def content_error(lang: str, text: str, photo_id: str | None, has_file: bool = False) -> str | None:
    """Why a message cannot be sent as it is, or None: a text and/or a photo, the text not too long."""
    if has_file:
        return t(lang, "helpreq.err_file")
    if not text and not photo_id:
        return t(lang, "helpreq.err_empty")
    if len(text) > TEXT_MAX:
        return t(lang, "helpreq.err_too_long", length=len(text), max=TEXT_MAX)
    return None


def incoming_content(ctx: Context, inp: Input) -> tuple[str, str | None, str | None]:
    """(text, photo id, error) of what was just sent; a photo's caption arrives as its text."""
    inc = ctx.incoming
    text = (inp.text or "").strip()
    has_file = inc.document is not None or inc.document_too_large
    return text, inc.photo_id, content_error(language(ctx), text, inc.photo_id, has_file)


def request_buttons(lang: str, request: HelpRequest) -> list[list[Button]]:
    assert request.id is not None  # a request read from the database or flushed
    return [[Button(t(lang, "helpreq.button.answer"), RequestPress(ANSWER, request.id).encode()),
             Button(t(lang, "helpreq.button.done"), RequestPress(FINISH, request.id).encode())]]


async def open_request(session: AsyncSession, person_id: int) -> HelpRequest | None:
    """The person's request not done yet: a new message joins its thread instead of opening another."""
    query = (select(HelpRequest).where(HelpRequest.person_id == person_id, HelpRequest.status != RequestStatus.DONE)
             .order_by(col(HelpRequest.id).desc()))
    return (await session.exec(query)).first()


def station_name(station: Station | None) -> str:
    return station.label if station is not None else ""


def person_lines(core: Core, lang: str, person: Person, station: Station | None) -> list[str]:
    lines = [t(lang, "helpreq.post.person", name=one_line(person.full_name),
               age=max(0, core.today().year - person.birth_year)),
             t(lang, "helpreq.post.phone", phone=person.phone),
             t(lang, "helpreq.post.address", address=one_line(person.address), station=station_name(station))]
    if not person.is_self:
        lines.append(t(lang, "helpreq.post.by_household"))
    return lines


# --- the person's flow -----------------------------------------------------------------------------------


async def start(ctx: Context) -> list[Reply] | None:
    return await pick_person(ctx, "helpreq.not_registered", "content")


async def person_of(ctx: Context) -> Person | None:
    person = await ctx.session.get(Person, ctx.data.get("person_id", 0))
    return person if person is not None and person.account_id == ctx.account_id else None


async def ask_who(ctx: Context) -> list[Reply]:
    people = await active_people(ctx)
    return [Reply(ctx.t("helpreq.ask_who"), one_per_row([ctx.choice("who", str(p.id), p.full_name) for p in people]))]


async def answer_who(ctx: Context, inp: Input) -> Outcome:
    people = {str(p.id): p for p in await active_people(ctx)}
    if inp.choice not in people:
        text, photo_id, error = incoming_content(ctx, inp)
        if error is None:  # the message came before the choice: kept, and sent once the person is chosen
            ctx.data.update(text=text, photo_id=photo_id)
        return Retry(ctx.t("err.use_buttons"))
    person = people[inp.choice]
    ctx.data["person_id"] = person.id
    if ctx.data.get("text") or ctx.data.get("photo_id"):  # given with the command: nothing more to ask
        return Done(await submit(ctx, person, ctx.data.get("text") or "", ctx.data.get("photo_id")))
    return Next("content")


async def ask_content(ctx: Context) -> list[Reply]:
    person = await person_of(ctx)
    if person is not None and person.id is not None:
        request = await open_request(ctx.session, person.id)
        if request is not None:
            return [Reply(ctx.t("helpreq.ask_more", id=request.id, name=person.full_name))]
    return [Reply(ctx.t("helpreq.ask"))]


async def answer_content(ctx: Context, inp: Input) -> Outcome:
    text, photo_id, error = incoming_content(ctx, inp)
    if error is not None:
        return Retry(error)
    person = await person_of(ctx)
    if person is None or person.status != PersonStatus.ACTIVE:
        return Done([Reply(ctx.t("helpreq.person_gone"))])
    return Done(await submit(ctx, person, text, photo_id))


async def submit(ctx: Context, person: Person, text: str, photo_id: str | None) -> list[Reply]:
    """Store the message (a new request, or the next message of the open one) and post it to the station."""
    assert person.id is not None  # read from the database
    now = ctx.core.utcnow()
    request = await open_request(ctx.session, person.id)
    followup = request is not None
    if request is None:
        request = HelpRequest(person_id=person.id, station_id=person.station_id, account_id=ctx.account_id,
                              status=RequestStatus.NEW, created_at=now, updated_at=now)
        ctx.session.add(request)
        await ctx.session.flush()
        record(ctx.session, actor(ctx), "request.new", "request", request.id,
               after={"status": RequestStatus.NEW, "person_id": person.id, "station_id": person.station_id}, at=now)
    else:
        request.updated_at = now
        ctx.session.add(request)
        record(ctx.session, actor(ctx), "request.followup", "request", request.id,
               before={"status": request.status}, after={"status": request.status}, at=now)
    assert request.id is not None  # flushed above, or read from the database
    message = HelpMessage(request_id=request.id, sender=PERSON, text=text, photo_id=photo_id, at=now)
    ctx.session.add(message)
    station = await ctx.session.get(Station, request.station_id)
    await post_to_station(ctx.session, ctx.core, request, person, message, followup)
    key = "helpreq.sent_more" if followup else "helpreq.sent"
    return [Reply(ctx.t(key, id=request.id, station=station_name(station)))]


async def post_to_station(session: AsyncSession, core: Core, request: HelpRequest, person: Person,
                          message: HelpMessage, followup: bool) -> None:
    chats = await destinations(session, core, request.station_id)
    if not chats:  # stored all the same: staff see it with /phananhmo once the station has a group
        log.warning("help request %s of station %s has no group and there are no admins to send it to",
                    request.id, request.station_id)
    station = await session.get(Station, request.station_id)
    for channel, chat_id, lang in chats:
        for reply in station_posts(core, lang, request, person, station, message, followup):
            post(session, channel, chat_id, reply, core.utcnow())


def station_posts(core: Core, lang: str, request: HelpRequest, person: Person, station: Station | None,
                  message: HelpMessage, followup: bool) -> list[Reply]:
    """The group's message: who, how to reach them, what they need; a photo carries it as its caption."""
    title = t(lang, "helpreq.post.title_more" if followup else "helpreq.post.title", id=request.id)
    # On one line: a line break or a direction mark in what the person wrote must not pass for a line of the post.
    body = (t(lang, "helpreq.post.text", text=one_line(message.text)) if message.text
            else t(lang, "helpreq.post.photo_only"))
    at = t(lang, "helpreq.post.at", at=core.to_local(message.at).strftime("%H:%M %d/%m/%Y"))
    text = "\n".join([title, *person_lines(core, lang, person, station), body, at])
    buttons = request_buttons(lang, request)
    if message.photo_id is None:
        return [Reply(text, buttons)]
    if len(text) <= CAPTION_MAX:
        return [Reply(text, buttons, photo_id=message.photo_id)]
    # Too long for a caption: the photo first, then the whole text with the buttons, so nothing is cut.
    return [Reply(f"{title}\n{t(lang, 'helpreq.post.see_below')}", photo_id=message.photo_id), Reply(text, buttons)]


# --- a staff member's answer -------------------------------------------------------------------------------


async def request_and_person(ctx: Context) -> tuple[HelpRequest | None, Person | None]:
    request = await ctx.session.get(HelpRequest, ctx.data.get("request_id", 0))
    person = await ctx.session.get(Person, request.person_id) if request is not None else None
    return request, person


async def ask_answer(ctx: Context) -> list[Reply]:
    request, person = await request_and_person(ctx)
    if request is None or person is None:
        return [Reply(t(language(ctx), "helpreq.unknown"))]
    return [Reply(t(language(ctx), "helpreq.answer_prompt", id=request.id, name=person.full_name), force_reply=True)]


async def answer_answer(ctx: Context, inp: Input) -> Outcome:
    lang = language(ctx)
    request, person = await request_and_person(ctx)
    if request is None or person is None:
        return Done([Reply(t(lang, "helpreq.unknown"))])
    text, photo_id, error = incoming_content(ctx, inp)
    if error is not None:
        return Retry(error)
    await record_answer(ctx, request, person, text, photo_id)
    return Done([Reply(t(lang, "helpreq.answer_sent", id=request.id, name=person.full_name))])


async def staff_name(ctx: Context) -> str:
    """The name staff know each other by: their staff record's, else their chat name."""
    inc = ctx.incoming
    member = await staff_member(ctx.session, inc.channel, inc.user_id)
    return one_line((member.name if member is not None and member.name else "") or inc.user_name or inc.user_id)


async def record_answer(ctx: Context, request: HelpRequest, person: Person, text: str, photo_id: str | None) -> None:
    """The answer joins the thread, a new request becomes in progress, and the person receives it."""
    assert request.id is not None  # read from the database
    now, name, before = ctx.core.utcnow(), await staff_name(ctx), request.status
    ctx.session.add(HelpMessage(request_id=request.id, sender=STAFF, staff_name=name, text=text, photo_id=photo_id,
                                at=now))
    if request.status == RequestStatus.NEW:
        request.status = RequestStatus.IN_PROGRESS
    request.updated_at = now
    ctx.session.add(request)
    record(ctx.session, actor(ctx), "request.answer", "request", request.id, before={"status": before},
           after={"status": request.status, "by": name}, at=now)
    await tell_person(ctx, request, lambda lang: Reply(
        t(lang, "helpreq.to_person.answer", id=request.id, name=person.full_name, text=text), photo_id=photo_id))


async def tell_person(ctx: Context, request: HelpRequest, render: Callable[[str], Reply]) -> None:
    """Queue a message to the chat the request came from, in that account's language."""
    account = await ctx.session.get(Account, request.account_id)
    if account is None:
        return
    post(ctx.session, account.channel, account.external_id, render(account.language), ctx.core.utcnow())


# --- done ------------------------------------------------------------------------------------------------


async def mark_done(ctx: Context, request: HelpRequest) -> list[Reply]:
    """Close the request, tell the person, and edit the group's copies so the buttons are gone."""
    now, name, before = ctx.core.utcnow(), await staff_name(ctx), request.status
    request.status, request.updated_at = RequestStatus.DONE, now
    ctx.session.add(request)
    record(ctx.session, actor(ctx), "request.done", "request", request.id, before={"status": before},
           after={"status": RequestStatus.DONE, "by": name}, at=now)
    person = await ctx.session.get(Person, request.person_id)
    await tell_person(ctx, request, lambda lang: Reply(
        t(lang, "helpreq.to_person.done", id=request.id, name=person.full_name if person else "")))
    return await closed_copies(ctx, request, name)


async def posted_copies(session: AsyncSession, channel: str, request: HelpRequest) -> list[Outbox]:
    """The sent messages carrying this request's buttons (its posts to groups and admins)."""
    assert request.id is not None  # read from the database
    marker = f'"{RequestPress(FINISH, request.id).encode()}"'  # quoted: request 1 must not match request 12
    query = (select(Outbox).where(Outbox.channel == channel, Outbox.status == OutboxStatus.SENT,
                                  col(Outbox.sent_message_id).is_not(None), Outbox.created_at >= request.created_at,
                                  cast(Outbox.payload, String).like(f"%{marker}%"))
             .order_by(col(Outbox.id)))
    return list((await session.exec(query)).all())


async def person_messages(session: AsyncSession, request: HelpRequest) -> list[HelpMessage]:
    query = (select(HelpMessage).where(HelpMessage.request_id == request.id, HelpMessage.sender == PERSON)
             .order_by(col(HelpMessage.at), col(HelpMessage.id)))
    return list((await session.exec(query)).all())


def posted_with(messages: list[HelpMessage], row: Outbox) -> HelpMessage | None:
    """The person's message a post carried: the last one stored before the post was queued (in its transaction)."""
    before = [m for m in messages if m.at <= row.created_at]
    return before[-1] if before else None


async def closed_copies(ctx: Context, request: HelpRequest, name: str) -> list[Reply]:
    """Each copy drawn again from the database (a sent row keeps no text, storage.outbox.mark_sent), without its
    buttons and with who closed it."""
    inc = ctx.incoming
    at = ctx.core.to_local(ctx.core.utcnow()).strftime("%H:%M")
    person = await ctx.session.get(Person, request.person_id)
    station = await ctx.session.get(Station, request.station_id)
    messages = await person_messages(ctx.session, request)
    edits: dict[tuple[str, str], Reply] = {}
    for row in await posted_copies(ctx.session, inc.channel, request):
        lang = ctx.lang if row.chat_id == inc.chat_id and inc.chat_type == "private" else GROUP_LANGUAGE
        assert row.sent_message_id is not None  # posted_copies takes sent messages only
        message = posted_with(messages, row)
        if person is None or message is None or not row.chat_id:  # no chat: forgotten with an erased account
            continue
        followup = message is not messages[0]
        reply = station_posts(ctx.core, lang, request, person, station, message, followup)[-1]  # the buttons' one
        reply.text = f"{reply.text}\n{t(lang, 'helpreq.post.done', who=name, at=at)}"
        reply.buttons, reply.chat_id, reply.edit_id = [], row.chat_id, row.sent_message_id
        edits[(row.chat_id, row.sent_message_id)] = reply
    if inc.message_id and (inc.chat_id, inc.message_id) not in edits:  # pressed in a /phananhmo list
        reply = await thread_reply(ctx.session, ctx.core, request, language(ctx), with_buttons=False)
        reply.chat_id, reply.edit_id = inc.chat_id, inc.message_id
        edits[(inc.chat_id, inc.message_id)] = reply
    return list(edits.values())


# --- a thread, for the list of open requests ----------------------------------------------------------------


def clip(text: str, limit: int = LINE_MAX) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


async def thread_reply(session: AsyncSession, core: Core, request: HelpRequest, lang: str,
                       with_buttons: bool) -> Reply:
    person = await session.get(Person, request.person_id)
    assert person is not None  # a foreign key: people are anonymised, never deleted
    station = await session.get(Station, request.station_id)
    query = (select(HelpMessage).where(HelpMessage.request_id == request.id)
             .order_by(col(HelpMessage.at), col(HelpMessage.id)))
    messages = list((await session.exec(query)).all())
    lines = [t(lang, "helpreq.thread.title", id=request.id, status=t(lang, STATUS_KEYS[request.status])),
             *person_lines(core, lang, person, station)]
    shown = messages[-THREAD_SHOWN:]
    if len(messages) > len(shown):
        lines.append(t(lang, "helpreq.thread.earlier", count=len(messages) - len(shown)))
    for message in shown:
        who = t(lang, "helpreq.thread.person") if message.sender == PERSON else one_line(message.staff_name or "")
        body = clip(one_line(message.text))
        if message.photo_id:
            body = f"{t(lang, 'helpreq.thread.photo')} {body}".strip()
        lines.append(t(lang, "helpreq.thread.line", at=core.to_local(message.at).strftime("%H:%M %d/%m"),
                       who=who, text=body))
    buttons = request_buttons(lang, request) if with_buttons and request.status != RequestStatus.DONE else []
    return Reply("\n".join(lines), buttons)


FLOW = Flow(
    name="help_request",
    first="who",
    start=start,
    steps={
        "who": Step(ask_who, answer_who),
        "content": Step(ask_content, answer_content),
    },
    takes_files=True,
)

async def may_answer(ctx: Context) -> None:
    """The answer flow's guard, as on the button that opened it: the caller may still act on the request's
    station (a revoked staff member's open reply, or one of the station the person was transferred from, ends)."""
    request = await ctx.session.get(HelpRequest, ctx.data.get("request_id", 0))
    if request is not None and not await may_act_on_station(ctx, request.station_id):
        await refuse(ctx, f"request:{request.id}")


ANSWER_FLOW = Flow(
    name="help_answer",
    first="answer",
    guard=may_answer,
    steps={"answer": Step(ask_answer, answer_answer)},
    takes_files=True,
)
