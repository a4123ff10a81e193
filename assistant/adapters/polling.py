"""Long polling into the durable inbox: updates are stored, then confirmed at once.

An update is confirmed to Telegram (the `offset` of the next getUpdates) as soon as it is stored, so a
slow or failing update never holds back those after it, and one that crashes the process is not
fetched again and again: the inbox counts its attempts and dead-letters it. When the database cannot
be reached nothing is confirmed, and the same updates are fetched again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram.error import Conflict, NetworkError, RetryAfter, TimedOut

from assistant.adapters.bot_api_http import allow_raw_calls
from assistant.runtime.inbox import backoff, pause

logger = logging.getLogger(__name__)


class Poller:
    """Fetch updates as JSON, store them with `receive`, confirm them by moving the offset."""

    def __init__(self, bot: Any, receive: Callable[[list[dict[str, Any]]], Awaitable[None]], *, timeout: int,
                 allowed_updates: list[str] | None = None, limit: int = 100) -> None:
        self.bot = bot
        self.receive = receive
        self.timeout = timeout
        self.allowed_updates = allowed_updates
        self.limit = limit
        self.offset: int | None = None
        self._polled_once = False
        """Whether Telegram has answered a getUpdates of this process yet."""
        allow_raw_calls()

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set."""
        failures = 0
        while not stop.is_set():
            fetched = await self._fetch(stop)
            if not fetched:
                continue
            try:
                await self.receive(fetched)
            except Exception as error:  # noqa: BLE001 - the database is away: fetch the same updates again
                failures += 1
                delay = backoff(failures)
                logger.warning("%s update(s) not stored (%s); not confirmed, fetched again in %.1f s", len(fetched),
                               error, delay)
                await pause(stop, delay)
                continue
            failures = 0
            self.offset = max(int(data["update_id"]) for data in fetched) + 1

    async def _fetch(self, stop: asyncio.Event) -> list[dict[str, Any]]:
        """The updates from the offset on, as JSON."""
        kwargs: dict[str, Any] = {"limit": self.limit, "timeout": self.timeout}
        if self.offset is not None:
            kwargs["offset"] = self.offset
        if self.allowed_updates is not None:
            kwargs["allowed_updates"] = self.allowed_updates
        try:
            result = await self.bot.do_api_request("getUpdates", api_kwargs=kwargs,  # raw JSON: RAW_METHODS
                                                   read_timeout=self.timeout + 10)
            self._polled_once = True
            return [data for data in (result or []) if isinstance(data, dict) and "update_id" in data]
        except Conflict as error:
            if not self._polled_once:
                raise  # at start: another process polls, or a webhook is set — the operator is told, in one line
            logger.warning("getUpdates: another process polls with this token (409 Conflict: %s); only one may "
                           "poll", error.message)
            delay = 5.0
        except RetryAfter as error:
            wait = error.retry_after
            delay = float(wait.total_seconds() if hasattr(wait, "total_seconds") else wait)
        except (TimedOut, NetworkError) as error:
            logger.warning("getUpdates failed: %s", error)
            delay = 1.0
        await pause(stop, delay)
        return []
