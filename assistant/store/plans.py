"""The statements behind every lookup and prune, and their plans: what the plan tests and bench/data_scale.py EXPLAIN.

On PostgreSQL a statement is prepared and run `REPEATS` times on one connection (asyncpg prepares every
statement; after five executions PostgreSQL may switch to a generic plan, made without the parameters'
values), then explained three ways: as the plan cache now chooses, forced generic and forced custom. A
statement whose plans read a large table whole in any of them is one whose speed depends on its
parameters or on the data's size. On SQLite (no plan cache) it is EXPLAIN QUERY PLAN.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from assistant.store.driver import Driver
from assistant.store.inbox import PRUNE
from assistant.store.invoices import FIND, FIND_DIGITAL, NEAR_STATEMENTS
from assistant.store.lookups import RECENT
from assistant.store.outbox_store import PRUNE_FAILED, PRUNE_SENT
from assistant.store.privacy import (
    RETAIN_ACCESS_REQUESTS,
    RETAIN_AUDIT,
    RETAIN_CONVERSATIONS,
    RETAIN_FOLLOW_UPS,
    RETAIN_LOOKUPS,
    RETAIN_RECIPIENTS,
    RETAIN_TICKETS,
)

logger = logging.getLogger(__name__)

REPEATS = 12
"""Executions before explaining: past the five after which PostgreSQL weighs a generic plan."""
MODES = ("auto", "force_generic_plan", "force_custom_plan")


@dataclass(frozen=True)
class Statement:
    name: str
    sql: str
    """PostgreSQL's spelling ($1…, = ANY($n)); the driver's translation for SQLite."""
    types: tuple[str, ...]
    """PostgreSQL types of $1…$n."""
    table: str
    """The table it must never read whole."""
    indexes: tuple[str, ...]
    """Indexes of which the plan uses at least one (on SQLite the unique key is an autoindex)."""


def _invoices(where: str) -> str:
    return f"SELECT * FROM invoices WHERE {where}"


UNIQUE_KEY = ("uq_invoices_code_number", "sqlite_autoindex_invoices_1")
SAME_DAY = ("ix_invoices_issue_date_total", "ix_invoices_issue_date_amount")
STATEMENTS = (
    Statement("found (code + number)", _invoices(FIND), ("text", "text"), "invoices",
              (*UNIQUE_KEY, "ix_invoices_number")),
    Statement("found (digital number)", _invoices(FIND_DIGITAL), ("text",), "invoices",
              (*UNIQUE_KEY, "ix_invoices_number")),
    Statement("near: number variants", _invoices(NEAR_STATEMENTS["variants"]), ("text", "text[]"), "invoices",
              (*UNIQUE_KEY, "ix_invoices_number")),
    Statement("near: code variants", _invoices(NEAR_STATEMENTS["codes"]), ("text", "text[]"), "invoices",
              (*UNIQUE_KEY, "ix_invoices_number")),
    Statement("near: same day and money (staff)", _invoices(NEAR_STATEMENTS["same_day_and_money"]) + " LIMIT 5",
              ("date", "numeric"), "invoices", SAME_DAY),
    Statement("near: same day and money (merchant)",
              _invoices(NEAR_STATEMENTS["same_day_and_money_of"]) + " LIMIT 5", ("date", "numeric", "text[]"),
              "invoices", SAME_DAY),
    Statement("lookup limit", RECENT, ("bigint", "timestamptz"), "diagnoses", ("ix_diagnoses_user_id_created_at",)),
    Statement("prune inbox", PRUNE, ("timestamptz", "bigint"), "inbox", ("ix_inbox_finished",)),
    Statement("prune outbox (sent)", PRUNE_SENT, ("timestamptz", "bigint"), "outbox", ("ix_outbox_pending",)),
    Statement("prune outbox (failed)", PRUNE_FAILED, ("timestamptz", "bigint"), "outbox", ("ix_outbox_failed",)),
    # the retention prune (assistant/store/privacy.py): the oldest rows still holding personal data
    Statement("retention: lookups", RETAIN_LOOKUPS, ("timestamptz", "bigint"), "diagnoses", ("ix_diagnoses_named",)),
    Statement("retention: closed tickets", RETAIN_TICKETS, ("timestamptz", "bigint"), "tickets",
              ("ix_tickets_closed_named",)),
    Statement("retention: follow-ups", RETAIN_FOLLOW_UPS, ("timestamptz", "bigint"), "follow_ups",
              ("ix_follow_ups_due",)),
    Statement("retention: access requests", RETAIN_ACCESS_REQUESTS, ("timestamptz", "bigint"), "access_requests",
              ("ix_access_requests_created_at",)),
    Statement("retention: audit", RETAIN_AUDIT, ("timestamptz", "bigint"), "audit_log", ("ix_audit_log_at",)),
    Statement("retention: broadcast recipients", RETAIN_RECIPIENTS, ("timestamptz", "bigint"),
              "broadcast_recipients", ("pk_broadcast_recipients", "sqlite_autoindex_broadcast_recipients_1")),
    Statement("retention: inactive chats", RETAIN_CONVERSATIONS, ("timestamptz", "bigint"), "conversations",
              ("ix_conversations_updated_at",)),
)


def _literal(value: Any) -> str:
    """A value as PostgreSQL SQL text (EXECUTE takes no parameters)."""
    if value is None:
        return "NULL"
    if isinstance(value, (list, tuple)):
        return f"ARRAY[{', '.join(_literal(item) for item in value)}]::text[]"
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'::timestamptz"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, (int, Decimal)):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


async def explain(session: AsyncSession, statement: Statement, *args: Any) -> dict[str, str]:
    """The statement's plans by mode (SQLite: one, "sqlite"), after REPEATS executions on this connection.

    Runs the statement (a prune deletes): call it in a transaction that is rolled back.
    """
    driver = await Driver.of(session)
    if driver.sqlite:
        converted = [driver.array(arg) if isinstance(arg, (list, tuple)) else _sqlite_value(arg) for arg in args]
        rows = await driver.rows("EXPLAIN QUERY PLAN " + statement.sql, *converted)
        return {"sqlite": "\n".join(str(row[-1]) for row in rows)}
    name = "plan_probe"
    await driver.run(f"PREPARE {name} ({', '.join(statement.types)}) AS {statement.sql}")
    try:  # a prepared statement outlives the transaction
        call = f"EXECUTE {name} ({', '.join(_literal(arg) for arg in args)})"
        for _ in range(REPEATS):
            await driver.run(call)
        plans = {}
        for mode in MODES:
            await driver.run(f"SET LOCAL plan_cache_mode = {mode}")
            plans[mode] = "\n".join(row[0] for row in await driver.rows(f"EXPLAIN {call}"))
        await driver.run("SET LOCAL plan_cache_mode = auto")
        return plans
    finally:
        await driver.run(f"DEALLOCATE {name}")


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def whole_reads(plan: str, table: str) -> bool:
    """Whether a plan reads the table whole (a sequential scan; SQLite's SCAN, even of an index)."""
    return bool(re.search(rf"Seq Scan on {table}\b|\bSCAN {table}\b", plan))


_INDEX = re.compile(r"(?:Index Scan|Index Only Scan|Bitmap Index Scan)(?: Backward)? (?:using|on) (\w+)"
                    r"|USING (?:COVERING )?INDEX (\w+)")


def indexes_used(plan: str) -> set[str]:
    return {postgres or sqlite for postgres, sqlite in _INDEX.findall(plan)}
