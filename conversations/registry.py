"""The flow registry: every conversation by name, and the question an account is on."""
from __future__ import annotations

from chat.messages import Reply
from conversations import (
    checkin,
    help_request,
    household,
    idle,
    registration,
    reminder_times,
    staff_flows,
    station_admin,
)
from conversations.runtime import Context, Flow, load_state, resume

FLOWS: dict[str, Flow] = {f.name: f for f in (
    registration.FLOW,
    household.FLOW,
    checkin.FLOW,
    reminder_times.FLOW,
    help_request.FLOW,
    help_request.ANSWER_FLOW,
    station_admin.FLOW,
    idle.FLOW,
    *staff_flows.FLOWS,
)}


async def current_question(ctx: Context) -> list[Reply]:
    """The question the account is on, if any: asked again after a language change or a stray command."""
    state = await load_state(ctx.session, ctx.account_id)
    if state is None or state.flow not in FLOWS:
        return []
    return await resume(ctx, FLOWS[state.flow], state)
