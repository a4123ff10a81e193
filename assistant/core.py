"""The transport-independent core: `await assistant.handle(event) -> list[Out]`.

Every output is stored in the outbox in the transaction that produced it; the transport reports each
one `sent`, and `due()` hands out again those whose sender died before it could.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from transitions.extensions.asyncio import AsyncMachine

from assistant.admin import ADMIN_COMMANDS, AdminDesk
from assistant.diagnosis import DiagnosisRules
from assistant.domain.documents import MAX_BYTES, ReadError
from assistant.domain.extract import names_an_invoice
from assistant.domain.knowledge import match_question
from assistant.events import Event, Failed, Out, Reply, Unavailable
from assistant.file_reader import FileRead, IsolatedReader
from assistant.group_commit import GroupCommit
from assistant.store.inbox import Batch, InboxStore
from assistant.ports import StorePorts
from assistant.replies import Renderer, normalise_language
from assistant.store.engine import transient
from assistant.store.models import Conversation, User
from assistant.store.repo import Store
from assistant.support import SupportConfig, SupportDesk
from flows.base import Say, attached
from flows.troubleshoot import CHOICES, TROUBLESHOOT, Troubleshoot

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# command -> flow trigger
COMMANDS = {"start": "menu", "cancel": "menu", "menu": "menu", "help": "help", "lang": "lang",
            "status": "status", "find": "find", "human": "human"}
T = TypeVar("T")
UPDATE_MEMORY = timedelta(days=7)  # Telegram keeps undelivered updates for 24 hours


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


class Assistant:
    """Handles one event in one database transaction, with the flow's model attached for that event."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], renderer: Renderer, machine: AsyncMachine,
                 ticket_machine: AsyncMachine, admin_machines: dict[str, AsyncMachine], config: CoreConfig,
                 clock: Clock = utcnow, reader: IsolatedReader | None = None) -> None:
        self.sessions = sessions
        self.renderer = renderer
        self.machine = machine
        self.ticket_machine = ticket_machine
        self.admin_machines = admin_machines
        self.config = config
        self.clock = clock
        self.reader = reader or IsolatedReader()
        self._sent_marks: GroupCommit[tuple[str, int]] = GroupCommit(self._mark_sent)

    async def handle(self, event: Event) -> list[Out]:
        """Everything the user should receive in answer to `event`, stored in the outbox.

        A photo or file is downloaded and read first, outside any transaction. Raises `Unavailable` when
        the database cannot be reached and `Failed` when handling failed otherwise: in both cases nothing
        was stored, and the event should be handled again later (the inbox dead-letters it after a few
        failures). `answer` is for transports that cannot try again.
        """
        try:
            return await self._handle(await self._prepare(event))
        except Exception as error:
            if transient(error):
                logger.warning("chat %s: database unavailable (%s); the update will be handled again",
                               event.chat_id, error)
                raise Unavailable(str(error)) from error
            logger.exception("chat %s: event failed, nothing stored", event.chat_id)
            raise Failed(f"{type(error).__name__}: {error}") from error

    async def answer(self, event: Event) -> list[Out]:
        """`handle`, with an apology instead of `Failed` (the terminal, which has no inbox)."""
        try:
            return await self.handle(event)
        except Failed:
            language = normalise_language(event.language, self.config.default_language)
            return [Reply(self.renderer.text("internal_error", language), chat_id=event.chat_id)]

    async def _prepare(self, event: Event) -> Event:
        """Download and read an invoice photo or file the conversation will read, before any transaction."""
        attachment = event.attachment
        if (attachment is None or attachment.kind not in ("photo", "document") or attachment.fetch is None
                or event.read is not None or event.chat_id == self.config.support.chat_id):
            return event
        async with self.sessions() as session:
            if await Store(session).active_ticket(event.chat_id) is not None:
                return event  # relayed to staff, never downloaded
        return dataclasses.replace(event, read=await self._read_file(event))

    async def _read_file(self, event: Event) -> FileRead:
        attachment = event.attachment
        assert attachment is not None and attachment.fetch is not None
        if attachment.size > MAX_BYTES:
            return FileRead(reason="too_large")
        try:
            async with asyncio.timeout(self.config.download_seconds):
                data = await attachment.fetch(MAX_BYTES)
        except ReadError as error:
            return FileRead(reason=error.reason)
        except Exception as error:  # noqa: BLE001 - a download that failed or took too long
            logger.warning("chat %s: could not get the %s: %s", event.chat_id, attachment.kind, error)
            return FileRead(reason="failed")
        today = self.clock().astimezone(self.config.rules.tz).date()
        return await self.reader.read(data, file_name=attachment.file_name, mime_type=attachment.mime_type,
                                      kind=attachment.kind, today=today)

    async def dead_letter(self, batch: Batch, reason: str) -> list[Out]:
        """Give up on updates that failed again and again: marked dead, and the merchant told once."""
        now = self.clock()
        async with self.sessions() as session, session.begin():
            await InboxStore(session).finish(batch.ids, now, state="dead", error=reason)
            if batch.chat_id <= 0 or batch.chat_id == self.config.support.chat_id:
                return []  # groups: staff see it in /stats and `bot.py inbox list`
            store = Store(session)
            await store.lock_chat(batch.chat_id)
            user = await store.user(batch.user_id) if batch.user_id is not None else None
            language = user.language if user is not None else self.config.default_language
            file = batch.kind in ("photo", "document")
            notice = Reply(self.renderer.text("inbox_dead", language, file=file), chat_id=batch.chat_id)
            return await store.enqueue([notice], now, self.config.outbox_lease)

    async def sent(self, *outbox_ids: int, updates: Sequence[int] = ()) -> None:
        """The transport carried out these outputs (never sent again), answering these updates."""
        marks = [*(("outbox", outbox_id) for outbox_id in outbox_ids),
                 *(("update", update_id) for update_id in updates)]
        if marks:
            await self._sent_marks.add(marks)  # with the marks of other chats that arrived meanwhile

    async def _mark_sent(self, marks: list[tuple[str, int]]) -> None:
        outbox_ids = [number for kind, number in marks if kind == "outbox"]
        updates = [number for kind, number in marks if kind == "update"]
        async with self.sessions() as session, session.begin():
            if outbox_ids:
                await Store(session).mark_sent(outbox_ids, self.clock())
            if updates:
                await InboxStore(session).sent(updates)

    async def mark_unreachable(self, user_id: int) -> None:
        """The user blocked the bot: remember it so that nothing is sent to them in vain."""
        async with self.sessions() as session, session.begin():
            await Store(session).set_unreachable(user_id)

    def _desk(self, store: Store, now: datetime) -> SupportDesk:
        return SupportDesk(store, self.renderer, self.config.support, self.ticket_machine, now)

    async def _handle(self, event: Event) -> list[Out]:
        now = self.clock()
        async with self.sessions() as session, session.begin():
            store = Store(session)
            await store.lock_chat(event.chat_id)
            if event.update_id is not None and not await InboxStore(session).finish(
                    [event.update_id, *event.batch], now, sending=True):
                logger.info("update %s of chat %s is not pending (handled before); not again", event.update_id,
                            event.chat_id)
                return []
            outputs = await self._answer(store, event, now)
            return await store.enqueue(outputs, now, self.config.outbox_lease)

    async def _answer(self, store: Store, event: Event, now: datetime) -> list[Out]:
        """The outputs for `event`, its effects written through `store`."""
        user = await store.ensure_user(event.user_id, now=now, name=event.user_name,
                                       language=normalise_language(event.language, self.config.default_language))
        desk = self._desk(store, now)
        if self.config.support.chat_id is not None and event.chat_id == self.config.support.chat_id:
            outputs = await desk.staff_event(event, user)
            logger.info("support chat, topic %s: %s output(s)", event.thread_id, len(outputs))
            return outputs
        conversation, is_new = await store.conversation(event.chat_id, event.user_id,
                                                        initial=TROUBLESHOOT.initial, now=now)
        admin = AdminDesk(store, self.renderer, self.admin_machines, self.config.rules.tz, now,
                          self.config.announce_days)
        if event.command in ADMIN_COMMANDS:
            return await admin.command(event, user, conversation)
        if conversation.flow in self.admin_machines:
            return await admin.flow_event(event, user, conversation)
        support_outputs = await self._merchant_support(desk, store, event, user)
        if support_outputs is not None:
            logger.info("chat %s: ticket relay/action, %s output(s)", event.chat_id, len(support_outputs))
            return support_outputs
        return await self._run_flow(
            store, desk, user, conversation, now,
            lambda model: self._dispatch(model, event, is_new, conversation.version))

    async def _run_flow(self, store: Store, desk: SupportDesk, user: User, conversation: Conversation,
                        now: datetime, act: Callable[[Troubleshoot], Awaitable[None]],
                        preface: list[Out] | None = None) -> list[Out]:
        """Attach the conversation's model to the machine, let `act` drive it, store and render the result."""
        state, data = conversation.state, conversation.data
        if state not in TROUBLESHOOT.state_names:
            logger.warning("chat %s: unknown stored state %r, back to the menu", conversation.chat_id, state)
            state, data = TROUBLESHOOT.initial, {}
        ports = StorePorts(store, user, conversation, now, self.config.rules, self.config.max_years,
                           self.config.max_failures, desk)
        model = Troubleshoot(state, copy.deepcopy(data), ports, user.language)
        before = state
        async with attached(self.machine, model):
            await act(model)
        store.save_conversation(conversation, state=model.state, data=model.data, now=now)
        replies: list[Out] = [self._render(say, model.language, conversation.version, conversation.chat_id)
                              for say in model.said]
        logger.info("chat %s: %s -> %s (%s)", conversation.chat_id, before, model.state,
                    ",".join(say.key for say in model.said))
        return [*(preface or []), *replies, *ports.outputs]

    async def _merchant_support(self, desk: SupportDesk, store: Store, event: Event, user: User) -> list[Out] | None:
        """Ticket matters of a merchant's chat; None when the troubleshooting flow should answer."""
        ticket = await store.active_ticket(event.chat_id)
        if ticket is not None:
            return await desk.merchant_event(event, user, ticket)
        if event.choice is not None:
            handled = await desk.merchant_choice(event, user)
            if handled is not None:
                return handled
        if event.command == "tickets":
            return [await desk.ticket_list(user, event.chat_id)]
        if event.edited or event.service is not None:
            return []  # edits and service messages outside a ticket change nothing
        return await desk.reopen_offer(event, user)

    # -- reports from the transport about support outputs (each in its own transaction) -------------
    async def _in_desk(self, work: Callable[[SupportDesk], Awaitable[T]]) -> T:
        async with self.sessions() as session, session.begin():
            return await work(self._desk(Store(session), self.clock()))

    async def _owed(self, work: Callable[[SupportDesk], Awaitable[list[Out]]]) -> list[Out]:
        """Outputs of support work, stored in the outbox in the same transaction."""
        now = self.clock()
        async with self.sessions() as session, session.begin():
            store = Store(session)
            return await store.enqueue(await work(self._desk(store, now)), now, self.config.outbox_lease)

    async def topic_opened(self, ticket_id: int, thread_id: int) -> None:
        await self._in_desk(lambda desk: desk.topic_opened(ticket_id, thread_id))

    async def card_posted(self, ticket_id: int, message_id: int) -> None:
        await self._in_desk(lambda desk: desk.card_posted(ticket_id, message_id))

    async def relayed(self, ticket_id: int, from_chat_id: int, pairs: list[tuple[int, int]], to_chat_id: int) -> None:
        await self._in_desk(lambda desk: desk.relayed(ticket_id, from_chat_id, pairs, to_chat_id))

    async def topic_lost(self, ticket_id: int) -> list[Out]:
        return await self._owed(lambda desk: desk.topic_lost(ticket_id))

    async def topic_of(self, ticket_id: int) -> int | None:
        return await self._in_desk(lambda desk: desk.topic_of(ticket_id))

    async def merchant_unreachable(self, ticket_id: int) -> list[Out]:
        return await self._owed(lambda desk: desk.merchant_unreachable(ticket_id))

    async def due(self) -> list[Out]:
        """Whatever fell due: outputs a dead process owed, tickets waiting too long, promised notices.

        Safe to call from a timer in several processes, and after downtime: what fell due meanwhile is
        delivered now, each promise once (it is marked delivered in the transaction that answers it).
        """
        now = self.clock()
        async with self.sessions() as session, session.begin():
            store = Store(session)
            outputs = await store.claim_unsent(now, self.config.outbox_lease, self.config.outbox_attempts)
            due = await store.due_follow_ups(now)
            await store.forget_outbox(now - UPDATE_MEMORY)
            await InboxStore(session).forget(now - UPDATE_MEMORY)
        if outputs:
            logger.warning("%s output(s) left unsent by a stopped sender: sending them now", len(outputs))
        outputs += await self._owed(lambda desk: desk.due())
        for follow_up_id in due:
            try:
                outputs += await self._deliver(follow_up_id)
            except Exception:
                logger.exception("follow-up %s could not be delivered; it stays due", follow_up_id)
        return outputs

    async def _deliver(self, follow_up_id: int) -> list[Out]:
        """Tell the merchant, and run their lookup again where they are free to see the result."""
        now = self.clock()
        async with self.sessions() as session, session.begin():
            store = Store(session)
            follow_up = await store.follow_up(follow_up_id)
            if follow_up is not None:
                await store.lock_chat(follow_up.chat_id)
            if follow_up is None or follow_up.delivered_at is not None:
                return []
            follow_up.delivered_at = now
            user = await store.user(follow_up.user_id)
            if user is None or user.unreachable:
                return []
            fields = dict(follow_up.fields)
            key = "follow_up_maintenance_over" if follow_up.kind == "maintenance_over" else "follow_up_recheck"
            conversation, _ = await store.conversation(follow_up.chat_id, follow_up.user_id,
                                                       initial=TROUBLESHOOT.initial, now=now)
            desk = self._desk(store, now)
            free = (conversation.flow == TROUBLESHOOT.name and await store.active_ticket(follow_up.chat_id) is None
                    and "recheck" in self.machine.get_triggers(conversation.state) and bool(fields.get("number")))
            notice = Reply(self.renderer.text(key, user.language, fields=fields, rerun=free),
                           chat_id=follow_up.chat_id)
            logger.info("follow-up %s (%s) delivered to chat %s%s", follow_up.id, follow_up.kind,
                        follow_up.chat_id, ", lookup re-run" if free else "")
            if free:
                outputs = await self._run_flow(store, desk, user, conversation, now,
                                               lambda model: model.trigger("recheck", fields=fields),  # type: ignore[attr-defined]
                                               preface=[notice])
            else:
                outputs = [notice]
            return await store.enqueue(outputs, now, self.config.outbox_lease)

    async def startup_notices(self) -> list[Out]:
        """Warnings for admins at start: no support group configured."""
        if self.config.support.chat_id is not None:
            return []
        async with self.sessions() as session:
            admins = await Store(session).admins()
        logger.warning("SUPPORT_CHAT_ID is not set: tickets are stored but nobody is told in Telegram")
        return [Reply(self.renderer.text("support_missing_admin", admin.language), chat_id=admin.id)
                for admin in admins]

    async def _dispatch(self, model: Troubleshoot, event: Event, is_new: bool, version: int) -> None:
        if is_new or event.command == "start":
            model.say("greeting")
        if event.command is not None:
            trigger = COMMANDS.get(event.command.lower())
            if trigger is None:
                model.say("unknown_command", command=event.command)
                model.prompt()
                return
            await self._fire(model, trigger)
            return
        if event.choice is not None:
            if event.choice_version not in (None, 0) and event.choice_version != version:
                model.say("menu_expired")
                model.prompt()
                return
            if event.choice not in CHOICES:
                model.say("menu_expired")
                model.prompt()
                return
            await self._fire(model, event.choice)
            return
        if event.attachment is not None:
            if event.read is not None:
                await self._take_read(model, event.read, event.attachment.kind)
                return
            model.say("attachment_unsupported", kind=event.attachment.kind)
            model.prompt()
            return
        text = (event.text or "").strip()
        if not text:
            model.say("empty_message")
            model.prompt()
            return
        if len(text) > self.config.max_message_chars:
            model.say("message_too_long", length=len(text), limit=self.config.max_message_chars)
            model.prompt()
            return
        if (is_new and not names_an_invoice(text, today=model.ports.today(), max_years=self.config.max_years)
                and match_question(text) is None):
            model.prompt()  # a first "hello" gets the greeting and the menu, not "I did not understand"
            return
        await self._fire(model, "provide", text=text)

    async def _take_read(self, model: Troubleshoot, read: FileRead, kind: str) -> None:
        """What was read from a photo or file: its fields to confirm, or why there are none."""
        if read.reason:
            model.say(f"read_{read.reason}", kind=kind)
            model.prompt()
            return
        if not read.usable:
            model.say("read_not_invoice", kind=kind)
            model.prompt()
            return
        await self._fire(model, "read", fields=read.fields)

    async def _fire(self, model: Troubleshoot, trigger: str, **kwargs: object) -> None:
        """Fire `trigger` if the current state has it; otherwise say it is not available here."""
        if trigger not in self.machine.get_triggers(model.state):
            model.say("not_available")
            model.prompt()
            return
        await model.trigger(trigger, **kwargs)  # type: ignore[attr-defined]

    def _render(self, say: Say, language: str, version: int, chat_id: int) -> Reply:
        text, buttons = self.renderer.render(say, language)
        return Reply(text=text, buttons=buttons, version=version, chat_id=chat_id)

