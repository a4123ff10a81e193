"""Plans that stay good: every lookup and prune statement reads by an index, on both backends, and on
PostgreSQL also after running a dozen times on one connection (the generic plan asyncpg's prepared
statements switch to) — compared with the plan forced generic and forced custom."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.store.driver import Driver
from assistant.store.plans import STATEMENTS, explain, indexes_used, whole_reads
from tests.conftest import START

CODE = "011002500111"
BIG, SMALL = "91110000600037341L", "91110105MA00XYZW3K"
ROWS = 20_000


def _series(sqlite: bool, rows: int) -> tuple[str, str, str]:
    """(WITH clause, 8-digit number of i, day i of 2025) in each backend's SQL."""
    if sqlite:
        return (f"WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < {rows})",
                "substr('00000000' || i, -8, 8)", "date('2025-01-01', '+' || (i % 500) || ' days')")
    return (f"WITH g(i) AS (SELECT generate_series(1, {rows}))", "lpad(i::text, 8, '0')",
            "DATE '2025-01-01' + (i % 500)")


async def _seed(session: AsyncSession) -> None:
    """A big company selling most of 20k invoices, a small one a few; a day of lookups of 2,000 users; a week
    of finished inbox and outbox entries (a few past the retention)."""
    driver = await Driver.of(session)
    series, number, day = _series(driver.sqlite, ROWS)
    seller = f"CASE WHEN i % 50 = 0 THEN '{SMALL}' ELSE '{BIG}' END"
    await driver.run(f"{series} INSERT INTO invoices (code, number, kind, issue_date, amount, tax, total, check_code,"
                     f" seller_tax_id, seller_name, buyer_tax_id, buyer_name, status, sync_state)"
                     f" SELECT '{CODE}', {number}, 'e_ordinary', {day}, (i % 997) + 100, 0, (i % 997) + 100, '',"
                     f" {seller}, '', '', '', 'normal', 'synced' FROM g")
    now = driver.when(START)
    await driver.many("INSERT INTO diagnoses (user_id, chat_id, code, number, outcome, created_at)"
                      " VALUES ($1, $1, '', '', 'found', $2)",
                      [(n % 2000, driver.when(START - timedelta(minutes=n % 1440))) for n in range(ROWS)])
    week = [driver.when(START - timedelta(seconds=n * 30)) for n in range(20_500)]  # 7 days and a bit
    await driver.many("INSERT INTO inbox (update_id, chat_id, kind, payload, state, attempts, received_at,"
                      " finished_at, error) VALUES ($1, $1, 'message', $2, 'done', 1, $3, $3, '')",
                      [(n, driver.json({}), at) for n, at in enumerate(week)])
    await driver.many("INSERT INTO outbox (chat_id, payload, created_at, lease_until, attempts, sent_at)"
                      " VALUES ($1, $2, $3, $3, 1, $3)", [(n, driver.json({}), at) for n, at in enumerate(week)])
    await _seed_personal_data(driver)
    await driver.run("ANALYZE")
    assert now is not None


async def _seed_personal_data(driver: Driver) -> None:
    """Two years of what the retention prune reads: closed tickets (half made anonymous already), chats,
    follow-ups, access requests, the audit and 50 broadcasts' recipients."""
    def at(n: int) -> object:
        return driver.when(START - timedelta(hours=n))

    empty, listed = driver.json({}), driver.json([])
    await driver.many("INSERT INTO tickets (user_id, chat_id, state, reason, language, merchant_name, fields, checks,"
                      " close_reason, escalations, created_at, closed_at) VALUES ($1, $1, $2, 'human', 'zh', '', $3,"
                      " $4, '', 0, $5, $5)",
                      [(n % 7 and n + 1, "closed" if n % 10 else "open", empty, listed, at(n)) for n in range(ROWS)])
    await driver.many("INSERT INTO conversations (chat_id, user_id, flow, state, data, version, updated_at)"
                      " VALUES ($1, $1, 'troubleshoot', 'idle', $2, 0, $3)", [(n, empty, at(n)) for n in range(ROWS)])
    await driver.many("INSERT INTO follow_ups (kind, user_id, chat_id, fields, due_at, delivered_at, created_at)"
                      " VALUES ('recheck', $1, $1, $2, $3, $4, $3)",
                      [(n, empty, at(n), at(n) if n % 5 else None) for n in range(ROWS)])
    first = (await driver.rows("SELECT min(id) FROM invoices"))[0][0]
    await driver.many("INSERT INTO access_requests (user_id, invoice_id, state, created_at)"
                      " VALUES ($1, $2, 'pending', $3)", [(n % 100, first + n, at(n)) for n in range(ROWS)])
    await driver.many("INSERT INTO audit_log (actor_id, action, allowed, detail, at) VALUES ($1, 'stats', true, $2, $3)",
                      [(n, empty, at(n)) for n in range(ROWS)])
    await driver.many("INSERT INTO broadcasts (id, created_by, audience, text, state, total, progress_chat_id,"
                      " created_at, finished_at) VALUES ($1, 1, 'all', '', 'done', 400, 1, $2, $2)",
                      [(n + 1, at(n * 300)) for n in range(50)])
    await driver.many("INSERT INTO broadcast_recipients (broadcast_id, user_id, state, attempts, updated_at)"
                      " VALUES ($1, $2, 'sent', 1, $3)", [(n % 50 + 1, n, at(n)) for n in range(ROWS)])


def _arguments() -> dict[str, tuple[object, ...]]:
    numbers = [f"{42 + n:08d}" for n in range(-50, 50) if n]
    codes = [CODE[:i] + str((int(CODE[i]) + 1) % 10) + CODE[i + 1:] for i in range(12)]
    day, money = date(2025, 1, 1) + timedelta(days=42), Decimal(142)
    return {"found (code + number)": ("00000042", CODE), "found (digital number)": ("25112000000012345678",),
            "near: number variants": (CODE, numbers), "near: code variants": ("00000042", codes),
            "near: same day and money (staff)": (day, money),
            "near: same day and money (merchant)": (day, money, [BIG]),
            "lookup limit": (7, START - timedelta(days=1)),
            "prune inbox": (START - timedelta(days=7), 1000), "prune outbox (sent)": (START - timedelta(days=7), 1000),
            "prune outbox (failed)": (START - timedelta(days=7), 1000),
            **{statement.name: (START - timedelta(days=365), 1000) for statement in STATEMENTS
               if statement.name.startswith("retention")}}


async def test_every_lookup_and_prune_reads_by_an_index_in_every_plan(sessions: async_sessionmaker[AsyncSession]
                                                                     ) -> None:
    async with sessions() as session:
        async with session.begin():
            await _seed(session)
        arguments = _arguments()
        for statement in STATEMENTS:
            async with session.begin():
                plans = await explain(session, statement, *arguments[statement.name])
                await session.rollback()  # a prune's executions delete
            for mode, plan in plans.items():
                assert not whole_reads(plan, statement.table), f"{statement.name} ({mode}):\n{plan}"
                assert indexes_used(plan) & set(statement.indexes), f"{statement.name} ({mode}):\n{plan}"
            if "force_generic_plan" in plans:  # what the statement gets after five executions, if cheaper
                assert indexes_used(plans["auto"]) == indexes_used(plans["force_custom_plan"]) or (
                    indexes_used(plans["auto"]) == indexes_used(plans["force_generic_plan"])), plans
