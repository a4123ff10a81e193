"""Announcing a maintenance window from Telegram: start, expected end, messages, preview, confirm."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Protocol

from transitions.extensions.asyncio import AsyncEventData

from assistant.domain.text import utf16_len
from flows.base import FlowModel, FlowSpec

logger = logging.getLogger(__name__)

PROMPT_BUTTONS: dict[str, list[list[str]]] = {
    "when": [["now"], ["cancel"]],
    "until": [["cancel"]],
    "message_zh": [["cancel"]],
    "message_en": [["skip"], ["cancel"]],
    "preview": [["confirm"], ["edit", "cancel"]],
}

MAINTENANCE = FlowSpec(
    name="maintenance",
    initial="when",
    states=[
        {"name": "when", "on_enter": "prompt"},
        {"name": "until", "on_enter": "prompt"},
        {"name": "message_zh", "on_enter": "prompt"},
        {"name": "message_en", "on_enter": "prompt"},
        {"name": "preview", "on_enter": "prompt"},
        {"name": "done", "on_enter": "save"},
    ],
    transitions=[
        {"trigger": "now", "source": "when", "dest": "until", "before": "start_now"},
        {"trigger": "answer", "source": "when", "dest": "until", "conditions": "is_start", "before": "take_start"},
        {"trigger": "answer", "source": "when", "dest": None, "after": "not_a_time"},
        {"trigger": "answer", "source": "until", "dest": "message_zh", "conditions": "is_end", "before": "take_end"},
        {"trigger": "answer", "source": "until", "dest": None, "after": "not_an_end"},
        {"trigger": "answer", "source": "message_zh", "dest": "message_en", "conditions": "is_message",
         "before": "take_zh"},
        {"trigger": "answer", "source": "message_en", "dest": "preview", "conditions": "is_message",
         "before": "take_en"},
        {"trigger": "answer", "source": ["message_zh", "message_en"], "dest": None, "after": "not_a_message"},
        {"trigger": "skip", "source": "message_en", "dest": "preview"},
        {"trigger": "answer", "source": "preview", "dest": None, "after": "prompt"},
        {"trigger": "confirm", "source": "preview", "dest": "done"},
        {"trigger": "edit", "source": "preview", "dest": "when", "before": "clear"},
    ],
)

MAX_MESSAGE = 500
"""The longest maintenance message, in UTF-16 units as Telegram counts (an emoji is two)."""


class MaintenancePorts(Protocol):
    now: datetime

    def parse_time(self, text: str) -> datetime | None: ...
    async def save_window(self, starts_at: datetime, ends_at: datetime, message_zh: str, message_en: str) -> int: ...


def _text(event: AsyncEventData) -> str:
    return str(event.kwargs.get("text", "")).strip()


class MaintenanceDraft(FlowModel):
    """An admin's draft window, kept in their conversation row until confirmed."""

    def __init__(self, state: str, data: dict[str, Any], ports: MaintenancePorts) -> None:
        super().__init__(state, data)
        self.ports = ports
        self.finished = False

    def _when(self, key: str) -> datetime | None:
        value = self.data.get(key)
        return datetime.fromisoformat(value) if value else None

    def is_start(self, event: AsyncEventData) -> bool:
        moment = self.ports.parse_time(_text(event))
        return moment is not None and moment >= self.ports.now.replace(second=0, microsecond=0)

    def is_end(self, event: AsyncEventData) -> bool:
        moment = self.ports.parse_time(_text(event))
        start = self._when("starts_at")
        return moment is not None and start is not None and moment > start

    def is_message(self, event: AsyncEventData) -> bool:
        return 0 < utf16_len(_text(event)) <= MAX_MESSAGE

    def start_now(self, event: AsyncEventData) -> None:
        self.data["starts_at"] = self.ports.now.isoformat()

    def take_start(self, event: AsyncEventData) -> None:
        self.data["starts_at"] = self.ports.parse_time(_text(event)).isoformat()  # type: ignore[union-attr]

    def take_end(self, event: AsyncEventData) -> None:
        self.data["ends_at"] = self.ports.parse_time(_text(event)).isoformat()  # type: ignore[union-attr]

    def take_zh(self, event: AsyncEventData) -> None:
        self.data["message_zh"] = _text(event)

    def take_en(self, event: AsyncEventData) -> None:
        self.data["message_en"] = _text(event)

    def clear(self, event: AsyncEventData) -> None:
        self.data.clear()

    def not_a_time(self, event: AsyncEventData) -> None:
        self.say("maint_bad_time", text=_text(event)[:100])
        self.prompt(event)

    def not_an_end(self, event: AsyncEventData) -> None:
        moment = self.ports.parse_time(_text(event))
        self.say("maint_bad_end" if moment is not None else "maint_bad_time", text=_text(event)[:100],
                 starts_at=self.data.get("starts_at"))
        self.prompt(event)

    def not_a_message(self, event: AsyncEventData) -> None:
        self.say("maint_bad_message", limit=MAX_MESSAGE, length=utf16_len(_text(event)))
        self.prompt(event)

    async def save(self, event: AsyncEventData) -> None:
        start, end = self._when("starts_at"), self._when("ends_at")
        assert start is not None and end is not None
        window_id = await self.ports.save_window(start, end, self.data["message_zh"], self.data.get("message_en", ""))
        self.say("maint_saved", window_id=window_id, **self.data)
        self.finished = True

    def prompt(self, event: AsyncEventData | None = None) -> None:
        self.say(f"maint_{self.state}", buttons=PROMPT_BUTTONS.get(self.state, []), now=self.ports.now.isoformat(),
                 **self.data)


CHOICES = {"now", "skip", "confirm", "edit", "cancel"}
