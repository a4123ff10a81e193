"""Broadcasts: sent at a limited rate, each recipient's state recorded, resumable after a crash.

Every recipient is marked `sending` (committed) before its message goes out and `sent`, `blocked` or
`failed` after. On resume, `sending` recipients are not sent again: Telegram has no idempotency key,
so a message whose request may or may not have arrived is reported as unconfirmed instead of risking a
duplicate (at most one message each; the gap is a crash between that commit and the request).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


from assistant.replies import Renderer
from assistant.store.uow import Units

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
POSTING = -1
"""progress_message_id while the progress message is being posted (a crash then: posted again)."""


@dataclass(frozen=True)
class Delivery:
    """What happened to one message: sent, blocked (403), failed, or retry after some seconds."""

    outcome: str
    retry_after: float = 0.0


class BroadcastTransport(Protocol):
    async def deliver(self, chat_id: int, text: str) -> Delivery: ...
    async def post(self, chat_id: int, text: str) -> int: ...
    async def edit(self, chat_id: int, message_id: int, text: str) -> None: ...


class Pacer:
    """At most `rate` sends a second, evenly spaced (no bursts that would earn a 429)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next_at = 0.0

    async def wait(self) -> None:
        now = time.monotonic()
        if self.next_at > now:
            await asyncio.sleep(self.next_at - now)
        self.next_at = max(self.next_at, now) + self.interval


class BroadcastRunner:
    """Runs every unfinished broadcast; several processes may run it (recipients are claimed)."""

    def __init__(self, units: Units, renderer: Renderer, transport: BroadcastTransport,
                 rate: float, clock: Callable[[], datetime], progress_every: float = 2.0, batch: int = 200,
                 stopping: Callable[[], bool] = lambda: False) -> None:
        self.units = units
        self.renderer = renderer
        self.transport = transport
        self.pacer = Pacer(rate)
        self.clock = clock
        self.progress_every = progress_every
        self.batch = batch
        self.stopping = stopping  # a graceful stop ends between two recipients, never mid-send

    async def run_all(self) -> None:
        async with self.units() as store:
            ids = [b.id for b in await store.broadcasts.running()]
        for broadcast_id in ids:
            if self.stopping():
                return
            await self.run(broadcast_id)

    async def _counts(self, broadcast_id: int) -> dict[str, int]:
        async with self.units() as store:
            counts = await store.broadcasts.recipient_counts(broadcast_id)
        return {state: counts.get(state, 0) for state in ("pending", "sending", "sent", "blocked", "failed")}

    async def run(self, broadcast_id: int) -> None:
        async with self.units() as store:
            broadcast = await store.broadcasts.get(broadcast_id)
            if broadcast is None or broadcast.state != "running":
                return
            admin = await store.users.get(broadcast.created_by)
            language = admin.language if admin else "zh"
            text, total, admin_chat = broadcast.text, broadcast.total, broadcast.progress_chat_id
            progress_id = broadcast.progress_message_id
            if progress_id is None or progress_id == POSTING:
                broadcast.progress_message_id = POSTING  # posted below, after this transaction
        if progress_id is None or progress_id == POSTING:  # never a Bot API call while the row is locked
            progress_id = await self.transport.post(admin_chat, self.renderer.text(
                "broadcast_progress", language, broadcast_id=broadcast_id, total=total, sent=0, blocked=0,
                failed=0, pending=total))
            async with self.units() as store:
                broadcast = await store.broadcasts.get(broadcast_id)
                if broadcast is not None:
                    broadcast.progress_message_id = progress_id
        message = self.renderer.text("broadcast_message", "zh", text=text)
        logger.info("broadcast %s: sending to %s recipients", broadcast_id, total)
        last_progress = time.monotonic()
        while True:
            async with self.units() as store:
                batch = await store.broadcasts.pending_recipients(broadcast_id, self.batch)
            if not batch:
                break
            for user_id in batch:
                if self.stopping():
                    await self._progress(broadcast_id, language, total, admin_chat, progress_id)
                    return  # resumed by the next start
                await self._send_one(broadcast_id, user_id, message)
                if time.monotonic() - last_progress >= self.progress_every:
                    last_progress = time.monotonic()
                    await self._progress(broadcast_id, language, total, admin_chat, progress_id)
        await self._finish(broadcast_id, language, total, admin_chat, progress_id)

    async def _send_one(self, broadcast_id: int, user_id: int, message: str) -> None:
        async with self.units() as store:
            if not await store.broadcasts.set_recipient(broadcast_id, user_id, "sending", self.clock(), only_if="pending"):
                return  # another process has it
        outcome = "failed"
        for _ in range(MAX_ATTEMPTS):
            await self.pacer.wait()
            delivery = await self.transport.deliver(user_id, message)
            if delivery.outcome != "retry":
                outcome = delivery.outcome
                break
            logger.info("broadcast %s: retrying %s after %.1f s", broadcast_id, user_id, delivery.retry_after)
            await asyncio.sleep(delivery.retry_after)
        async with self.units() as store:
            await store.broadcasts.set_recipient(broadcast_id, user_id, outcome, self.clock())
            if outcome == "blocked":
                await store.users.set_unreachable(user_id)

    async def _progress(self, broadcast_id: int, language: str, total: int, chat_id: int, message_id: int) -> None:
        counts = await self._counts(broadcast_id)
        text = self.renderer.text("broadcast_progress", language, broadcast_id=broadcast_id, total=total, **{
            k: v for k, v in counts.items() if k != "sending"})
        try:
            await self.transport.edit(chat_id, message_id, text)
        except Exception as error:  # noqa: BLE001 - progress is a courtesy; sending goes on
            logger.info("broadcast %s: progress not shown: %s", broadcast_id, error)

    async def _finish(self, broadcast_id: int, language: str, total: int, chat_id: int, message_id: int) -> None:
        counts = await self._counts(broadcast_id)
        async with self.units() as store:
            broadcast = await store.broadcasts.get(broadcast_id)
            if broadcast is None or broadcast.state != "running":
                return
            broadcast.state, broadcast.finished_at = "done", self.clock()
        await self._progress(broadcast_id, language, total, chat_id, message_id)
        summary = self.renderer.text("broadcast_done", language, broadcast_id=broadcast_id, total=total,
                                     sent=counts["sent"], blocked=counts["blocked"], failed=counts["failed"],
                                     uncertain=counts["sending"])
        await self.transport.post(chat_id, summary)
        logger.info("broadcast %s finished: %s", broadcast_id, counts)
