"""The ticket lifecycle: open → claimed → closed, and reopened; who may do what is in the conditions."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Protocol

from transitions.extensions.asyncio import AsyncEventData

from flows.base import FlowModel, FlowSpec

logger = logging.getLogger(__name__)

REOPEN_WINDOW = timedelta(hours=24)
ACTIVE = ("open", "claimed")

TICKET = FlowSpec(
    name="ticket",
    initial="open",
    states=[{"name": "open"}, {"name": "claimed"}, {"name": "closed"}],
    transitions=[
        {"trigger": "claim", "source": ["open", "claimed"], "dest": "claimed", "conditions": "by_staff",
         "unless": "already_theirs", "before": "assign", "after": "record"},
        {"trigger": "close", "source": ACTIVE, "dest": "closed", "conditions": "by_staff", "before": "shut",
         "after": "record"},
        {"trigger": "withdraw", "source": ACTIVE, "dest": "closed", "conditions": "by_owner", "before": "shut",
         "after": "record"},
        {"trigger": "reopen", "source": "closed", "dest": "open", "conditions": "by_staff", "before": "open_again",
         "after": "record"},
        {"trigger": "reopen", "source": "closed", "dest": "open", "conditions": ["by_owner", "recently_closed"],
         "before": "open_again", "after": "record"},
        {"trigger": "rate", "source": "closed", "dest": None, "conditions": ["by_owner", "not_rated"],
         "before": "take_rating", "after": "record"},
    ],
)


class TicketRecord(Protocol):
    """The ticket's row as the lifecycle moves it (the store's `Ticket`)."""

    state: str
    assignee_id: int | None
    claimed_at: datetime | None
    closed_at: datetime | None
    close_reason: str
    escalate_at: datetime | None
    escalations: int
    rating: int | None


class TicketPorts(Protocol):
    async def record(self, event: str, state: str, actor_id: int | None, detail: dict[str, Any]) -> None: ...


class TicketLifecycle(FlowModel):
    """One ticket, attached to the shared machine for one action by one person."""

    def __init__(self, state: str, *, owner_id: int, actor_id: int | None, actor_role: str,
                 closed_at: datetime | None, rated: bool, now: datetime, ports: TicketPorts,
                 assignee_id: int | None = None, ticket: TicketRecord | None = None,
                 claim_timeout: timedelta = timedelta(minutes=15)) -> None:
        super().__init__(state, {})
        self.ticket = ticket
        """The row the callbacks write what a transition changes to (none: the lifecycle only says who may)."""
        self.claim_timeout = claim_timeout
        """How long an open ticket waits to be claimed before it is announced again."""
        self.owner_id = owner_id
        self.actor_id = actor_id
        self.actor_role = actor_role
        self.closed_at = closed_at
        self.rated = rated
        self.now = now
        self.ports = ports
        self.assignee_id = assignee_id
        self.done = False  # a queued machine's trigger returns True whatever happened; this tells

    def by_staff(self, event: AsyncEventData) -> bool:
        return self.actor_role in ("staff", "admin")

    def by_owner(self, event: AsyncEventData) -> bool:
        return self.actor_id == self.owner_id

    def already_theirs(self, event: AsyncEventData) -> bool:
        return self.state == "claimed" and self.assignee_id == self.actor_id

    def recently_closed(self, event: AsyncEventData) -> bool:
        return self.closed_at is not None and self.now - self.closed_at <= REOPEN_WINDOW

    def not_rated(self, event: AsyncEventData) -> bool:
        return not self.rated

    # -- what a transition changes in the ticket's row
    def assign(self, event: AsyncEventData) -> None:
        if self.ticket is not None:
            self.ticket.assignee_id, self.ticket.claimed_at, self.ticket.escalate_at = self.actor_id, self.now, None

    def shut(self, event: AsyncEventData) -> None:
        """Closed by staff (with their reason) or withdrawn by the merchant."""
        if self.ticket is not None:
            reason = "withdrawn" if event.event.name == "withdraw" else str(event.kwargs.get("reason", ""))
            self.ticket.closed_at, self.ticket.close_reason, self.ticket.escalate_at = self.now, reason, None

    def open_again(self, event: AsyncEventData) -> None:
        """Reopened: unassigned, unrated, waiting to be claimed; taken up again (`again`), no close reason."""
        if self.ticket is None:
            return
        ticket = self.ticket
        ticket.closed_at, ticket.assignee_id, ticket.claimed_at = None, None, None
        ticket.rating, ticket.escalations = None, 0
        ticket.escalate_at = self.now + self.claim_timeout
        if "again" in event.kwargs:
            ticket.close_reason = ""

    def take_rating(self, event: AsyncEventData) -> None:
        if self.ticket is not None:
            self.ticket.rating = int(event.kwargs["stars"])

    async def record(self, event: AsyncEventData) -> None:
        self.done = True
        if self.ticket is not None:
            self.ticket.state = self.state
        await self.ports.record(event.event.name, self.state, self.actor_id, dict(event.kwargs))
