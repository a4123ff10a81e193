"""The support desk's common ground: its configuration, how it writes to staff and merchants, a ticket's
card and topic name, support hours.

Transport-free: every method returns outputs (replies, copies, topic changes) that an adapter carries
out after the transaction; what the transport assigned (topic and message ids) comes back as delivery
messages the core hands to `topic_opened` and `relayed`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from assistant.domain.text import TOPIC_NAME_LIMIT, strip_format, utf16_cut
from assistant.flow_runner import FlowRunner
from assistant.messages import FileSent, Inbound, Text
from assistant.outputs import Copy, EditCard, EditCopy, Out, Reply
from assistant.replies import Renderer
from assistant.store.models import Ticket
from assistant.store.contracts import UnitOfWork
from flows.base import Say

logger = logging.getLogger(__name__)

STAFF_ROLES = ("staff", "admin")
TICKET_CHOICES = ("claim", "close", "rate", "reopen", "withdraw", "keep")
TOPIC_RETRY = timedelta(minutes=1)
"""How long after the support group refused a topic (no rights) one ticket tries again."""
TOPIC_EVENTS = ("topic", "topic_lost", "topic_refused", "topic_retry", "copy_waiting")
LIST_LIMIT = 20
"""Lines of a list in one message (/queue, /tickets); the rest are counted ("and 17 more")."""


@dataclass(frozen=True)
class SupportConfig:
    chat_id: int | None
    opens: time
    closes: time
    weekdays: frozenset[int]
    claim_timeout: timedelta
    max_escalations: int
    staff_language: str
    tz: ZoneInfo
    tickets_per_day: int = 5


def ticket_choice(choice: str) -> tuple[str, int, int | None] | None:
    """("rate", ticket id, 4) for "rate.12.4"; None for choices that are not about a ticket."""
    parts = choice.split(".")
    if len(parts) not in (2, 3) or parts[0] not in TICKET_CHOICES or not parts[1].isdigit():
        return None
    value = int(parts[2]) if len(parts) == 3 and parts[2].isdigit() else None
    return parts[0], int(parts[1]), value


class DeskBase:
    """Everything about tickets for one event, inside that event's transaction: what every side shares."""

    def __init__(self, store: UnitOfWork, renderer: Renderer, config: SupportConfig, flows: FlowRunner,
                 now: datetime) -> None:
        self.store = store
        self.renderer = renderer
        self.config = config
        self.flows = flows
        self.now = now
        self.conversation_triggers: list[tuple[Ticket, str]] = []
        """Triggers for merchants' conversations (their ticket closed or taken up again), fired after the desk."""

    # -- rendering ---------------------------------------------------------------------------------
    def _reply(self, template: str, language: str, chat_id: int, *, thread_id: int | None = None,
               buttons: list[list[str]] | None = None, version: int = 0, reply_to: int | None = None,
               **context: Any) -> Reply:
        text, rendered = self.renderer.render(Say(template, context, buttons or []), language)
        return Reply(text, rendered, version=version, chat_id=chat_id, thread_id=thread_id, reply_to=reply_to)

    def _staff(self, template: str, ticket: Ticket | None = None, *, thread_id: int | None = None,
               **context: Any) -> Reply:
        """A message in the support group: in the ticket's topic, or in the general topic."""
        assert self.config.chat_id is not None
        thread = thread_id if ticket is None else ticket.topic_id
        return self._reply(template, self.config.staff_language, self.config.chat_id, thread_id=thread,
                           ticket=self._view(ticket) if ticket else None, **context)

    def _to_merchant(self, template: str, ticket: Ticket, buttons: list[list[str]] | None = None,
                     **context: Any) -> Reply:
        return self._reply(template, ticket.language, ticket.chat_id, buttons=buttons, ticket=self._view(ticket),
                           **context)

    def _view(self, ticket: Ticket) -> dict[str, Any]:
        return {"id": ticket.id, "state": ticket.state, "reason": ticket.reason, "fields": ticket.fields,
                "checks": ticket.checks, "language": ticket.language, "user_id": ticket.user_id,
                "merchant_name": strip_format(ticket.merchant_name or ""), "created_at": ticket.created_at.isoformat(),
                "closed_at": ticket.closed_at.isoformat() if ticket.closed_at else None,
                "close_reason": ticket.close_reason, "rating": ticket.rating}

    async def _alias(self, user_id: int | None) -> tuple[str, str]:
        """(public alias, real name) of a staff member."""
        if user_id is None:
            return "", ""
        user = await self.store.users.get(user_id)
        return (strip_format(user.alias) if user else "", strip_format(user.name or "") if user else str(user_id))

    def topic_name(self, ticket: Ticket) -> str:
        number = ticket.fields.get("number") or "—"
        mark = "✅ " if ticket.state == "closed" else ""
        name = strip_format(ticket.merchant_name or "") or ticket.user_id  # names stored before they were cleaned
        return utf16_cut(strip_format(f"{mark}#{ticket.id} · {number} · {name}"), TOPIC_NAME_LIMIT)

    async def card(self, ticket: Ticket) -> Reply:
        earlier = [self._view(t) for t in await self.store.tickets.all(ticket.user_id) if t.id != ticket.id]
        alias, name = await self._alias(ticket.assignee_id)
        buttons = {"open": [[f"claim.{ticket.id}", f"close.{ticket.id}"]],
                   "claimed": [[f"close.{ticket.id}"]]}.get(ticket.state, [])
        return self._staff("ticket_card", ticket, buttons=buttons, earlier=earlier, assignee_alias=alias,
                           assignee_name=name)

    def hours(self) -> dict[str, Any]:
        """Support hours, whether they are open now, and when they next open."""
        local = self.now.astimezone(self.config.tz)
        info: dict[str, Any] = {"opens": self.config.opens.strftime("%H:%M"),
                                "closes": self.config.closes.strftime("%H:%M"),
                                "weekdays": sorted(self.config.weekdays)}
        is_open = (local.isoweekday() in self.config.weekdays
                   and self.config.opens <= local.time() < self.config.closes)
        info["open_now"] = is_open
        if not is_open:
            day = local
            for _ in range(8):
                start = day.replace(hour=self.config.opens.hour, minute=self.config.opens.minute, second=0,
                                    microsecond=0)
                if day.isoweekday() in self.config.weekdays and start > local:
                    info["opens_at"] = start.isoformat()
                    break
                day = (day + timedelta(days=1)).replace(hour=0, minute=0)
        return info

    async def _card_update(self, ticket: Ticket) -> list[Out]:
        if ticket.card_message_id is None or self.config.chat_id is None:
            return []
        return [EditCard(self.config.chat_id, ticket.card_message_id, await self.card(ticket))]

    async def _carry_edit(self, ticket: Ticket, message: Text | FileSent) -> list[Out]:
        """An edited text or caption, carried over to its copy on the other side."""
        if message.message_id is None:
            return []
        copy = await self.store.tickets.counterpart(ticket.id, message.chat_id, message.message_id)
        if copy is None:
            return []
        target = self.config.chat_id if message.chat_id == ticket.chat_id else ticket.chat_id
        if target is None:
            return []
        return [EditCopy(target, copy, text_of(message), caption=isinstance(message, FileSent),
                         entities=message.entities)]


def _held(copy: Copy) -> list[Any]:
    """A copy bound for a topic that does not exist yet, as stored in a ticket event."""
    return [copy.from_chat_id, list(copy.message_ids), copy.reply_to]


def text_of(message: Inbound) -> str:
    """The text a message carries: a text's, a file's caption, or none."""
    if isinstance(message, Text):
        return message.text
    if isinstance(message, FileSent):
        return message.caption or ""
    return ""
