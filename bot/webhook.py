"""The webhook server: Telegram POSTs updates to it, and it puts them on the Application's update queue
(python-telegram-bot's "custom webhook" pattern: the Application runs, its Updater stays unused).

Our own server rather than the Updater's because the Updater's reads up to 100 MB of body before it looks at
the secret. Here the secret, the path and the declared size are judged from the headers alone, before a byte
of the body is read; a body (even chunked, with no Content-Length) is read only up to MAX_BODY_BYTES.
Nothing of a request's body is ever logged: it is a person's message.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
from http import HTTPStatus
from types import TracebackType

import tornado.web
from telegram import Bot, Update
from tornado.httpserver import HTTPServer

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram's updates are a few KB (a message is at most 4096 characters); nothing of 1 MB comes from it.
MAX_BODY_BYTES = 1024 * 1024
# Tornado's own bound, behind ours: a chunked body is cut by tornado (connection closed) only past twice
# ours, so that it is ours that answers 413 first.
TORNADO_MAX_BODY = 2 * MAX_BODY_BYTES
BODY_TIMEOUT_SECONDS = 30.0  # a client trickling a body ties up no connection for longer
IDLE_TIMEOUT_SECONDS = 120.0  # a kept-alive connection with nothing on it


class UpdateReceiver:
    """What the request handler needs: where updates go, and how to tell Telegram from a stranger."""

    def __init__(self, path: str, secret: str, bot: Bot, update_queue: asyncio.Queue) -> None:
        self.path = "/" + path.strip("/")
        self._secret = secret.encode()
        self.bot = bot
        self.update_queue = update_queue

    def is_ours(self, request_path: str) -> bool:
        return request_path.rstrip("/") == self.path.rstrip("/")

    def is_telegram(self, secret: str | None) -> bool:
        # Constant time: the answer's timing tells nothing of how much of a guess was right.
        return secret is not None and hmac.compare_digest(secret.encode(), self._secret)


def declared_too_large(content_length: str | None) -> bool:
    """A Content-Length over the bound, or one that is not a number (tornado would refuse it later anyway)."""
    if content_length is None:
        return False
    return not content_length.strip().isdigit() or int(content_length) > MAX_BODY_BYTES


@tornado.web.stream_request_body
class UpdateHandler(tornado.web.RequestHandler):
    """One POST from Telegram: judged on its headers in prepare(), its body gathered in data_received()
    up to the bound, acted on in post()."""

    SUPPORTED_METHODS = ("POST",)

    def initialize(self, receiver: UpdateReceiver) -> None:
        self.receiver = receiver
        self.body = bytearray()
        self.refused = False  # answered with an error: what more comes of the body is dropped

    def prepare(self) -> None:
        headers = self.request.headers
        if not self.receiver.is_ours(self.request.path):
            raise tornado.web.HTTPError(HTTPStatus.NOT_FOUND)
        if not self.receiver.is_telegram(headers.get(SECRET_HEADER)):
            raise tornado.web.HTTPError(HTTPStatus.FORBIDDEN)
        if declared_too_large(headers.get("Content-Length")):
            raise tornado.web.HTTPError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        if headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            raise tornado.web.HTTPError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE)

    def data_received(self, chunk: bytes) -> None:
        if self.refused:  # tornado closes the connection after the answer: nothing more is kept meanwhile
            return
        if len(self.body) + len(chunk) > MAX_BODY_BYTES:
            self.body.clear()
            self.send_error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            return
        self.body += chunk

    async def post(self) -> None:
        if self.refused:
            return
        update = self._update()
        self.body.clear()
        await self.receiver.update_queue.put(update)
        self.set_status(HTTPStatus.OK)

    def _update(self) -> Update:
        try:
            update = Update.de_json(json.loads(self.body), self.receiver.bot)
        except Exception as exc:  # noqa: BLE001 - any malformed body is the sender's fault: 400, the type logged
            log.warning("webhook: a request with the right secret was not an update: %s", type(exc).__name__)
            raise tornado.web.HTTPError(HTTPStatus.BAD_REQUEST) from None
        return update

    def write_error(self, status_code: int, **kwargs: object) -> None:
        """A bare status line: no traceback, no echo of the request."""
        self.refused = True
        self.finish()

    def log_exception(self, typ: type[BaseException] | None, value: BaseException | None,
                      tb: TracebackType | None) -> None:
        """Tornado's default logs the request (and its headers, the secret among them): we log nothing."""


class _QuietApplication(tornado.web.Application):
    def log_request(self, handler: tornado.web.RequestHandler) -> None:
        """No access log: a forged request per line would let a stranger fill the disk."""


class WebhookServer:
    """The HTTP server on host:port, serving one path."""

    def __init__(self, receiver: UpdateReceiver) -> None:
        self.receiver = receiver
        self._server: HTTPServer | None = None

    async def start(self, host: str, port: int) -> None:
        app = _QuietApplication([(r"/.*", UpdateHandler, {"receiver": self.receiver})])
        self._server = HTTPServer(app, max_body_size=TORNADO_MAX_BODY, max_buffer_size=TORNADO_MAX_BODY,
                                  body_timeout=BODY_TIMEOUT_SECONDS, idle_connection_timeout=IDLE_TIMEOUT_SECONDS)
        self._server.listen(port, address=host)
        log.info("webhook server listening on %s:%d", host, port)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.stop()
        await self._server.close_all_connections()
        self._server = None
