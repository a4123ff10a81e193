"""The transport-independent core: typed messages in, outputs out.

The routing table (`assistant/routing.py`) finds each message's handler by who sent it and what it is,
and every handler runs in one envelope:
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
from datetime import datetime, timedelta, timezone

from assistant.domain.documents import MAX_BYTES, ReadError
from assistant.domain.intents import Understood
from assistant.flow_runner import FlowRunner
from assistant.import_preview import looks_like_table
from assistant.messages import (
    DeadLettered,
    DeliveryResult,
    DeliveryFailed,
    DocumentRead,
    FileSent,
    FollowUpDue,
    Inbound,
    Message,
    OutputDelivered,
    TicketsDue,
)
from assistant.outputs import Copy, Failed, OpenTopic, Out, Progress, Reply, Unavailable
from assistant.replies import Renderer, normalise_language
from assistant.routing import route
from assistant.runtime.bookkeeping import Bookkeeping
from assistant.runtime.file_reader import FileRead, IsolatedReader
from assistant.runtime.inbox import Batch
from assistant.store.engine import transient
from assistant.store.contracts import Units
from assistant.turn import CoreConfig, Retention, Services, Turn, Understand

__all__ = ["ALERT_QUIET", "Assistant", "CoreConfig", "RECORDED", "Retention", "UPDATE_MEMORY", "Understand", "utcnow"]

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


UPDATE_MEMORY = timedelta(days=7)  # Telegram keeps undelivered updates for 24 hours
ALERT_QUIET = timedelta(minutes=15)
"""Admins are told of new dead letters (and of outputs given up) at most this often, with the count since."""
RECORDED = (OpenTopic, Copy, Progress)
"""Outputs whose delivery the core records (the topic and message ids Telegram assigned)."""


def _chat_of(message: Message) -> int | None:
    """The chat whose lock the message's transaction takes; None for delivery results."""
    if isinstance(message, (Inbound, FollowUpDue)):
        return message.chat_id
    if isinstance(message, DeadLettered):
        return message.batch.chat_id
    return None


class Assistant:
    """Takes in messages, each in one transaction, through the routing table."""

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
        self.services = Services(renderer, flows, config, self.understand)

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
            return await self._envelope(message)
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
        return await self._envelope(DeadLettered(batch, reason))

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
        for chore in (self._alerts, self._prune):  # a failure here must not keep tickets and notices waiting
            try:
                outputs += await chore(now)
            except Exception as error:  # noqa: BLE001 - logged; tried again next tick
                if not transient(error):
                    logger.exception("%s failed; tried again next time", chore.__name__)
        outputs += await self.handle(TicketsDue())
        for follow_up_id, chat_id in due:
            try:
                outputs += await self.handle(FollowUpDue(follow_up_id, chat_id))
            except (Unavailable, Failed):
                logger.warning("follow-up %s could not be delivered; it stays due", follow_up_id)
        return outputs

    async def _alerts(self, now: datetime) -> list[Out]:
        """Admins told of new dead letters and outputs given up: at most once per `ALERT_QUIET` each kind, with
        how many since they were last told (one process tells; the others find the watermark moved)."""
        outputs: list[Out] = []
        async with self.units() as store:
            for kind, counted in (("dead_letters", store.inbox.dead_since), ("given_up", store.outbox.given_up_since)):
                since, told = await store.alerts.mark(kind, now)
                if told is not None and now - told < ALERT_QUIET:
                    continue
                count = await counted(since)
                if not count or not await store.alerts.advance(kind, since, now):
                    continue
                logger.warning("admins told: %s %s since %s", count, kind, since.isoformat())
                admins = await store.users.admins()
                outputs += [Reply(self.renderer.text("admin_alert", admin.language, kind=kind, count=count,
                                                     since=since), chat_id=admin.id) for admin in admins]
            if outputs:
                outputs = await store.outbox.enqueue(outputs, now, self.config.outbox_lease, self.owner)
        return outputs

    async def _prune(self, now: datetime) -> list[Out]:
        """Personal data past its retention erased, a batch of each kind at a time (claimed once per
        `Retention.every` by one process, in a transaction of its own; each batch in another)."""
        keep = self.config.retention
        async with self.units() as store:
            since, done = await store.alerts.mark("retention", now)
            if done is not None and now - done < keep.every or not await store.alerts.advance("retention", since, now):
                return []
        for _ in range(100):  # at most 100 batches a run; what is left waits for the next
            async with self.units() as store:
                changed = await store.privacy.prune(lookups_before=now - keep.lookups,
                                                    tickets_before=now - keep.tickets, audit_before=now - keep.audit,
                                                    inactive_before=now - keep.inactive_users)
            if not changed:
                break
            logger.info("personal data past its retention erased: %s", changed)
        return []

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
    async def _envelope(self, message: Message) -> list[Out]:
        """One transaction: the chat locked, the update journaled, the routed handler's outputs in the outbox."""
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
            outputs = await route(Turn(self.services, store, now), message)
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
        table = user is not None and user.role == "admin" and looks_like_table(attachment.kind, attachment.file_name,
                                                                               attachment.mime_type)
        read = await self._read_file(message, language, table=table)
        if table:  # an admin's invoice table: previewed for an import, whatever reading it gave
            read = dataclasses.replace(read, source="table")
        fields = {f.name: getattr(message, f.name) for f in dataclasses.fields(message)}
        return DocumentRead(**fields, read=read)

    async def _read_file(self, message: FileSent, language: str, table: bool = False) -> FileRead:
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
        if table:
            return await self.reader.read(data, file_name=attachment.file_name, mime_type=attachment.mime_type,
                                          kind="table", today=today, chat_id=message.chat_id, waiting=waiting,
                                          now=self.clock(), tz=str(self.config.rules.tz))
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
