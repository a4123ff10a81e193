"""Topics of the support group: what Telegram assigned (a topic, a card, copies), topics lost or refused and
tried again, tickets nobody claimed in time."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from assistant.outputs import Copy, OpenTopic, Out
from assistant.store.models import Ticket
from assistant.support.base import TOPIC_EVENTS, TOPIC_RETRY, DeskBase, _held
from flows.ticket import ACTIVE

logger = logging.getLogger(__name__)


class Topics(DeskBase):
    """What the transport did with the support group's outputs, and what falls due there."""

    # -- what the transport did -------------------------------------------------------------------------
    async def topic_opened(self, topic: OpenTopic, thread_id: int | None, message_ids: Sequence[int]) -> list[Out]:
        """A ticket's topic was created: its id, the card's, and the copies made into it.

        Whatever Telegram did not take after creating the topic (the card, copies) is sent into the
        topic now, instead of opening yet another topic.
        """
        ticket = await self.store.tickets.get(topic.ticket_id)
        if ticket is None or thread_id is None:
            return []
        was_refused = await self._waiting_for_rights(ticket)
        events = await self.store.tickets.events(ticket.id)
        since = max((i for i, e in enumerate(events) if e.event in ("topic", "topic_lost")), default=-1)
        held = [Copy(ticket.id, copy[0], tuple(copy[1]), topic.chat_id, thread_id, copy[2])
                for e in events[since + 1:] if e.event == "copy_held" for copy in e.detail.get("copies", [])]
        ticket.topic_id = thread_id
        await self.store.tickets.add_event(ticket_id=ticket.id, event="topic", state=ticket.state, actor_id=None,
                                          detail={"topic_id": thread_id}, now=self.now)
        ids = list(message_ids)
        owed: list[Out] = []
        if ids:
            ticket.card_message_id = ids.pop(0)
        else:
            logger.warning("ticket %s: the card was not posted in topic %s; posting it again", ticket.id, thread_id)
            owed.append(dataclasses.replace(topic.card, thread_id=thread_id, outbox_id=None))
        for copy in topic.then:
            copied, ids = ids[:len(copy.message_ids)], ids[len(copy.message_ids):]
            placed = dataclasses.replace(copy, thread_id=thread_id, outbox_id=None)
            if len(copied) == len(copy.message_ids):
                await self.relayed(placed, copied)
            else:
                owed.append(placed)
        owed += held  # messages that came while the topic waited for its turn
        if was_refused:  # the rights are back: every ticket still waiting gets its topic now
            owed += await self._topics_to_retry(all_waiting=True)
        return owed

    async def relayed(self, copy: Copy, message_ids: Sequence[int]) -> None:
        """Remember which copy is which message, for replies and edits across the two chats."""
        await self.store.tickets.add_relayed(ticket_id=copy.ticket_id, source_chat_id=copy.from_chat_id,
                                     pairs=list(zip(copy.message_ids, message_ids)), copy_chat_id=copy.to_chat_id,
                                     now=self.now)

    async def topic_lost(self, copy: Copy, *, gone: bool) -> list[Out]:
        """A copy for the support group found no topic: into the ticket's topic if one is known by now,
        else (the topic was deleted, or never made) a new topic with the card, the copy made into it."""
        ticket = await self.store.tickets.get(copy.ticket_id)
        if ticket is None or self.config.chat_id is None:
            return []
        if not gone and ticket.topic_id is not None:
            return [dataclasses.replace(copy, thread_id=ticket.topic_id, outbox_id=None)]
        if not gone and await self._waiting_for_rights(ticket):  # held for the topic the ticket will get
            await self.store.tickets.add_event(ticket_id=ticket.id, event="copy_waiting", state=ticket.state,
                                              actor_id=None, detail={"copies": [_held(copy)]}, now=self.now)
            return []
        if not gone and await self.store.outbox.topic_owed(ticket.id, self.config.chat_id):
            # its topic waits for the support group's turn (sent by another process, say): held for it, not a
            # second topic
            await self.store.tickets.add_event(ticket_id=ticket.id, event="copy_held", state=ticket.state,
                                              actor_id=None, detail={"copies": [_held(copy)]}, now=self.now)
            return []
        lost = ticket.topic_id
        ticket.topic_id, ticket.card_message_id = None, None
        await self.store.tickets.add_event(ticket_id=ticket.id, event="topic_lost", state=ticket.state, actor_id=None,
                                          detail={"topic_id": lost}, now=self.now)
        logger.warning("topic %s of ticket %s is gone; opening a new one", lost, ticket.id)
        return [OpenTopic(ticket.id, self.config.chat_id, self.topic_name(ticket), await self.card(ticket),
                          then=(dataclasses.replace(copy, thread_id=None, outbox_id=None),))]

    async def topic_refused(self, topic: OpenTopic, error: str) -> list[Out]:
        """The bot may not create topics: the ticket stays queued, its merchant is told once, the admins
        when the first ticket is refused; what was bound for the topic is held, and tried again later."""
        ticket = await self.store.tickets.get(topic.ticket_id)
        if ticket is None or ticket.state not in ACTIVE or ticket.topic_id is not None:
            return []
        told = any(e.event == "topic_refused" for e in await self.store.tickets.events(ticket.id))
        others = [t for t in await self.store.tickets.without_topic() if t.id != ticket.id]
        first = not any([await self._waiting_for_rights(t) for t in others])
        await self.store.tickets.add_event(ticket_id=ticket.id, event="topic_refused", state=ticket.state,
                                          actor_id=None, detail={"error": error[:300],
                                                                 "copies": [_held(c) for c in topic.then]},
                                          now=self.now)
        logger.error("ticket %s: the support group refused a topic (%s); it waits", ticket.id, error)
        outputs: list[Out] = [] if told else [self._to_merchant("ticket_waiting_rights", ticket)]
        if first and not told:
            outputs += [self._reply("support_rights_admin", admin.language, admin.id)
                        for admin in await self.store.users.admins()]
        return outputs

    async def _waiting_for_rights(self, ticket: Ticket) -> bool:
        """Whether the ticket's topic was refused (and is being tried again) rather than never asked for."""
        related = [e for e in await self.store.tickets.events(ticket.id) if e.event in TOPIC_EVENTS]
        return bool(related) and related[-1].event in ("topic_refused", "topic_retry", "copy_waiting")

    async def _retry_topic(self, ticket: Ticket) -> OpenTopic:
        """The topic asked for again, with every message held for it since it was refused."""
        assert self.config.chat_id is not None
        events = await self.store.tickets.events(ticket.id)
        since = max((i for i, e in enumerate(events) if e.event in ("topic", "topic_lost")), default=-1)
        copies = tuple(Copy(ticket.id, held[0], tuple(held[1]), self.config.chat_id, None, held[2])
                       for e in events[since + 1:] if e.event in ("topic_refused", "copy_waiting")
                       for held in e.detail.get("copies", []))
        await self.store.tickets.add_event(ticket_id=ticket.id, event="topic_retry", state=ticket.state,
                                          actor_id=None, detail={"copies": len(copies)}, now=self.now)
        return OpenTopic(ticket.id, self.config.chat_id, self.topic_name(ticket), await self.card(ticket),
                         then=copies)

    async def _topics_to_retry(self, *, all_waiting: bool) -> list[Out]:
        """Tickets whose topic was refused: the oldest tried again a minute after; all once one got through."""
        outputs: list[Out] = []
        for ticket in await self.store.tickets.without_topic():
            related = [e for e in await self.store.tickets.events(ticket.id) if e.event in TOPIC_EVENTS]
            if not related or related[-1].event not in ("topic_refused", "copy_waiting"):
                continue  # never refused, or being tried right now
            refused_at = max(e.at for e in related if e.event == "topic_refused")
            if all_waiting or refused_at <= self.now - TOPIC_RETRY:
                outputs.append(await self._retry_topic(ticket))
                if not all_waiting:
                    break  # one probe at a time while the rights are missing
        return outputs

    async def merchant_unreachable(self, ticket_id: int) -> list[Out]:
        ticket = await self.store.tickets.get(ticket_id)
        if ticket is None:
            return []
        await self.store.users.set_unreachable(ticket.user_id)
        if self.config.chat_id is None:
            return []
        return [self._staff("merchant_unreachable", ticket)]

    async def due(self) -> list[Out]:
        """Tickets nobody claimed in time, announced again in the general topic."""
        if self.config.chat_id is None:
            return []
        outputs: list[Out] = []
        for ticket in await self.store.tickets.due_escalations(self.now):
            ticket.escalations += 1
            more = ticket.escalations < self.config.max_escalations
            ticket.escalate_at = self.now + self.config.claim_timeout if more else None
            waited = int((self.now - ticket.created_at).total_seconds() // 60)
            await self.store.tickets.add_event(ticket_id=ticket.id, event="escalated", state=ticket.state,
                                              actor_id=None, detail={"waited_minutes": waited}, now=self.now)
            outputs.append(self._staff("ticket_waiting", None, thread_id=None, waited=waited,
                                       waiting_ticket=self._view(ticket), topic_id=ticket.topic_id))
        return outputs + await self._topics_to_retry(all_waiting=False)
