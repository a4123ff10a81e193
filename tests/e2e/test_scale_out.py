"""Several bot processes on one database: exactly once, in order, surviving a kill and a database restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from assistant.store.inbox import InboxStore
from tests.e2e.fake_bot_api import FakeBotAPI, Merchant
from tests.e2e.processes import BotProcess, free_port, keyboard_versions, numbered, quoted
from tests.throwaway_postgres import ThrowawayPostgres

pytestmark = pytest.mark.e2e
GREETING = "发票查询助手"


async def test_two_webhook_processes_handle_each_update_once_and_in_order(api: FakeBotAPI, database_url: str,
                                                                           sessions, tmp_path: Path) -> None:
    ports = [free_port(), free_port()]
    bots = [BotProcess(api, database_url, tmp_path / f"bot{n}.log", "--webhook", "https://bot.example.com/hook",
                       "--listen", "127.0.0.1", "--port", str(port)) for n, port in enumerate(ports)]
    for bot, port in zip(bots, ports):
        await bot.start(ready_url=f"http://127.0.0.1:{port}/healthz")
    try:
        api.webhook_targets = [f"http://127.0.0.1:{port}/hook" for port in ports]  # the load balancer
        merchants = [Merchant(api, 3000 + n) for n in range(6)]
        texts = [numbered(n) for n in range(8)]
        sent: dict[int, list[int]] = {}
        for merchant in merchants:  # everything at once: chats in parallel, each chat's updates in turn
            sent[merchant.user_id] = [await merchant.send("/start")]
            for text in texts:
                sent[merchant.user_id].append(await merchant.send(text))
        for merchant in merchants:
            await api.wait_for(lambda m=merchant: len(keyboard_versions(m.inbox)) >= len(texts) + 1, timeout=60)
        await asyncio.sleep(0.5)  # nothing more arrives late
        for merchant in merchants:
            assert quoted(merchant.inbox) == texts  # every update answered once, in order
            assert keyboard_versions(merchant.inbox) == list(range(1, len(texts) + 2))
            assert len([m for m in merchant.inbox if GREETING in m["text"]]) == 1
            assert len(merchant.inbox) == 2 + len(texts)  # the greeting and the menu, then one answer per update
        assert all(status == 200 for _, _, status in api.deliveries)
        target_of = {update_id: target for update_id, target, _ in api.deliveries}
        for ids in sent.values():  # each chat's updates went to one process, then the other
            assert [target_of[update_id] for update_id in ids] == [api.webhook_targets[n % 2] for n in range(len(ids))]
    finally:
        for bot in bots:
            assert await bot.stop() == 0, bot.output()
    for bot in bots:
        assert "Traceback" not in bot.output()


async def test_a_process_killed_between_commit_and_send_sends_the_missing_reply_once_after_restart(
        api: FakeBotAPI, database_url: str, sessions, tmp_path: Path) -> None:
    env = {"OUTBOX_LEASE_SECONDS": "1"}
    first = BotProcess(api, database_url, tmp_path / "first.log", **env)
    await first.start()
    merchant = Merchant(api, 1001)
    await merchant.say("/start")
    api.held_chats.add(1001)  # the next reply never gets through: the process is killed while sending it
    update_id = await merchant.send("/help")
    await api.wait_for(lambda: len(api.held) == 1)
    assert "使用说明" in api.held[0].params["text"]  # committed: the answer is being sent
    await first.kill()
    api.held_chats.clear()
    assert not any("使用说明" in m["text"] for m in merchant.inbox)

    second = BotProcess(api, database_url, tmp_path / "second.log", **env)
    await second.start()
    try:
        await api.wait_for(lambda: len(keyboard_versions(merchant.inbox)) == 2, timeout=30)
        assert api.confirmed >= update_id  # stored in the inbox before the kill, so confirmed: never fetched again
        await asyncio.sleep(2.5)  # more than two leases: nothing is sent twice
        assert len([m for m in merchant.inbox if "使用说明" in m["text"]]) == 1
        assert keyboard_versions(merchant.inbox) == [1, 2]  # the update was not handled a second time
        assert "left unsent by a stopped sender" in second.output()
        async with sessions() as session:
            entry = await InboxStore(session).entry(update_id)
        assert entry is not None and entry.state == "done" and entry.attempts == 1
    finally:
        assert await second.stop() == 0, second.output()


async def test_postgres_restarted_during_traffic_loses_nothing(api: FakeBotAPI,
                                                               throwaway_postgres: ThrowawayPostgres,
                                                               tmp_path: Path) -> None:
    """The server goes down while merchants chat and comes back: every message is answered, once, in order.

    The restart is a stop and a start, so that messages certainly arrive while it is down; the server is a
    cluster of the test's own.
    """
    bot = BotProcess(api, throwaway_postgres.url, tmp_path / "bot.log", OUTBOX_LEASE_SECONDS="10")
    await bot.start()
    merchants = [Merchant(api, 4000 + n) for n in range(5)]
    texts = [numbered(n) for n in range(12)]
    answered_while_down: list[int] = []

    async def chat(merchant: Merchant) -> None:
        await merchant.say("/start", timeout=60)
        for text in texts:
            await merchant.say(text, timeout=60)
            await asyncio.sleep(0.1)

    try:
        chats = asyncio.gather(*(chat(merchant) for merchant in merchants))
        await api.wait_for(lambda: all(len(keyboard_versions(m.inbox)) >= 3 for m in merchants), timeout=30)
        await throwaway_postgres.stop()
        try:
            stopped = sum(len(m.inbox) for m in merchants)
            await asyncio.sleep(2)  # merchants keep writing; nothing can be handled
            answered_while_down.append(sum(len(m.inbox) for m in merchants) - stopped)
        finally:
            await throwaway_postgres.start()
        await asyncio.wait_for(chats, 120)
        await asyncio.sleep(2.5)  # leases run out: nothing is sent twice
        assert answered_while_down == [0]
        for merchant in merchants:
            assert quoted(merchant.inbox) == texts
            assert keyboard_versions(merchant.inbox) == list(range(1, len(texts) + 2))
        assert "not stored" in bot.output() or "database unavailable" in bot.output()  # the outage was met
    finally:
        assert await bot.stop() == 0, bot.output()


async def test_three_processes_start_together_on_a_fresh_postgres(api: FakeBotAPI, database_urls: dict[str, str],
                                                                  tmp_path: Path) -> None:
    """Each process migrates at start; the migration lock makes them take turns (without it, two of three died
    on a UniqueViolation creating the same tables)."""
    if "postgresql" not in database_urls:
        pytest.skip("set TEST_DATABASE_URL to test PostgreSQL")
    cluster = ThrowawayPostgres()
    try:
        await cluster.create(migrate=False)  # an empty database: no schema yet
        ports = [free_port() for _ in range(3)]
        bots = [BotProcess(api, cluster.url, tmp_path / f"bot{n}.log", "--webhook", "https://bot.example.com/hook",
                           "--listen", "127.0.0.1", "--port", str(port)) for n, port in enumerate(ports)]
        await asyncio.gather(*(bot.start(ready_url=f"http://127.0.0.1:{port}/healthz")
                               for bot, port in zip(bots, ports)))
        try:
            api.webhook_targets = [f"http://127.0.0.1:{port}/hook" for port in ports]
            merchant = Merchant(api, 7001)
            assert GREETING in await merchant.say("/start", timeout=30)
        finally:
            for bot in bots:
                assert await bot.stop() == 0, bot.output()
        for bot in bots:
            assert "Traceback" not in bot.output() and "UniqueViolation" not in bot.output()
    finally:
        await cluster.destroy()
