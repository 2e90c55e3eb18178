"""Drives the real python-telegram-bot Application against FakeBotAPI over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllPrivateChats,
    ChatFullInfo,
    ChatMemberMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.fake_bot_api import FakeBotAPI

TOKEN = "123:ABC"
USER = 1001


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    api = FakeBotAPI(token=TOKEN, bot_username="cachly_test_bot")
    await api.start()
    api.user(USER, first_name="An", language_code="vi")
    yield api
    await api.stop()


@pytest_asyncio.fixture
async def bot(fake: FakeBotAPI) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=fake.base_url, base_file_url=fake.base_file_url) as b:
        yield b


@pytest_asyncio.fixture
async def app(fake: FakeBotAPI) -> AsyncIterator[tuple[Application, dict[str, Any]]]:
    """A polling Application with echo / button / document handlers; ``seen`` logs results."""
    seen: dict[str, Any] = {}

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message and update.effective_user
        seen["args"] = context.args
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Có ✅", callback_data="yes"),
                                          InlineKeyboardButton("Không", callback_data="no")]])
        await update.message.reply_text(
            f"Xin chào <b>{update.effective_user.first_name}</b>",
            parse_mode=ParseMode.HTML, reply_markup=keyboard,
        )

    async def share(update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message
        await update.message.reply_text("Chia sẻ số điện thoại", reply_markup=ReplyKeyboardMarkup(
            [[KeyboardButton("📱 Chia sẻ", request_contact=True)]], one_time_keyboard=True))

    async def contact(update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message and update.message.contact
        seen["contact"] = update.message.contact
        await update.message.reply_text("Cảm ơn", reply_markup=ReplyKeyboardRemove())

    async def button(update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query
        await query.answer("Đã nhận")
        await query.edit_message_text(f"Bạn chọn: {query.data}")

    async def document(update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message and update.message.document
        file = await update.message.document.get_file()
        seen["document"] = bytes(await file.download_as_bytearray())
        await update.message.reply_text(f"Đã nhận {len(seen['document'])} bytes")

    application = (Application.builder().token(TOKEN).base_url(fake.base_url)
                   .base_file_url(fake.base_file_url).build())
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CommandHandler("share", share))
    application.add_handler(MessageHandler(filters.CONTACT, contact))
    application.add_handler(CallbackQueryHandler(button))
    application.add_handler(MessageHandler(filters.Document.ALL, document))
    await application.initialize()
    await application.start()
    assert application.updater
    await application.updater.start_polling(poll_interval=0, timeout=1)
    try:
        yield application, seen
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()


@pytest.mark.asyncio
async def test_start_command_reaches_command_handler(fake: FakeBotAPI, app: Any) -> None:
    _, seen = app
    update = await fake.send_text(USER, "/start ref42")
    assert update["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    msg = await fake.wait_for_message(USER)
    assert msg["text"] == "Xin chào An"  # HTML parsed into plain text + entities, like Telegram
    assert msg["entities"] == [{"type": "bold", "offset": 9, "length": 2}]
    assert msg["from"]["username"] == "cachly_test_bot" and msg["chat"]["type"] == "private"
    assert fake.buttons(msg) == [("Có ✅", "yes"), ("Không", "no")]
    assert fake.button(msg, "không") == "no"
    assert seen["args"] == ["ref42"]
    assert [m for m, _ in fake.calls()][:2] == ["getMe", "deleteWebhook"]


@pytest.mark.asyncio
async def test_command_addressed_to_bot_in_group(fake: FakeBotAPI, app: Any) -> None:
    group = fake.group(-100123, "Trạm Y tế Phường 1")
    await fake.send_text(USER, "/start@cachly_test_bot", chat_id=group["id"])
    msg = await fake.wait_for_message(group["id"])
    assert msg["chat"] == {"id": -100123, "type": "supergroup", "title": "Trạm Y tế Phường 1"}
    assert msg["reply_to_message"]["text"] == "/start@cachly_test_bot"  # PTB quotes in groups


@pytest.mark.asyncio
async def test_button_press_answers_and_edits(fake: FakeBotAPI, app: Any) -> None:
    await fake.send_text(USER, "/start")
    msg = await fake.wait_for_message(USER)
    query_id = await fake.press(USER, msg, fake.button(msg, "có"))
    answer = await fake.wait_for_call("answerCallbackQuery")
    assert answer["callback_query_id"] == query_id and answer["text"] == "Đã nhận"
    edited = await fake.wait_for_edit(USER, msg["message_id"])
    assert edited["text"] == "Bạn chọn: yes"
    assert "reply_markup" not in edited  # edit without reply_markup drops the keyboard
    assert fake.sent(USER)[0]["text"] == "Bạn chọn: yes" and len(fake.sent(USER)) == 1
    assert fake.answered_callbacks == [answer]
    with pytest.raises(AssertionError, match="current buttons"):
        await fake.press(USER, msg, "yes")  # the keyboard is gone now


@pytest.mark.asyncio
async def test_document_is_downloaded_by_bot(fake: FakeBotAPI, app: Any) -> None:
    _, seen = app
    content = bytes(range(256)) * 40
    update = await fake.send_document(USER, "bảng giá.xlsx", content, caption="giá mới")
    assert update["message"]["document"]["mime_type"].endswith("spreadsheetml.sheet")
    reply = await fake.wait_for_message(USER, lambda m: "bytes" in m["text"])
    assert reply["text"] == f"Đã nhận {len(content)} bytes"
    assert seen["document"] == content


@pytest.mark.asyncio
async def test_contact_keyboard_is_recorded(fake: FakeBotAPI, app: Any) -> None:
    _, seen = app
    await fake.send_text(USER, "/share")
    await fake.wait_for_message(USER, lambda m: m["text"] == "Chia sẻ số điện thoại")
    assert fake.contact_requested(USER)
    assert fake.reply_keyboards(USER)[0]["one_time_keyboard"] is True
    assert "reply_markup" in fake.sent(USER)[0]
    await fake.send_contact(USER, "+84901234567")
    await fake.wait_for_message(USER, lambda m: m["text"] == "Cảm ơn")
    assert seen["contact"].phone_number == "+84901234567" and seen["contact"].user_id == USER


@pytest.mark.asyncio
async def test_set_my_commands_per_language(fake: FakeBotAPI, bot: Bot) -> None:
    await bot.set_my_commands([BotCommand("start", "Bắt đầu")], language_code="vi")
    await bot.set_my_commands([BotCommand("start", "Start"), BotCommand("help", "Help")],
                              language_code="en")
    await bot.set_my_commands([BotCommand("stock", "Tồn kho")],
                              scope=BotCommandScopeAllPrivateChats(), language_code="vi")
    assert fake.commands("vi") == [{"command": "start", "description": "Bắt đầu"}]
    assert [c["command"] for c in fake.commands("en")] == ["start", "help"]
    assert fake.commands("vi", {"type": "all_private_chats"})[0]["command"] == "stock"
    assert fake.commands() == []
    assert (await bot.get_my_commands(language_code="en"))[1] == BotCommand("help", "Help")
    await bot.delete_my_commands(language_code="en")
    assert fake.commands("en") == []
    with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Bad-Name", "x")])


@pytest.mark.asyncio
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # PTB-internal
async def test_injected_429_raises_retry_after(fake: FakeBotAPI, bot: Bot) -> None:
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(USER, "hi")
    assert "Retry in" in str(info.value) and "3" in str(info.value)
    assert (await bot.send_message(USER, "hi")).text == "hi"  # only the next call failed
    assert len(fake.calls("send_message")) == 2


@pytest.mark.asyncio
async def test_long_polling_returns_promptly(fake: FakeBotAPI, bot: Bot) -> None:
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert await bot.get_updates(timeout=1) == ()  # no updates: waits the full timeout
    assert loop.time() - began >= 0.9
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await fake.wait_for_call("getUpdates", lambda p: p.get("timeout") == 30)
    await fake.send_text(USER, "hello")
    updates = await asyncio.wait_for(poll, timeout=3)
    assert [u.message.text for u in updates if u.message] == ["hello"]
    # Unconfirmed updates are redelivered; offset confirms them like Telegram.
    assert len(await bot.get_updates()) == 1
    assert await bot.get_updates(offset=updates[-1].update_id + 1) == ()


@pytest.mark.asyncio
async def test_bot_api_errors_and_media(fake: FakeBotAPI, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(USER, "<b>unclosed", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(999, "who?")
    fake.block(USER)
    with pytest.raises(Forbidden, match=r"(?i)blocked"):
        await bot.send_message(USER, "hi")
    fake.block(USER, blocked=False)
    msg = await bot.send_message(USER, "same")
    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await bot.edit_message_text("same", USER, msg.message_id)
    photo = await bot.send_photo(USER, b"\xff\xd8jpeg", caption="ảnh")
    assert photo.caption == "ảnh"
    assert bytes(await (await bot.get_file(photo.photo[-1].file_id)).download_as_bytearray()) \
        == b"\xff\xd8jpeg"
    sent_doc = fake.sent(USER)[-1]
    assert sent_doc["content"] == b"\xff\xd8jpeg" and len(sent_doc["photo"]) == 2
    doc = await bot.send_document(USER, b"a,b\n1,2\n", filename="report.csv")
    assert doc.document and doc.document.file_name == "report.csv"
    assert fake.sent(USER)[-1]["content"] == b"a,b\n1,2\n"
    chat = await bot.get_chat(USER)
    assert isinstance(chat, ChatFullInfo) and chat.first_name == "An"
    assert isinstance(await bot.get_chat_member(USER, USER), ChatMemberMember)
    await bot.send_chat_action(USER, "typing")
    assert await bot.set_chat_menu_button() is True
    with pytest.raises(InvalidToken):
        await Bot("999:NOPE", base_url=fake.base_url).initialize()


@pytest.mark.asyncio
async def test_raw_http_shapes(fake: FakeBotAPI) -> None:
    async with aiohttp.ClientSession() as http:
        url = f"{fake.base_url}{TOKEN}"
        async with http.post(f"{url}/sendMessage?chat_id={USER}",
                             json={"text": "q", "reply_markup": '{"remove_keyboard": true}'}) as r:
            body = await r.json()
        assert body["ok"] is True and body["result"]["text"] == "q"
        assert "reply_markup" not in body["result"]  # only inline keyboards appear on Message
        assert fake.reply_keyboards(USER) == [{"remove_keyboard": True}]
        async with http.post(f"{url}/noSuchMethod") as r:
            assert r.status == 404
            assert await r.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        async with http.post(f"{fake.base_url}1:bad/getMe") as r:
            assert (await r.json())["description"] == "Unauthorized" and r.status == 401
        fake.fail_next("getMe", 429, "Too Many Requests: retry after 5", retry_after=5)
        async with http.get(f"{url}/getMe") as r:
            assert (await r.json())["parameters"] == {"retry_after": 5}


@pytest.mark.asyncio
async def test_wait_timeout_dumps_chat(fake: FakeBotAPI, bot: Bot) -> None:
    await bot.send_message(USER, "first", reply_markup=InlineKeyboardMarkup.from_button(
        InlineKeyboardButton("Go", callback_data="go")))
    assert (await fake.wait_for_message(USER))["text"] == "first"
    with pytest.raises(AssertionError, match=r"(?s)received 1 bot message.*'first'.*'go'"):
        await fake.wait_for_message(USER, timeout=0.2)


@pytest.mark.asyncio
async def test_html_entities_edits_and_after(fake: FakeBotAPI, bot: Bot) -> None:
    await bot.send_message(USER, "one")
    after = len(fake.sent(USER))
    msg = await bot.send_message(
        USER, '🏥 <b>Trạm <i>Y tế</i></b> &amp; <a href="https://x.vn/?a=1&amp;b=2">web</a>',
        parse_mode=ParseMode.HTML,
        reply_markup=InlineKeyboardMarkup.from_button(InlineKeyboardButton("A", callback_data="a")))
    assert msg.text == "🏥 Trạm Y tế & web"
    assert [(e.type, e.offset, e.length) for e in msg.entities] == [
        ("bold", 3, 9), ("italic", 8, 4), ("text_link", 15, 3)]  # UTF-16 offsets: 🏥 is 2
    assert msg.entities[2].url == "https://x.vn/?a=1&b=2"
    got = await fake.wait_for_message(USER, after=after)
    assert got["message_id"] == msg.message_id and got["raw_text"].startswith("🏥 <b>")
    await bot.edit_message_reply_markup(USER, msg.message_id)  # removes the keyboard
    assert fake.buttons(await fake.wait_for_edit(USER, msg.message_id)) == []
    photo = await bot.send_photo(USER, b"img", caption="old")
    await bot.edit_message_caption(USER, photo.message_id, caption="new")
    assert (await fake.wait_for_edit(USER, photo.message_id))["caption"] == "new"
    with pytest.raises(BadRequest, match=r"(?i)no text in the message"):
        await bot.edit_message_text("x", USER, photo.message_id)
    update = await fake.send_photo(USER, b"from user", caption="ảnh chụp")
    file = await bot.get_file(update["message"]["photo"][-1]["file_id"])
    assert bytes(await file.download_as_bytearray()) == b"from user"
