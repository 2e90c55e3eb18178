"""The application's environment, which every layer may read: database, rules, clock, time zone, admins."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from health.rules import Rules
from storage.db import Database

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class Core:
    def __init__(self, db: Database, rules: Rules, tz: ZoneInfo, admin_chats: list[tuple[str, str]] | None = None,
                 clock: Clock = system_clock, staff_console: tuple[str, str] | None = None) -> None:
        self.db = db
        self.rules = rules
        self.tz = tz
        self.admin_chats = list(admin_chats or [])
        self.clock = clock
        self.staff_console = staff_console  # the sandbox's terminal, which sees every alert it causes
        self.bot_username = "cachly_bot"  # the channel sets its own at start
        self.outbox_ready = asyncio.Event()  # set when a transaction queued messages for the sender
        self.handling = 0  # updates being handled now: a scheduler round on SQLite pauses between batches for them
        # The channel's hook, awaited after a commit that changed roles, with their (channel, user_id).
        self.on_roles_changed: Callable[[set[tuple[str, str]]], Awaitable[None]] | None = None

    # --- time: the clock is injectable so tests control it -------------------------------------
    def now(self) -> datetime:
        return self.clock().astimezone(self.tz)

    def utcnow(self) -> datetime:
        """Aware UTC, as stored in the database."""
        return self.clock().astimezone(UTC)

    def today(self) -> date:
        return self.now().date()

    def to_local(self, moment: datetime) -> datetime:
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(self.tz)

    @property
    def retention_days(self) -> int:
        return self.rules.retention_days

    def is_admin(self, channel: str, user_id: str) -> bool:
        return (channel, user_id) in self.admin_chats
