"""Senders: outputs carried out after their transaction, paced by Telegram's limits, never inside a handler.

A handler's transaction stores its outputs in the outbox and returns; the outputs are handed here
(`submit`) and the inbox's slot and the chat's lock are free at once. Each destination (a chat, the
support group) has a queue of its own, carried out in order, one output at a time, by a small pool of
workers that take the destinations in turn (round robin), so a backlog to one destination never
delays another:

- the support group at most `group_rate` messages per `group_period` (Telegram: about 20 a minute per
  group); a destination waiting for its turn holds no worker;
- a private chat at most `chat_rate` messages a second after a burst of `chat_burst` (Telegram: about
  one a second per chat, short bursts allowed);
- the whole process at most `rate` requests a second (Telegram: about 30 for a bot), a second's worth
  at once: one `Pace`, shared with every other request of the process (broadcasts, button answers).
  A destination is chosen only when the next request may go, so the choice is never stale.

Turns are taken by two classes, alternately while both have work: outputs of an update that also
writes to a group (the support desk: a handoff's confirmation, topic and card; a relayed message) and
the rest (the assistant's conversations). A burst of handoffs thus takes at most half of Telegram's
30 a second from everybody else's conversations, and conversations never starve the desk.

Telegram's "retry after" (429) before anything of an output went out puts it back at the head of its
queue and pauses that destination alone (`Later`).

While an output waits here or is being sent, its outbox lease is renewed (every third of the lease,
for the outputs this process holds: `outbox.renew`, guarded by this process's `owner` token), so the
scheduler never sends again what is merely waiting for its turn; only a process that really stopped
lets its leases run out. An output whose lease could not be renewed in time (the database away) is
not sent from here: whoever claims it after the lease sends it. On a graceful stop what never went
out is given back at once (`outbox.release`).

The updates an output answers are reported answered once the outputs to their own (private) chat are
out, so that chat's next update is handled after them, anywhere; what goes to other chats (the
support group) does not hold the chat up.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from assistant.messages import DeliveryFailed, DeliveryResult
from assistant.outputs import Copy, Out
from assistant.store.engine import transient
from assistant.store.contracts import Units

logger = logging.getLogger(__name__)

CarryOut = Callable[[Out], Awaitable[DeliveryResult]]
Report = Callable[[Sequence[DeliveryResult], Sequence[int]], Awaitable[list[Out]]]
"""The core's `take`: what became of outputs (answering these updates); returns what that calls for."""
REPORT_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0)
"""Waits before reporting results again while the database is away (about 16 s, longer than a restart)."""


async def report_patiently(report: Report, results: Sequence[DeliveryResult], answering: Sequence[int]) -> list[Out]:
    """Give the core the results, waiting out a short database outage: unrecorded, outputs go out twice."""
    for delay in (*REPORT_DELAYS, None):
        try:
            return await report(results, answering)
        except Exception as error:  # noqa: BLE001 - the database is away; the outputs were carried out
            if delay is None or not transient(error):
                logger.error("results of %s output(s) not recorded (%s): they may be sent again", len(results), error)
                return []
            logger.warning("results of %s output(s) not recorded yet (%s); again in %.1f s", len(results), error,
                           delay)
            await asyncio.sleep(delay)
    return []


class Pace:
    """At most `rate` requests a second for the whole process, a second's worth at once (a leaky bucket)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.burst = max(rate, 1.0)
        self.clock = clock
        self._next = 0.0

    def _start(self, now: float) -> float:
        return max(self._next, now - self.burst * self.interval)

    def delay(self) -> float:
        """Seconds until a request may go."""
        now = self.clock()
        return max(0.0, self._start(now) - now) if self.interval else 0.0

    def spend(self, cost: int = 1) -> None:
        """`cost` requests go now."""
        if self.interval:
            self._next = self._start(self.clock()) + cost * self.interval

    async def turn(self, cost: int = 1) -> None:
        """Wait for the turn of `cost` requests (first come, first served), then let them go."""
        if not self.interval:
            return
        now = self.clock()
        start = self._start(now)
        self._next = start + cost * self.interval
        if start > now:
            await asyncio.sleep(start - now)


@dataclass(frozen=True)
class SendLimits:
    group_rate: int = 20
    """Messages to one group per `group_period` (0: no limit)."""
    group_period: float = 60.0
    chat_rate: float = 1.0
    """Messages a second to one private chat, after a burst of `chat_burst` (0: no limit)."""
    chat_burst: int = 10
    workers: int = 16
    """Outputs carried out at once (each waits for its own destination's turn before it takes a worker)."""


class Later(Exception):
    """Telegram asked to wait before any of the output went out: tried again after `seconds`, its
    destination paused meanwhile."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds:.1f} s")
        self.seconds = seconds


def destination(output: Out) -> int:
    """The chat an output goes to."""
    return output.to_chat_id if isinstance(output, Copy) else output.chat_id


@dataclass(eq=False)
class _Job:
    """Outputs handed over together, and the updates they answer."""

    answering: tuple[int, ...]
    chat_id: int | None
    desk: bool = False
    """Whether it writes to a group (the support desk's traffic: bursty, and paced by the group)."""
    waiting: int = 0
    """Outputs to the answered (private) chat not carried out yet; at 0 the updates are reported answered."""


@dataclass(eq=False)
class _Item:
    output: Out
    job: _Job
    own: bool
    """Whether it goes to the chat its job answers (and holds that chat's next update until it is out)."""
    cost: int
    lease_until: datetime | None


@dataclass(eq=False)
class _Lane:
    """One destination: its queue, whether an output of it is being carried out, its pace."""

    chat_id: int
    items: collections.deque[_Item] = field(default_factory=collections.deque)
    busy: bool = False
    queued: bool = False
    """In the ready queue or among the sleepers."""
    ready_at: float = 0.0
    """Not before (Telegram asked to wait)."""
    sent: collections.deque[float] = field(default_factory=collections.deque)
    """A group's recent messages (their times)."""
    tokens: float = 0.0
    """A private chat's messages that may go at once."""
    refilled: float = 0.0


class Senders:
    """Per-destination queues worked off by a pool of workers, at Telegram's pace; leases kept alive."""

    def __init__(self, carry_out: CarryOut, report: Report, units: Units | None, *, owner: str,
                 lease: timedelta, db_clock: Callable[[], datetime], limits: SendLimits = SendLimits(),
                 cost: Callable[[Out], int] = lambda output: 1, pace: Pace | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.carry_out = carry_out
        self.report = report
        self.units = units
        self.owner = owner
        self.lease = lease
        self.db_clock = db_clock
        self.limits = limits
        self.cost = cost
        self.pace = pace or Pace(0)
        self.clock = clock
        self._lanes: dict[int, _Lane] = {}
        self._ready: tuple[collections.deque[_Lane], collections.deque[_Lane]] = (collections.deque(),
                                                                                  collections.deque())
        """Destinations whose turn it may be: the conversations', the desk's."""
        self._turn = 0
        self._sleeping: list[tuple[float, int, _Lane]] = []
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self._held: dict[int, _Item] = {}
        """Outbox entries this process holds (queued or being sent), by id: their leases are renewed."""
        self._closing = False
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.answered: Callable[[int], None] | None = None
        """Told the chat whose updates were just reported answered (the inbox takes up its next one)."""

    # -- handing over -------------------------------------------------------------------------------
    async def submit(self, outputs: Sequence[Out], answering: Sequence[int] = (), chat_id: int | None = None) -> None:
        """Queue outputs (stored in the outbox, leased to this process); returns at once.

        `answering`: the updates these outputs answer, of `chat_id`; they are reported answered once the
        outputs to that chat (when it is a private chat) are out, or at once when there are none.
        """
        job = _Job(tuple(answering), chat_id, desk=any(destination(output) < 0 for output in outputs))
        now = self.db_clock()
        for output in outputs:
            if output.outbox_id is not None and output.outbox_id in self._held:
                continue  # handed out again by the scheduler while it waits here: one copy of it
            own = chat_id is not None and chat_id > 0 and destination(output) == chat_id
            item = _Item(output, job, own, max(1, self.cost(output)),
                         now + self.lease if output.outbox_id is not None else None)
            if own:
                job.waiting += 1
            if output.outbox_id is not None:
                self._held[output.outbox_id] = item
            lane = self._lanes.get(destination(output))
            if lane is None:
                lane = self._lanes[destination(output)] = _Lane(destination(output), tokens=self.limits.chat_burst,
                                                                refilled=self.clock())
            lane.items.append(item)
            self._schedule(lane)
        if job.answering and not job.waiting:
            await self._report([], job.answering)
            self._answered(job)

    @property
    def waiting(self) -> int:
        """Outputs queued or being carried out."""
        return sum(len(lane.items) for lane in self._lanes.values()) + self._in_flight

    # -- pacing ---------------------------------------------------------------------------------------
    def _pace(self, lane: _Lane, cost: int, now: float) -> float:
        """The earliest moment the destination may take `cost` more messages."""
        limits = self.limits
        if lane.chat_id < 0 and limits.group_rate > 0:
            while lane.sent and now - lane.sent[0] >= limits.group_period:
                lane.sent.popleft()
            over = len(lane.sent) + min(cost, limits.group_rate) - limits.group_rate
            return max(lane.ready_at, now if over <= 0 else lane.sent[over - 1] + limits.group_period)
        if lane.chat_id > 0 and limits.chat_rate > 0:
            self._refill(lane, now)
            need = min(cost, limits.chat_burst)
            return max(lane.ready_at, now if lane.tokens >= need else now + (need - lane.tokens) / limits.chat_rate)
        return lane.ready_at

    def _refill(self, lane: _Lane, now: float) -> None:
        lane.tokens = min(self.limits.chat_burst, lane.tokens + (now - lane.refilled) * self.limits.chat_rate)
        lane.refilled = now

    def _rested(self, lane: _Lane, now: float) -> bool:
        """Whether an idle destination's pace has nothing left to remember (it may be forgotten)."""
        if lane.ready_at > now:
            return False
        if lane.chat_id < 0 and self.limits.group_rate > 0:
            return not lane.sent or now - lane.sent[-1] >= self.limits.group_period
        if lane.chat_id > 0 and self.limits.chat_rate > 0:
            return lane.tokens + (now - lane.refilled) * self.limits.chat_rate >= self.limits.chat_burst
        return True

    def _spend(self, lane: _Lane, cost: int, now: float) -> None:
        limits = self.limits
        if lane.chat_id < 0 and limits.group_rate > 0:
            lane.sent.extend([now] * cost)
        elif lane.chat_id > 0 and limits.chat_rate > 0:
            self._refill(lane, now)
            lane.tokens -= cost

    def _schedule(self, lane: _Lane) -> None:
        """Put a destination with work and no output in flight among the ready or the sleeping ones."""
        now = self.clock()
        if lane.busy or lane.queued:
            return
        if not lane.items:
            if self._rested(lane, now) and self._lanes.get(lane.chat_id) is lane:
                del self._lanes[lane.chat_id]
            return
        at = self._pace(lane, lane.items[0].cost, now)
        lane.queued = True
        if at <= now:
            self._ready[lane.items[0].job.desk].append(lane)
        else:
            heapq.heappush(self._sleeping, (at, next(self._order), lane))
        self._wake.set()

    def _wakened(self, now: float) -> None:
        while self._sleeping and self._sleeping[0][0] <= now:
            lane = heapq.heappop(self._sleeping)[2]
            self._ready[lane.items[0].job.desk if lane.items else 0].append(lane)

    async def _next(self) -> _Lane | None:
        """The next destination whose turn it is, chosen once a request may go: the two classes in turn,
        round robin within each. None when closing and nothing can go at once."""
        while True:
            self._wakened(self.clock())
            if not any(self._ready):
                if self._closing:
                    return None
                self._wake.clear()
                timeout = self._sleeping[0][0] - self.clock() if self._sleeping else None
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout)
                except TimeoutError:
                    pass
                continue
            delay = self.pace.delay()
            if delay > 0:
                await asyncio.sleep(delay)
                self._wakened(self.clock())
            if not self._ready[self._turn]:
                self._turn ^= 1
            if not self._ready[self._turn]:
                continue
            lane = self._ready[self._turn].popleft()
            self._turn ^= 1  # the other class next
            lane.queued = False
            if lane.items:
                return lane
            self._schedule(lane)

    # -- working ----------------------------------------------------------------------------------------
    async def run(self, closing: asyncio.Event) -> None:
        """Work off the queues until `closing` is set, then carry out what may go at once (10 s at most),
        and give back the leases of what is left."""
        dispatching = asyncio.create_task(self._dispatch())
        renewing = asyncio.create_task(self._renew_all())
        try:
            await closing.wait()
        finally:
            self._closing = True
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(dispatching), 10)
            except TimeoutError:
                pass
            for task in (dispatching, renewing, *self._tasks):
                task.cancel()
            await asyncio.gather(dispatching, renewing, *self._tasks, return_exceptions=True)
            await self._release_all()

    async def _dispatch(self) -> None:
        """Hand the destination whose turn it is to a worker, at most `workers` at once."""
        workers = asyncio.Semaphore(self.limits.workers)
        while True:
            await workers.acquire()
            lane = await self._next()
            if lane is None:
                break
            item = lane.items.popleft()
            lane.busy = True
            self.pace.spend(item.cost)
            self._in_flight += 1
            task = asyncio.create_task(self._work(lane, item, workers))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self._tasks:
            await asyncio.wait(list(self._tasks))

    async def _work(self, lane: _Lane, item: _Item, workers: asyncio.Semaphore) -> None:
        try:
            await self._carry(lane, item)
        except Exception:  # noqa: BLE001 - a bug here must not stop the others
            logger.exception("sending to %s failed", lane.chat_id)
        finally:
            self._in_flight -= 1
            lane.busy = False
            workers.release()
            self._schedule(lane)

    def _leased(self, item: _Item) -> bool:
        """Whether this process still certainly holds the output's lease (for a third of a lease more)."""
        return item.lease_until is None or item.lease_until - self.db_clock() >= self.lease / 3

    async def _carry(self, lane: _Lane, item: _Item) -> None:
        output = item.output
        if not self._leased(item):
            logger.warning("outbox entry %s: its lease could not be renewed in time; left to whoever claims it",
                           output.outbox_id)
            self._forget(item)
            return
        self._spend(lane, item.cost, self.clock())
        try:
            result: DeliveryResult = await self.carry_out(output)
        except Later as later:
            logger.info("chat %s: Telegram asks to wait %.1f s; this destination waits, others go on", lane.chat_id,
                        later.seconds)
            lane.items.appendleft(item)
            lane.ready_at = self.clock() + later.seconds
            return
        except Exception as error:  # noqa: BLE001 - tried again once its lease runs out
            logger.warning("could not carry out %s to %s: %s", type(output).__name__, lane.chat_id, error)
            result = DeliveryFailed(output, "error", str(error))
        self._forget(item)
        job = item.job
        answering: tuple[int, ...] = ()
        if item.own:
            job.waiting -= 1
            if not job.waiting:
                answering = job.answering
        more = await self._report([result], answering)
        if answering:
            self._answered(job)
        if more:
            await self.submit(more)

    def _answered(self, job: _Job) -> None:
        if self.answered is not None and job.chat_id is not None:
            self.answered(job.chat_id)

    def _forget(self, item: _Item) -> None:
        if item.output.outbox_id is not None and self._held.get(item.output.outbox_id) is item:
            del self._held[item.output.outbox_id]

    async def _report(self, results: Sequence[DeliveryResult], answering: Sequence[int]) -> list[Out]:
        return await report_patiently(self.report, results, answering)

    # -- leases ------------------------------------------------------------------------------------------
    async def _renew_all(self) -> None:
        interval = max(self.lease.total_seconds() / 3, 0.05)
        while True:
            await asyncio.sleep(interval)
            self._prune()
            try:
                await self.renew()
            except Exception as error:  # noqa: BLE001 - tried again next time; an output at risk is not sent
                logger.warning("outbox leases not renewed (%s)", error)

    def _prune(self) -> None:
        """Forget idle destinations whose pace has recovered (a chat that was answered long ago)."""
        now = self.clock()
        for chat_id, lane in list(self._lanes.items()):
            if not lane.items and not lane.busy and not lane.queued and self._rested(lane, now):
                del self._lanes[chat_id]

    async def renew(self) -> None:
        """Extend the leases of every output held here; one another process holds now is dropped."""
        if self.units is None or not self._held:
            return
        ids = list(self._held)
        until = self.db_clock() + self.lease
        async with self.units(alone=True) as unit:
            kept = await unit.outbox.renew(ids, self.owner, until)
        for entry_id in ids:
            item = self._held.get(entry_id)
            if item is None:
                continue  # carried out meanwhile
            if entry_id in kept:
                item.lease_until = until
                continue
            logger.warning("outbox entry %s is not ours any more; not sent from here", entry_id)
            del self._held[entry_id]
            lane = self._lanes.get(destination(item.output))
            if lane is not None and item in lane.items:
                lane.items.remove(item)

    async def _release_all(self) -> None:
        """Give back the leases of what never went out, so that the next process sends it at once."""
        if self.units is None or not self._held:
            return
        ids = list(self._held)
        try:
            async with self.units(alone=True) as unit:
                await unit.outbox.release(ids, self.owner, self.db_clock())
            logger.info("%s output(s) not sent before stopping; given back to the outbox", len(ids))
        except Exception as error:  # noqa: BLE001 - their leases run out instead
            logger.warning("%s output(s) not given back (%s); their leases run out", len(ids), error)
        self._held.clear()
