"""What the transport did with outputs, and updates given up on: handlers in the routing table."""

from __future__ import annotations

import logging

from assistant.messages import DeadLettered, DeliveryFailed, OutputDelivered
from assistant.outputs import Copy, OpenTopic, Out, Progress, Reply
from assistant.turn import Turn

logger = logging.getLogger(__name__)


async def dead_lettered(turn: Turn, message: DeadLettered) -> list[Out]:
    """Updates that failed again and again: marked dead, and the merchant told once."""
    store, config = turn.store, turn.config
    batch = message.batch
    await store.inbox.finish(batch.ids, turn.now, state="dead", error=message.reason)
    if batch.chat_id <= 0 or batch.chat_id == config.support.chat_id:
        return []  # groups: staff see it in /stats and `bot.py inbox list`
    user = await store.users.get(batch.user_id) if batch.user_id is not None else None
    language = user.language if user is not None else config.default_language
    file = batch.kind in ("photo", "document")
    return [Reply(turn.services.renderer.text("inbox_dead", language, file=file), chat_id=batch.chat_id)]


async def delivered(turn: Turn, message: OutputDelivered) -> list[Out]:
    """Record what Telegram assigned: a ticket's topic and card, relayed messages' copies, a progress message."""
    store, now = turn.store, turn.now
    output = message.output
    if output.outbox_id is not None and not await store.outbox.mark_sent_once(output.outbox_id, now):
        return []  # recorded before (a report tried again after an outage)
    if isinstance(output, Progress):
        if output.message_id is None and message.message_ids:
            if output.job == "import":
                await store.imports.progress_posted(output.broadcast_id, message.message_ids[0])
            else:
                await store.broadcasts.progress_posted(output.broadcast_id, message.message_ids[0])
        return []
    if isinstance(output, OpenTopic):
        return await turn.desk().topic_opened(output, message.thread_id, message.message_ids)
    if isinstance(output, Copy):
        await turn.desk().relayed(output, message.message_ids)
    return []


async def undelivered(turn: Turn, message: DeliveryFailed) -> list[Out]:
    """A user who blocked the bot is not written to again; a copy whose topic is gone gets a new one."""
    store, now = turn.store, turn.now
    output = message.output
    if output.outbox_id is not None and not await store.outbox.mark_sent_once(output.outbox_id, now):
        return []  # acted on before
    desk = turn.desk()
    if message.reason == "blocked":
        if isinstance(output, Copy):
            return await desk.merchant_unreachable(output.ticket_id)
        logger.info("chat %s blocked the bot; marked unreachable", output.chat_id)
        await store.users.set_unreachable(output.chat_id)
        return []
    if message.reason in ("topic_gone", "no_topic") and isinstance(output, Copy):
        return await desk.topic_lost(output, gone=message.reason == "topic_gone")
    if message.reason == "no_rights" and isinstance(output, OpenTopic):
        return await desk.topic_refused(output, message.error)
    return []
