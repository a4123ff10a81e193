"""`python bot.py run` as its own process: serves a merchant, then stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.e2e.fake_bot_api import FakeBotAPI, Merchant

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


async def test_bot_py_run_serves_and_stops_on_sigterm(api: FakeBotAPI, database_url: str, sessions) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")}
    env.update({"TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_BASE_URL": api.base_url,
                "TELEGRAM_API_FILE_URL": api.file_url, "DATABASE_URL": database_url, "POLL_TIMEOUT": "1"})
    process = await asyncio.create_subprocess_exec(sys.executable, "bot.py", "run", cwd=ROOT, env=env,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        merchant = Merchant(api, 1001)
        text = await merchant.say("/start", timeout=30)
        assert "请选择您需要的服务" in text
        assert "发票号码" in await merchant.press("find")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr
