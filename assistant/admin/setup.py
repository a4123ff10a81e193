"""`/id`, for setting the bot up: the chat's id (SUPPORT_CHAT_ID) and the sender's (ADMIN_IDS), in any chat."""

from __future__ import annotations

import logging

from assistant.messages import Command
from assistant.outputs import Out, Reply
from assistant.turn import Turn
from flows.base import Say

logger = logging.getLogger(__name__)


async def chat_ids(turn: Turn, message: Command) -> list[Out]:
    """The chat's, the sender's (and the topic's) ids, answered where it was asked; nothing else changes."""
    group = message.chat_id < 0
    text, buttons = turn.services.renderer.render(
        Say("chat_ids", {"chat_id": message.chat_id, "user_id": message.user_id, "thread_id": message.thread_id,
                         "group": group}, []), turn.user.language)
    logger.info("/id in chat %s", message.chat_id)
    return [Reply(text, buttons, chat_id=message.chat_id, thread_id=message.thread_id,
                  reply_to=message.message_id)]
