"""SQLite for the async engine, run inline on the event loop instead of in a thread per connection.

aiosqlite hands every call (cursor, execute, fetch, close) to a thread of its own and back: four thread
switches per statement, about 0.4 ms of CPU, which made SQL the bulk of the bot's work. A local SQLite
statement itself takes microseconds, so this module offers aiosqlite's interface — what SQLAlchemy's
`sqlite+aiosqlite` dialect calls — over the standard `sqlite3` module, running each call where it is
awaited. Given to the engine as its `module`; URLs stay `sqlite+aiosqlite://`.

Waiting for the write lock must not block the loop: another engine in this same process may hold it
and needs the loop to finish. So SQLite's busy handler is off (timeout 0) and `BEGIN` — every
transaction begins IMMEDIATE, taking the lock first — is tried again with `asyncio.sleep` between tries
until the connection's timeout. Inside a transaction that holds the lock nothing else waits for one.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import sys
from collections.abc import Callable, Generator, Iterable, Sequence
from typing import Any, Literal, cast

from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi

IsolationLevel = Literal["DEFERRED", "EXCLUSIVE", "IMMEDIATE"] | None
logger = logging.getLogger(__name__)

__version__ = "0.22.1"  # the aiosqlite interface this module offers, for SQLAlchemy's checks
Error = sqlite3.Error
DatabaseError = sqlite3.DatabaseError
IntegrityError = sqlite3.IntegrityError
NotSupportedError = sqlite3.NotSupportedError
OperationalError = sqlite3.OperationalError
ProgrammingError = sqlite3.ProgrammingError
sqlite_version = sqlite3.sqlite_version
sqlite_version_info = sqlite3.sqlite_version_info


BUSY_WAITS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02)
"""Pauses between tries to take the write lock, then every 20 ms."""


def _busy(error: sqlite3.OperationalError) -> bool:
    """Whether `error` says another connection holds the write lock."""
    return "locked" in str(error) or "busy" in str(error)


async def _begin(cursor: sqlite3.Cursor, sql: str, timeout: float) -> None:
    """`BEGIN …`, waiting for another connection's write lock without blocking the event loop."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    tries = 0
    while True:
        try:
            cursor.execute(sql)
            return
        except sqlite3.OperationalError as error:
            if not _busy(error):
                raise
            if loop.time() >= deadline:
                raise
        await asyncio.sleep(BUSY_WAITS[min(tries, len(BUSY_WAITS) - 1)])
        tries += 1


class Cursor:
    """An aiosqlite cursor's methods over a sqlite3 cursor."""

    def __init__(self, cursor: sqlite3.Cursor, busy_timeout: float = 0.0) -> None:
        self._cursor = cursor
        self._busy_timeout = busy_timeout

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Cursor:
        if sql.startswith("BEGIN") and not parameters:
            await _begin(self._cursor, sql, self._busy_timeout)
        else:
            self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> Cursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _Now:
    """Stands in for aiosqlite's queue to its thread: the function runs at once."""

    @staticmethod
    def put_nowait(item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as error:  # noqa: BLE001 - handed to whoever awaits the future
            future.set_exception(error)


class _NoThread:
    daemon = True


class Connection:
    """An aiosqlite connection's methods over a sqlite3 connection."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], busy_timeout: float) -> None:
        self._connect = connect
        self._busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._tx = _Now()
        self._thread = _NoThread()

    def __await__(self) -> Generator[Any, None, Connection]:
        self._conn = self._connect()
        return self
        yield  # a generator, as __await__ must be

    @property
    def _connection(self) -> sqlite3.Connection | None:
        return self._conn

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError("no active connection")
        return self._conn

    def cursor(self) -> Cursor:
        return Cursor(self._open().cursor(), self._busy_timeout)

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Cursor:
        return await self.cursor().execute(sql, parameters)

    def begin_now(self, sql: str) -> bool:
        """`BEGIN …` at once when the write lock is free; False when another connection holds it."""
        try:
            self._open().execute(sql)
            return True
        except sqlite3.OperationalError as error:
            if not _busy(error):
                raise
            return False

    async def commit(self) -> None:
        self._open().commit()

    async def rollback(self) -> None:
        self._open().rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._open().create_function(*args, **kwargs)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        """Close at once (what aiosqlite's `stop` does to its thread)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def isolation_level(self) -> str | None:
        return self._open().isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._open().isolation_level = cast(IsolationLevel, value)


def connect(database: str, timeout: float = 5.0, **kwargs: Any) -> Connection:
    """A connection whose `BEGIN` waits up to `timeout` seconds for the write lock (SQLite's own wait: none)."""
    kwargs.setdefault("check_same_thread", False)  # opened and used on the loop; the pool may close it elsewhere
    return Connection(lambda: sqlite3.connect(database, timeout=0, **kwargs), timeout)


def dbapi() -> AsyncAdapt_aiosqlite_dbapi:
    """What to pass as `module` to `create_async_engine` for a `sqlite+aiosqlite` URL."""
    return AsyncAdapt_aiosqlite_dbapi(sys.modules[__name__], sqlite3)
