"""The Telegram adapter: Updates become core events, replies become HTML messages with inline keyboards."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from telegram import (
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, TimedOut
from telegram.ext import BaseUpdateProcessor, ContextTypes

from assistant.events import Attachment, Event, Reply
from assistant.replies import LANGUAGES, Renderer, normalise_language

logger = logging.getLogger(__name__)

SEND_ATTEMPTS = 4
COMMANDS = ("start", "cancel", "help", "lang", "status")
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


def _attachment(message: Message) -> Attachment | None:
    for kind in ATTACHMENT_KINDS:
        value = getattr(message, kind, None)
        if not value:
            continue
        item = value[-1] if isinstance(value, tuple) else value
        return Attachment(kind=kind, file_id=getattr(item, "file_id", "") or "",
                          file_name=getattr(item, "file_name", "") or "",
                          mime_type=getattr(item, "mime_type", "") or "", size=getattr(item, "file_size", 0) or 0)
    return None


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


def update_to_event(update: Update) -> Event | None:
    """The core event for an update from a merchant, or None when it carries nothing to handle."""
    user = update.effective_user
    chat = update.effective_chat
    if user is None or chat is None:
        return None
    base: dict[str, Any] = {"user_id": user.id, "chat_id": chat.id, "language": user.language_code,
                            "user_name": user.full_name}
    query = update.callback_query
    if query is not None:
        decoded = decode_choice(query.data)
        if decoded is None:
            return Event(choice="", choice_version=-1, **base)
        version, choice = decoded
        return Event(choice=choice, choice_version=version, **base)
    message = update.message
    if message is None:
        return None
    command = _command(message)
    if command is not None:
        return Event(command=command[0], args=command[1], **base)
    if message.text is not None:
        return Event(text=message.text, **base)
    attachment = _attachment(message)
    if attachment is not None:
        return Event(attachment=attachment, text=message.caption, **base)
    return Event(attachment=Attachment(kind="other"), **base)


def reply_markup(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(button.label, callback_data=encode_choice(reply.version,
                                                                                                 button.choice))
                                  for button in row] for row in reply.buttons])


# -- ordering ---------------------------------------------------------------------------------------
class ChatOrderedProcessor(BaseUpdateProcessor):
    """Updates of one chat strictly in order; different chats concurrently."""

    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        key = chat.id
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._users[key] -= 1
            if self._users[key] == 0:
                del self._users[key]
                del self._locks[key]

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


# -- the adapter -------------------------------------------------------------------------------------
@dataclass
class TelegramAdapter:
    """Handlers that translate between Telegram and the core."""

    handle: Callable[[Event], Awaitable[list[Reply]]]
    renderer: Renderer
    mark_unreachable: Callable[[int], Awaitable[None]]
    default_language: str
    support_chat_id: int | None = None

    def _language(self, update: Update) -> str:
        user = update.effective_user
        return normalise_language(user.language_code if user else None, self.default_language)

    async def on_private(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A message or a button press in a private chat."""
        chat = update.effective_chat
        event = update_to_event(update)
        if event is None or chat is None or chat.type != ChatType.PRIVATE:
            return
        if update.callback_query is not None:
            await self._settle_button(update.callback_query)
        replies = await self.handle(event)
        await self.send(context, event.chat_id, event.user_id, replies)

    async def on_group_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/start in a group: one pointer to a private chat; everything else in groups stays unanswered."""
        chat = update.effective_chat
        if chat is None or chat.id == self.support_chat_id or update.message is None:
            return
        text = self.renderer.text("group_start", self._language(update), bot_username=context.bot.username)
        await update.message.reply_text(text, parse_mode=ParseMode.HTML)

    async def _settle_button(self, query: CallbackQuery) -> None:
        """Answer the press and take the pressed keyboard away so it cannot be pressed twice."""
        try:
            await query.answer()
        except BadRequest as error:  # too old to answer; the press is still handled
            logger.info("callback query not answered: %s", error)
        if query.message is not None:
            try:
                await query.edit_message_reply_markup(reply_markup=None)
            except BadRequest as error:  # already removed, or the message is too old to edit
                logger.info("keyboard not removed: %s", error)

    async def send(self, context: ContextTypes.DEFAULT_TYPE, chat_id: int, user_id: int,
                   replies: list[Reply]) -> None:
        for reply in replies:
            try:
                await self._send_one(context, chat_id, reply)
            except Forbidden:
                logger.info("user %s blocked the bot; marked unreachable", user_id)
                await self.mark_unreachable(user_id)
                return

    async def _send_one(self, context: ContextTypes.DEFAULT_TYPE, chat_id: int, reply: Reply) -> None:
        """Send with retries on transient network errors (RetryAfter is the rate limiter's)."""
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                await context.bot.send_message(chat_id, reply.text, parse_mode=ParseMode.HTML,
                                               reply_markup=reply_markup(reply),
                                               link_preview_options=LinkPreviewOptions(is_disabled=True))
                return
            except (TimedOut, NetworkError) as error:
                if isinstance(error, (Forbidden, BadRequest)) or attempt == SEND_ATTEMPTS:
                    raise
                delay = 0.5 * 2 ** (attempt - 1)
                logger.warning("sending to %s failed (%s); retry %s in %.1f s", chat_id, error, attempt, delay)
                await asyncio.sleep(delay)

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


async def set_up_bot_profile(bot: Any, renderer: Renderer, default_language: str) -> None:
    """Commands, description and short description in both languages (and the default)."""
    for language in (*LANGUAGES, None):
        lang = language or default_language
        commands = [BotCommand(name, renderer.text("command_description", lang, command=name)) for name in COMMANDS]
        code = language  # None sets the default for every other language
        await bot.set_my_commands(commands, language_code=code)
        await bot.set_my_description(renderer.text("bot_description", lang), language_code=code)
        await bot.set_my_short_description(renderer.text("bot_short_description", lang), language_code=code)
