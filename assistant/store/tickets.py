"""Support tickets, their history and the messages relayed for them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.domain.service import Served
from assistant.store.driver import nothing_there
from assistant.store.dialect import dialect_insert
from assistant.store.models import (
    RelayedMessage,
    Ticket,
    TicketEvent,
)

logger = logging.getLogger(__name__)


class Tickets:
    """Support tickets, their history and the messages relayed for them."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, *, user_id: int, chat_id: int, reason: str, language: str,
                  fields: dict[str, Any], checks: list[Any], now: datetime) -> Ticket:
        ticket = Ticket(user_id=user_id, chat_id=chat_id, state="open", reason=reason, language=language,
                        fields=fields, checks=checks, created_at=now)
        self.session.add(ticket)
        await self.session.flush()
        return ticket

    async def all(self, user_id: int | None = None) -> list[Ticket]:
        query = select(Ticket).order_by(Ticket.id)
        if user_id is not None:
            query = query.where(Ticket.user_id == user_id)
        return list(await self.session.scalars(query))

    async def get(self, ticket_id: int) -> Ticket | None:
        query = select(Ticket).where(Ticket.id == ticket_id).with_for_update()
        return (await self.session.scalars(query.execution_options(populate_existing=True))).first()

    async def active(self, chat_id: int) -> Ticket | None:
        """The chat's ticket that a person is (or will be) handling."""
        if await nothing_there(self.session, "SELECT 1 FROM tickets WHERE chat_id = $1"
                               " AND state IN ('open', 'claimed')", chat_id):
            return None  # most chats have none: asked without the ORM
        query = (select(Ticket).where(Ticket.chat_id == chat_id, Ticket.state.in_(("open", "claimed")))
                 .order_by(Ticket.id.desc()).with_for_update())
        return (await self.session.scalars(query.limit(1))).first()

    async def last_closed(self, chat_id: int) -> Ticket | None:
        if await nothing_there(self.session, "SELECT 1 FROM tickets WHERE chat_id = $1 AND state = 'closed'",
                               chat_id):
            return None
        query = (select(Ticket).where(Ticket.chat_id == chat_id, Ticket.state == "closed")
                 .order_by(Ticket.closed_at.desc()).with_for_update())
        return (await self.session.scalars(query.limit(1))).first()

    async def by_topic(self, topic_id: int) -> Ticket | None:
        query = select(Ticket).where(Ticket.topic_id == topic_id).order_by(Ticket.id.desc()).with_for_update()
        return (await self.session.scalars(query.limit(1))).first()

    async def queue(self) -> list[Ticket]:
        """Tickets nobody has claimed yet, longest waiting first."""
        query = select(Ticket).where(Ticket.state == "open").order_by(Ticket.created_at, Ticket.id)
        return list(await self.session.scalars(query))

    async def queue_position(self, ticket: Ticket) -> int:
        query = select(func.count()).select_from(Ticket).where(Ticket.state == "open", Ticket.id <= ticket.id)
        return int(await self.session.scalar(query) or 0)

    async def due_escalations(self, now: datetime) -> list[Ticket]:
        query = (select(Ticket).where(Ticket.state == "open", Ticket.escalate_at.is_not(None),
                                      Ticket.escalate_at <= now).order_by(Ticket.id).with_for_update(skip_locked=True))
        return list(await self.session.scalars(query))

    async def add_event(self, *, ticket_id: int, event: str, state: str, actor_id: int | None,
                        detail: dict[str, Any], now: datetime) -> None:
        self.session.add(TicketEvent(ticket_id=ticket_id, event=event, state=state, actor_id=actor_id,
                                     detail=detail, at=now))

    async def events(self, ticket_id: int) -> list[TicketEvent]:
        query = select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
        return list(await self.session.scalars(query))

    async def add_relayed(self, *, ticket_id: int, source_chat_id: int, pairs: Sequence[tuple[int, int]],
                          copy_chat_id: int, now: datetime) -> None:
        for source_id, copy_id in pairs:
            statement = dialect_insert(self.session, RelayedMessage).values(
                ticket_id=ticket_id, source_chat_id=source_chat_id, source_message_id=source_id,
                copy_chat_id=copy_chat_id, copy_message_id=copy_id, created_at=now)
            await self.session.execute(statement.on_conflict_do_nothing(
                index_elements=["ticket_id", "source_chat_id", "source_message_id"]))

    async def counterpart(self, ticket_id: int, chat_id: int, message_id: int) -> int | None:
        """The id, on the other side of a ticket's relay, of the message `message_id` in `chat_id`."""
        copy = await self.session.scalar(select(RelayedMessage.copy_message_id).where(
            RelayedMessage.ticket_id == ticket_id, RelayedMessage.source_chat_id == chat_id,
            RelayedMessage.source_message_id == message_id))
        if copy is not None:
            return int(copy)
        source = await self.session.scalar(select(RelayedMessage.source_message_id).where(
            RelayedMessage.ticket_id == ticket_id, RelayedMessage.copy_chat_id == chat_id,
            RelayedMessage.copy_message_id == message_id))
        return int(source) if source is not None else None

    async def without_topic(self) -> list[Ticket]:
        """Open or claimed tickets with no topic in the support group, oldest first."""
        query = (select(Ticket).where(Ticket.state.in_(("open", "claimed")), Ticket.topic_id.is_(None))
                 .order_by(Ticket.id).with_for_update())
        return list(await self.session.scalars(query.execution_options(populate_existing=True)))

    async def opened_since(self, user_id: int, since: datetime) -> int:
        """How many tickets the user opened since a moment."""
        query = select(func.count()).select_from(Ticket).where(Ticket.user_id == user_id, Ticket.created_at >= since)
        return int(await self.session.scalar(query) or 0)

    async def counts(self, since: datetime) -> tuple[int, int]:
        """(opened, closed) since a moment."""
        opened = await self.session.scalar(select(func.count()).select_from(Ticket).where(Ticket.created_at >= since))
        closed = await self.session.scalar(select(func.count()).select_from(Ticket).where(Ticket.closed_at >= since))
        return int(opened or 0), int(closed or 0)

    async def open_counts(self) -> tuple[int, int]:
        """(not closed, not claimed) tickets."""
        rows = await self.session.execute(select(Ticket.state, func.count()).where(
            Ticket.state.in_(["open", "claimed"])).group_by(Ticket.state))
        by_state = {state: int(count) for state, count in rows}
        return sum(by_state.values()), by_state.get("open", 0)

    async def served(self, since: datetime) -> list[Served]:
        """Tickets opened since a moment: when staff first wrote to the merchant, when closed, the rating."""
        first = (select(RelayedMessage.ticket_id, func.min(RelayedMessage.created_at).label("at"))
                 .join(Ticket, Ticket.id == RelayedMessage.ticket_id)
                 .where(Ticket.created_at >= since, RelayedMessage.copy_chat_id == Ticket.chat_id)
                 .group_by(RelayedMessage.ticket_id).subquery())
        rows = await self.session.execute(
            select(Ticket.created_at, Ticket.assignee_id, first.c.at, Ticket.closed_at, Ticket.rating)
            .outerjoin(first, first.c.ticket_id == Ticket.id).where(Ticket.created_at >= since))
        return [Served(cast(datetime, created), cast("int | None", assignee), cast("datetime | None", replied),
                       cast("datetime | None", closed), cast("int | None", rating))
                for created, assignee, replied, closed, rating in rows]

    async def claim_waits(self, since: datetime) -> list[float]:
        """Minutes from opening to claim of the tickets opened since a moment and claimed."""
        rows = await self.session.execute(select(Ticket.created_at, Ticket.claimed_at).where(
            Ticket.created_at >= since, Ticket.claimed_at.is_not(None)))
        return [(claimed - created).total_seconds() / 60 for created, claimed in rows if claimed is not None]
