"""A fake Telegram Bot API server over real HTTP, recording every call, with scripted failures.

Merchants are played by pushing updates; what the bot sends is stored per chat like a chat window.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

TOKEN = "123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0"
BOT_USER = {"id": 123456789, "is_bot": True, "first_name": "发票助手", "username": "invoice_helper_bot",
            "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}
STRING_FIELDS = {"text", "caption", "parse_mode", "callback_query_id", "description", "short_description",
                 "language_code", "action", "secret_token", "url", "name", "chat_id"}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int = 200


@dataclass
class Failure:
    method: str
    status: int
    description: str
    retry_after: int | None = None
    chat_id: int | None = None
    times: int = 1


@dataclass
class FakeBotAPI:
    token: str = TOKEN
    calls: list[Call] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    messages: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    blocked: set[int] = field(default_factory=set)
    failures: list[Failure] = field(default_factory=list)
    profile: dict[str, Any] = field(default_factory=dict)
    confirmed: int = 0

    def __post_init__(self) -> None:
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(5000)
        self._changed = asyncio.Condition()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = 0

    # -- server -------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    async def start(self) -> None:
        app = Starlette(routes=[Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"])])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task

    async def _endpoint(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            return JSONResponse({"ok": False, "error_code": 401, "description": "Unauthorized"}, status_code=401)
        method = request.path_params["method"]
        params = await self._params(request)
        failure = self._failure_for(method, params)
        if failure is not None:
            self.calls.append(Call(method, params, failure.status))
            body: dict[str, Any] = {"ok": False, "error_code": failure.status, "description": failure.description}
            if failure.retry_after is not None:
                body["parameters"] = {"retry_after": failure.retry_after}
            return JSONResponse(body, status_code=failure.status)
        if method == "sendMessage" and int(params["chat_id"]) in self.blocked:
            self.calls.append(Call(method, params, 403))
            return JSONResponse({"ok": False, "error_code": 403,
                                 "description": "Forbidden: bot was blocked by the user"}, status_code=403)
        handler = getattr(self, f"_do_{method}", None)
        if handler is None:
            self.calls.append(Call(method, params, 404))
            return JSONResponse({"ok": False, "error_code": 404, "description": "Not Found"}, status_code=404)
        self.calls.append(Call(method, params))
        result = await handler(params)
        return JSONResponse({"ok": True, "result": result})

    @staticmethod
    async def _params(request: Request) -> dict[str, Any]:
        if request.headers.get("content-type", "").startswith("application/json"):
            return dict(await request.json())
        form = await request.form()
        params: dict[str, Any] = {}
        for key, value in form.items():
            if not isinstance(value, str):
                continue
            if key in STRING_FIELDS:
                params[key] = value
                continue
            try:
                params[key] = json.loads(value)
            except ValueError:
                params[key] = value
        return params

    def _failure_for(self, method: str, params: dict[str, Any]) -> Failure | None:
        for failure in self.failures:
            if failure.method == method and (failure.chat_id is None or str(failure.chat_id) == str(
                    params.get("chat_id"))):
                failure.times -= 1
                if failure.times <= 0:
                    self.failures.remove(failure)
                return failure
        return None

    # -- Bot API methods -------------------------------------------------------------------------------
    async def _do_getMe(self, params: dict[str, Any]) -> Any:
        return BOT_USER

    async def _do_deleteWebhook(self, params: dict[str, Any]) -> Any:
        return True

    async def _do_setWebhook(self, params: dict[str, Any]) -> Any:
        self.profile["webhook"] = params
        return True

    async def _set_profile(self, params: dict[str, Any], kind: str) -> Any:
        self.profile.setdefault(kind, {})[params.get("language_code") or ""] = params
        return True

    async def _do_setMyCommands(self, params: dict[str, Any]) -> Any:
        return await self._set_profile(params, "commands")

    async def _do_setMyDescription(self, params: dict[str, Any]) -> Any:
        return await self._set_profile(params, "description")

    async def _do_setMyShortDescription(self, params: dict[str, Any]) -> Any:
        return await self._set_profile(params, "short_description")

    async def _do_sendChatAction(self, params: dict[str, Any]) -> Any:
        return True

    async def _do_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        return True

    async def _do_getUpdates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        if offset:
            self.confirmed = max(self.confirmed, offset - 1)
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        deadline = time.monotonic() + timeout
        async with self._changed:
            while not self.updates and time.monotonic() < deadline:
                try:
                    await asyncio.wait_for(self._changed.wait(), deadline - time.monotonic())
                except TimeoutError:
                    break
        return self.updates[:limit]

    def _message(self, chat_id: int, text: str, reply_markup: Any = None) -> dict[str, Any]:
        message: dict[str, Any] = {"message_id": next(self._message_ids), "date": int(time.time()),
                                   "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"},
                                   "from": BOT_USER, "text": text}
        if reply_markup:
            message["reply_markup"] = reply_markup
        return message

    async def _do_sendMessage(self, params: dict[str, Any]) -> Any:
        chat_id = int(params["chat_id"])
        message = self._message(chat_id, params["text"], params.get("reply_markup"))
        message["parse_mode"] = params.get("parse_mode")
        async with self._changed:
            self.messages[chat_id].append(message)
            self._changed.notify_all()
        return {k: v for k, v in message.items() if k != "parse_mode"}

    def _find(self, chat_id: int, message_id: int) -> dict[str, Any]:
        for message in self.messages[chat_id]:
            if message["message_id"] == message_id:
                return message
        raise KeyError(message_id)

    async def _do_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:
        message = self._find(int(params["chat_id"]), int(params["message_id"]))
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        else:
            message.pop("reply_markup", None)
        return {k: v for k, v in message.items() if k != "parse_mode"}

    async def _do_editMessageText(self, params: dict[str, Any]) -> Any:
        message = self._find(int(params["chat_id"]), int(params["message_id"]))
        message["text"] = params["text"]
        return await self._do_editMessageReplyMarkup(params)

    # -- playing users ------------------------------------------------------------------------------
    async def push(self, update: dict[str, Any]) -> int:
        update_id = next(self._update_ids)
        async with self._changed:
            self.updates.append({"update_id": update_id, **update})
            self._changed.notify_all()
        return update_id

    def fail(self, method: str, status: int, description: str, *, retry_after: int | None = None,
             chat_id: int | None = None, times: int = 1) -> None:
        self.failures.append(Failure(method, status, description, retry_after, chat_id, times))

    def calls_of(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    async def wait_for(self, predicate: Any, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        async with self._changed:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("timed out waiting for the bot")
                try:
                    await asyncio.wait_for(self._changed.wait(), min(remaining, 0.1))
                except TimeoutError:
                    pass


def buttons_of(message: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, callback data) of every button of a message."""
    markup = message.get("reply_markup") or {}
    return [(b["text"], b["callback_data"]) for row in markup.get("inline_keyboard", []) for b in row]


@dataclass
class Merchant:
    """A Telegram user in a private chat with the bot."""

    api: FakeBotAPI
    user_id: int
    language: str = "zh-hans"
    name: str = "王经理"
    chat_type: str = "private"
    chat_id: int | None = None
    _message_ids: Any = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        if self.chat_id is None:
            self.chat_id = self.user_id

    @property
    def inbox(self) -> list[dict[str, Any]]:
        return self.api.messages[self.chat_id]  # type: ignore[index]

    def _user(self) -> dict[str, Any]:
        return {"id": self.user_id, "is_bot": False, "first_name": self.name, "language_code": self.language}

    def _chat(self) -> dict[str, Any]:
        if self.chat_type == "private":
            return {"id": self.chat_id, "type": "private", "first_name": self.name}
        return {"id": self.chat_id, "type": self.chat_type, "title": "商户群"}

    def message_update(self, text: str) -> dict[str, Any]:
        message: dict[str, Any] = {"message_id": next(self._message_ids), "date": int(time.time()),
                                   "chat": self._chat(), "from": self._user(), "text": text}
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split(" ")[0])}]
        return {"message": message}

    async def send(self, text: str) -> int:
        return await self.api.push(self.message_update(text))

    async def send_kind(self, kind: str, payload: dict[str, Any]) -> int:
        message = {"message_id": next(self._message_ids), "date": int(time.time()), "chat": self._chat(),
                   "from": self._user(), kind: payload}
        return await self.api.push({"message": message})

    async def press_on(self, message: dict[str, Any], choice: str) -> int:
        data = next(d for _, d in buttons_of(message) if d.split(":", 1)[1] == choice)
        return await self.press_data(message, data)

    async def press_data(self, message: dict[str, Any], data: str) -> int:
        query = {"id": f"q{next(self._message_ids)}", "from": self._user(), "chat_instance": "1",
                 "message": {k: v for k, v in message.items() if k != "parse_mode"}, "data": data}
        return await self.api.push({"callback_query": query})

    def last_keyboard(self) -> dict[str, Any]:
        for message in reversed(self.inbox):
            if message.get("reply_markup"):
                return message
        raise AssertionError("no keyboard in the chat")

    async def _answer(self, before: int, timeout: float) -> str:
        """Wait for the bot's answer to one event: its last reply carries the next keyboard."""
        await self.api.wait_for(lambda: any(m.get("reply_markup") for m in self.inbox[before:]), timeout)
        return "\n".join(m["text"] for m in self.inbox[before:])

    async def say(self, text: str, timeout: float = 15.0) -> str:
        before = len(self.inbox)
        await self.send(text)
        return await self._answer(before, timeout)

    async def press(self, choice: str, timeout: float = 15.0) -> str:
        message = self.last_keyboard()
        before = len(self.inbox)
        await self.press_on(message, choice)
        return await self._answer(before, timeout)

    @property
    def choices(self) -> list[str]:
        return [d.split(":", 1)[1] for _, d in buttons_of(self.last_keyboard())]
