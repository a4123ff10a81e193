"""A merchant's messages, each answered by the troubleshooting flow (its trigger by the message's kind)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import cache, partial
from typing import Any

from assistant.domain.extract import names_an_invoice
from assistant.domain.intents import yes_or_no
from assistant.messages import AlbumReceived, ButtonPress, Command, DocumentRead, FileSent, FollowUpDue, Inbound, Text
from assistant.outputs import Out, Reply
from assistant.merchant.ports import StorePorts
from assistant.turn import Handler, Turn
from flows.troubleshoot import TROUBLESHOOT, Troubleshoot, choice_trigger

logger = logging.getLogger(__name__)

Act = Callable[[Troubleshoot], Awaitable[None]]


async def troubleshoot(turn: Turn, act: Act, preface: Sequence[Out] = ()) -> list[Out]:
    """Run the troubleshooting flow for one message: its replies, then what its ports produced."""
    store, user, conversation, config = turn.store, turn.user, turn.conversation, turn.config
    ports = StorePorts(store, user, conversation, turn.now, config.rules, config.max_years, config.max_failures,
                       turn.desk())
    before = conversation.state
    model, replies = await turn.services.flows.converse(
        store.conversations, conversation, TROUBLESHOOT.name,
        lambda state, data: Troubleshoot(state, data, ports, user.language), act, language=user.language,
        now=turn.now)
    logger.info("chat %s: %s -> %s (%s)", conversation.chat_id, before, model.state,
                ",".join(say.key for say in model.said))
    return [*preface, *replies, *ports.outputs]


async def converse(turn: Turn, message: Inbound, act: Act) -> list[Out]:
    """The flow's answer to a message: greeted first when the conversation is new or restarted."""
    greet = turn.is_new or (isinstance(message, Command) and message.name == "start")

    async def acted(model: Troubleshoot) -> None:
        if greet:
            model.say("greeting")
        await act(model)
    return await troubleshoot(turn, acted)


async def fire(turn: Turn, model: Troubleshoot, trigger: str, **kwargs: object) -> None:
    """Fire `trigger` if the current state has it; otherwise say it is not available here."""
    if not turn.services.flows.can(TROUBLESHOOT.name, model.state, trigger):
        model.say("not_available")
        model.prompt()
        return
    await model.trigger(trigger, **kwargs)  # type: ignore[attr-defined]


def flow_command(trigger: str) -> Handler:
    """A command that fires the troubleshooting flow's `trigger`."""
    async def handle(turn: Turn, message: Command) -> list[Out]:
        return await converse(turn, message, lambda model: fire(turn, model, trigger))
    handle.__name__ = handle.__qualname__ = f"flow_command_{trigger}"
    return handle


async def unknown_command(turn: Turn, message: Command) -> list[Out]:
    async def act(model: Troubleshoot) -> None:
        model.say("unknown_command", command=message.name)
        model.prompt()
    return await converse(turn, message, act)


async def ticket_button(turn: Turn, message: ButtonPress) -> list[Out]:
    """A ticket's button (rate, reopen) pressed when no ticket is active; the flow's when it names none."""
    handled = await turn.desk().merchant_choice(message, turn.user)
    return handled if handled is not None else await press(turn, message)


async def press(turn: Turn, message: ButtonPress) -> list[Out]:
    """A button of the flow's."""
    version = turn.conversation.version

    async def act(model: Troubleshoot) -> None:
        chosen = choice_trigger(message.choice)
        if (message.version not in (None, 0) and message.version != version) or chosen is None:
            model.say("menu_expired")
            model.prompt()
            return
        await fire(turn, model, chosen[0], **chosen[1])
    return await converse(turn, message, act)


async def _offered(turn: Turn, message: Inbound) -> list[Out] | None:
    """Nothing for an edit outside a ticket; the offer to reopen a ticket just closed; None for the flow."""
    if getattr(message, "edited", False):
        return []  # edits outside a ticket change nothing
    return await turn.desk().reopen_offer(message, turn.user)


async def text(turn: Turn, message: Text) -> list[Out]:
    offered = await _offered(turn, message)
    if offered is not None:
        return offered
    config = turn.config

    async def act(model: Troubleshoot) -> None:
        typed = message.text.strip()
        if not typed:
            model.say("empty_message")
            model.prompt()
            return
        if len(typed) > config.max_message_chars:
            model.say("message_too_long", length=len(typed), limit=config.max_message_chars)
            model.prompt()
            return
        answer = yes_or_no(typed) if model.asks_yes_or_no() else None
        if answer is not None:  # "对" / "不是这张" typed instead of pressing the button
            await fire(turn, model, answer)
            return
        understood = cache(partial(turn.services.understand, typed))  # classified only when the flow asks
        if (turn.is_new and understood().intent in (None, "greeting", "ok", "thanks")
                and not names_an_invoice(typed, today=model.ports.today(), max_years=config.max_years)):
            model.prompt()  # a first "hello" gets the greeting and the menu, not a question back
            return
        await fire(turn, model, "provide", text=typed, understood=understood)
    return await converse(turn, message, act)


async def document_read(turn: Turn, message: DocumentRead) -> list[Out]:
    """What was read from a photo or file: its fields to confirm, or why there are none."""
    offered = await _offered(turn, message)
    if offered is not None:
        return offered

    async def act(model: Troubleshoot) -> None:
        read, kind = message.read, message.attachment.kind
        if read.reason:
            model.say(f"read_{read.reason}", kind=kind)
            model.prompt()
            return
        if not read.usable:
            model.say("read_not_invoice", kind=kind)
            model.prompt()
            return
        await fire(turn, model, "read", fields=read.fields, via=read.source)
    return await converse(turn, message, act)


async def file(turn: Turn, message: FileSent | AlbumReceived) -> list[Out]:
    """A file the flow does not read (a voice note, a sticker, an edited caption's file...)."""
    offered = await _offered(turn, message)
    if offered is not None:
        return offered

    async def act(model: Troubleshoot) -> None:
        model.say("attachment_unsupported", kind=message.attachment.kind)
        model.prompt()
    return await converse(turn, message, act)


async def ignore(turn: Turn, message: Inbound) -> list[Out]:
    """Service messages outside a ticket (a topic closed in a private chat) change nothing."""
    return []


async def follow_up_due(turn: Turn, message: FollowUpDue) -> list[Out]:
    """Tell the merchant, and run their lookup again where they are free to see the result."""
    store, now, services = turn.store, turn.now, turn.services
    follow_up = await store.follow_ups.get(message.follow_up_id)
    if follow_up is None or follow_up.delivered_at is not None:
        return []
    follow_up.delivered_at = now
    user = await store.users.get(follow_up.user_id)
    if user is None or user.unreachable:
        return []
    fields = dict(follow_up.fields)
    key = "follow_up_maintenance_over" if follow_up.kind == "maintenance_over" else "follow_up_recheck"
    conversation, _ = await store.conversations.get(follow_up.chat_id, follow_up.user_id,
                                                    initial=TROUBLESHOOT.initial, now=now)
    free = (conversation.flow == TROUBLESHOOT.name and await store.tickets.active(follow_up.chat_id) is None
            and services.flows.can(TROUBLESHOOT.name, conversation.state, "recheck") and bool(fields.get("number")))
    notice = Reply(services.renderer.text(key, user.language, fields=fields, rerun=free), chat_id=follow_up.chat_id)
    logger.info("follow-up %s (%s) delivered to chat %s%s", follow_up.id, follow_up.kind, follow_up.chat_id,
                ", lookup re-run" if free else "")
    if not free:
        return [notice]
    turn.user_or_none, turn.conversation_or_none = user, conversation
    return await troubleshoot(turn, lambda model: model.trigger("recheck", fields=fields),  # type: ignore[attr-defined]
                              preface=[notice])


async def follow_tickets(turn: Turn) -> list[Out]:
    """Merchants' conversations told what a person did with their ticket (the desk asked for it): each fires
    its trigger in the troubleshooting flow, the one place a conversation moves."""
    desk = turn.desk_or_none
    if desk is None or not desk.conversation_triggers:
        return []
    outputs: list[Out] = []
    for ticket, trigger in desk.conversation_triggers:
        conversation, _ = await turn.store.conversations.get(ticket.chat_id, ticket.user_id,
                                                             initial=TROUBLESHOOT.initial, now=turn.now)
        user = await turn.store.users.get(ticket.user_id)
        assert user is not None, f"ticket {ticket.id} of a user never stored"
        config = turn.config
        ports = StorePorts(turn.store, user, conversation, turn.now, config.rules, config.max_years,
                           config.max_failures, desk)
        _, replies = await turn.services.flows.converse(
            turn.store.conversations, conversation, TROUBLESHOOT.name,
            partial(_troubleshoot, ports=ports, language=ticket.language),
            partial(_fire, trigger=trigger, ticket_id=ticket.id),
            language=ticket.language, now=turn.now)
        outputs += replies
    desk.conversation_triggers.clear()
    return outputs


def _troubleshoot(state: str, data: dict[str, Any], *, ports: StorePorts, language: str) -> Troubleshoot:
    return Troubleshoot(state, data, ports, language)


async def _fire(model: Troubleshoot, *, trigger: str, ticket_id: int) -> None:
    """Fire a flow trigger a desk asked for, with the ticket it is about."""
    await model.trigger(trigger, ticket_id=ticket_id)  # type: ignore[attr-defined]
