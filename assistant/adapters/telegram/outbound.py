"""The Telegram adapter: updates become the core's typed messages, outputs become Bot API calls.

What each call gave (the ids Telegram assigned, or why it failed) goes back to the core as delivery
messages once the outputs were carried out; the adapter never asks the core anything while sending.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import dataclasses
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from telegram import (
    BotCommand,
    BotCommandScopeChat,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import BaseRateLimiter, CallbackContext

from assistant.adapters.bot_api_http import allow_raw_calls, may_have_arrived
from assistant.adapters.texts import CAPTION_LIMIT, MESSAGE_LIMIT, clean, shorten_html, split_html
from assistant.adapters.webhook import ANSWERED
from assistant.broadcast import Delivery
from assistant.domain.documents import ReadError
from assistant.domain.text import utf16_cut
from assistant.messages import (
    AlbumReceived,
    Attachment,
    ButtonPress,
    ChatMessage,
    Command,
    DeliveryFailed,
    DeliveryResult,
    FileSent,
    Inbound,
    OutputDelivered,
    Text,
    TopicClosed,
    TopicReopened,
)
from assistant.outputs import (
    Copy,
    EditCard,
    EditCopy,
    Failed,
    OpenTopic,
    Out,
    Progress,
    Reply,
    TopicState,
    Unavailable,
)
from assistant.replies import LANGUAGES, Renderer, normalise_language
from assistant.routing import ADMIN_COMMANDS, MENU_COMMANDS
from assistant.runtime.senders import report_patiently
from assistant.runtime.senders import Later, Pace, Senders
from assistant.store.inbox import Batch, Received

logger = logging.getLogger(__name__)

SEND_ATTEMPTS = 4
TOPIC_GONE = ("thread not found", "topic_deleted", "topic_closed", "topic not found", "topic_id_invalid")
NO_RIGHTS = ("not enough rights", "chat_admin_required", "have no rights", "not a forum", "chat not found")
ATTACHMENT_KINDS = ("photo", "document", "sticker", "voice", "audio", "video", "video_note", "animation",
                    "location", "venue", "contact", "poll", "dice")


_COMMAND_NAME = re.compile(r"[A-Za-z0-9_]{1,32}")


# -- mapping --------------------------------------------------------------------------------------
def encode_choice(version: int, choice: str) -> str:
    """Callback data: the conversation version the keyboard belongs to, and the choice (< 64 bytes)."""
    data = f"{version}:{choice}"
    if len(data.encode()) > 64:
        raise ValueError(f"callback data too long: {data!r}")
    return data


def decode_choice(data: str | None) -> tuple[int | None, str] | None:
    if not data or ":" not in data:
        return None
    version, _, choice = data.partition(":")
    if not version.isdigit() or not choice:
        return None
    return int(version), choice


def _attachment(message: Message, bot: Any = None) -> Attachment | None:
    for kind in ATTACHMENT_KINDS:
        value = getattr(message, kind, None)
        if not value:
            continue
        item = value[-1] if isinstance(value, tuple) else value  # the largest photo size
        file_id = getattr(item, "file_id", "") or ""
        fetch = _fetcher(bot, file_id) if bot is not None and kind in ("photo", "document") and file_id else None
        return Attachment(kind=kind, file_id=file_id, file_name=clean(getattr(item, "file_name", "")) or "",
                          mime_type=getattr(item, "mime_type", "") or "", size=getattr(item, "file_size", 0) or 0,
                          fetch=fetch)
    return None


def _fetcher(bot: Any, file_id: str) -> Callable[[int], Awaitable[bytes]]:
    async def fetch(limit: int) -> bytes:
        file = await bot.get_file(file_id)
        if file.file_size and file.file_size > limit:
            raise ReadError("too_large")
        return await download(file.file_path, limit)
    return fetch


async def download(url: str | None, limit: int, timeout: float = 30.0) -> bytes:
    """Stream a file, stopping as soon as it passes `limit` bytes, whatever its size was said to be."""
    if not url:
        raise ReadError("failed")
    if not url.startswith(("http://", "https://")):  # a local Bot API server in --local mode gives a path
        raise ReadError("unsupported")
    chunks: list[bytes] = []
    size = 0
    async with httpx.AsyncClient(timeout=timeout) as client, client.stream("GET", url) as response:
        response.raise_for_status()
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise ReadError("too_large")
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise ReadError("too_large")
    return b"".join(chunks)  # one copy of the file in memory, not several


def _command(message: Message) -> tuple[str, str] | None:
    """("start", "args") when the message is a bot command, with any @botname removed."""
    text = message.text or ""
    if not text.startswith("/") or len(text) < 2:
        return None
    head, _, args = text[1:].partition(" ")
    name = head.split("@", 1)[0]
    if not _COMMAND_NAME.fullmatch(name):
        return None
    return name.lower(), args.strip()


def _reply_to(message: Message) -> int | None:
    """The message this one answers; in a forum topic, the topic's first message is not an answer."""
    replied = message.reply_to_message
    if replied is None or replied.forum_topic_created is not None:
        return None
    if message.is_topic_message and replied.message_id == message.message_thread_id:
        return None
    return replied.message_id


def received(data: dict[str, Any]) -> Received:
    """An update as JSON, with the chat it belongs to (0 when none), its kind and its album."""
    update_id = int(data["update_id"])
    try:
        kind = next((key for key in data if key != "update_id"), "unknown")
        body = data.get(kind) if isinstance(data.get(kind), dict) else {}
        message = body.get("message") if kind == "callback_query" else body
        chat = message.get("chat") if isinstance(message, dict) else None
        sender = body.get("from") if isinstance(body.get("from"), dict) else {}
        chat_id = int((chat.get("id") if isinstance(chat, dict) else None) or sender.get("id") or 0)
        user_id = int(sender["id"]) if sender.get("id") is not None else None
        if isinstance(message, dict) and kind in ("message", "edited_message"):
            kind = next((k for k in ATTACHMENT_KINDS if k in message), "text" if "text" in message else kind)
        album = body.get("media_group_id")
        return Received(update_id=update_id, chat_id=chat_id, user_id=user_id, kind=kind, payload=data,
                        album=str(album) if album else None)
    except (TypeError, ValueError, KeyError, AttributeError):
        return Received(update_id=update_id, chat_id=0, user_id=None, kind="malformed", payload=data)


def update_to_message(update: Update, album: tuple[int, ...] = (), bot: Any = None,
                      batch: tuple[int, ...] = ()) -> ChatMessage | None:
    """The core's message for an update, or None when it carries nothing to handle."""
    user = update.effective_user
    chat = update.effective_chat
    if user is None or chat is None or user.is_bot:
        return None
    base: dict[str, Any] = {"user_id": user.id, "chat_id": chat.id, "language": user.language_code,
                            "user_name": clean(user.full_name), "update_id": update.update_id, "batch": batch}
    query = update.callback_query
    if query is not None:
        message = query.message
        thread = getattr(message, "message_thread_id", None) if message is not None else None
        pressed = message.message_id if message is not None else None  # the message whose button was pressed
        decoded = decode_choice(query.data)
        version, choice = decoded if decoded is not None else (-1, "")
        return ButtonPress(choice=choice, version=version, thread_id=thread, message_id=pressed, **base)
    message = update.message or update.edited_message
    if message is None:
        return None
    edited = update.edited_message is not None
    base.update(message_id=message.message_id, thread_id=message.message_thread_id if message.is_topic_message else None,
                reply_to=_reply_to(message))
    if message.forum_topic_closed is not None:
        return TopicClosed(**base)
    if message.forum_topic_reopened is not None:
        return TopicReopened(**base)
    if message.forum_topic_created is not None or message.forum_topic_edited is not None:
        return None
    command = _command(message)
    if command is not None:
        return Command(name=command[0], args=clean(command[1]) or "", **base)
    if message.text is not None:
        text = clean(message.text) or ""
        return Text(text=text, edited=edited, entities=_entities(message.text, text, message.entities), **base)
    attachment = _attachment(message, bot) or Attachment(kind="other")
    kind = AlbumReceived if len(album) > 1 else FileSent
    caption = clean(message.caption)
    return kind(attachment=attachment, caption=caption, edited=edited, album=album,
                entities=_entities(message.caption, caption, message.caption_entities), **base)


def _entities(original: str | None, cleaned: str | None, entities: Any) -> tuple[dict[str, Any], ...]:
    """A text's formatting as plain data; none when cleaning changed the text (the offsets would be wrong)."""
    if not entities or original != cleaned:
        return ()
    return tuple(entity.to_dict() for entity in entities)


def reply_markup(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(button.label, callback_data=encode_choice(reply.version,
                                                                                                 button.choice))
                                  for button in row] for row in reply.buttons])


# -- flood control ----------------------------------------------------------------------------------
class FloodGuard:
    """At most `messages` updates per user in `seconds`; beyond that they are not handled (others are)."""

    def __init__(self, messages: int, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.messages, self.seconds, self.clock = messages, seconds, clock
        self._seen: dict[int, collections.deque[float]] = {}
        self._warned: dict[int, float] = {}
        self._pruned = clock()

    def allow(self, user_id: int) -> tuple[bool, bool]:
        """(handle it, tell the user to slow down): the notice is given once per window."""
        now = self.clock()
        if now - self._pruned >= self.seconds:  # only users seen within the last window are remembered
            self._pruned = now
            self.forget_idle()
        seen = self._seen.setdefault(user_id, collections.deque())
        while seen and now - seen[0] >= self.seconds:
            seen.popleft()
        if len(seen) < self.messages:
            seen.append(now)
            return True, False
        warned = self._warned.get(user_id)
        warn = warned is None or now - warned >= self.seconds
        if warn:
            self._warned[user_id] = now
        return False, warn

    def forget_idle(self) -> None:
        now = self.clock()
        for user_id in [u for u, seen in self._seen.items() if not seen or now - seen[-1] >= self.seconds]:
            self._seen.pop(user_id, None)
            self._warned.pop(user_id, None)


# -- the adapter -------------------------------------------------------------------------------------
class UpdateContext(CallbackContext[Any, dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """python-telegram-bot's context for one stored update, with what the inbox knows of it: the album's
    message ids, the album's other updates, whether the webhook's response answered the button already;
    `handled` once the core recorded it done."""

    def __init__(self, application: Any, *, album: tuple[int, ...], batch: tuple[int, ...], answered: bool) -> None:
        super().__init__(application)
        self.album, self.batch, self.answered = album, batch, answered
        self.handled = False


class Core(Protocol):
    """What the adapter hands the core: messages in, and what became of the outputs."""

    async def handle(self, message: Inbound) -> list[Out]: ...
    async def take(self, results: Sequence[DeliveryResult], answering: Sequence[int] = ()) -> list[Out]: ...


_SENDERS: contextvars.ContextVar[bool] = contextvars.ContextVar("senders", default=False)
"""Set while the senders carry out an output: a 429 goes back to them instead of being waited out."""


def _seconds(wait: Any) -> float:
    return float(wait.total_seconds() if hasattr(wait, "total_seconds") else wait)


class GlobalPace(BaseRateLimiter[None]):
    """Telegram's limit for the whole bot, at most ~30 requests a second to chats: one `Pace`, shared.

    The senders take their turns from the same `Pace` before they choose a destination (so their own
    requests are not paced again here); every other request (broadcasts, button answers, notices) takes
    its turn here, first come first served. A 429 is not waited out here for the senders' requests
    (their destination alone waits, `Later`); other requests try again after it, that one request alone
    (python-telegram-bot's own limiter halted every request for it).
    """

    def __init__(self, pace: Pace, max_retries: int = 3) -> None:
        self.pace = pace
        self.max_retries = max_retries

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    async def process_request(self, callback: Any, args: Any, kwargs: dict[str, Any], endpoint: str,
                              data: dict[str, Any], rate_limit_args: None) -> Any:
        senders = _SENDERS.get()
        for attempt in range(self.max_retries + 1):
            if data.get("chat_id") is not None and (not senders or attempt):
                await self.pace.turn()
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                if senders or attempt == self.max_retries:
                    raise
                logger.info("%s: Telegram asks to wait %.1f s", endpoint, _seconds(error.retry_after))
                await asyncio.sleep(_seconds(error.retry_after) + 0.1)
        raise AssertionError("unreachable")


class MaybeSent(NetworkError):
    """The request may have reached Telegram (no answer in time, or the connection dropped after sending)."""


def _topic_gone(error: Exception) -> bool:
    return isinstance(error, BadRequest) and any(mark in str(error).lower() for mark in TOPIC_GONE)


def _not_modified(error: Exception) -> bool:
    return isinstance(error, BadRequest) and "not modified" in str(error).lower()


@dataclass
class TelegramAdapter:
    """Handlers that translate between Telegram and the core, and carry out the core's outputs."""

    core: Core
    renderer: Renderer
    default_language: str
    support_chat_id: int | None = None
    flood: FloodGuard = field(default_factory=lambda: FloodGuard(20, 10.0))
    senders: Senders | None = None
    """Where outputs go to be carried out at Telegram's pace (`bot.py` attaches them); None: at once, here."""

    def __post_init__(self) -> None:
        allow_raw_calls()

    async def process(self, application: Any, batch: Batch) -> bool:
        """Handle stored updates (one, or one album): the handler registered for them is called straight.

        python-telegram-bot's handlers (`bot.py`) say which callback takes an update; the callback calls the
        core and returns whether the core recorded the updates done (False when nothing needed handling).
        Raises `Unavailable` or `Failed` for the inbox to try again.
        """
        updates = [Update.de_json(item.payload, application.bot) for item in batch.items]
        first = next((u for u in updates if u.message is not None and u.message.caption), updates[0])
        album: tuple[int, ...] = ()
        if len(updates) > 1:
            album = tuple(sorted(u.message.message_id for u in updates if u.message is not None))
        context = UpdateContext(application, album=album, batch=tuple(u.update_id for u in updates if u is not first),
                                answered=any(item.payload.get(ANSWERED) for item in batch.items))
        for handlers in application.handlers.values():
            for handler in handlers:
                check = handler.check_update(first)
                if check is None or check is False:
                    continue
                try:
                    return bool(await handler.callback(first, context))
                except (Unavailable, Failed):
                    raise
                except Exception as error:  # noqa: BLE001 - logged, and the user told
                    await self.on_error(first, context, error)
                    return context.handled
        return False

    def _language(self, update: Update) -> str:
        user = update.effective_user
        return normalise_language(user.language_code if user else None, self.default_language)

    async def on_update(self, update: Update, context: UpdateContext) -> bool:
        """A message, an edit or a button press in a private chat or in the support group."""
        chat = update.effective_chat
        if chat is None or (chat.type != ChatType.PRIVATE and chat.id != self.support_chat_id):
            return False
        user = update.effective_user
        if user is not None and chat.type == ChatType.PRIVATE:
            allowed, warn = self.flood.allow(user.id)
            if not allowed:
                logger.warning("user %s is flooding; update %s not handled", user.id, update.update_id)
                if warn:
                    await context.bot.send_message(chat.id, self.renderer.text("flood", self._language(update)))
                return False
        message = update.message
        album = context.album
        if message is not None and message.media_group_id and not album:
            album = (message.message_id,)  # an album's photo that came alone
        event = update_to_message(update, album=album, bot=context.bot, batch=context.batch)
        if event is None:
            return False
        if update.callback_query is not None and not context.answered:
            await self._settle_button(update.callback_query)
        try:
            outputs = await self.core.handle(event)
        except (Unavailable, Failed):  # no answer now: the inbox tries again, then dead-letters
            raise
        except Exception as error:  # noqa: BLE001 - a bug outside the core: the same as Failed
            logger.exception("update %s could not be handled", update.update_id)
            raise Failed(f"{type(error).__name__}: {error}") from error
        context.handled = event.update_id is not None
        await self.execute(context.bot, outputs, answering=(update.update_id, *event.batch), chat_id=event.chat_id)
        return context.handled

    async def on_group_start(self, update: Update, context: UpdateContext) -> bool:
        """/start in a group: one pointer to a private chat; everything else in groups stays unanswered."""
        chat = update.effective_chat
        if chat is None or chat.id == self.support_chat_id or update.message is None:
            return False
        text = self.renderer.text("group_start", self._language(update), bot_username=context.bot.username)
        await update.message.reply_text(text, parse_mode=ParseMode.HTML)
        return False

    async def _settle_button(self, query: CallbackQuery) -> None:
        """Answer the press, so that the client stops showing progress.

        The pressed keyboard stays: every keyboard carries its conversation's version, so a button of an
        outdated one is recognised and answered "this menu is outdated" instead of being carried out.
        """
        try:
            await query.answer()
        except BadRequest as error:  # too old to answer; the press is still handled
            logger.info("callback query not answered: %s", error)

    # -- carrying out the core's outputs -----------------------------------------------------------------
    async def execute(self, bot: Any, outputs: list[Out], answering: tuple[int, ...] = (),
                      chat_id: int | None = None) -> None:
        """Have outputs carried out; `answering` these updates of `chat_id`.

        With senders (the bot), they are queued and this returns at once: the handler holds no slot and
        no lock while Telegram's limits are waited out (`assistant/runtime/senders.py`). Without (a tool, a
        benchmark), they are carried out here, in order, and the core given what became of them.
        """
        if self.senders is not None:
            await self.senders.submit(outputs, answering, chat_id)
            return
        await self._execute_here(bot, outputs, answering)

    def cost(self, output: Out) -> int:
        """The messages an output puts into its chat: what Telegram's per-chat and per-group limits count."""
        if isinstance(output, Reply):
            return len(split_html(output.text))
        if isinstance(output, OpenTopic):
            return 2 + sum(len(copy.message_ids) for copy in output.then)  # the topic, its card, the copies
        if isinstance(output, Copy):
            return len(output.message_ids)
        if isinstance(output, TopicState):
            return 2  # renamed, then closed or reopened
        return 1

    async def carry_out(self, bot: Any, output: Out) -> DeliveryResult:
        """One output, for the senders: Telegram's "retry after" before any of it went out becomes `Later`,
        so that its destination waits instead of a worker (the rate limiter does not retry these)."""
        token = _SENDERS.set(True)
        try:
            return await self._carry_out(bot, output)
        except RetryAfter as error:
            raise Later(_seconds(error.retry_after)) from error
        except TelegramError:
            if isinstance(output, Reply) and output.chat_id > 0:  # the merchant waits for an answer: say so
                await self._apologise(bot, output.chat_id)
            raise  # the output stays in the outbox, tried again when its lease runs out
        finally:
            _SENDERS.reset(token)

    async def _apologise(self, bot: Any, chat_id: int) -> None:
        try:
            await bot.send_message(chat_id, self.renderer.text("internal_error", self.default_language),
                                   parse_mode=ParseMode.HTML)
        except Exception:  # noqa: BLE001 - nothing more can be done for it now
            logger.warning("could not tell chat %s about the error", chat_id)

    async def _execute_here(self, bot: Any, outputs: list[Out], answering: tuple[int, ...] = ()) -> None:
        """Carry out outputs in order, then give the core what became of them; a failure does not stop the rest.

        The results go to the core together once the last output was carried out; what they call for (a
        new topic for a deleted one, a notice to staff) is carried out the same way. A failed output stays
        in the outbox and is tried again when its lease runs out; the first failure is raised at the end.
        """
        failure: Exception | None = None
        for _ in range(3):  # a lost topic: a new one; that one lost at once too: once more, then the lease
            results: list[DeliveryResult] = []
            for output in outputs:
                try:
                    results.append(await self._carry_out(bot, output))
                except Exception as error:  # noqa: BLE001 - re-raised below for the error handler
                    logger.warning("could not carry out %s: %s", type(output).__name__, error)
                    failure = failure or error
                    results.append(DeliveryFailed(output, "error", str(error)))
            if not results and not answering:
                break
            outputs = await self._report(results, answering)
            answering = ()
            if not outputs:
                break
        if failure is not None:
            raise failure

    async def _report(self, results: list[DeliveryResult], answering: tuple[int, ...]) -> list[Out]:
        return await report_patiently(self.core.take, results, answering)

    async def _carry_out(self, bot: Any, output: Out) -> DeliveryResult:
        if isinstance(output, Reply):
            return await self._send_reply(bot, output)
        if isinstance(output, Copy):
            return await self._copy(bot, output)
        if isinstance(output, OpenTopic):
            return await self._open_topic(bot, output)
        if isinstance(output, Progress):
            return await self._progress(bot, output)
        if isinstance(output, EditCard):
            await self._edit_card(bot, output)
        elif isinstance(output, EditCopy):
            await self._edit_copy(bot, output)
        elif isinstance(output, TopicState):
            await self._topic_state(bot, output)
        return OutputDelivered(output)

    async def _send_reply(self, bot: Any, reply: Reply) -> DeliveryResult:
        """Send a reply; one longer than Telegram allows goes as several messages, the buttons under the last."""
        parts = split_html(reply.text)
        ids: list[int] = []
        for index, text in enumerate(parts):
            part = dataclasses.replace(reply, text=text, buttons=reply.buttons if index == len(parts) - 1 else (),
                                       reply_to=reply.reply_to if index == 0 else None)
            try:
                message_id = await self._send_one(bot, part, first=index == 0)
            except MaybeSent as error:  # sending it again could show it twice; Telegram has no idempotency key
                logger.warning("a reply to %s may have been delivered (%s); not sent again", reply.chat_id, error)
                continue
            except Forbidden as error:
                return DeliveryFailed(reply, "blocked", str(error))
            except BadRequest as error:
                if part.thread_id is None or not _topic_gone(error):
                    raise
                logger.warning("topic %s is gone; posting in the general topic", reply.thread_id)
                reply = dataclasses.replace(reply, thread_id=None)
                message_id = await self._send_one(bot, dataclasses.replace(part, thread_id=None))
            ids.append(message_id)
        return OutputDelivered(reply, message_ids=tuple(ids))

    async def _send_one(self, bot: Any, reply: Reply, first: bool = True) -> int:
        """Send with retries on transient network errors; the message's id.

        Telegram's "retry after" is raised for the first part of a reply (nothing of it went out: the
        senders try it again later) and waited out here for a later one (its beginning is out already).
        """
        request: dict[str, Any] = {"chat_id": reply.chat_id, "text": reply.text, "parse_mode": ParseMode.HTML,
                                   "link_preview_options": {"is_disabled": True}}
        markup = reply_markup(reply)
        if markup is not None:
            request["reply_markup"] = markup
        if reply.thread_id is not None:
            request["message_thread_id"] = reply.thread_id
        if reply.reply_to:
            request["reply_parameters"] = {"message_id": reply.reply_to, "allow_sending_without_reply": True}
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                sent = await bot.do_api_request("sendMessage", api_kwargs=request)  # RAW_METHODS
                return int(sent["message_id"])
            except RetryAfter as error:
                if first or attempt == SEND_ATTEMPTS:
                    raise
                await asyncio.sleep(_seconds(error.retry_after))
            except (TimedOut, NetworkError) as error:
                if isinstance(error, BadRequest):
                    raise
                if may_have_arrived(error):
                    raise MaybeSent(str(error)) from error
                if attempt == SEND_ATTEMPTS:
                    raise
                delay = 0.5 * 2 ** (attempt - 1)
                logger.warning("sending to %s failed (%s); retry %s in %.1f s", reply.chat_id, error, attempt, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _copy(self, bot: Any, copy: Copy) -> DeliveryResult:
        """Relay messages; for the support group only into a known topic (the core finds or makes one)."""
        to_support = copy.to_chat_id == self.support_chat_id
        if to_support and copy.thread_id is None:
            return DeliveryFailed(copy, "no_topic")
        try:
            ids = await self._copy_messages(bot, copy, copy.thread_id)
        except Forbidden as error:
            if to_support:
                raise
            return DeliveryFailed(copy, "blocked", str(error))
        except BadRequest as error:
            if not (to_support and _topic_gone(error)):
                raise
            return DeliveryFailed(copy, "topic_gone", str(error))
        return OutputDelivered(copy, message_ids=tuple(ids))

    async def _copy_messages(self, bot: Any, copy: Copy, thread: int | None) -> list[int]:
        if len(copy.message_ids) > 1:
            copied = await bot.copy_messages(copy.to_chat_id, copy.from_chat_id, list(copy.message_ids),
                                             message_thread_id=thread)
            return [item.message_id for item in copied]
        reply = ReplyParameters(copy.reply_to, allow_sending_without_reply=True) if copy.reply_to else None
        copied = await bot.copy_message(copy.to_chat_id, copy.from_chat_id, copy.message_ids[0],
                                        message_thread_id=thread, reply_parameters=reply)
        return [copied.message_id]

    async def support_rights(self, bot: Any) -> bool:
        """Whether the bot may create topics in the support group (True when there is none to check)."""
        if self.support_chat_id is None:
            return True
        try:
            member = await bot.get_chat_member(self.support_chat_id, bot.id)
        except TelegramError as error:
            logger.error("the support group %s cannot be checked: %s", self.support_chat_id, error)
            return False
        allowed = member.status == "creator" or bool(getattr(member, "can_manage_topics", False))
        if not allowed:
            logger.error("the bot may not create topics in the support group %s (%s)", self.support_chat_id,
                         member.status)
        return allowed

    async def _open_topic(self, bot: Any, topic: OpenTopic) -> DeliveryResult:
        """Create the topic, post the card, copy what was bound for a lost topic; report what got through.

        Once the topic exists it is reported whatever fails after, so that a retry posts into it rather
        than opening another.
        """
        try:
            created = await bot.create_forum_topic(topic.chat_id, topic.name)
        except BadRequest as error:
            if not any(mark in str(error).lower() for mark in NO_RIGHTS):
                raise
            return DeliveryFailed(topic, "no_rights", str(error))
        thread = created.message_thread_id
        ids: list[int] = []
        try:
            ids.append(await self._send_one(bot, dataclasses.replace(topic.card, version=0, chat_id=topic.chat_id,
                                                                     thread_id=thread,
                                                                     text=shorten_html(topic.card.text))))
            for copy in topic.then:
                ids += await self._copy_messages(bot, copy, thread)
        except TelegramError as error:
            logger.warning("topic %s created, but posting into it failed: %s", thread, error)
        return OutputDelivered(topic, thread_id=thread, message_ids=tuple(ids))

    async def _edit_copy(self, bot: Any, edit: EditCopy) -> None:
        text = utf16_cut(edit.text, CAPTION_LIMIT if edit.caption else MESSAGE_LIMIT)
        try:
            # a shortened text's formatting would point past its end
            entities = [MessageEntity.de_json(entity, bot) for entity in edit.entities] if text == edit.text else []
            if edit.caption:
                await bot.edit_message_caption(chat_id=edit.chat_id, message_id=edit.message_id, caption=text,
                                               caption_entities=entities or None)
            else:
                await bot.edit_message_text(text, chat_id=edit.chat_id, message_id=edit.message_id,
                                            entities=entities or None)
        except BadRequest as error:
            if not _not_modified(error):
                raise

    async def _progress(self, bot: Any, progress: Progress) -> DeliveryResult:
        """Post a broadcast's progress (the core records the id) or edit the posted message."""
        if progress.message_id is None:
            message = await bot.send_message(progress.chat_id, progress.text, parse_mode=ParseMode.HTML)
            return OutputDelivered(progress, message_ids=(message.message_id,))
        try:
            await bot.edit_message_text(progress.text, chat_id=progress.chat_id, message_id=progress.message_id,
                                        parse_mode=ParseMode.HTML)
        except BadRequest as error:
            if not _not_modified(error):
                logger.info("broadcast %s: progress not shown: %s", progress.broadcast_id, error)
        return OutputDelivered(progress)

    async def _edit_card(self, bot: Any, edit: EditCard) -> None:
        try:
            await bot.edit_message_text(shorten_html(edit.card.text), chat_id=edit.chat_id, message_id=edit.message_id,
                                        parse_mode=ParseMode.HTML, reply_markup=reply_markup(edit.card))
        except BadRequest as error:
            if not _not_modified(error):
                logger.warning("ticket card %s not edited: %s", edit.message_id, error)

    async def _topic_state(self, bot: Any, state: TopicState) -> None:
        try:
            await bot.edit_forum_topic(state.chat_id, state.thread_id, name=state.name)
            if state.closed:
                await bot.close_forum_topic(state.chat_id, state.thread_id)
            else:
                await bot.reopen_forum_topic(state.chat_id, state.thread_id)
        except BadRequest as error:  # already in that state, or gone: the card and messages still tell
            logger.info("topic %s not changed: %s", state.thread_id, error)

    async def on_error(self, update: object, context: UpdateContext, error: Exception) -> None:
        """Log the traceback; tell the user something went wrong (their place is kept by the core)."""
        logger.error("error while handling an update", exc_info=error)
        if not isinstance(update, Update) or update.effective_chat is None:
            return
        if update.effective_chat.type != ChatType.PRIVATE:
            return
        try:
            await context.bot.send_message(update.effective_chat.id,
                                           self.renderer.text("internal_error", self._language(update)),
                                           parse_mode=ParseMode.HTML)
        except Exception:  # noqa: BLE001 - nothing more can be done for this update
            logger.warning("could not tell chat %s about the error", update.effective_chat.id)


def _commands(renderer: Renderer, language: str, names: tuple[str, ...]) -> list[BotCommand]:
    return [BotCommand(name, renderer.text("command_description", language, command=name)) for name in names]


REFUSED_TEXT = ("too long", "message_too_long", "can't parse", "text is empty", "must be non-empty",
                "text_empty", "entities")
"""Bad Request marks of a message Telegram takes from nobody (as opposed to a chat it cannot reach)."""
PART_ATTEMPTS = 5
"""Tries at a later part of a split announcement: its first parts are out, so it is never started again."""


@dataclass
class TelegramBroadcast:
    """Broadcast messages over the Bot API, their outcome in the core's terms.

    A message longer than Telegram allows goes as several, cut like replies (`split_html`). A recipient
    is retried only while none of its parts went out; after that, the rest is sent here, waiting out
    429s, so that nobody gets the beginning twice.
    """

    bot: Any

    async def deliver(self, chat_id: int, text: str) -> Delivery:
        for index, part in enumerate(split_html(text)):
            delivery = await self._deliver_part(chat_id, part)
            attempts = 1
            while index > 0 and delivery.outcome == "retry" and attempts < PART_ATTEMPTS:
                await asyncio.sleep(delivery.retry_after)
                delivery = await self._deliver_part(chat_id, part)
                attempts += 1
            if delivery.outcome != "sent":
                return Delivery("failed") if index > 0 and delivery.outcome == "retry" else delivery
        return Delivery("sent")

    async def _deliver_part(self, chat_id: int, text: str) -> Delivery:
        try:
            await self.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML,
                                        link_preview_options=LinkPreviewOptions(is_disabled=True))
            return Delivery("sent")
        except Forbidden:
            return Delivery("blocked")
        except RetryAfter as error:
            return Delivery("retry", _seconds(error.retry_after))
        except BadRequest as error:
            if any(mark in str(error).lower() for mark in REFUSED_TEXT):
                logger.error("broadcast message refused by Telegram: %s", error)
                return Delivery("refused", reason=str(error))
            logger.info("broadcast to %s failed: %s", chat_id, error)
            return Delivery("failed")
        except (TimedOut, NetworkError) as error:
            return Delivery("unconfirmed") if may_have_arrived(error) else Delivery("retry", 1.0)
        except TelegramError as error:
            logger.info("broadcast to %s failed: %s", chat_id, error)
            return Delivery("failed")


async def set_up_bot_profile(bot: Any, renderer: Renderer, default_language: str,
                             admins: dict[int, str] | None = None) -> None:
    """Commands, description and short description in both languages (and the default); admins see theirs."""
    for admin_id, language in (admins or {}).items():
        try:
            await bot.set_my_commands(_commands(renderer, language, MENU_COMMANDS + ADMIN_COMMANDS),
                                      scope=BotCommandScopeChat(admin_id))
        except BadRequest as error:  # the admin has not talked to the bot yet
            logger.info("admin commands not set for %s: %s", admin_id, error)
    for language in (*LANGUAGES, None):
        lang = language or default_language
        commands = _commands(renderer, lang, MENU_COMMANDS)
        code = language  # None sets the default for every other language
        await bot.set_my_commands(commands, language_code=code)
        await bot.set_my_description(renderer.text("bot_description", lang), language_code=code)
        await bot.set_my_short_description(renderer.text("bot_short_description", lang), language_code=code)
