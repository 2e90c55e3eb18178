"""Webhook mode: our webhook server (bot/webhook.py) in front of the real python-telegram-bot Application,
Telegram's secret checked on every request before its body is read, bodies over 1 MB refused unread, forged
requests refused, a replayed update acted on once."""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from bot.app import TelegramBot, Webhook, build_core
from bot.cli import _parser, _webhook
from bot.settings import load_settings
from bot.webhook import MAX_BODY_BYTES, SECRET_HEADER
from tests.fake_bot_api import FakeBotAPI
from tests.telegram_steps import SECRET, free_port

USER = 4242


@pytest.fixture
async def webhook_bot(migrated_db_url: str, clock) -> AsyncIterator[tuple[FakeBotAPI, TelegramBot]]:
    fake = FakeBotAPI()
    await fake.start()
    settings = load_settings(telegram_token=fake.token, telegram_base_url=fake.base_url, database_url=migrated_db_url)
    bot = TelegramBot(settings, build_core(settings, clock=clock))
    port = free_port()
    await bot.start(webhook=Webhook(f"http://127.0.0.1:{port}/tg/hook", "127.0.0.1", port, SECRET))
    fake.user(USER, language_code="vi")
    try:
        yield fake, bot
    finally:
        await bot.stop()
        await fake.stop()


def start_update(update_id: int) -> dict:
    return {"update_id": update_id, "message": {
        "message_id": 1, "date": 1764400000, "text": "/start",
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        "chat": {"id": USER, "type": "private", "first_name": "An"},
        "from": {"id": USER, "is_bot": False, "first_name": "An", "language_code": "vi"}}}


async def test_the_webhook_is_set_with_the_secret_and_updates_arrive_by_post(webhook_bot):
    fake, _ = webhook_bot
    assert fake.webhook == {"url": fake.webhook["url"], "secret_token": SECRET}
    assert fake.webhook["url"].endswith("/tg/hook")
    await fake.send_text(USER, "/start")  # delivered by POST with the secret, as Telegram does
    message = await fake.wait_for_message(USER, predicate=lambda m: fake.buttons(m))
    assert "Đồng ý" in [label for label, _ in fake.buttons(message)]
    assert fake.webhook_responses == [200]


async def test_forged_requests_without_or_with_a_wrong_secret_are_refused(webhook_bot):
    fake, _ = webhook_bot
    assert await fake.post_to_webhook(start_update(900), secret=None) == 403
    assert await fake.post_to_webhook(start_update(901), secret="not-the-secret-at-all") == 403
    assert fake.sent(USER) == []  # nothing was acted on


async def test_a_replayed_update_is_acted_on_once(webhook_bot):
    fake, _ = webhook_bot
    assert await fake.post_to_webhook(start_update(950)) == 200
    await fake.wait_for_message(USER, predicate=lambda m: fake.buttons(m))  # welcome, then the consent question
    assert len(fake.sent(USER)) == 2
    assert await fake.post_to_webhook(start_update(950)) == 200  # Telegram's retry, or a replay
    help_update = start_update(951)
    help_update["message"]["text"] = "/trogiup"
    help_update["message"]["entities"][0]["length"] = 8
    await fake.post_to_webhook(help_update)
    await fake.wait_for_message(USER, predicate=lambda m: "/khaibao" in m["text"])
    texts = [m["text"] for m in fake.sent(USER)]
    # the replay is not acted on again: the person only sees the question they are on once more, then the help
    assert len(texts) == 5 and texts[2:4] == texts[0:2] and "/khaibao" in texts[4]


# --- hostile requests, over a raw socket (a client library would hide what the server read) ------------------

MB = 1024 * 1024
PIECE = b"x" * (64 * 1024)  # one buffer, sent again and again: the test's own memory stays flat


def peak_rss_kb() -> int:
    """The peak resident memory of this process (the server runs in it) since reset_peak_rss()."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc/self/status")


def reset_peak_rss() -> int:
    """Linux resets the peak to the memory in use now: a body buffered and freed again still shows."""
    Path("/proc/self/clear_refs").write_text("5")
    return peak_rss_kb()


class RawRequest:
    """One HTTP/1.1 request written by hand: headers, then as much body as the server lets through."""

    def __init__(self, url: str) -> None:
        parsed = urlparse(url)
        self.host, self.port, self.path = parsed.hostname or "127.0.0.1", parsed.port or 80, parsed.path
        self.body_sent = 0

    async def open(self, headers: dict[str, str]) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        lines = [f"POST {self.path} HTTP/1.1", f"Host: {self.host}", *(f"{k}: {v}" for k, v in headers.items())]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()

    async def status(self, timeout: float = 2.0) -> int:
        line = await asyncio.wait_for(self.reader.readline(), timeout)
        return int(line.split()[1])

    async def send_body(self, total: int, chunked: bool = False) -> None:
        """Up to `total` bytes, stopping when the server closes the connection."""
        try:
            while self.body_sent < total:
                self.writer.write(f"{len(PIECE):x}\r\n".encode() + PIECE + b"\r\n" if chunked else PIECE)
                await self.writer.drain()
                self.body_sent += len(PIECE)
        except ConnectionError:
            pass

    async def closed_by_server(self, timeout: float = 5.0) -> bool:
        try:
            while await asyncio.wait_for(self.reader.read(65536), timeout):
                pass
        except ConnectionError:
            pass
        return True

    def close(self) -> None:
        self.writer.close()


def json_headers(length: int | None, secret: str | None = None) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    headers |= {"Content-Length": str(length)} if length is not None else {"Transfer-Encoding": "chunked"}
    return headers | ({SECRET_HEADER: secret} if secret else {})


async def test_a_50_mb_request_without_the_secret_is_refused_before_its_body_is_read(webhook_bot):
    fake, _ = webhook_bot
    before = reset_peak_rss()
    request = RawRequest(fake.webhook["url"])
    started = time.monotonic()
    await request.open(json_headers(50 * MB))
    assert await request.status() == 403  # answered on the headers alone: not one byte of body was sent
    answered_in = time.monotonic() - started
    await request.send_body(50 * MB)  # the attacker goes on anyway
    await request.closed_by_server()
    request.close()
    grown_kb = peak_rss_kb() - before
    print(f"\n50 MB without the secret: 403 in {answered_in * 1000:.1f} ms, {request.body_sent / MB:.1f} MB "
          f"accepted by the socket before the server closed it, peak RSS grew by {grown_kb} KB")
    assert answered_in < 1.0
    assert request.body_sent < 10 * MB  # the server closed the connection; only socket buffers took any
    assert grown_kb < 4 * 1024
    assert fake.sent(USER) == []


async def test_four_50_mb_posts_at_once_leave_the_memory_flat(webhook_bot):
    """The attack of issue 12: python-telegram-bot's own server took 4 x 50 MB into memory (peak +246 MB here)."""
    fake, _ = webhook_bot

    async def attack(secret: str | None) -> int:
        request = RawRequest(fake.webhook["url"])
        await request.open(json_headers(50 * MB, secret))
        sending = asyncio.create_task(request.send_body(50 * MB))  # all of it, without waiting for an answer
        try:
            return await request.status()
        except ConnectionError:  # the server closed before the answer could be read: refused all the same
            return 0
        finally:
            await asyncio.wait_for(sending, 10.0)
            request.close()

    before = reset_peak_rss()
    answers = await asyncio.gather(*(attack(s) for s in (None, "a-wrong-secret-of-the-right-length", None, SECRET)))
    grown_kb = peak_rss_kb() - before
    print(f"\n4 x 50 MB at once: answers {answers}, peak RSS grew by {grown_kb} KB")
    assert set(answers) <= {403, 413, 0}
    assert grown_kb < 4 * 1024


async def test_with_the_secret_a_declared_body_over_1_mb_gets_413_unread(webhook_bot):
    fake, _ = webhook_bot
    request = RawRequest(fake.webhook["url"])
    await request.open(json_headers(MAX_BODY_BYTES + 1, SECRET))
    assert await request.status() == 413
    assert await request.closed_by_server()
    request.close()
    assert fake.sent(USER) == []


async def test_a_chunked_body_growing_over_1_mb_is_cut_with_413(webhook_bot):
    fake, _ = webhook_bot
    request = RawRequest(fake.webhook["url"])
    await request.open(json_headers(None, SECRET))  # no Content-Length: the size shows only while reading
    await request.send_body(MAX_BODY_BYTES + len(PIECE), chunked=True)
    assert await request.status() == 413
    assert await request.closed_by_server()
    request.close()
    assert fake.sent(USER) == []


async def test_a_chunked_flood_is_cut_off_without_growing_the_memory(webhook_bot):
    fake, _ = webhook_bot
    before = reset_peak_rss()
    request = RawRequest(fake.webhook["url"])
    await request.open(json_headers(None, SECRET))
    await asyncio.wait_for(request.send_body(50 * MB, chunked=True), 10.0)  # ends when the server cuts it
    request.close()
    grown_kb = peak_rss_kb() - before
    print(f"\nchunked flood: cut after {request.body_sent / MB:.2f} MB sent, peak RSS grew by {grown_kb} KB")
    assert request.body_sent < 10 * MB
    assert grown_kb < 4 * 1024


async def test_a_chunked_request_without_the_secret_is_refused_on_its_headers(webhook_bot):
    fake, _ = webhook_bot
    request = RawRequest(fake.webhook["url"])
    await request.open(json_headers(None))
    assert await request.status() == 403
    request.close()


async def test_an_update_just_under_the_bound_is_served_and_other_paths_are_not(webhook_bot):
    fake, _ = webhook_bot
    update = start_update(960)
    update["message"]["text"] = "/start " + "a" * 40  # a real update, padded below
    body = json.dumps(update).encode()
    body += b" " * (MAX_BODY_BYTES - len(body))  # exactly 1 MB: still Telegram's size
    request = RawRequest(fake.webhook["url"])
    await request.open(json_headers(len(body), SECRET))
    request.writer.write(body)
    assert await request.status() == 200
    request.close()
    await fake.wait_for_message(USER)
    elsewhere = RawRequest(fake.webhook["url"].removesuffix("/tg/hook") + "/other")
    await elsewhere.open(json_headers(10, SECRET))
    assert await elsewhere.status() == 404
    elsewhere.close()


async def test_a_body_that_is_not_an_update_gets_400_and_the_next_update_is_served(webhook_bot):
    fake, _ = webhook_bot
    request = RawRequest(fake.webhook["url"])
    await request.open(json_headers(9, SECRET))
    request.writer.write(b"not json!")
    assert await request.status() == 400
    request.close()
    assert await fake.post_to_webhook(start_update(970)) == 200
    await fake.wait_for_message(USER)


def test_the_webhook_server_listens_on_loopback_unless_told_otherwise():
    settings = load_settings(telegram_token="1:x")
    default = _webhook(settings, _parser().parse_args(["run", "--webhook", "https://bot.example.org/telegram"]))
    assert default is not None and (default.host, default.port) == ("127.0.0.1", 8443)
    chosen = _webhook(settings, _parser().parse_args(["run", "--webhook", "https://bot.example.org/telegram",
                                                      "--listen", "10.0.0.5:9000"]))
    assert chosen is not None and (chosen.host, chosen.port) == ("10.0.0.5", 9000)
