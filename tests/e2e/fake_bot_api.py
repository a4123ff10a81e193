"""A fake Telegram Bot API server over real HTTP, recording every call, with scripted failures.

Merchants are played by pushing updates; what the bot sends is stored per chat like a chat window.
"""

from __future__ import annotations

import asyncio
import collections
import html
import itertools
import json
import re
import socket
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
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
    via_webhook_response: bool = False
    """Given in the response to a webhook delivery, not a request of the bot's own."""


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
    hold_downloads: bool = False
    """File downloads hang until `let_downloads_go` (a process can be killed in the middle of one)."""
    forum: bool = True
    """Whether the support group has topics turned on."""
    other_poller: bool = False
    """Another process polls with the same token: every getUpdates is told 409 Conflict."""
    confirmed: int = 0
    topics: dict[int, dict[str, Any]] = field(default_factory=dict)
    deleted_topics: set[int] = field(default_factory=set)
    user_messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    after_send: Any = None  # called with each message sendMessage stored (tests kill the bot from here)
    rate_limit: float | None = None  # like Telegram: more sendMessage calls than this in one second get 429
    files: dict[str, bytes] = field(default_factory=dict)  # file_id -> content, served by getFile + download
    endless_files: set[str] = field(default_factory=set)  # served without a size, in chunks, for ever (1 GB)
    served: dict[str, int] = field(default_factory=dict)  # file_id -> bytes a download actually sent
    on_call: Any = None  # called with (method, params) before each Bot API call is answered
    # Webhook delivery, as Telegram (and a load balancer) do: each chat's updates one at a time, in order,
    # round-robin over the targets, an update sent again after a non-2xx answer.
    webhook_targets: list[str] = field(default_factory=list)
    webhook_retry: float = 0.3
    deliveries: list[tuple[int, str, int]] = field(default_factory=list)  # (update id, target, HTTP status)
    held_chats: set[int] = field(default_factory=set)  # sendMessage to these never answers (a test kills the bot)
    can_manage_topics: bool = True  # the bot's right in groups; without it createForumTopic is refused
    slow_answers: int = 0  # this many sendMessage calls are carried out, then answered only after `slow_seconds`
    slow_seconds: float = 0.0
    # Like Telegram: at most `group_rate` messages to one group in `group_period` seconds (sent, copied, topics
    # created); beyond that 429 with the seconds until one falls out of the window. None: no limit.
    group_rate: int | None = 20
    group_period: float = 60.0

    _client: Any = None

    def __post_init__(self) -> None:
        self._recent_sends: collections.deque[float] = collections.deque()
        self.too_many = 0
        self._group_sends: dict[int, collections.deque[float]] = defaultdict(collections.deque)
        self.group_too_many = 0  # 429s for a group's limit
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(5000)
        self._changed = asyncio.Condition()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = 0
        self.held: list[Call] = []
        self._release = asyncio.Event()
        self._downloads = asyncio.Event()
        self._queues: dict[int, collections.deque[dict[str, Any]]] = {}
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._turns: collections.Counter[int] = collections.Counter()  # deliveries made per chat

    # -- server -------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    async def start(self) -> None:
        app = Starlette(routes=[Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"]),
                                Route("/file/bot{token}/files/{file_id}", self._download, methods=["GET"])])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted sockets inherit it: no 40 ms stalls
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            await asyncio.sleep(0.01)

    def let_downloads_go(self) -> None:
        self.hold_downloads = False
        self._downloads.set()

    async def stop(self) -> None:
        self._release.set()
        self._downloads.set()
        for worker in self._workers.values():
            worker.cancel()
        await asyncio.gather(*self._workers.values(), return_exceptions=True)
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task

    async def _download(self, request: Request) -> Response:
        file_id = request.path_params["file_id"]
        self.calls.append(Call("download", {"file_id": file_id}))
        if self.hold_downloads:  # the download hangs until the test lets it go (or the client dies)
            await self._downloads.wait()
        if file_id in self.endless_files and request.path_params["token"] == self.token:
            async def chunks() -> Any:
                for _ in range(16384):  # 1 GB, unless the client stops reading
                    if await request.is_disconnected():
                        return
                    self.served[file_id] = self.served.get(file_id, 0) + 65536
                    yield b"\0" * 65536
            return StreamingResponse(chunks(), media_type="application/octet-stream")
        data = self.files.get(file_id)
        if request.path_params["token"] != self.token or data is None:
            return Response(status_code=404)
        return Response(data, media_type="application/octet-stream")

    async def _endpoint(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            return JSONResponse({"ok": False, "error_code": 401, "description": "Unauthorized"}, status_code=401)
        method = request.path_params["method"]
        params = await self._params(request)
        if self.on_call is not None:
            self.on_call(method, params)
        failure = self._failure_for(method, params)
        if failure is not None:
            self.calls.append(Call(method, params, failure.status))
            body: dict[str, Any] = {"ok": False, "error_code": failure.status, "description": failure.description}
            if failure.retry_after is not None:
                body["parameters"] = {"retry_after": failure.retry_after}
            return JSONResponse(body, status_code=failure.status)
        if params.get("message_thread_id") and int(params["message_thread_id"]) in self.deleted_topics:
            self.calls.append(Call(method, params, 400))
            return JSONResponse({"ok": False, "error_code": 400, "description": "Bad Request: message thread not found"},
                                status_code=400)
        if method == "sendMessage" and self.rate_limit is not None and self._over_limit():
            self.too_many += 1
            self.calls.append(Call(method, params, 429))
            return JSONResponse({"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
                                 "parameters": {"retry_after": 1}}, status_code=429)
        if method in ("sendMessage", "copyMessage", "copyMessages") and int(params["chat_id"]) in self.blocked:
            self.calls.append(Call(method, params, 403))
            return JSONResponse({"ok": False, "error_code": 403,
                                 "description": "Forbidden: bot was blocked by the user"}, status_code=403)
        if method == "sendMessage" and int(params["chat_id"]) in self.held_chats:
            self.held.append(Call(method, params))
            await self._release.wait()  # not answered before the server stops, never stored: the caller dies
            return JSONResponse({"ok": False, "error_code": 500, "description": "held"}, status_code=500)
        wait = self._group_wait(method, params)
        if wait is not None:
            self.group_too_many += 1
            self.calls.append(Call(method, params, 429))
            return JSONResponse({"ok": False, "error_code": 429, "description": f"Too Many Requests: retry after {wait}",
                                 "parameters": {"retry_after": wait}}, status_code=429)
        too_long = _too_long(method, params)
        if too_long is not None:
            self.calls.append(Call(method, params, 400))
            return JSONResponse({"ok": False, "error_code": 400, "description": too_long}, status_code=400)
        handler = getattr(self, f"_do_{method}", None)
        if handler is None:
            self.calls.append(Call(method, params, 404))
            return JSONResponse({"ok": False, "error_code": 404, "description": "Not Found"}, status_code=404)
        call = Call(method, params)
        self.calls.append(call)
        try:
            result = await handler(params)
        except Refused as refused:
            self.calls[self.calls.index(call)] = Call(method, params, refused.status)
            return JSONResponse({"ok": False, "error_code": refused.status, "description": refused.description},
                                status_code=refused.status)
        if method == "sendMessage" and self.slow_answers > 0:
            self.slow_answers -= 1
            await asyncio.sleep(self.slow_seconds)  # sent, but the answer comes after the client gave up
        return TelegramJSON({"ok": True, "result": result})

    def _group_wait(self, method: str, params: dict[str, Any]) -> int | None:
        """Seconds to wait when this call would put more messages into a group than its limit allows; else
        None, and the messages are counted."""
        if self.group_rate is None or method not in ("sendMessage", "copyMessage", "copyMessages", "createForumTopic"):
            return None
        chat_id = int(params["chat_id"])
        if chat_id >= 0:
            return None
        count = len(params.get("message_ids") or ()) if method == "copyMessages" else 1
        now = time.monotonic()
        sent = self._group_sends[chat_id]
        while sent and now - sent[0] >= self.group_period:
            sent.popleft()
        if len(sent) + count > self.group_rate:
            free_at = sent[min(len(sent) + count - self.group_rate, len(sent)) - 1] + self.group_period
            return max(1, int(free_at - now + 0.999))
        sent.extend([now] * count)
        return None

    def _over_limit(self) -> bool:
        now = time.monotonic()
        while self._recent_sends and now - self._recent_sends[0] >= 1.0:
            self._recent_sends.popleft()
        if len(self._recent_sends) >= (self.rate_limit or 0):
            return True
        self._recent_sends.append(now)
        return False

    @staticmethod
    async def _params(request: Request) -> dict[str, Any]:
        if request.headers.get("content-type", "").startswith("application/json"):
            return dict(await request.json())
        form = await request.form()
        params: dict[str, Any] = {}
        for key, value in form.items():
            if not isinstance(value, str):  # an uploaded file: its bytes (a photo the bot drew, a document)
                params[key] = await value.read()
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
        self.profile.pop("webhook", None)
        return True

    async def _do_setWebhook(self, params: dict[str, Any]) -> Any:
        if not str(params.get("url", "")).startswith("https://"):
            raise Refused(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        self.profile["webhook"] = params
        return True

    async def _do_getWebhookInfo(self, params: dict[str, Any]) -> Any:
        return {"url": (self.profile.get("webhook") or {}).get("url", ""), "has_custom_certificate": False,
                "pending_update_count": len(self.updates)}

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
        if self.profile.get("webhook"):
            raise Refused(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook "
                               "to delete the webhook first")
        if self.other_poller:
            raise Refused(409, "Conflict: terminated by other getUpdates request; make sure that only one bot "
                               "instance is running")
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

    def _message(self, chat_id: int, text: str | None, reply_markup: Any = None,
                 params: dict[str, Any] | None = None) -> dict[str, Any]:
        chat_type = "private" if chat_id > 0 else ("supergroup" if str(chat_id).startswith("-100") else "group")
        message: dict[str, Any] = {"message_id": next(self._message_ids), "date": int(time.time()),
                                   "chat": {"id": chat_id, "type": chat_type}, "from": BOT_USER}
        if text is not None:
            message["text"] = text
        if reply_markup:
            message["reply_markup"] = reply_markup
        params = params or {}
        if params.get("message_thread_id"):
            message["message_thread_id"] = int(params["message_thread_id"])
            message["is_topic_message"] = True
        reply = params.get("reply_parameters") or {}
        if reply.get("message_id"):
            message["reply_to"] = int(reply["message_id"])  # the id replied to, for assertions
        return message

    async def _store(self, chat_id: int, message: dict[str, Any]) -> dict[str, Any]:
        async with self._changed:
            self.messages[chat_id].append(message)
            self._changed.notify_all()
        return {k: v for k, v in message.items() if k not in ("parse_mode", "reply_to", "copied_from")}

    async def _do_sendMessage(self, params: dict[str, Any]) -> Any:
        chat_id = int(params["chat_id"])
        message = self._message(chat_id, params["text"], params.get("reply_markup"), params)
        message["parse_mode"] = params.get("parse_mode")
        stored = await self._store(chat_id, message)
        if self.after_send is not None:
            self.after_send(message)
        return stored

    async def _copy(self, chat_id: int, from_chat_id: int, message_id: int, params: dict[str, Any]) -> int:
        original = self.user_messages.get((from_chat_id, message_id)) or self._find(from_chat_id, message_id)
        message = self._message(chat_id, original.get("text"), None, params)
        for key in ("photo", "document", "voice", "sticker", "caption"):
            if key in original:
                message[key] = original[key]
        message["copied_from"] = (from_chat_id, message_id)
        await self._store(chat_id, message)
        return int(message["message_id"])

    async def _do_copyMessage(self, params: dict[str, Any]) -> Any:
        copied = await self._copy(int(params["chat_id"]), int(params["from_chat_id"]), int(params["message_id"]),
                                  params)
        return {"message_id": copied}

    async def _do_copyMessages(self, params: dict[str, Any]) -> Any:
        return [{"message_id": await self._copy(int(params["chat_id"]), int(params["from_chat_id"]), int(mid),
                                                params)} for mid in params["message_ids"]]

    async def _do_sendPhoto(self, params: dict[str, Any]) -> Any:
        chat_id = int(params["chat_id"])
        message = self._message(chat_id, None, params.get("reply_markup"), params)
        message["photo"] = [{"file_id": "sent-photo", "file_unique_id": "sp", "width": 1, "height": 1}]
        message["caption"] = params.get("caption")
        return await self._store(chat_id, message)

    async def _do_sendDocument(self, params: dict[str, Any]) -> Any:
        chat_id = int(params["chat_id"])
        message = self._message(chat_id, None, params.get("reply_markup"), params)
        message["document"] = {"file_id": "sent-document", "file_unique_id": "sd"}
        message["caption"] = params.get("caption")
        return await self._store(chat_id, message)

    async def _do_getFile(self, params: dict[str, Any]) -> Any:
        file: dict[str, Any] = {"file_id": params["file_id"], "file_unique_id": f"u-{params['file_id']}",
                                "file_path": f"files/{params['file_id']}"}
        if params["file_id"] not in self.endless_files:  # a local Bot API server may leave the size out
            file["file_size"] = len(self.files.get(params["file_id"], b""))
        return file

    async def _do_getChat(self, params: dict[str, Any]) -> Any:
        chat_id = int(params["chat_id"])
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "商户"}
        return {"id": chat_id, "type": "supergroup", "title": "发票客服", "is_forum": self.forum}

    async def _do_getChatMember(self, params: dict[str, Any]) -> Any:
        user = {"id": int(params["user_id"]), "is_bot": True, "first_name": "发票助手"}
        rights = {name: True for name in (
            "can_be_edited", "can_manage_chat", "can_delete_messages", "can_manage_video_chats",
            "can_restrict_members", "can_promote_members", "can_change_info", "can_invite_users",
            "can_post_stories", "can_edit_stories", "can_delete_stories", "can_pin_messages")}
        return {"status": "administrator", "user": user, "is_anonymous": False, **rights,
                "can_manage_topics": self.can_manage_topics}

    async def _do_createForumTopic(self, params: dict[str, Any]) -> Any:
        if not self.can_manage_topics:
            raise Refused(400, "Bad Request: not enough rights to create a topic")
        thread = next(self._message_ids)
        self.topics[thread] = {"name": params["name"], "closed": False, "chat_id": int(params["chat_id"])}
        return {"message_thread_id": thread, "name": params["name"], "icon_color": 7322096}

    async def _topic(self, params: dict[str, Any]) -> dict[str, Any]:
        thread = int(params["message_thread_id"])
        if thread not in self.topics:
            raise KeyError(thread)
        return self.topics[thread]

    async def _do_editForumTopic(self, params: dict[str, Any]) -> Any:
        topic = await self._topic(params)
        if params.get("name"):
            topic["name"] = params["name"]
        return True

    async def _do_closeForumTopic(self, params: dict[str, Any]) -> Any:
        (await self._topic(params))["closed"] = True
        return True

    async def _do_reopenForumTopic(self, params: dict[str, Any]) -> Any:
        (await self._topic(params))["closed"] = False
        return True

    def in_topic(self, chat_id: int, thread: int) -> list[dict[str, Any]]:
        return [m for m in self.messages[chat_id] if m.get("message_thread_id") == thread]

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
        message["entities"] = params.get("entities") or []
        return await self._do_editMessageReplyMarkup(params)

    async def _do_editMessageCaption(self, params: dict[str, Any]) -> Any:
        message = self._find(int(params["chat_id"]), int(params["message_id"]))
        if "caption" not in message and "text" in message:
            raise Refused(400, "Bad Request: there is no caption in the message to edit")
        message["caption"] = params.get("caption")
        message["caption_entities"] = params.get("caption_entities") or []
        return {k: v for k, v in message.items() if k not in ("parse_mode", "reply_to", "copied_from")}

    # -- playing users ------------------------------------------------------------------------------
    async def push(self, update: dict[str, Any]) -> int:
        for kind in ("message", "edited_message"):
            if kind in update:
                message = update[kind]
                self.user_messages[(message["chat"]["id"], message["message_id"])] = message
        update_id = next(self._update_ids)
        if self.webhook_targets:
            chat = _chat_of(update)
            self._queues.setdefault(chat, collections.deque()).append({"update_id": update_id, **update})
            if chat not in self._workers:
                self._workers[chat] = asyncio.create_task(self._deliver(chat))
            return update_id
        async with self._changed:
            self.updates.append({"update_id": update_id, **update})
            self._changed.notify_all()
        return update_id

    async def _deliver(self, chat: int) -> None:
        """POST one chat's updates to the webhook targets, the next only once the previous got a 2xx.

        Over aiohttp: httpx's connection pool does work per request that grows with the requests waiting
        for a connection, so with a few hundred chats the fake server, not the bot, set the pace.
        """
        import aiohttp

        queue = self._queues[chat]
        secret = (self.profile.get("webhook") or {}).get("secret_token", "")
        if self._client is None:  # as Telegram: at most `max_connections` (default 40) requests to the webhook at once
            connections = int((self.profile.get("webhook") or {}).get("max_connections") or 40)
            self._client = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections),
                                                 timeout=aiohttp.ClientTimeout(total=30))
        client = self._client
        while True:
            if not queue:
                del self._workers[chat]  # no await since the check: a new push starts a new worker
                return
            update = queue[0]
            target = self.webhook_targets[self._turns[chat] % len(self.webhook_targets)]  # alternately
            self._turns[chat] += 1
            answer: Any = None
            try:
                async with client.post(target, json=update,
                                       headers={"X-Telegram-Bot-Api-Secret-Token": secret}) as response:
                    status = response.status
                    if "json" in response.headers.get("content-type", ""):
                        answer = await response.json()
                    else:
                        await response.read()
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            async with self._changed:
                self.deliveries.append((update["update_id"], target, status))
                self._changed.notify_all()
            if 200 <= status < 300:
                queue.popleft()
                await self._answered_in_response(answer)
            else:
                await asyncio.sleep(self.webhook_retry)

    async def _answered_in_response(self, params: Any) -> None:
        """Carry out the Bot API method a webhook's response may name, as Telegram does (result unseen)."""
        method = params.pop("method", None) if isinstance(params, dict) else None
        handler = getattr(self, f"_do_{method}", None) if method else None
        if handler is None:
            return
        self.calls.append(Call(method, params, via_webhook_response=True))
        await handler(params)

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


class Refused(Exception):
    """A method's refusal, as Telegram words it."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


class TelegramJSON(JSONResponse):
    """JSON as Telegram writes it: non-ASCII escaped, so a user's broken character (a lone surrogate) passes."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _visible(text: str, parse_mode: str | None) -> int:
    """What Telegram counts: the text as the reader sees it, in UTF-16 code units."""
    if parse_mode == "HTML":
        text = html.unescape(re.sub(r"<[^>]*>", "", text))
    return len(text.encode("utf-16-le")) // 2


def _too_long(method: str, params: dict[str, Any]) -> str | None:
    """Telegram's refusal of a text over its limits (4,096 in a message, 1,024 in a caption, 128 in a
    topic's name), counted in UTF-16 units."""
    mode = params.get("parse_mode")
    if method in ("createForumTopic", "editForumTopic") and _visible(str(params.get("name") or ""), None) > 128:
        return "Bad Request: TOPIC_TITLE_INVALID"
    if method in ("sendMessage", "editMessageText") and _visible(str(params.get("text", "")), mode) > 4096:
        return "Bad Request: message is too long" if method == "sendMessage" else "Bad Request: MESSAGE_TOO_LONG"
    if "caption" in params and _visible(str(params.get("caption") or ""), mode) > 1024:
        return "Bad Request: message caption is too long"
    return None


def _chat_of(update: dict[str, Any]) -> int:
    for kind in ("message", "edited_message"):
        if kind in update:
            return int(update[kind]["chat"]["id"])
    query = update.get("callback_query") or {}
    return int((query.get("message") or {}).get("chat", {}).get("id") or query.get("from", {}).get("id", 0))


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
    thread: int | None = None

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

    def _base(self, **fields: Any) -> dict[str, Any]:
        message: dict[str, Any] = {"message_id": next(self._message_ids), "date": int(time.time()),
                                   "chat": self._chat(), "from": self._user(), **fields}
        if self.thread is not None:
            message["message_thread_id"] = self.thread
            message["is_topic_message"] = True
        return message

    def message_update(self, text: str, reply_to: dict[str, Any] | None = None) -> dict[str, Any]:
        message = self._base(text=text)
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split(" ")[0])}]
        if reply_to is not None:
            message["reply_to_message"] = {k: v for k, v in reply_to.items()
                                           if k not in ("parse_mode", "reply_to", "copied_from")}
        return {"message": message}

    async def reply(self, to: dict[str, Any], text: str) -> int:
        return await self.api.push(self.message_update(text, reply_to=to))

    async def photo(self, caption: str | None = None, media_group_id: str | None = None,
                    content: bytes | None = None) -> dict[str, Any]:
        file_id = f"p{next(self._message_ids)}"
        if content is not None:
            self.api.files[file_id] = content
        fields: dict[str, Any] = {"photo": [{"file_id": file_id, "file_unique_id": "u", "width": 90, "height": 90,
                                             "file_size": len(content or b"")}]}
        if caption:
            fields["caption"] = caption
        if media_group_id:
            fields["media_group_id"] = media_group_id
        message = self._base(**fields)
        await self.api.push({"message": message})
        return message

    async def document(self, name: str, content: bytes | None, mime: str = "application/octet-stream",
                       size: int | None = None) -> dict[str, Any]:
        """A document; `content` None is an endless file whose size nobody states."""
        file_id = f"d{next(self._message_ids)}"
        document: dict[str, Any] = {"file_id": file_id, "file_unique_id": file_id, "file_name": name,
                                    "mime_type": mime}
        if content is None:
            self.api.endless_files.add(file_id)
        else:
            self.api.files[file_id] = content
            document["file_size"] = len(content) if size is None else size
        message = self._base(document=document)
        await self.api.push({"message": message})
        return message

    async def edit_caption(self, photo: dict[str, Any], caption: str, entities: list[dict[str, Any]]) -> int:
        message = self._base(photo=photo["photo"], caption=caption, caption_entities=entities)
        message["message_id"] = photo["message_id"]
        message["edit_date"] = int(time.time())
        return await self.api.push({"edited_message": message})

    async def edit(self, message_id: int, text: str, entities: list[dict[str, Any]] | None = None) -> int:
        message = self._base(text=text, **({"entities": entities} if entities else {}))
        message["message_id"] = message_id
        message["edit_date"] = int(time.time())
        return await self.api.push({"edited_message": message})

    async def service(self, kind: str) -> int:
        return await self.api.push({"message": self._base(**{kind: {}})})

    async def send(self, text: str) -> int:
        return await self.api.push(self.message_update(text))

    async def send_kind(self, kind: str, payload: dict[str, Any]) -> int:
        message = {"message_id": next(self._message_ids), "date": int(time.time()), "chat": self._chat(),
                   "from": self._user(), kind: payload}
        return await self.api.push({"message": message})

    async def press_on(self, message: dict[str, Any], choice: str) -> int:
        data = next(d for _, d in buttons_of(message) if d.split(":", 1)[1] == choice)
        return await self.press_data(message, data)

    async def press_again(self, message: dict[str, Any], choice: str, timeout: float = 15.0) -> str:
        """Press a button of an earlier message and wait for the answer."""
        before = len(self.inbox)
        await self.press_on(message, choice)
        return await self._answer(before, timeout)

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
