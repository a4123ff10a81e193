"""Hostile files through the real bot: each is refused within bounds while other chats are answered at once."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from pathlib import Path

import pytest

from tests.e2e.fake_bot_api import FakeBotAPI, Merchant
from tests.e2e.processes import BotProcess
from tests.hostile import big_page_pdf, big_xml, huge_png, zip_bomb_ofd

pytestmark = pytest.mark.e2e

# (name, content, what the sender is told): content None is a download that never ends and states no size
HOSTILE = [
    ("big-page.pdf", lambda: big_page_pdf(5000), "没有找到发票信息"),
    ("five-big-pages.pdf", lambda: big_page_pdf(5000, pages=5), "没有找到发票信息"),
    ("huge-page.pdf", lambda: big_page_pdf(14400), "没有找到发票信息"),
    ("huge.png", lambda: huge_png(13000, 13000), "太大或太复杂"),
    ("bomb.ofd", lambda: zip_bomb_ofd(200, 20 * 1024 * 1024), "为安全起见"),
    ("big.xml", lambda: big_xml(19 * 1024 * 1024), "太大或太复杂"),
    ("no-size.pdf", lambda: None, "超过 20 MB"),
]


async def help_latency(other: Merchant, api: FakeBotAPI) -> float:
    """Seconds until `/help` from another chat is answered."""
    before = len(other.inbox)
    started = time.monotonic()
    await other.send("/help")
    await api.wait_for(lambda: any("使用说明" in m["text"] for m in other.inbox[before:]), timeout=10)
    return time.monotonic() - started


async def send_hostile(api: FakeBotAPI, attacker: Merchant, other: Merchant, name: str, content: bytes | None,
                       told: str) -> None:
    before = len(attacker.inbox)
    started = time.monotonic()
    await attacker.document(name, content)
    await asyncio.sleep(0.3)  # the file is being fetched and read now
    latencies = [await help_latency(other, api) for _ in range(3)]
    await api.wait_for(lambda: any(told in m["text"] for m in attacker.inbox[before:]), timeout=20)
    assert time.monotonic() - started < 20, f"{name}: the sender waited too long"
    assert max(latencies) < 1.0, f"{name}: another chat's /help waited {max(latencies):.2f} s"



@pytest.mark.parametrize(("name", "make", "told"), HOSTILE, ids=[h[0] for h in HOSTILE])
async def test_a_hostile_file_is_refused_and_nobody_else_waits(api: FakeBotAPI, running, sessions, name: str,
                                                               make, told: str,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="assistant.runtime.file_reader")
    attacker, other = Merchant(api, 1001), Merchant(api, 1002)
    await attacker.say("/start")
    await other.say("/start")
    content = make()
    await send_hostile(api, attacker, other, name, content, told)
    peaks = [int(kb) for kb in re.findall(r"peak (\d+) KB", caplog.text)]
    if content is None:
        served = sum(api.served.values())
        assert served < 25 * 1024 * 1024, f"the download went on past the cap: {served} bytes"
        assert not peaks, "refused before any reading"
    else:
        assert len(peaks) == 1 and peaks[0] < 512 * 1024, f"the reader's memory: {peaks} KB"
    assert "发票查询助手" not in attacker.inbox[-1]["text"]  # answered about the file, not restarted


def peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


async def test_hostile_files_from_three_senders_at_once_stay_within_memory(api: FakeBotAPI, database_url: str,
                                                                           sessions, tmp_path: Path) -> None:
    """The bot as a process: three senders of the worst files together; its memory stays far under 512 MB."""
    bot = BotProcess(api, database_url, tmp_path / "bot.log")
    await bot.start()
    try:
        senders = [Merchant(api, 2000 + i) for i in range(3)]
        other = Merchant(api, 3000)
        for merchant in (*senders, other):
            await merchant.say("/start")
        files = [("five-big-pages.pdf", big_page_pdf(5000, pages=5)), ("huge.png", huge_png()),
                 ("bomb.ofd", zip_bomb_ofd())]
        starts = [len(m.inbox) for m in senders]
        for merchant, (name, content) in zip(senders, files):
            await merchant.document(name, content)
        latencies = [await help_latency(other, api) for _ in range(5)]
        for merchant, before in zip(senders, starts):
            await api.wait_for(lambda m=merchant, b=before: len(m.inbox) > b, timeout=20)
        assert max(latencies) < 1.0, latencies
        assert peak_memory_mb(bot.pid) < 300, f"the bot reached {peak_memory_mb(bot.pid):.0f} MB"
        assert "read in" in bot.output()
    finally:
        assert await bot.stop() == 0, bot.output()
