"""Access checks for staff and admin commands: the role and station of whoever asks, refusals recorded.

A refusal is raised as conversations.runtime.Refused, with the replies that tell the caller; the router
(handlers/dispatch.py) turns it into those replies inside the update's transaction, so the audit row of the
refusal is kept.
"""
from __future__ import annotations

from typing import NoReturn

from chat.messages import Reply
from conversations.runtime import Context, Refused
from storage.audit import record
from storage.models import Alert
from storage.roles import Access, access_of
from storage.stations import binding_of


def actor(ctx: Context) -> str:
    """Who did it, for the audit trail: a pseudonymous id ("telegram:501"), never a display name (personal data
    that would outlive its person: an erased account's id is rewritten too, storage/purge.py)."""
    return f"{ctx.incoming.channel}:{ctx.incoming.user_id}"


async def access(ctx: Context) -> Access:
    inc = ctx.incoming
    return await access_of(ctx.session, inc.channel, inc.user_id, ctx.core.is_admin(inc.channel, inc.user_id))


async def require(ctx: Context, *roles: str, what: str = "") -> Access:
    """The caller's Access if their role is one of `roles`; else Refused, and the attempt recorded."""
    granted = await access(ctx)
    if granted.role in roles:
        return granted
    command = ctx.incoming.command[0] if ctx.incoming.command else (ctx.incoming.button or "")
    await refuse(ctx, what or command.split(":")[0], granted)


async def refuse(ctx: Context, what: str, granted: Access | None = None) -> NoReturn:
    """Refused, e.g. for a record outside the caller's station, recorded like any other."""
    await note_refusal(ctx, what, granted)
    raise Refused([Reply(ctx.t("access.refused"))])


async def note_refusal(ctx: Context, what: str, granted: Access | None = None) -> None:
    """The audit row of a refusal whose answer is not the usual one (e.g. a short toast on a button)."""
    role = (granted or await access(ctx)).role
    record(ctx.session, actor(ctx), "access.refused", "command", what[:64], after={"role": role},
           at=ctx.core.utcnow())


async def may_act_on_station(ctx: Context, station_id: int) -> bool:
    """May this chat act on the station's records (take an alert, answer a request, confirm an erasure)?
    Admins and the station's active staff anywhere; members of a group bound to the station; the sandbox
    console, which receives all of them."""
    inc = ctx.incoming
    if (inc.channel, inc.chat_id) == ctx.core.staff_console or (await access(ctx)).changes(station_id):
        return True
    if inc.chat_type == "private":  # a private chat is never a bound group: the staff record decides
        return False
    binding = await binding_of(ctx.session, inc.channel, inc.chat_id)
    return binding is not None and binding.station_id == station_id


async def may_erase(ctx: Context, station_id: int) -> bool:
    """May this user confirm an erasure, which cannot be undone? Admins and the station's active staff only (not
    any member of its group); the sandbox console, its operator's own terminal."""
    inc = ctx.incoming
    return (inc.channel, inc.chat_id) == ctx.core.staff_console or (await access(ctx)).changes(station_id)


async def may_take_alert(ctx: Context, alert: Alert) -> bool:
    """May this chat press an alert's buttons? Whoever may act on its station; once the alert was escalated
    (nobody took it in time, scheduler/escalation.py), also the province group it was posted to."""
    if await may_act_on_station(ctx, alert.station_id):
        return True
    inc = ctx.incoming
    if alert.escalated_at is None or inc.chat_type == "private":
        return False
    binding = await binding_of(ctx.session, inc.channel, inc.chat_id)
    return binding is not None and binding.station_id is None
