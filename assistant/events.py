"""Plain data in and out of the core: inbound events and replies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from assistant.file_reader import FileRead


@dataclass(frozen=True)
class Attachment:
    """Something other than text the user sent (photo, document, sticker, voice, location…)."""

    kind: str
    file_id: str = ""
    file_name: str = ""
    mime_type: str = ""
    size: int = 0
    fetch: Callable[[int], Awaitable[bytes]] | None = field(default=None, compare=False, repr=False)
    """Downloads the content, at most the given number of bytes (`ReadError("too_large")` beyond), when
    the core wants to read it; nothing is fetched for a relay."""


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
    message_id: int | None = None
    album: tuple[int, ...] = ()
    thread_id: int | None = None
    reply_to: int | None = None
    edited: bool = False
    service: str | None = None
    update_id: int | None = None
    """The transport's id of this update; an update handled once is not handled again."""
    batch: tuple[int, ...] = ()
    """Ids of the other updates this event stands for (the rest of an album); finished with it."""
    read: FileRead | None = None
    """What reading the attachment gave, read before the event's transaction."""

    @property
    def message_ids(self) -> tuple[int, ...]:
        """The messages this event stands for: an album's, or the one message."""
        return self.album or ((self.message_id,) if self.message_id is not None else ())


@dataclass(frozen=True)
class Button:
    label: str
    choice: str


@dataclass(frozen=True)
class Reply:
    """Rendered HTML text and rows of buttons; `version` ties the buttons to the conversation's state.

    Version 0 marks buttons that stay valid whatever the conversation does (ticket cards, ratings).
    """

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    version: int = 0
    chat_id: int = 0
    thread_id: int | None = None
    reply_to: int | None = None
    outbox_id: int | None = field(default=None, compare=False, repr=False)
    """The outbox entry this output was stored as; the adapter reports it sent."""

    @property
    def choices(self) -> list[str]:
        return [button.choice for row in self.buttons for button in row]


@dataclass(frozen=True)
class Copy:
    """Relay messages of a ticket from one chat to another (copied, not forwarded)."""

    ticket_id: int
    from_chat_id: int
    message_ids: tuple[int, ...]
    to_chat_id: int
    thread_id: int | None = None
    reply_to: int | None = None
    outbox_id: int | None = field(default=None, compare=False, repr=False)
    """The outbox entry this output was stored as; the adapter reports it sent."""


@dataclass(frozen=True)
class EditCopy:
    """Carry an edit of a relayed text message over to its copy."""

    chat_id: int
    message_id: int
    text: str
    outbox_id: int | None = field(default=None, compare=False, repr=False)
    """The outbox entry this output was stored as; the adapter reports it sent."""


@dataclass(frozen=True)
class OpenTopic:
    """Create a ticket's topic in the support group and post its card there."""

    ticket_id: int
    chat_id: int
    name: str
    card: Reply
    outbox_id: int | None = field(default=None, compare=False, repr=False)
    """The outbox entry this output was stored as; the adapter reports it sent."""


@dataclass(frozen=True)
class EditCard:
    chat_id: int
    message_id: int
    card: Reply
    outbox_id: int | None = field(default=None, compare=False, repr=False)
    """The outbox entry this output was stored as; the adapter reports it sent."""


@dataclass(frozen=True)
class TopicState:
    """Rename a ticket's topic and close or reopen it."""

    chat_id: int
    thread_id: int
    name: str
    closed: bool
    outbox_id: int | None = field(default=None, compare=False, repr=False)
    """The outbox entry this output was stored as; the adapter reports it sent."""


Out = Reply | Copy | EditCopy | OpenTopic | EditCard | TopicState


class Unavailable(Exception):
    """The event could not be handled for now (the database is unreachable); nothing of it was stored.

    The transport should have it delivered again later rather than answer it.
    """


class Failed(Exception):
    """Handling an event failed (not for want of the database); nothing of it was stored.

    The inbox tries it again, then dead-letters it.
    """


@dataclass(frozen=True)
class Outcome:
    """What handling an event did, for logs and tests."""

    state_before: str
    state_after: str
    replies: list[Reply] = field(default_factory=list)
