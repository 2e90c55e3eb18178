"""The outbox sender: delivers queued messages of one channel, retrying with backoff, never dropping one."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from datetime import datetime, timedelta

from aiolimiter import AsyncLimiter
from sqlmodel.ext.asyncio.session import AsyncSession

from chat.messages import Reply
from health.triage import WATCH
from locales import t
from services.alerts import GROUP_LANGUAGE
from services.env import Core
from services.unreachable import mark_unreachable
from storage.chats import move_chat
from storage.models import Alert, AlertStatus, Outbox
from storage.outbox import alert_tiers, claim_due, mark_failed, mark_retry, mark_sent, postpone

log = logging.getLogger(__name__)
Deliver = Callable[[str, dict], Awaitable[str | None]]  # (chat_id, payload) -> sent message id
MAX_ATTEMPTS = 12  # then a row is marked failed, unless it is a copy of an open alert
MAX_BACKOFF_SECONDS = 300
GROUP_PER_MINUTE = 18  # Telegram takes 20 messages a minute in a group: 2 left for the bot's answers there
COALESCE_AFTER = 3  # watch alerts claimed at once for one chat beyond which they go as one message
SUMMARY_NAMES = 10  # names in that message
STOP_GRACE_SECONDS = 5.0  # a round under way may finish its database work; cancelling it mid-query spills tracebacks
# True while a message that may wait for people's direct replies is delivered (every row but an alert): a
# channel's rate limiter reads it to serve replies first (bot/limits.py).
BACKGROUND: ContextVar[bool] = ContextVar("outbox_background", default=False)


class RetryLater(Exception):
    """The channel asks to wait (e.g. Telegram's 429 RetryAfter)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds} s")
        self.seconds = seconds


class Undeliverable(Exception):
    """The message can never be delivered; `unreachable` when the chat itself refuses the bot for good
    (blocked, kicked), not just this one message."""

    def __init__(self, reason: str, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.unreachable = unreachable


class Moved(Exception):
    """The chat has a new id (Telegram: a group upgraded to a supergroup); its messages go there now."""

    def __init__(self, chat_id: str) -> None:
        super().__init__("the chat has a new id")
        self.chat_id = chat_id


def backoff(attempts: int) -> float:
    """Seconds before the next try: doubling, at most 5 minutes (an open alert's copy is tried that often)."""
    return float(min(2 ** min(attempts, 16), MAX_BACKOFF_SECONDS))


def _bounded(seconds: float) -> float:
    """A channel's wait, at most the longest backoff: a row timed further ahead is taken for one timed by a clock
    that stepped back since, and claimed at once (storage/outbox.FAR_AHEAD). A longer 429 is met by another."""
    return min(max(seconds, 0.0), MAX_BACKOFF_SECONDS)


async def _still_open(session: AsyncSession, alert_id: int | None) -> bool:
    """A copy of an alert nobody took yet is never given up (scheduler/escalation.py tells the admins)."""
    alert = await session.get(Alert, alert_id) if alert_id is not None else None
    return alert is not None and alert.status == AlertStatus.OPEN


def _summary(names: list[str]) -> dict:
    """One message for many watch alerts: how many, whose (the first few), and where to see them."""
    listed = ", ".join(names[:SUMMARY_NAMES]) + (" …" if len(names) > SUMMARY_NAMES else "")
    return Reply(t(GROUP_LANGUAGE, "alert.coalesced", count=len(names), names=listed)).to_payload()


class OutboxSender:
    """Delivers due outbox rows: chats in parallel, each chat's rows in order, paced below the channel's limit.

    Pacing at `per_second` (under Telegram's 30 messages/s) leaves room for the direct replies of people
    chatting during a large round; per-chat limits (20/min to a group) and 429s are the bot's rate
    limiter's, and one slow chat never holds up the others.
    """

    def __init__(self, core: Core, channel: str, deliver: Deliver, batch: int = 100,
                 lease: timedelta = timedelta(seconds=120), idle_seconds: float = 1.0,
                 per_second: float = 25, group_per_minute: int = GROUP_PER_MINUTE) -> None:
        self.core, self.channel, self.deliver = core, channel, deliver
        self.batch, self.lease, self.idle_seconds = batch, lease, idle_seconds
        self.pace = AsyncLimiter(per_second, 1)
        self.group_per_minute = group_per_minute
        self._writing = asyncio.Lock()
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._recent: dict[str, deque[datetime]] = defaultdict(deque)  # a group's deliveries in the last minute

    async def run_once(self) -> int:
        """Deliver the rows due now; how many were tried."""
        async with self.core.db.session() as session:
            rows = await claim_due(session, self.channel, self.core.utcnow(), self.batch, self.lease)
            tiers = await alert_tiers(session, [row.alert_id for row in rows if row.alert_id is not None])
        by_chat: dict[str, list[Outbox]] = defaultdict(list)
        for row in rows:
            by_chat[row.chat_id].append(row)
        await asyncio.gather(*(self._deliver_chat(chat_rows, tiers) for chat_rows in by_chat.values()))
        return len(rows)

    async def _deliver_chat(self, rows: list[Outbox], tiers: dict[int, tuple[str, str]]) -> None:
        plan = self._plan(rows, tiers)
        for n, (sending, payload) in enumerate(plan):
            wait = self._wait_for_room(rows[0].chat_id)
            if wait is not None:  # the group had its minute's share: the rest later, coalesced if many
                async with self._write() as session:
                    await postpone(session, [r.id for item, _ in plan[n:] for r in item if r.id is not None],
                                   self.core.utcnow() + wait)
                return
            async with self.pace:
                # this chat's task only: gather gave it a context of its own
                BACKGROUND.set(all(row.alert_id is None for row in sending))
                await self._deliver_rows(sending, payload)

    def _plan(self, rows: list[Outbox], tiers: dict[int, tuple[str, str]]) -> list[tuple[list[Outbox], dict]]:
        """What to send the chat, in order: each row, except that many watch alerts at once (more than a few, or
        more than the group's minute has room for) become one message where the first of them was."""
        watch = [row for row in rows if row.alert_id is not None and tiers.get(row.alert_id, ("", ""))[0] == WATCH
                 and "edit_id" not in row.payload]  # an edit updates a message shown already: never coalesced
        room = self._room(rows[0].chat_id)
        if len(watch) <= 1 or (len(watch) <= COALESCE_AFTER and len(rows) <= room):
            return [([row], row.payload) for row in rows]
        plan: list[tuple[list[Outbox], dict]] = []
        for row in rows:
            if row is watch[0]:
                plan.append((watch, _summary([tiers[r.alert_id][1] for r in watch if r.alert_id is not None])))
            elif row not in watch:
                plan.append(([row], row.payload))
        return plan

    def _room(self, chat_id: str) -> float:
        """How many more messages the chat may get this minute: Telegram's groups (negative ids) take 20."""
        if not chat_id.startswith("-"):
            return float("inf")
        now = self.core.utcnow()
        recent, since = self._recent[chat_id], now - timedelta(minutes=1)
        if recent and recent[-1] > now:  # the clock stepped back: those times would fill the minute for as long
            recent.clear()
        while recent and recent[0] <= since:
            recent.popleft()
        return self.group_per_minute - len(recent)

    def _wait_for_room(self, chat_id: str) -> timedelta | None:
        if self._room(chat_id) >= 1:
            return None
        return self._recent[chat_id][0] + timedelta(minutes=1) - self.core.utcnow()  # within a minute: see _room

    async def _deliver_rows(self, rows: list[Outbox], payload: dict) -> None:
        """One message for the rows (one row, or watch alerts coalesced), its outcome recorded for each."""
        if rows[0].chat_id.startswith("-"):
            self._recent[rows[0].chat_id].append(self.core.utcnow())
        if len(rows) == 1:
            row = rows[0]
            assert row.id is not None  # claimed rows are read from the database
            await self._deliver_one(row.id, row.chat_id, payload, row.attempts, row.alert_id)
            return
        try:
            await self.deliver(rows[0].chat_id, payload)
        except Exception as exc:  # noqa: BLE001 - each row is tried again on its own terms
            log.info("outbox: %s coalesced alerts not delivered (%s); each is tried again", len(rows),
                     type(exc).__name__)
            for row in rows:
                assert row.id is not None
                seconds = _bounded(exc.seconds) if isinstance(exc, RetryLater) else backoff(row.attempts)
                await self._retry(row.id, type(exc).__name__, seconds, row.attempts, row.alert_id)
        else:
            async with self._write() as session:
                for row in rows:  # no message id of their own: a press edits the alerts' own messages only
                    assert row.id is not None
                    await mark_sent(session, row.id, None, self.core.utcnow())

    async def _deliver_one(self, row_id: int, chat_id: str, payload: dict, attempts: int,
                           alert_id: int | None = None) -> None:
        try:
            message_id = await self.deliver(chat_id, payload)
        except RetryLater as exc:
            await self._retry(row_id, str(exc), _bounded(exc.seconds), attempts, alert_id)
        except Moved as exc:  # this row and the chat's others are due again at once, at the new id
            log.info("outbox %s: the chat has a new id; its binding and messages follow it", row_id)
            async with self._write() as session:
                await move_chat(session, self.channel, chat_id, exc.chat_id, self.core.utcnow())
            self.core.outbox_ready.set()
        except Undeliverable as exc:
            log.warning("outbox %s: undeliverable: %s", row_id, exc)
            async with self._write() as session:
                await mark_failed(session, row_id, str(exc))
                if exc.unreachable:
                    await mark_unreachable(session, self.core, self.channel, chat_id, str(exc))
        except Exception as exc:  # noqa: BLE001 - any other failure is retried, and recorded
            await self._retry(row_id, type(exc).__name__, backoff(attempts), attempts, alert_id)
        else:
            async with self._write() as session:
                await mark_sent(session, row_id, message_id, self.core.utcnow())

    async def _retry(self, row_id: int, error: str, seconds: float, attempts: int, alert_id: int | None) -> None:
        async with self._write() as session:
            if attempts >= MAX_ATTEMPTS and not await _still_open(session, alert_id):
                log.error("outbox %s: giving up after %s attempts: %s", row_id, attempts, error)
                await mark_failed(session, row_id, error)
            else:
                log.info("outbox %s: attempt %s failed (%s), retrying in %.0f s", row_id, attempts, error, seconds)
                await mark_retry(session, row_id, error, self.core.utcnow() + timedelta(seconds=seconds))

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncSession]:
        """A session to record an outcome in, one at a time. Deliveries run in parallel, but SQLite has one writer
        and writers waiting for it poll instead of queueing: a batch's dozens of parallel records starved people's
        check-ins until "database is locked" (tests/test_faults.py). Queued here, they wait their turn."""
        async with self._writing, self.core.db.session() as session:
            yield session

    async def run(self) -> None:
        while not self._stopping:
            try:
                tried = await self.run_once()
            except Exception as exc:  # noqa: BLE001 - a database hiccup must not stop deliveries for good
                log.error("outbox sender round failed: %s", type(exc).__name__)
                tried = 0
            if tried == 0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.core.outbox_ready.wait(), self.idle_seconds)
                self.core.outbox_ready.clear()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self.run(), name=f"outbox-{self.channel}")

    async def stop(self) -> None:
        """Stop between rounds; a round that does not end within the grace period is cancelled (its rows are
        claimed again when their lease runs out)."""
        if self._task is None:
            return
        self._stopping = True
        self.core.outbox_ready.set()  # wake an idle loop so that it sees the stop at once
        try:
            await asyncio.wait_for(asyncio.shield(self._task), STOP_GRACE_SECONDS)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None
