"""`/metrics` and `/healthz` as Prometheus scrapes them, in polling mode (a port of their own) and webhook mode."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest

from tests.e2e.fake_bot_api import FakeBotAPI, Merchant
from tests.e2e.processes import BotProcess, free_port

pytestmark = pytest.mark.e2e


def sample(text: str, name: str, **labels: str) -> float:
    """One sample's value from Prometheus' text format (0 when absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    pattern = rf"^{re.escape(name)}{re.escape('{' + wanted + '}') if wanted else ''} (\S+)$"
    match = re.search(pattern, text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def chat_and_scrape(api: FakeBotAPI, base: str) -> str:
    merchant = Merchant(api, 1001)
    await merchant.say("/start")
    await merchant.say("/help")
    await merchant.document("scan.pdf", b"%PDF-1.4 not really a pdf")
    await api.wait_for(lambda: len(merchant.inbox) >= 4, timeout=30)
    async with httpx.AsyncClient(base_url=base) as client:
        health = await client.get("/healthz")
        assert (health.status_code, health.text) == (200, "ok")
        for _ in range(200):  # handled counts a moment after the answer; the gauges are read every 5 s
            scraped = await client.get("/metrics")
            assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
            if (sample(scraped.text, "assistant_updates_handled_total", result="done") >= 3
                    and sample(scraped.text, "assistant_inbox_pending") == 0):  # the timer read the drained inbox
                break
            await asyncio.sleep(0.1)
    return scraped.text


def assert_counted(text: str) -> None:
    assert sample(text, "assistant_updates_received_total") >= 3
    assert sample(text, "assistant_updates_handled_total", result="done") >= 3
    assert sample(text, "assistant_handling_seconds_count") >= 3
    assert sample(text, "assistant_bot_api_calls_total", method="sendMessage", result="ok") >= 3
    reads = re.findall(r'^assistant_file_reads_total\{result="(\w+)"\} (\S+)$', text, re.MULTILINE)
    assert [(result, float(count)) for result, count in reads if float(count)] == [(reads[0][0], 1.0)]
    assert reads[0][0] != "read"  # not an invoice, but read once, by a reader…
    assert sample(text, "assistant_file_wait_seconds_count") == 1  # …after its wait for one
    assert sample(text, "assistant_file_read_seconds_count") == 1
    assert sample(text, "assistant_inbox_pending") == 0 and sample(text, "assistant_tickets_unclaimed") == 0
    assert re.search(r"^assistant_inbox_pending 0\.0$", text, re.MULTILINE)  # read by the timer, not absent
    assert sample(text, "process_resident_memory_bytes") > 0


async def test_metrics_and_health_in_polling_mode(api: FakeBotAPI, database_url: str, sessions,
                                                  tmp_path: Path) -> None:
    port = free_port()
    bot = BotProcess(api, database_url, tmp_path / "bot.log", METRICS_PORT=str(port))
    await bot.start()
    try:
        assert_counted(await chat_and_scrape(api, f"http://127.0.0.1:{port}"))
    finally:
        assert await bot.stop() == 0, bot.output()


async def test_metrics_and_health_in_webhook_mode(api: FakeBotAPI, database_url: str, sessions,
                                                  tmp_path: Path) -> None:
    port = free_port()
    bot = BotProcess(api, database_url, tmp_path / "bot.log", "--webhook", "https://bot.example.com/hook",
                     "--port", str(port))
    await bot.start(ready_url=f"http://127.0.0.1:{port}/healthz")
    api.webhook_targets = [f"http://127.0.0.1:{port}/hook"]
    try:
        text = await chat_and_scrape(api, f"http://127.0.0.1:{port}")
        assert_counted(text)
        assert sample(text, "assistant_bot_api_calls_total", method="setWebhook", result="ok") == 1
    finally:
        assert await bot.stop() == 0, bot.output()


async def test_json_logs_one_object_a_line_without_library_chatter(api: FakeBotAPI, database_url: str, sessions,
                                                                   tmp_path: Path) -> None:
    import json

    bot = BotProcess(api, database_url, tmp_path / "bot.log", LOG_FORMAT="json", LOG_LEVEL="INFO")
    await bot.start()
    try:
        merchant = Merchant(api, 1001)
        await merchant.say("/start")
        await merchant.press("find")  # a flow moves: transitions would log its INFO lines
    finally:
        assert await bot.stop() == 0, bot.output()
    entries = [json.loads(line) for line in bot.output().splitlines() if line.strip()]
    assert entries and all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    assert any(entry["message"] == "long polling for updates" for entry in entries)
    assert not [entry for entry in entries if entry["logger"].startswith("transitions")]
