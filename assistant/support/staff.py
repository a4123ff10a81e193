"""The staff's side: their commands, card buttons, replies relayed to merchants, topics closed or reopened
by hand."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from assistant.domain.identifiers import compact
from assistant.merchant.diagnosis import invoice_summary
from assistant.messages import ButtonPress, Command, FileSent, Inbound, Text, TopicClosed, TopicReopened
from assistant.outputs import Copy, Out, Reply
from assistant.store.models import Ticket, User
from assistant.support.base import LIST_LIMIT, STAFF_ROLES, text_of, ticket_choice
from assistant.support.lifecycle import Lifecycle
from flows.ticket import ACTIVE

logger = logging.getLogger(__name__)

StaffAction = Callable[["StaffSide", Ticket | None, User, str, int | None], Awaitable[list[Out]]]
"""What a staff command does, given its ticket (None for the commands that need none), who, its arguments
and the topic it was given in."""


class StaffSide(Lifecycle):
    """Anything in the support group."""

    async def _topic_ticket(self, message: Inbound) -> Ticket | None:
        """The ticket whose topic the message was written in."""
        return await self.store.tickets.by_topic(message.thread_id) if message.thread_id else None

    def _refused(self, message: Inbound, actor: User, ticket: Ticket | None, what: str) -> list[Out] | None:
        """Only staff act in the support group: a member who is not is told so, and nothing changes."""
        if actor.role in STAFF_ROLES:
            return None
        logger.warning("user %s (%s) tried %s in the support group", actor.id, actor.role, what)
        return [self._staff("staff_only", ticket, thread_id=message.thread_id)]

    async def staff_command(self, message: Command | ButtonPress, actor: User, action: StaffAction, *,
                            ticketed: bool = True) -> list[Out]:
        """A staff command, typed in a topic or pressed on a ticket's card: who may, which ticket, the action."""
        ticket = await self._topic_ticket(message)
        if isinstance(message, ButtonPress):
            parsed = ticket_choice(message.choice)
            if parsed is None:
                return []  # some other button pressed in the group: nothing to relay
            ticket = await self.store.tickets.get(parsed[1])
            command, args = parsed[0], ""
        else:
            command, args = message.name, message.args
        refused = self._refused(message, actor, ticket, command)
        if refused is not None:
            return refused
        if (isinstance(message, ButtonPress) and ticket is not None and ticket.card_message_id is None
                and message.message_id is not None and ticket.topic_id in (None, message.thread_id)):
            ticket.card_message_id = message.message_id  # its card, pressed before the card's id was reported
        if ticketed and ticket is None:
            return [self._staff("ticket_not_here", None, thread_id=message.thread_id, command=command)]
        return await action(self, ticket, actor, args, message.thread_id)

    async def staff_message(self, message: Inbound, actor: User) -> list[Out]:
        """A staff member's message in a ticket's topic: relayed to the merchant (`//` notes stay)."""
        ticket = await self._topic_ticket(message)
        if text_of(message).startswith("//") or not message.message_ids or ticket is None:
            return []  # internal notes stay in the topic; chatter outside ticket topics is not ours
        refused = self._refused(message, actor, ticket, "to reply")
        if refused is not None:
            return refused
        if ticket.state not in ACTIVE:
            return [self._staff("ticket_is_closed", ticket)]
        if isinstance(message, (Text, FileSent)) and message.edited:
            return await self._carry_edit(ticket, message)
        reply_to = (await self.store.tickets.counterpart(ticket.id, message.chat_id, message.reply_to)
                    if message.reply_to else None)
        return [Copy(ticket.id, message.chat_id, message.message_ids, ticket.chat_id, None, reply_to)]

    async def topic_service(self, message: TopicClosed | TopicReopened, actor: User) -> list[Out]:
        return await self._topic_service(message, actor, await self._topic_ticket(message))

    # -- the staff's actions (`StaffAction`s)
    async def do_claim(self, ticket: Ticket | None, actor: User, args: str, thread_id: int | None) -> list[Out]:
        assert ticket is not None
        return await self.claim(ticket, actor)

    async def do_close(self, ticket: Ticket | None, actor: User, args: str, thread_id: int | None) -> list[Out]:
        assert ticket is not None
        return await self.close(ticket, actor, args.strip())

    async def do_reopen(self, ticket: Ticket | None, actor: User, args: str, thread_id: int | None) -> list[Out]:
        assert ticket is not None
        return await self.reopen(ticket, actor)

    async def do_reply(self, ticket: Ticket | None, actor: User, args: str, thread_id: int | None) -> list[Out]:
        assert ticket is not None
        return await self._canned(ticket, args.strip())

    async def do_queue(self, ticket: Ticket | None, actor: User, args: str, thread_id: int | None) -> list[Out]:
        return [await self._queue(thread_id)]

    async def do_lookup(self, ticket: Ticket | None, actor: User, args: str, thread_id: int | None) -> list[Out]:
        return [await self._lookup(args, thread_id)]

    async def _topic_service(self, message: TopicClosed | TopicReopened, actor: User,
                             ticket: Ticket | None) -> list[Out]:
        """A topic closed or reopened by hand in Telegram."""
        if ticket is None:
            return []
        if isinstance(message, TopicClosed) and ticket.state in ACTIVE:
            return await self.close(ticket, actor, "", by_topic=True)
        if isinstance(message, TopicReopened) and ticket.state == "closed":
            return await self.reopen(ticket, actor, by_topic=True)
        return []

    async def _queue(self, thread_id: int | None) -> Reply:
        queue = await self.store.tickets.queue()
        waiting = [{**self._view(t), "waiting_minutes": int((self.now - t.created_at).total_seconds() // 60)}
                   for t in queue[:LIST_LIMIT]]  # the longest waiting first
        return self._staff("queue_list", None, thread_id=thread_id, waiting=waiting, more=len(queue) - len(waiting))

    async def _lookup(self, args: str, thread_id: int | None) -> Reply:
        parts = [compact(part) for part in args.split()]
        number = parts[-1] if parts else ""
        invoices = await self.store.invoices.by_number(number) if number else []
        if len(parts) > 1:
            invoices = [i for i in invoices if i.code == parts[0]]
        return self._staff("lookup_record", None, thread_id=thread_id, query=args.strip(),
                           invoices=[invoice_summary(i) for i in invoices])

    async def _canned(self, ticket: Ticket, key: str) -> list[Out]:
        keys = sorted(k.removeprefix("canned_") for k in self.renderer.keys(ticket.language) if k.startswith("canned_"))
        if key not in keys:
            return [self._staff("canned_unknown", ticket, key=key, keys=keys)]
        if ticket.state not in ACTIVE:
            return [self._staff("ticket_is_closed", ticket)]
        return [self._to_merchant(f"canned_{key}", ticket), self._staff("canned_sent", ticket, key=key)]
