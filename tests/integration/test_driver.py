"""SQL straight to the driver reads and writes the same values as the ORM, on every SQL backend."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.store.driver import Driver, _sqlite_sql
from assistant.store.models import Invoice, OutboxEntry, User
from assistant.store.uow import sql_units

NOW = datetime(2026, 3, 2, 1, 2, 3, 456789, tzinfo=timezone.utc)


def test_postgresql_spelling_becomes_sqlite_spelling() -> None:
    assert _sqlite_sql("SELECT a FROM t WHERE b = $1 AND c = ANY($2) AND d <> ALL($3) AND e > $1 FOR UPDATE") == (
        "SELECT a FROM t WHERE b = ?1 AND c IN (SELECT value FROM json_each(?2))"
        " AND d NOT IN (SELECT value FROM json_each(?3)) AND e > ?1")


async def test_values_written_through_the_driver_read_back_through_the_orm(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        driver = await Driver.of(session)
        assert await Driver.of(session) is driver  # one per transaction
        await driver.run("INSERT INTO users (id, role, language, name, alias, unreachable, created_at)"
                         " VALUES ($1, 'merchant', 'zh', $2, '', $3, $4)", 7, "王 <b>", driver.flag(True),
                         driver.when(NOW))
        rows = await driver.rows("INSERT INTO outbox (chat_id, payload, created_at, lease_until, attempts)"
                                 " VALUES ($1, $2, $3, $4, 1) RETURNING id", 7, driver.json({"text": "你好", "n": [1]}),
                                 driver.when(NOW), driver.when(NOW + timedelta(seconds=30)))
        entry_id = rows[0][0]
    async with sessions() as session:
        user = await session.get(User, 7)
        assert user is not None and (user.name, user.unreachable, user.created_at) == ("王 <b>", True, NOW)
        entry = await session.get(OutboxEntry, entry_id)
        assert entry is not None and entry.payload == {"text": "你好", "n": [1]}
        assert entry.lease_until == NOW + timedelta(seconds=30)
        # and what the ORM wrote, the driver compares and reads alike
        driver = await Driver.of(session)
        later = await driver.rows("SELECT id, lease_until FROM outbox WHERE lease_until > $1", driver.when(NOW))
        assert [(row[0], driver.when_of(row[1])) for row in later] == [(entry_id, NOW + timedelta(seconds=30))]
        found = await driver.rows("SELECT id FROM outbox WHERE id = ANY($1)", driver.array([entry_id, 999]))
        assert [tuple(row) for row in found] == [(entry_id,)]


async def test_objects_loaded_through_the_driver_are_the_sessions_own(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        session.add(Invoice(code="011002600111", number="12345678", kind="ordinary", issue_date=date(2026, 2, 1),
                            amount=Decimal("100.50"), tax=Decimal("13.07"), total=Decimal("113.57"),
                            seller_tax_id="91110000MA01ABCDE1", seller_name="卖方", uploaded_at=NOW))
    async with sessions() as session, session.begin():
        driver = await Driver.of(session)
        [invoice] = await driver.load(Invoice, "number = $1", "12345678")
        assert (invoice.issue_date, invoice.amount, invoice.total) == (date(2026, 2, 1), Decimal("100.50"),
                                                                       Decimal("113.57"))
        assert not session.dirty and invoice in session  # loaded, unchanged
        assert (await driver.load(Invoice, "number = $1", "12345678"))[0] is invoice
        assert await session.scalar(select(Invoice).where(Invoice.number == "12345678")) is invoice
        invoice.status = "voided"  # a change to it is written like any other
    async with sessions() as session:
        assert (await session.scalar(select(Invoice.status).where(Invoice.number == "12345678"))) == "voided"


async def test_a_unit_alone_commits_each_statement_by_itself(sessions: async_sessionmaker[AsyncSession],
                                                             backend: str) -> None:
    units = sql_units(sessions)
    insert = ("INSERT INTO users (id, role, language, name, alias, unreachable, created_at)"
              " VALUES ($1, 'merchant', 'zh', '', '', $2, $3)")

    async def seen(user_id: int) -> bool:
        async with sessions() as other:
            return await other.get(User, user_id) is not None

    async with units() as unit:
        driver = await Driver.of(unit.session)
        await driver.run(insert, 1, driver.flag(False), driver.when(NOW))
        if backend == "postgresql":
            assert not await seen(1)  # in a unit's transaction, not seen by others before it ends
    async with units(alone=True) as unit:
        driver = await Driver.of(unit.session)
        await driver.run(insert, 2, driver.flag(False), driver.when(NOW))
        if backend == "postgresql":
            assert await seen(2)  # alone: committed by the statement itself
    assert await seen(1) and await seen(2)
