"""What went wrong at start-up or in a command, as one line an operator can act on, and an exit code.

`explain` walks an exception's chain (SQLAlchemy's `.orig`, `__cause__`, `__context__`) for the first
thing it recognises; anything else is "unexpected", still one line (the traceback is logged at DEBUG).
The exit codes are documented in docs/metrics.md.
"""

from __future__ import annotations

import errno
import logging
import re
import socket
from collections.abc import Iterator
from enum import IntEnum

logger = logging.getLogger(__name__)


class ExitCode(IntEnum):
    UNEXPECTED = 1
    CONFIGURATION = 2
    DATABASE = 3
    TELEGRAM = 4
    PORT_IN_USE = 5


class OperatorError(Exception):
    """A failure already put in words (raised where the words are known best)."""

    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.code = code


def chain(error: BaseException) -> Iterator[BaseException]:
    """The error, what it wraps and what caused it, each once."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        for linked in (getattr(current, "orig", None), current.__cause__, current.__context__):
            if isinstance(linked, BaseException):
                pending.append(linked)


def _database(error: BaseException, where: str) -> str | None:
    name = type(error).__name__
    text = str(error)
    missing = re.search(r'database "([^"]{1,100})" does not exist', text)
    if name == "InvalidCatalogNameError" or missing:
        named = missing[1] if missing else "NAME"
        return f"the database {named!r} does not exist: create it (createdb {named}) or fix DATABASE_URL"
    if name in ("InvalidPasswordError", "InvalidAuthorizationSpecificationError"):
        return f"PostgreSQL refused the login ({text.strip()}): check the user and password in DATABASE_URL"
    if name == "TooManyConnectionsError" or "too many clients" in text:
        return ("PostgreSQL has no connection left (max_connections): lower DATABASE_CONNECTIONS or the number "
                "of processes, or put PgBouncer in front")
    if isinstance(error, ConnectionRefusedError) or (isinstance(error, OSError) and error.errno == errno.ECONNREFUSED):
        return f"cannot connect to the database{where} (connection refused): is PostgreSQL running? check DATABASE_URL"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve the database host{where}: check DATABASE_URL"
    if "unable to open database file" in text:
        return f"cannot open the SQLite database{where}: is its folder writable? check DATABASE_URL or DATA_DIR"
    if isinstance(error, OSError) and error.filename:
        return (f"cannot use {error.filename} ({error.strerror or name}): run as a user who may write there, "
                "or fix DATABASE_URL / DATA_DIR")
    return None


def explain(error: BaseException, database_url: str = "", bot_api: str = "") -> tuple[str, ExitCode] | None:
    """One line and an exit code for an error an operator can cause, or None when it is not one of them."""
    from assistant.store.migrate import NewerDatabase

    where = f" at {_redacted(database_url)}" if database_url else ""
    for current in chain(error):
        if isinstance(current, OperatorError):
            return str(current), current.code
        if isinstance(current, NewerDatabase):
            return (f"{current}: run the newer release, or restore a backup made for this one (see "
                    f"docs/operations.md, upgrades)", ExitCode.DATABASE)
        said = _database(current, where)
        if said is not None:
            return said, ExitCode.DATABASE
        telegram = _telegram(current, bot_api)
        if telegram is not None:
            return telegram, ExitCode.TELEGRAM
    return None


def _telegram(error: BaseException, bot_api: str) -> str | None:
    try:
        from telegram.error import BadRequest, Conflict, InvalidToken, NetworkError
    except ImportError:  # pragma: no cover - python-telegram-bot is a dependency
        return None
    if isinstance(error, InvalidToken):
        return "Telegram rejected TELEGRAM_BOT_TOKEN: check it with @BotFather"
    if isinstance(error, Conflict):
        return ("another process is taking this bot's updates (409 Conflict): stop it — only one process may poll; "
                "run several processes with a webhook")
    if isinstance(error, BadRequest) and "webhook" in str(error).lower():
        return f"Telegram refused the webhook: {error.message}: WEBHOOK_URL must be a public https:// URL"
    if isinstance(error, NetworkError) and not isinstance(error, BadRequest):
        return (f"cannot reach the Bot API at {bot_api or 'api.telegram.org'}: {error}; from mainland China set "
                "TELEGRAM_PROXY (see docs/operations.md)")
    return None


def _redacted(url: str) -> str:
    """A database URL without its password, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL that does not parse is shown as it was given, minus nothing secret
        return url.split("@")[-1]
