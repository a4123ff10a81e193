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
         "unless": "already_theirs", "after": "record"},
        {"trigger": "close", "source": ACTIVE, "dest": "closed", "conditions": "by_staff", "after": "record"},
        {"trigger": "withdraw", "source": ACTIVE, "dest": "closed", "conditions": "by_owner", "after": "record"},
        {"trigger": "reopen", "source": "closed", "dest": "open", "conditions": "by_staff", "after": "record"},
        {"trigger": "reopen", "source": "closed", "dest": "open", "conditions": ["by_owner", "recently_closed"],
         "after": "record"},
        {"trigger": "rate", "source": "closed", "dest": None, "conditions": ["by_owner", "not_rated"],
         "after": "record"},
    ],
)


class TicketPorts(Protocol):
    async def record(self, event: str, state: str, actor_id: int | None, detail: dict[str, Any]) -> None: ...


class TicketLifecycle(FlowModel):
    """One ticket, attached to the shared machine for one action by one person."""

    def __init__(self, state: str, *, owner_id: int, actor_id: int | None, actor_role: str,
                 closed_at: datetime | None, rated: bool, now: datetime, ports: TicketPorts,
                 assignee_id: int | None = None) -> None:
        super().__init__(state, {})
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

    async def record(self, event: AsyncEventData) -> None:
        self.done = True
        await self.ports.record(event.event.name, self.state, self.actor_id, dict(event.kwargs))
