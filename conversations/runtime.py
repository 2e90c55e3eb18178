"""The state-machine runtime: a flow is named steps; each asks a question and reads the answer.

The current step and the answers so far live in the ConversationState row of the account, so a
restart resumes where the person was. A bad answer gets its error message and a short re-ask (the
question without its preamble); the answers already given stay. Typing the label of one of the
question's buttons ("dong y" for «Đồng ý») is pressing it.
"""
from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

from chat.messages import Button, Incoming, Reply
from chat.payloads import StepAnswer
from chat.text import answer_key, label_keys
from locales import t
from storage.models import Account, ConversationState

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from services.env import Core

ASKED_IN = "_chat"  # in a flow's data: the chat it was begun in, the only group whose messages answer it


class Refused(Exception):
    """A refusal of access, raised where it is found: it ends the flow it happens in, and the router
    (handlers/dispatch.py) turns it into its replies inside the update's transaction."""

    def __init__(self, replies: list[Reply]) -> None:
        super().__init__("access refused")
        self.replies = replies


@dataclass
class Context:
    session: AsyncSession
    account: Account
    core: Core
    incoming: Incoming
    data: dict = field(default_factory=dict)

    @property
    def lang(self) -> str:
        return self.account.language

    @property
    def account_id(self) -> int:
        assert self.account.id is not None  # handlers/pipeline.account_for flushes a new account before any Context
        return self.account.id

    def t(self, key: str, **params: object) -> str:
        return t(self.account.language, key, **params)

    def now(self) -> datetime:
        return self.core.now()

    def today(self) -> date:
        return self.core.today()

    def button(self, step: str, value: str, key: str, **params: object) -> Button:
        """A button answering `step` with `value`, labelled with a catalog message."""
        return self.choice(step, value, self.t(key, **params))

    @staticmethod
    def choice(step: str, value: str, label: str) -> Button:
        """A button answering `step` with `value`, labelled with data (a station's or a person's name)."""
        return Button(label, StepAnswer(step, value).encode())


@dataclass
class Next:
    step: str
    before: list[Reply] = field(default_factory=list)


@dataclass
class Retry:
    error: str  # the message saying what is expected; the question follows


@dataclass
class Stay:
    replies: list[Reply]


@dataclass
class Done:
    replies: list[Reply]


Outcome = Next | Retry | Stay | Done
Ask = Callable[[Context], Awaitable[list[Reply]]]


@dataclass(frozen=True)
class Input:
    """What the person gave a step: typed text, the value of one of the step's buttons, or a contact."""

    text: str | None = None
    choice: str | None = None
    contact_phone: str | None = None
    contact_is_own: bool = True


@dataclass(frozen=True)
class Step:
    ask: Ask
    answer: Callable[[Context, Input], Awaitable[Outcome]]


@dataclass(frozen=True)
class Flow:
    name: str
    first: str
    steps: dict[str, Step]
    start: Callable[[Context], Awaitable[list[Reply] | None]] | None = None  # None: go; replies: refuse
    takes_files: bool = False  # its steps read ctx.incoming.document themselves
    # The role the flow needs, checked when it begins and again before every step (an answer, a button, a
    # question asked again): it raises Refused for a role revoked or changed since, which ends the flow.
    guard: Callable[[Context], Awaitable[None]] | None = None


async def load_state(session: AsyncSession, account_id: int) -> ConversationState | None:
    # By primary key: the session's identity map answers the second and later calls of an update (dispatch,
    # then saving the step, then clearing it) without a query each. One deleted but not yet flushed is gone.
    state = await session.get(ConversationState, account_id)
    return None if state is None or state in session.deleted else state


async def clear_state(session: AsyncSession, account_id: int) -> bool:
    state = await load_state(session, account_id)
    if state is None:
        return False
    await session.delete(state)
    return True


async def begin(ctx: Context, flow: Flow, data: dict | None = None, first: str | None = None) -> list[Reply]:
    """Start a flow for the account (replacing any other) and ask its first question."""
    ctx.data = dict(data or {})
    if flow.guard is not None:
        await flow.guard(ctx)
    if flow.start is not None:
        refusal = await flow.start(ctx)
        if refusal is not None:
            return refusal
    step = first or ctx.data.pop("_first", None) or flow.first  # a start hook may skip ahead
    ctx.data[ASKED_IN] = ctx.incoming.chat_id
    await _save(ctx, flow.name, step)
    return await flow.steps[step].ask(ctx)


async def resume(ctx: Context, flow: Flow, state: ConversationState) -> list[Reply]:
    """Ask the current question again, e.g. after /start in the middle of a flow."""
    if refusal := await recheck(ctx, flow, state):
        return refusal
    return await flow.steps[state.step].ask(ctx)


async def recheck(ctx: Context, flow: Flow, state: ConversationState) -> list[Reply] | None:
    """The flow's guard run again now, on its data: None if the caller may go on; else the refusal, and the
    conversation is over (a role revoked mid-flow must not see the next page, nor answer the last question)."""
    ctx.data = copy.deepcopy(state.data)  # deep: the stored value must stay unchanged to detect the update
    if flow.guard is None:
        return None
    try:
        await flow.guard(ctx)
    except Refused as refused:
        await clear_state(ctx.session, ctx.account_id)
        return refused.replies
    return None


async def advance(ctx: Context, flow: Flow, state: ConversationState, inc: Incoming) -> list[Reply]:
    """Give the person's input to the current step and move the flow on."""
    if refusal := await recheck(ctx, flow, state):
        return refusal
    step = flow.steps.get(state.step)
    if step is None:  # a step removed by an upgrade: start the flow again rather than fail
        return await begin(ctx, flow, ctx.data)
    if (inc.document is not None or inc.document_too_large) and not flow.takes_files:
        return [Reply(ctx.t("common.no_files")), *await step.ask(ctx)]
    answer = await _answer_for(ctx, state.step, step, inc)
    if answer is None:  # a button from an older question
        return [Reply(ctx.t("common.stale_button")), *await step.ask(ctx)]
    try:
        outcome = await step.answer(ctx, answer)
    except Refused as refused:  # e.g. the role was revoked mid-conversation: the conversation ends
        outcome = Done(refused.replies)
    if isinstance(outcome, Retry):
        await _save(ctx, flow.name, state.step)
        return [Reply(outcome.error), *await _reask(ctx, step)]
    if isinstance(outcome, Stay):
        await _save(ctx, flow.name, state.step)
        return outcome.replies
    if isinstance(outcome, Next):
        await _save(ctx, flow.name, outcome.step)
        return [*outcome.before, *await flow.steps[outcome.step].ask(ctx)]
    await clear_state(ctx.session, ctx.account_id)
    return outcome.replies


async def _answer_for(ctx: Context, name: str, step: Step, inc: Incoming) -> Input | None:
    if inc.button is not None:
        pressed = StepAnswer.parse(inc.button)
        return Input(choice=pressed.value) if pressed is not None and pressed.step == name else None
    typed_alone = inc.text and inc.contact_phone is None and inc.photo_id is None  # a photo's caption is no press
    if typed_alone and (typed := await _typed_choice(ctx, name, step, inc.text or "")):
        return Input(choice=typed)
    return Input(text=inc.text or "", contact_phone=inc.contact_phone, contact_is_own=inc.contact_is_own)


async def _typed_choice(ctx: Context, name: str, step: Step, text: str) -> str | None:
    """The value of the question's button whose label was typed (accents, case, emoji optional), or None.

    The question is asked again, unsent, to know its buttons as they are now; on a copy of the data, since
    some questions consume a one-time notice when asked. Two buttons read alike: none is guessed."""
    kept = copy.deepcopy(ctx.data)
    try:
        replies = await step.ask(ctx)
    finally:
        ctx.data = kept
    key = answer_key(text)
    values = {pressed.value for reply in replies for row in reply.buttons for button in row
              if (pressed := StepAnswer.parse(button.payload)) is not None and pressed.step == name
              and key in label_keys(button.label)}
    return values.pop() if len(values) == 1 else None


async def _reask(ctx: Context, step: Step) -> list[Reply]:
    """Under the error, the question itself with its buttons: not the welcome or notice asked before it."""
    return (await step.ask(ctx))[-1:]


async def _save(ctx: Context, flow: str, step: str) -> None:
    state = await load_state(ctx.session, ctx.account_id)
    if state is None:
        state = ConversationState(account_id=ctx.account_id, flow=flow, step=step)
    state.flow, state.step, state.data, state.updated_at = flow, step, dict(ctx.data), ctx.core.utcnow()
    ctx.session.add(state)
