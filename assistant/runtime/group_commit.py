"""Group commit: many small writes that arrive together carried out in one transaction.

Every caller waits until its own items are written (or the write failed, which it is told), so nothing
is weaker than one transaction each; under load, whatever arrived while one write was running goes in
the next, which turns N transactions into about one per round trip. With `isolate`, a write of several
callers that failed in a way that trying again would not mend is done again caller by caller, so that
one caller's bad items fail only that caller.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


class GroupCommit(Generic[T]):
    """Collects items and writes them with `write(items)`, one write at a time."""

    def __init__(self, write: Callable[[list[T]], Awaitable[None]], limit: int = 500,
                 isolate: Callable[[Exception], bool] | None = None) -> None:
        self.write = write
        self.limit = limit
        """At most this many items in one write."""
        self.isolate = isolate
        """Whether a failure of a shared write should be tried again caller by caller."""
        self._waiting: collections.deque[tuple[Sequence[T], asyncio.Future[None]]] = collections.deque()
        self._writer: asyncio.Task[None] | None = None

    async def add(self, items: Sequence[T]) -> None:
        """Return once `items` are written; raise what the write raised."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((items, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        await future  # a caller cancelled meanwhile is skipped; its items are written all the same

    async def _drain(self) -> None:
        while self._waiting:
            group: list[tuple[Sequence[T], asyncio.Future[None]]] = []
            count = 0
            while self._waiting and (not group or count + len(self._waiting[0][0]) <= self.limit):
                items, future = self._waiting.popleft()
                group.append((items, future))
                count += len(items)
            try:
                await self.write([item for items, _ in group for item in items])
            except Exception as error:  # noqa: BLE001 - every caller in the group is told
                if len(group) > 1 and self.isolate is not None and self.isolate(error):
                    logger.warning("a write of %s callers failed (%s); writing each alone", len(group), error)
                    for items, future in group:
                        await self._write_alone(items, future)
                    continue
                _tell([future for _, future in group], error)
                continue
            _tell([future for _, future in group])

    async def _write_alone(self, items: Sequence[T], future: asyncio.Future[None]) -> None:
        try:
            await self.write(list(items))
        except Exception as error:  # noqa: BLE001 - this caller is told
            _tell([future], error)
            return
        _tell([future])


def _tell(futures: list[asyncio.Future[None]], error: Exception | None = None) -> None:
    """Give waiting callers their outcome (a caller cancelled meanwhile is skipped)."""
    for future in futures:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
