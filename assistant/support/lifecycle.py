"""The ticket's lifecycle at the desk: opening (or taking up a withdrawn ticket again), claiming, closing,
reopening, withdrawing, rating, each through the ticket machine (`flows/ticket.py`)."""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from typing import Any

from assistant.outputs import OpenTopic, Out, TopicState
from assistant.store.models import Ticket, User
from assistant.store.contracts import UnitOfWork
from assistant.support.base import STAFF_ROLES, DeskBase
from flows.ticket import TICKET, TicketLifecycle

logger = logging.getLogger(__name__)


class TicketPortsImpl:
    """Writes the lifecycle's history."""

    def __init__(self, store: UnitOfWork, ticket: Ticket, now: datetime) -> None:
        self.store, self.ticket, self.now = store, ticket, now

    async def record(self, event: str, state: str, actor_id: int | None, detail: dict[str, Any]) -> None:
        await self.store.tickets.add_event(ticket_id=self.ticket.id, event=event, state=state, actor_id=actor_id,
                                          detail=detail, now=self.now)


class Lifecycle(DeskBase):
    """Opening and moving tickets."""

    # -- opening -------------------------------------------------------------------------------------
    async def open(self, *, user: User, chat_id: int, reason: str, fields: dict[str, Any],
                   checks: list[dict[str, Any]]) -> tuple[dict[str, Any], list[Out]]:
        """A ticket for the merchant; what they are told, and what goes to the support group.

        A ticket the merchant withdrew within the reopening window is taken up again, in its own topic
        (asking and withdrawing by turns opens no new topics); beyond `tickets_per_day` requests a day
        (new tickets and ones taken up again: each costs the support group's shared rate limit) the
        merchant is told when they can ask again, and nothing is opened.
        """
        midnight = datetime.combine(self.now.astimezone(self.config.tz).date(), time.min, tzinfo=self.config.tz)
        withdrawn = await self.store.tickets.last_closed(chat_id)
        if withdrawn is not None and (withdrawn.close_reason != "withdrawn" or withdrawn.user_id != user.id):
            withdrawn = None
        taken_up = 0 if withdrawn is None else sum(
            1 for e in await self.store.tickets.events(withdrawn.id)
            if e.event == "reopen" and e.detail.get("again") and e.at >= midnight)
        if await self.store.tickets.opened_since(user.id, midnight) + taken_up >= self.config.tickets_per_day:
            logger.warning("user %s asked for a person %s times today; no ticket", user.id, self.config.tickets_per_day)
            return {"capped": True, "limit": self.config.tickets_per_day,
                    "until": (midnight + timedelta(days=1)).isoformat()}, []
        if withdrawn is not None and await self._fire(withdrawn, "reopen", user.id, user.role, again=reason):
            return await self._taken_up_again(withdrawn, user, reason, fields, checks)
        ticket = await self.store.tickets.add(user_id=user.id, chat_id=chat_id, reason=reason, language=user.language,
                                             fields=fields, checks=checks, now=self.now)
        ticket.merchant_name = user.name
        ticket.escalate_at = self.now + self.config.claim_timeout
        await self.store.tickets.add_event(ticket_id=ticket.id, event="open", state="open", actor_id=user.id,
                                          detail={"reason": reason}, now=self.now)
        outputs: list[Out] = []
        if self.config.chat_id is not None:
            outputs.append(OpenTopic(ticket.id, self.config.chat_id, self.topic_name(ticket), await self.card(ticket)))
        logger.info("ticket %s opened for chat %s (%s)", ticket.id, chat_id, reason)
        return await self._opened_info(ticket), outputs

    async def _opened_info(self, ticket: Ticket) -> dict[str, Any]:
        return {"id": ticket.id, "queue": await self.store.tickets.queue_position(ticket),
                "support": self.config.chat_id is not None, **self.hours()}

    async def _taken_up_again(self, ticket: Ticket, user: User, reason: str, fields: dict[str, Any],
                              checks: list[dict[str, Any]]) -> tuple[dict[str, Any], list[Out]]:
        """A withdrawn ticket reopened with what the merchant asks now: its topic reopened, not a new one."""
        ticket.reason, ticket.fields, ticket.checks, ticket.merchant_name = reason, fields, checks, user.name
        outputs: list[Out] = []
        if self.config.chat_id is not None:
            if ticket.topic_id is None:
                outputs.append(OpenTopic(ticket.id, self.config.chat_id, self.topic_name(ticket),
                                         await self.card(ticket)))
            else:
                outputs.append(TopicState(self.config.chat_id, ticket.topic_id, self.topic_name(ticket), closed=False))
                outputs += await self._card_update(ticket)
                outputs.append(self._staff("ticket_reopened_staff", ticket, by_merchant=True))
        logger.info("ticket %s taken up again for chat %s (%s)", ticket.id, ticket.chat_id, reason)
        return await self._opened_info(ticket), outputs

    # -- lifecycle ----------------------------------------------------------------------------------
    async def _fire(self, ticket: Ticket, trigger: str, actor_id: int | None, role: str, **detail: Any) -> bool:
        rated = ticket.rating is not None
        model = TicketLifecycle(ticket.state, owner_id=ticket.user_id, actor_id=actor_id, actor_role=role,
                                closed_at=ticket.closed_at, rated=rated, now=self.now,
                                ports=TicketPortsImpl(self.store, ticket, self.now), assignee_id=ticket.assignee_id,
                                ticket=ticket, claim_timeout=self.config.claim_timeout)
        if not self.flows.can(TICKET.name, ticket.state, trigger):
            return False
        await self.flows.drive(TICKET.name, model, lambda m: m.trigger(trigger, **detail))  # type: ignore[attr-defined]
        return model.done

    def _tell_conversation(self, ticket: Ticket, trigger: str) -> None:
        """The merchant's conversation is to fire `trigger` (`ticket_closed`, `ticket_taken_back`): asked of the
        flow runner after the desk is done (`assistant/merchant/chat.py: follow_tickets`), which alone moves it."""
        self.conversation_triggers.append((ticket, trigger))

    async def claim(self, ticket: Ticket, actor: User) -> list[Out]:
        previous = ticket.assignee_id
        if not await self._fire(ticket, "claim", actor.id, actor.role, previous=previous):
            key = "ticket_already_yours" if ticket.assignee_id == actor.id else "ticket_cannot"
            return [self._staff(key, ticket, action="claim")]
        alias = actor.alias
        outputs: list[Out] = [self._staff("ticket_claimed_staff", ticket, staff_name=actor.name or str(actor.id))]
        outputs += await self._card_update(ticket)
        outputs.append(self._to_merchant("ticket_claimed", ticket, alias=alias))
        return outputs

    async def close(self, ticket: Ticket, actor: User, reason: str, *, by_topic: bool = False) -> list[Out]:
        role = "staff" if by_topic else actor.role
        if not await self._fire(ticket, "close", actor.id, role, reason=reason, by_topic=by_topic):
            return [self._staff("ticket_cannot", ticket, action="close")]
        outputs: list[Out] = await self._card_update(ticket)
        if ticket.topic_id is not None and not by_topic and self.config.chat_id is not None:
            outputs.append(TopicState(self.config.chat_id, ticket.topic_id, self.topic_name(ticket), closed=True))
        rating = [[f"rate.{ticket.id}.{n}" for n in range(1, 6)]]
        outputs.append(self._to_merchant("ticket_closed", ticket, buttons=rating))
        self._tell_conversation(ticket, "ticket_closed")
        return outputs

    async def reopen(self, ticket: Ticket, actor: User, *, by_topic: bool = False) -> list[Out]:
        role = "staff" if by_topic else actor.role
        if not await self._fire(ticket, "reopen", actor.id, role, by_topic=by_topic):
            return [self._staff("ticket_cannot", ticket, action="reopen")] if actor.role in STAFF_ROLES else [
                self._to_merchant("ticket_reopen_refused", ticket)]
        outputs: list[Out] = []
        if ticket.topic_id is not None and self.config.chat_id is not None and not by_topic:
            outputs.append(TopicState(self.config.chat_id, ticket.topic_id, self.topic_name(ticket), closed=False))
        outputs += await self._card_update(ticket)
        by_merchant = actor.id == ticket.user_id
        if self.config.chat_id is not None:
            outputs.append(self._staff("ticket_reopened_staff", ticket, by_merchant=by_merchant))
        outputs.append(self._to_merchant("ticket_reopened", ticket, by_merchant=by_merchant,
                                         queue=await self.store.tickets.queue_position(ticket), **self.hours()))
        self._tell_conversation(ticket, "ticket_taken_back")
        return outputs

    async def withdraw(self, ticket: Ticket, merchant: User) -> list[Out]:
        if not await self._fire(ticket, "withdraw", merchant.id, merchant.role):
            return [self._to_merchant("ticket_active", ticket)]
        outputs: list[Out] = await self._card_update(ticket)
        if ticket.topic_id is not None and self.config.chat_id is not None:
            outputs.append(self._staff("ticket_withdrawn_staff", ticket))
            outputs.append(TopicState(self.config.chat_id, ticket.topic_id, self.topic_name(ticket), closed=True))
        outputs.append(self._to_merchant("ticket_withdrawn", ticket))
        self._tell_conversation(ticket, "ticket_closed")
        return outputs

    async def rate(self, ticket: Ticket, merchant: User, stars: int) -> list[Out]:
        if not 1 <= stars <= 5 or not await self._fire(ticket, "rate", merchant.id, merchant.role, stars=stars):
            return [self._to_merchant("rating_refused", ticket)]
        outputs: list[Out] = [self._to_merchant("rating_thanks", ticket, stars=stars)]
        if ticket.topic_id is not None and self.config.chat_id is not None:
            outputs.append(self._staff("ticket_rated_staff", ticket, stars=stars))
        return outputs
