"""SQL straight to the database driver, inside the session's transaction: the statements of every event.

An ORM statement costs about 150 µs of Python on SQLite and 350 µs on PostgreSQL before the database
sees it (building it, its cache key, the execution context, loading objects); the same statement given
to the driver costs 3 µs (sqlite3) or 40 µs (asyncpg). The few statements every update runs (the inbox,
the conversation row, the user, the outbox) go through here; everything else stays with the ORM, in the
same transaction. Values are converted with SQLAlchemy's own type processors for the backend, so what
is written here reads back through the ORM exactly as if the ORM had written it.

SQL is written once, PostgreSQL style (`$1`, `$2`…, `= ANY($1)` for a list); for SQLite the numbered
parameters become `?1`, `?2`…, a list is a JSON array read with `json_each`, and `FOR UPDATE` is
dropped (a SQLite write transaction already holds the database's lock).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from functools import cache
from typing import Any, Callable, TypeVar

from sqlalchemy import JSON, Boolean, inspect
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.util import identity_key

from assistant.store.models import UTCDateTime

logger = logging.getLogger(__name__)

Row = Sequence[Any]
M = TypeVar("M")
_PARAMETER = re.compile(r"\$(\d+)")
_INFO_KEY = "assistant.driver"
ALONE = "assistant.alone"
"""Set in a session's info: its driver statements are not wrapped in a transaction (`Units`)."""


_ANY = re.compile(r"= ANY\(\$(\d+)\)")
_ALL = re.compile(r"<> ALL\(\$(\d+)\)")


@cache
def _sqlite_sql(sql: str) -> str:
    """PostgreSQL's spelling for SQLite: `?1` for `$1`, a JSON array's values for `= ANY($1)`, no FOR UPDATE."""
    sql = _ANY.sub(r"IN (SELECT value FROM json_each($\1))", sql.replace(" FOR UPDATE", ""))
    sql = _ALL.sub(r"NOT IN (SELECT value FROM json_each($\1))", sql)
    return _PARAMETER.sub(r"?\1", sql)


def _identity(value: Any) -> Any:
    return value


@cache
def _processors(dialect: Dialect) -> dict[str, Callable[[Any], Any]]:
    """The backend's bind and result conversions of the column types the hot statements use."""
    when, document, flag = (kind.dialect_impl(dialect) for kind in (UTCDateTime(), JSON(), Boolean()))
    return {"when": when.bind_processor(dialect) or _identity,
            "when_of": when.result_processor(dialect, None) or _identity,
            "json": document.bind_processor(dialect) or _identity,
            "json_of": document.result_processor(dialect, None) or _identity,
            "flag": flag.bind_processor(dialect) or _identity,
            "flag_of": flag.result_processor(dialect, None) or _identity}


def _result_processor(sqlite: bool, dialect: Dialect, kind: Any) -> Callable[[Any], Any]:
    """SQLite's conversions from stored text; asyncpg already gives Python values (UTC normalised here)."""
    if not sqlite and not isinstance(kind, UTCDateTime):
        return _identity
    return kind.dialect_impl(dialect).result_processor(dialect, None) or _identity  # type: ignore[no-any-return]


@cache
def _loader(sqlite: bool, dialect: Dialect, model: type[Any]) -> tuple[str, list[tuple[str, Callable[[Any], Any]]],
                                                                      list[str]]:
    """A model's column list, each column's (attribute, result conversion), and its primary key's attributes."""
    mapper = inspect(model)
    pairs = [(attribute.key, attribute.columns[0]) for attribute in mapper.column_attrs]
    processors = [(key, _result_processor(sqlite, dialect, column.type)) for key, column in pairs]
    keys = [mapper.get_property_by_column(column).key for column in mapper.primary_key]
    return ", ".join(column.name for _, column in pairs), processors, keys


@cache
def _binders(dialect: Dialect, model: type[Any], names: tuple[str, ...]) -> list[Callable[[Any], Any]]:
    columns = inspect(model).columns
    return [columns[name].type.dialect_impl(dialect).bind_processor(dialect) or _identity for name in names]


class Driver:
    """The session's connection at the driver level (sqlite3 or asyncpg), in its transaction."""

    def __init__(self, session: AsyncSession, dialect: Dialect, connection: Any) -> None:
        self.sqlite = dialect.name == "sqlite"
        self._session = session
        self._dialect = dialect
        self._connection = connection
        processors = _processors(dialect)
        self.when: Callable[[datetime | None], Any] = processors["when"]
        self.when_of: Callable[[Any], datetime | None] = processors["when_of"]
        self.json: Callable[[Any], Any] = processors["json"]
        self.json_of: Callable[[Any], Any] = processors["json_of"]
        self.flag: Callable[[bool], Any] = processors["flag"]
        self.flag_of: Callable[[Any], bool] = processors["flag_of"]

    async def load(self, model: type[M], where: str, *args: Any) -> list[M]:
        """ORM objects read through the driver and handed to the session as if it had loaded them.

        An object the session holds already is returned as it is (with its changes, like the ORM's
        identity map); the others are persistent and unchanged, so what the caller changes is written.
        """
        columns, processors, keys = _loader(self.sqlite, self._dialect, model)  # type: ignore[arg-type]
        found: list[M] = []
        table = model.__tablename__  # type: ignore[attr-defined]
        for row in await self.rows(f"SELECT {columns} FROM {table} WHERE {where}", *args):
            values = {name: convert(value) for (name, convert), value in zip(processors, row)}
            held = self._session.identity_map.get(identity_key(model, tuple(values[key] for key in keys)))
            if held is not None:
                found.append(held)  # type: ignore[arg-type]
                continue
            loaded = model(**values)
            make_transient_to_detached(loaded)
            self._session.add(loaded)
            found.append(loaded)
        return found

    def binders(self, model: type[Any], names: Sequence[str]) -> list[Callable[[Any], Any]]:
        """The backend's conversions of values for these columns of a model (SQLite: dates as text, money as REAL)."""
        return _binders(self._dialect, model, tuple(names))  # type: ignore[arg-type]  # a class is hashable

    def array(self, values: Iterable[Any]) -> Any:
        """A list of values for `= ANY($n)` / `<> ALL($n)`: an array, or for SQLite a JSON array."""
        return json.dumps(list(values)) if self.sqlite else list(values)

    @classmethod
    async def of(cls, session: AsyncSession) -> Driver:
        """The driver under `session`, its transaction begun; one per session."""
        found = session.info.get(_INFO_KEY)
        if found is not None:
            return found  # type: ignore[no-any-return]
        connection = await session.connection()  # SQLite: BEGIN IMMEDIATE has run (engine.py)
        adapted: Any = (await connection.get_raw_connection()).dbapi_connection
        dialect = connection.dialect
        if dialect.name == "sqlite":
            raw = adapted.driver_connection._connection  # sqlite_inline.Connection -> sqlite3.Connection
        else:
            raw = adapted.driver_connection  # asyncpg.Connection
            if getattr(adapted, "_transaction", True) is None and not session.info.get(ALONE):
                # SQLAlchemy begins asyncpg's transaction lazily, at its first statement; alone, none is
                # begun, and SQLAlchemy's commit has nothing to commit
                async with adapted._execute_mutex:
                    await adapted._start_transaction()
        driver = cls(session, dialect, raw)
        session.info[_INFO_KEY] = driver
        return driver

    async def rows(self, sql: str, *args: Any) -> list[Row]:
        if self.sqlite:
            return self._connection.execute(_sqlite_sql(sql), args).fetchall()  # type: ignore[no-any-return]
        return await self._connection.fetch(sql, *args)  # type: ignore[no-any-return]

    async def row(self, sql: str, *args: Any) -> Row | None:
        if self.sqlite:
            return self._connection.execute(_sqlite_sql(sql), args).fetchone()  # type: ignore[no-any-return]
        return await self._connection.fetchrow(sql, *args)  # type: ignore[no-any-return]

    async def run(self, sql: str, *args: Any) -> int:
        """Execute; the number of rows it changed."""
        if self.sqlite:
            return int(self._connection.execute(_sqlite_sql(sql), args).rowcount)
        status = await self._connection.execute(sql, *args)  # "UPDATE 3", "INSERT 0 1"
        last = status.rsplit(" ", 1)[-1]
        return int(last) if last.isdigit() else 0

    async def copy(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]] | bytes) -> None:
        """Rows into a table by the backend's bulk path: COPY on PostgreSQL, one executemany on SQLite.

        SQLite: rows of its values (`binders`). PostgreSQL: rows of Python values, or bytes already in
        COPY's text format (no encoding left for this process).
        """
        if self.sqlite:
            marks = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
            await self.many(sql, rows)  # type: ignore[arg-type]
        elif isinstance(rows, bytes):
            data: bytes = rows

            async def whole() -> AsyncIterator[bytes]:  # bytes alone would be a path
                yield data

            await self._connection.copy_to_table(table, source=whole(), columns=list(columns), format="text")
        else:
            await self._connection.copy_records_to_table(table, records=rows, columns=list(columns))

    async def many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        if self.sqlite:
            self._connection.executemany(_sqlite_sql(sql), list(rows))
        else:
            await self._connection.executemany(sql, list(rows))


def unwritten(session: AsyncSession) -> bool:
    """Whether the session holds ORM changes not yet written, which a statement on the driver would miss."""
    return bool(session.new or session.dirty)


async def nothing_there(session: AsyncSession, sql: str, *args: Any) -> bool:
    """True when the driver finds no row for `sql`: the common case of a question, asked cheaply.

    False (ask the ORM) while the session holds changes not yet written (`unwritten`).
    """
    if unwritten(session):
        return False
    driver = await Driver.of(session)
    return await driver.row(sql, *args) is None
