"""The Telegram adapter: Updates become core events, replies become HTML messages with inline keyboards."""

from __future__ import annotations

import asyncio
import collections
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
    ReplyParameters,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import ContextTypes

from assistant.adapters.webhook import ANSWERED
from assistant.admin import ADMIN_COMMANDS
from assistant.broadcast import Delivery
from assistant.domain.documents import ReadError
from assistant.events import (
    Attachment,
    Copy,
    EditCard,
    EditCopy,
    Event,
    Failed,
    OpenTopic,
    Out,
    Reply,
    TopicState,
    Unavailable,
)
from assistant.replies import LANGUAGES, Renderer, normalise_language
from assistant.store.inbox import Batch, Received

logger = logging.getLogger(__name__)

SEND_ATTEMPTS = 4
MARK_SENT_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0)  # about 16 s, longer than a database restart
TOPIC_GONE = ("thread not found", "topic_deleted", "topic_closed", "topic not found", "topic_id_invalid")
COMMANDS = ("start", "cancel", "help", "lang", "status", "tickets")
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
        return Attachment(kind=kind, file_id=file_id, file_name=getattr(item, "file_name", "") or "",
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


def update_to_event(update: Update, album: tuple[int, ...] = (), bot: Any = None,
                    batch: tuple[int, ...] = ()) -> Event | None:
    """The core event for an update, or None when it carries nothing to handle."""
    user = update.effective_user
    chat = update.effective_chat
    if user is None or chat is None or user.is_bot:
        return None
    base: dict[str, Any] = {"user_id": user.id, "chat_id": chat.id, "language": user.language_code,
                            "user_name": user.full_name, "update_id": update.update_id, "batch": batch}
    query = update.callback_query
    if query is not None:
        message = query.message
        thread = getattr(message, "message_thread_id", None) if message is not None else None
        pressed = message.message_id if message is not None else None  # the message whose button was pressed
        decoded = decode_choice(query.data)
        if decoded is None:
            return Event(choice="", choice_version=-1, thread_id=thread, message_id=pressed, **base)
        version, choice = decoded
        return Event(choice=choice, choice_version=version, thread_id=thread, message_id=pressed, **base)
    message = update.message or update.edited_message
    if message is None:
        return None
    base.update(message_id=message.message_id, edited=update.edited_message is not None,
                thread_id=message.message_thread_id if message.is_topic_message else None,
                reply_to=_reply_to(message), album=album)
    if message.forum_topic_closed is not None:
        return Event(service="topic_closed", **base)
    if message.forum_topic_reopened is not None:
        return Event(service="topic_reopened", **base)
    if message.forum_topic_created is not None or message.forum_topic_edited is not None:
        return None
    command = _command(message)
    if command is not None:
        return Event(command=command[0], args=command[1], **base)
    if message.text is not None:
        return Event(text=message.text, **base)
    attachment = _attachment(message, bot)
    if attachment is not None:
        return Event(attachment=attachment, text=message.caption, **base)
    return Event(attachment=Attachment(kind="other"), **base)


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

    def allow(self, user_id: int) -> tuple[bool, bool]:
        """(handle it, tell the user to slow down): the notice is given once per window."""
        now = self.clock()
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
class SupportReports(Protocol):
    """What the core wants to hear back about the outputs the adapter carried out."""

    async def sent(self, *outbox_ids: int, updates: Sequence[int] = ()) -> None: ...
    async def topic_opened(self, ticket_id: int, thread_id: int) -> None: ...
    async def card_posted(self, ticket_id: int, message_id: int) -> None: ...
    async def relayed(self, ticket_id: int, from_chat_id: int, pairs: list[tuple[int, int]],
                      to_chat_id: int) -> None: ...
    async def topic_lost(self, ticket_id: int) -> list[Out]: ...
    async def topic_of(self, ticket_id: int) -> int | None: ...
    async def merchant_unreachable(self, ticket_id: int) -> list[Out]: ...
    async def mark_unreachable(self, user_id: int) -> None: ...


def _topic_gone(error: Exception) -> bool:
    return isinstance(error, BadRequest) and any(mark in str(error).lower() for mark in TOPIC_GONE)


def _not_modified(error: Exception) -> bool:
    return isinstance(error, BadRequest) and "not modified" in str(error).lower()


@dataclass
class TelegramAdapter:
    """Handlers that translate between Telegram and the core, and carry out the core's outputs."""

    handle: Callable[[Event], Awaitable[list[Out]]]
    renderer: Renderer
    reports: SupportReports
    default_language: str
    support_chat_id: int | None = None
    flood: FloodGuard = field(default_factory=lambda: FloodGuard(20, 10.0))
    _albums: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict)
    _results: dict[int, BaseException | bool] = field(default_factory=dict)
    _answered: set[int] = field(default_factory=set)
    """Button presses the webhook's response answered already."""

    async def process(self, application: Any, batch: Batch) -> bool:
        """Handle stored updates (one, or one album) through the application's handlers.

        True when the core recorded them done, False when nothing needed handling; raises `Unavailable`
        or `Failed` for the inbox to try again.
        """
        updates = [Update.de_json(item.payload, application.bot) for item in batch.items]
        first = next((u for u in updates if u.message is not None and u.message.caption), updates[0])
        if len(updates) > 1:
            ids = tuple(sorted(u.message.message_id for u in updates if u.message is not None))
            self._albums[first.update_id] = (ids, tuple(u.update_id for u in updates if u is not first))
        if any(item.payload.get(ANSWERED) for item in batch.items):
            self._answered.add(first.update_id)
        try:
            await application.process_update(first)
            result = self._results.pop(first.update_id, False)
        finally:
            self._albums.pop(first.update_id, None)
            self._results.pop(first.update_id, None)
            self._answered.discard(first.update_id)
        if isinstance(result, BaseException):
            raise result
        return result

    def _language(self, update: Update) -> str:
        user = update.effective_user
        return normalise_language(user.language_code if user else None, self.default_language)

    async def on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A message, an edit or a button press in a private chat or in the support group."""
        chat = update.effective_chat
        if chat is None or (chat.type != ChatType.PRIVATE and chat.id != self.support_chat_id):
            return
        user = update.effective_user
        if user is not None and chat.type == ChatType.PRIVATE:
            allowed, warn = self.flood.allow(user.id)
            if not allowed:
                logger.warning("user %s is flooding; update %s not handled", user.id, update.update_id)
                if warn:
                    await context.bot.send_message(chat.id, self.renderer.text("flood", self._language(update)))
                return
        message = update.message
        album, batch = self._albums.get(update.update_id, ((), ()))
        if message is not None and message.media_group_id and not album:
            album = (message.message_id,)  # an album's photo that came alone
        event = update_to_event(update, album=album, bot=context.bot, batch=batch)
        if event is None:
            return
        if update.callback_query is not None and update.update_id not in self._answered:
            await self._settle_button(update.callback_query)
        try:
            outputs = await self.handle(event)
        except (Unavailable, Failed) as error:  # no answer now: the inbox tries again, then dead-letters
            self._results[update.update_id] = error
            return
        except Exception as error:  # noqa: BLE001 - a bug outside the core: the same as Failed
            logger.exception("update %s could not be handled", update.update_id)
            self._results[update.update_id] = Failed(f"{type(error).__name__}: {error}")
            return
        self._results[update.update_id] = event.update_id is not None
        await self.execute(context.bot, outputs, answering=(update.update_id, *event.batch))

    async def on_group_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/start in a group: one pointer to a private chat; everything else in groups stays unanswered."""
        chat = update.effective_chat
        if chat is None or chat.id == self.support_chat_id or update.message is None:
            return
        text = self.renderer.text("group_start", self._language(update), bot_username=context.bot.username)
        await update.message.reply_text(text, parse_mode=ParseMode.HTML)

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
    async def execute(self, bot: Any, outputs: list[Out], answering: tuple[int, ...] = ()) -> None:
        """Carry out outputs in order, then report them sent; a failure of one does not stop the others.

        They are reported together, in one transaction, once the last was carried out. A failed output
        stays in the outbox and is tried again when its lease runs out; the first failure is raised at the
        end for the error handler.
        """
        failure: Exception | None = None
        done: list[int] = []
        for output in outputs:
            try:
                await self._execute_one(bot, output)
            except Exception as error:  # noqa: BLE001 - re-raised below for the error handler
                logger.warning("could not carry out %s: %s", type(output).__name__, error)
                failure = failure or error
                continue
            if output.outbox_id is not None:
                done.append(output.outbox_id)
        if done or answering:
            await self._report_sent(done, answering)
        if failure is not None:
            raise failure

    async def _report_sent(self, outbox_ids: list[int], answering: tuple[int, ...] = ()) -> None:
        """Mark outputs sent, waiting out a short database outage: unmarked, they would be sent twice."""
        for delay in (*MARK_SENT_DELAYS, None):
            try:
                await self.reports.sent(*outbox_ids, updates=answering)
                return
            except Exception as error:  # noqa: BLE001 - the database is away; the outputs were sent
                if delay is None:
                    logger.error("outbox entries %s sent but not marked (%s): they will be sent again", outbox_ids,
                                 error)
                    return
                logger.warning("outbox entries %s not marked sent yet (%s); again in %.1f s", outbox_ids, error,
                               delay)
                await asyncio.sleep(delay)

    async def _execute_one(self, bot: Any, output: Out) -> None:
        if isinstance(output, Reply):
            await self._send_reply(bot, output)
        elif isinstance(output, Copy):
            await self._copy(bot, output)
        elif isinstance(output, OpenTopic):
            await self._open_topic(bot, output)
        elif isinstance(output, EditCard):
            await self._edit_card(bot, output)
        elif isinstance(output, EditCopy):
            try:
                await bot.edit_message_text(output.text, chat_id=output.chat_id, message_id=output.message_id)
            except BadRequest as error:
                if not _not_modified(error):
                    raise
        elif isinstance(output, TopicState):
            await self._topic_state(bot, output)

    async def _send_reply(self, bot: Any, reply: Reply) -> Message | None:
        try:
            return await self._send_one(bot, reply)
        except Forbidden:
            logger.info("chat %s blocked the bot; marked unreachable", reply.chat_id)
            await self.reports.mark_unreachable(reply.chat_id)
            return None
        except BadRequest as error:
            if reply.thread_id is None or not _topic_gone(error):
                raise
            logger.warning("topic %s is gone; posting in the general topic", reply.thread_id)
            return await self._send_one(bot, Reply(reply.text, reply.buttons, reply.version, reply.chat_id))

    async def _send_one(self, bot: Any, reply: Reply) -> Message:
        """Send with retries on transient network errors (RetryAfter is the rate limiter's)."""
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                return await bot.send_message(
                    reply.chat_id, reply.text, parse_mode=ParseMode.HTML, reply_markup=reply_markup(reply),
                    message_thread_id=reply.thread_id, link_preview_options=LinkPreviewOptions(is_disabled=True),
                    reply_parameters=(ReplyParameters(reply.reply_to, allow_sending_without_reply=True)
                                      if reply.reply_to else None))
            except (TimedOut, NetworkError) as error:
                if isinstance(error, BadRequest) or attempt == SEND_ATTEMPTS:
                    raise
                delay = 0.5 * 2 ** (attempt - 1)
                logger.warning("sending to %s failed (%s); retry %s in %.1f s", reply.chat_id, error, attempt, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _copy(self, bot: Any, copy: Copy) -> None:
        """Relay messages; a lost topic gets a new one and the copy is made again, so nothing is lost."""
        to_support = copy.to_chat_id == self.support_chat_id
        thread = copy.thread_id
        if to_support and thread is None:
            thread = await self._recover_topic(bot, copy.ticket_id)
        for attempt in (1, 2):
            try:
                ids = await self._copy_messages(bot, copy, thread)
                break
            except Forbidden:
                if to_support:
                    raise
                logger.info("merchant chat %s blocked the bot", copy.to_chat_id)
                await self.execute(bot, await self.reports.merchant_unreachable(copy.ticket_id))
                return
            except BadRequest as error:
                if not (to_support and _topic_gone(error)) or attempt == 2:
                    raise
                logger.warning("topic %s of ticket %s is gone; opening a new one", thread, copy.ticket_id)
                thread = await self._recover_topic(bot, copy.ticket_id, lost=True)
        await self.reports.relayed(copy.ticket_id, copy.from_chat_id, list(zip(copy.message_ids, ids)),
                                   copy.to_chat_id)

    async def _copy_messages(self, bot: Any, copy: Copy, thread: int | None) -> list[int]:
        if len(copy.message_ids) > 1:
            copied = await bot.copy_messages(copy.to_chat_id, copy.from_chat_id, list(copy.message_ids),
                                             message_thread_id=thread)
            return [item.message_id for item in copied]
        reply = ReplyParameters(copy.reply_to, allow_sending_without_reply=True) if copy.reply_to else None
        copied = await bot.copy_message(copy.to_chat_id, copy.from_chat_id, copy.message_ids[0],
                                        message_thread_id=thread, reply_parameters=reply)
        return [copied.message_id]

    async def _recover_topic(self, bot: Any, ticket_id: int, lost: bool = False) -> int | None:
        if not lost:
            known = await self.reports.topic_of(ticket_id)
            if known is not None:
                return known
        await self.execute(bot, await self.reports.topic_lost(ticket_id))
        return await self.reports.topic_of(ticket_id)

    async def _open_topic(self, bot: Any, topic: OpenTopic) -> None:
        created = await bot.create_forum_topic(topic.chat_id, topic.name)
        thread = created.message_thread_id
        await self.reports.topic_opened(topic.ticket_id, thread)
        card = Reply(topic.card.text, topic.card.buttons, 0, topic.chat_id, thread_id=thread)
        message = await self._send_one(bot, card)
        await self.reports.card_posted(topic.ticket_id, message.message_id)

    async def _edit_card(self, bot: Any, edit: EditCard) -> None:
        try:
            await bot.edit_message_text(edit.card.text, chat_id=edit.chat_id, message_id=edit.message_id,
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

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log the traceback; tell the user something went wrong (their place is kept by the core)."""
        logger.error("error while handling an update", exc_info=context.error)
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


@dataclass
class TelegramBroadcast:
    """Broadcast messages over the Bot API, their outcome in the core's terms."""

    bot: Any

    async def deliver(self, chat_id: int, text: str) -> Delivery:
        try:
            await self.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML,
                                        link_preview_options=LinkPreviewOptions(is_disabled=True))
            return Delivery("sent")
        except Forbidden:
            return Delivery("blocked")
        except RetryAfter as error:
            wait = error.retry_after
            return Delivery("retry", float(wait.total_seconds() if hasattr(wait, "total_seconds") else wait))
        except BadRequest as error:
            logger.info("broadcast to %s failed: %s", chat_id, error)
            return Delivery("failed")
        except (TimedOut, NetworkError):
            return Delivery("retry", 1.0)
        except TelegramError as error:
            logger.info("broadcast to %s failed: %s", chat_id, error)
            return Delivery("failed")

    async def post(self, chat_id: int, text: str) -> int:
        message = await self.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML)
        return int(message.message_id)

    async def edit(self, chat_id: int, message_id: int, text: str) -> None:
        try:
            await self.bot.edit_message_text(text, chat_id=chat_id, message_id=message_id, parse_mode=ParseMode.HTML)
        except BadRequest as error:
            if not _not_modified(error):
                raise


async def set_up_bot_profile(bot: Any, renderer: Renderer, default_language: str,
                             admins: dict[int, str] | None = None) -> None:
    """Commands, description and short description in both languages (and the default); admins see theirs."""
    for admin_id, language in (admins or {}).items():
        try:
            await bot.set_my_commands(_commands(renderer, language, COMMANDS + ADMIN_COMMANDS),
                                      scope=BotCommandScopeChat(admin_id))
        except BadRequest as error:  # the admin has not talked to the bot yet
            logger.info("admin commands not set for %s: %s", admin_id, error)
    for language in (*LANGUAGES, None):
        lang = language or default_language
        commands = _commands(renderer, lang, COMMANDS)
        code = language  # None sets the default for every other language
        await bot.set_my_commands(commands, language_code=code)
        await bot.set_my_description(renderer.text("bot_description", lang), language_code=code)
        await bot.set_my_short_description(renderer.text("bot_short_description", lang), language_code=code)
