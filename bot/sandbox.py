"""The terminal channel: chat as a person in quarantine, with the station group's messages alongside.

The same core and database as on Telegram; buttons become numbers ([1], [2] … for the bot's, g1, g2 …
for the staff group's), and the staff group is this terminal too, so an alert can be taken here.
"""
from __future__ import annotations

import asyncio
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TextIO

from bot import logs
from bot.app import build_core
from bot.settings import Settings
from chat.messages import Button, Incoming, Reply
from delivery.sender import OutboxSender
from handlers.pipeline import handle
from locales import t
from scheduler.runner import Scheduler
from services.env import Core
from storage.files import write_private
from storage.migrate import upgrade
from storage.stations import ensure_seeded

CHANNEL = "sandbox"
CITIZEN, STAFF = "citizen", "staff"
QUIT = ("/thoat", "/quit", "/exit")


class Sandbox:
    def __init__(self, core: Core, out: TextIO = sys.stdout, language: str = "vi") -> None:
        self.core, self.out, self.language = core, out, language
        self.citizen_buttons: list[Button] = []
        self.citizen_message = 0
        self.staff_buttons: dict[int, tuple[Button, str]] = {}  # g-number -> (button, id of its message)
        self.staff_numbers = 0
        self.staff_messages = 0
        self.sender = OutboxSender(core, CHANNEL, self.deliver)

    def t(self, key: str, **params: object) -> str:
        return t(self.language, key, **params)

    async def deliver(self, chat_id: str, payload: dict) -> str:
        """The outbox's delivery for this channel: the staff group's messages are printed here."""
        reply = self.with_files(Reply.from_payload(payload))
        if chat_id == STAFF and reply.edit_id is not None:  # an alert updated: printed again, marked edited
            self._print_staff(reply, reply.edit_id)
            return reply.edit_id
        if chat_id == STAFF:
            self.staff_messages += 1
            self._print_staff(reply, str(self.staff_messages))
            return str(self.staff_messages)
        self._print_citizen([reply])
        return str(self.citizen_message)

    def with_files(self, reply: Reply) -> Reply:
        """A terminal shows no pictures or files: they go to files whose paths are printed."""
        if reply.photo is not None:
            reply.text += "\n" + self.t("sandbox.image", path=self.save_file("chart-14-days.png", reply.photo))
        if reply.document is not None:
            path = self.save_file(reply.document.file_name, reply.document.content)
            reply.text += "\n" + self.t("sandbox.file", path=path)
        if reply.photo_id is not None:
            reply.text += "\n" + self.t("sandbox.photo")
        return reply

    @staticmethod
    def save_file(name: str, content: bytes) -> Path:
        path = Path(tempfile.gettempdir()) / f"cachly-{uuid.uuid4().hex[:8]}-{Path(name).name}"
        return write_private(path, content)  # a shared /tmp: an export there is for its owner only

    def _print(self, header: str, reply: Reply, numbers: list[str]) -> None:
        lines = [header, reply.text]
        if reply.edit_id is not None:
            lines.insert(1, self.t("sandbox.edited"))
        labels = iter(numbers)
        for row in reply.buttons:  # the channel's rows, numbered in reading order
            lines.append("   ".join(f"[{next(labels)}] {b.label}" for b in row))
        if reply.request_contact:
            lines.append(self.t("sandbox.contact_hint"))
        print("\n".join(lines) + "\n", file=self.out, flush=True)

    def _print_citizen(self, replies: list[Reply]) -> None:
        for reply in replies:
            flat = [b for row in reply.buttons for b in row]
            if flat:  # the newest buttons are the ones a number presses
                self.citizen_buttons = flat
            self.citizen_message += 1
            self._print(self.t("sandbox.bot"), reply, [str(i) for i in range(1, len(flat) + 1)])

    def _print_staff(self, reply: Reply, message_id: str) -> None:
        flat = [b for row in reply.buttons for b in row]
        # An edited message's old buttons are gone; numbers are never reused, so g-numbers shown stay true.
        self.staff_buttons = {n: e for n, e in self.staff_buttons.items() if not message_id or e[1] != message_id}
        numbers = []
        for button in flat:
            self.staff_numbers += 1
            self.staff_buttons[self.staff_numbers] = (button, message_id)
            numbers.append(f"g{self.staff_numbers}")
        self._print(self.t("sandbox.group"), reply, numbers)

    def to_incoming(self, line: str) -> Incoming | str:
        """The input as the core's Incoming, or an error text for a button number that does not exist."""
        text = line.strip()
        if text.lower().startswith("g") and text[1:].isdigit():
            if int(text[1:]) not in self.staff_buttons:
                return self.t("sandbox.no_button", number=text)
            button, message_id = self.staff_buttons[int(text[1:])]
            return Incoming(CHANNEL, STAFF, STAFF, chat_type="group", button=button.payload,
                            user_name=self.t("sandbox.staff_name"), message_id=message_id,
                            language_code=self.language)
        if text.isdigit() and self.citizen_buttons and 1 <= int(text) <= len(self.citizen_buttons):
            return Incoming(CHANNEL, CITIZEN, CITIZEN, button=self.citizen_buttons[int(text) - 1].payload,
                            message_id=str(self.citizen_message), language_code=self.language)
        return Incoming(CHANNEL, CITIZEN, CITIZEN, text=text, language_code=self.language)

    async def say(self, line: str) -> None:
        incoming = self.to_incoming(line)
        if isinstance(incoming, str):
            print(incoming + "\n", file=self.out, flush=True)
            return
        replies = [self.with_files(r) for r in await handle(self.core, incoming)]
        for reply in replies:
            if (reply.chat_id or incoming.chat_id) == STAFF:
                self._print_staff(reply, reply.edit_id or "")
            else:
                self._print_citizen([reply])
        await self.sender.run_once()  # alerts show right after the answer that caused them

    async def run(self, lines: AsyncIterator[str], echo: bool = False) -> None:
        print(self.t("sandbox.intro") + "\n", file=self.out, flush=True)
        await self.say("/start")
        self.sender.start()
        try:
            async for line in lines:
                if line.strip().lower() in QUIT:
                    break
                if echo:
                    print(f"> {line.strip()}", file=self.out, flush=True)
                if line.strip():
                    await self.say(line)
        finally:
            await self.sender.stop()
        print(self.t("sandbox.bye"), file=self.out, flush=True)


async def stdin_lines() -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        yield line


async def run_sandbox(settings: Settings) -> None:
    # The terminal is the chat: log lines there only when CACHLY_LOG_LEVEL asks for them, else warnings only.
    logs.configure(settings.log_level if "log_level" in settings.model_fields_set else "WARNING")
    await upgrade(settings.database_url)
    core = build_core(settings, staff_console=(CHANNEL, STAFF))
    async with core.db.session() as session:
        await ensure_seeded(session)
    scheduler = Scheduler(core)  # reminders and reports show in the terminal as they come due
    scheduler.start()
    try:
        await Sandbox(core).run(stdin_lines(), echo=not sys.stdin.isatty())
    finally:
        await scheduler.stop()
        await core.db.dispose()
