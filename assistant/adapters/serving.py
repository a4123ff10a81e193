"""The serving loops: updates in by long polling or a webhook server, and work repeated on a timer.

`bot.py` builds what they drive; here they run until `stop` is set.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from assistant.inbox import pause
from assistant.store.engine import transient

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
