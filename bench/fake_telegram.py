"""A lean fake of Telegram's Bot API for the benchmarks: answers at once, records when each message arrived.

It runs in a process of its own (`python bench/fake_telegram.py` prints its port on the first line), so its
own work does not count against the bot measured. Unlike tests/fake_bot_api.py it checks nothing: it hands out
queued updates on getUpdates and acknowledges every send instantly.

Each bot token has a queue and records of its own, so two bots can poll the same fake side by side. Control
endpoints, for the benchmark driving it (JSON over HTTP, 127.0.0.1 only; `?token=` picks the bot, default 42:bench):
  POST /control/push    {"messages": [{"user", "text", "chat"?, "chat_type"?}]}  queue updates now
  POST /control/script  {"users": [{"user", "texts", "think"?, "start_after"?, "loop"?}]}
        people who each send their next text once the bot has answered the previous one (after `think` s)
  POST /control/reset   forget scripts and records (updates already queued are handed out still)
  POST /control/stop_scripts
  GET  /control/wait?sent=N&timeout=S   returns when N messages have been sent (or at the timeout)
  GET  /control/report  what arrived when: sends [[t, chat_id]], pushes {user: [t, ...]}, first poll time
Times are time.monotonic(), which is the same clock in every process of the machine (CLOCK_MONOTONIC).
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import re
import sys
import time
from dataclasses import dataclass, field

from aiohttp import web

DEFAULT_TOKEN = "42:bench"
UPDATE_IDS = itertools.count(1)  # unique across bots: bots sharing a database take an update id seen before as a replay
BOT = {"id": 42, "is_bot": True, "first_name": "Cachly", "username": "cachly_bench_bot",
       "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}
COMMAND = re.compile(r"^/[A-Za-z0-9_]+")


@dataclass
class Script:
    user: int
    texts: list[str]
    think: float = 0.0
    loop: bool = False
    position: int = 0  # the next text to send
    waiting: bool = False  # sent a text, waiting for the bot's answer


@dataclass
class State:
    updates: list[dict] = field(default_factory=list)
    new_update: asyncio.Event = field(default_factory=asyncio.Event)
    message_ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    sends: list[tuple[float, int]] = field(default_factory=list)  # (arrival, chat_id)
    pushes: dict[int, list[float]] = field(default_factory=dict)  # user -> when each text was sent
    scripts: dict[int, Script] = field(default_factory=dict)
    first_poll: float | None = None
    sent_changed: asyncio.Event = field(default_factory=asyncio.Event)
    scripts_on: bool = True


def message(state: State, user: int, text: str, chat: int | None = None, chat_type: str = "private") -> dict:
    chat_id = chat if chat is not None else user
    body = {"message_id": next(state.message_ids), "date": int(time.time()), "text": text,
            "chat": {"id": chat_id, "type": chat_type, **({"first_name": "Người"} if chat_type == "private"
                                                           else {"title": "Trạm"})},
            "from": {"id": user, "is_bot": False, "first_name": "Người", "language_code": "vi"}}
    command = COMMAND.match(text)
    if command:
        body["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command.group())}]
    return body


def push(state: State, user: int, text: str, chat: int | None = None, chat_type: str = "private") -> None:
    state.updates.append({"update_id": next(UPDATE_IDS), "message": message(state, user, text, chat, chat_type)})
    state.pushes.setdefault(user, []).append(time.monotonic())
    state.new_update.set()


def ok(result: object) -> web.Response:
    return web.json_response({"ok": True, "result": result})


async def params_of(request: web.Request) -> dict:
    if request.content_type == "application/json":
        return await request.json()
    if request.can_read_body:
        return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    return dict(request.query)


async def get_updates(state: State, params: dict) -> web.Response:
    if state.first_poll is None:
        state.first_poll = time.monotonic()
    offset, limit = int(params.get("offset") or 0), int(params.get("limit") or 100)
    timeout = float(params.get("timeout") or 0)
    state.updates = [u for u in state.updates if u["update_id"] >= offset]
    if not state.updates and timeout > 0:
        state.new_update.clear()
        try:
            await asyncio.wait_for(state.new_update.wait(), timeout)
        except TimeoutError:
            pass
        state.updates = [u for u in state.updates if u["update_id"] >= offset]
    return ok(state.updates[:limit])


def answered(state: State, chat_id: int) -> None:
    """A scripted person who was waiting for the bot's answer sends their next text (after thinking)."""
    script = state.scripts.get(chat_id)
    if script is None or not script.waiting:
        return
    script.waiting = False
    if script.position >= len(script.texts):
        if not script.loop:
            return
        script.position = 0
    asyncio.get_running_loop().call_later(script.think, send_next, state, script)


def send_next(state: State, script: Script) -> None:
    if not state.scripts_on or state.scripts.get(script.user) is not script:
        return
    push(state, script.user, script.texts[script.position])
    script.position += 1
    script.waiting = True


def sent_message(state: State, params: dict) -> web.Response:
    chat_id = int(params["chat_id"])
    state.sends.append((time.monotonic(), chat_id))
    state.sent_changed.set()
    answered(state, chat_id)
    return ok({"message_id": next(state.message_ids), "date": int(time.time()), "from": BOT,
               "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
               "text": params.get("text") or params.get("caption") or ""})


def state_of(request: web.Request, token: str | None = None) -> State:
    token = token or request.query.get("token", DEFAULT_TOKEN)
    return request.app["states"].setdefault(token, State())


async def api(request: web.Request) -> web.Response:
    state = state_of(request, request.match_info["token"])
    method = request.match_info["method"].lower()
    params = await params_of(request)
    if method == "getupdates":
        return await get_updates(state, params)
    if method == "getme":
        return ok(BOT)
    if method in ("sendmessage", "sendphoto", "senddocument"):
        return sent_message(state, params)
    if method in ("editmessagetext", "editmessagecaption"):
        state.sends.append((time.monotonic(), int(params.get("chat_id") or 0)))
        return ok(True)
    if method == "getwebhookinfo":
        return ok({"url": "", "has_custom_certificate": False, "pending_update_count": 0})
    return ok(True)  # setMyCommands, deleteWebhook, answerCallbackQuery, close, logOut, ...


async def control_push(request: web.Request) -> web.Response:
    state = state_of(request)
    for m in (await request.json())["messages"]:
        push(state, m["user"], m["text"], m.get("chat"), m.get("chat_type", "private"))
    return ok(len(state.updates))


async def control_script(request: web.Request) -> web.Response:
    state = state_of(request)
    state.scripts_on = True
    loop = asyncio.get_running_loop()
    for u in (await request.json())["users"]:
        script = Script(u["user"], u["texts"], u.get("think", 0.0), u.get("loop", False))
        state.scripts[script.user] = script
        loop.call_later(u.get("start_after", 0.0), send_next, state, script)
    return ok(True)


async def control_stop_scripts(request: web.Request) -> web.Response:
    state_of(request).scripts_on = False
    return ok(True)


async def control_reset(request: web.Request) -> web.Response:
    state = state_of(request)
    state.scripts.clear()
    state.sends.clear()
    state.pushes.clear()
    state.scripts_on = True
    return ok(True)


async def control_wait(request: web.Request) -> web.Response:
    state = state_of(request)
    wanted, deadline = int(request.query["sent"]), time.monotonic() + float(request.query.get("timeout", 60))
    while len(state.sends) < wanted and time.monotonic() < deadline:
        state.sent_changed.clear()
        try:
            await asyncio.wait_for(state.sent_changed.wait(), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            break
    return ok(len(state.sends))


async def control_report(request: web.Request) -> web.Response:
    state = state_of(request)
    return web.Response(text=json.dumps({"ok": True, "result": {
        "sends": state.sends, "pushes": state.pushes, "first_poll": state.first_poll,
        "queued": len(state.updates)}}), content_type="application/json")


def make_app() -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app["states"] = {}
    app.router.add_post("/control/push", control_push)
    app.router.add_post("/control/script", control_script)
    app.router.add_post("/control/stop_scripts", control_stop_scripts)
    app.router.add_post("/control/reset", control_reset)
    app.router.add_get("/control/wait", control_wait)
    app.router.add_get("/control/report", control_report)
    app.router.add_route("*", "/bot{token}/{method}", api)
    return app


async def serve(port: int) -> None:
    runner = web.AppRunner(make_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    print(site._server.sockets[0].getsockname()[1], flush=True)  # the port, for the benchmark
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    try:
        asyncio.run(serve(parser.parse_args().port))
    except KeyboardInterrupt:
        sys.exit(0)
