"""Roles and stations: staff joining with a code, admins granting and revoking roles, /tram, staff help.

Every change is an audit event in the same transaction; the person concerned is told through the
outbox, which delivers even when they are not chatting with the bot at that moment.
"""
from __future__ import annotations

from chat.messages import Reply
from chat.text import fold
from conversations import station_admin
from conversations.access import access, actor, require
from conversations.runtime import Context, begin
from handlers.commands import Command, for_role
from locales import t
from storage.attempts import may_try, note_try
from storage.audit import record
from storage.models import StaffMember, Station
from storage.outbox import post
from storage.roles import ADMIN, PROVINCE, STAFF, language_of, note_role_change, staff_member
from storage.stations import code_key, find_stations, get_station, redeem_staff_code

# What an admin may type for a role in /capquyen: English or Vietnamese, accents optional.
ROLE_WORDS = {"admin": ADMIN, "quantri": ADMIN, "qtv": ADMIN,
              "province": PROVINCE, "tinh": PROVINCE,
              "staff": STAFF, "nhanvien": STAFF, "nv": STAFF}
SEVERAL_SHOWN = 6
JOIN_REFUSED = {"unknown": "staff_join.unknown", "used": "staff_join.used", "expired": "staff_join.expired"}
GRANTED = {ADMIN: "grant.ok_admin", PROVINCE: "grant.ok_province", STAFF: "grant.ok_staff"}
TOLD_GRANTED = {ADMIN: "role.granted_admin", PROVINCE: "role.granted_province", STAFF: "role.granted_staff"}
HELP_TITLE = {ADMIN: "help.admin_title", PROVINCE: "help.province_title", STAFF: "help.staff_title"}

# --- joining as staff -------------------------------------------------------------------------------


async def join_staff(ctx: Context) -> list[Reply]:
    """/nhanvien CODE in private: the sender becomes staff of the code's station."""
    inc = ctx.incoming
    if inc.chat_type != "private":  # the code is now seen by the group: say so, so they ask for a new one
        return [Reply(ctx.t("staff_join.private_only"))]
    args = inc.command[1] if inc.command else []
    if not args:
        return [Reply(ctx.t("staff_join.usage"))]
    current = await access(ctx)
    if current.role in (ADMIN, PROVINCE):  # a staff code would narrow their access: keep the code unused
        return [Reply(ctx.t("staff_join.has_role"))]
    member = await staff_member(ctx.session, inc.channel, inc.user_id)
    before = await _snapshot(ctx, member)
    code, subject, now = "".join(args), f"{inc.channel}:{inc.user_id}", ctx.core.utcnow()
    if not await may_try(ctx.session, "staff", subject, now):
        return [Reply(ctx.t("code.too_many"))]
    result = await redeem_staff_code(ctx.session, code, inc.channel, inc.user_id, inc.user_name, now)
    note_try(ctx.session, "staff", subject, result.status == "ok", now)
    if result.status != "ok":
        return [Reply(ctx.t(JOIN_REFUSED[result.status]))]
    assert result.member is not None and result.station is not None  # an "ok" result carries both
    after = {**await _role_shown(ctx, result.member), "code": code_key(code)}  # its hash, as stored
    record(ctx.session, actor(ctx), "role.join", "role", f"{inc.channel}:{inc.user_id}", before=before,
           after=after, at=ctx.core.utcnow())
    note_role_change(ctx.session, inc.channel, inc.user_id)
    return [Reply(ctx.t("staff_join.ok", station=result.station.label))]


# --- granting and revoking --------------------------------------------------------------------------


async def grant(ctx: Context) -> list[Reply]:
    """/capquyen USER_ID ROLE [STATION]: give a Telegram user a role; staff need their station."""
    await require(ctx, ADMIN)
    args = ctx.incoming.command[1] if ctx.incoming.command else []
    if len(args) < 2:
        return [Reply(ctx.t("grant.usage"))]
    user_id, role_word, *station_words = args
    if not user_id.isdigit():
        return [Reply(ctx.t("grant.bad_user", value=user_id) + "\n" + ctx.t("grant.usage"))]
    role = ROLE_WORDS.get(fold(role_word).replace(" ", ""))
    if role is None:
        return [Reply(ctx.t("grant.bad_role", value=role_word) + "\n" + ctx.t("grant.usage"))]
    if _is_self(ctx, user_id):  # an admin cannot lock themselves out by mistake
        return [Reply(ctx.t("grant.self"))]
    station = None
    if role == STAFF:
        if not station_words:
            return [Reply(ctx.t("grant.need_station") + "\n" + ctx.t("grant.usage"))]
        station, problem = await _station_from(ctx, " ".join(station_words))
        if problem is not None:
            return [Reply(problem)]
    return await _apply_grant(ctx, user_id, role, station)


async def _apply_grant(ctx: Context, user_id: str, role: str, station: Station | None) -> list[Reply]:
    channel = ctx.incoming.channel
    member = await staff_member(ctx.session, channel, user_id)
    before = await _snapshot(ctx, member)
    if member is None:
        member = StaffMember(channel=channel, user_id=user_id, role=role)
    member.role, member.station_id, member.active = role, station.id if station else None, True
    member.added_by, member.added_at = actor(ctx)[:200], ctx.core.utcnow()
    ctx.session.add(member)
    await ctx.session.flush()
    record(ctx.session, actor(ctx), "role.grant", "role", f"{channel}:{user_id}", before=before,
           after=await _snapshot(ctx, member), at=ctx.core.utcnow())
    note_role_change(ctx.session, channel, user_id)
    name = station.label if station else ""
    await _tell(ctx, user_id, TOLD_GRANTED[role], station=name)
    text = ctx.t(GRANTED[role], user=user_id, station=name)
    if ctx.core.is_admin(channel, user_id):
        text += "\n" + ctx.t("grant.settings_admin_note")
    return [Reply(text)]


async def revoke(ctx: Context) -> list[Reply]:
    """/thuhoi USER_ID: the user's role ends (the record stays, inactive, for the history)."""
    await require(ctx, ADMIN)
    args = ctx.incoming.command[1] if ctx.incoming.command else []
    if len(args) != 1:
        return [Reply(ctx.t("revoke.usage"))]
    user_id, channel = args[0], ctx.incoming.channel
    if not user_id.isdigit():
        return [Reply(ctx.t("grant.bad_user", value=user_id) + "\n" + ctx.t("revoke.usage"))]
    if _is_self(ctx, user_id):
        return [Reply(ctx.t("grant.self"))]
    if ctx.core.is_admin(channel, user_id):
        return [Reply(ctx.t("revoke.settings_admin", user=user_id))]
    member = await staff_member(ctx.session, channel, user_id)
    if member is None or not member.active:
        return [Reply(ctx.t("revoke.none", user=user_id))]
    before = await _snapshot(ctx, member)
    member.active = False
    ctx.session.add(member)
    record(ctx.session, actor(ctx), "role.revoke", "role", f"{channel}:{user_id}", before=before,
           after=await _snapshot(ctx, member), at=ctx.core.utcnow())
    note_role_change(ctx.session, channel, user_id)
    await _tell(ctx, user_id, "role.revoked")
    return [Reply(ctx.t("revoke.ok", user=user_id))]


def _is_self(ctx: Context, user_id: str) -> bool:
    return user_id == ctx.incoming.user_id


async def _snapshot(ctx: Context, member: StaffMember | None) -> dict | None:
    return await _role_shown(ctx, member) if member is not None else None


async def _role_shown(ctx: Context, member: StaffMember) -> dict:
    """A role as the audit trail shows it: the station by its code, which people recognise."""
    station = await ctx.session.get(Station, member.station_id) if member.station_id else None
    return {"role": member.role, "station": station.code if station else None, "active": member.active}


async def _station_from(ctx: Context, text: str) -> tuple[Station | None, str | None]:
    """A station by its code, or by a name that fits one station only; else the problem to show."""
    station = await get_station(ctx.session, text)
    if station is not None:
        return station, None
    found = await find_stations(ctx.session, text, limit=50)
    exact = [s for s in found if fold(text) in (fold(s.name), fold(s.full_name))]
    if len(exact) == 1 or len(found) == 1:
        return (exact or found)[0], None
    if not found:
        return None, ctx.t("grant.unknown_station", value=text)
    lines = [ctx.t("grant.station_choice", code=s.code, name=s.label) for s in found[:SEVERAL_SHOWN]]
    return None, "\n".join([ctx.t("grant.several_stations", value=text), *lines])


async def _tell(ctx: Context, user_id: str, key: str, **params: object) -> None:
    """Tell the user about their new role in private, in their language if they have talked to the bot."""
    channel = ctx.incoming.channel
    lang = await language_of(ctx.session, channel, user_id)
    # On Telegram a user's private chat has the user's id.
    post(ctx.session, channel, user_id, Reply(t(lang, key, **params)), ctx.core.utcnow())


# --- stations ---------------------------------------------------------------------------------------


async def stations(ctx: Context) -> list[Reply]:
    """/tram [name]: the stations, paged and searchable; the flow's start refuses non-admins."""
    return await begin(ctx, station_admin.FLOW)


# --- help ---------------------------------------------------------------------------------------------


async def staff_help(ctx: Context) -> str | None:
    """The staff/admin part of /trogiup for someone with a role; None for everyone else."""
    granted = await access(ctx)
    if granted.role is None:
        return None
    station = await ctx.session.get(Station, granted.station_id) if granted.station_id else None
    lines = [ctx.t(HELP_TITLE[granted.role], station=station.label if station else "")]
    lines += [_help_line(ctx, command) for command in for_role(granted.role)]
    lines.append(ctx.t("help.staff_footer"))
    return "\n".join(lines)


def _help_line(ctx: Context, command: Command) -> str:
    """'/danhsach (/list) — what it does'."""
    return "".join([f"/{command.vi}", *(f" (/{name})" for name in command.names[1:]), f" — {ctx.t(command.key)}"])
