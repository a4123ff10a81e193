"""An update whose handling kills the bot every time: tried MAX_ATTEMPTS times, then dead-lettered, once."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from assistant.store.inbox import InboxStore
from tests.e2e.fake_bot_api import FakeBotAPI, Merchant
from tests.e2e.processes import BotProcess
from tests.hostile import big_page_pdf

pytestmark = pytest.mark.e2e
DEAD = "试了几次都没能处理"


async def test_an_update_that_kills_the_bot_every_time_is_dead_lettered(api: FakeBotAPI, database_url: str,
                                                                        sessions, tmp_path: Path) -> None:
    env = {"INBOX_LEASE_SECONDS": "1", "MAX_ATTEMPTS": "3"}
    bots: list[BotProcess] = []

    def kill_on_download(method: str, params: dict) -> None:  # the file "kills" whichever process reads it
        if method == "getFile" and bots and bots[-1].process and bots[-1].process.returncode is None:
            os.kill(bots[-1].pid, signal.SIGKILL)

    api.on_call = kill_on_download
    merchant, other = Merchant(api, 1001), Merchant(api, 1002)
    bots.append(BotProcess(api, database_url, tmp_path / "bot-0.log", **env))
    await bots[-1].start()
    await merchant.say("/start")
    await merchant.document("poison.pdf", big_page_pdf(100))
    for run in range(1, 6):
        assert bots[-1].process is not None
        await asyncio.wait_for(bots[-1].process.wait(), 20)  # killed while handling the file
        await other.send("/help")  # sent while the bot is down
        bots.append(BotProcess(api, database_url, tmp_path / f"bot-{run}.log", **env))
        await bots[-1].start()
        await api.wait_for(lambda: any("使用说明" in m["text"] for m in other.inbox), timeout=10)
        other.inbox.clear()  # the other chat is answered after every restart, before the file is tried again
        await asyncio.sleep(2.5)  # the file's lease runs out; it is tried alone, when nothing else is in hand
        if any(DEAD in m["text"] for m in merchant.inbox):
            break
    try:
        assert len(api.calls_of("getFile")) == 3, "tried exactly MAX_ATTEMPTS times"
        assert len([m for m in merchant.inbox if DEAD in m["text"]]) == 1, "told once"
        assert bots[-1].process is not None and bots[-1].process.returncode is None, "the last bot lives"
        await asyncio.sleep(1.5)
        assert len(api.calls_of("getFile")) == 3 and len([m for m in merchant.inbox if DEAD in m["text"]]) == 1
        async with sessions() as session:
            entries = await InboxStore(session).entries(("dead",))
        assert [(e.chat_id, e.kind, e.attempts) for e in entries] == [(1001, "document", 4)]
        assert "did not finish; dead-lettered" in bots[-1].output()
        assert "请选择您需要的服务" in await merchant.say("/start")  # the merchant goes on as usual
    finally:
        await bots[-1].stop()
