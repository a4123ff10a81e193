"""The invoice records merchants look up."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timezone
from functools import cache, lru_cache
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.store.driver import Driver, _binders, _identity, unwritten
from assistant.store.models import (
    Invoice,
)

logger = logging.getLogger(__name__)

FIND = "number = $1 AND code = $2 LIMIT 1"
FIND_DIGITAL = "number = $1 LIMIT 1"
"""A lookup by the unique key (a 20-digit number has no code)."""
_SAME_DAY_AND_MONEY = "issue_date = $1 AND (total = $2 OR amount = $2)"
NEAR_STATEMENTS: dict[str, str] = {
    "variants": "code = $1 AND number = ANY($2)",
    "codes": "number = $1 AND code = ANY($2)",
    "same_day_and_money": _SAME_DAY_AND_MONEY,
    "same_day_and_money_of": f"{_SAME_DAY_AND_MONEY} AND (seller_tax_id = ANY($3) OR buyer_tax_id = ANY($3))",
}
"""The near-match search's statements (WHERE clauses of `SELECT … FROM invoices`), each read by an index;
the benchmark and the plan tests EXPLAIN them."""


class Invoices:
    """The invoice records merchants look up."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def find(self, code: str | None, number: str) -> Invoice | None:
        if unwritten(self.session):  # an invoice added in this transaction: the ORM writes it first
            query = select(Invoice).where(Invoice.number == number)
            if len(number) != 20:
                query = query.where(Invoice.code == (code or ""))
            return (await self.session.scalars(query.limit(1))).first()
        driver = await Driver.of(self.session)
        found = await (driver.load(Invoice, FIND_DIGITAL, number) if len(number) == 20 else
                       driver.load(Invoice, FIND, number, code or ""))
        return found[0] if found else None

    async def by_number(self, number: str) -> list[Invoice]:
        return list(await self.session.scalars(select(Invoice).where(Invoice.number == number)))

    async def near(self, *, code: str | None, number: str, codes: Iterable[str],
                   numbers: Iterable[str], issued: date | None, money: Decimal | None,
                   tax_ids: set[str] | None, limit: int = 5) -> list[Invoice]:
        """Invoices one typo away from (code, number), or with the same date and amount, latest first.

        `tax_ids` limits them to invoices the user may view; None means every invoice. Each branch is read
        by an index, so the rows read are the few candidates, whatever the size of the merchant's own
        companies or of the table: the typo variants are exact keys (the unique (code, number) and the
        number index), the same day and amount goes through (issue_date, total) / (issue_date, amount).
        The permission is checked on those candidates — never the other way round, which read every
        invoice of the merchant's companies. The statements' plans do not depend on their parameters
        (the generic plan PostgreSQL switches to after five executions is the same; NEAR_STATEMENTS).
        """
        if tax_ids is not None and not tax_ids:
            return []
        if unwritten(self.session):
            return await self._near_orm(code=code, number=number, codes=codes, numbers=numbers, issued=issued,
                                        money=money, tax_ids=tax_ids, limit=limit)
        driver = await Driver.of(self.session)
        found = await driver.load(Invoice, NEAR_STATEMENTS["variants"], code or "", driver.array(numbers))
        if code:
            found += await driver.load(Invoice, NEAR_STATEMENTS["codes"], number, driver.array(codes))
        if tax_ids is not None:
            found = [invoice for invoice in found if invoice.seller_tax_id in tax_ids
                     or invoice.buyer_tax_id in tax_ids]
        if issued is not None and money is not None:
            day, amount = (bind(value) for bind, value in zip(driver.binders(Invoice, ("issue_date", "total")),
                                                               (issued, money)))
            if tax_ids is None:
                found += await driver.load(Invoice, NEAR_STATEMENTS["same_day_and_money"] + f" LIMIT {int(limit)}",
                                           day, amount)
            else:
                found += await driver.load(Invoice, NEAR_STATEMENTS["same_day_and_money_of"] + f" LIMIT {int(limit)}",
                                           day, amount, driver.array(sorted(tax_ids)))
        unique = list({invoice.id: invoice for invoice in found}.values())
        return sorted(unique, key=lambda invoice: invoice.issue_date, reverse=True)[:limit]

    async def _near_orm(self, *, code: str | None, number: str, codes: Iterable[str], numbers: Iterable[str],
                        issued: date | None, money: Decimal | None, tax_ids: set[str] | None,
                        limit: int) -> list[Invoice]:
        """`near` through the ORM, for invoices added in this transaction and not yet written."""
        near_ids = and_(Invoice.number.in_(list(numbers)), Invoice.code == (code or ""))
        if code:
            near_ids = or_(near_ids, and_(Invoice.number == number, Invoice.code.in_(list(codes))))
        conditions = [near_ids]
        if issued is not None and money is not None:
            conditions.append(and_(Invoice.issue_date == issued,
                                   or_(Invoice.amount == money, Invoice.total == money)))
        query = select(Invoice).where(or_(*conditions))
        if tax_ids is not None:
            query = query.where(or_(Invoice.seller_tax_id.in_(tax_ids), Invoice.buyer_tax_id.in_(tax_ids)))
        return list(await self.session.scalars(query.order_by(Invoice.issue_date.desc()).limit(limit)))

    async def add(self, invoice: Invoice) -> Invoice:
        """One invoice record (imports go through `assistant.importer`, in bulk)."""
        self.session.add(invoice)
        await self.session.flush()
        return invoice


STAGING = "invoice_staging"
TEMP_BUFFERS = "256MB"
"""PostgreSQL's memory for the import's temporary tables (8 MB by default: the keys of 150,000 lines)."""
SEEN = "invoice_import_keys"
STAGED = ("code", "number", "kind", "issue_date", "amount", "tax", "total", "check_code", "seller_tax_id",
          "seller_name", "buyer_tax_id", "buyer_name", "status", "status_changed_at", "sync_state", "uploaded_at",
          "synced_at")
"""The columns an import gives, in the order of a staged row (after its line number)."""
COMPARED = ("kind", "issue_date", "amount", "tax", "total", "check_code", "seller_tax_id", "seller_name",
            "buyer_tax_id", "buyer_name", "status", "sync_state")
"""A stored invoice whose columns all equal the file's is left untouched (not even its synced_at)."""


_BATCH_KEYS = "unnest($1::varchar[], $2::varchar[], $3::bigint[]) AS k (code, number, line)"
REMEMBER = (f"WITH k AS (SELECT * FROM {_BATCH_KEYS}), remembered AS (INSERT INTO {SEEN} (code, number, line)"
            " SELECT code, number, line FROM k ON CONFLICT (code, number) DO NOTHING)"
            " SELECT line, first, code, number FROM (SELECT k.line, k.code, k.number, (SELECT s.line FROM"
            f" {SEEN} AS s WHERE s.code = k.code AND s.number = k.number) AS first FROM k) AS probed"
            " WHERE first IS NOT NULL ORDER BY line")
"""A batch's keys (codes, numbers, lines) remembered; those an earlier batch had, with its line (the statement
sees the keys as they were before it). A probe of the primary key per key: a join may read every key seen."""
ANY_STORED = ("SELECT 1 FROM unnest($1::varchar[], $2::varchar[]) AS k (code, number) WHERE (SELECT true FROM"
              " invoices AS i WHERE i.code = k.code AND i.number = k.number) LIMIT 1")
"""Whether any of a batch's keys is stored (a probe of the unique key per key, until the first found)."""


@dataclass
class Merged:
    """What a batch did: invoices new and updated, and its lines whose key an earlier batch had."""

    new: int
    updated: int
    repeated: list[tuple[int, int, str, str]]
    """(line, first line, code, number): refused, the first line's invoice is the one imported."""


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: Any) -> str:
    """A value in PostgreSQL's COPY text format."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)  # a line number, an amount, a date


@cache
def _sqlite_binders() -> list[Callable[[Any], Any]]:
    from sqlalchemy.dialects.sqlite.aiosqlite import dialect

    return _binders(dialect(), Invoice, STAGED)


_SPECIAL = re.compile(r"[\\\t\n\r]")
"""What COPY's text format escapes."""


def _moment_text(value: datetime | None) -> str:
    if value is None:
        return "\\N"
    return _utc_text(value) if value.tzinfo is not None else value.isoformat()


@lru_cache(maxsize=4096)
def _utc_text(value: datetime) -> str:
    """A moment in UTC, the instant PostgreSQL stores (a file's sync time repeats row after row; the cache is
    bounded; equal moments in other zones share it)."""
    return value.astimezone(timezone.utc).isoformat()


def _copy_line(row: Sequence[Any]) -> str:
    """A (line, *STAGED) row's STAGED values as a line of COPY's text format: `_copy_text` of each, tab-separated.

    Only the free texts can hold what COPY escapes: the code and number are digits, the kind, status
    and sync state words of the importer's own."""
    (_, code, number, kind, issued, amount, tax, total, check_code, seller_tax_id, seller_name, buyer_tax_id,
     buyer_name, status, status_changed_at, sync_state, uploaded_at, synced_at) = row
    texts = f"{check_code}\t{seller_tax_id}\t{seller_name}\t{buyer_tax_id}\t{buyer_name}"
    if _SPECIAL.search(check_code + seller_tax_id + seller_name + buyer_tax_id + buyer_name):
        texts = "\t".join(map(_copy_text, (check_code, seller_tax_id, seller_name, buyer_tax_id, buyer_name)))
    return (f"{code}\t{number}\t{kind}\t{issued.isoformat()}\t{amount!s}\t{tax!s}\t{total!s}\t{texts}\t"
            f"{status}\t{_moment_text(status_changed_at)}\t{sync_state}\t{_moment_text(uploaded_at)}\t"
            f"{_moment_text(synced_at)}\n")


@dataclass
class CopyBatch:
    """A batch for PostgreSQL: its STAGED values in COPY's text format, and each row's key and line apart."""

    text: bytes
    codes: list[str]
    numbers: list[str]
    lines: list[int]


def encoded(rows: Sequence[Sequence[Any]], *, sqlite: bool) -> Any:
    """(line, *STAGED) rows of Python values as the backend's bulk path takes them: a CopyBatch for PostgreSQL,
    SQLite's values for its executemany. Pure: the importer runs it where it reads the file (another process
    for a large one), so the writing process only forwards the batch."""
    if sqlite:
        binders = _sqlite_converted()
        return [tuple([row[0], *row[1:4], binders[3](row[4]), *map(binders[4], row[5:8]), *row[8:14],
                       binders[13](row[14]), row[15], binders[15](row[16]), binders[16](row[17])]) for row in rows]
    return CopyBatch(text="".join(map(_copy_line, rows)).encode(), codes=[row[1] for row in rows],
                     numbers=[row[2] for row in rows], lines=[row[0] for row in rows])


@cache
def _sqlite_converted() -> list[Callable[[Any], Any]]:
    """SQLite's conversions of STAGED, those of text columns aside (identities, skipped by `encoded`); the
    moments' cached (a file's sync time repeats row after row)."""
    binders = _sqlite_binders()
    converted = [STAGED.index(name) for name in ("issue_date", "amount", "tax", "total", "status_changed_at", "uploaded_at",
                                                 "synced_at")]
    assert all(binders[i] is _identity for i in range(len(STAGED)) if i not in converted), "a text column converted"
    assert binders[4] is binders[5] is binders[6], "money columns converted alike"
    return [lru_cache(maxsize=4096)(bind) if STAGED[i].endswith("_at") else bind for i, bind in enumerate(binders)]


class InvoiceImport:
    """The bulk path of an import: each batch staged in a temporary table, then merged into `invoices` by set.

    Staging is PostgreSQL's COPY (asyncpg's `copy_records_to_table`) or SQLite's executemany, into
    temporary tables of the connection (every batch runs on the same one). A key repeated in the file
    is found by the database: the keys of the lines imported so far are kept in a temporary table under
    a primary key, so Python holds one batch at a time, whatever the size of the file. The caller refuses
    a key repeated within a batch before staging it.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def open(self) -> None:
        """An empty staging table (a line number, then STAGED) and an empty table of the keys seen."""
        driver = await Driver.of(self.session)
        await self.close()
        if not driver.sqlite:  # the keys of a large file in memory; refused once the connection used temporary
            await driver.run("SAVEPOINT temp_buffers")  # tables with another size: then it keeps that size
            try:
                await driver.run(f"SET temp_buffers = '{TEMP_BUFFERS}'")
                await driver.run("RELEASE SAVEPOINT temp_buffers")
            except Exception as error:  # noqa: BLE001 - asyncpg's InvalidParameterValueError; not worth failing for
                logger.info("temporary buffers stay as they are: %s", error)
                await driver.run("ROLLBACK TO SAVEPOINT temp_buffers")
        await driver.run(f"CREATE TEMPORARY TABLE {STAGING} AS SELECT CAST(0 AS BIGINT) AS line, "
                         f"{', '.join(STAGED)} FROM invoices WHERE 1 = 0")
        await driver.run(f"CREATE TEMPORARY TABLE {SEEN} (code VARCHAR(12) NOT NULL, number VARCHAR(20) NOT NULL,"
                         " line BIGINT NOT NULL, PRIMARY KEY (code, number))")

    async def close(self) -> None:
        driver = await Driver.of(self.session)
        await driver.run(f"DROP TABLE IF EXISTS {STAGING}")
        await driver.run(f"DROP TABLE IF EXISTS {SEEN}")

    async def merge(self, batch: Any) -> Merged:
        """A batch of (line, *STAGED) rows, its keys distinct, as `encoded` made it, into `invoices`.

        A line whose key an earlier batch had is refused. Changed invoices take the file's columns and
        synced_at; a changed status takes the file's status_changed_at (when it changed is not when we
        noticed). Unchanged ones are not written.
        """
        driver = await Driver.of(self.session)
        if not driver.sqlite:
            return await self._merge_postgres(driver, batch)
        await driver.copy(STAGING, ("line", *STAGED), batch)
        # a probe of the keys' primary key per staged row (a join may read every key seen so far, every batch)
        earlier = (f"SELECT line, first, code, number FROM (SELECT s.line, s.code, s.number, (SELECT k.line FROM"
                   f" {SEEN} AS k WHERE k.code = s.code AND k.number = s.number) AS first FROM {STAGING} AS s)"
                   " AS probed WHERE first IS NOT NULL ORDER BY line")
        remember = f"INSERT INTO {SEEN} (code, number, line) SELECT code, number, line FROM {STAGING}"
        repeated = [(int(line), int(first), code, number) for line, first, code, number in await driver.rows(earlier)]
        if repeated:
            await driver.run(f"DELETE FROM {STAGING} WHERE line = ANY($1)",
                             driver.array([line for line, *_ in repeated]))
        await driver.run(remember)
        columns = ", ".join(STAGED)
        # in-process index probes are cheap: the changed ones, then the new ones
        differs = " OR ".join(f"invoices.{name} IS NOT s.{name}" for name in COMPARED)
        assignments = ", ".join(f"{name} = s.{name}" for name in (*COMPARED, "synced_at"))
        updated = await driver.run(
            f"UPDATE invoices SET {assignments}, status_changed_at = CASE WHEN invoices.status <> s.status"
            f" THEN s.status_changed_at ELSE invoices.status_changed_at END FROM {STAGING} AS s"
            f" WHERE invoices.code = s.code AND invoices.number = s.number AND ({differs})")
        new = await driver.run(f"INSERT INTO invoices ({columns}) SELECT {columns} FROM {STAGING}"
                               " WHERE true ON CONFLICT (code, number) DO NOTHING")
        await driver.run(f"DELETE FROM {STAGING}")
        return Merged(new=new, updated=updated, repeated=repeated)

    async def _merge_postgres(self, driver: Driver, batch: CopyBatch) -> Merged:
        """PostgreSQL: a batch none of whose invoices is stored yet — a first import's — is COPYed straight into
        `invoices`, its keys into the keys seen (none of them can be there: every key seen is stored). Else,
        or when another writer stored (or deleted) one of them meanwhile, its keys are remembered and those an
        earlier batch had refused, and the batch is staged and merged by one upsert."""
        from asyncpg.exceptions import UniqueViolationError  # type: ignore[import-untyped]

        # no wait for the disk: the importer's caller commits its audit row synchronously before it reports, which
        # flushes the WAL up to it, these batches included (a crash before that: the next import does them again);
        # no JIT compiling (the row estimates of the arrays' 10,000 keys cross its threshold: 15 ms a statement
        # for nothing)
        await driver.run("SET LOCAL synchronous_commit TO OFF")
        await driver.run("SET LOCAL jit TO off")
        if not await driver.row(ANY_STORED, batch.codes, batch.numbers):
            await driver.run("SAVEPOINT straight")
            try:
                await driver.copy(SEEN, ("code", "number", "line"), list(zip(batch.codes, batch.numbers, batch.lines)))
                await driver.copy("invoices", STAGED, batch.text)
            except UniqueViolationError:  # stored by another writer since: merged below
                await driver.run("ROLLBACK TO SAVEPOINT straight")
            else:
                await driver.run("RELEASE SAVEPOINT straight")
                return Merged(new=len(batch.lines), updated=0, repeated=[])
        repeated = [(int(line), int(first), code, number) for line, first, code, number
                    in await driver.rows(REMEMBER, batch.codes, batch.numbers, batch.lines)]
        await driver.copy(STAGING, STAGED, batch.text)
        if repeated:
            await driver.run(f"DELETE FROM {STAGING} WHERE (code, number) IN (SELECT * FROM unnest($1::varchar[],"
                             " $2::varchar[]))", [code for *_, code, _ in repeated],
                             [number for *_, number in repeated])
        columns = ", ".join(STAGED)
        # one pass over the unique key: inserted (xmax 0), or updated when something differs
        differs = " OR ".join(f"invoices.{name} IS DISTINCT FROM excluded.{name}" for name in COMPARED)
        assignments = ", ".join(f"{name} = excluded.{name}" for name in (*COMPARED, "synced_at"))
        counts = await driver.row(
            f"WITH written AS (INSERT INTO invoices ({columns}) SELECT {columns} FROM {STAGING}"
            f" ON CONFLICT (code, number) DO UPDATE SET {assignments}, status_changed_at = CASE WHEN"
            f" invoices.status <> excluded.status THEN excluded.status_changed_at ELSE invoices.status_changed_at"
            f" END WHERE {differs} RETURNING xmax = 0 AS inserted)"
            " SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written")
        assert counts is not None
        await driver.run(f"TRUNCATE {STAGING}")  # not DELETE: a temporary table is never vacuumed
        return Merged(new=int(counts[0]), updated=int(counts[1]), repeated=repeated)

    async def analyze(self) -> None:
        """Fresh statistics of `invoices` after a large import (SQLite: sampled, a fraction of a second)."""
        driver = await Driver.of(self.session)
        if driver.sqlite:
            await driver.run("PRAGMA analysis_limit = 1000")
        await driver.run("ANALYZE invoices")
