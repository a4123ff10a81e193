"""The one routing table: who sent a message (its audience, resolved once), then its handler by
(audience, message type, name).

The name is a command's name, or a button's action (the choice before its first dot: "claim" for
"claim.12"). Adding a command is one row here and one handler in its room. A row is found by the exact
name, then (a merchant's command) by the name in lower case; a message with no row of its own takes its
audience's row for its type (name None); what has neither is `unrouted` (logged, nothing said).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from assistant.admin import handlers as admin
from assistant.admin import setup
from assistant.admin.desk import AdminDesk
from assistant.merchant import chat as merchant
from assistant.messages import (
    AlbumReceived,
    ButtonPress,
    Command,
    DeadLettered,
    DeliveryFailed,
    DocumentRead,
    FileSent,
    FollowUpDue,
    Inbound,
    Message,
    OutputDelivered,
    Text,
    TicketsDue,
    TopicClosed,
    TopicReopened,
)
from assistant.outputs import Out
from assistant.replies import normalise_language
from assistant.runtime import results as runtime
from assistant.support import handlers as support
from assistant.support.base import TICKET_CHOICES
from assistant.turn import Handler, Turn
from flows.troubleshoot import TROUBLESHOOT

logger = logging.getLogger(__name__)

Audience = Literal["staff", "admin", "admin_draft", "ticket", "merchant", "system"]
STAFF: Audience = "staff"
"""Anyone writing in the support group (staff, or a member who is not: the desk refuses them)."""
ADMIN: Audience = "admin"
"""An admin command, from any chat but the support group (who may use it is the admin desk's check)."""
ADMIN_DRAFT: Audience = "admin_draft"
"""An admin writing a maintenance notice or an announcement (a conversation inside an admin flow)."""
TICKET: Audience = "ticket"
"""A merchant whose ticket a person has or will have."""
MERCHANT: Audience = "merchant"
"""A merchant, answered by the troubleshooting flow."""
SYSTEM: Audience = "system"
"""No chat's message: what fell due, what the transport did with outputs, updates given up on."""

Key = tuple[Audience, type[Any], str | None]

CHAT_MESSAGES: tuple[type[Inbound], ...] = (Text, Command, ButtonPress, FileSent, AlbumReceived, DocumentRead,
                                            TopicClosed, TopicReopened)
"""What a user does in a chat."""

ROUTES: dict[Key, Handler] = {
    # -- the support group: staff commands, typed or pressed on a ticket's card; replies to merchants
    (STAFF, Command, "claim"): support.claim,
    (STAFF, Command, "close"): support.close,
    (STAFF, Command, "reopen"): support.reopen,
    (STAFF, Command, "reply"): support.reply,
    (STAFF, Command, "queue"): support.queue,
    (STAFF, Command, "lookup"): support.lookup,
    (STAFF, Command, "note"): support.not_ours,
    (STAFF, Command, "id"): setup.chat_ids,
    (STAFF, Command, None): support.not_ours,  # commands for other bots or people
    (STAFF, ButtonPress, "claim"): support.claim,
    (STAFF, ButtonPress, "close"): support.close,
    (STAFF, ButtonPress, "reopen"): support.reopen,
    (STAFF, ButtonPress, None): support.not_ours,
    (STAFF, Text, None): support.staff_message,
    (STAFF, FileSent, None): support.staff_message,
    (STAFF, AlbumReceived, None): support.staff_message,
    (STAFF, DocumentRead, None): support.staff_message,
    (STAFF, TopicClosed, None): support.topic_service,
    (STAFF, TopicReopened, None): support.topic_service,
    # -- admins' commands (listed in Telegram's menu for admins, in this order)
    (ADMIN, Command, "maintenance"): admin.maintenance,
    (ADMIN, Command, "maintenance_end"): admin.maintenance_end,
    (ADMIN, Command, "maintenance_extend"): admin.maintenance_extend,
    (ADMIN, Command, "maintenance_list"): admin.maintenance_list,
    (ADMIN, Command, "announce"): admin.announce,
    (ADMIN, Command, "stats"): admin.stats,
    (ADMIN, Command, "users"): admin.users,
    (ADMIN, ButtonPress, "users"): admin.user_button,
    (ADMIN, ButtonPress, "imports"): admin.import_button,
    (ADMIN, Text, None): admin.forwarded,  # a message an admin forwarded: its sender's card
    (ADMIN, DocumentRead, None): admin.table_read,  # an invoice table an admin sent: an import's preview
    # -- an admin inside a draft: the draft's flow (any command or "cancel" leaves it)
    **{(ADMIN_DRAFT, kind, None): admin.draft for kind in CHAT_MESSAGES},
    # -- a merchant with an active ticket: relayed to the ticket's topic, or the ticket's own commands
    (TICKET, Command, "cancel"): support.ask_withdraw,
    (TICKET, Command, "tickets"): support.ticket_list,
    (TICKET, Command, "help"): support.help_during_ticket,
    (TICKET, Command, "lang"): support.switch_language,
    (TICKET, Command, "id"): setup.chat_ids,
    (TICKET, Command, None): support.still_active,
    (TICKET, ButtonPress, "withdraw"): support.answer_withdraw,
    (TICKET, ButtonPress, "keep"): support.answer_withdraw,
    (TICKET, ButtonPress, None): support.still_active,
    (TICKET, Text, None): support.relay_to_staff,
    (TICKET, FileSent, None): support.relay_to_staff,
    (TICKET, AlbumReceived, None): support.relay_to_staff,
    (TICKET, DocumentRead, None): support.relay_to_staff,
    (TICKET, TopicClosed, None): support.relay_to_staff,
    (TICKET, TopicReopened, None): support.relay_to_staff,
    # -- a merchant: the troubleshooting flow
    (MERCHANT, Command, "start"): merchant.flow_command("menu"),
    (MERCHANT, Command, "cancel"): merchant.flow_command("menu"),
    (MERCHANT, Command, "menu"): merchant.flow_command("menu"),
    (MERCHANT, Command, "help"): merchant.flow_command("help"),
    (MERCHANT, Command, "lang"): merchant.flow_command("lang"),
    (MERCHANT, Command, "status"): merchant.flow_command("status"),
    (MERCHANT, Command, "find"): merchant.flow_command("find"),
    (MERCHANT, Command, "human"): merchant.flow_command("human"),
    (MERCHANT, Command, "tickets"): support.ticket_list,
    (MERCHANT, Command, "id"): setup.chat_ids,
    (MERCHANT, Command, None): merchant.unknown_command,
    **{(MERCHANT, ButtonPress, choice): merchant.ticket_button for choice in TICKET_CHOICES},  # rate, reopen...
    (MERCHANT, ButtonPress, None): merchant.press,
    (MERCHANT, Text, None): merchant.text,
    (MERCHANT, DocumentRead, None): merchant.document_read,
    (MERCHANT, FileSent, None): merchant.file,
    (MERCHANT, AlbumReceived, None): merchant.file,
    (MERCHANT, TopicClosed, None): merchant.ignore,
    (MERCHANT, TopicReopened, None): merchant.ignore,
    # -- no chat's message
    (SYSTEM, FollowUpDue, None): merchant.follow_up_due,
    (SYSTEM, TicketsDue, None): support.tickets_due,
    (SYSTEM, DeadLettered, None): runtime.dead_lettered,
    (SYSTEM, OutputDelivered, None): runtime.delivered,
    (SYSTEM, DeliveryFailed, None): runtime.undelivered,
}

ADMIN_COMMANDS = tuple(name for audience, kind, name in ROUTES
                       if audience == ADMIN and kind is Command and name is not None)
ADMIN_BUTTONS = tuple(name for audience, kind, name in ROUTES
                      if audience == ADMIN and kind is ButtonPress and name is not None)
STAFF_COMMANDS = tuple(name for audience, kind, name in ROUTES
                       if audience == STAFF and kind is Command and name is not None)
"""The support group's commands, listed in its command menu (in this order)."""
MENU_COMMANDS = ("start", "cancel", "help", "lang", "status", "tickets")
"""The merchants' commands listed in Telegram's command menu (each has a row above)."""


async def unrouted(turn: Turn, message: Any) -> list[Out]:
    """The fallback: a message no row takes is logged and changes nothing."""
    logger.warning("no route for %s; nothing done", type(message).__name__)
    return []


def name_of(message: Any) -> str | None:
    """The name a row may be keyed by: a command's, or a button's action."""
    if isinstance(message, Command):
        return message.name
    if isinstance(message, ButtonPress):
        return message.choice.split(".", 1)[0]
    return None


def handler_for(audience: Audience, message: Any) -> Handler:
    """The row for this audience and message: by name, else by type, else `unrouted`."""
    kind, name = type(message), name_of(message)
    if name is not None:
        handler = ROUTES.get((audience, kind, name))
        if handler is None and audience == MERCHANT and isinstance(message, Command):
            handler = ROUTES.get((audience, kind, name.lower()))  # /START as /start
        if handler is not None:
            return handler
    return ROUTES.get((audience, kind, None), unrouted)


async def resolve(turn: Turn, message: Message) -> Audience:
    """Who sent `message`, found once: the sender (stored on first contact), their conversation and
    active ticket are put on `turn` for the handler."""
    if not isinstance(message, Inbound):
        return SYSTEM
    store, now, config = turn.store, turn.now, turn.config
    turn.user_or_none = await store.users.ensure(
        message.user_id, now=now, name=message.user_name,
        language=normalise_language(message.language, config.default_language))
    if config.support.chat_id is not None and message.chat_id == config.support.chat_id:
        return STAFF
    turn.conversation_or_none, turn.is_new = await store.conversations.get(
        message.chat_id, message.user_id, initial=TROUBLESHOOT.initial, now=now)
    if isinstance(message, Command) and message.name in ADMIN_COMMANDS:
        return ADMIN
    if isinstance(message, ButtonPress) and name_of(message) in ADMIN_BUTTONS:
        return ADMIN
    if (isinstance(message, Text) and message.forwarded_from is not None and turn.user.role == "admin"
            and not AdminDesk.owns(turn.conversation)):
        return ADMIN
    if (isinstance(message, DocumentRead) and message.read.source == "table" and turn.user.role == "admin"
            and not AdminDesk.owns(turn.conversation)):
        return ADMIN  # an invoice table an admin sent (read as one by the core: see `Assistant._prepare`)
    if AdminDesk.owns(turn.conversation):
        return ADMIN_DRAFT
    turn.ticket_or_none = await store.tickets.active(message.chat_id)
    return MERCHANT if turn.ticket_or_none is None else TICKET


async def route(turn: Turn, message: Message) -> list[Out]:
    """Resolve the audience, run the table's handler, then let the flow runner move the conversations of
    merchants whose ticket the handler closed or took up again."""
    audience = await resolve(turn, message)
    outputs = await handler_for(audience, message)(turn, message)
    return outputs + await merchant.follow_tickets(turn)
