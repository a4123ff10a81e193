"""Announcing something to merchants: audience, message, preview (with the count), confirm."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Protocol

from transitions.extensions.asyncio import AsyncEventData

from assistant.domain.text import utf16_len
from flows.base import FlowModel, FlowSpec

logger = logging.getLogger(__name__)

PROMPT_BUTTONS: dict[str, list[list[str]]] = {
    "audience": [["recent"], ["subscribers"], ["cancel"]],
    "message": [["cancel"]],
    "preview": [["confirm"], ["edit", "cancel"]],
}
MAX_MESSAGE = 3000
"""The longest announcement, in UTF-16 units as Telegram counts (an emoji is two)."""

ANNOUNCE = FlowSpec(
    name="announce",
    initial="audience",
    states=[
        {"name": "audience", "on_enter": "prompt"},
        {"name": "message", "on_enter": "prompt"},
        {"name": "preview", "on_enter": "prompt"},
        {"name": "done", "on_enter": "save"},
    ],
    transitions=[
        {"trigger": "recent", "source": "audience", "dest": "message", "before": "choose_recent"},
        {"trigger": "subscribers", "source": "audience", "dest": "message", "before": "choose_subscribers"},
        {"trigger": "answer", "source": "audience", "dest": None, "after": "prompt"},
        {"trigger": "answer", "source": "message", "dest": "preview", "conditions": "is_message",
         "before": "take_text"},
        {"trigger": "answer", "source": "message", "dest": None, "after": "not_a_message"},
        {"trigger": "answer", "source": "preview", "dest": None, "after": "prompt"},
        {"trigger": "confirm", "source": "preview", "dest": "done"},
        {"trigger": "edit", "source": "preview", "dest": "audience", "before": "clear"},
    ],
)


class AnnouncePorts(Protocol):
    now: datetime
    days: int

    async def audience_size(self, audience: str) -> int: ...
    async def create_broadcast(self, audience: str, text: str) -> tuple[int, int]: ...


def _text(event: AsyncEventData) -> str:
    return str(event.kwargs.get("text", "")).strip()


class AnnounceDraft(FlowModel):
    """An admin's draft announcement, kept in their conversation row until confirmed."""

    def __init__(self, state: str, data: dict[str, Any], ports: AnnouncePorts) -> None:
        super().__init__(state, data)
        self.ports = ports
        self.finished = False

    def is_message(self, event: AsyncEventData) -> bool:
        return 0 < utf16_len(_text(event)) <= MAX_MESSAGE

    async def _choose(self, audience: str) -> None:
        self.data["audience"] = audience
        self.data["count"] = await self.ports.audience_size(audience)

    async def choose_recent(self, event: AsyncEventData) -> None:
        await self._choose("recent")

    async def choose_subscribers(self, event: AsyncEventData) -> None:
        await self._choose("subscribers")

    async def take_text(self, event: AsyncEventData) -> None:
        self.data["text"] = _text(event)
        self.data["count"] = await self.ports.audience_size(self.data["audience"])

    def clear(self, event: AsyncEventData) -> None:
        self.data.clear()

    def not_a_message(self, event: AsyncEventData) -> None:
        self.say("announce_bad_message", limit=MAX_MESSAGE, length=utf16_len(_text(event)))
        self.prompt(event)

    async def save(self, event: AsyncEventData) -> None:
        broadcast_id, total = await self.ports.create_broadcast(self.data["audience"], self.data["text"])
        self.say("announce_saved", broadcast_id=broadcast_id, total=total)
        self.finished = True

    def prompt(self, event: AsyncEventData | None = None) -> None:
        self.say(f"announce_{self.state}", buttons=PROMPT_BUTTONS.get(self.state, []), days=self.ports.days,
                 **self.data)


CHOICES = {"recent", "subscribers", "confirm", "edit", "cancel"}
