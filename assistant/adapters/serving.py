"""The serving loop: updates in by long polling or a webhook server, the inbox worked off, timers.

`bot.py` builds what it drives (`Serving`); here it runs until `stop` is set.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from assistant import metrics
from assistant.adapters.failures import ExitCode, OperatorError
from assistant.broadcast import BroadcastRunner
from assistant.core import Assistant
from assistant.imports import ImportRunner
from assistant.runtime.inbox import Inbox, pause
from assistant.outputs import Out
from assistant.replies import Renderer
from assistant.store.engine import transient
from assistant.store.contracts import Units

logger = logging.getLogger(__name__)

Receive = Callable[[list[dict[str, Any]]], Awaitable[None]]
GAUGES_EVERY = 5.0
"""Seconds between reads of the database-backed gauges (at least; SCHEDULER_INTERVAL_SECONDS when longer)."""


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


@dataclass(frozen=True)
class Endpoint:
    """Where this process serves the operator's `/healthz` and `/metrics` in polling mode (port 0: nowhere)."""

    listen: str = "127.0.0.1"
    port: int = 0


def check_port(listen: str, port: int, setting: str) -> None:
    """A one-line error naming the setting to change when the port cannot be listened on (uvicorn would log
    a traceback and exit the process)."""
    sock = socket.socket(socket.AF_INET6 if ":" in listen else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((listen, port))
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise OperatorError(f"port {port} on {listen} is in use: stop what uses it, or set {setting}",
                                ExitCode.PORT_IN_USE) from None
        raise OperatorError(f"cannot listen on {listen}:{port} ({error.strerror}): check {setting}",
                            ExitCode.CONFIGURATION) from None
    finally:
        sock.close()


def http_server(app: Any, listen: str, port: int, setting: str) -> tuple[Any, asyncio.Task[None]]:
    import uvicorn

    check_port(listen, port, setting)
    server = uvicorn.Server(uvicorn.Config(app, host=listen, port=port, log_level="warning", lifespan="off"))
    return server, asyncio.create_task(server.serve())


async def receive_updates(bot: Any, receive: Receive, *, webhook: Webhook | None, poll_timeout: int,
                          healthy: Callable[[], Awaitable[bool]], stop: asyncio.Event,
                          ready: asyncio.Event | None = None, endpoint: Endpoint = Endpoint(),
                          force: bool = False) -> None:
    """Long polling (no `webhook`), or the webhook server, until `stop`; an update is confirmed once stored."""
    from telegram import Update

    from assistant.adapters.polling import Poller
    from assistant.adapters.webhook import operator_app, webhook_app

    if webhook is None:
        info = await bot.get_webhook_info()
        if info.url and not force:
            raise OperatorError(f"a webhook is set for this bot ({info.url}): polling would take it down; stop the "
                                "webhook processes first, or run with --force", ExitCode.TELEGRAM)
        operator = (http_server(operator_app(healthy), endpoint.listen, endpoint.port, "METRICS_PORT")
                    if endpoint.port else None)
        try:
            await bot.delete_webhook()
            poller = Poller(bot, receive, timeout=poll_timeout, allowed_updates=Update.ALL_TYPES)
            logger.info("long polling for updates%s", f"; /metrics on {endpoint.listen}:{endpoint.port}"
                        if operator else "")
            if ready is not None:
                ready.set()
            await poller.run(stop)
        finally:
            if operator is not None:
                operator[0].should_exit = True
                await operator[1]
        return
    app = webhook_app(path=urlparse(webhook.url).path or "/", secret=webhook.secret, healthy=healthy,
                      receive=receive)
    server, serving = http_server(app, webhook.listen, webhook.port, "WEBHOOK_PORT")
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
    endpoint: Endpoint = Endpoint()
    force_polling: bool = False
    imports: ImportRunner | None = None
    """Invoice imports admins confirmed in Telegram (none: imports wait for a process that runs them)."""

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
            await set_up_bot_profile(application.bot, self.renderer, self.default_language, admins,
                                     adapter.support_chat_id)
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
                *([asyncio.create_task(repeat(self.imports.run_all, "imports", self.interval, stop))]
                  if self.imports is not None else []),
                asyncio.create_task(self.inbox.run(handle, self.assistant.dead_letter, execute, stop)),
                # the gauges are a few counts: read at most every 5 s, never competing with the chats'
                # transactions for SQLite's one connection more often than that (an outage holds it)
                asyncio.create_task(repeat(lambda: metrics.refresh_gauges(self.units), "metrics",
                                           max(self.interval, GAUGES_EVERY), stop)),
            ]
            try:
                await receive_updates(application.bot, receive, webhook=self.webhook, poll_timeout=self.poll_timeout,
                                      healthy=self.healthy, stop=stop, ready=ready, endpoint=self.endpoint,
                                      force=self.force_polling)
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
