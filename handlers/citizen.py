"""Commands and buttons of people in quarantine and those who declare for them."""
from __future__ import annotations

from sqlmodel import select

from chat.messages import Button, Reply
from chat.payloads import Go, LanguagePick
from conversations import checkin as checkin_flow
from conversations import household as household_flow
from conversations import idle as idle_flow
from conversations import registration, reminder_times
from conversations.idle import menu, outside_question, registered_people
from conversations.registry import current_question
from conversations.runtime import Context, Flow, begin, clear_state, load_state
from handlers.admin import staff_help
from locales import languages, t
from services.contact import station_of_account, with_phone
from storage.attempts import may_try, note_try
from storage.invitations import find_invitation
from storage.models import Declaration, PersonStatus


async def start(ctx: Context) -> list[Reply]:
    """/start, /dangky: the status of a registered person; registration (or where it stopped) otherwise.

    `/start CODE` comes from an invitation's deep link t.me/<bot>?start=CODE.
    """
    command = ctx.incoming.command
    code = command[1][0] if command and command[1] else None
    registered = any(p.is_self for p in await registered_people(ctx))
    if code and not registered:
        return await invited(ctx, code)
    if registered:
        return [Reply(ctx.t("invite.already_registered")), *await status(ctx)] if code else await status(ctx)
    state = await load_state(ctx.session, ctx.account_id)
    if state is not None and state.flow == registration.FLOW.name:
        return [Reply(ctx.t("common.continue")), *await current_question(ctx)]
    return await begin(ctx, registration.FLOW)


INVITATION_PROBLEMS = {"unknown": "invite.unknown", "used": "invite.used", "expired": "invite.expired"}


async def invited(ctx: Context, code: str) -> list[Reply]:
    """Registration pre-filled from the invitation: the person consents, checks the summary and confirms.
    A code that cannot be used is said so, and the person registers the usual way."""
    subject, now = f"{ctx.incoming.channel}:{ctx.incoming.user_id}", ctx.core.utcnow()
    if not await may_try(ctx.session, "invite", subject, now):
        return [Reply(ctx.t("code.too_many")), *await begin(ctx, registration.FLOW)]
    lookup = await find_invitation(ctx.session, code, now)
    note_try(ctx.session, "invite", subject, lookup.status == "ok", now)
    if lookup.status != "ok":
        return [Reply(ctx.t(INVITATION_PROBLEMS[lookup.status])), *await begin(ctx, registration.FLOW)]
    invitation = lookup.invitation
    assert invitation is not None  # an "ok" lookup carries its invitation
    data = {**invitation.data, registration.INVITED: invitation.code}
    welcome = Reply(ctx.t("invite.welcome", station=invitation.data.get("station_name", "")))
    return [welcome, *await begin(ctx, registration.FLOW, data)]


async def status(ctx: Context) -> list[Reply]:
    today = ctx.today()
    lines = [ctx.t("status.title")]
    for person in await registered_people(ctx):
        if person.status != PersonStatus.ACTIVE:
            lines.append(ctx.t("status.completed", name=person.full_name, end=person.end_date.strftime("%d/%m/%Y")))
            continue
        query = select(Declaration.slot).where(Declaration.person_id == person.id, Declaration.day == today)
        done = sorted(set((await ctx.session.exec(query)).all()))
        left = (person.end_date - today).days + 1  # the last day is still a day at home
        lines.append(ctx.t("status.person", name=person.full_name, end=person.end_date.strftime("%d/%m/%Y"),
                           left=max(left, 0)))
        lines.append(ctx.t("status.declared", slots=", ".join(done)) if done else ctx.t("status.not_declared"))
    return [Reply("\n".join(lines), menu(ctx))]


async def checkin(ctx: Context, person_id: int | None = None) -> list[Reply]:
    data = {"person_id": person_id} if person_id is not None else {}
    return await begin_or_remind(ctx, checkin_flow.FLOW, data)


async def household(ctx: Context) -> list[Reply]:
    return await begin_or_remind(ctx, household_flow.FLOW)


async def begin_or_remind(ctx: Context, flow: Flow, data: dict | None = None) -> list[Reply]:
    """Start a flow; if it refuses (e.g. not registered yet), repeat the question the person is on."""
    replies = await begin(ctx, flow, data)
    state = await load_state(ctx.session, ctx.account_id)
    if state is not None and state.flow != flow.name:
        replies += [Reply(ctx.t("common.continue")), *await current_question(ctx)]
    return replies


async def reminders(ctx: Context) -> list[Reply]:
    return await begin(ctx, reminder_times.FLOW)


async def cancel(ctx: Context) -> list[Reply]:
    cancelled = await clear_state(ctx.session, ctx.account_id)
    return [Reply(ctx.t("common.cancelled" if cancelled else "common.nothing_to_cancel"), remove_keyboard=True)]


async def language(ctx: Context) -> list[Reply]:
    """One button per catalog, each labelled by its own catalog: a new language needs no text in the others."""
    buttons = [Button(t(lang, "language.name"), LanguagePick(lang).encode()) for lang in languages()]
    return [Reply(ctx.t("language.ask"), [buttons[i:i + 3] for i in range(0, len(buttons), 3)])]


async def set_language(ctx: Context) -> list[Reply]:
    pressed = LanguagePick.parse(ctx.incoming.button)
    if pressed is None or pressed.lang not in languages():
        return await language(ctx)
    ctx.account.language = pressed.lang
    ctx.session.add(ctx.account)
    return [Reply(ctx.t("language.set")), *await current_question(ctx)]


async def help_(ctx: Context) -> list[Reply]:
    """The citizen commands; staff and admins also get the commands of their role."""
    text = with_phone(ctx.lang, ctx.t("help.citizen"), await station_of_account(ctx.session, ctx.account_id))
    extra = await staff_help(ctx)
    return [Reply(f"{text}\n\n{extra}" if extra else text, menu(ctx))]


async def unknown_command(ctx: Context) -> list[Reply]:
    return [Reply(ctx.t("common.unknown_command")), *await current_question(ctx)]


async def idle(ctx: Context) -> list[Reply]:
    """A message outside any conversation: danger words get the danger advice; else what the person can do."""
    return await outside_question(ctx)


async def distress(ctx: Context) -> list[Reply]:
    """«Báo trạm y tế ngay»; then the question the person is on, if they had moved on to another."""
    replies = await idle_flow.press(ctx)
    if replies is None:
        return [Reply(ctx.t("common.stale_button")), *await current_question(ctx)]
    return [*replies, *await current_question(ctx)]


async def go(ctx: Context) -> list[Reply]:
    """Shortcut buttons: go:checkin[:person], go:household, go:register."""
    pressed = Go.parse(ctx.incoming.button)
    if pressed is not None and pressed.target == "checkin":
        return await checkin(ctx, pressed.person_id)
    if pressed is not None and pressed.target == "household":
        return await household(ctx)
    return await start(ctx)
