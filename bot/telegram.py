"""The Telegram channel: updates become Incoming, Replies become messages, keyboards and edits."""
from __future__ import annotations

import logging
from dataclasses import replace

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    CallbackQuery,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter

from chat.messages import Attachment, Incoming, Reply
from delivery.sender import Moved, RetryLater, Undeliverable
from handlers.commands import GROUP, PRIVATE, Command, for_role, menu
from locales import languages, t

log = logging.getLogger(__name__)
CHANNEL = "telegram"

MAX_DOWNLOAD = 5 * 1024 * 1024  # an imported list; larger files are refused, not fetched
MAX_TEXT, MAX_CAPTION = 4096, 1024  # Telegram's longest message text and media caption, in UTF-16 units


async def to_incoming(update: Update) -> Incoming | None:
    """The channel-neutral form of an update, or None for updates the bot does not act on."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or user.is_bot:
        return None
    common = Incoming(channel=CHANNEL, user_id=str(user.id), chat_id=str(chat.id), update_id=str(update.update_id),
                      chat_type="private" if chat.type == "private" else "group",
                      language_code=user.language_code, user_name=user.full_name)
    if update.callback_query is not None:
        query = update.callback_query
        message_id = str(query.message.message_id) if query.message else None
        return replace(common, button=query.data or "", message_id=message_id)
    message = update.message
    if message is None:
        return None
    if message.migrate_to_chat_id or message.migrate_from_chat_id:  # said in the old chat, and in the new
        old, new = (chat.id, message.migrate_to_chat_id) if message.migrate_to_chat_id else \
            (message.migrate_from_chat_id, chat.id)
        return replace(common, chat_moved=(str(old), str(new)))
    if message.contact is not None:
        own = message.contact.user_id in (None, user.id)
        return replace(common, contact_phone=message.contact.phone_number, contact_is_own=own)
    photo_id = message.photo[-1].file_id if message.photo else None  # the largest size
    document, too_large = await _download(message)
    text = message.text or message.caption or ""
    unreadable = None if text or photo_id or message.document else _unreadable(message)
    return replace(common, text=text, photo_id=photo_id, document=document, document_too_large=too_large,
                   unreadable=unreadable)


# What a person may send that the bot cannot read, by Telegram's field (venue before location: a venue has both).
UNREADABLE = ("voice", "audio", "video_note", "sticker", "video", "animation", "venue", "location", "poll", "dice")


def _unreadable(message: Message) -> str:
    return next((kind for kind in UNREADABLE if getattr(message, kind, None) is not None), "other")


async def _download(message: Message) -> tuple[Attachment | None, bool]:
    doc = message.document
    if doc is None:
        return None, False
    if (doc.file_size or 0) > MAX_DOWNLOAD:
        return None, True
    content = await (await doc.get_file()).download_as_bytearray()
    return Attachment(doc.file_name or "file", bytes(content), doc.mime_type or "application/octet-stream"), False


def markup(reply: Reply) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | ForceReply | None:
    if reply.force_reply:
        return ForceReply(selective=False)  # selective reaches only @mentioned users: none are here
    if reply.buttons:
        return InlineKeyboardMarkup([[InlineKeyboardButton(b.label, callback_data=b.payload) for b in row]
                                     for row in reply.buttons])
    if reply.request_contact:
        return ReplyKeyboardMarkup([[KeyboardButton(reply.request_contact, request_contact=True)]],
                                   resize_keyboard=True, one_time_keyboard=True)
    if reply.remove_keyboard:
        return ReplyKeyboardRemove()
    return None


async def show(bot: Bot, chat_id: str, replies: list[Reply], query: CallbackQuery | None = None) -> None:
    """Send, or edit in place, each reply; a pressed button always gets its answer (and toast)."""
    toasts = [r.text for r in replies if r.toast]
    if query is not None:
        await query.answer(toasts[0][:200] if toasts else None)
    for reply in replies:
        if reply.toast and query is not None:
            continue
        target = reply.chat_id or chat_id
        if reply.edit_id is not None:
            await edit(bot, target, reply)
        else:
            await send(bot, target, reply)


def _units(text: str) -> int:
    """Telegram's length of a text: UTF-16 code units (an emoji counts two)."""
    return len(text.encode("utf-16-le")) // 2


def _cut_line(line: str, limit: int) -> list[str]:
    """A single line too long for one message, cut into pieces of at most `limit` units."""
    pieces, piece, size = [], "", 0
    for char in line:
        if size + _units(char) > limit:
            pieces.append(piece)
            piece, size = "", 0
        piece, size = piece + char, size + _units(char)
    return [*pieces, piece]


def split_text(text: str, limit: int = MAX_TEXT, first: int | None = None) -> list[str]:
    """The text in parts Telegram takes (at most `limit` units; the first part at most `first`), cut at line
    breaks, a line longer than a part cut where it must. A text that fits is one part, unchanged."""
    if _units(text) <= (first or limit):
        return [text]
    parts: list[str] = []
    part, size = "", 0
    for line in text.splitlines(keepends=True):
        room = first if first is not None and not parts else limit
        if part and size + _units(line.rstrip("\n")) > room:
            parts.append(part.rstrip("\n"))
            part, size, room = "", 0, limit
        if _units(line.rstrip("\n")) > room:
            *whole, part = _cut_line(line, room)
            parts.extend(whole)
            size = _units(part)
        else:
            part, size = part + line, size + _units(line)
    return [p for p in (*parts, part.rstrip("\n")) if p.strip()]  # Telegram refuses a blank message


async def send(bot: Bot, chat_id: str, reply: Reply) -> Message:
    """The reply as one message, or as several when its text is longer than Telegram takes: a media's caption is
    cut at MAX_CAPTION and the rest follows as messages; the buttons go on the media, else on the last message,
    the one returned (a press or an edit refers to it)."""
    photo = reply.photo if reply.photo is not None else reply.photo_id
    if photo is None and reply.document is None:
        *before, last = split_text(reply.text)
        for part in before:
            await bot.send_message(chat_id, part)
        return await bot.send_message(chat_id, last, reply_markup=markup(reply))
    caption, *rest = split_text(reply.text, MAX_TEXT, first=MAX_CAPTION)
    if photo is not None:
        sent = await bot.send_photo(chat_id, photo, caption=caption, reply_markup=markup(reply))
    else:
        assert reply.document is not None
        doc = reply.document
        sent = await bot.send_document(chat_id, InputFile(doc.content, filename=doc.file_name),
                                       caption=caption, reply_markup=markup(reply))
    for part in rest:
        await bot.send_message(chat_id, part)
    return sent


async def edit(bot: Bot, chat_id: str, reply: Reply) -> None:
    assert reply.edit_id is not None  # show() edits only the replies that name their message
    keyboard = markup(reply)
    try:
        inline = keyboard if isinstance(keyboard, InlineKeyboardMarkup) else None
        if reply.photo is not None or reply.photo_id is not None:  # a photo has a caption, not a text
            await bot.edit_message_caption(chat_id=chat_id, message_id=int(reply.edit_id),
                                           caption=reply.text[:1024], reply_markup=inline)
        else:
            await bot.edit_message_text(reply.text, chat_id=chat_id, message_id=int(reply.edit_id),
                                        reply_markup=inline)
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise


def deliverer(bot: Bot):
    """The outbox's delivery function for Telegram, mapping its errors to retry or give up."""
    async def deliver(chat_id: str, payload: dict) -> str | None:
        reply = Reply.from_payload(payload)
        try:
            if reply.edit_id is not None:  # an alert's copy updated in place (services/alerts.update_copies)
                await edit(bot, chat_id, reply)
                return reply.edit_id
            message = await send(bot, chat_id, reply)
        except RetryAfter as exc:
            raise RetryLater(float(exc.retry_after if isinstance(exc.retry_after, int | float)
                                   else exc.retry_after.total_seconds())) from None
        except ChatMigrated as exc:  # a group upgraded to a supergroup
            raise Moved(str(exc.new_chat_id)) from None
        except Forbidden as exc:  # blocked by the person, or the bot is no longer in the group
            raise Undeliverable(f"Forbidden: {exc.message}", unreachable=True) from None
        except BadRequest as exc:
            raise Undeliverable(f"BadRequest: {exc.message}") from None
        return str(message.message_id)
    return deliver


async def set_command_menus(bot: Bot) -> None:
    """The command menu in every language (Vietnamese the default), for private chats and for groups."""
    for lang in languages():
        code = None if lang == "vi" else lang
        for scope, where in ((BotCommandScopeAllPrivateChats(), PRIVATE), (BotCommandScopeAllGroupChats(), GROUP)):
            await bot.set_my_commands(_menu(menu(where), lang), scope=scope, language_code=code)


async def set_role_menu(bot: Bot, user_id: str, role: str | None, lang: str) -> None:
    """The menu of one person's private chat with the bot: their role's commands, or without a role the
    menu every private chat has."""
    scope = BotCommandScopeChat(int(user_id))
    if not role or not for_role(role):
        await bot.delete_my_commands(scope=scope)
        return
    await bot.set_my_commands(_menu(menu(PRIVATE, role), lang), scope=scope)


def _menu(commands: list[Command], lang: str) -> list[BotCommand]:
    return [BotCommand(c.shown_as(lang), t(lang, c.key)) for c in commands]
