"""Broadcasts: sent at a limited rate, each recipient's state recorded, resumable after a crash.

Every recipient is marked `sending` (committed) before its message goes out and `sent`, `blocked` or
`failed` after. On resume, `sending` recipients are not sent again: Telegram has no idempotency key,
so a message whose request may or may not have arrived is reported as unconfirmed instead of risking a
duplicate (at most one message each; the gap is a crash between that commit and the request).

A message Telegram refuses for everyone (too long, malformed) stops the broadcast: it is marked
failed and the admin is told so, with what was delivered, instead of every recipient failing in turn.

The admin's progress message and the summary are outputs like any other: stored in the outbox in the
transaction that decides them, carried out after it (the id of the posted progress message comes
back as a delivery result), sent again by whichever process looks next if this one dies first.
"""

from __future__ import annotations

import asyncio
import secrets
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from assistant.outputs import Out, Progress, Reply
from assistant.replies import Renderer
from assistant.store.contracts import UnitOfWork, Units

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
POSTING = -1
"""progress_message_id once the progress message is in the outbox, until Telegram's id is recorded."""
Executor = Callable[[list[Out]], Awaitable[None]]


@dataclass(frozen=True)
class Delivery:
    """What happened to one message: sent, blocked (403), failed, unconfirmed, retry after some seconds, or
    refused: Telegram will take this message from nobody (too long, malformed), so the broadcast stops."""

    outcome: str
    retry_after: float = 0.0
    reason: str = ""


class BroadcastTransport(Protocol):
    async def deliver(self, chat_id: int, text: str) -> Delivery: ...


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

    def __init__(self, units: Units, renderer: Renderer, transport: BroadcastTransport, execute: Executor,
                 rate: float, clock: Callable[[], datetime], progress_every: float = 2.0, batch: int = 200,
                 outbox_lease: timedelta = timedelta(seconds=30),
                 stopping: Callable[[], bool] = lambda: False, owner: str | None = None,
                 hold_for: timedelta = timedelta(seconds=60)) -> None:
        self.units = units
        self.renderer = renderer
        self.transport = transport
        self.execute = execute  # carries out outputs from the outbox and reports what became of them
        self.outbox_lease = outbox_lease
        self.owner = owner  # of the outbox leases, like the core's
        self.runner = owner or f"runner:{secrets.token_hex(8)}"
        """Who holds a broadcast while sending it: one process at a time, so `rate` is the rate across them."""
        self.hold_for = hold_for
        self._held_until: datetime | None = None
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

    async def _hold(self, broadcast_id: int, renewing: bool = False) -> bool:
        """Hold the broadcast (renewed once half the hold has passed); False when another process sends it."""
        now = self.clock()
        if renewing and self._held_until is not None and now < self._held_until - self.hold_for / 2:
            return True
        async with self.units() as store:
            held = await store.broadcasts.hold(broadcast_id, self.runner, now, now + self.hold_for)
        self._held_until = now + self.hold_for if held else None
        return held

    async def _let_go(self, broadcast_id: int) -> None:
        self._held_until = None
        async with self.units() as store:
            await store.broadcasts.let_go(broadcast_id, self.runner)

    async def run(self, broadcast_id: int) -> None:
        if not await self._hold(broadcast_id):
            logger.debug("broadcast %s is being sent by another process", broadcast_id)
            return
        try:
            await self._run(broadcast_id)
        finally:
            if self._held_until is not None:
                await self._let_go(broadcast_id)

    async def _run(self, broadcast_id: int) -> None:
        async with self.units() as store:
            broadcast = await store.broadcasts.get(broadcast_id)
            if broadcast is None or broadcast.state != "running":
                return
            admin = await store.users.get(broadcast.created_by)
            language = admin.language if admin else "zh"
            text, total, admin_chat = broadcast.text, broadcast.total, broadcast.progress_chat_id
            posting: list[Out] = []
            if broadcast.progress_message_id is None:
                broadcast.progress_message_id = POSTING  # the core records Telegram's id once it is posted
                posting = await self._enqueue(store, [Progress(broadcast_id, admin_chat, self.renderer.text(
                    "broadcast_progress", language, broadcast_id=broadcast_id, total=total, sent=0, blocked=0,
                    failed=0, pending=total))])
        await self._carry_out(broadcast_id, posting)  # never a Bot API call while the row is locked
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
                    await self._progress(broadcast_id, language, total)
                    return  # resumed by the next start
                if not await self._hold(broadcast_id, renewing=True):
                    logger.warning("broadcast %s: another process took it over (this one was too slow to renew "
                                   "its hold)", broadcast_id)
                    return
                refused = await self._send_one(broadcast_id, user_id, message)
                if refused is not None:
                    await self._finish(broadcast_id, language, total, refused=refused)
                    return
                if time.monotonic() - last_progress >= self.progress_every:
                    last_progress = time.monotonic()
                    await self._progress(broadcast_id, language, total)
        await self._finish(broadcast_id, language, total)

    async def _send_one(self, broadcast_id: int, user_id: int, message: str) -> str | None:
        """Send to one recipient; Telegram's reason when it refuses the message itself (for everyone)."""
        async with self.units() as store:
            if not await store.broadcasts.set_recipient(broadcast_id, user_id, "sending", self.clock(), only_if="pending"):
                return None  # another process has it
        outcome, refused = "failed", None
        for _ in range(MAX_ATTEMPTS):
            await self.pacer.wait()
            delivery = await self.transport.deliver(user_id, message)
            if delivery.outcome == "unconfirmed":  # it may have arrived: not sent again, counted as unconfirmed
                outcome = "sending"
                break
            if delivery.outcome == "refused":  # nobody can be sent this text: back in line, the broadcast fails
                outcome, refused = "pending", delivery.reason or "refused"
                break
            if delivery.outcome != "retry":
                outcome = delivery.outcome
                break
            logger.info("broadcast %s: retrying %s after %.1f s", broadcast_id, user_id, delivery.retry_after)
            await asyncio.sleep(delivery.retry_after)
            await self._hold(broadcast_id, renewing=True)  # a long "retry after" must not let the hold lapse
        async with self.units() as store:
            await store.broadcasts.set_recipient(broadcast_id, user_id, outcome, self.clock())
            if outcome == "blocked":
                await store.users.set_unreachable(user_id)
        return refused

    async def _enqueue(self, store: UnitOfWork, outputs: list[Out]) -> list[Out]:
        return await store.outbox.enqueue(outputs, self.clock(), self.outbox_lease, self.owner)

    async def _carry_out(self, broadcast_id: int, outputs: list[Out]) -> None:
        """Carry out what is in the outbox now; what fails stays there and is sent again later."""
        if not outputs:
            return
        try:
            await self.execute(outputs)
        except Exception as error:  # noqa: BLE001 - a courtesy to the admin: the broadcast goes on
            logger.info("broadcast %s: progress not shown yet (%s); the outbox has it", broadcast_id, error)

    def _progress_text(self, broadcast_id: int, language: str, total: int, counts: dict[str, int]) -> str:
        return self.renderer.text("broadcast_progress", language, broadcast_id=broadcast_id, total=total, **{
            k: v for k, v in counts.items() if k != "sending"})

    async def _progress(self, broadcast_id: int, language: str, total: int) -> None:
        """Edit the progress message, once Telegram's id for it is known (a courtesy: sending goes on)."""
        counts = await self._counts(broadcast_id)
        async with self.units() as store:
            broadcast = await store.broadcasts.get(broadcast_id)
            if broadcast is None or broadcast.progress_message_id is None or broadcast.progress_message_id < 0:
                return
            text = self._progress_text(broadcast_id, language, total, counts)
            outputs = await self._enqueue(store, [Progress(broadcast_id, broadcast.progress_chat_id, text,
                                                           broadcast.progress_message_id)])
        await self._carry_out(broadcast_id, outputs)

    async def _finish(self, broadcast_id: int, language: str, total: int, refused: str | None = None) -> None:
        """Done, or failed when Telegram refused the message itself: the admin is told which, with the counts."""
        counts = await self._counts(broadcast_id)
        async with self.units() as store:
            broadcast = await store.broadcasts.get(broadcast_id)
            if broadcast is None or broadcast.state != "running":
                return
            broadcast.state, broadcast.finished_at = ("done" if refused is None else "failed"), self.clock()
            summary = Reply(self.renderer.text("broadcast_done" if refused is None else "broadcast_failed", language,
                                               broadcast_id=broadcast_id, total=total, sent=counts["sent"],
                                               blocked=counts["blocked"], failed=counts["failed"],
                                               uncertain=counts["sending"], pending=counts["pending"],
                                               reason=refused or ""),
                            chat_id=broadcast.progress_chat_id)
            message_id = broadcast.progress_message_id
            last = ([Progress(broadcast_id, broadcast.progress_chat_id,
                              self._progress_text(broadcast_id, language, total, counts), message_id)]
                    if message_id is not None and message_id >= 0 else [])
            outputs = await self._enqueue(store, [*last, summary])
        await self._carry_out(broadcast_id, outputs)
        if refused is not None:
            logger.error("broadcast %s failed, Telegram refused its message (%s): %s", broadcast_id, refused, counts)
        else:
            logger.info("broadcast %s finished: %s", broadcast_id, counts)
