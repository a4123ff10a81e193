"""What the core asks the transport to do (replies, copies, topic changes), and its exceptions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
    """Carry an edit of a relayed message over to its copy: its text, or a photo's or file's caption."""

    chat_id: int
    message_id: int
    text: str
    caption: bool = False
    entities: tuple[dict[str, Any], ...] = ()
    """The edited message's formatting, as the transport gave it."""
    outbox_id: int | None = field(default=None, compare=False, repr=False)
    """The outbox entry this output was stored as; the adapter reports it sent."""


@dataclass(frozen=True)
class OpenTopic:
    """Create a ticket's topic in the support group and post its card there."""

    ticket_id: int
    chat_id: int
    name: str
    card: Reply
    then: tuple[Copy, ...] = ()
    """Messages to copy into the new topic once the card is posted (they were bound for a lost one)."""
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


@dataclass(frozen=True)
class Progress:
    """A broadcast's or an import's progress for the admin who started it: posted once (its id recorded),
    then edited."""

    broadcast_id: int
    """The job's id: a broadcast's, or with `job` "import" a pending import's."""
    chat_id: int
    text: str
    message_id: int | None = None
    """None: post it (the core records the id Telegram assigns); else edit that message."""
    job: str = "broadcast"
    """Whose progress: "broadcast" or "import"."""
    outbox_id: int | None = field(default=None, compare=False, repr=False)
    """The outbox entry this output was stored as; the adapter reports it sent."""


@dataclass(frozen=True)
class RatingsChart:
    """A picture of ratings for an admin: one stacked bar a row (1 to 5 stars), drawn by the transport.

    The labels come in the admin's language and in English (`latin_*`): a machine without a CJK font draws
    the English ones rather than empty boxes. The caption (HTML) goes with the picture.
    """

    chat_id: int
    caption: str
    title: str
    rows: tuple[str, ...]
    notes: tuple[str, ...]
    values: tuple[tuple[int, ...], ...]
    """Each row's count of 1, 2, 3, 4 and 5 stars."""
    latin_title: str = ""
    latin_rows: tuple[str, ...] = ()
    latin_notes: tuple[str, ...] = ()
    outbox_id: int | None = field(default=None, compare=False, repr=False)
    """The outbox entry this output was stored as; the adapter reports it sent."""


Out = Reply | Copy | EditCopy | OpenTopic | EditCard | TopicState | Progress | RatingsChart


class Unavailable(Exception):
    """The event could not be handled for now (the database is unreachable); nothing of it was stored.

    The transport should have it delivered again later rather than answer it.
    """


class Failed(Exception):
    """Handling an event failed (not for want of the database); nothing of it was stored.

    The inbox tries it again, then dead-letters it.
    """
