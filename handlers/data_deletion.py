"""/xoadulieu: a person asks for their data to be deleted; their station confirms (or not); they are told."""
from __future__ import annotations

from typing import Final

from sqlmodel import col, select

from chat.messages import Button, Reply
from chat.payloads import DeletionPress
from conversations.access import actor, may_act_on_station, refuse
from conversations.runtime import Context
from locales import t
from services.alerts import destinations
from storage.audit import record
from storage.models import Account, DeletionRequest, DeletionStatus, Person
from storage.outbox import post
from storage.purge import anonymise

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
    if not await may_act_on_station(ctx, request.station_id):
        return await refuse(ctx, f"del:{request_id}")
    if request.status != DeletionStatus.REQUESTED:
        return [Reply(ctx.t("deletion.already", who=request.decided_by or "?"), toast=True)]
    person = await ctx.session.get(Person, request.person_id)
    account = await ctx.session.get(Account, request.account_id)
    assert person is not None and account is not None  # foreign keys: people and accounts are never deleted
    request.status = DeletionStatus.DONE if confirmed else DeletionStatus.REFUSED
    request.decided_by, request.decided_at = ctx.incoming.user_name or ctx.incoming.user_id, ctx.core.utcnow()
    ctx.session.add(request)
    record(ctx.session, actor(ctx), "erasure.done" if confirmed else "erasure.refused", "person",
           person.id, at=ctx.core.utcnow())
    # The person is told before the account's chat id is forgotten with the data.
    text = t(account.language, "deletion.done_person" if confirmed else "deletion.refused_person")
    post(ctx.session, account.channel, account.external_id, Reply(text), ctx.core.utcnow())
    if confirmed:
        await ctx.session.flush()
        await anonymise(ctx.session, person, ctx.core.utcnow())
    notice = ctx.t("deletion.recorded_done" if confirmed else "deletion.recorded_refused")
    edited = [Reply(notice, edit_id=ctx.incoming.message_id)] if ctx.incoming.message_id else []
    return [Reply(notice, toast=True), *edited]
