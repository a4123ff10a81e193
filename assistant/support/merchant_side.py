"""The merchant's side of a ticket: their messages relayed to its topic, the ticket's own commands and
buttons, rating and reopening, the offer to reopen, their list of tickets."""

from __future__ import annotations

import logging
from datetime import timedelta

from assistant.messages import ButtonPress, Command, FileSent, Inbound, Text
from assistant.outputs import Copy, Out, Reply
from assistant.store.models import Ticket, User
from assistant.support.base import LIST_LIMIT, text_of, ticket_choice
from assistant.support.lifecycle import Lifecycle

logger = logging.getLogger(__name__)


class MerchantSide(Lifecycle):
    """A merchant's messages about tickets."""

    # -- while a ticket is active: the rows of audience `ticket`
    def still_active(self, ticket: Ticket) -> list[Out]:
        """Anything but a message to relay: the merchant is reminded a person has their ticket."""
        return [self._to_merchant("ticket_active", ticket)]

    def ask_withdraw(self, ticket: Ticket) -> list[Out]:
        """/cancel during a ticket: asked first, since it cannot be undone."""
        return [self._to_merchant("ticket_withdraw_ask", ticket,
                                  buttons=[[f"withdraw.{ticket.id}", f"keep.{ticket.id}"]])]

    async def answer_withdraw(self, message: ButtonPress, user: User, ticket: Ticket) -> list[Out]:
        """The answer to `ask_withdraw`: withdrawn, or kept; a button of another ticket changes nothing."""
        parsed = ticket_choice(message.choice)
        if parsed is None or parsed[1] != ticket.id:
            return self.still_active(ticket)
        if parsed[0] == "withdraw":
            return await self.withdraw(ticket, user)
        return [self._to_merchant("ticket_kept", ticket)]

    def help_during_ticket(self, message: Command, user: User, ticket: Ticket) -> list[Out]:
        """/help works during a ticket too."""
        return [self._reply("help", user.language, message.chat_id), *self.still_active(ticket)]

    def switch_language(self, message: Command, user: User, ticket: Ticket) -> list[Out]:
        user.language = ticket.language = "en" if user.language == "zh" else "zh"
        return [self._reply("language_switched", user.language, message.chat_id), *self.still_active(ticket)]

    async def relay_to_staff(self, message: Inbound, user: User, ticket: Ticket) -> list[Out]:
        """A merchant's message while a person has (or will have) their ticket: relayed, not answered."""
        if not message.message_ids:
            return self.still_active(ticket)
        if isinstance(message, (Text, FileSent)) and message.edited:
            return await self._carry_edit(ticket, message)
        if self.config.chat_id is None:
            await self.store.tickets.add_event(ticket_id=ticket.id, event="message", state=ticket.state,
                                              actor_id=user.id, detail={"text": text_of(message),
                                                                        "message_ids": list(message.message_ids)},
                                              now=self.now)
            return []
        reply_to = (await self.store.tickets.counterpart(ticket.id, message.chat_id, message.reply_to)
                    if message.reply_to else None)
        return [Copy(ticket.id, message.chat_id, message.message_ids, self.config.chat_id, ticket.topic_id, reply_to)]

    # -- no ticket active
    async def merchant_choice(self, message: ButtonPress, user: User) -> list[Out] | None:
        """Rating and reopen buttons; None when the choice is not about a ticket."""
        parsed = ticket_choice(message.choice)
        if parsed is None:
            return None
        action, ticket_id, value = parsed
        ticket = await self.store.tickets.get(ticket_id)
        if ticket is None or ticket.user_id != user.id:  # never another merchant's ticket
            return [self._reply("ticket_not_yours", user.language, message.chat_id)]
        if action == "rate" and value is not None:
            return await self.rate(ticket, user, value)
        if action == "reopen":
            outputs = await self.reopen(ticket, user)
            if ticket.state == "open":
                outputs += await self._relay_offered_messages(ticket)
            return outputs
        return [self._reply("ticket_not_yours", user.language, message.chat_id)]

    async def reopen_offer(self, message: Inbound, user: User) -> list[Out] | None:
        """The first message within 24 h of a close gets an offer to reopen, not a silent reopening."""
        if isinstance(message, (Command, ButtonPress)):
            return None
        ticket = await self.store.tickets.last_closed(message.chat_id)
        if ticket is None or ticket.closed_at is None or self.now - ticket.closed_at > timedelta(hours=24):
            return None
        if ticket.close_reason == "withdrawn":
            return None
        events = await self.store.tickets.events(ticket.id)
        if any(e.event == "reopen_offered" and e.at >= ticket.closed_at for e in events):
            return None
        await self.store.tickets.add_event(ticket_id=ticket.id, event="reopen_offered", state=ticket.state,
                                          actor_id=user.id, detail={"message_ids": list(message.message_ids)},
                                          now=self.now)
        return [self._to_merchant("reopen_offer", ticket, buttons=[[f"reopen.{ticket.id}"], ["menu"]])]

    async def _relay_offered_messages(self, ticket: Ticket) -> list[Out]:
        """The message that prompted the reopen offer goes to the topic too: nothing is lost."""
        offered = [e for e in await self.store.tickets.events(ticket.id) if e.event == "reopen_offered"]
        ids = tuple(offered[-1].detail.get("message_ids", [])) if offered else ()
        if not ids or self.config.chat_id is None:
            return []
        return [Copy(ticket.id, ticket.chat_id, ids, self.config.chat_id, ticket.topic_id)]

    async def ticket_list(self, user: User, chat_id: int) -> Reply:
        tickets = [self._view(t) for t in await self.store.tickets.all(user.id)]
        shown = tickets[-LIST_LIMIT:]  # the latest; a phone screen, and Telegram's limit
        return self._reply("tickets_list", user.language, chat_id, tickets=shown, more=len(tickets) - len(shown))
