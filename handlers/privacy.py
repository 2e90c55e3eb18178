"""/xoadulieu: a person asks for their data to be deleted; their station confirms (or not); they are told."""
from __future__ import annotations

from sqlmodel import select

from conversations.alerts import destinations
from conversations.messages import Button, Reply
from conversations.runtime import Context
from handlers.access import access, actor, refuse
from locales import t
from storage.audit import record
from storage.models import Account, DeletionRequest, GroupBinding, Person
from storage.outbox import enqueue
from storage.purge import anonymise

ASK, CONFIRM, REFUSE = "ask", "ok", "no"


async def request_deletion(ctx: Context) -> list[Reply]:
    """First a confirmation button: deleting is not undone."""
    people = await _own_people(ctx)
    if not people:
        return [Reply(ctx.t("deletion.nothing"))]
    return [Reply(ctx.t("deletion.confirm_ask", names=", ".join(p.full_name for p in people)),
                  [[Button(ctx.t("deletion.button.ask"), f"del:{ASK}:0")]])]


async def _own_people(ctx: Context) -> list[Person]:
    query = select(Person).where(Person.account_id == ctx.account.id, Person.anonymized_at.is_(None))
    return list((await ctx.session.exec(query)).all())


async def press(ctx: Context) -> list[Reply]:
    """del:ask:0 from the person; del:ok:<id> / del:no:<id> from the station."""
    parts = ctx.incoming.button.split(":")
    if len(parts) != 3 or not parts[2].isdigit():
        return [Reply(ctx.t("common.stale_button"), toast=True)]
    if parts[1] == ASK:
        return await _file_requests(ctx)
    if parts[1] in (CONFIRM, REFUSE):
        return await _decide(ctx, int(parts[2]), parts[1] == CONFIRM)
    return [Reply(ctx.t("common.stale_button"), toast=True)]


async def _file_requests(ctx: Context) -> list[Reply]:
    people = await _own_people(ctx)
    if not people:
        return [Reply(ctx.t("deletion.nothing"))]
    for person in people:
        open_one = (await ctx.session.exec(select(DeletionRequest).where(
            DeletionRequest.person_id == person.id, DeletionRequest.status == "requested"))).first()
        if open_one is not None:
            continue
        request = DeletionRequest(person_id=person.id, account_id=ctx.account.id, station_id=person.station_id,
                                  created_at=ctx.core.utcnow())
        ctx.session.add(request)
        await ctx.session.flush()
        record(ctx.session, actor(ctx), "erasure.request", "person", person.id, at=ctx.core.utcnow())
        for channel, chat_id, lang in await destinations(ctx.session, ctx.core, person.station_id):
            buttons = [[Button(t(lang, "deletion.button.confirm"), f"del:{CONFIRM}:{request.id}"),
                        Button(t(lang, "deletion.button.refuse"), f"del:{REFUSE}:{request.id}")]]
            text = t(lang, "deletion.to_station", name=person.full_name, phone=person.phone,
                            status=t(lang, f"deletion.person_status.{person.status}"))
            enqueue(ctx.session, channel, chat_id, Reply(text, buttons).to_payload(), now=ctx.core.utcnow())
    return [Reply(ctx.t("deletion.requested"))]


async def _may_decide(ctx: Context, station_id: int) -> bool:
    inc = ctx.incoming
    if (await access(ctx)).changes(station_id):
        return True
    if inc.chat_type == "private":
        return False
    binding = (await ctx.session.exec(select(GroupBinding).where(
        GroupBinding.channel == inc.channel, GroupBinding.chat_id == inc.chat_id,
        GroupBinding.station_id == station_id))).first()
    return binding is not None


async def _decide(ctx: Context, request_id: int, confirmed: bool) -> list[Reply]:
    request = await ctx.session.get(DeletionRequest, request_id)
    if request is None:
        return [Reply(ctx.t("common.stale_button"), toast=True)]
    if not await _may_decide(ctx, request.station_id):
        return await refuse(ctx, f"del:{request_id}")
    if request.status != "requested":
        return [Reply(ctx.t("deletion.already", who=request.decided_by or "?"), toast=True)]
    person = await ctx.session.get(Person, request.person_id)
    account = await ctx.session.get(Account, request.account_id)
    request.status, request.decided_by, request.decided_at = ("done" if confirmed else "refused",
                                                              ctx.incoming.user_name or ctx.incoming.user_id,
                                                              ctx.core.utcnow())
    ctx.session.add(request)
    record(ctx.session, actor(ctx), "erasure.done" if confirmed else "erasure.refused", "person",
           person.id, at=ctx.core.utcnow())
    # The person is told before the account's chat id is forgotten with the data.
    text = t(account.language, "deletion.done_person" if confirmed else "deletion.refused_person")
    enqueue(ctx.session, account.channel, account.external_id, Reply(text).to_payload(), now=ctx.core.utcnow())
    if confirmed:
        await ctx.session.flush()
        await anonymise(ctx.session, person, ctx.core.utcnow())
    notice = ctx.t("deletion.recorded_done" if confirmed else "deletion.recorded_refused")
    edited = [Reply(notice, edit_id=ctx.incoming.message_id)] if ctx.incoming.message_id else []
    return [Reply(notice, toast=True), *edited]
