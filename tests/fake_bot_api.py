"""In-process fake of Telegram's Bot API HTTP server for end-to-end tests.

The real python-telegram-bot ``Application`` talks to it over HTTP (long polling), so tests
exercise the same request encoding, error handling and JSON de-serialisation as production.
Test code injects people's actions (``send_text``, ``press``, ...) and inspects what the bot
sent (``sent``, ``wait_for_message``, ...). Waiting never sleeps: every state change sets an
``asyncio.Event`` that waiters re-check their condition on.

Only the methods cachly calls are served (getMe, getUpdates, deleteWebhook, setWebhook, sendMessage,
sendPhoto, sendDocument, editMessageText, editMessageCaption, answerCallbackQuery, setMyCommands,
deleteMyCommands, getFile), plus the few tests/test_fake_bot_api.py checks the fake with (getMyCommands,
editMessageReplyMarkup, getChat, getChatMember, sendChatAction, setChatMenuButton); any other answers 404
as Telegram does for an unknown method.
"""

from __future__ import annotations

import asyncio
import copy
import html
import inspect
import itertools
import json
import mimetypes
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import EllipsisType
from typing import Any, TypeVar

from aiohttp import web

JSON = dict[str, Any]
Predicate = Callable[[JSON], bool]
T = TypeVar("T")

# PTB sends form fields whose non-string values are JSON-encoded; these tell us how to decode.
_JSON_FIELDS = {
    "reply_markup", "commands", "scope", "allowed_updates", "entities", "caption_entities",
    "menu_button", "reply_parameters", "link_preview_options",
}
_INT_FIELDS = {
    "chat_id", "message_id", "offset", "limit", "user_id", "cache_time", "reply_to_message_id",
    "message_thread_id",
}
_FLOAT_FIELDS = {"timeout"}
_BOOL_FIELDS = {
    "show_alert", "disable_notification", "protect_content", "drop_pending_updates",
    "allow_sending_without_reply", "disable_content_type_detection", "has_spoiler",
    "disable_web_page_preview",
}
# Keys kept in test-side records that are not part of Telegram's Message object.
_RECORD_ONLY = ("content", "raw_text", "parse_mode")
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
_HTML_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "tg-spoiler": "spoiler", "span": "spoiler", "a": "text_link", "code": "code", "pre": "pre",
    "blockquote": "blockquote", "tg-emoji": "custom_emoji",
}
_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)(\s[^<>]*)?>")
_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,})?")
_BOT_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")
_MAX_DOWNLOAD = 20 * 1024 * 1024


class ApiError(Exception):
    """An error reply in Telegram's format."""

    def __init__(self, code: int, description: str, retry_after: int | None = None,
                 migrate_to_chat_id: int | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after
        self.migrate_to_chat_id = migrate_to_chat_id

    def response(self) -> web.Response:
        body: JSON = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        if self.migrate_to_chat_id is not None:
            body["parameters"] = {"migrate_to_chat_id": self.migrate_to_chat_id}
        return web.json_response(body, status=self.code)


@dataclass
class _FaultPlan:
    """Random faults of ``inject_faults``: which calls, how often, of which kinds."""

    rate: float
    kinds: tuple[str, ...]
    methods: set[str]
    rng: random.Random
    retry_after: int
    may_block: set[int]
    hold: float


@dataclass
class Upload:
    """A file part received in a multipart request (appears in ``calls()`` params)."""

    filename: str
    content: bytes
    mime_type: str


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes


@dataclass
class FakeUser:
    """A simulated person, as Telegram describes them in updates; ``send_text`` is a shortcut for the fake's."""

    fake: FakeBotAPI = field(repr=False)
    id: int
    first_name: str
    language_code: str | None
    username: str | None = None
    last_name: str | None = None

    def to_json(self) -> JSON:
        data: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data

    async def send_text(self, text: str, chat_id: int | None = None) -> JSON:
        return await self.fake.send_text(self.id, text, chat_id=chat_id)


def _norm(method: str) -> str:
    # Telegram method names are case-insensitive; also accept PTB's snake_case spelling.
    return method.replace("_", "").lower()


def _utf16_len(text: str) -> int:
    # Entity offsets/lengths are counted in UTF-16 code units, like Telegram does.
    return len(text.encode("utf-16-le")) // 2


def _coerce(key: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if key in _JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            raise ApiError(400, f"Bad Request: can't parse {key} JSON object") from None
    if key in _INT_FIELDS and re.fullmatch(r"-?\d+", value):
        return int(value)
    if key in _FLOAT_FIELDS:
        return float(value)
    if key in _BOOL_FIELDS:
        return value.lower() in ("true", "1")
    return value


def _parse_html(source: str) -> tuple[str, list[JSON]]:
    """Strip Telegram-HTML into plain text + entities, failing the way Telegram does."""
    out: list[str] = []
    offset = 0
    stack: list[tuple[str, int, JSON | None]] = []
    entities: list[JSON] = []
    pos = 0

    def fail(reason: str) -> ApiError:
        return ApiError(400, f"Bad Request: can't parse entities: {reason}")

    while True:
        lt = source.find("<", pos)
        chunk = html.unescape(source[pos:] if lt < 0 else source[pos:lt])
        out.append(chunk)
        offset += _utf16_len(chunk)
        if lt < 0:
            break
        byte_at = len(source[:lt].encode())
        match = _TAG_RE.match(source, lt)
        if match is None:
            raise fail(f"Unclosed start tag at byte offset {byte_at}")
        closing, name, attrs = match.group(1) == "/", match.group(2).lower(), match.group(3) or ""
        if name not in _HTML_TAGS:
            raise fail(f'Unsupported start tag "{name}" at byte offset {byte_at}')
        if closing:
            if not stack or stack[-1][0] != name:
                expected = f'"</{stack[-1][0]}>"' if stack else "nothing"
                raise fail(f'Unmatched end tag at byte offset {byte_at}, expected {expected}, '
                           f'found "</{name}>"')
            _, start, entity = stack.pop()
            if entity is not None and offset > start:
                entities.append({**entity, "offset": start, "length": offset - start})
        else:
            attr = dict(re.findall(r'([\w-]+)\s*=\s*["\']([^"\']*)["\']', attrs))
            new: JSON | None = {"type": _HTML_TAGS[name]}
            if name == "span" and attr.get("class") != "tg-spoiler":
                raise fail(f'Unsupported start tag "span" at byte offset {byte_at}')
            if name == "a":
                new = {"type": "text_link", "url": html.unescape(attr["href"])} \
                    if "href" in attr else None
            elif name == "blockquote" and "expandable" in attrs:
                new = {"type": "expandable_blockquote"}
            elif name == "tg-emoji":
                new = {"type": "custom_emoji", "custom_emoji_id": attr.get("emoji-id", "")}
            elif name == "code" and stack and stack[-1][0] == "pre" and stack[-1][2]:
                # <pre><code class="language-x"> is one pre entity with a language.
                lang = attr.get("class", "").removeprefix("language-")
                if lang:
                    stack[-1][2]["language"] = lang
                new = None
            stack.append((name, offset, new))
        pos = match.end()
    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _check_markup(markup: Any, inline_only: bool = False) -> None:
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise ApiError(400, "Bad Request: can't parse inline keyboard button: "
                                "InlineKeyboardButton must be an Object")
        for button in itertools.chain.from_iterable(rows):
            if not isinstance(button, dict) or not button.get("text"):
                raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    elif inline_only:
        raise ApiError(400, "Bad Request: inline keyboard expected")
    elif not {"keyboard", "remove_keyboard", "force_reply"} & markup.keys():
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")


def _is_inline(markup: Any) -> bool:
    return isinstance(markup, dict) and "inline_keyboard" in markup


class FakeBotAPI:
    """An aiohttp server speaking the Bot API for one bot token."""

    def __init__(
        self, token: str = "123:ABC", bot_username: str = "cachly_test_bot",
        bot_first_name: str = "Cachly Test", host: str = "127.0.0.1",
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_user: JSON = {
            "id": self.bot_id, "is_bot": True, "first_name": bot_first_name,
            "username": bot_username,
        }
        self.url = ""
        self._host = host
        self._runner: web.AppRunner | None = None
        self._closing = False
        self._changed = asyncio.Event()
        self._methods: dict[str, Callable[[JSON], Any]] = {
            name[3:].lower(): getattr(self, name) for name in dir(self) if name.startswith("_m_")
        }
        self._update_ids = itertools.count(1)
        self._callback_ids = itertools.count(4_200_000_000_001)
        self._file_ids = itertools.count(1)
        self._pending: list[JSON] = []
        self._calls: list[tuple[str, JSON]] = []
        self._failures: dict[str, list[ApiError]] = {}
        self._users: dict[int, FakeUser] = {}
        self._chats: dict[int, JSON] = {}
        self._next_ids: dict[int, int] = {}
        self._messages: dict[tuple[int, int], JSON] = {}  # user + bot messages
        self._sent: dict[int, list[JSON]] = {}  # bot messages per chat, current state
        self._edits: dict[tuple[int, int], list[JSON]] = {}  # snapshots after each edit
        self._reply_keyboards: dict[int, list[JSON]] = {}
        self._files: dict[str, _StoredFile] = {}
        self._callback_queries: dict[str, bool] = {}  # id -> answered
        self._commands: dict[tuple[str, str], list[JSON]] = {}
        self._blocked: set[int] = set()
        self._migrated: dict[int, int] = {}  # group id -> the supergroup it was upgraded to
        self._seen: dict[tuple[Any, ...], int] = {}  # what each wait_for_* already returned
        self.answered_callbacks: list[JSON] = []
        self.webhook: JSON = {}  # url and secret_token once setWebhook was called: updates are POSTed there
        self.webhook_responses: list[int] = []  # HTTP status of each delivery to the webhook
        self._webhook_tasks: set[asyncio.Task] = set()
        self._fault_plan: _FaultPlan | None = None
        self.faults: Counter[str] = Counter()  # random faults injected, by kind ("429", "500", ...)
        self.fetches: Counter[int] = Counter()  # update id -> how many getUpdates answers carried it

    # ------------------------------------------------------------------ lifecycle
    @property
    def base_url(self) -> str:
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    async def start(self) -> None:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        # handler_cancellation: a long poll abandoned by PTB (updater.stop) must not linger.
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=2.0
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        self._closing = True
        self._notify()  # release pending long polls
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ HTTP plumbing
    async def _handle_api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return ApiError(401, "Unauthorized").response()
        method = request.match_info["method"]
        try:
            params = await self._parse_params(request)
            self._calls.append((method, params))
            self._notify()
            handler = self._methods.get(_norm(method))
            if handler is None:
                raise ApiError(404, "Not Found")
            failures = self._failures.get(_norm(method))
            if failures:
                raise failures.pop(0)
            await self._random_fault(method, params)
            result = handler(params)
            if inspect.isawaitable(result):
                result = await result
        except ApiError as err:
            return err.response()
        return web.json_response({"ok": True, "result": result})

    async def _parse_params(self, request: web.Request) -> JSON:
        params: JSON = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise ApiError(400, "Bad Request: can't parse JSON") from None
                params.update(body if isinstance(body, dict) else {})
            else:  # form-urlencoded (PTB's default) or multipart (file uploads)
                for key, value in (await request.post()).items():
                    if isinstance(value, web.FileField):
                        value = Upload(value.filename, value.file.read(), value.content_type)
                    params[key] = value
        return {key: _coerce(key, value) for key, value in params.items()}

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] == self.token:
            for stored in self._files.values():
                if stored.file_path == request.match_info["path"]:
                    return web.Response(body=stored.content)
        return web.Response(status=404, text="Not Found")

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait(self, check: Callable[[], T | None], timeout: float) -> T | None:
        """Re-evaluate ``check`` on every state change until it returns non-None or time runs out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = check()
            if result is not None or self._closing:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass

    # ------------------------------------------------------------------ helpers
    def _chat_for_send(self, params: JSON) -> int:
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int) or chat_id not in self._chats:
            raise ApiError(400, "Bad Request: chat not found")
        if chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if chat_id in self._migrated:
            raise ApiError(400, "Bad Request: group chat was upgraded to a supergroup chat",
                           migrate_to_chat_id=self._migrated[chat_id])
        return chat_id

    def _next_message_id(self, chat_id: int) -> int:
        # Like Telegram, user and bot messages share one id sequence per chat.
        self._next_ids[chat_id] = self._next_ids.get(chat_id, 0) + 1
        return self._next_ids[chat_id]

    @staticmethod
    def _api_view(record: JSON) -> JSON:
        msg = {k: copy.deepcopy(v) for k, v in record.items() if k not in _RECORD_ONLY}
        if "reply_markup" in msg and not _is_inline(msg["reply_markup"]):
            del msg["reply_markup"]  # Message objects only ever carry inline keyboards
        return msg

    def _format(self, params: JSON, key: str, limit: int) -> JSON:
        """Fields for a text/caption (+ record-only raw form), parsing HTML like Telegram."""
        raw = params.get(key)
        if raw is None:
            return {}
        raw, mode = str(raw), params.get("parse_mode")
        entities = params.get("entities" if key == "text" else "caption_entities") or []
        text = raw
        if isinstance(mode, str) and mode.lower() == "html":
            text, entities = _parse_html(raw)
        # Markdown/MarkdownV2 are passed through verbatim (not parsed by this fake).
        if _utf16_len(text) > limit:
            kind = "text" if key == "text" else "caption"
            raise ApiError(400, f"Bad Request: message {kind} is too long")
        fields: JSON = {key: text, "raw_text": raw}
        if mode:
            fields["parse_mode"] = mode
        if entities:
            fields["entities" if key == "text" else "caption_entities"] = entities
        return fields

    def _store_bot_message(self, chat_id: int, fields: JSON, params: JSON) -> JSON:
        record: JSON = {
            "message_id": self._next_message_id(chat_id), "from": dict(self.bot_user),
            "chat": dict(self._chats[chat_id]), "date": int(time.time()), **fields,
        }
        reply = params.get("reply_parameters") or {}
        reply_id = reply.get("message_id", params.get("reply_to_message_id"))
        if reply_id is not None:
            target = self._messages.get((chat_id, int(reply_id)))
            if target is not None:
                record["reply_to_message"] = self._api_view(target)
                record["reply_to_message"].pop("reply_to_message", None)  # Telegram nests once
            elif not (reply.get("allow_sending_without_reply")
                      or params.get("allow_sending_without_reply")):
                raise ApiError(400, "Bad Request: message to be replied not found")
        markup = params.get("reply_markup")
        if markup is not None:
            _check_markup(markup)
            record["reply_markup"] = markup
            if not _is_inline(markup):
                self._reply_keyboards.setdefault(chat_id, []).append(markup)
        self._messages[(chat_id, record["message_id"])] = record
        self._sent.setdefault(chat_id, []).append(record)
        self._notify()
        return self._api_view(record)

    def _bot_record(self, params: JSON) -> JSON:
        key = (params.get("chat_id"), params.get("message_id"))
        record = self._messages.get(key)  # type: ignore[arg-type]
        if record is None or record["from"]["id"] != self.bot_id:
            raise ApiError(400, "Bad Request: message to edit not found")
        return record

    def _apply_edit(self, record: JSON, fields: JSON, markup: Any) -> JSON:
        if markup is not None:
            _check_markup(markup, inline_only=True)
        old_inline = record.get("reply_markup") if _is_inline(record.get("reply_markup")) else None
        keys = ("text", "entities") if "text" in fields else \
            ("caption", "caption_entities") if "caption" in fields else ()
        if all(record.get(k) == fields.get(k) for k in keys) and markup == old_inline:
            raise ApiError(400, _NOT_MODIFIED)
        for key in (*keys, "raw_text", "parse_mode") if keys else ():
            record.pop(key, None)  # replace the whole text/caption, dropping stale entities
        record.update({k: v for k, v in fields.items() if v is not None})
        if markup is not None:
            record["reply_markup"] = markup
        elif old_inline is not None:
            record.pop("reply_markup")  # omitting reply_markup removes the inline keyboard
        record["edit_date"] = int(time.time())
        self._edits.setdefault((record["chat"]["id"], record["message_id"]), []).append(
            copy.deepcopy(record)
        )
        self._notify()
        return self._api_view(record)

    def _store_file(self, content: bytes, folder: str, ext: str, prefix: str) -> _StoredFile:
        n = next(self._file_ids)
        stored = _StoredFile(
            file_id=f"{prefix}AAxkBAAI{n:08d}Zm9vYmFy", file_unique_id=f"AgAD{n:06d}",
            file_path=f"{folder}/file_{n}{ext}", content=content,
        )
        self._files[stored.file_id] = stored
        return stored

    def _photo_sizes(self, content: bytes, width: int = 1280, height: int = 960) -> list[JSON]:
        sizes = []
        for scale in (90 / max(width, height), 1.0):  # a thumbnail and the full size
            stored = self._store_file(content, "photos", ".jpg", "AgAC")
            sizes.append({
                "file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                "file_size": len(content), "width": max(1, round(width * scale)),
                "height": max(1, round(height * scale)),
            })
        return sizes

    def _upload(self, params: JSON, key: str) -> Upload:
        value = params.get(key)
        if isinstance(value, Upload):
            return value
        if isinstance(value, str) and value in self._files:
            stored = self._files[value]
            return Upload(stored.file_path.rsplit("/", 1)[-1], stored.content, "")
        if value is None:
            raise ApiError(400, f"Bad Request: there is no {key} in the request")
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")

    # ------------------------------------------------------------------ Bot API methods
    def _m_getMe(self, _: JSON) -> JSON:
        return {**self.bot_user, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False, "can_connect_to_business": False,
                "has_main_web_app": False}

    def _m_deleteWebhook(self, params: JSON) -> bool:
        if params.get("drop_pending_updates"):
            self._pending.clear()
        self.webhook = {}
        return True

    def _m_setWebhook(self, params: JSON) -> bool:
        if not str(params.get("url", "")).startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: bad webhook: an HTTPS URL must be provided for webhook")
        self.webhook = {"url": params["url"], "secret_token": params.get("secret_token")}
        return True

    async def post_to_webhook(self, update: JSON, secret: str | EllipsisType | None = ...) -> int:
        """POST an update to the bot's webhook as Telegram does (with its secret header unless told
        otherwise: None sends none, a string sends that one); the HTTP status it answered."""
        import aiohttp

        token = self.webhook.get("secret_token") if secret is ... else secret
        headers = {"X-Telegram-Bot-Api-Secret-Token": token} if token else {}
        async with aiohttp.ClientSession() as client, client.post(self.webhook["url"], json=update,
                                                                  headers=headers) as response:
            self.webhook_responses.append(response.status)
            return response.status

    async def _m_getUpdates(self, params: JSON) -> list[JSON]:
        offset = params.get("offset")
        if isinstance(offset, int) and offset > 0:  # confirms every update below offset
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        elif isinstance(offset, int) and offset < 0:  # keep only the last -offset updates
            self._pending = self._pending[offset:]
        allowed = params.get("allowed_updates")
        if allowed:  # Telegram drops updates of types the bot did not ask for
            self._pending = [u for u in self._pending if set(u) - {"update_id"} <= set(allowed)]
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = float(params.get("timeout") or 0)
        await self._wait(lambda: True if self._pending else None, timeout)
        self.fetches.update(u["update_id"] for u in self._pending[:limit])
        return copy.deepcopy(self._pending[:limit])

    def _m_sendMessage(self, params: JSON) -> JSON:
        chat_id = self._chat_for_send(params)
        fields = self._format(params, "text", 4096)
        if not fields.get("text", "").strip():
            raise ApiError(400, "Bad Request: message text is empty")
        return self._store_bot_message(chat_id, fields, params)

    def _m_sendPhoto(self, params: JSON) -> JSON:
        chat_id = self._chat_for_send(params)
        upload = self._upload(params, "photo")
        fields = {"photo": self._photo_sizes(upload.content), "content": upload.content,
                  **self._format(params, "caption", 1024)}
        return self._store_bot_message(chat_id, fields, params)

    def _m_sendDocument(self, params: JSON) -> JSON:
        chat_id = self._chat_for_send(params)
        upload = self._upload(params, "document")
        name = upload.filename or "document"
        stored = self._store_file(upload.content, "documents", "." + name.rsplit(".", 1)[-1]
                                  if "." in name else "", "BQAC")
        document = {
            "file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "file_name": name,
            "mime_type": mimetypes.guess_type(name)[0] or upload.mime_type
            or "application/octet-stream", "file_size": len(upload.content),
        }
        fields = {"document": document, "content": upload.content,
                  **self._format(params, "caption", 1024)}
        return self._store_bot_message(chat_id, fields, params)

    def _m_sendChatAction(self, params: JSON) -> bool:
        self._chat_for_send(params)
        return True

    def _m_editMessageText(self, params: JSON) -> JSON | bool:
        record = self._bot_record(params)
        if "text" not in record:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        fields = self._format(params, "text", 4096)
        if not fields.get("text", "").strip():
            raise ApiError(400, "Bad Request: message text is empty")
        return self._apply_edit(record, fields, params.get("reply_markup"))

    def _m_editMessageCaption(self, params: JSON) -> JSON | bool:
        record = self._bot_record(params)
        fields = self._format(params, "caption", 1024) or {"caption": None}  # None: remove
        return self._apply_edit(record, fields, params.get("reply_markup"))

    def _m_editMessageReplyMarkup(self, params: JSON) -> JSON | bool:
        return self._apply_edit(self._bot_record(params), {}, params.get("reply_markup"))

    def _m_answerCallbackQuery(self, params: JSON) -> bool:
        query_id = str(params.get("callback_query_id"))
        if self._callback_queries.get(query_id, True):  # unknown or already answered
            raise ApiError(400, "Bad Request: query is too old and response timeout expired "
                                "or query ID is invalid")
        self._callback_queries[query_id] = True
        self.answered_callbacks.append(dict(params))
        self._notify()
        return True

    @staticmethod
    def _commands_key(scope: Any, language_code: Any) -> tuple[str, str]:
        return json.dumps(scope or {"type": "default"}, sort_keys=True), language_code or ""

    def _m_setMyCommands(self, params: JSON) -> bool:
        commands = params.get("commands") or []
        for command in commands:
            if not _BOT_COMMAND_NAME_RE.fullmatch(str(command.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(command.get("description", "")) <= 256:
                raise ApiError(400, "Bad Request: command description must be non-empty")
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        self._commands[key] = [dict(c) for c in commands]
        return True

    def _m_getMyCommands(self, params: JSON) -> list[JSON]:
        return self.commands(params.get("language_code") or "", params.get("scope"))

    def _m_deleteMyCommands(self, params: JSON) -> bool:
        self._commands.pop(self._commands_key(params.get("scope"), params.get("language_code")),
                           None)
        return True

    def _m_setChatMenuButton(self, params: JSON) -> bool:
        return True

    def _m_getChat(self, params: JSON) -> JSON:
        chat = self._chats.get(params.get("chat_id"))  # type: ignore[arg-type]
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        gifts = dict.fromkeys(("unlimited_gifts", "limited_gifts", "unique_gifts",
                               "premium_subscription", "gifts_from_channels"), True)
        return {**chat, "accent_color_id": 0, "max_reaction_count": 11,
                "accepted_gift_types": gifts}

    def _m_getChatMember(self, params: JSON) -> JSON:
        chat_id, user_id = params.get("chat_id"), params.get("user_id")
        if chat_id not in self._chats:
            raise ApiError(400, "Bad Request: chat not found")
        if not isinstance(user_id, int):
            raise ApiError(400, "Bad Request: invalid user_id specified")
        user = self._users[user_id].to_json() if user_id in self._users else \
            {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
        return {"status": "member", "user": user}

    def _m_getFile(self, params: JSON) -> JSON:
        stored = self._files.get(str(params.get("file_id")))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if len(stored.content) > _MAX_DOWNLOAD:
            raise ApiError(400, "Bad Request: file is too big")
        return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                "file_size": len(stored.content), "file_path": stored.file_path}

    # ------------------------------------------------------------------ simulate people
    def user(
        self, user_id: int, first_name: str = "An", language_code: str | None = "vi",
        username: str | None = None, last_name: str | None = None,
    ) -> FakeUser:
        """Register (or update) a person and their private chat with the bot."""
        user = FakeUser(self, user_id, first_name, language_code, username, last_name)
        self._users[user_id] = user
        chat: JSON = {"id": user_id, "type": "private", "first_name": first_name}
        for key in ("last_name", "username"):
            if getattr(user, key) is not None:
                chat[key] = getattr(user, key)
        self._chats[user_id] = chat
        return user

    def group(self, chat_id: int = -100123, title: str = "Test group",
              type: str = "supergroup") -> JSON:  # `type` mirrors Telegram's field name
        """Register a group chat (the bot is a member)."""
        self._chats[chat_id] = {"id": chat_id, "type": type, "title": title}
        return dict(self._chats[chat_id])

    def migrate_group(self, old_id: int, new_id: int, by_user: int, tell_bot: bool = True) -> None:
        """Upgrade a group to a supergroup, as Telegram does: a new chat id; sends to the old one fail with
        migrate_to_chat_id; both chats get a service message saying so (sent by the member who upgraded),
        unless not `tell_bot` (the bot missed them: it was down longer than Telegram keeps updates)."""
        title = self._chats[old_id]["title"]
        if tell_bot:
            self._user_message(by_user, old_id, {"migrate_to_chat_id": new_id})
        self._migrated[old_id] = new_id
        self.group(new_id, title, "supergroup")
        if tell_bot:
            self._user_message(by_user, new_id, {"migrate_from_chat_id": old_id})

    def block(self, user_id: int, blocked: bool = True) -> None:
        """Make sends to this user fail with 403 like a user who blocked the bot."""
        (self._blocked.add if blocked else self._blocked.discard)(user_id)

    def _ensure_user(self, user_id: int, first_name: str | None = None,
                     language_code: str | None = None) -> FakeUser:
        known = self._users.get(user_id)
        if known is None or first_name is not None or language_code is not None:
            self.user(user_id,
                      first_name or (known.first_name if known else "An"),
                      language_code or (known.language_code if known else "vi"),
                      known.username if known else None, known.last_name if known else None)
        return self._users[user_id]

    def _push_update(self, kind: str, payload: JSON) -> JSON:
        update = {"update_id": next(self._update_ids), kind: payload}
        if self.webhook:  # Telegram delivers by POST to a set webhook, never through getUpdates
            task = asyncio.get_running_loop().create_task(self.post_to_webhook(copy.deepcopy(update)))
            self._webhook_tasks.add(task)
            task.add_done_callback(self._webhook_tasks.discard)
        else:
            self._pending.append(update)
        self._notify()
        return copy.deepcopy(update)

    def _user_message(self, user_id: int, chat_id: int | None, fields: JSON,
                      first_name: str | None = None, language_code: str | None = None) -> JSON:
        user = self._ensure_user(user_id, first_name, language_code)
        chat_id = user_id if chat_id is None else chat_id
        if chat_id not in self._chats:
            if chat_id > 0:
                raise AssertionError(f"unknown private chat {chat_id}; use fake.user() first")
            self.group(chat_id, f"Group {chat_id}",
                       "supergroup" if str(chat_id).startswith("-100") else "group")
        message = {"message_id": self._next_message_id(chat_id), "from": user.to_json(),
                   "chat": dict(self._chats[chat_id]), "date": int(time.time()), **fields}
        self._messages[(chat_id, message["message_id"])] = message
        return self._push_update("message", message)

    async def send_text(self, user_id: int, text: str, chat_id: int | None = None,
                        language_code: str | None = None,
                        first_name: str | None = None) -> JSON:
        """Queue a text message update; a leading /command gets a bot_command entity."""
        fields: JSON = {"text": text}
        command = _COMMAND_RE.match(text)
        if command:
            fields["entities"] = [{"type": "bot_command", "offset": 0,
                                   "length": _utf16_len(command.group())}]
        return self._user_message(user_id, chat_id, fields, first_name, language_code)

    async def send_contact(self, user_id: int, phone_number: str, first_name: str | None = None,
                           contact_user_id: int | EllipsisType | None = ...,
                           chat_id: int | None = None, last_name: str | None = None) -> JSON:
        """Queue a shared contact; by default the user's own (as the request_contact button)."""
        user = self._ensure_user(user_id)
        contact: JSON = {"phone_number": phone_number, "first_name": first_name or user.first_name}
        if last_name is not None:
            contact["last_name"] = last_name
        contact_user = user_id if contact_user_id is ... else contact_user_id
        if contact_user is not None:
            contact["user_id"] = contact_user
        return self._user_message(user_id, chat_id, {"contact": contact})

    async def send_document(self, user_id: int, filename: str, content: bytes,
                            mime_type: str | None = None, chat_id: int | None = None,
                            caption: str | None = None) -> JSON:
        """Queue a document message; the file is downloadable via getFile."""
        ext = "." + filename.rsplit(".", 1)[-1] if "." in filename else ""
        stored = self._store_file(content, "documents", ext, "BQAC")
        fields: JSON = {"document": {
            "file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
            "file_name": filename, "file_size": len(content),
            "mime_type": mime_type or mimetypes.guess_type(filename)[0]
            or "application/octet-stream",
        }}
        if caption is not None:
            fields["caption"] = caption
        return self._user_message(user_id, chat_id, fields)

    async def send_photo(self, user_id: int, content: bytes, chat_id: int | None = None,
                         caption: str | None = None) -> JSON:
        """Queue a photo message (thumbnail + full size, both serving ``content``)."""
        fields: JSON = {"photo": self._photo_sizes(content)}
        if caption is not None:
            fields["caption"] = caption
        return self._user_message(user_id, chat_id, fields)

    async def send_voice(self, user_id: int, content: bytes = b"OggS", duration: int = 3,
                         chat_id: int | None = None) -> JSON:
        """Queue a voice message (Telegram's Voice: an OGG/Opus file, its length in seconds)."""
        stored = self._store_file(content, "voice", ".oga", "AwAC")
        return self._user_message(user_id, chat_id, {"voice": {
            "file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "duration": duration,
            "mime_type": "audio/ogg", "file_size": len(content)}})

    async def send_sticker(self, user_id: int, emoji: str = "😷", chat_id: int | None = None) -> JSON:
        """Queue a sticker (Telegram's Sticker: a regular, static one)."""
        stored = self._store_file(b"RIFF", "stickers", ".webp", "CAAC")
        return self._user_message(user_id, chat_id, {"sticker": {
            "file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "type": "regular",
            "width": 512, "height": 512, "is_animated": False, "is_video": False, "emoji": emoji}})

    async def press(self, user_id: int, message: JSON | int, data: str,
                    chat_id: int | None = None, force: bool = False) -> str:
        """Queue a callback_query for an inline button; returns the callback query id."""
        if isinstance(message, dict):
            message_id = message["message_id"]
            chat_id = message["chat"]["id"] if chat_id is None else chat_id
        else:
            message_id, chat_id = message, user_id if chat_id is None else chat_id
        record = self._messages.get((chat_id, message_id))
        if record is None or record["from"]["id"] != self.bot_id:
            raise AssertionError(f"no bot message {message_id} in chat {chat_id} to press on")
        if not force and data not in (d for _, d in self.buttons(record)):
            raise AssertionError(f"callback_data {data!r} is not on message {message_id}; "
                                 f"current buttons: {self.buttons(record)}")
        user = self._ensure_user(user_id)
        query_id = str(next(self._callback_ids))
        self._callback_queries[query_id] = False
        self._push_update("callback_query", {
            "id": query_id, "from": user.to_json(), "message": self._api_view(record),
            "chat_instance": str(abs(chat_id) * 7919), "data": data,
        })
        return query_id

    # ------------------------------------------------------------------ inspection
    def sent(self, chat_id: int) -> list[JSON]:
        """Bot messages to the chat in order, current state (record keys included)."""
        return copy.deepcopy(self._sent.get(chat_id, []))

    def calls(self, method: str | None = None) -> list[tuple[str, JSON]]:
        return [(m, p) for m, p in self._calls if method is None or _norm(m) == _norm(method)]

    def commands(self, language_code: str = "", scope: JSON | None = None) -> list[JSON]:
        return copy.deepcopy(self._commands.get(self._commands_key(scope, language_code), []))

    def reply_keyboards(self, chat_id: int) -> list[JSON]:
        """Every non-inline reply_markup (keyboard / remove_keyboard / force_reply) sent."""
        return copy.deepcopy(self._reply_keyboards.get(chat_id, []))

    def contact_requested(self, chat_id: int) -> bool:
        """Whether a keyboard with a request_contact button was ever offered in the chat."""
        return any(isinstance(b, dict) and b.get("request_contact")
                   for kb in self._reply_keyboards.get(chat_id, [])
                   for b in itertools.chain.from_iterable(kb.get("keyboard", [])))

    @staticmethod
    def buttons(msg: JSON) -> list[tuple[str, str]]:
        """(text, callback_data) of the message's inline callback buttons, flattened."""
        markup = msg.get("reply_markup") or {}
        return [(b["text"], b["callback_data"])
                for b in itertools.chain.from_iterable(markup.get("inline_keyboard", []))
                if "callback_data" in b]

    def button(self, msg: JSON, text_contains: str) -> str:
        for text, data in self.buttons(msg):
            if text_contains.casefold() in text.casefold():
                return data
        raise AssertionError(f"no button containing {text_contains!r}; buttons: {self.buttons(msg)}")

    def _dump_chat(self, chat_id: int) -> str:
        lines = [f"chat {chat_id} received {len(self._sent.get(chat_id, []))} bot message(s):"]
        for i, msg in enumerate(self._sent.get(chat_id, [])):
            body = msg.get("text", msg.get("caption", ""))
            kind = "photo " if "photo" in msg else "document " if "document" in msg else ""
            extra = f" buttons={self.buttons(msg)}" if self.buttons(msg) else ""
            lines.append(f"  [{i}] #{msg['message_id']} {kind}{body!r}{extra}")
        return "\n".join(lines)

    async def _wait_next(self, key: tuple[Any, ...], items: Callable[[], list[JSON]],
                         predicate: Predicate | None, timeout: float, start: int | None,
                         describe: Callable[[], str]) -> JSON:
        """First item at index >= start (default: past the last one returned for ``key``)."""
        first = self._seen.get(key, 0) if start is None else start

        def check() -> int | None:
            for i, item in enumerate(items()[first:], first):
                try:
                    if predicate is None or predicate(item):
                        return i
                except (KeyError, TypeError, IndexError, AttributeError):
                    pass  # e.g. a predicate reading "text" of a photo message: no match
            return None

        index = await self._wait(check, timeout)
        if index is None:
            raise AssertionError(f"timed out after {timeout}s (from index {first}): {describe()}")
        self._seen[key] = index + 1
        return copy.deepcopy(items()[index])

    async def wait_for_message(self, chat_id: int, predicate: Predicate | None = None,
                               timeout: float = 5.0, after: int | None = None) -> JSON:
        """Next bot message to the chat at index >= ``after`` (default: after the last one a
        previous wait returned) matching ``predicate``. Pass ``after=len(fake.sent(chat))``
        captured before an action to only accept messages caused by it."""
        return await self._wait_next(
            ("message", chat_id), lambda: self._sent.get(chat_id, []), predicate, timeout, after,
            lambda: f"no new matching bot message\n{self._dump_chat(chat_id)}")

    async def wait_for_edit(self, chat_id: int, message_id: int,
                            predicate: Predicate | None = None, timeout: float = 5.0) -> JSON:
        """Next edit (not returned by a previous wait) of the message, as the edited state."""
        key = (chat_id, message_id)
        return await self._wait_next(
            ("edit", *key), lambda: self._edits.get(key, []), predicate, timeout, None,
            lambda: f"no matching edit of message {message_id}; edits so far: "
                    f"{[e.get('text', e.get('caption')) for e in self._edits.get(key, [])]}\n"
                    f"{self._dump_chat(chat_id)}")

    async def wait_for_call(self, method: str, predicate: Predicate | None = None,
                            timeout: float = 5.0) -> JSON:
        """Params of the next call of ``method`` (not returned by a previous wait)."""
        return await self._wait_next(
            ("call", _norm(method)), lambda: [p for _, p in self.calls(method)], predicate,
            timeout, None, lambda: f"no matching {method} call; calls received: "
                                   f"{[m for m, _ in self._calls]}")

    # ------------------------------------------------------------------ fault injection
    def fail_next(self, method: str, error_code: int, description: str,
                  retry_after: int | None = None, count: int = 1) -> None:
        """Make the next ``count`` calls of ``method`` fail with this error."""
        self._failures.setdefault(_norm(method), []).extend(
            ApiError(error_code, description, retry_after) for _ in range(count)
        )

    def inject_faults(self, rate: float, kinds: Iterable[str] = ("429", "500", "timeout", "403"),
                      seed: int = 0, methods: Iterable[str] = ("sendMessage",), retry_after: int = 1,
                      may_block: Iterable[int] = (), hold: float = 30.0) -> None:
        """From now on, fail a share ``rate`` of the calls of ``methods`` at random (seeded), each with
        one of ``kinds``:

        - "429": Too Many Requests with ``retry_after`` seconds;
        - "500": Internal Server Error;
        - "timeout": the request is held up to ``hold`` seconds, longer than the client waits, and is
          never carried out (the client hangs up; aiohttp then cancels the handler);
        - "403": "Forbidden: bot was blocked by the user", only for chats in ``may_block`` (for the
          others another kind is drawn); that chat then stays blocked, as after ``block``.

        ``faults`` counts what was injected; ``rate=0`` stops injecting.
        """
        unknown = set(kinds) - {"429", "500", "timeout", "403"}
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}")
        self._fault_plan = _FaultPlan(rate, tuple(kinds), {_norm(m) for m in methods}, random.Random(seed),
                                      retry_after, set(may_block), hold) if rate > 0 else None

    async def _random_fault(self, method: str, params: JSON) -> None:
        plan = self._fault_plan
        if plan is None or _norm(method) not in plan.methods or plan.rng.random() >= plan.rate:
            return
        chat_id = params.get("chat_id")
        kinds = [k for k in plan.kinds if k != "403" or chat_id in plan.may_block]
        if not kinds:
            return
        kind = plan.rng.choice(kinds)
        self.faults[kind] += 1
        if kind == "429":
            raise ApiError(429, f"Too Many Requests: retry after {plan.retry_after}", plan.retry_after)
        if kind == "500":
            raise ApiError(500, "Internal Server Error")
        if kind == "403":
            self._blocked.add(chat_id)  # type: ignore[arg-type]
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        await asyncio.sleep(plan.hold)  # cancelled when the client gives up first, as it should
        raise ApiError(504, "Gateway Timeout")

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Wait (on the fake's state changes, not on time) until ``condition()`` holds; whether it did."""
        return bool(await self._wait(lambda: True if condition() else None, timeout))

    def blocked(self) -> set[int]:
        """Chats that refuse the bot: ``block``ed, or blocked by an injected 403."""
        return set(self._blocked)

    def text_of(self, chat_id: int, message_id: int | str) -> str:
        """What a message of the bot shows now (its text or caption, edits included)."""
        record = self._messages[(chat_id, int(message_id))]
        return record.get("text", record.get("caption", ""))

    def deliveries(self) -> Counter[tuple[int, str]]:
        """How many times each (chat, text or caption) was delivered: only messages Telegram would
        show, never failed or timed-out calls."""
        return Counter((chat_id, msg.get("text", msg.get("caption", "")))
                       for chat_id, messages in self._sent.items() for msg in messages)
