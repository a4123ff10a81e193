"""The support room's handlers in the routing table: the staff's messages and commands, a merchant's while a
ticket is active, a merchant's ticket buttons, tickets that fell due."""

from __future__ import annotations

import logging

from assistant.messages import ButtonPress, Command, Inbound, TicketsDue, TopicClosed, TopicReopened
from assistant.outputs import Out
from assistant.support.staff import StaffAction, StaffSide
from assistant.turn import Handler, Turn

logger = logging.getLogger(__name__)


# -- the support group (audience `staff`)
def _staff(action: StaffAction, *, ticketed: bool = True) -> Handler:
    async def handle(turn: Turn, message: Command | ButtonPress) -> list[Out]:
        outputs = await turn.desk().staff_command(message, turn.user, action, ticketed=ticketed)
        logger.info("support chat, topic %s: %s output(s)", message.thread_id, len(outputs))
        return outputs
    handle.__name__ = handle.__qualname__ = action.__name__
    return handle


claim = _staff(StaffSide.do_claim)
close = _staff(StaffSide.do_close)
reopen = _staff(StaffSide.do_reopen)
reply = _staff(StaffSide.do_reply)
queue = _staff(StaffSide.do_queue, ticketed=False)
lookup = _staff(StaffSide.do_lookup, ticketed=False)


async def staff_message(turn: Turn, message: Inbound) -> list[Out]:
    """A reply to a merchant, written in their ticket's topic."""
    outputs = await turn.desk().staff_message(message, turn.user)
    logger.info("support chat, topic %s: %s output(s)", message.thread_id, len(outputs))
    return outputs


async def topic_service(turn: Turn, message: TopicClosed | TopicReopened) -> list[Out]:
    """A topic closed or reopened by hand in Telegram."""
    return await turn.desk().topic_service(message, turn.user)


async def not_ours(turn: Turn, message: Inbound) -> list[Out]:
    """Commands for other bots or people, internal notes, other buttons: nothing to do."""
    return []


# -- a merchant whose ticket is active (audience `ticket`)
async def still_active(turn: Turn, message: Inbound) -> list[Out]:
    return turn.desk().still_active(turn.ticket)


async def ask_withdraw(turn: Turn, message: Command) -> list[Out]:
    return turn.desk().ask_withdraw(turn.ticket)


async def answer_withdraw(turn: Turn, message: ButtonPress) -> list[Out]:
    return await turn.desk().answer_withdraw(message, turn.user, turn.ticket)


async def help_during_ticket(turn: Turn, message: Command) -> list[Out]:
    return turn.desk().help_during_ticket(message, turn.user, turn.ticket)


async def switch_language(turn: Turn, message: Command) -> list[Out]:
    return turn.desk().switch_language(message, turn.user, turn.ticket)


async def ticket_list(turn: Turn, message: Command) -> list[Out]:
    return [await turn.desk().ticket_list(turn.user, message.chat_id)]


async def relay_to_staff(turn: Turn, message: Inbound) -> list[Out]:
    outputs = await turn.desk().relay_to_staff(message, turn.user, turn.ticket)
    logger.info("chat %s: ticket relay/action, %s output(s)", message.chat_id, len(outputs))
    return outputs


# -- what fell due (audience `system`)
async def tickets_due(turn: Turn, message: TicketsDue) -> list[Out]:
    return await turn.desk().due()
