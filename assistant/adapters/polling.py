"""Long polling that confirms an update to Telegram only once it has been handled.

python-telegram-bot's own updater confirms every fetched update on its next getUpdates, handled or
not. Here the offset only moves past an unbroken run of handled updates: an update that could not be
handled (the database is down) is tried again, and after a crash Telegram delivers it again. Updates
handled meanwhile are recognised by the core's update journal and not handled twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.error import NetworkError, RetryAfter, TimedOut

logger = logging.getLogger(__name__)

RETRY_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)


class Poller:
    """Fetch updates, handle them concurrently (the application's processor orders each chat), confirm."""

    def __init__(self, bot: Any, process: Callable[[Update], Awaitable[bool]], *, timeout: int,
                 allowed_updates: list[str] | None = None, limit: int = 100) -> None:
        self.bot = bot
        self.process = process
        self.timeout = timeout
        self.allowed_updates = allowed_updates
        self.limit = limit
        self.offset: int | None = None  # the lowest update id not yet handled
        self._running: dict[int, asyncio.Task[None]] = {}
        self._handled: set[int] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; unfinished updates are left unconfirmed for the next start."""
        try:
            while not stop.is_set():
                fetched = await self._fetch(stop)
                ids = [int(data["update_id"]) for data in fetched]
                fresh = [data for data in fetched
                         if data["update_id"] not in self._running and data["update_id"] not in self._handled]
                for data in fresh:  # only new ones are parsed: unconfirmed ones come back on every call
                    update = Update.de_json(data, self.bot)
                    self._running[update.update_id] = asyncio.create_task(self._handle(update, stop))
                if not fresh and self._running:  # only unfinished ones came back: wait for one to finish
                    await asyncio.wait([*self._running.values()], timeout=1.0,
                                       return_when=asyncio.FIRST_COMPLETED)
                self._advance(ids)
        finally:
            for task in self._running.values():
                task.cancel()
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def _fetch(self, stop: asyncio.Event) -> list[dict[str, Any]]:
        """The updates from the offset on, as JSON (parsing them all each time would cost more than handling)."""
        timeout = 0 if self._running else self.timeout
        kwargs: dict[str, Any] = {"limit": self.limit, "timeout": timeout}
        if self.offset is not None:
            kwargs["offset"] = self.offset
        if self.allowed_updates is not None:
            kwargs["allowed_updates"] = self.allowed_updates
        try:
            result = await self.bot.do_api_request("getUpdates", api_kwargs=kwargs, read_timeout=timeout + 10)
            return list(result or [])
        except RetryAfter as error:
            wait = error.retry_after
            delay = float(wait.total_seconds() if hasattr(wait, "total_seconds") else wait)
        except (TimedOut, NetworkError) as error:
            logger.warning("getUpdates failed: %s", error)
            delay = 1.0
        try:
            await asyncio.wait_for(stop.wait(), delay)
        except TimeoutError:
            pass
        return []

    async def _handle(self, update: Update, stop: asyncio.Event) -> None:
        """Handle one update, trying again while the database is unavailable."""
        attempt = 0
        while not await self.process(update):
            delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)]
            attempt += 1
            logger.warning("update %s not handled (attempt %s); trying again in %.1f s", update.update_id,
                           attempt, delay)
            try:
                await asyncio.wait_for(stop.wait(), delay)
                return  # stopping: left unconfirmed, Telegram delivers it again at the next start
            except TimeoutError:
                pass
        self._handled.add(update.update_id)

    def _advance(self, fetched: list[int]) -> None:
        """Move the offset past every handled update that has no unhandled one before it."""
        for update_id in [u for u, task in self._running.items() if task.done()]:
            self._running.pop(update_id)
        seen = sorted(set(fetched) | self._handled | set(self._running))
        for update_id in seen:
            if update_id not in self._handled:
                break
            self.offset = update_id + 1
        self._handled = {u for u in self._handled if self.offset is None or u >= self.offset}
