"""Run the real bot (`bot.serve`, as `python bot.py run` does) against the fake Bot API server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from assistant.settings import Settings
from tests.conftest import FakeClock
from tests.e2e.fake_bot_api import FakeBotAPI
from tests.throwaway_postgres import ThrowawayPostgres, available


GROUP_PERIOD = 3.0
"""Telegram's 20 messages a minute per group, run 20 times faster for tests that are not about it: the
fake server refuses (429) what the bot, told the same period, must not send."""


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    server = FakeBotAPI(group_period=GROUP_PERIOD)
    await server.start()
    yield server
    await server.stop()


class RunningBot:
    """The bot process, in this event loop: start, stop, start again."""

    def __init__(self, settings: Settings, clock: FakeClock) -> None:
        self.settings = settings
        self.clock = clock
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        import bot

        self._stop, ready = asyncio.Event(), asyncio.Event()
        self._task = asyncio.create_task(bot.serve(self.settings, self._stop, clock=self.clock, ready=ready))
        done, _ = await asyncio.wait([self._task, asyncio.create_task(ready.wait())], timeout=20,
                                     return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            self._task.result()  # raises what stopped it
        assert ready.is_set(), "the bot did not start"

    async def stop(self) -> None:
        if self._task is not None and self._stop is not None:
            self._stop.set()
            await asyncio.wait_for(self._task, 30)
            self._task = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()


@pytest.fixture
def bot_settings(api: FakeBotAPI, database_url: str) -> Settings:
    return Settings(database_url=database_url, telegram_bot_token=api.token,  # type: ignore[call-arg]
                    telegram_api_base_url=api.base_url, telegram_api_file_url=api.file_url, poll_timeout=1,
                    admin_ids=[999], scheduler_interval_seconds=0.2, telegram_group_period=GROUP_PERIOD, metrics_port=0,
                    _env_file=None)


@pytest.fixture
async def running(bot_settings: Settings, clock: FakeClock, sessions) -> AsyncIterator[RunningBot]:
    bot = RunningBot(bot_settings, clock)
    await bot.start()
    yield bot
    await bot.stop()


@pytest.fixture
async def throwaway_postgres(database_urls: dict[str, str]) -> AsyncIterator[ThrowawayPostgres]:
    """A migrated PostgreSQL cluster of the test's own, to stop and start (never the machine's server)."""
    if "postgresql" not in database_urls:
        pytest.skip("set TEST_DATABASE_URL to test PostgreSQL")
    if not available():
        pytest.fail("initdb and pg_ctl (PostgreSQL's server package) are needed for a cluster of the test's own")
    cluster = ThrowawayPostgres()
    try:
        await cluster.create()
        yield cluster
    finally:
        await cluster.destroy()
