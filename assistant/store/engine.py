"""Async engine construction for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import asyncio
import uuid

from sqlalchemy import event, exc, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.store import sqlite_inline

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 10_000


def _tune_sqlite(engine: AsyncEngine) -> None:
    """WAL, foreign keys; BEGIN IMMEDIATE so that a transaction takes the write lock first, or waits for it.

    SQLite's own busy handler stays off (`sqlite_inline.connect` opens with timeout 0; it would block
    the event loop): `sqlite_inline` waits for the lock at BEGIN, asynchronously, up to the busy timeout.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # straight to sqlite3 when the lock is free (SQLAlchemy's execution of it cost 0.1 ms a transaction);
        # held by another connection: through SQLAlchemy, whose await lets `sqlite_inline` wait for it
        if not connection.connection.driver_connection.begin_now("BEGIN IMMEDIATE"):
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, connections: int = 20, **kwargs: Any) -> AsyncEngine:
    """An engine for `url`; creates the folder of a SQLite file; at most `connections` to PostgreSQL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # One connection per process: transactions queue in asyncio instead of in SQLite's busy handler,
        # which sleeps up to 100 ms between tries and ruins latency once several writers overlap.
        # SQLite runs inline on the event loop (assistant/store/sqlite_inline.py), not in a thread.
        kwargs = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 60, "module": sqlite_inline.dbapi(), **kwargs}
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
        _tune_sqlite(engine)
        return engine
    # A fixed pool and no overflow: a connection beyond the pool's size is closed when given back, so
    # under load every transaction past it paid a new connection (TCP, authentication, asyncpg's type
    # introspection, every statement prepared again): half the CPU of an update. Past `connections`,
    # transactions wait for a free one.
    kwargs = {"pool_size": connections, "max_overflow": 0, "pool_timeout": 30, **kwargs}
    target: str | URL = url
    query = dict(parsed.query)
    if "statement_cache_size" in query:
        target, kwargs = _statement_cache(parsed, query, kwargs)
    # No pre-ping: it costs a round trip on every transaction (0.3 ms of CPU, 40% of a short one). A
    # connection that died with a server restart fails its first statement instead; SQLAlchemy then
    # discards every connection older than that, and the update is handled again (`Unavailable`).
    return create_async_engine(target, **kwargs)


def _statement_cache(parsed: URL, query: dict[str, Any], kwargs: dict[str, Any]) -> tuple[URL, dict[str, Any]]:
    """asyncpg's `statement_cache_size`, given in DATABASE_URL (SQLAlchemy would pass it on as text).

    0 is for PgBouncer in transaction mode before 1.21: a server connection serves several clients, so
    asyncpg's numbered statement names (`__asyncpg_stmt_1__`) collide ("already exists"). Then nothing is
    cached, by asyncpg or SQLAlchemy, and each statement SQLAlchemy prepares gets a name of its own.
    """
    value = query.pop("statement_cache_size")
    if not (isinstance(value, str) and value.isdigit()):
        raise ValueError(f"statement_cache_size in DATABASE_URL is {value!r}: give a number (0 behind PgBouncer)")
    connect_args: dict[str, Any] = {"statement_cache_size": int(value)}
    if int(value) == 0:
        connect_args["prepared_statement_name_func"] = lambda: f"__asyncpg_{uuid.uuid4().hex}__"
        query["prepared_statement_cache_size"] = "0"
    return parsed.set(query=query), {**kwargs, "connect_args": {**connect_args, **kwargs.get("connect_args", {})}}


def make_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine, timeout: float = 2.0) -> bool:
    """True when the database answers a trivial query in time."""
    try:
        async with asyncio.timeout(timeout):
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        return True
    except Exception as error:  # noqa: BLE001 - any failure means "not healthy"
        logger.warning("database health check failed: %s", error)
        return False


TRANSIENT_NAMES = ("CannotConnectNowError", "ConnectionDoesNotExistError", "AdminShutdownError",
                   "ConnectionFailureError", "TooManyConnectionsError", "CrashShutdownError")


def transient(error: BaseException) -> bool:
    """Whether `error` means the database could not be reached or was busy, so trying later may work."""
    seen: BaseException | None = error
    for _ in range(5):  # the error, what SQLAlchemy wrapped, and what caused it
        if seen is None:
            return False
        if isinstance(seen, exc.DBAPIError) and seen.connection_invalidated:
            return True
        if isinstance(seen, (exc.OperationalError, exc.InterfaceError, exc.DisconnectionError, exc.TimeoutError,
                             ConnectionError, TimeoutError)):
            return True
        if isinstance(seen, OSError) and not isinstance(seen, (FileNotFoundError, PermissionError)):
            return True  # connection refused or reset, "Multiple exceptions: [Errno 111] …"
        if type(seen).__name__ in TRANSIENT_NAMES:  # asyncpg's own, when a server shuts down or starts up
            return True
        if type(seen).__name__ == "InterfaceError" and "closed" in str(seen):  # asyncpg, raw, through the driver
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False
