"""Access checks for staff and admin commands: the role and station of whoever asks, refusals recorded."""
from __future__ import annotations

from conversations.messages import Reply
from conversations.runtime import Context
from storage.audit import record
from storage.roles import Access, access_of


def actor(ctx: Context) -> str:
    """Who did it, for the audit trail: channel, id and the display name staff know each other by."""
    inc = ctx.incoming
    return f"{inc.channel}:{inc.user_id} ({inc.user_name})" if inc.user_name else f"{inc.channel}:{inc.user_id}"


async def access(ctx: Context) -> Access:
    inc = ctx.incoming
    return await access_of(ctx.session, inc.channel, inc.user_id, ctx.core.is_admin(inc.channel, inc.user_id))


async def require(ctx: Context, *roles: str, what: str = "") -> Access | list[Reply]:
    """The caller's Access if their role is one of `roles`; else a clear refusal, and the attempt recorded."""
    granted = await access(ctx)
    if granted.role in roles:
        return granted
    command = ctx.incoming.command[0] if ctx.incoming.command else (ctx.incoming.button or "")
    record(ctx.session, actor(ctx), "access.refused", "command", what or command.split(":")[0],
           after={"role": granted.role}, at=ctx.core.utcnow())
    return [Reply(ctx.t("access.refused"))]


async def refuse(ctx: Context, what: str) -> list[Reply]:
    """A refusal for a record outside the caller's station, recorded like any other."""
    granted = await access(ctx)
    record(ctx.session, actor(ctx), "access.refused", "command", what, after={"role": granted.role},
           at=ctx.core.utcnow())
    return [Reply(ctx.t("access.refused"))]
