"""End to end: an announcement to many merchants; the bot process is killed mid-broadcast and restarted."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from assistant.store.uow import UnitOfWork
from tests.e2e.fake_bot_api import FakeBotAPI, Merchant
from tests.factories import add_user

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
RECIPIENTS = list(range(3001, 3031))
BLOCKED = {3003, 3017}
BUSY = 3005


async def start_bot(api: FakeBotAPI, database_url: str) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")}
    env.update({"TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_BASE_URL": api.base_url,
                "TELEGRAM_API_FILE_URL": api.file_url, "DATABASE_URL": database_url, "POLL_TIMEOUT": "1",
                "ADMIN_IDS": "999", "BROADCAST_RATE": "30", "SCHEDULER_INTERVAL_SECONDS": "0.2"})
    calls = len(api.calls_of("getUpdates"))
    process = await asyncio.create_subprocess_exec(sys.executable, "bot.py", "run", cwd=ROOT, env=env,
                                                   stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    await api.wait_for(lambda: len(api.calls_of("getUpdates")) > calls, timeout=30)
    return process


def announcements(api: FakeBotAPI, chat_id: int) -> list[str]:
    return [m["text"] for m in api.messages[chat_id] if m.get("text", "").startswith("📢")]


async def test_broadcast_with_403_429_and_a_kill(api: FakeBotAPI, database_url: str, sessions) -> None:
    now = datetime.now(timezone.utc)  # the bot runs on the real clock
    for user_id in RECIPIENTS:
        await add_user(sessions, now, user_id=user_id)
        async with sessions() as session, session.begin():
            await UnitOfWork(session).conversations.get(user_id, user_id, initial="menu", now=now)
    api.blocked.update(BLOCKED)
    api.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1, chat_id=BUSY)
    first = await start_bot(api, database_url)
    sent = []

    def kill_at_tenth(message: dict) -> None:
        if message.get("text", "").startswith("📢"):
            sent.append(message)
            if len(sent) == 10:
                os.kill(first.pid, signal.SIGKILL)  # accepted by Telegram; the bot never hears back

    api.after_send = kill_at_tenth
    admin = Merchant(api, 999, name="管理员")
    await admin.say("/announce")
    await admin.press("recent")
    preview = await admin.say("本周六 22:00 系统升级")
    assert "将发给 30 位" in preview
    await admin.press_on(admin.last_keyboard(), "confirm")
    assert await asyncio.wait_for(first.wait(), 60) == -signal.SIGKILL
    api.after_send = None
    second = await start_bot(api, database_url)
    try:
        await api.wait_for(lambda: any("完成" in m["text"] for m in api.messages[999]), timeout=60)
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.communicate(), 30)
    for user_id in RECIPIENTS:
        expected = [] if user_id in BLOCKED else ["📢 本周六 22:00 系统升级"]
        assert announcements(api, user_id) == expected, user_id
    assert [c.status for c in api.calls_of("sendMessage") if c.params["chat_id"] == str(BUSY)][0] == 429
    summary = next(m["text"] for m in api.messages[999] if "完成" in m["text"])
    assert "共 30 位，送达 27，已屏蔽机器人 2，失败 0，发送中断无法确认 1" in summary
    assert any("群发 #" in c.params.get("text", "") for c in api.calls_of("editMessageText"))
    async with sessions() as session:
        users = [await UnitOfWork(session).users.get(user_id) for user_id in sorted(BLOCKED)]
    assert [user.unreachable for user in users] == [True, True]
