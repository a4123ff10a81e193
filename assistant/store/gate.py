"""Who gets the next database connection: bookkeeping before the rest.

Every unit of work holds one of the process's few connections (SQLite: the one) from its start to its
end, and the pool hands them out first come, first served. Under load dozens of handling transactions
wait in that line, and storing a received update waited behind all of them: a webhook call answered a
second late, the inbox claiming work late, chats kept waiting for the "sent" mark that frees them. The
gate lets as many units through as there are connections, and of those waiting, the short bookkeeping
ones (`Units(alone=True)`) first, so that updates keep coming in and going out while handling queues.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

logger = logging.getLogger(__name__)


class Gate:
    """At most `slots` holders at once; of those waiting, the urgent ones first, each kind in order."""

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._urgent: collections.deque[asyncio.Future[None]] = collections.deque()
        self._others: collections.deque[asyncio.Future[None]] = collections.deque()

    @asynccontextmanager
    async def held(self, urgent: bool = False) -> AsyncIterator[None]:
        await self._acquire(urgent)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, urgent: bool) -> None:
        if self._free > 0 and not self._urgent and not self._others:
            self._free -= 1
            return
        waiting: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        line = self._urgent if urgent else self._others
        line.append(waiting)
        try:
            await waiting
        except asyncio.CancelledError:
            if waiting.done() and not waiting.cancelled():
                self._release()  # handed the slot just as the waiter was cancelled: pass it on
            elif waiting in line:
                line.remove(waiting)
            raise

    def _release(self) -> None:
        for line in (self._urgent, self._others):
            while line:
                waiting = line.popleft()
                if not waiting.done():
                    waiting.set_result(None)  # the slot goes straight to the next waiter
                    return
        self._free += 1
