"""The command line: `python bot.py …` (typer).

`bot.py` builds what the commands need (settings, runtime, the serving loop) and hands it to them as
the context object (`Composition`); nothing here connects or reads configuration by itself.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import re
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Protocol, TypeVar, cast

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from assistant.core import utcnow
from assistant.domain.identifiers import tax_id_valid
from assistant.messages import Inbound
from assistant.outputs import Out, Reply, Unavailable
from assistant.settings import Settings
from assistant.store.models import ROLES

if TYPE_CHECKING:
    from bot import Runtime

logger = logging.getLogger(__name__)

DEMO_DATABASE_FILE = Path("data/demo.sqlite3")
DEMO_DATABASE_URL = f"sqlite+aiosqlite:///./{DEMO_DATABASE_FILE.as_posix()}"

console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")


class Serve(Protocol):
    """The bot until `stop` is set; `ready` is set once it takes updates."""

    def __call__(self, settings: Settings, stop: asyncio.Event, *,
                 ready: asyncio.Event | None = None) -> Awaitable[None]: ...


@dataclass(frozen=True)
class Composition:
    """What the composition root gives the commands."""

    load_settings: Callable[..., Settings]
    runtime: Callable[[Settings], AbstractAsyncContextManager[Runtime]]
    serve: Serve
    telegram_token: Callable[[Settings], str]
    flows_markdown: Callable[[], str]
    flows_doc: Path
    root: Path


def composed(ctx: typer.Context) -> Composition:
    return cast(Composition, ctx.obj)


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def fail(message: str) -> None:
    err_console.print(f"[red]{message}[/red]", highlight=False, soft_wrap=True)
    raise typer.Exit(code=2)


def run_async(coroutine: Awaitable[T]) -> T:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


async def freeze_when(ready: asyncio.Event) -> None:
    """Once the bot takes updates, what start-up built is left out of the garbage collector's rounds.

    Modules, mappers, templates and the application live as long as the process; without this every
    full collection walks them all again (about 40 ms each, 3% of the bot's CPU under load).
    """
    await ready.wait()
    gc.freeze()


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


def settings_for(ctx: typer.Context, demo: bool) -> Settings:
    settings = composed(ctx).load_settings(database_url=DEMO_DATABASE_URL if demo else None)
    configure_logging(settings.log_level)
    return settings


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, demo: DemoOption = False) -> None:
    """Apply the database migrations."""
    settings = settings_for(ctx, demo)

    async def main() -> None:
        async with composed(ctx).runtime(settings):
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
def chat(ctx: typer.Context, demo: DemoOption = False,
         user: Annotated[int | None, typer.Option(help="Telegram user id to chat as.")] = None,
         lang: Annotated[str, typer.Option(help="zh or en for a new user.")] = "zh",
         fresh: Annotated[bool, typer.Option("--fresh", help="With --demo: start over (lookups, limits, tickets "
                                                             "and maintenance windows forgotten).")] = False) -> None:
    """Chat with the assistant in the terminal (buttons become numbered choices)."""
    if fresh and demo:
        DEMO_DATABASE_FILE.unlink(missing_ok=True)
    from assistant.adapters.terminal import chat_loop
    from assistant.demo import DEMO_USER, seed_demo, write_demo_qr

    settings = settings_for(ctx, demo)
    logging.getLogger().setLevel(logging.WARNING)
    user_id = user if user is not None else DEMO_USER

    async def main() -> None:
        async with composed(ctx).runtime(settings) as rt:
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
                              "--demo[/bold]).\nType a number to press a button, /cancel for the menu (during a "
                              "ticket: to withdraw it), /lang to switch language, quit to leave.\n", highlight=False)
            await chat_loop(terminal_handler(rt, lang), user_id=user_id, chat_id=user_id, language=lang,
                            console=console)

    run_async(main())


@app.command("import-invoices")
def import_invoices(ctx: typer.Context,
                    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
                    demo: DemoOption = False) -> None:
    """Import invoices from CSV or XLSX (English headers or the e-tax bureau export)."""
    from assistant.importer import RowError, import_file

    settings = settings_for(ctx, demo)

    async def main() -> None:
        async with composed(ctx).runtime(settings) as rt:
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task(f"importing {file.name}", total=None)
                report = await import_file(rt.sessions, file, now=utcnow(),
                                           progress=lambda n: progress.advance(task, n))
            async with rt.units() as store:
                await store.audit.add(actor_id=None, action="invoices_imported", allowed=True, now=utcnow(),
                                           detail={"file": file.name, "rows": report.rows, "new": report.new,
                                                   "updated": report.updated, "rejected": report.rejected,
                                                   "via": "cli"})
        for row, warning in report.warnings[:200]:
            console.print(f"row {row}: imported, but {warning}", style="cyan", highlight=False)
        for row, reason in report.errors[:200]:
            console.print(f"row {row}: {reason}", style="yellow", highlight=False)
        if report.rejected > 200:
            console.print(f"… and {report.rejected - 200} more bad rows", style="yellow")
        console.print(f"{report.rows} rows: {report.new} new, {report.updated} updated, "
                      f"{report.unchanged} unchanged, {report.rejected} rejected")

    try:
        run_async(main())
    except RowError as error:
        fail(f"{file}: {error}")


@users_app.command("add")
def users_add(ctx: typer.Context, telegram_id: int,
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
    for tax_id in company or []:
        if not re.fullmatch(r"[0-9A-Za-z]{15}|[0-9A-Za-z]{18}|[0-9A-Za-z]{20}", tax_id):
            hint = " (a company is given by its tax id, 统一社会信用代码, not its name)" if re.search(
                r"[^\x00-\x7f]|\s", tax_id) else ""
            fail(f"--company {tax_id!r} is not a taxpayer id: 18 characters like 91110000600037341L{hint}")
        if not tax_id_valid(tax_id):
            err_console.print(f"[yellow]--company {tax_id}: its check character does not match; saved, but please "
                              "check it[/yellow]", highlight=False)
    settings = settings_for(ctx, demo)

    async def main() -> None:
        async with composed(ctx).runtime(settings) as rt, rt.units() as store:
            await store.users.save(telegram_id, role=role, language=lang, companies=company or [], now=utcnow(),
                                  alias=alias)
            await store.audit.add(actor_id=None, action="user_saved", allowed=True,
                              detail={"user": telegram_id, "role": role, "companies": company or [], "via": "cli"},
                              now=utcnow())

    run_async(main())
    console.print(f"user {telegram_id} saved as {role}")


@users_app.command("list")
def users_list(ctx: typer.Context, demo: DemoOption = False) -> None:
    """List users with their roles, languages and companies."""
    settings = settings_for(ctx, demo)

    async def main() -> None:
        async with composed(ctx).runtime(settings) as rt, rt.units() as store:
            rows = await store.users.all()
        table = Table("telegram id", "role", "lang", "name", "alias", "companies")
        for user, companies in rows:
            table.add_row(str(user.id), user.role, user.language, user.name, user.alias, ", ".join(companies))
        console.print(table)

    run_async(main())


@maintenance_app.command("start")
def maintenance_start(ctx: typer.Context,
                      until: Annotated[str, typer.Option(help="Expected end: +2h, 18:00, 2026-11-23 18:00")],
                      message_zh: Annotated[str, typer.Option(help="Message in Chinese.")],
                      message_en: Annotated[str, typer.Option(help="Message in English (default: Chinese).")] = "",
                      from_: Annotated[str | None, typer.Option("--from", help="Start (default: now).")] = None,
                      demo: DemoOption = False) -> None:
    """Announce a maintenance window."""
    settings = settings_for(ctx, demo)
    now = utcnow()
    starts = parse_time(from_, settings, now) if from_ else now
    ends = parse_time(until, settings, now)
    if ends <= starts:
        fail("the window must end after it starts")

    async def main() -> int:
        async with composed(ctx).runtime(settings) as rt, rt.units() as store:
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
def maintenance_end(ctx: typer.Context, demo: DemoOption = False) -> None:
    """End the running maintenance window now."""
    settings = settings_for(ctx, demo)

    async def main() -> int:
        async with composed(ctx).runtime(settings) as rt, rt.units() as store:
            ended = await store.maintenance.end(utcnow())
            await store.audit.add(actor_id=None, action="maintenance_end", allowed=True,
                              detail={"windows": [w.id for w in ended], "via": "cli"}, now=utcnow())
            return len(ended)

    ended = run_async(main())
    console.print(f"{ended} maintenance window(s) ended" if ended else "no maintenance window is running")


@maintenance_app.command("list")
def maintenance_list(ctx: typer.Context, demo: DemoOption = False) -> None:
    """List maintenance windows, newest first."""
    settings = settings_for(ctx, demo)

    async def main() -> None:
        now = utcnow()
        async with composed(ctx).runtime(settings) as rt, rt.units() as store:
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
def inbox_list(ctx: typer.Context,
               all_: Annotated[bool, typer.Option("--all", help="Also updates handled or dropped.")] = False,
               limit: Annotated[int, typer.Option(help="How many, oldest first.")] = 100,
               demo: DemoOption = False) -> None:
    """Updates still waiting, and dead letters (failed MAX_ATTEMPTS times): what, whose, why."""
    settings = settings_for(ctx, demo)
    states = ("pending", "dead", "done", "dropped") if all_ else ("pending", "dead")

    async def main() -> None:
        async with composed(ctx).runtime(settings) as rt, rt.units() as store:
            entries = await store.inbox.entries(states, limit)
        table = Table("id", "state", "chat", "kind", "attempts", "received", "error")
        for entry in entries:
            table.add_row(str(entry.update_id), entry.state, str(entry.chat_id), entry.kind, str(entry.attempts),
                          f"{entry.received_at.astimezone(settings.tz):%Y-%m-%d %H:%M:%S}", entry.error[:120])
        console.print(table)
        if not entries:
            console.print("nothing waiting, no dead letters")

    run_async(main())


def _inbox_action(ctx: typer.Context, update_id: int, demo: bool, action: str) -> None:
    settings = settings_for(ctx, demo)

    async def main() -> bool:
        async with composed(ctx).runtime(settings) as rt, rt.units() as store:
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
def inbox_retry(ctx: typer.Context, update_id: Annotated[int, typer.Argument(help="The id `inbox list` shows.")],
                demo: DemoOption = False) -> None:
    """Put a dead letter back in line, its attempts reset (after fixing what made it fail)."""
    _inbox_action(ctx, update_id, demo, "retry")


@inbox_app.command("drop")
def inbox_drop(ctx: typer.Context, update_id: Annotated[int, typer.Argument(help="The id `inbox list` shows.")],
               demo: DemoOption = False) -> None:
    """Give up on an update: it is never handled (the merchant was told when it was dead-lettered)."""
    _inbox_action(ctx, update_id, demo, "drop")



@app.command()
def run(ctx: typer.Context, webhook: Annotated[str | None, typer.Option(help="Public HTTPS URL for Telegram's webhook "
                                                          "(default: long polling).")] = None,
        listen: Annotated[str | None, typer.Option(help="Address the webhook server binds.")] = None,
        port: Annotated[int | None, typer.Option(help="Port the webhook server binds.")] = None) -> None:
    """Run the Telegram bot."""
    import signal

    from telegram.error import InvalidToken, NetworkError

    settings = composed(ctx).load_settings(webhook_url=webhook, webhook_listen=listen, webhook_port=port)
    configure_logging(settings.log_level)
    composed(ctx).telegram_token(settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        ready = asyncio.Event()
        freezing = asyncio.create_task(freeze_when(ready))
        try:
            await composed(ctx).serve(settings, stop, ready=ready)
        finally:
            freezing.cancel()

    try:
        run_async(main())
    except InvalidToken:
        fail("Telegram rejected TELEGRAM_BOT_TOKEN: check it with @BotFather")
    except NetworkError as error:
        fail(f"cannot reach the Bot API at {settings.telegram_api_base_url}: {error}")



@app.command()
def audit(ctx: typer.Context, limit: Annotated[int, typer.Option(help="How many entries, newest first.")] = 100,
          demo: DemoOption = False) -> None:
    """List admin actions and refused attempts: who, what, when."""
    settings = settings_for(ctx, demo)

    async def main() -> None:
        async with composed(ctx).runtime(settings) as rt, rt.units() as store:
            entries = await store.audit.entries(limit)
        table = Table("when", "who", "action", "allowed", "detail")
        for entry in entries:
            table.add_row(f"{entry.at.astimezone(settings.tz):%Y-%m-%d %H:%M:%S}",
                          str(entry.actor_id) if entry.actor_id is not None else "cli", entry.action,
                          "yes" if entry.allowed else "[red]REFUSED[/red]",
                          json.dumps(entry.detail, ensure_ascii=False))
        console.print(table)

    run_async(main())


@app.command()
def flows(ctx: typer.Context,
          check: Annotated[bool, typer.Option(help="Only check that docs/flows.md is current.")] = False) -> None:
    """Regenerate the mermaid diagrams in docs/flows.md."""
    text = composed(ctx).flows_markdown()
    doc = composed(ctx).flows_doc
    if check:
        if not doc.exists() or doc.read_text(encoding="utf-8") != text:
            fail("docs/flows.md is out of date: run `python bot.py flows`")
        console.print("docs/flows.md is current")
        return
    doc.parent.mkdir(exist_ok=True)
    doc.write_text(text, encoding="utf-8")
    console.print(f"wrote {doc.relative_to(composed(ctx).root)}")
