"""Webhook mode: the real python-telegram-bot webhook server, Telegram's secret checked on every request,
forged requests refused, a replayed update acted on once."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.app import TelegramBot, Webhook, build_core
from bot.settings import load_settings
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
