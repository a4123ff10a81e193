"""The durable inbox: every update is stored on receipt and confirmed at once, then handled from here.

Workers (any number, in any number of processes) claim the next update of chats nobody is handling;
one chat's updates are handled one at a time and in order, different chats independently, so a slow
or failing update of one chat never delays another. Attempts are counted before handling: an update
that failed, or whose process died, `max_attempts` times is dead-lettered — the merchant is told once,
it shows in /stats and `bot.py inbox` — instead of looping.

An update whose process died while handling it (a crash suspect: its lease ran out unfinished) has a
lane of its own, one at a time beside the `concurrency` slots of fresh work: it is taken up within a
poll of its lease running out however busy the process is, and costs other chats at most that one
lane. Not in the first lease after a start, so that a crash loop costs other chats nothing either.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from assistant import metrics
from assistant.runtime.bookkeeping import Bookkeeping
from assistant.outputs import Out, Unavailable
from assistant.store.engine import transient
from assistant.store.inbox import Batch, Received
from assistant.store.contracts import UnitOfWork, Units

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
RETRY_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)
"""Waits before trying the database again, then every 10 s."""


def backoff(failures: int) -> float:
    """The wait after `failures` (one or more) failures in a row."""
    return RETRY_DELAYS[min(failures, len(RETRY_DELAYS)) - 1]


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or less when `stop` is set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass


def stand_in(payload: dict[str, Any]) -> int:
    """A key for an update whose own id the database cannot hold: negative (Telegram's ids never are), and
    the same for the same update, so a delivery of it again is recognised."""
    text = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=True)
    return -(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 2) - 1


@dataclass(frozen=True)
class InboxConfig:
    max_attempts: int = 3
    lease: timedelta = timedelta(seconds=60)
    """How long a worker may take over one update before another process takes it as crashed."""
    album_wait: timedelta = timedelta(seconds=1)
    """An album is handled once no photo of it has arrived for this long."""
    concurrency: int = 64
    """Chats handled at once by this process."""
    poll_seconds: float = 0.5
    """How often to look for work stored by other processes or falling due (retries, expired leases)."""
    retry_base: float = 2.0


Handler = Callable[[Batch], Awaitable[bool]]
"""Handle a batch; True when the core recorded it done, False when nothing needed handling."""
DeadLetter = Callable[[Batch, str], Awaitable[list[Out]]]
"""Mark a batch dead and say so to the merchant: the outputs (already in the outbox) to carry out."""
Executor = Callable[[list[Out]], Awaitable[None]]


class Inbox:
    """Receives updates into the database and works them off.

    Storing and claiming go through `bookkeeping` (shared with the core's "sent" marks in `bot.py`):
    updates that arrive together (webhook requests at once), the answers sent meanwhile and the next
    claim are written in one short transaction.
    """

    def __init__(self, units: Units, config: InboxConfig, clock: Clock, bookkeeping: Bookkeeping | None = None) -> None:
        self.units = units
        self.config = config
        self.clock = clock
        self.bookkeeping = bookkeeping or Bookkeeping(units)
        self._wake = asyncio.Event()
        self._running: dict[int, asyncio.Task[None]] = {}
        self._suspect: tuple[int, asyncio.Task[None]] | None = None
        """The crash suspect in hand (its chat and its task), in a lane of its own."""
        self._looked_for_suspects: datetime | None = None
        self._started = clock()
        self._hints: set[int] = set()
        """Chats that may have work since the last claim: updates stored for them here, or their handling ended."""
        self._scanned: datetime | None = None
        """When a claim last looked through every pending update."""

    async def receive(self, updates: Sequence[Received]) -> None:
        """Store updates; raises when the database cannot be reached.

        An update the database refuses for good (an id or a chat id out of its range, say) is stored as a
        dead letter instead, so that it is confirmed like any other: admins see it (`bot.py inbox list`,
        /stats), and Telegram does not deliver it again and again.
        """
        chats = {u.chat_id for u in updates}
        self._hints |= chats  # for a claim in the round that stores them…
        try:
            await self.bookkeeping.store(updates, self.clock())
        except Exception as error:
            if transient(error):
                raise
            await self._store_apart(updates)
        metrics.UPDATES_RECEIVED.inc(len(updates))
        self._hints |= chats  # …and, should a claim in an earlier round have taken the hint, for the next one
        self._wake.set()

    async def _store_apart(self, updates: Sequence[Received]) -> None:
        """Store updates one by one; one the database refuses for good becomes a dead letter."""
        for update in updates:
            try:
                await self.bookkeeping.store([update], self.clock())
                continue
            except Exception as error:
                if transient(error):
                    raise
                reason = f"not storable: {type(error).__name__}: {error}"
            logger.error("update %s cannot be stored (%s); kept as a dead letter", update.update_id, reason)
            await self._bury_on_arrival(update, reason)

    async def _bury_on_arrival(self, update: Received, reason: str) -> None:
        """A dead letter for an update the inbox cannot take: under its own id if that fits, else a stand-in."""
        payload: dict[str, Any] = {"update": update.payload}
        for key, body in ((update.update_id, payload), (stand_in(update.payload), payload),
                          (stand_in(update.payload), {"unstorable": repr(update.payload)[:20000]})):
            try:
                async with self.units(alone=True) as unit:
                    await unit.inbox.bury(key, body, reason, self.clock())
                return
            except Exception as error:
                if transient(error):
                    raise
        logger.error("update %s could not even be kept as a dead letter; it is only in this log: %r",
                     update.update_id, update.payload)

    def hint(self, chat_id: int) -> None:
        """The chat may have work now (its previous answer went out): looked at in the next claim."""
        self._hints.add(chat_id)
        self._wake.set()

    async def run(self, handle: Handler, dead_letter: DeadLetter, execute: Executor, stop: asyncio.Event) -> None:
        """Work off the inbox until `stop`; unfinished work is left leased, and taken up again later."""
        failures = 0
        try:
            while not stop.is_set():
                self._wake.clear()
                await self._take_up_suspect(handle, dead_letter, execute)  # however busy the slots are
                free = self.config.concurrency - len(self._running)
                if free > 0:
                    try:
                        batches = await self._claim(free)
                        failures = 0
                    except Exception as error:
                        if not transient(error):
                            logger.exception("inbox: claiming work failed")
                        else:
                            logger.warning("inbox: database unavailable (%s)", error)
                        batches = []
                        failures += 1
                        await pause(stop, backoff(failures))
                        continue
                    for batch in batches:
                        task = asyncio.create_task(self._work(batch, handle, dead_letter, execute))
                        self._running[batch.chat_id] = task
                        def done(_task: asyncio.Task[None], chat: int = batch.chat_id) -> None:
                            self._done(chat)
                        task.add_done_callback(done)
                    if batches and len(batches) == free:
                        continue  # there may be more at once
                waits: list[asyncio.Future[object]] = [asyncio.ensure_future(self._wake.wait()),
                                                       asyncio.ensure_future(stop.wait())]
                await asyncio.wait(waits, timeout=self.config.poll_seconds, return_when=asyncio.FIRST_COMPLETED)
                for waiting in waits:
                    waiting.cancel()
        finally:
            running = list(self._running.values()) + ([self._suspect[1]] if self._suspect else [])
            if running:
                _, late = await asyncio.wait(running, timeout=10)
                for task in late:
                    task.cancel()
                await asyncio.gather(*running, return_exceptions=True)

    def _done(self, chat_id: int) -> None:
        self._running.pop(chat_id, None)
        self._hints.add(chat_id)  # its next update, if one came meanwhile
        self._wake.set()

    async def _take_up_suspect(self, handle: Handler, dead_letter: DeadLetter, execute: Executor) -> None:
        """Start the next crash suspect in its lane, when the lane is free (looked for once a poll)."""
        if self._suspect is not None:
            return
        now = self.clock()
        if self._looked_for_suspects is not None and now - self._looked_for_suspects < timedelta(
                seconds=self.config.poll_seconds):
            return
        self._looked_for_suspects = now
        try:
            batch = await self._claim_suspect()
        except Exception as error:  # noqa: BLE001 - looked for again next poll
            logger.warning("inbox: looking for crash suspects failed (%s)", error)
            return
        if batch is None:
            return
        logger.warning("updates %s of chat %s: their process stopped while handling them; taken up again (attempt %s)",
                       batch.ids, batch.chat_id, batch.attempts)
        task = asyncio.create_task(self._work(batch, handle, dead_letter, execute))
        suspect_chat = batch.chat_id
        self._suspect = (suspect_chat, task)

        def done(_task: asyncio.Task[None], chat: int = suspect_chat) -> None:
            self._suspect = None
            self._hints.add(chat)
            self._wake.set()
        task.add_done_callback(done)

    async def _claim_suspect(self) -> Batch | None:
        """The oldest update whose process died while handling it (its lease ran out), leased to this one;
        none in the first lease after a start."""
        config = self.config
        if self.clock() - self._started < config.lease:
            return None
        busy = set(self._running) | ({self._suspect[0]} if self._suspect else set())

        async def claim(unit: UnitOfWork) -> list[Batch]:
            return await unit.inbox.claim(self.clock(), lease=config.lease, limit=1, busy=busy,
                                          album_wait=config.album_wait, suspects=True)
        batches = await self.bookkeeping.ask(claim)
        return batches[0] if batches else None

    async def _claim(self, limit: int) -> list[Batch]:
        """Fresh work (crash suspects have their own lane: `_claim_suspect`).

        Between looks through every pending update (one each `poll_seconds`: other processes' updates,
        retries and leases falling due, albums complete), a claim looks only at the chats this process
        knows to have new work (`_hints`): under load there are many claims a second, and on PostgreSQL
        reading every pending update also reads the versions that finished updates left in the index
        until the table is vacuumed.
        """
        config = self.config
        busy = set(self._running) | ({self._suspect[0]} if self._suspect else set())
        started = self.clock()
        everything = self._scanned is None or started - self._scanned >= timedelta(seconds=config.poll_seconds)
        hinted, self._hints = self._hints, set()
        only = None if everything else hinted - busy
        if only is not None and not only:
            return []

        async def claim(unit: UnitOfWork) -> list[Batch]:  # each lease is taken by one guarded statement
            return await unit.inbox.claim(self.clock(), lease=config.lease, limit=limit, busy=busy,
                                          album_wait=config.album_wait, only=only)
        try:
            batches = await self.bookkeeping.ask(claim)
        except BaseException:
            self._hints |= hinted
            raise
        if everything:
            self._scanned = started
        if len(batches) == limit:  # the chats not taken may have work too
            self._hints |= hinted - {batch.chat_id for batch in batches}
        return batches

    async def _work(self, batch: Batch, handle: Handler, dead_letter: DeadLetter, execute: Executor) -> None:
        config = self.config
        if batch.attempts > config.max_attempts:  # its earlier attempts never finished: the process died
            logger.error("updates %s of chat %s: %s attempts did not finish; dead-lettered", batch.ids,
                         batch.chat_id, batch.attempts - 1)
            await self._dead(batch, f"the process stopped while handling it, {batch.attempts - 1} times",
                             dead_letter, execute)
            return
        started = time.monotonic()
        try:
            async with asyncio.timeout(config.lease.total_seconds() * 0.9):
                recorded = await handle(batch)
        except Unavailable as error:
            metrics.UPDATES_HANDLED.labels(result="retried").inc(len(batch.ids))
            logger.warning("updates %s of chat %s: database unavailable (%s); tried again", batch.ids,
                           batch.chat_id, error)
            await self._release(batch, retry_at=None, error=f"database unavailable: {error}", uncount=True)
            return
        except Exception as error:  # noqa: BLE001 - Failed, a timeout, or a bug: tried again, then dead-lettered
            reason = f"{type(error).__name__}: {error}"
            if batch.attempts >= config.max_attempts:
                logger.error("updates %s of chat %s failed %s times (%s); dead-lettered", batch.ids, batch.chat_id,
                             batch.attempts, reason)
                await self._dead(batch, reason, dead_letter, execute)
                return
            delay = config.retry_base ** batch.attempts
            metrics.UPDATES_HANDLED.labels(result="retried").inc(len(batch.ids))
            logger.warning("updates %s of chat %s failed (attempt %s: %s); again in %.0f s", batch.ids,
                           batch.chat_id, batch.attempts, reason, delay)
            await self._release(batch, retry_at=self.clock() + timedelta(seconds=delay), error=reason)
            return
        metrics.HANDLING_SECONDS.observe(time.monotonic() - started)
        metrics.UPDATES_HANDLED.labels(result="done").inc(len(batch.ids))
        if not recorded:
            await self._retrying(lambda: self._finish(batch))

    async def _finish(self, batch: Batch) -> None:
        async with self.units(alone=True) as unit:
            await unit.inbox.finish(batch.ids, self.clock())

    async def _release(self, batch: Batch, **how: object) -> None:
        async def release() -> None:
            async with self.units() as unit:
                await unit.inbox.release(batch.ids, **how)  # type: ignore[arg-type]
        await self._retrying(release)

    async def _dead(self, batch: Batch, reason: str, dead_letter: DeadLetter, execute: Executor) -> None:
        metrics.UPDATES_HANDLED.labels(result="dead").inc(len(batch.ids))
        outputs: list[Out] = []

        async def bury() -> None:
            outputs.extend(await dead_letter(batch, reason))
        await self._retrying(bury)
        if outputs:
            await execute(outputs)

    async def _retrying(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run a short bookkeeping transaction, waiting out a database outage (the lease covers the rest)."""
        for delay in (*RETRY_DELAYS, None):
            try:
                await work()
                return
            except Exception as error:
                if delay is None or not transient(error):
                    logger.error("inbox bookkeeping failed (%s); the lease will hand the update out again", error)
                    return
                await asyncio.sleep(delay)
