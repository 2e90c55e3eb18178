"""/xoadulieu: a person asks for their data to be deleted; their station confirms (or not); they are told."""
from __future__ import annotations

from typing import Final

from sqlalchemy import String, cast
from sqlmodel import col, select

from chat.messages import Button, Reply
from chat.payloads import DeletionPress
from conversations.access import actor, may_erase, refuse
from conversations.runtime import Context
from locales import t
from services.alerts import destinations
from storage.audit import record
from storage.models import Account, DeletionRequest, DeletionStatus, Outbox, OutboxStatus, Person, PersonStatus
from storage.outbox import forget_chat_once_sent, post
from storage.purge import anonymise
from storage.roles import staff_member

ASK: Final = "ask"
CONFIRM: Final = "ok"
REFUSE: Final = "no"


async def request_deletion(ctx: Context) -> list[Reply]:
    """First a confirmation button: deleting is not undone."""
    people = await _own_people(ctx)
    if not people:
        return [Reply(ctx.t("deletion.nothing"))]
    return [Reply(ctx.t("deletion.confirm_ask", names=", ".join(p.full_name for p in people)),
                  [[Button(ctx.t("deletion.button.ask"), DeletionPress(ASK, 0).encode())]])]


async def _own_people(ctx: Context) -> list[Person]:
    query = select(Person).where(Person.account_id == ctx.account_id, col(Person.anonymized_at).is_(None))
    return list((await ctx.session.exec(query)).all())


async def press(ctx: Context) -> list[Reply]:
    """del:ask:0 from the person; del:ok:<id> / del:no:<id> from the station."""
    pressed = DeletionPress.parse(ctx.incoming.button)
    if pressed is None:
        return [Reply(ctx.t("common.stale_button"), toast=True)]
    if pressed.action == ASK:
        return await _file_requests(ctx)
    return await _decide(ctx, pressed.request_id, pressed.action == CONFIRM)


async def _file_requests(ctx: Context) -> list[Reply]:
    people = await _own_people(ctx)
    if not people:
        return [Reply(ctx.t("deletion.nothing"))]
    for person in people:
        assert person.id is not None  # read from the database
        open_one = (await ctx.session.exec(select(DeletionRequest).where(
            DeletionRequest.person_id == person.id, DeletionRequest.status == DeletionStatus.REQUESTED))).first()
        if open_one is not None:
            continue
        request = DeletionRequest(person_id=person.id, account_id=ctx.account_id, station_id=person.station_id,
                                  created_at=ctx.core.utcnow())
        ctx.session.add(request)
        await ctx.session.flush()
        assert request.id is not None  # flushed
        record(ctx.session, actor(ctx), "erasure.request", "person", person.id, at=ctx.core.utcnow())
        for channel, chat_id, lang in await destinations(ctx.session, ctx.core, person.station_id):
            buttons = [[Button(t(lang, "deletion.button.confirm"), DeletionPress(CONFIRM, request.id).encode()),
                        Button(t(lang, "deletion.button.refuse"), DeletionPress(REFUSE, request.id).encode())]]
            text = t(lang, "deletion.to_station", name=person.full_name, phone=person.phone,
                            status=t(lang, f"deletion.person_status.{person.status}"))
            post(ctx.session, channel, chat_id, Reply(text, buttons), ctx.core.utcnow())
    return [Reply(ctx.t("deletion.requested"))]


async def _decide(ctx: Context, request_id: int, confirmed: bool) -> list[Reply]:
    request = await ctx.session.get(DeletionRequest, request_id)
    if request is None:
        return [Reply(ctx.t("common.stale_button"), toast=True)]
    if not await may_erase(ctx, request.station_id):
        return await refuse(ctx, f"del:{request_id}")
    if request.status != DeletionStatus.REQUESTED:
        return [Reply(ctx.t("deletion.already", who=await _decider(ctx, request.decided_by)), toast=True)]
    person = await ctx.session.get(Person, request.person_id)
    account = await ctx.session.get(Account, request.account_id)
    assert person is not None and account is not None  # foreign keys: people and accounts are never deleted
    request.status = DeletionStatus.DONE if confirmed else DeletionStatus.REFUSED
    request.decided_by, request.decided_at = actor(ctx), ctx.core.utcnow()
    ctx.session.add(request)
    record(ctx.session, actor(ctx), "erasure.done" if confirmed else "erasure.refused", "person",
           person.id, at=ctx.core.utcnow())
    if confirmed:
        await _erase(ctx, request, person, account)
    else:
        post(ctx.session, account.channel, account.external_id,
             Reply(t(account.language, "deletion.refused_person")), ctx.core.utcnow())
    notice = ctx.t("deletion.recorded_done" if confirmed else "deletion.recorded_refused")
    edited = [Reply(notice, edit_id=ctx.incoming.message_id)] if ctx.incoming.message_id else []
    await _edit_other_posts(ctx, request_id, notice)
    return [Reply(notice, toast=True), *edited]


async def _erase(ctx: Context, request: DeletionRequest, person: Person, account: Account) -> None:
    """The data goes; the person is told at the chat id known before it went (that message is stripped once sent,
    and its chat forgotten: storage.outbox.mark_sent); a follow-up that ends early is told to the station."""
    channel, chat_id, language = account.channel, account.external_id, account.language
    followed = person.status == PersonStatus.ACTIVE
    await ctx.session.flush()
    await anonymise(ctx.session, person, ctx.core.utcnow())
    forget_chat_once_sent(post(ctx.session, channel, chat_id, Reply(t(language, "deletion.done_person")),
                               ctx.core.utcnow()))
    if followed:  # no name: by the time it is read the person is nobody the bot knows
        for group_channel, group_chat, lang in await destinations(ctx.session, ctx.core, request.station_id):
            post(ctx.session, group_channel, group_chat, Reply(t(lang, "deletion.followup_ended")), ctx.core.utcnow())


async def _edit_other_posts(ctx: Context, request_id: int, notice: str) -> None:
    """The request's posts in the other chats (they show the name and phone) become the notice too."""
    marker = f'"{DeletionPress(CONFIRM, request_id).encode()}"'
    query = select(Outbox).where(Outbox.status == OutboxStatus.SENT, col(Outbox.sent_message_id).is_not(None),
                                 cast(Outbox.payload, String).like(f"%{marker}%"))
    for row in (await ctx.session.exec(query)).all():
        if (row.channel, row.chat_id, row.sent_message_id) == (ctx.incoming.channel, ctx.incoming.chat_id,
                                                               ctx.incoming.message_id):
            continue  # edited by the reply to the press
        post(ctx.session, row.channel, row.chat_id, Reply(notice, edit_id=row.sent_message_id), ctx.core.utcnow())


async def _decider(ctx: Context, decided_by: str | None) -> str:
    """Who decided, as colleagues know them: the staff record's name of the id kept."""
    channel, _, user_id = (decided_by or "").partition(":")
    member = await staff_member(ctx.session, channel, user_id) if user_id else None
    return member.name if member is not None and member.name else "?"
