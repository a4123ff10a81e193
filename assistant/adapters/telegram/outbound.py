"""Telegram out: the core's outputs carried out over the Bot API (retries, Telegram's pace, what each call
gave reported back to the core), broadcasts; and the adapter, its inbound side (`inbound.py`) joined.

What each call gave (the ids Telegram assigned, or why it failed) goes back to the core as delivery
messages once the outputs were carried out; the adapter never asks the core anything while sending.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, MessageEntity, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import BaseRateLimiter

from assistant.adapters.bot_api_http import allow_raw_calls, may_have_arrived
from assistant.adapters.telegram.inbound import FloodGuard, Inbound, encode_choice
from assistant.adapters.telegram.profile import support_rights
from assistant.adapters.texts import CAPTION_LIMIT, MESSAGE_LIMIT, shorten_html, split_html
from assistant.broadcast import Delivery
from assistant.domain.text import utf16_cut
from assistant.messages import DeliveryFailed, DeliveryResult, Inbound as InboundMessage, OutputDelivered
from assistant.outputs import Copy, EditCard, EditCopy, OpenTopic, Out, Progress, RatingsChart, Reply, TopicState
from assistant.replies import Renderer
from assistant.runtime.senders import Later, Pace, Senders, report_patiently

logger = logging.getLogger(__name__)

SEND_ATTEMPTS = 4
TOPIC_GONE = ("thread not found", "topic_deleted", "topic_closed", "topic not found", "topic_id_invalid")
NO_RIGHTS = ("not enough rights", "chat_admin_required", "have no rights", "not a forum", "chat not found")


def reply_markup(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(button.label, callback_data=encode_choice(reply.version,
                                                                                                 button.choice))
                                  for button in row] for row in reply.buttons])


# -- flood control ----------------------------------------------------------------------------------


# -- the adapter -------------------------------------------------------------------------------------


class Core(Protocol):
    """What the adapter hands the core: messages in, and what became of the outputs."""

    async def handle(self, message: InboundMessage) -> list[Out]: ...
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
class TelegramAdapter(Inbound):
    """Translates between Telegram and the core (the inbound side), and carries out the core's outputs."""

    core: Core
    renderer: Renderer
    default_language: str
    support_chat_id: int | None = None
    flood: FloodGuard = field(default_factory=lambda: FloodGuard(20, 10.0))
    senders: Senders | None = None
    """Where outputs go to be carried out at Telegram's pace (`bot.py` attaches them); None: at once, here."""

    def __post_init__(self) -> None:
        allow_raw_calls()


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
        if isinstance(output, RatingsChart):
            return await self._chart(bot, output)
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
        return await support_rights(bot, self.support_chat_id)

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
        """Post a broadcast's or an import's progress (the core records the id) or edit the posted message."""
        if progress.message_id is None:
            message = await bot.send_message(progress.chat_id, progress.text, parse_mode=ParseMode.HTML)
            return OutputDelivered(progress, message_ids=(message.message_id,))
        try:
            await bot.edit_message_text(progress.text, chat_id=progress.chat_id, message_id=progress.message_id,
                                        parse_mode=ParseMode.HTML)
        except BadRequest as error:
            if not _not_modified(error):
                logger.info("%s %s: progress not shown: %s", progress.job, progress.broadcast_id, error)
        return OutputDelivered(progress)

    async def _chart(self, bot: Any, chart: RatingsChart) -> DeliveryResult:
        """Draw the chart in a worker thread (tens of ms of CPU), then send it as a photo with its caption."""
        from assistant import charts  # Pillow, loaded when an admin first asks for a chart

        picture = await asyncio.to_thread(charts.png, chart)
        message = await bot.send_photo(chart.chat_id, picture, caption=shorten_html(chart.caption, CAPTION_LIMIT),
                                       parse_mode=ParseMode.HTML)
        return OutputDelivered(chart, message_ids=(message.message_id,))

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


