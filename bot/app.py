"""Application assembly: the core on its database, and the Telegram bot (long polling) around it."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlparse

from sqlmodel import select
from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, BaseRateLimiter, ContextTypes, TypeHandler

from bot import logs
from bot import telegram as tg
from bot.limits import RepliesFirst
from bot.long_polling import LongPolling
from bot.polling import PollerLease
from bot.settings import Settings
from bot.watchdog import CHECK_EVERY_SECONDS, DatabaseFileWatchdog, warn_if_missing, watched_file
from bot.webhook import UpdateReceiver, WebhookServer
from delivery.sender import OutboxSender
from handlers.pipeline import handle
from health.rules import load_rules
from scheduler.runner import Scheduler
from services.env import Clock, Core, system_clock
from storage.db import Database
from storage.migrate import upgrade
from storage.models import StaffMember
from storage.roles import access_of, language_of

log = logging.getLogger(__name__)
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]


def build_core(settings: Settings, clock: Clock = system_clock,
               staff_console: tuple[str, str] | None = None) -> Core:
    admins = [(tg.CHANNEL, str(i)) for i in settings.admin_ids]
    return Core(Database(settings.database_url),
                load_rules(settings.rules_file, settings.rules_overrides()), settings.tz, admins, clock,
                staff_console)


@dataclass(frozen=True)
class Webhook:
    """Webhook mode: Telegram POSTs updates to `url`; this process listens on host:port and accepts only
    requests carrying `secret` in the X-Telegram-Bot-Api-Secret-Token header."""

    url: str
    host: str
    port: int
    secret: str

    @property
    def path(self) -> str:
        return urlparse(self.url).path.lstrip("/")


def file_url(base_url: str) -> str:
    """Where sent files are downloaded: Telegram (and a local Bot API server) serve them under /file/bot<token>."""
    if base_url.endswith("/bot"):
        return base_url.removesuffix("/bot") + "/file/bot"
    return "https://api.telegram.org/file/bot"


class TelegramBot:
    """The bot on Telegram: long polling in, the core in the middle, direct replies and the outbox out."""

    def __init__(self, settings: Settings, core: Core | None = None, poll_timeout: int = 10,
                 rate_limiter: BaseRateLimiter | None = None, read_timeout: float | None = None,
                 watch_every: float = CHECK_EVERY_SECONDS) -> None:
        """`rate_limiter` and `read_timeout` (seconds to wait for Telegram's answer, default 5) are for tests
        that inject faults: production keeps PTB's limiter, which waits out a 429 itself up to 3 times, with
        direct replies served before the outbox's background rows (bot/limits.py). `watch_every`: seconds
        between two checks of the SQLite file (bot/watchdog.py)."""
        self.settings = settings
        self.watch_every = watch_every
        self.watchdog: DatabaseFileWatchdog | None = None
        self.must_stop = asyncio.Event()  # set by the watchdog (and by serve()'s signals): serve() stops the bot
        self.core = core or build_core(settings)
        self.poll_timeout = poll_timeout
        assert settings.telegram_token is not None  # the CLI runs the bot only with a token (else the sandbox)
        builder = (Application.builder().token(settings.telegram_token).base_url(settings.telegram_base_url)
                   .base_file_url(file_url(settings.telegram_base_url))
                   .rate_limiter(rate_limiter or RepliesFirst()))
        if read_timeout is not None:
            builder = builder.read_timeout(read_timeout)
        self.app = builder.build()
        self.app.add_handler(TypeHandler(Update, self.on_update))
        self.app.add_error_handler(self.on_error)
        self.sender = OutboxSender(self.core, tg.CHANNEL, tg.deliverer(self.app.bot))
        self.scheduler = Scheduler(self.core)
        self.polling = LongPolling(self.app, poll_timeout, ALLOWED_UPDATES)  # confirms what it handled only
        self.poller: PollerLease | None = None
        self.core.on_roles_changed = self.set_role_menus
        self._menus: asyncio.Task | None = None
        self.webhook_server: WebhookServer | None = None

    async def on_update(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        incoming = await tg.to_incoming(update)
        if incoming is None:
            return
        replies = await handle(self.core, incoming)
        await tg.show(self.app.bot, incoming.chat_id, replies, update.callback_query)

    async def set_role_menus(self, users: set[tuple[str, str]]) -> None:
        """Each user's private chat menu as their role is now; a failure leaves it as it was, logged (the
        commands work without it)."""
        ours = sorted(user_id for channel, user_id in users if channel == tg.CHANNEL and user_id.isdigit())
        async with self.core.db.session() as session:
            menus = [(user_id, (await access_of(session, tg.CHANNEL, user_id,
                                                self.core.is_admin(tg.CHANNEL, user_id))).role,
                      await language_of(session, tg.CHANNEL, user_id)) for user_id in ours]
        for user_id, role, lang in menus:
            try:
                await tg.set_role_menu(self.app.bot, user_id, role, lang)
            except TelegramError as exc:
                log.warning("a staff member's command menu was not set: %s", type(exc).__name__)

    async def _set_all_role_menus(self) -> None:
        """At start: the menus of everyone with a role (in the background: start-up waits for none of them)."""
        try:
            async with self.core.db.session() as session:
                staff = (await session.exec(select(StaffMember.channel, StaffMember.user_id).where(
                    StaffMember.channel == tg.CHANNEL, StaffMember.active))).all()
            await self.set_role_menus({(c, u) for c, u in staff} | set(self.core.admin_chats))
        except Exception as exc:  # noqa: BLE001 - the menus stay as they were; the commands work anyway
            log.error("setting the staff's command menus at start failed: %s", type(exc).__name__)

    async def on_error(self, _update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        # The type only: exception texts from the network layer may quote message content.
        log.error("telegram update failed: %s", type(context.error).__name__)

    async def start(self, run_scheduler: bool = False, webhook: Webhook | None = None) -> None:
        """Serve updates and deliver the outbox; `run_scheduler` adds the reminder and report sweeps."""
        database_file = watched_file(self.settings.database_url)
        if database_file is not None:
            warn_if_missing(database_file)
        await upgrade(self.settings.database_url)
        if database_file is not None:
            self.watchdog = DatabaseFileWatchdog(database_file, self.must_stop.set, self.watch_every)
            self.watchdog.start()
        await self.app.initialize()
        self.core.bot_username = self.app.bot.username  # for invitation links t.me/<bot>?start=<code>
        await tg.set_command_menus(self.app.bot)
        self._menus = asyncio.create_task(self._set_all_role_menus())
        await self.app.start()
        if webhook is None:  # polls only while it holds the poller lease: one getUpdates consumer per bot
            self.poller = PollerLease(self.core, self.polling.start, self.polling.stop,
                                      timedelta(seconds=self.settings.poller_lease_seconds))
            await self.poller.start()
        else:
            await self._start_webhook(webhook)
        self.sender.start()
        if run_scheduler:
            self.scheduler.start()
        log.info("cachly is running as @%s", self.app.bot.username)

    async def _start_webhook(self, webhook: Webhook) -> None:
        """Our server first (it refuses a stranger before reading a byte of the body), then setWebhook, so
        that Telegram's first POST finds it listening. Stopping leaves the webhook set, as PTB's Updater did:
        the other processes behind the same URL go on receiving."""
        self.webhook_server = WebhookServer(UpdateReceiver(webhook.path, webhook.secret, self.app.bot,
                                                           self.app.update_queue))
        await self.webhook_server.start(webhook.host, webhook.port)
        await self.app.bot.set_webhook(webhook.url, secret_token=webhook.secret, allowed_updates=ALLOWED_UPDATES)

    @property
    def database_lost(self) -> bool:
        return self.watchdog is not None and self.watchdog.problem is not None

    async def stop(self) -> None:
        if self.watchdog is not None:
            await self.watchdog.stop()
        if self._menus is not None:
            self._menus.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._menus
            self._menus = None
        await self.scheduler.stop()
        await self.sender.stop()
        if self.poller is not None:
            await self.poller.stop()
            self.poller = None
        await self.polling.stop()
        if self.webhook_server is not None:
            await self.webhook_server.stop()
            self.webhook_server = None
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()
        await self.core.db.dispose()


async def serve(settings: Settings, webhook: Webhook | None = None) -> int:
    """The bot until a signal (exit status 0) or until its database file is lost (1: the supervisor sees a
    failure, and the log says which)."""
    bot = TelegramBot(settings)
    await bot.start(run_scheduler=True, webhook=webhook)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, bot.must_stop.set)
    try:
        await bot.must_stop.wait()
    finally:
        await bot.stop()
    return 1 if bot.database_lost else 0


def run_polling(settings: Settings, webhook: Webhook | None = None) -> None:
    """The bot until SIGINT/SIGTERM: long polling, or a webhook server when `webhook` is given."""
    logs.configure(settings.log_level)  # the libraries' lines stay at WARNING: httpx's carry the bot token
    status = asyncio.run(serve(settings, webhook))
    if status:
        raise SystemExit(status)
