"""The messages the core takes in: what a user did (typed, one class per kind) and what happened around it.

Transports translate their updates into these; the routing table (`assistant/routing.py`) finds each one's
handler by who sent it and what it is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assistant.outputs import Out
from assistant.runtime.file_reader import FileRead

if TYPE_CHECKING:  # the inbox's batch, carried by `DeadLettered`; the messages do not depend on the store
    from assistant.store.inbox import Batch


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


# -- what a user did ------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Inbound:
    """Who did something, where, and which transport update it came in."""

    user_id: int
    chat_id: int
    language: str | None = None
    user_name: str = ""
    message_id: int | None = None
    """The user's message; for a button press, the message whose button was pressed."""
    thread_id: int | None = None
    reply_to: int | None = None
    update_id: int | None = None
    """The transport's id of this update; an update handled once is not handled again."""
    batch: tuple[int, ...] = ()
    """Ids of the other updates this message stands for (the rest of an album); finished with it."""

    @property
    def message_ids(self) -> tuple[int, ...]:
        """The user's messages this stands for (none for a button press)."""
        return (self.message_id,) if self.message_id is not None else ()

    @property
    def updates(self) -> list[int]:
        return [self.update_id, *self.batch] if self.update_id is not None else []


@dataclass(frozen=True, kw_only=True)
class Text(Inbound):
    text: str
    edited: bool = False
    entities: tuple[dict[str, Any], ...] = ()
    """Its formatting (bold, links…) as the transport gives it, kept when an edit is carried over."""
    forwarded_from: int | None = None
    """For a forwarded message, its original sender's user id (0: they hide their account in forwards)."""


@dataclass(frozen=True, kw_only=True)
class Command(Inbound):
    """`/name args`, the name lower-cased and without @botname."""

    name: str
    args: str = ""


@dataclass(frozen=True, kw_only=True)
class ButtonPress(Inbound):
    """A button pressed; `version` is the conversation version its keyboard was made for (-1: forged)."""

    choice: str
    version: int | None = None

    @property
    def message_ids(self) -> tuple[int, ...]:
        return ()


@dataclass(frozen=True, kw_only=True)
class FileSent(Inbound):
    """A photo, document, sticker, voice… not read (yet)."""

    attachment: Attachment
    caption: str | None = None
    edited: bool = False
    album: tuple[int, ...] = ()
    entities: tuple[dict[str, Any], ...] = ()
    """The caption's formatting."""

    @property
    def message_ids(self) -> tuple[int, ...]:
        return self.album or super().message_ids


@dataclass(frozen=True, kw_only=True)
class AlbumReceived(FileSent):
    """Several photos or files sent together, assembled from their stored updates."""


@dataclass(frozen=True, kw_only=True)
class DocumentRead(FileSent):
    """A photo or file downloaded and read before the transaction: what was read, or why not."""

    read: FileRead


@dataclass(frozen=True, kw_only=True)
class TopicClosed(Inbound):
    """A support topic closed by hand in Telegram."""


@dataclass(frozen=True, kw_only=True)
class TopicReopened(Inbound):
    """A support topic reopened by hand in Telegram."""


ChatMessage = Text | Command | ButtonPress | FileSent | TopicClosed | TopicReopened
"""Everything a transport hands the core (DocumentRead and AlbumReceived are FileSent)."""


# -- what happened around the chats -----------------------------------------------------------------
@dataclass(frozen=True)
class FollowUpDue:
    """A promised notice (maintenance over, check again) fell due."""

    follow_up_id: int
    chat_id: int


@dataclass(frozen=True)
class TicketsDue:
    """The scheduler's turn: tickets unclaimed too long are announced again."""


@dataclass(frozen=True)
class DeadLettered:
    """Updates that failed `MAX_ATTEMPTS` times: marked dead, the merchant told once."""

    batch: Batch
    reason: str


@dataclass(frozen=True)
class OutputDelivered:
    """The transport carried out an output: the topic it created and the message ids it was given."""

    output: Out
    thread_id: int | None = None
    message_ids: tuple[int, ...] = ()
    """A copy's new messages, in order; for a new topic, its card and then any messages copied into it."""


@dataclass(frozen=True)
class DeliveryFailed:
    """The transport could not carry out an output.

    `reason`: "blocked" (the user blocked the bot), "topic_gone" (the ticket's topic was deleted),
    "no_topic" (a copy for a ticket whose topic is not known), "no_rights" (the bot may not create topics
    in the support group), or "error" (anything else: the outbox tries it again when its lease runs out).
    """

    output: Out
    reason: str
    error: str = ""


DeliveryResult = OutputDelivered | DeliveryFailed
Message = Inbound | FollowUpDue | TicketsDue | DeadLettered | OutputDelivered | DeliveryFailed
