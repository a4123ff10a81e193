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
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Protocol, TypeVar, cast

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from assistant.adapters.check import Check
from assistant.adapters.cli_texts import LocalizedGroup, columns, language_of, tell
from assistant.adapters.failures import ExitCode, explain
from assistant.admin.commands import end_maintenance, start_maintenance
from assistant.admin.figures import Period, periods
from assistant.core import utcnow
from assistant.domain.identifiers import tax_id_valid
from assistant.domain.service import Service
from assistant.messages import Inbound
from assistant.outputs import Out, Reply, Unavailable
from assistant.settings import PROJECT_DIR, Settings
from assistant.store.models import ROLES

if TYPE_CHECKING:
    from bot import Runtime

logger = logging.getLogger(__name__)

DEMO_DATABASE_FILE = PROJECT_DIR / "data" / "demo.sqlite3"
DEMO_DATABASE_URL = f"sqlite+aiosqlite:///{DEMO_DATABASE_FILE.as_posix()}"

console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")


class Serve(Protocol):
    """The bot until `stop` is set; `ready` is set once it takes updates."""

    def __call__(self, settings: Settings, stop: asyncio.Event, *,
                 ready: asyncio.Event | None = None, force: bool = False) -> Awaitable[None]: ...


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
    checks: Callable[[Settings], Awaitable[list[Check]]]


def composed(ctx: typer.Context) -> Composition:
    return cast(Composition, ctx.obj)


class JsonLines(logging.Formatter):
    """One JSON object a line: time, level, logger, message (and the exception, when there is one)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


CHATTY = ("httpx", "httpcore", "alembic", "transitions", "uvicorn.access", "aiohttp.access", "telegram.ext")
"""Libraries whose INFO lines say nothing an operator needs (transitions' were half of all lines)."""


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    if settings.log_format == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=settings.log_level, handlers=[handler])
    for name in CHATTY:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))


def fail(message: str, code: ExitCode = ExitCode.CONFIGURATION) -> NoReturn:
    """One line on stderr, and the exit code that says what kind of failure it was."""
    err_console.print(f"[red]{escape(message)}[/red]", highlight=False, soft_wrap=True)
    raise typer.Exit(code=int(code))


def run_async(coroutine: Awaitable[T], settings: Settings | None = None) -> T:
    """Run a command's coroutine; whatever fails is one line and an exit code, never a traceback."""
    try:
        return asyncio.run(coroutine)  # type: ignore[arg-type]
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as error:  # noqa: BLE001 - the operator's terminal gets one line
        said = explain(error, database_url=settings.database_url if settings else "",
                       bot_api=settings.telegram_api_base_url if settings else "")
        if said is None:
            logger.debug("unexpected failure", exc_info=error)
            fail(f"unexpected error: {type(error).__name__}: {str(error)[:300]} (LOG_LEVEL=DEBUG shows where)",
                 ExitCode.UNEXPECTED)
        fail(*said)


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
        fail(tell("time_unreadable", settings.default_language, value=value))
        raise AssertionError("unreachable")
    return moment



# -- command line ------------------------------------------------------------------------------
# Help texts and messages: cli_texts.toml, in DEFAULT_LANGUAGE (LocalizedGroup puts them on when the app runs).
app = typer.Typer(cls=LocalizedGroup, no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(no_args_is_help=True)
users_app = typer.Typer(no_args_is_help=True)
maintenance_app = typer.Typer(no_args_is_help=True)
inbox_app = typer.Typer(no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(inbox_app, name="inbox")
app.add_typer(users_app, name="users")
app.add_typer(maintenance_app, name="maintenance")

DemoOption = Annotated[bool, typer.Option("--demo")]


def settings_for(ctx: typer.Context, demo: bool) -> Settings:
    settings = composed(ctx).load_settings(database_url=DEMO_DATABASE_URL if demo else None)
    configure_logging(settings)
    return settings


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, demo: DemoOption = False) -> None:
    """Apply the database migrations."""
    settings = settings_for(ctx, demo)

    async def main() -> None:
        async with composed(ctx).runtime(settings):
            pass

    run_async(main(), settings)
    console.print(tell("database_current", settings.default_language))


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
         user: Annotated[int | None, typer.Option()] = None,
         lang: Annotated[str, typer.Option()] = "zh",
         fresh: Annotated[bool, typer.Option("--fresh")] = False) -> None:
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
                console.print(tell("demo_invoices", settings.default_language))
                for case in cases:
                    console.print(f"  {case.outcome}: [cyan]{case.typed}[/cyan]", soft_wrap=True, highlight=False)
                qr = PROJECT_DIR / "data" / "demo-invoice-qr.png"
                write_demo_qr(qr, now.astimezone(settings.tz).date())
                console.print(tell("demo_qr", settings.default_language, path=qr), soft_wrap=True,
                              highlight=False)
                console.print(tell("demo_how", settings.default_language), highlight=False)
            await chat_loop(terminal_handler(rt, lang), user_id=user_id, chat_id=user_id, language=lang,
                            console=console)

    run_async(main(), settings)


@app.command("import-invoices")
def import_invoices(ctx: typer.Context,
                    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
                    demo: DemoOption = False) -> None:
    """Import invoices from CSV or XLSX (English headers or the e-tax bureau export)."""
    from assistant.import_reasons import say
    from assistant.importer import FileKindError, RowError, import_file

    settings = settings_for(ctx, demo)
    language = settings.default_language

    async def main() -> None:
        async with composed(ctx).runtime(settings) as rt:
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task(tell("importing", language, name=file.name), total=None)
                try:
                    report = await import_file(rt.sessions, file, now=utcnow(), tz=settings.tz,
                                               progress=lambda n: progress.advance(task, n))
                except FileKindError as error:  # one line, whatever the file's name claims
                    fail(tell("import_xls", language, file=file) if error.kind == "xls"
                         else tell("import_not_a_table", language, file=file, kind=error.kind))
                except RowError as error:
                    fail(tell("import_failed", language, file=file, error=say(rt.renderer, language, error.reason)))
            async with rt.units() as store:
                await store.audit.add(actor_id=None, action="invoices_imported", allowed=True, now=utcnow(),
                                           detail={"file": file.name, "rows": report.rows, "new": report.new,
                                                   "updated": report.updated, "rejected": report.rejected,
                                                   "via": "cli"})
            for row, warning in report.warnings[:200]:
                console.print(escape(tell("row_warning", language, row=row, warning=say(rt.renderer, language, warning))),
                              style="cyan", highlight=False)
            for row, why in report.errors[:200]:
                console.print(escape(tell("row_rejected", language, row=row, reason=say(rt.renderer, language, why))),
                              style="yellow", highlight=False)
        if report.rejected > 200:
            console.print(tell("more_rejected", language, count=report.rejected - 200), style="yellow")
        console.print(tell("import_summary", language, rows=report.rows, new=report.new, updated=report.updated,
                          unchanged=report.unchanged, rejected=report.rejected))

    run_async(main(), settings)


@users_app.command("add")
def users_add(ctx: typer.Context, telegram_id: int,
              role: Annotated[str | None, typer.Option()] = None,
              company: Annotated[list[str] | None, typer.Option()] = None,
              lang: Annotated[str | None, typer.Option()] = None,
              alias: Annotated[str | None, typer.Option()] = None,
              demo: DemoOption = False) -> None:
    """Add a user, or change what is given of an existing user's role, language, companies or staff alias."""
    language = language_of(ctx)
    if role is not None and role not in ROLES:
        fail(tell("role_unknown", language, roles=", ".join(ROLES)))
    if lang is not None and lang not in ("zh", "en"):
        fail(tell("lang_unknown", language))
    for tax_id in company or []:
        if not re.fullmatch(r"[0-9A-Za-z]{15}|[0-9A-Za-z]{18}|[0-9A-Za-z]{20}", tax_id):
            hint = tell("company_by_name", language) if re.search(r"[^\x00-\x7f]|\s", tax_id) else ""
            fail(tell("company_not_tax_id", language, value=tax_id, hint=hint))
        if not tax_id_valid(tax_id):
            err_console.print(f"[yellow]{escape(tell('company_check_character', language, value=tax_id))}[/yellow]",
                              highlight=False)
    settings = settings_for(ctx, demo)

    async def main() -> str:
        async with composed(ctx).runtime(settings) as rt, rt.units() as store:
            existing = await store.users.get(telegram_id)
            kept = role or (existing.role if existing is not None else "merchant")
            await store.users.save(telegram_id, role=kept, language=lang, companies=company or [], now=utcnow(),
                                   alias=alias)
            await store.audit.add(actor_id=None, action="user_saved", allowed=True,
                                  detail={"user": telegram_id, "role": kept, "companies": company or [], "via": "cli"},
                                  now=utcnow())
        return kept

    kept = run_async(main(), settings)
    console.print(tell("user_saved", settings.default_language, id=telegram_id, role=kept))


@users_app.command("list")
def users_list(ctx: typer.Context, demo: DemoOption = False) -> None:
    """List users with their roles, languages and companies."""
    settings = settings_for(ctx, demo)

    async def main() -> None:
        async with composed(ctx).runtime(settings) as rt, rt.units() as store:
            rows = await store.users.all()
        table = Table(*columns("users_columns", settings.default_language))
        for user, companies in rows:
            table.add_row(str(user.id), user.role, user.language, escape(user.name), escape(user.alias),
                          ", ".join(companies))
        console.print(table)

    run_async(main(), settings)


@users_app.command("unlink")
def users_unlink(ctx: typer.Context, telegram_id: int,
                 company: Annotated[list[str], typer.Option()],
                 demo: DemoOption = False) -> None:
    """Take companies from a user: they no longer see those companies' invoices."""
    settings = settings_for(ctx, demo)

    async def main() -> int:
        async with composed(ctx).runtime(settings) as rt, rt.units() as store:
            removed = await store.users.unlink(telegram_id, company)
            await store.audit.add(actor_id=None, action="user_unlinked", allowed=True,
                                  detail={"user": telegram_id, "companies": company, "via": "cli"}, now=utcnow())
        return removed

    removed = run_async(main(), settings)
    if not removed:
        fail(tell("user_has_none", settings.default_language, id=telegram_id))
    console.print(tell("user_unlinked", settings.default_language, id=telegram_id, count=removed))


@users_app.command("remove")
def users_remove(ctx: typer.Context, telegram_id: int, demo: DemoOption = False) -> None:
    """Remove a user's account (role, language, companies). What they did stays; to erase a merchant's personal
    data, use `users forget`."""
    settings = settings_for(ctx, demo)

    async def main() -> bool:
        async with composed(ctx).runtime(settings) as rt, rt.units() as store:
            removed = await store.users.remove(telegram_id)
            if removed:
                await store.audit.add(actor_id=None, action="user_removed", allowed=True,
                                      detail={"user": telegram_id, "via": "cli"}, now=utcnow())
        return removed

    if not run_async(main(), settings):
        fail(tell("user_unknown", settings.default_language, id=telegram_id))
    console.print(tell("user_removed", settings.default_language, id=telegram_id))


@users_app.command("forget")
def users_forget(ctx: typer.Context, telegram_id: int,
                 yes: Annotated[bool, typer.Option("--yes")] = False, demo: DemoOption = False) -> None:
    """Erase a person's personal data (PIPL): account, conversation, lookups' identifiers, tickets' texts and
    message maps, queued messages. Anonymous counts for statistics stay. Cannot be undone."""
    settings = settings_for(ctx, demo)

    async def main() -> dict[str, int]:
        async with composed(ctx).runtime(settings) as rt, rt.units() as store:
            if not yes:
                found = await store.privacy.export(telegram_id)
                return {table: len(rows) for table, rows in found.items() if rows}
            changed = await store.privacy.forget(telegram_id)
            await store.audit.add(actor_id=None, action="user_forgotten", allowed=True,
                                  detail={"tables": changed, "via": "cli"}, now=utcnow())
            return changed

    changed = run_async(main(), settings)
    language = settings.default_language
    summary = ", ".join(f"{table} {count}" for table, count in changed.items()) or tell("nothing_stored", language)
    if not yes:
        console.print(tell("would_forget", language, id=telegram_id, summary=summary))
        return
    console.print(tell("forgotten", language, id=telegram_id, summary=summary))


@users_app.command("export")
def users_export(ctx: typer.Context, telegram_id: int,
                 out: Annotated[Path | None, typer.Option()] = None, demo: DemoOption = False) -> None:
    """Write everything stored about one person, as JSON (a PIPL access request)."""
    settings = settings_for(ctx, demo)

    async def main() -> dict[str, Any]:
        async with composed(ctx).runtime(settings) as rt, rt.units() as store:
            found = await store.privacy.export(telegram_id)
            await store.audit.add(actor_id=None, action="user_exported", allowed=True,
                                  detail={"user": telegram_id, "via": "cli"}, now=utcnow())
        return {"user_id": telegram_id, "exported_at": utcnow().isoformat(), "tables": found}

    text = json.dumps(run_async(main(), settings), ensure_ascii=False, indent=2)
    if out is None:
        print(text)
        return
    try:
        out.write_text(text + "\n", encoding="utf-8")
    except OSError as error:
        fail(tell("cannot_write", settings.default_language, path=out, reason=error.strerror))
    console.print(tell("wrote", settings.default_language, path=out))


@maintenance_app.command("start")
def maintenance_start(ctx: typer.Context,
                      until: Annotated[str, typer.Option()],
                      message_zh: Annotated[str, typer.Option()],
                      message_en: Annotated[str, typer.Option()] = "",
                      from_: Annotated[str | None, typer.Option("--from")] = None,
                      demo: DemoOption = False) -> None:
    """Announce a maintenance window."""
    settings = settings_for(ctx, demo)
    now = utcnow()
    starts = parse_time(from_, settings, now) if from_ else now
    ends = parse_time(until, settings, now)
    if ends <= starts:
        fail(tell("window_backwards", settings.default_language))

    async def main() -> int:
        async with composed(ctx).runtime(settings) as rt, rt.units() as store:
            return await start_maintenance(store, starts_at=starts, ends_at=ends, message_zh=message_zh,
                                           message_en=message_en, now=now, actor_id=None, via="cli")

    window_id = run_async(main(), settings)
    tz = settings.tz
    console.print(tell("window_announced", settings.default_language, id=window_id,
                      starts=f"{starts.astimezone(tz):%Y-%m-%d %H:%M}", ends=f"{ends.astimezone(tz):%Y-%m-%d %H:%M}",
                      tz=settings.timezone))


@maintenance_app.command("end")
def maintenance_end(ctx: typer.Context, demo: DemoOption = False) -> None:
    """End the running maintenance window now."""
    settings = settings_for(ctx, demo)

    async def main() -> int:
        async with composed(ctx).runtime(settings) as rt, rt.units() as store:
            ended, _ = await end_maintenance(store, utcnow())
            await store.audit.add(actor_id=None, action="maintenance_end", allowed=True,
                              detail={"windows": [w.id for w in ended], "via": "cli"}, now=utcnow())
            return len(ended)

    ended = run_async(main(), settings)
    console.print(tell("windows_ended", settings.default_language, count=ended) if ended
                  else tell("no_window_running", settings.default_language))


@maintenance_app.command("list")
def maintenance_list(ctx: typer.Context, demo: DemoOption = False) -> None:
    """List maintenance windows, newest first."""
    settings = settings_for(ctx, demo)

    async def main() -> None:
        now = utcnow()
        async with composed(ctx).runtime(settings) as rt, rt.units() as store:
            windows = await store.maintenance.all()
        language = settings.default_language
        table = Table(*columns("windows_columns", language))
        tz = settings.tz
        for w in windows:
            state = tell("window_ended" if w.ended_at else "window_running" if w.starts_at <= now < w.ends_at
                        else "window_planned" if w.starts_at > now else "window_over", language)
            table.add_row(str(w.id), f"{w.starts_at.astimezone(tz):%Y-%m-%d %H:%M}",
                          f"{w.ends_at.astimezone(tz):%Y-%m-%d %H:%M}", state, escape(w.message_zh))
        console.print(table)

    run_async(main(), settings)


@inbox_app.command("list")
def inbox_list(ctx: typer.Context,
               all_: Annotated[bool, typer.Option("--all")] = False,
               limit: Annotated[int, typer.Option()] = 100,
               demo: DemoOption = False) -> None:
    """Updates still waiting, and dead letters (failed MAX_ATTEMPTS times): what, whose, why."""
    settings = settings_for(ctx, demo)
    states = ("pending", "dead", "done", "dropped") if all_ else ("pending", "dead")

    async def main() -> None:
        async with composed(ctx).runtime(settings) as rt, rt.units() as store:
            entries = await store.inbox.entries(states, limit)
        table = Table(*columns("inbox_columns", settings.default_language))
        for entry in entries:
            table.add_row(str(entry.update_id), entry.state, str(entry.chat_id), entry.kind, str(entry.attempts),
                          f"{entry.received_at.astimezone(settings.tz):%Y-%m-%d %H:%M:%S}", escape(entry.error[:120]))
        console.print(table)
        if not entries:
            console.print(tell("inbox_empty", settings.default_language))

    run_async(main(), settings)


def _inbox_action(ctx: typer.Context, update_id: int, demo: bool, action: str) -> None:
    settings = settings_for(ctx, demo)

    async def main() -> bool:
        async with composed(ctx).runtime(settings) as rt, rt.units() as store:
            inbox = store.inbox
            done = await (inbox.retry(update_id) if action == "retry" else inbox.drop(update_id, utcnow()))
            await store.audit.add(actor_id=None, action=f"inbox_{action}", allowed=done,
                                  detail={"update": update_id, "via": "cli"}, now=utcnow())
            return done

    if not run_async(main(), settings):
        fail(tell("not_dead" if action == "retry" else "not_waiting", settings.default_language, id=update_id))
    console.print(tell("retried" if action == "retry" else "dropped", settings.default_language, id=update_id))


@inbox_app.command("retry")
def inbox_retry(ctx: typer.Context, update_id: Annotated[int, typer.Argument()],
                demo: DemoOption = False) -> None:
    """Put a dead letter back in line, its attempts reset (after fixing what made it fail)."""
    _inbox_action(ctx, update_id, demo, "retry")


@inbox_app.command("drop")
def inbox_drop(ctx: typer.Context, update_id: Annotated[int, typer.Argument()],
               demo: DemoOption = False) -> None:
    """Give up on an update: it is never handled (the merchant was told when it was dead-lettered)."""
    _inbox_action(ctx, update_id, demo, "drop")



@app.command()
def run(ctx: typer.Context, webhook: Annotated[str | None, typer.Option()] = None,
        listen: Annotated[str | None, typer.Option()] = None,
        port: Annotated[int | None, typer.Option()] = None,
        force: Annotated[bool, typer.Option("--force")] = False) -> None:
    """Run the Telegram bot."""
    import signal

    settings = composed(ctx).load_settings(webhook_url=webhook, webhook_listen=listen, webhook_port=port)
    configure_logging(settings)
    composed(ctx).telegram_token(settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        ready = asyncio.Event()
        freezing = asyncio.create_task(freeze_when(ready))
        try:
            await composed(ctx).serve(settings, stop, ready=ready, force=force)
        finally:
            freezing.cancel()

    run_async(main(), settings)



@app.command()
def audit(ctx: typer.Context, limit: Annotated[int, typer.Option()] = 100,
          demo: DemoOption = False) -> None:
    """List admin actions and refused attempts: who, what, when."""
    settings = settings_for(ctx, demo)

    async def main() -> None:
        async with composed(ctx).runtime(settings) as rt, rt.units() as store:
            entries = await store.audit.entries(limit)
        language = settings.default_language
        table = Table(*columns("audit_columns", language))
        for entry in entries:
            table.add_row(f"{entry.at.astimezone(settings.tz):%Y-%m-%d %H:%M:%S}",
                          str(entry.actor_id) if entry.actor_id is not None else "cli", entry.action,
                          tell("allowed" if entry.allowed else "refused", language),
                          escape(json.dumps(entry.detail, ensure_ascii=False)))
        console.print(table)

    run_async(main(), settings)


@app.command()
def stats(ctx: typer.Context, chart: Annotated[Path | None, typer.Option()] = None,
          demo: DemoOption = False) -> None:
    """Satisfaction and response times (in total and per staff member) and lookups: today, 7 and 30 days."""
    from assistant import charts
    from assistant.admin.figures import ratings_chart
    settings = settings_for(ctx, demo)
    language = settings.default_language

    async def main() -> tuple[list[Period], bytes | None]:
        async with composed(ctx).runtime(settings) as rt, rt.units() as store:
            figures = await periods(store, utcnow(), settings.tz)
            drawn = ratings_chart(rt.renderer, language, 0, figures) if chart is not None else None
        return figures, (await asyncio.to_thread(charts.png, drawn) if drawn is not None else None)

    names = {"today": "stats_today", "week": "stats_week", "month": "stats_month"}
    table = Table(*columns("stats_columns", language))
    figures, picture = run_async(main(), settings)
    for period in figures:
        table.add_row(tell(names[period.name], language), tell("stats_everyone", language), str(period.lookups),
                      *_service_cells(period.service, language))
        for member in period.staff:
            table.add_row("", escape(member.label), "", *_service_cells(member.service, language))
    console.print(table)
    if chart is None:
        return
    if picture is None:
        console.print(tell("stats_no_ratings", language))
        return
    try:
        chart.write_bytes(picture)
    except OSError as error:
        fail(tell("cannot_write", language, path=chart, reason=error.strerror))
    console.print(tell("wrote", language, path=chart))


def _service_cells(figures: Service, language: str) -> list[str]:
    """Tickets, ratings (average, how many of each 5…1 stars), median minutes to first reply and to close."""
    def minutes(value: float | None) -> str:
        return f"{value}" if value is not None else "—"

    average = f"{figures.average_rating:.1f}" if figures.average_rating is not None else "—"
    spread = " ".join(f"{stars}★{figures.ratings[stars - 1]}" for stars in range(5, 0, -1)
                      if figures.ratings[stars - 1])
    return [str(figures.tickets), tell("stats_rated", language, average=average, rated=figures.rated,
                                       spread=spread or "—"),
            minutes(figures.median_first_reply_minutes), minutes(figures.median_close_minutes)]


@app.command()
def check(ctx: typer.Context) -> None:
    """Check the set-up: settings, database and schema, token and Bot API (through the proxy), webhook, support
    group — each ✓ or ✗ with what to do. Changes nothing."""
    settings = composed(ctx).load_settings()
    configure_logging(settings)
    results = run_async(composed(ctx).checks(settings), settings)
    for item in results:
        mark = "[green]✓[/green]" if item.ok else "[red]✗[/red]"
        console.print(f"{mark} {item.name}: {escape(item.detail)}"
                      + (f" — [bold]{escape(item.fix)}[/bold]" if not item.ok and item.fix else ""),
                      highlight=False, soft_wrap=True)
    failed = [item for item in results if not item.ok]
    if failed:
        raise typer.Exit(code=1)


@app.command()
def flows(ctx: typer.Context,
          check: Annotated[bool, typer.Option()] = False) -> None:
    """Regenerate the mermaid diagrams in docs/flows.md."""
    text = composed(ctx).flows_markdown()
    doc = composed(ctx).flows_doc
    if check:
        if not doc.exists() or doc.read_text(encoding="utf-8") != text:
            fail(tell("flows_stale", language_of(ctx)))
        console.print(tell("flows_current", language_of(ctx)))
        return
    doc.parent.mkdir(exist_ok=True)
    doc.write_text(text, encoding="utf-8")
    console.print(tell("wrote", language_of(ctx), path=doc.relative_to(composed(ctx).root)))
