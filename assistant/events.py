"""Plain data in and out of the core: inbound events and replies."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Attachment:
    """Something other than text the user sent (photo, document, sticker, voice, location…)."""

    kind: str
    file_id: str = ""
    file_name: str = ""
    mime_type: str = ""
    size: int = 0


@dataclass(frozen=True)
class Event:
    """One thing a user did: text, a button choice, a command, or an attachment."""

    user_id: int
    chat_id: int
    language: str | None = None
    user_name: str = ""
    text: str | None = None
    choice: str | None = None
    choice_version: int | None = None
    command: str | None = None
    args: str = ""
    attachment: Attachment | None = None


@dataclass(frozen=True)
class Button:
    label: str
    choice: str


@dataclass(frozen=True)
class Reply:
    """Rendered HTML text and rows of buttons; `version` ties the buttons to the conversation's state."""

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    version: int = 0
    chat_id: int = 0

    @property
    def choices(self) -> list[str]:
        return [button.choice for row in self.buttons for button in row]


@dataclass(frozen=True)
class Outcome:
    """What handling an event did, for logs and tests."""

    state_before: str
    state_after: str
    replies: list[Reply] = field(default_factory=list)
