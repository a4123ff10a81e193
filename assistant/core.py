"""The transport-independent core: typed messages in, outputs out.

One handlers table maps each message class to its handler, and every handler runs in one envelope:
one transaction that locks the chat, journals the update (its inbox entry finished) and stores the
handler's outputs in the outbox. A photo or file is downloaded and read before, outside any
transaction, and becomes a message of its own (`DocumentRead`). What the transport did with the
outputs comes back as messages too (`OutputDelivered`, `DeliveryFailed`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cache, partial
from typing import Any


from assistant.admin import ADMIN_COMMANDS, AdminDesk
from assistant.bookkeeping import Bookkeeping
from assistant.diagnosis import DiagnosisRules
from assistant.domain.documents import MAX_BYTES, ReadError
from assistant.domain.extract import names_an_invoice
from assistant.domain.intents import Understood, yes_or_no
from assistant.file_reader import FileRead, IsolatedReader
from assistant.flow_runner import FlowRunner
from assistant.messages import (
    AlbumReceived,
    ButtonPress,
    Command,
    DeadLettered,
    DeliveryResult,
    DeliveryFailed,
    DocumentRead,
    FileSent,
    FollowUpDue,
    Inbound,
    Message,
    OutputDelivered,
    Text,
    TicketsDue,
    TopicClosed,
    TopicReopened,
)
from assistant.outputs import Copy, Failed, OpenTopic, Out, Progress, Reply, Unavailable
from assistant.ports import StorePorts
from assistant.replies import Renderer, normalise_language
from assistant.store.engine import transient
from assistant.store.inbox import Batch
from assistant.store.models import Conversation, User
from assistant.store.uow import UnitOfWork, Units
from assistant.support import SupportConfig, SupportDesk
from flows.troubleshoot import TROUBLESHOOT, Troubleshoot, choice_trigger

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Understand = Callable[[str], Understood]
"""The understanding step: a merchant's free text to an intent (`assistant/understanding`)."""
Handler = Callable[[UnitOfWork, Any, datetime], Awaitable[list[Out]]]
"""A message's handler: its effects written through the store, its outputs returned (for the outbox)."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# command -> flow trigger
COMMANDS = {"start": "menu", "cancel": "menu", "menu": "menu", "help": "help", "lang": "lang",
            "status": "status", "find": "find", "human": "human"}
UPDATE_MEMORY = timedelta(days=7)  # Telegram keeps undelivered updates for 24 hours
RECORDED = (OpenTopic, Copy, Progress)
"""Outputs whose delivery the core records (the topic and message ids Telegram assigned)."""


@dataclass(frozen=True)
class CoreConfig:
    default_language: str
    max_years: int
    max_failures: int
    max_message_chars: int
    rules: DiagnosisRules
    support: SupportConfig
    announce_days: int = 30
    outbox_lease: timedelta = timedelta(seconds=30)
    """How long a sender may take to send an output before another process sends it instead."""
    outbox_attempts: int = 5
    download_seconds: float = 30.0
    """How long fetching one file may take."""


def _chat_of(message: Message) -> int | None:
    """The chat whose lock the message's transaction takes; None for delivery results."""
    if isinstance(message, (Inbound, FollowUpDue)):
        return message.chat_id
    if isinstance(message, DeadLettered):
        return message.batch.chat_id
    return None


class Assistant:
    """Takes in messages, each in one transaction, through one handlers table."""

    def __init__(self, units: Units, renderer: Renderer, flows: FlowRunner,
                 config: CoreConfig, clock: Clock = utcnow, reader: IsolatedReader | None = None,
                 bookkeeping: Bookkeeping | None = None, understand: Understand | None = None,
                 owner: str | None = None) -> None:
        self.units = units
        self.understand = understand or (lambda text: Understood(None))
        self.deliver: Callable[[list[Out]], Awaitable[None]] | None = None
        """Carries out outputs stored outside a handler's envelope (`tell`): the transport's senders."""
        self.owner = owner
        """This process, as the holder of the outbox leases of what it stores and claims (its senders renew them)."""
        self.renderer = renderer
        self.flows = flows
        self.config = config
        self.clock = clock
        self.reader = reader or IsolatedReader()
        self.bookkeeping = bookkeeping or Bookkeeping(units)
        """Where "sent" marks go, with other chats' marks and the inbox's bookkeeping (`bot.py` shares it)."""
        self.handlers: dict[type[Any], Handler] = {
            Text: self._in_chat,
            Command: self._in_chat,
            ButtonPress: self._in_chat,
            FileSent: self._in_chat,
            AlbumReceived: self._in_chat,
            DocumentRead: self._in_chat,
            TopicClosed: self._in_chat,
            TopicReopened: self._in_chat,
            FollowUpDue: self._follow_up_due,
            TicketsDue: self._tickets_due,
            DeadLettered: self._dead_lettered,
            OutputDelivered: self._delivered,
            DeliveryFailed: self._undelivered,
        }

    # -- the entry points ------------------------------------------------------------------------------
    async def handle(self, message: Message) -> list[Out]:
        """Everything that should be carried out in answer to `message`, stored in the outbox.

        A photo or file is downloaded and read first, outside any transaction. Raises `Unavailable` when
        the database cannot be reached and `Failed` when handling failed otherwise: in both cases nothing
        was stored, and the message should be handled again later (the inbox dead-letters it after a few
        failures). `answer` is for transports that cannot try again.
        """
        chat_id = _chat_of(message)
        try:
            message = await self._prepare(message)
            return await self._envelope(message, self.handlers[type(message)])
        except Exception as error:
            if transient(error):
                logger.warning("chat %s: database unavailable (%s); to be handled again", chat_id, error)
                raise Unavailable(str(error)) from error
            logger.exception("chat %s: %s failed, nothing stored", chat_id, type(message).__name__)
            raise Failed(f"{type(error).__name__}: {error}") from error

    async def answer(self, message: Message) -> list[Out]:
        """`handle`, with an apology instead of `Failed` (the terminal, which has no inbox)."""
        try:
            return await self.handle(message)
        except Failed:
            language = normalise_language(getattr(message, "language", None), self.config.default_language)
            return [Reply(self.renderer.text("internal_error", language), chat_id=_chat_of(message) or 0)]

    async def take(self, results: Sequence[DeliveryResult], answering: Sequence[int] = ()) -> list[Out]:
        """What the transport did with outputs (answering these updates); returns what that calls for.

        Plain sends are only marked sent, together with other chats' marks; a delivery the core records
        (a topic, copied messages) or a failure it acts on (blocked, a lost topic) is a message handled in
        its own envelope. A failed output with no special meaning stays in the outbox for another try.
        """
        plain: list[int] = []
        more: list[Out] = []
        for result in results:
            output = result.output
            if isinstance(result, DeliveryFailed) and result.reason == "error":
                continue  # its lease runs out and it is sent again
            if isinstance(result, OutputDelivered) and not isinstance(output, RECORDED):
                if output.outbox_id is not None:
                    plain.append(output.outbox_id)
                continue
            more += await self.handle(result)
        await self.sent(*plain, updates=answering)
        return more

    async def dead_letter(self, batch: Batch, reason: str) -> list[Out]:
        """Give up on updates that failed again and again: marked dead, and the merchant told once."""
        return await self._envelope(DeadLettered(batch, reason), self._dead_lettered)

    async def sent(self, *outbox_ids: int, updates: Sequence[int] = ()) -> None:
        """The transport carried out these outputs (never sent again), answering these updates."""
        await self.bookkeeping.sent(outbox_ids, updates, self.clock())  # with what arrived meanwhile

    async def due(self) -> list[Out]:
        """Whatever fell due: outputs a dead process owed, tickets waiting too long, promised notices.

        Safe to call from a timer in several processes, and after downtime: what fell due meanwhile is
        delivered now, each promise once (it is marked delivered in the transaction that answers it).
        """
        now = self.clock()
        async with self.units() as store:
            outputs = await store.outbox.claim_unsent(now, self.config.outbox_lease, self.config.outbox_attempts,
                                                      owner=self.owner)
            due = await store.follow_ups.due(now)
            await store.outbox.forget(now - UPDATE_MEMORY)
            await store.inbox.forget(now - UPDATE_MEMORY)
        if outputs:
            logger.warning("%s output(s) left unsent by a stopped sender: sending them now", len(outputs))
        outputs += await self.handle(TicketsDue())
        for follow_up_id, chat_id in due:
            try:
                outputs += await self.handle(FollowUpDue(follow_up_id, chat_id))
            except (Unavailable, Failed):
                logger.warning("follow-up %s could not be delivered; it stays due", follow_up_id)
        return outputs

    async def startup_notices(self, support_rights: bool = True) -> list[Out]:
        """Warnings for admins at start: no support group configured, or the bot may not create topics there."""
        if self.config.support.chat_id is not None and support_rights:
            return []
        async with self.units() as store:
            admins = await store.users.admins()
        if self.config.support.chat_id is None:
            logger.warning("SUPPORT_CHAT_ID is not set: tickets are stored but nobody is told in Telegram")
            template = "support_missing_admin"
        else:
            template = "support_rights_admin"
        return [Reply(self.renderer.text(template, admin.language), chat_id=admin.id) for admin in admins]

    # -- the envelope ----------------------------------------------------------------------------------
    async def _envelope(self, message: Message, handler: Handler) -> list[Out]:
        """One transaction: the chat locked, the update journaled, the handler's outputs in the outbox."""
        now = self.clock()
        async with self.units() as store:
            chat_id = _chat_of(message)
            updates = message.updates if isinstance(message, Inbound) else ()
            if not updates:
                if chat_id is not None:
                    await store.lock_chat(chat_id)
            elif not await store.inbox.finish(updates, now, sending=True, lock_chat=chat_id):
                logger.info("updates %s of chat %s are not pending (handled before); not again", list(updates),
                            chat_id)
                return []
            outputs = await handler(store, message, now)
            return await store.outbox.enqueue(outputs, now, self.config.outbox_lease, self.owner)

    async def _prepare(self, message: Message) -> Message:
        """Download and read an invoice photo or file the conversation will read, before any transaction."""
        if not isinstance(message, FileSent) or isinstance(message, DocumentRead):
            return message
        attachment = message.attachment
        if (attachment.kind not in ("photo", "document") or attachment.fetch is None or message.edited
                or message.chat_id == self.config.support.chat_id):
            return message
        async with self.units() as store:
            if await store.tickets.active(message.chat_id) is not None:
                return message  # relayed to staff, never downloaded
            user = await store.users.get(message.user_id)
        language = user.language if user is not None else normalise_language(message.language,
                                                                               self.config.default_language)
        read = await self._read_file(message, language)
        fields = {f.name: getattr(message, f.name) for f in dataclasses.fields(message)}
        return DocumentRead(**fields, read=read)

    async def _read_file(self, message: FileSent, language: str) -> FileRead:
        attachment = message.attachment
        assert attachment.fetch is not None
        if attachment.size > MAX_BYTES:
            return FileRead(reason="too_large")
        try:
            async with asyncio.timeout(self.config.download_seconds):
                data = await attachment.fetch(MAX_BYTES)
        except ReadError as error:
            return FileRead(reason=error.reason)
        except Exception as error:  # noqa: BLE001 - a download that failed or took too long
            logger.warning("chat %s: could not get the %s: %s", message.chat_id, attachment.kind, error)
            return FileRead(reason="failed")
        today = self.clock().astimezone(self.config.rules.tz).date()

        async def waiting(ahead: int) -> None:  # the readers are busy: the merchant knows their file is in line
            await self.tell([Reply(self.renderer.text("read_queued", language, kind=attachment.kind, ahead=ahead),
                                   chat_id=message.chat_id)])
        return await self.reader.read(data, file_name=attachment.file_name, mime_type=attachment.mime_type,
                                      kind=attachment.kind, today=today, chat_id=message.chat_id, waiting=waiting)

    async def tell(self, outputs: list[Out]) -> None:
        """Outputs outside any handler's envelope (a notice while a handler waits): stored in the outbox in a
        transaction of their own and handed to `deliver` (the transport's senders; without, the outbox's lease
        hands them out later)."""
        async with self.units() as store:
            stored = await store.outbox.enqueue(outputs, self.clock(), self.config.outbox_lease, self.owner)
        if self.deliver is not None:
            await self.deliver(stored)

    def _desk(self, store: UnitOfWork, now: datetime) -> SupportDesk:
        return SupportDesk(store, self.renderer, self.config.support, self.flows, now)

    # -- handlers: what users do ---------------------------------------------------------------------------
    async def _in_chat(self, store: UnitOfWork, message: Inbound, now: datetime) -> list[Out]:
        """A message in a chat: staff in the support group, an admin's command or draft, a ticket, the flow."""
        user = await store.users.ensure(message.user_id, now=now, name=message.user_name,
                                       language=normalise_language(message.language, self.config.default_language))
        desk = self._desk(store, now)
        if self.config.support.chat_id is not None and message.chat_id == self.config.support.chat_id:
            outputs = await desk.staff_event(message, user)
            logger.info("support chat, topic %s: %s output(s)", message.thread_id, len(outputs))
            return outputs
        conversation, is_new = await store.conversations.get(message.chat_id, message.user_id,
                                                             initial=TROUBLESHOOT.initial, now=now)
        admin = AdminDesk(store, self.renderer, self.flows, self.config.rules.tz, now, self.config.announce_days)
        if isinstance(message, Command) and message.name in ADMIN_COMMANDS:
            return await admin.command(message, user, conversation)
        if admin.owns(conversation):
            return await admin.flow_event(message, user, conversation)
        support_outputs = await self._merchant_support(desk, store, message, user)
        if support_outputs is not None:
            logger.info("chat %s: ticket relay/action, %s output(s)", message.chat_id, len(support_outputs))
            return support_outputs
        return await self._troubleshoot(store, desk, user, conversation, now,
                                        lambda model: self._dispatch(model, message, is_new, conversation.version))

    async def _merchant_support(self, desk: SupportDesk, store: UnitOfWork, message: Inbound,
                                user: User) -> list[Out] | None:
        """Ticket matters of a merchant's chat; None when the troubleshooting flow should answer."""
        ticket = await store.tickets.active(message.chat_id)
        if ticket is not None:
            return await desk.merchant_event(message, user, ticket)
        if isinstance(message, ButtonPress):
            handled = await desk.merchant_choice(message, user)
            if handled is not None:
                return handled
        if isinstance(message, Command) and message.name == "tickets":
            return [await desk.ticket_list(user, message.chat_id)]
        if getattr(message, "edited", False) or isinstance(message, (TopicClosed, TopicReopened)):
            return []  # edits and service messages outside a ticket change nothing
        return await desk.reopen_offer(message, user)

    async def _troubleshoot(self, store: UnitOfWork, desk: SupportDesk, user: User, conversation: Conversation,
                            now: datetime, act: Callable[[Troubleshoot], Awaitable[None]],
                            preface: Sequence[Out] = ()) -> list[Out]:
        """Run the troubleshooting flow for one message: its replies, then what its ports produced."""
        ports = StorePorts(store, user, conversation, now, self.config.rules, self.config.max_years,
                           self.config.max_failures, desk)
        before = conversation.state
        model, replies = await self.flows.converse(
            store.conversations, conversation, TROUBLESHOOT.name,
            lambda state, data: Troubleshoot(state, data, ports, user.language), act, language=user.language, now=now)
        logger.info("chat %s: %s -> %s (%s)", conversation.chat_id, before, model.state,
                    ",".join(say.key for say in model.said))
        return [*preface, *replies, *ports.outputs]

    async def _dispatch(self, model: Troubleshoot, message: Inbound, is_new: bool, version: int) -> None:
        """The troubleshooting flow's trigger for a message, by the message's class."""
        if is_new or (isinstance(message, Command) and message.name == "start"):
            model.say("greeting")
        inputs: dict[type[Any], Callable[[Troubleshoot, Any, bool, int], Awaitable[None]]] = {
            Command: self._on_command, ButtonPress: self._on_press, DocumentRead: self._on_read,
            FileSent: self._on_file, AlbumReceived: self._on_file, Text: self._on_text,
        }
        on = inputs.get(type(message))
        if on is None:
            model.prompt()
            return
        await on(model, message, is_new, version)

    async def _on_command(self, model: Troubleshoot, message: Command, is_new: bool, version: int) -> None:
        trigger = COMMANDS.get(message.name.lower())
        if trigger is None:
            model.say("unknown_command", command=message.name)
            model.prompt()
            return
        await self._fire(model, trigger)

    async def _on_press(self, model: Troubleshoot, message: ButtonPress, is_new: bool, version: int) -> None:
        chosen = choice_trigger(message.choice)
        if (message.version not in (None, 0) and message.version != version) or chosen is None:
            model.say("menu_expired")
            model.prompt()
            return
        await self._fire(model, chosen[0], **chosen[1])

    async def _on_read(self, model: Troubleshoot, message: DocumentRead, is_new: bool, version: int) -> None:
        """What was read from a photo or file: its fields to confirm, or why there are none."""
        read, kind = message.read, message.attachment.kind
        if read.reason:
            model.say(f"read_{read.reason}", kind=kind)
            model.prompt()
            return
        if not read.usable:
            model.say("read_not_invoice", kind=kind)
            model.prompt()
            return
        await self._fire(model, "read", fields=read.fields, via=read.source)

    async def _on_file(self, model: Troubleshoot, message: FileSent, is_new: bool, version: int) -> None:
        model.say("attachment_unsupported", kind=message.attachment.kind)
        model.prompt()

    async def _on_text(self, model: Troubleshoot, message: Text, is_new: bool, version: int) -> None:
        text = message.text.strip()
        if not text:
            model.say("empty_message")
            model.prompt()
            return
        if len(text) > self.config.max_message_chars:
            model.say("message_too_long", length=len(text), limit=self.config.max_message_chars)
            model.prompt()
            return
        answer = yes_or_no(text) if model.asks_yes_or_no() else None
        if answer is not None:  # "对" / "不是这张" typed instead of pressing the button
            await self._fire(model, answer)
            return
        understood = cache(partial(self.understand, text))  # classified only when the flow asks
        if (is_new and understood().intent in (None, "greeting", "ok", "thanks")
                and not names_an_invoice(text, today=model.ports.today(), max_years=self.config.max_years)):
            model.prompt()  # a first "hello" gets the greeting and the menu, not a question back
            return
        await self._fire(model, "provide", text=text, understood=understood)

    async def _fire(self, model: Troubleshoot, trigger: str, **kwargs: object) -> None:
        """Fire `trigger` if the current state has it; otherwise say it is not available here."""
        if not self.flows.can(TROUBLESHOOT.name, model.state, trigger):
            model.say("not_available")
            model.prompt()
            return
        await model.trigger(trigger, **kwargs)  # type: ignore[attr-defined]

    # -- handlers: what falls due -----------------------------------------------------------------------
    async def _follow_up_due(self, store: UnitOfWork, message: FollowUpDue, now: datetime) -> list[Out]:
        """Tell the merchant, and run their lookup again where they are free to see the result."""
        follow_up = await store.follow_ups.get(message.follow_up_id)
        if follow_up is None or follow_up.delivered_at is not None:
            return []
        follow_up.delivered_at = now
        user = await store.users.get(follow_up.user_id)
        if user is None or user.unreachable:
            return []
        fields = dict(follow_up.fields)
        key = "follow_up_maintenance_over" if follow_up.kind == "maintenance_over" else "follow_up_recheck"
        conversation, _ = await store.conversations.get(follow_up.chat_id, follow_up.user_id,
                                                        initial=TROUBLESHOOT.initial, now=now)
        free = (conversation.flow == TROUBLESHOOT.name and await store.tickets.active(follow_up.chat_id) is None
                and self.flows.can(TROUBLESHOOT.name, conversation.state, "recheck") and bool(fields.get("number")))
        notice = Reply(self.renderer.text(key, user.language, fields=fields, rerun=free), chat_id=follow_up.chat_id)
        logger.info("follow-up %s (%s) delivered to chat %s%s", follow_up.id, follow_up.kind, follow_up.chat_id,
                    ", lookup re-run" if free else "")
        if not free:
            return [notice]
        return await self._troubleshoot(store, self._desk(store, now), user, conversation, now,
                                        lambda model: model.trigger("recheck", fields=fields),  # type: ignore[attr-defined]
                                        preface=[notice])

    async def _tickets_due(self, store: UnitOfWork, message: TicketsDue, now: datetime) -> list[Out]:
        return await self._desk(store, now).due()

    async def _dead_lettered(self, store: UnitOfWork, message: DeadLettered, now: datetime) -> list[Out]:
        batch = message.batch
        await store.inbox.finish(batch.ids, now, state="dead", error=message.reason)
        if batch.chat_id <= 0 or batch.chat_id == self.config.support.chat_id:
            return []  # groups: staff see it in /stats and `bot.py inbox list`
        user = await store.users.get(batch.user_id) if batch.user_id is not None else None
        language = user.language if user is not None else self.config.default_language
        file = batch.kind in ("photo", "document")
        return [Reply(self.renderer.text("inbox_dead", language, file=file), chat_id=batch.chat_id)]

    # -- handlers: what the transport did ---------------------------------------------------------------
    async def _delivered(self, store: UnitOfWork, message: OutputDelivered, now: datetime) -> list[Out]:
        """Record what Telegram assigned: a ticket's topic and card, relayed messages' copies, a progress message."""
        output = message.output
        if output.outbox_id is not None and not await store.outbox.mark_sent_once(output.outbox_id, now):
            return []  # recorded before (a report tried again after an outage)
        if isinstance(output, Progress):
            if output.message_id is None and message.message_ids:
                await store.broadcasts.progress_posted(output.broadcast_id, message.message_ids[0])
            return []
        desk = self._desk(store, now)
        if isinstance(output, OpenTopic):
            return await desk.topic_opened(output, message.thread_id, message.message_ids)
        if isinstance(output, Copy):
            await desk.relayed(output, message.message_ids)
        return []

    async def _undelivered(self, store: UnitOfWork, message: DeliveryFailed, now: datetime) -> list[Out]:
        """A user who blocked the bot is not written to again; a copy whose topic is gone gets a new one."""
        output = message.output
        if output.outbox_id is not None and not await store.outbox.mark_sent_once(output.outbox_id, now):
            return []  # acted on before
        desk = self._desk(store, now)
        if message.reason == "blocked":
            if isinstance(output, Copy):
                return await desk.merchant_unreachable(output.ticket_id)
            logger.info("chat %s blocked the bot; marked unreachable", output.chat_id)
            await store.users.set_unreachable(output.chat_id)
            return []
        if message.reason in ("topic_gone", "no_topic") and isinstance(output, Copy):
            return await desk.topic_lost(output, gone=message.reason == "topic_gone")
        if message.reason == "no_rights" and isinstance(output, OpenTopic):
            return await desk.topic_refused(output, message.error)
        return []
