"""Invoice troubleshooting assistant: the composition root and the command line.

Everything is wired here and only here: settings, database engine, templates, flow machines,
the core, and the adapters. Nothing connects or reads configuration at import time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from assistant.core import Assistant, CoreConfig, utcnow
from assistant.diagnosis import DiagnosisRules
from assistant.flow_runner import FlowRunner
from assistant.messages import Inbound
from assistant.outputs import Out, Reply, Unavailable
from assistant.file_reader import IsolatedReader, ReadLimits
from assistant.inbox import Inbox, InboxConfig
from assistant.replies import Renderer
from assistant.settings import Settings
from assistant.store.engine import make_engine, make_sessions
from assistant.store.migrate import upgrade
from assistant.store.models import ROLES
from assistant.store.uow import Units, sql_units
from assistant.support import SupportConfig
from flows.base import mermaid
from flows.announce import ANNOUNCE
from flows.maintenance import MAINTENANCE
from flows.ticket import TICKET
from flows.troubleshoot import TROUBLESHOOT

logger = logging.getLogger("bot")

ROOT = Path(__file__).resolve().parent
REPLIES = ROOT / "replies"
FLOWS_DOC = ROOT / "docs" / "flows.md"
DEMO_DATABASE_URL = "sqlite+aiosqlite:///./data/demo.sqlite3"
FLOWS = (TROUBLESHOOT, TICKET, MAINTENANCE, ANNOUNCE)

console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")


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
        fail(f"configuration error: {'.'.join(str(p) for p in first['loc']).upper()}: {first['msg']}")
        raise  # unreachable


def build_assistant(settings: Settings, units: Units,
                    clock: Callable[[], datetime] = utcnow) -> tuple[Assistant, Renderer]:
    renderer = Renderer(REPLIES, settings.tz)
    opens, closes = settings.support_times
    support = SupportConfig(chat_id=settings.support_chat_id, opens=opens, closes=closes,
                            weekdays=frozenset(settings.support_weekdays),
                            claim_timeout=timedelta(minutes=settings.claim_timeout_minutes),
                            max_escalations=settings.max_escalations, staff_language=settings.default_language,
                            tz=settings.tz)
    config = CoreConfig(default_language=settings.default_language, max_years=settings.max_years_back,
                        max_failures=settings.max_field_failures, max_message_chars=settings.max_message_chars,
                        rules=DiagnosisRules(sync_delay=settings.sync_delay, tz=settings.tz,
                                             per_invoice_per_day=settings.lookups_per_invoice_per_day,
                                             distinct_per_hour=settings.distinct_invoices_per_hour),
                        support=support,
                        announce_days=settings.announce_days,
                        outbox_lease=timedelta(seconds=settings.outbox_lease_seconds),
                        outbox_attempts=settings.outbox_attempts)
    reader = IsolatedReader(ReadLimits(memory_bytes=settings.read_memory_mb * 1024 * 1024,
                                       seconds=settings.read_seconds, workers=settings.read_workers))
    assistant = Assistant(units, renderer, FlowRunner(FLOWS, renderer), config, clock=clock, reader=reader)
    return assistant, renderer


def build_inbox(settings: Settings, units: Units) -> Inbox:
    """The inbox keeps wall-clock time: leases and retries are about processes, not the product's clock."""
    return Inbox(units, InboxConfig(max_attempts=settings.max_attempts,
                                       lease=timedelta(seconds=settings.inbox_lease_seconds),
                                       concurrency=settings.inbox_concurrency), utcnow)


@asynccontextmanager
async def runtime(settings: Settings, clock: Callable[[], datetime] = utcnow) -> AsyncIterator[Runtime]:
    """Build the process: engine (schema brought up to date), templates, machines, core."""
    engine = make_engine(settings.database_url)
    try:
        await upgrade(engine)
        sessions = make_sessions(engine)
        units = sql_units(sessions)
        assistant, renderer = build_assistant(settings, units, clock)
        yield Runtime(settings, engine, sessions, units, renderer, assistant)
    finally:
        await engine.dispose()


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def fail(message: str) -> None:
    err_console.print(f"[red]{message}[/red]", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def run_async(coroutine: Awaitable[T]) -> T:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


def parse_time(value: str, settings: Settings, now: datetime) -> datetime:
    """A time from the command line, or a one-line error."""
    from assistant.domain.times import parse_time as parse

    moment = parse(value, settings.tz, now)
    if moment is None:
        fail(f"cannot read the time {value!r}: use +90m, +2h, 18:00 or 2026-11-23 18:00")
        raise AssertionError("unreachable")
    return moment


# -- command line ------------------------------------------------------------------------------
app = typer.Typer(help="Invoice troubleshooting assistant (查不到发票).", no_args_is_help=True,
                  pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
users_app = typer.Typer(help="Users and their roles.", no_args_is_help=True)
maintenance_app = typer.Typer(help="Maintenance windows.", no_args_is_help=True)
inbox_app = typer.Typer(help="Updates waiting to be handled, and dead letters.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(inbox_app, name="inbox")
app.add_typer(users_app, name="users")
app.add_typer(maintenance_app, name="maintenance")

DemoOption = Annotated[bool, typer.Option("--demo", help="Use the demo database (data/demo.sqlite3).")]


def settings_for(demo: bool) -> Settings:
    settings = load_settings(database_url=DEMO_DATABASE_URL if demo else None)
    configure_logging(settings.log_level)
    return settings


@db_app.command("upgrade")
def db_upgrade(demo: DemoOption = False) -> None:
    """Apply the database migrations."""
    settings = settings_for(demo)

    async def main() -> None:
        async with runtime(settings):
            pass

    run_async(main())
    console.print("database is up to date")


def terminal_handler(rt: Runtime, language: str) -> Callable[[Inbound], Awaitable[list[Out]]]:
    """The core for the terminal: outputs count as sent once returned (they are printed at once)."""

    async def handle(event: Inbound) -> list[Out]:
        try:
            outputs = await rt.assistant.answer(event)
        except Unavailable:
            return [Reply(rt.renderer.text("unavailable", language), chat_id=event.chat_id)]
        await rt.assistant.sent(*(output.outbox_id for output in outputs if output.outbox_id is not None))
        return outputs

    return handle


@app.command()
def chat(demo: DemoOption = False,
         user: Annotated[int | None, typer.Option(help="Telegram user id to chat as.")] = None,
         lang: Annotated[str, typer.Option(help="zh or en for a new user.")] = "zh") -> None:
    """Chat with the assistant in the terminal (buttons become numbered choices)."""
    from assistant.adapters.terminal import chat_loop
    from assistant.demo import DEMO_USER, seed_demo, write_demo_qr

    settings = settings_for(demo)
    logging.getLogger().setLevel(logging.WARNING)
    user_id = user if user is not None else DEMO_USER

    async def main() -> None:
        async with runtime(settings) as rt:
            if demo:
                now = utcnow()
                async with rt.units() as store:
                    cases = await seed_demo(store, now, now.astimezone(settings.tz).date())
                console.print("[bold]Demo invoices[/bold]: copy a line (after the colon) into the chat.")
                for case in cases:
                    console.print(f"  {case.outcome}: [cyan]{case.typed}[/cyan]", soft_wrap=True, highlight=False)
                qr = Path("data/demo-invoice-qr.png")
                write_demo_qr(qr, now.astimezone(settings.tz).date())
                console.print(f"  a photo of an invoice's QR code: [cyan]/file {qr}[/cyan]", soft_wrap=True,
                              highlight=False)
                console.print("Maintenance: in another terminal run [bold].venv/bin/python bot.py maintenance "
                              "start --demo --until +1h --message-zh 系统升级[/bold] (and [bold]maintenance end "
                              "--demo[/bold]).\nType a number to press a button, /cancel for the menu, "
                              "/lang to switch language, quit to leave.\n", highlight=False)
            await chat_loop(terminal_handler(rt, lang), user_id=user_id, chat_id=user_id, language=lang,
                            console=console)

    run_async(main())


@app.command("import-invoices")
def import_invoices(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
                    demo: DemoOption = False) -> None:
    """Import invoices from CSV or XLSX (English headers or the e-tax bureau export)."""
    from assistant.importer import RowError, import_file

    settings = settings_for(demo)

    async def main() -> None:
        async with runtime(settings) as rt:
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task(f"importing {file.name}", total=None)
                report = await import_file(rt.sessions, file, now=utcnow(),
                                           progress=lambda n: progress.advance(task, n))
            async with rt.units() as store:
                await store.audit.add(actor_id=None, action="invoices_imported", allowed=True, now=utcnow(),
                                           detail={"file": file.name, "rows": report.rows, "new": report.new,
                                                   "updated": report.updated, "rejected": len(report.errors),
                                                   "via": "cli"})
        for row, reason in report.errors[:200]:
            console.print(f"row {row}: {reason}", style="yellow", highlight=False)
        if len(report.errors) > 200:
            console.print(f"… and {len(report.errors) - 200} more bad rows", style="yellow")
        console.print(f"{report.rows} rows: {report.new} new, {report.updated} updated, "
                      f"{report.unchanged} unchanged, {len(report.errors)} rejected")

    try:
        run_async(main())
    except RowError as error:
        fail(f"{file}: {error}")


@users_app.command("add")
def users_add(telegram_id: int,
              role: Annotated[str, typer.Option(help="merchant, staff or admin")] = "merchant",
              company: Annotated[list[str] | None, typer.Option(help="Tax id the user may view (repeat).")] = None,
              lang: Annotated[str | None, typer.Option(help="zh or en")] = None,
              alias: Annotated[str | None, typer.Option(help="Name merchants see for a staff member.")] = None,
              demo: DemoOption = False) -> None:
    """Add a user, or change an existing user's role, language, companies or staff alias."""
    if role not in ROLES:
        fail(f"role must be one of {', '.join(ROLES)}")
    if lang is not None and lang not in ("zh", "en"):
        fail("lang must be zh or en")
    settings = settings_for(demo)

    async def main() -> None:
        async with runtime(settings) as rt, rt.units() as store:
            await store.users.save(telegram_id, role=role, language=lang, companies=company or [], now=utcnow(),
                                  alias=alias)
            await store.audit.add(actor_id=None, action="user_saved", allowed=True,
                              detail={"user": telegram_id, "role": role, "companies": company or [], "via": "cli"},
                              now=utcnow())

    run_async(main())
    console.print(f"user {telegram_id} saved as {role}")


@users_app.command("list")
def users_list(demo: DemoOption = False) -> None:
    """List users with their roles, languages and companies."""
    settings = settings_for(demo)

    async def main() -> None:
        async with runtime(settings) as rt, rt.units() as store:
            rows = await store.users.all()
        table = Table("telegram id", "role", "lang", "name", "alias", "companies")
        for user, companies in rows:
            table.add_row(str(user.id), user.role, user.language, user.name, user.alias, ", ".join(companies))
        console.print(table)

    run_async(main())


@maintenance_app.command("start")
def maintenance_start(until: Annotated[str, typer.Option(help="Expected end: +2h, 18:00, 2026-11-23 18:00")],
                      message_zh: Annotated[str, typer.Option(help="Message in Chinese.")],
                      message_en: Annotated[str, typer.Option(help="Message in English (default: Chinese).")] = "",
                      from_: Annotated[str | None, typer.Option("--from", help="Start (default: now).")] = None,
                      demo: DemoOption = False) -> None:
    """Announce a maintenance window."""
    settings = settings_for(demo)
    now = utcnow()
    starts = parse_time(from_, settings, now) if from_ else now
    ends = parse_time(until, settings, now)
    if ends <= starts:
        fail("the window must end after it starts")

    async def main() -> int:
        async with runtime(settings) as rt, rt.units() as store:
            window = await store.maintenance.add(starts_at=starts, ends_at=ends, message_zh=message_zh,
                                                 message_en=message_en, now=now)
            await store.audit.add(actor_id=None, action="maintenance_created", allowed=True,
                              detail={"window": window.id, "via": "cli"}, now=now)
            return window.id

    window_id = run_async(main())
    tz = settings.tz
    console.print(f"maintenance window {window_id}: {starts.astimezone(tz):%Y-%m-%d %H:%M} to "
                  f"{ends.astimezone(tz):%Y-%m-%d %H:%M} ({settings.timezone})")


@maintenance_app.command("end")
def maintenance_end(demo: DemoOption = False) -> None:
    """End the running maintenance window now."""
    settings = settings_for(demo)

    async def main() -> int:
        async with runtime(settings) as rt, rt.units() as store:
            ended = await store.maintenance.end(utcnow())
            await store.audit.add(actor_id=None, action="maintenance_end", allowed=True,
                              detail={"windows": [w.id for w in ended], "via": "cli"}, now=utcnow())
            return len(ended)

    ended = run_async(main())
    console.print(f"{ended} maintenance window(s) ended" if ended else "no maintenance window is running")


@maintenance_app.command("list")
def maintenance_list(demo: DemoOption = False) -> None:
    """List maintenance windows, newest first."""
    settings = settings_for(demo)

    async def main() -> None:
        now = utcnow()
        async with runtime(settings) as rt, rt.units() as store:
            windows = await store.maintenance.all()
        table = Table("id", "from", "until", "state", "message")
        tz = settings.tz
        for w in windows:
            state = ("ended" if w.ended_at else "running" if w.starts_at <= now < w.ends_at
                     else "planned" if w.starts_at > now else "over")
            table.add_row(str(w.id), f"{w.starts_at.astimezone(tz):%Y-%m-%d %H:%M}",
                          f"{w.ends_at.astimezone(tz):%Y-%m-%d %H:%M}", state, w.message_zh)
        console.print(table)

    run_async(main())


@inbox_app.command("list")
def inbox_list(all_: Annotated[bool, typer.Option("--all", help="Also updates handled or dropped.")] = False,
               limit: Annotated[int, typer.Option(help="How many, oldest first.")] = 100,
               demo: DemoOption = False) -> None:
    """Updates still waiting, and dead letters (failed MAX_ATTEMPTS times): what, whose, why."""
    settings = settings_for(demo)
    states = ("pending", "dead", "done", "dropped") if all_ else ("pending", "dead")

    async def main() -> None:
        async with runtime(settings) as rt, rt.units() as store:
            entries = await store.inbox.entries(states, limit)
        table = Table("id", "state", "chat", "kind", "attempts", "received", "error")
        for entry in entries:
            table.add_row(str(entry.update_id), entry.state, str(entry.chat_id), entry.kind, str(entry.attempts),
                          f"{entry.received_at.astimezone(settings.tz):%Y-%m-%d %H:%M:%S}", entry.error[:120])
        console.print(table)
        if not entries:
            console.print("nothing waiting, no dead letters")

    run_async(main())


def _inbox_action(update_id: int, demo: bool, action: str) -> None:
    settings = settings_for(demo)

    async def main() -> bool:
        async with runtime(settings) as rt, rt.units() as store:
            inbox = store.inbox
            done = await (inbox.retry(update_id) if action == "retry" else inbox.drop(update_id, utcnow()))
            await store.audit.add(actor_id=None, action=f"inbox_{action}", allowed=done,
                                  detail={"update": update_id, "via": "cli"}, now=utcnow())
            return done

    if not run_async(main()):
        fail(f"update {update_id} is not {'dead' if action == 'retry' else 'waiting or dead'}: see `bot.py inbox list`")
    console.print(f"update {update_id} " + ("will be handled again (attempts reset)" if action == "retry"
                                            else "dropped: it will not be handled"))


@inbox_app.command("retry")
def inbox_retry(update_id: Annotated[int, typer.Argument(help="The id `inbox list` shows.")],
                demo: DemoOption = False) -> None:
    """Put a dead letter back in line, its attempts reset (after fixing what made it fail)."""
    _inbox_action(update_id, demo, "retry")


@inbox_app.command("drop")
def inbox_drop(update_id: Annotated[int, typer.Argument(help="The id `inbox list` shows.")],
               demo: DemoOption = False) -> None:
    """Give up on an update: it is never handled (the merchant was told when it was dead-lettered)."""
    _inbox_action(update_id, demo, "drop")


# -- Telegram -------------------------------------------------------------------------------------
TOKEN_PATTERN = re.compile(r"^\d{5,}:[A-Za-z0-9_-]{30,}$")


def telegram_token(settings: Settings) -> str:
    """The bot token, or a one-line error."""
    if settings.telegram_bot_token is None or not settings.telegram_bot_token.get_secret_value().strip():
        fail("TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather and put its token in the environment "
             "or .env")
    token = settings.telegram_bot_token.get_secret_value().strip()  # type: ignore[union-attr]
    if not TOKEN_PATTERN.match(token):
        fail("TELEGRAM_BOT_TOKEN is malformed: it looks like 123456789:AAH… (digits, a colon, 35 characters)")
    return token


def build_application(settings: Settings, rt: Runtime, token: str) -> tuple[Any, Any]:
    """python-telegram-bot's Application with every handler, in one visible block; and the adapter."""
    from telegram.ext import (
        AIORateLimiter,
        Application,
        CallbackQueryHandler,
        CommandHandler,
        MessageHandler,
        filters,
    )

    from assistant.adapters.telegram import FloodGuard, TelegramAdapter

    adapter = TelegramAdapter(core=rt.assistant, renderer=rt.renderer,
                              default_language=settings.default_language, support_chat_id=settings.support_chat_id,
                              flood=FloodGuard(settings.flood_messages, settings.flood_seconds))
    builder = (Application.builder().token(token)
               .base_url(settings.telegram_api_base_url).base_file_url(settings.telegram_api_file_url))
    if settings.telegram_max_rate > 0:  # Telegram's limit for one bot: about 30 requests a second
        builder = builder.rate_limiter(AIORateLimiter(overall_max_rate=settings.telegram_max_rate, max_retries=5))
    application = builder.updater(None).build()  # updates come from the inbox (our Poller or the webhook)

    support = filters.Chat(chat_id=settings.support_chat_id or (), allow_empty=False)  # empty: matches nothing
    messages = filters.UpdateType.MESSAGE | filters.UpdateType.EDITED_MESSAGE
    application.add_handlers([
        CallbackQueryHandler(adapter.on_update, pattern=lambda _: True),     # buttons (menus, cards, ratings)
        MessageHandler((filters.ChatType.PRIVATE | support) & messages, adapter.on_update),  # merchants, staff
        CommandHandler("start", adapter.on_group_start, filters=filters.ChatType.GROUPS & ~support),
    ])
    application.add_error_handler(adapter.on_error)
    return application, adapter


async def serve(settings: Settings, stop: asyncio.Event, *, clock: Callable[[], datetime] = utcnow,
                ready: asyncio.Event | None = None) -> None:
    """Run the bot until `stop` is set: long polling, or a webhook server when WEBHOOK_URL is set."""
    from assistant.adapters.serving import Webhook, receive_updates, repeat
    from assistant.adapters.telegram import TelegramBroadcast, received, set_up_bot_profile
    from assistant.broadcast import BroadcastRunner
    from assistant.store.engine import ping

    token = telegram_token(settings)
    async with runtime(settings, clock) as rt:
        async with rt.units() as store:
            created = await store.users.ensure_admins(settings.admin_ids, utcnow())
        if created:
            logger.info("admins created: %s", ", ".join(map(str, created)))
        application, adapter = build_application(settings, rt, token)
        async with application:
            async with rt.units() as store:
                admins = {admin.id: admin.language for admin in await store.users.admins()}
            await set_up_bot_profile(application.bot, rt.renderer, settings.default_language, admins)
            await adapter.execute(application.bot, await rt.assistant.startup_notices())
            await application.start()
            runner = BroadcastRunner(rt.units, rt.renderer, TelegramBroadcast(application.bot),
                                     settings.broadcast_rate, clock, stopping=stop.is_set)
            async def carry_out_due() -> None:  # tickets waiting too long, promised notices and rechecks
                await adapter.execute(application.bot, await rt.assistant.due())

            inbox = build_inbox(settings, rt.units)

            async def handle(batch: Any) -> bool:
                return bool(await adapter.process(application, batch))

            async def execute(outputs: list[Out]) -> None:
                await adapter.execute(application.bot, outputs)

            interval = settings.scheduler_interval_seconds
            background = [asyncio.create_task(repeat(carry_out_due, "scheduled work", interval, stop)),
                          asyncio.create_task(repeat(runner.run_all, "broadcasts", interval, stop)),
                          asyncio.create_task(inbox.run(handle, rt.assistant.dead_letter, execute, stop))]
            async def receive(updates: list[dict[str, Any]]) -> None:
                await inbox.receive([received(data) for data in updates])

            webhook = (Webhook(settings.webhook_url, webhook_secret(settings, token), settings.webhook_listen,
                               settings.webhook_port) if settings.webhook_url else None)
            try:
                await receive_updates(application.bot, receive, webhook=webhook,
                                      poll_timeout=int(settings.poll_timeout), healthy=lambda: ping(rt.engine),
                                      stop=stop, ready=ready)
            finally:
                stop.set()
                _, late = await asyncio.wait(background, timeout=15)
                for task in late:
                    task.cancel()
                await asyncio.gather(*background, return_exceptions=True)
                await application.stop()


def webhook_secret(settings: Settings, token: str) -> str:
    """WEBHOOK_SECRET, or one derived from the token: every process behind the balancer agrees on it."""
    import hashlib

    if settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value()
    return hashlib.sha256(f"webhook-secret:{token}".encode()).hexdigest()


@app.command()
def run(webhook: Annotated[str | None, typer.Option(help="Public HTTPS URL for Telegram's webhook "
                                                          "(default: long polling).")] = None,
        listen: Annotated[str | None, typer.Option(help="Address the webhook server binds.")] = None,
        port: Annotated[int | None, typer.Option(help="Port the webhook server binds.")] = None) -> None:
    """Run the Telegram bot."""
    import signal

    from telegram.error import InvalidToken, NetworkError

    settings = load_settings(webhook_url=webhook, webhook_listen=listen, webhook_port=port)
    configure_logging(settings.log_level)
    telegram_token(settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await serve(settings, stop)

    try:
        run_async(main())
    except InvalidToken:
        fail("Telegram rejected TELEGRAM_BOT_TOKEN: check it with @BotFather")
    except NetworkError as error:
        fail(f"cannot reach the Bot API at {settings.telegram_api_base_url}: {error}")


@app.command()
def audit(limit: Annotated[int, typer.Option(help="How many entries, newest first.")] = 100,
          demo: DemoOption = False) -> None:
    """List admin actions and refused attempts: who, what, when."""
    settings = settings_for(demo)

    async def main() -> None:
        async with runtime(settings) as rt, rt.units() as store:
            entries = await store.audit.entries(limit)
        table = Table("when", "who", "action", "allowed", "detail")
        for entry in entries:
            table.add_row(f"{entry.at.astimezone(settings.tz):%Y-%m-%d %H:%M:%S}",
                          str(entry.actor_id) if entry.actor_id is not None else "cli", entry.action,
                          "yes" if entry.allowed else "[red]REFUSED[/red]", json.dumps(entry.detail, ensure_ascii=False))
        console.print(table)

    run_async(main())


def flows_markdown() -> str:
    """docs/flows.md as the code defines it."""
    parts = ["# Conversation flows", "",
             "Generated from the tables in `flows/` by `python bot.py flows`; a test fails when it is stale.", ""]
    for spec in FLOWS:
        parts += [f"## {spec.name}", "", "```mermaid", mermaid(spec), "```", ""]
    return "\n".join(parts)


@app.command()
def flows(check: Annotated[bool, typer.Option(help="Only check that docs/flows.md is current.")] = False) -> None:
    """Regenerate the mermaid diagrams in docs/flows.md."""
    text = flows_markdown()
    if check:
        if not FLOWS_DOC.exists() or FLOWS_DOC.read_text(encoding="utf-8") != text:
            fail("docs/flows.md is out of date: run `python bot.py flows`")
        console.print("docs/flows.md is current")
        return
    FLOWS_DOC.parent.mkdir(exist_ok=True)
    FLOWS_DOC.write_text(text, encoding="utf-8")
    console.print(f"wrote {FLOWS_DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    app()
