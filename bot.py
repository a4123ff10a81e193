"""Invoice troubleshooting assistant: the composition root.

Everything is wired here and only here: settings, database engine, templates, flow machines, the core,
the adapters and python-telegram-bot's handlers (one visible block), and the command line's entry
point. The commands themselves live in `assistant/adapters/cli.py`, the serving loop in
`assistant/adapters/serving.py`. Nothing connects or reads configuration at import time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from assistant.adapters import cli
from assistant.adapters.cli import Composition, fail
from assistant.runtime.bookkeeping import Bookkeeping
from assistant.core import Assistant, CoreConfig, Retention, utcnow
from assistant.merchant.diagnosis import DiagnosisRules
from assistant.flow_runner import FlowRunner
from assistant.runtime.file_reader import IsolatedReader, ReadLimits
from assistant.runtime.inbox import Inbox, InboxConfig
from assistant.replies import Renderer
from assistant.settings import Settings
from assistant.store.engine import make_engine, make_sessions
from assistant.store.migrate import upgrade
from assistant.store.uow import Units, sql_units
from assistant.support.desk import SupportConfig
from assistant.understanding.classifier import default_classifier
from flows.base import mermaid
from flows.announce import ANNOUNCE
from flows.maintenance import MAINTENANCE
from flows.ticket import TICKET
from flows.troubleshoot import TROUBLESHOOT

logger = logging.getLogger("bot")

ROOT = Path(__file__).resolve().parent
REPLIES = ROOT / "replies"
FLOWS_DOC = ROOT / "docs" / "flows.md"
FLOWS = (TROUBLESHOOT, TICKET, MAINTENANCE, ANNOUNCE)

# -- composition -----------------------------------------------------------------------------
@dataclass
class Runtime:
    """Everything built from the settings for one process."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    units: Units
    renderer: Renderer
    assistant: Assistant


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as error:
        first = error.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        fail(f"configuration error: {'.'.join(str(p) for p in first['loc']).upper()}: {message}")
    except UnicodeDecodeError as error:
        fail(f"configuration error: a .env file is not UTF-8 ({error.reason} at byte {error.start}): save it as UTF-8")
    except OSError as error:
        fail(f"configuration error: cannot read {error.filename or 'a .env file'} ({error.strerror}): check its "
             "permissions")


def process_owner() -> str:
    """This process, as the holder of outbox leases: host, pid and a random part (a pid is reused)."""
    return f"{socket.gethostname()[:20]}:{os.getpid()}:{secrets.token_hex(4)}"


def build_assistant(settings: Settings, units: Units, clock: Callable[[], datetime] = utcnow,
                    owner: str | None = None) -> tuple[Assistant, Renderer]:
    renderer = Renderer(REPLIES, settings.tz, clock)
    opens, closes = settings.support_times
    support = SupportConfig(chat_id=settings.support_chat_id, opens=opens, closes=closes,
                            weekdays=frozenset(settings.support_weekdays),
                            claim_timeout=timedelta(minutes=settings.claim_timeout_minutes),
                            max_escalations=settings.max_escalations, staff_language=settings.default_language,
                            tickets_per_day=settings.tickets_per_day,
                            tz=settings.tz)
    config = CoreConfig(default_language=settings.default_language, max_years=settings.max_years_back,
                        max_failures=settings.max_field_failures, max_message_chars=settings.max_message_chars,
                        rules=DiagnosisRules(sync_delay=settings.sync_delay, tz=settings.tz,
                                             per_invoice_per_day=settings.lookups_per_invoice_per_day,
                                             distinct_per_hour=settings.distinct_invoices_per_hour),
                        support=support,
                        announce_days=settings.announce_days,
                        outbox_lease=timedelta(seconds=settings.outbox_lease_seconds),
                        outbox_attempts=settings.outbox_attempts,
                        retention=Retention(lookups=timedelta(days=settings.retain_lookups_days),
                                            tickets=timedelta(days=settings.retain_tickets_days),
                                            audit=timedelta(days=settings.retain_audit_days),
                                            inactive_users=timedelta(days=settings.retain_inactive_users_days)))
    reader = IsolatedReader(ReadLimits(memory_bytes=settings.read_memory_mb * 1024 * 1024,
                                       seconds=settings.read_seconds, workers=settings.read_workers,
                                       per_chat=settings.read_queue_per_chat))
    assistant = Assistant(units, renderer, FlowRunner(FLOWS, renderer), config, clock=clock, reader=reader,
                          bookkeeping=Bookkeeping(units), understand=default_classifier().understand, owner=owner)
    return assistant, renderer


def build_inbox(settings: Settings, rt: Runtime) -> Inbox:
    """The inbox keeps wall-clock time: leases and retries are about processes, not the product's clock.

    It shares the core's bookkeeping: updates stored, answers marked sent and claims in one transaction.
    """
    return Inbox(rt.units, InboxConfig(max_attempts=settings.max_attempts,
                                       lease=timedelta(seconds=settings.inbox_lease_seconds),
                                       concurrency=settings.inbox_concurrency), utcnow, rt.assistant.bookkeeping)


@asynccontextmanager
async def runtime(settings: Settings, clock: Callable[[], datetime] = utcnow) -> AsyncIterator[Runtime]:
    """Build the process: engine (schema brought up to date), templates, machines, core."""
    engine = make_engine(settings.database_url, settings.database_connections)
    try:
        await upgrade(engine)
        sessions = make_sessions(engine)
        units = sql_units(sessions)
        assistant, renderer = build_assistant(settings, units, clock, owner=process_owner())
        yield Runtime(settings, engine, sessions, units, renderer, assistant)
    finally:
        await engine.dispose()


# -- Telegram -------------------------------------------------------------------------------------
TOKEN_PATTERN = re.compile(r"^\d{5,}:[A-Za-z0-9_-]{30,}$")


def token_problem(settings: Settings) -> str | None:
    """Why the bot token cannot be used, in one line; None when it looks right."""
    token = settings.telegram_bot_token.get_secret_value().strip() if settings.telegram_bot_token else ""
    if not token:
        return ("TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather and put its token in the environment "
                "or .env")
    if not TOKEN_PATTERN.match(token):
        return "TELEGRAM_BOT_TOKEN is malformed: it looks like 123456789:AAH… (digits, a colon, 35 characters)"
    return None


def telegram_token(settings: Settings) -> str:
    """The bot token, or a one-line error."""
    problem = token_problem(settings)
    if problem is not None:
        fail(problem)
    return settings.telegram_bot_token.get_secret_value().strip()  # type: ignore[union-attr]


def bot_requests(settings: Settings) -> tuple[Any, Any]:
    """The Bot API clients: one for calls and downloads, one (a single connection) for getUpdates; both
    through TELEGRAM_PROXY, or the environment's HTTPS_PROXY (NO_PROXY honoured)."""
    from assistant.adapters.bot_api_http import AiohttpRequest, bot_api_proxy

    proxy = bot_api_proxy(settings.proxy_url, settings.telegram_api_base_url)
    return (AiohttpRequest(settings.telegram_connections, pool_timeout=10.0, proxy=proxy),
            AiohttpRequest(1, proxy=proxy))


def make_bot(settings: Settings, token: str) -> Any:
    """A bare Bot API client with this process's settings (for `bot.py check`)."""
    from telegram import Bot

    request, _ = bot_requests(settings)
    return Bot(token, base_url=settings.telegram_api_base_url, base_file_url=settings.telegram_api_file_url,
               request=request)


def build_application(settings: Settings, rt: Runtime, token: str) -> tuple[Any, Any]:
    """python-telegram-bot's Application with every handler, in one visible block; and the adapter."""
    from telegram.ext import (
        Application,
        CallbackQueryHandler,
        CommandHandler,
        MessageHandler,
        filters,
    )

    from assistant.adapters.telegram import FloodGuard, GlobalPace, TelegramAdapter
    from assistant.runtime.senders import Pace, Senders, SendLimits

    adapter = TelegramAdapter(core=rt.assistant, renderer=rt.renderer,
                              default_language=settings.default_language, support_chat_id=settings.support_chat_id,
                              flood=FloodGuard(settings.flood_messages, settings.flood_seconds))
    request, updates_request = bot_requests(settings)
    builder = (Application.builder().token(token)
               .base_url(settings.telegram_api_base_url).base_file_url(settings.telegram_api_file_url)
               .request(request).get_updates_request(updates_request))
    pace = Pace(settings.telegram_max_rate)  # Telegram's limit for one bot: about 30 requests a second
    if settings.telegram_max_rate > 0:
        builder = builder.rate_limiter(GlobalPace(pace))
    application = builder.updater(None).build()  # updates come from the inbox (our Poller or the webhook)
    # outputs are carried out by senders at each destination's pace, never inside a handler
    adapter.senders = Senders(partial(adapter.carry_out, application.bot), rt.assistant.take, rt.units,
                              owner=rt.assistant.owner or process_owner(),
                              lease=timedelta(seconds=settings.outbox_lease_seconds), db_clock=rt.assistant.clock,
                              limits=SendLimits(group_rate=settings.telegram_group_rate,
                                                group_period=settings.telegram_group_period,
                                                chat_rate=settings.telegram_chat_rate,
                                                chat_burst=settings.telegram_chat_burst,
                                                workers=settings.telegram_connections),
                              cost=adapter.cost, pace=pace)

    support = filters.Chat(chat_id=settings.support_chat_id or (), allow_empty=False)  # empty: matches nothing
    messages = filters.UpdateType.MESSAGE | filters.UpdateType.EDITED_MESSAGE
    # which callback takes an update; the inbox's worker calls it straight (`TelegramAdapter.process`)
    application.add_handlers([
        CallbackQueryHandler(adapter.on_update, pattern=lambda _: True),     # buttons (menus, cards, ratings)
        MessageHandler((filters.ChatType.PRIVATE | support) & messages, adapter.on_update),  # merchants, staff
        CommandHandler("start", adapter.on_group_start, filters=filters.ChatType.GROUPS & ~support),
    ])
    return application, adapter


async def serve(settings: Settings, stop: asyncio.Event, *, clock: Callable[[], datetime] = utcnow,
                ready: asyncio.Event | None = None, force: bool = False) -> None:
    """Run the bot until `stop` is set: long polling, or a webhook server when WEBHOOK_URL is set.

    `force`: poll even though a webhook is set (which polling removes)."""
    from assistant.adapters.serving import Endpoint, Serving, Webhook
    from assistant.adapters.telegram import TelegramBroadcast, telegram_files
    from assistant.broadcast import BroadcastRunner
    from assistant.imports import ImportRunner
    from assistant.store.engine import ping

    token = telegram_token(settings)
    async with runtime(settings, clock) as rt:
        async with rt.units() as store:
            created = await store.users.ensure_admins(settings.admin_ids, utcnow())
        if created:
            logger.info("admins created: %s", ", ".join(map(str, created)))
        application, adapter = build_application(settings, rt, token)
        webhook = (Webhook(settings.webhook_url, webhook_secret(settings, token), settings.webhook_listen,
                           settings.webhook_port) if settings.webhook_url else None)
        serving = Serving(application=application, adapter=adapter, assistant=rt.assistant, units=rt.units,
                          renderer=rt.renderer, default_language=settings.default_language,
                          inbox=build_inbox(settings, rt),
                          broadcasts=BroadcastRunner(rt.units, rt.renderer, TelegramBroadcast(application.bot),
                                                     partial(adapter.execute, application.bot),
                                                     settings.broadcast_rate, clock, stopping=stop.is_set,
                                                     outbox_lease=timedelta(seconds=settings.outbox_lease_seconds),
                                                     owner=rt.assistant.owner),
                          interval=settings.scheduler_interval_seconds, webhook=webhook,
                          poll_timeout=int(settings.poll_timeout), healthy=lambda: ping(rt.engine),
                          endpoint=Endpoint(settings.metrics_listen, settings.metrics_port), force_polling=force,
                          imports=ImportRunner(rt.units, rt.renderer, telegram_files(application.bot),
                                               threaded_importer(settings, clock), partial(adapter.execute, application.bot),
                                               clock, outbox_lease=timedelta(seconds=settings.outbox_lease_seconds),
                                               owner=rt.assistant.owner))
        await serving.run(stop, ready)


def threaded_importer(settings: Settings, clock: Callable[[], datetime] = utcnow) -> Any:
    """The import runner's importer: `import_file` in a thread of its own, with an event loop and a database
    connection of its own, so that reading and checking a large file never holds up the bot's event loop.
    The rows read are reported back on the caller's loop."""
    from assistant.importer import ImportReport, import_file

    async def run(path: Path, progress: Callable[[int], None]) -> ImportReport:
        loop = asyncio.get_running_loop()

        def read(count: int) -> None:
            loop.call_soon_threadsafe(progress, count)

        async def alone() -> ImportReport:
            engine = make_engine(settings.import_database_url or settings.database_url, 1)
            try:
                return await import_file(make_sessions(engine), path, now=clock(), tz=settings.tz, progress=read)
            finally:
                await engine.dispose()
        return await asyncio.to_thread(asyncio.run, alone())
    return run


def webhook_secret(settings: Settings, token: str) -> str:
    """WEBHOOK_SECRET, or one derived from the token: every process behind the balancer agrees on it."""
    import hashlib

    if settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value()
    return hashlib.sha256(f"webhook-secret:{token}".encode()).hexdigest()


def flows_markdown() -> str:
    """docs/flows.md as the code defines it."""
    parts = ["# Conversation flows", "",
             "Generated from the tables in `flows/` by `python bot.py flows`; a test fails when it is stale.", ""]
    for spec in FLOWS:
        parts += [f"## {spec.name}", "", "```mermaid", mermaid(spec), "```", ""]
    return "\n".join(parts)


# -- the command line (assistant/adapters/cli.py), given what this module builds ---------------
app = cli.app


def checks(settings: Settings) -> Any:
    """Every `bot.py check` item, with the Bot API client this process would use."""
    from assistant.adapters.check import run_checks

    problem = token_problem(settings)
    return run_checks(settings, None if problem else partial(make_bot, settings, telegram_token(settings)),
                      lambda: problem)


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("invoice-assistant")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"invoice-assistant {version()}")
        raise typer.Exit()


@app.callback()
def compose(ctx: typer.Context,
            show_version: Annotated[bool, typer.Option("--version", callback=_print_version,
                                                       is_eager=True)] = False) -> None:
    """Invoice troubleshooting assistant (查不到发票)."""
    ctx.obj = Composition(load_settings=load_settings, runtime=runtime, serve=serve, telegram_token=telegram_token,
                          flows_markdown=flows_markdown, flows_doc=FLOWS_DOC, root=ROOT, checks=checks)


def main() -> None:
    """The `invoice-assistant` command (pyproject.toml's [project.scripts]): the same as `python bot.py`."""
    app()


if __name__ == "__main__":
    main()
