"""Telegram in: stored updates mapped to the core's messages, a flood guard per user, and the callbacks
python-telegram-bot's handlers name (`bot.py`), called straight by the inbox's worker."""

from __future__ import annotations

import collections
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import CallbackQuery, Message, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest
from telegram.ext import CallbackContext

from assistant.adapters.bot_api_http import AiohttpRequest
from assistant.adapters.texts import clean
from assistant.adapters.webhook import ANSWERED
from assistant.domain.documents import ReadError
from assistant.messages import (
    AlbumReceived,
    Attachment,
    ButtonPress,
    ChatMessage,
    Command,
    FileSent,
    Text,
    TopicClosed,
    TopicReopened,
)
from assistant.outputs import Failed, Out, Unavailable
from assistant.replies import Renderer, normalise_language
from assistant.store.inbox import Batch, Received

logger = logging.getLogger(__name__)

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
        return await download(file.file_path, limit, bot.request)
    return fetch


def telegram_files(bot: Any) -> Callable[[str, int], Awaitable[bytes]]:
    """Fetch a file again by its file id (an import an admin confirmed), at most `limit` bytes."""
    async def fetch(file_id: str, limit: int) -> bytes:
        return await _fetcher(bot, file_id)(limit)
    return fetch


async def download(url: str | None, limit: int, request: AiohttpRequest, timeout: float = 30.0) -> bytes:
    """Stream a file over the Bot API's connections (and proxy), stopping as soon as it passes `limit` bytes."""
    if not url:
        raise ReadError("failed")
    if not url.startswith(("http://", "https://")):  # a local Bot API server in --local mode gives a path
        raise ReadError("unsupported")
    content = await request.fetch(url, limit, timeout)
    if content is None:
        raise ReadError("too_large")
    return content


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
        raw = data.get(kind)
        body: dict[str, Any] = raw if isinstance(raw, dict) else {}
        message = body.get("message") if kind == "callback_query" else body
        chat = message.get("chat") if isinstance(message, dict) else None
        frm = body.get("from")
        sender: dict[str, Any] = frm if isinstance(frm, dict) else {}
        chat_id = int((chat.get("id") if isinstance(chat, dict) else None) or sender.get("id") or 0)
        user_id = int(sender["id"]) if sender.get("id") is not None else None
        if isinstance(message, dict) and kind in ("message", "edited_message"):
            kind = next((k for k in ATTACHMENT_KINDS if k in message), "text" if "text" in message else kind)
        album = body.get("media_group_id")
        return Received(update_id=update_id, chat_id=chat_id, user_id=user_id, kind=kind, payload=data,
                        album=str(album) if album else None)
    except (TypeError, ValueError, KeyError, AttributeError):
        return Received(update_id=update_id, chat_id=0, user_id=None, kind="malformed", payload=data)


def _forwarded_from(message: Any) -> int | None:
    """A forwarded message's original sender: their id, 0 when they hide their account, None for a chat's."""
    origin = getattr(message, "forward_origin", None)
    if origin is None:
        return None
    if origin.type == "user":
        return int(origin.sender_user.id)
    return 0 if origin.type == "hidden_user" else None


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
        return Text(text=text, edited=edited, entities=_entities(message.text, text, message.entities),
                    forwarded_from=_forwarded_from(message), **base)
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


# -- the callbacks ---------------------------------------------------------------------------------
Context = CallbackContext[Any, dict[Any, Any], dict[Any, Any], dict[Any, Any]]
"""python-telegram-bot's context, as its handlers' callbacks take it."""


class UpdateContext(Context):
    """python-telegram-bot's context for one stored update, with what the inbox knows of it: the album's
    message ids, the album's other updates, whether the webhook's response answered the button already;
    `handled` once the core recorded it done."""

    def __init__(self, application: Any, *, album: tuple[int, ...], batch: tuple[int, ...], answered: bool) -> None:
        super().__init__(application)
        self.album, self.batch, self.answered = album, batch, answered
        self.handled = False


class Inbound:
    """The adapter's inbound side: a stored update to the core's message, handed to the core; what it
    returned carried out by the outbound side (`execute`)."""

    core: Any
    renderer: Renderer
    default_language: str
    support_chat_id: int | None
    flood: FloodGuard

    async def execute(self, bot: Any, outputs: list[Out], answering: tuple[int, ...] = (),
                      chat_id: int | None = None) -> None:
        raise NotImplementedError  # the outbound side's

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

    async def on_update(self, update: Update, context: Context) -> bool:
        """A message, an edit or a button press in a private chat or in the support group."""
        assert isinstance(context, UpdateContext), "called by process (the inbox's worker)"
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

    async def on_group_start(self, update: Update, context: Context) -> bool:
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
