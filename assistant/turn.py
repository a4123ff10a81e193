"""What every handler is given: the core's configuration and services, the event's store and time, and who
sent the message (resolved once, by the routing table's audience step)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from assistant.admin.desk import AdminDesk
from assistant.merchant.diagnosis import DiagnosisRules
from assistant.domain.intents import Understood
from assistant.flow_runner import FlowRunner
from assistant.outputs import Out
from assistant.replies import Renderer
from assistant.store.models import Conversation, Ticket, User
from assistant.store.contracts import UnitOfWork
from assistant.support.desk import SupportConfig, SupportDesk

Understand = Callable[[str], Understood]
"""The understanding step: a merchant's free text to an intent (`assistant/understanding`)."""


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
    retention: Retention = field(default_factory=lambda: Retention())


@dataclass(frozen=True)
class Retention:
    """How long personal data is kept for its purpose (docs/data-protection.md)."""

    lookups: timedelta = timedelta(days=180)
    tickets: timedelta = timedelta(days=365)
    audit: timedelta = timedelta(days=365)
    inactive_users: timedelta = timedelta(days=365)
    every: timedelta = timedelta(hours=1)
    """How often the scheduler prunes (one process does, the others find it done)."""


@dataclass(frozen=True)
class Services:
    """The core's parts a handler uses (the same for every event)."""

    renderer: Renderer
    flows: FlowRunner
    config: CoreConfig
    understand: Understand


@dataclass
class Turn:
    """One message inside its envelope: the store's unit of work, the moment, and (for a message in a chat)
    its sender and, outside the support group, their conversation."""

    services: Services
    store: UnitOfWork
    now: datetime
    user_or_none: User | None = None
    conversation_or_none: Conversation | None = None
    is_new: bool = False
    """Whether the conversation was created by this message (its first)."""
    ticket_or_none: Ticket | None = None
    """The merchant's active ticket (audience `ticket`)."""
    _desk: SupportDesk | None = field(default=None, repr=False)

    @property
    def config(self) -> CoreConfig:
        return self.services.config

    @property
    def user(self) -> User:
        assert self.user_or_none is not None, "a handler for a chat's message was given no sender"
        return self.user_or_none

    @property
    def conversation(self) -> Conversation:
        assert self.conversation_or_none is not None, "a handler for a merchant was given no conversation"
        return self.conversation_or_none

    @property
    def ticket(self) -> Ticket:
        assert self.ticket_or_none is not None, "a handler for a ticket's message was given no ticket"
        return self.ticket_or_none

    @property
    def desk_or_none(self) -> SupportDesk | None:
        """The support desk, if the handler used it."""
        return self._desk

    def desk(self) -> SupportDesk:
        if self._desk is None:
            self._desk = SupportDesk(self.store, self.services.renderer, self.config.support, self.services.flows,
                                     self.now)
        return self._desk

    def admin(self) -> AdminDesk:
        return AdminDesk(self.store, self.services.renderer, self.services.flows, self.config.rules.tz, self.now,
                         self.config.announce_days)


Handler = Callable[[Turn, Any], Awaitable[list[Out]]]
"""A message's handler: its effects written through the store, its outputs returned (for the outbox)."""
