"""A burst of handoffs against Telegram's real limits: nobody else waits for the support group, nothing twice.

The fake Bot API enforces Telegram's 20 messages a minute per group (429 beyond), so 80 handoffs at
once put 160 messages (a topic and a card each) in the support group's queue: eight minutes of it.
Meanwhile other merchants ask for /help and are measured; the outbox lease is 3 s, so an output whose
lease were not renewed while it waits for the group's turn would be sent again many times over.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

import pytest

from assistant.store.models import OutboxEntry
from tests.e2e.fake_bot_api import FakeBotAPI, Merchant
from tests.e2e.processes import BotProcess
from tests.stored import rows

pytestmark = pytest.mark.e2e
SUPPORT = -1009876543210
HANDOFFS = 80
ASKING = 8
"""Other merchants, each asking for /help every 1.5 s (Telegram allows one message a second per chat)."""
SECONDS = 15.0


async def ask_help(merchant: Merchant, offset: float, until: float, latencies: list[float]) -> None:
    await asyncio.sleep(offset)  # the merchants ask at different moments of each 1.5 s
    while time.monotonic() < until:
        before = len(merchant.inbox)
        started = time.monotonic()
        await merchant.send("/help")
        await merchant.api.wait_for(lambda: any("使用说明" in m["text"] for m in merchant.inbox[before:]), timeout=30)
        latencies.append(time.monotonic() - started)
        await asyncio.sleep(1.5)


def p99(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.99 + 0.5) - 1)]


async def test_a_burst_of_handoffs_delays_nobody_else_and_sends_nothing_twice(database_url: str, sessions,
                                                                              tmp_path: Path) -> None:
    api = FakeBotAPI()  # Telegram's own pace for groups: 20 a minute
    await api.start()
    bot = BotProcess(api, database_url, tmp_path / "bot.log", SUPPORT_CHAT_ID=str(SUPPORT), OUTBOX_LEASE_SECONDS="3",
                     LOG_LEVEL="INFO")
    await bot.start()
    try:
        asking = [Merchant(api, 5000 + n) for n in range(ASKING)]
        handing_off = [Merchant(api, 6000 + n) for n in range(HANDOFFS)]
        await asyncio.gather(*(merchant.say("/start", timeout=60) for merchant in asking + handing_off))
        latencies: list[float] = []
        until = time.monotonic() + SECONDS
        helping = asyncio.gather(*(ask_help(merchant, 1.5 * n / ASKING, until, latencies)
                                   for n, merchant in enumerate(asking)))
        await asyncio.sleep(2)
        for merchant in handing_off:  # all at once
            await merchant.send("/human")
        await helping
        for merchant in handing_off:
            await api.wait_for(lambda m=merchant: any("工单 <b>#" in x["text"] for x in m.inbox), timeout=30)
        await asyncio.sleep(4)  # more than a lease after the last confirmation: a re-send would show by now
        print(f"/help during {HANDOFFS} handoffs: {len(latencies)} asked, p50 {statistics.median(latencies):.3f} s,"
              f" p99 {p99(latencies):.3f} s; topics created {len(api.topics)}")
        assert p99(latencies) < 1.0
        confirmations = [sum("工单 <b>#" in x["text"] for x in m.inbox) for m in handing_off]
        assert confirmations == [1] * HANDOFFS  # every merchant told once
        names = [topic["name"].split(" · ")[0] for topic in api.topics.values()]
        assert len(names) == len(set(names)) and len(names) >= 10  # no ticket has two topics; the group's pace
        cards = [m for m in api.messages[SUPPORT] if m.get("reply_markup")]
        assert len(cards) == len({m["message_thread_id"] for m in cards})  # one card a topic
        assert api.group_too_many == 0  # the bot kept to the group's limit: Telegram never had to say so
    finally:
        await bot.stop()
        await api.stop()
    assert "left unsent by a stopped sender" not in bot.output()  # no lease ran out: nothing handed out again
    async with sessions() as session:
        owed = [entry for entry in await rows(session, OutboxEntry) if entry.chat_id == SUPPORT and not entry.sent_at]
    assert owed and all(entry.attempts == 0 for entry in owed)  # waiting for the group's turn, given back untried
