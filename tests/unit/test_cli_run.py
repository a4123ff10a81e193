"""`bot.py run`'s own part around serving: what it does once the bot takes updates."""

from __future__ import annotations

import asyncio
import gc

from assistant.adapters.cli import freeze_when


async def test_what_start_up_built_is_left_out_of_the_collectors_rounds_once_the_bot_takes_updates() -> None:
    before = gc.get_freeze_count()
    ready = asyncio.Event()
    freezing = asyncio.create_task(freeze_when(ready))
    try:
        await asyncio.sleep(0.01)
        assert gc.get_freeze_count() == before  # still starting: nothing frozen yet
        ready.set()
        await asyncio.wait_for(freezing, 1)
        assert gc.get_freeze_count() > before
    finally:
        freezing.cancel()
        gc.unfreeze()
