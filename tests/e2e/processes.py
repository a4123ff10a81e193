"""`python bot.py run` as separate processes against the fake Bot API server: start, kill, stop."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.fake_bot_api import FakeBotAPI

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on (for a webhook server)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BotProcess:
    """One bot process; its log goes to a file (a pipe nobody reads would block a chatty process).

    `command` is what Python runs: `bot.py run` and `args`, or another bot (the benchmark's echo bot).
    """

    def __init__(self, api: FakeBotAPI, database_url: str, log: Path, *args: str,
                 command: tuple[str, ...] = ("bot.py", "run"), **env: str) -> None:
        self.api, self.args, self.log, self.command = api, args, log, command
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "WEBHOOK_"))}
        self.env.update({"TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_BASE_URL": api.base_url,
                         "TELEGRAM_API_FILE_URL": api.file_url, "DATABASE_URL": database_url, "POLL_TIMEOUT": "1",
                         "SCHEDULER_INTERVAL_SECONDS": "0.3", "METRICS_PORT": "0", **env})
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, ready_url: str | None = None) -> None:
        """Start and wait until it serves: /healthz answers (webhook) or it polls (long polling)."""
        polls = len(self.api.calls_of("getUpdates"))
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(sys.executable, *self.command, *self.args, cwd=ROOT,
                                                                env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    raise AssertionError(f"the bot exited: {self.output()}")
                if ready_url is None and len(self.api.calls_of("getUpdates")) > polls:
                    return
                if ready_url is not None:
                    try:
                        if (await client.get(ready_url)).status_code == 200 and "webhook" in self.api.profile:
                            return
                    except httpx.HTTPError:
                        pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"the bot did not start: {self.output()}")

    async def run_to_exit(self, timeout: float = 60) -> int:
        """Run until the process exits by itself (it should fail at start): its exit code."""
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(sys.executable, *self.command, *self.args, cwd=ROOT,
                                                                env=self.env, stdout=log, stderr=log)
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise AssertionError(f"the bot did not exit: {self.output()}") from None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    async def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as when a machine dies."""
        assert self.process is not None
        self.process.kill()
        await self.process.wait()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def stop(self, timeout: float = 30) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.process.wait(), timeout)
        return self.process.returncode or 0


def numbered(n: int) -> str:
    """A merchant's message the bot answers by repeating the invoice number it holds (8 digits)."""
    return f"号码 {10_000_000 + n}"


def quoted(messages: list[dict[str, Any]]) -> list[str]:
    """The messages of `numbered` the bot took, in the order it said it received them."""
    found = [re.search(r"已收到：发票号码 <code>(\d{8})</code>", m.get("text", "")) for m in messages]
    return [f"号码 {match.group(1)}" for match in found if match]


def keyboard_versions(messages: list[dict[str, Any]]) -> list[int]:
    """The conversation version of each keyboard the bot sent (one per handled update)."""
    return [int(m["reply_markup"]["inline_keyboard"][0][0]["callback_data"].split(":")[0])
            for m in messages if m.get("reply_markup")]
