"""Albums are assembled from stored updates: a database outage or a kill -9 loses none of their photos."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from assistant.store.inbox import InboxStore
from tests.conftest import SUPPORT_CHAT
from tests.e2e.fake_bot_api import FakeBotAPI, Merchant
from tests.e2e.processes import BotProcess
from tests.throwaway_postgres import ThrowawayPostgres

pytestmark = pytest.mark.e2e


class Outage:
    """A database the test can make unusable: a PostgreSQL cluster of the test's own, stopped; SQLite, locked by
    another process past the bot's busy timeout."""

    def __init__(self, url: str, cluster: ThrowawayPostgres | None) -> None:
        self.url = url
        self._cluster = cluster

    @asynccontextmanager
    async def during(self) -> AsyncIterator[None]:
        if self._cluster is not None:
            await self._cluster.stop()
            try:
                yield
            finally:
                await self._cluster.start()
            return
        locker = sqlite3.connect(self.url.split("///", 1)[1], isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            yield
            await asyncio.sleep(11)  # longer than the bot's 10 s busy timeout: its writes fail, not just wait
        finally:
            locker.execute("ROLLBACK")
            locker.close()


@pytest.fixture
def outage_database(request: pytest.FixtureRequest, backend: str, database_url: str, sessions) -> Outage:
    if backend == "postgresql":
        cluster: ThrowawayPostgres = request.getfixturevalue("throwaway_postgres")
        return Outage(cluster.url, cluster)
    return Outage(database_url, None)


async def open_ticket(api: FakeBotAPI, merchant: Merchant) -> int:
    await merchant.say("/start")
    await merchant.send("/human")
    await api.wait_for(lambda: api.calls_of("createForumTopic") and api.topics, timeout=20)
    return next(iter(api.topics))


async def album(merchant: Merchant, group: str) -> list[int]:
    return [(await merchant.photo(media_group_id=group, caption="三张发票" if n == 0 else None))["message_id"]
            for n in range(3)]


def copied_albums(api: FakeBotAPI) -> list[list[int]]:
    return [list(call.params["message_ids"]) for call in api.calls_of("copyMessages")]


def copied_into_topics(api: FakeBotAPI) -> list[int]:
    """The merchant's messages copied into the support group's topics, in order, however they were grouped."""
    copied: list[int] = []
    for call in api.calls:
        if call.method in ("copyMessages", "copyMessage") and call.status == 200 and call.params.get(
                "message_thread_id") and str(call.params["chat_id"]) == str(SUPPORT_CHAT):
            copied += [int(i) for i in call.params.get("message_ids") or [call.params["message_id"]]]
    return copied


async def test_an_album_sent_during_a_database_outage_reaches_the_topic(api: FakeBotAPI, outage_database: Outage,
                                                                       tmp_path: Path) -> None:
    bot = BotProcess(api, outage_database.url, tmp_path / "bot.log", SUPPORT_CHAT_ID=str(SUPPORT_CHAT))
    await bot.start()
    try:
        merchant = Merchant(api, 1001)
        await open_ticket(api, merchant)
        async with outage_database.during():
            ids = await album(merchant, "outage-album")
            await asyncio.sleep(2)
            assert not api.calls_of("copyMessages")
        # every photo reaches the ticket's topic once, in order; as one album, unless the outage made the poller
        # store the album's photos more than the album's second apart (then as the parts it stored)
        await api.wait_for(lambda: copied_into_topics(api) == ids, timeout=60)
        await asyncio.sleep(1)
        assert copied_into_topics(api) == ids, "relayed once"
        # the outage was real: the poller could not store them, or the inbox could not claim, at first
        output = bot.output()
        assert any(mark in output for mark in ("not stored", "database unavailable", "database is locked")), output
    finally:
        assert await bot.stop() == 0, bot.output()


async def test_an_album_stored_just_before_a_kill_reaches_the_topic(api: FakeBotAPI, database_url: str, sessions,
                                                                   tmp_path: Path) -> None:
    env = {"SUPPORT_CHAT_ID": str(SUPPORT_CHAT), "INBOX_LEASE_SECONDS": "2"}
    bot = BotProcess(api, database_url, tmp_path / "first.log", **env)
    await bot.start()
    merchant = Merchant(api, 1001)
    await open_ticket(api, merchant)
    ids = await album(merchant, "kill-album")

    async def stored() -> int:
        async with sessions() as session:
            return len([e for e in await InboxStore(session).entries(("pending",)) if e.kind == "photo"])

    for _ in range(100):
        if await stored() == 3:
            break
        await asyncio.sleep(0.02)
    await bot.kill()  # within the album's second: stored and confirmed, not yet relayed
    assert await stored() == 3 and not api.calls_of("copyMessages")
    second = BotProcess(api, database_url, tmp_path / "second.log", **env)
    await second.start()
    try:
        await api.wait_for(lambda: copied_albums(api) == [ids], timeout=30)
        await asyncio.sleep(1)
        assert copied_albums(api) == [ids], "relayed once"
    finally:
        assert await second.stop() == 0, second.output()
