"""The serving loop: updates in by long polling or a webhook server, the inbox worked off, timers.

`bot.py` builds what it drives (`Serving`); here it runs until `stop` is set.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from assistant.broadcast import BroadcastRunner
from assistant.core import Assistant
from assistant.runtime.inbox import Inbox, pause
from assistant.outputs import Out
from assistant.replies import Renderer
from assistant.store.engine import transient
from assistant.store.contracts import Units

logger = logging.getLogger(__name__)

Receive = Callable[[list[dict[str, Any]]], Awaitable[None]]


async def repeat(work: Callable[[], Awaitable[None]], what: str, interval: float, stop: asyncio.Event) -> None:
    """Run `work` every `interval` seconds until `stop`; a failure is logged and tried again next time."""
    while not stop.is_set():
        try:
            await work()
        except Exception as error:
            if transient(error):
                logger.warning("%s: database unavailable (%s); trying again in %.1f s", what, error, interval)
            else:
                logger.exception("%s failed; trying again in %.1f s", what, interval)
        await pause(stop, interval)


@dataclass(frozen=True)
class Webhook:
    """Where Telegram posts updates, and where this process listens for them."""

    url: str
    secret: str
    listen: str
    port: int


async def receive_updates(bot: Any, receive: Receive, *, webhook: Webhook | None, poll_timeout: int,
                          healthy: Callable[[], Awaitable[bool]], stop: asyncio.Event,
                          ready: asyncio.Event | None = None) -> None:
    """Long polling (no `webhook`), or the webhook server, until `stop`; an update is confirmed once stored."""
    import uvicorn
    from telegram import Update

    from assistant.adapters.polling import Poller
    from assistant.adapters.webhook import webhook_app

    if webhook is None:
        await bot.delete_webhook()
        poller = Poller(bot, receive, timeout=poll_timeout, allowed_updates=Update.ALL_TYPES)
        logger.info("long polling for updates")
        if ready is not None:
            ready.set()
        await poller.run(stop)
        return
    app = webhook_app(path=urlparse(webhook.url).path or "/", secret=webhook.secret, healthy=healthy,
                      receive=receive)
    server = uvicorn.Server(uvicorn.Config(app, host=webhook.listen, port=webhook.port, log_level="warning",
                                           lifespan="off"))
    serving = asyncio.create_task(server.serve())
    try:
        await bot.set_webhook(webhook.url, secret_token=webhook.secret, allowed_updates=Update.ALL_TYPES)
        logger.info("webhook %s served on %s:%s", webhook.url, webhook.listen, webhook.port)
        if ready is not None:
            ready.set()
        await stop.wait()
    finally:
        server.should_exit = True
        await serving


@dataclass
class Serving:
    """One bot process at work: updates received into the inbox, worked off, and the timers.

    Built by `bot.py`; runs until `stop`, then waits for the work in hand (15 s at most).
    """

    application: Any  # python-telegram-bot's Application, handlers registered
    adapter: Any  # assistant.adapters.telegram.TelegramAdapter
    assistant: Assistant
    units: Units
    renderer: Renderer
    default_language: str
    inbox: Inbox
    broadcasts: BroadcastRunner
    interval: float
    webhook: Webhook | None
    poll_timeout: int
    healthy: Callable[[], Awaitable[bool]]

    async def run(self, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
        from assistant.adapters.telegram import received, set_up_bot_profile

        application, adapter = self.application, self.adapter
        try:
            await application.initialize()
        except Exception:
            await application.bot.shutdown()  # python-telegram-bot leaves the HTTP sessions open after a failed start
            raise
        async with application:  # initialized: entering again does nothing more; leaving shuts it down
            async with self.units() as store:
                admins = {admin.id: admin.language for admin in await store.users.admins()}
            await set_up_bot_profile(application.bot, self.renderer, self.default_language, admins)
            rights = await adapter.support_rights(application.bot)
            await adapter.execute(application.bot, await self.assistant.startup_notices(support_rights=rights))
            await application.start()

            async def carry_out_due() -> None:  # tickets waiting too long, promised notices and rechecks
                await adapter.execute(application.bot, await self.assistant.due())

            async def handle(batch: Any) -> bool:
                return bool(await adapter.process(application, batch))

            async def execute(outputs: list[Out]) -> None:
                await adapter.execute(application.bot, outputs)

            self.assistant.deliver = execute  # notices told while a handler waits (a file in line for a reader)

            async def receive(updates: list[dict[str, Any]]) -> None:
                await self.inbox.receive([received(data) for data in updates])

            closing = asyncio.Event()  # the senders stop once nothing can hand them more
            sending = None
            if adapter.senders is not None:
                adapter.senders.answered = self.inbox.hint  # a chat whose answer went out: its next update
                sending = asyncio.create_task(adapter.senders.run(closing))
            background = [
                asyncio.create_task(repeat(carry_out_due, "scheduled work", self.interval, stop)),
                asyncio.create_task(repeat(self.broadcasts.run_all, "broadcasts", self.interval, stop)),
                asyncio.create_task(self.inbox.run(handle, self.assistant.dead_letter, execute, stop)),
            ]
            try:
                await receive_updates(application.bot, receive, webhook=self.webhook, poll_timeout=self.poll_timeout,
                                      healthy=self.healthy, stop=stop, ready=ready)
            finally:
                stop.set()
                _, late = await asyncio.wait(background, timeout=15)
                for task in late:
                    task.cancel()
                await asyncio.gather(*background, return_exceptions=True)
                closing.set()
                if sending is not None:
                    await asyncio.gather(sending, return_exceptions=True)
                await application.stop()
