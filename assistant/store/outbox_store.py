"""Outputs owed to the transport, stored with the effects that produced them."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.outputs import Copy, OpenTopic, Out
from assistant.runtime.outbox import decode, encode
from assistant.store.driver import Driver, unwritten
from assistant.store.inbox import PRUNE_BATCH
from assistant.store.models import (
    OutboxEntry,
)

logger = logging.getLogger(__name__)

PRUNE_SENT = "SELECT id FROM outbox WHERE sent_at < $1 ORDER BY sent_at LIMIT $2"
PRUNE_FAILED = "SELECT id FROM outbox WHERE failed_at IS NOT NULL AND failed_at < $1 ORDER BY failed_at LIMIT $2"
"""The oldest first, in their indexes' order: the plans are those indexes whatever the parameters; then
deleted by their key."""


class Outbox:
    """Outputs owed to the transport, stored with the effects that produced them."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def enqueue(self, outputs: Sequence[Out], now: datetime, lease: timedelta,
                      owner: str | None = None) -> list[Out]:
        """Store outputs owed, leased to this process (`owner`) for sending; returned with their outbox ids."""
        if not outputs:
            return []
        driver = await Driver.of(self.session)
        created, lease_until = driver.when(now), driver.when(now + lease)
        values: list[str] = []
        args: list[Any] = []
        for output in outputs:
            values.append(f"(${len(args) + 1}, ${len(args) + 2}, ${len(args) + 3}, ${len(args) + 4}, 1,"
                          f" ${len(args) + 5})")
            args += [output.to_chat_id if isinstance(output, Copy) else output.chat_id, driver.json(encode(output)),
                     created, lease_until, owner]
        rows = await driver.rows("INSERT INTO outbox (chat_id, payload, created_at, lease_until, attempts, owner)"
                                 " VALUES " + ", ".join(values) + " RETURNING id", *args)
        ids = sorted(row[0] for row in rows)  # one statement numbers its rows in order
        return [dataclasses.replace(output, outbox_id=entry_id) for output, entry_id in zip(outputs, ids)]

    async def mark_sent(self, outbox_ids: Sequence[int], now: datetime) -> None:
        driver = await Driver.of(self.session)
        await driver.run("UPDATE outbox SET sent_at = $1 WHERE id = ANY($2)", driver.when(now),
                         driver.array(outbox_ids))

    async def mark_sent_once(self, outbox_id: int, now: datetime) -> bool:
        """Mark one output done with; False when it was already (its result was taken in before)."""
        table = cast(Table, OutboxEntry.__table__)
        result = await self.session.execute(update(table).where(table.c.id == outbox_id, table.c.sent_at.is_(None))
                                            .values(sent_at=now))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def claim_unsent(self, now: datetime, lease: timedelta, max_attempts: int, limit: int = 100,
                           owner: str | None = None) -> list[Out]:
        """Outputs whose sender's lease ran out unsent: leased anew to the caller (`owner`), oldest first.

        An entry tried `max_attempts` times is given up (marked failed, logged).
        """
        pending = and_(OutboxEntry.sent_at.is_(None), OutboxEntry.failed_at.is_(None), OutboxEntry.lease_until < now)
        given_up = await self.session.execute(update(OutboxEntry).where(pending, OutboxEntry.attempts >= max_attempts)
                                              .values(failed_at=now).returning(OutboxEntry.id, OutboxEntry.chat_id))
        for entry_id, chat_id in given_up:
            logger.error("outbox entry %s for chat %s given up after %s attempts", entry_id, chat_id, max_attempts)
        rows = (await self.session.scalars(select(OutboxEntry).where(pending).order_by(OutboxEntry.id).limit(limit)
                                           .with_for_update(skip_locked=True))).all()
        for row in rows:
            row.lease_until = now + lease
            row.attempts += 1
            row.owner = owner
        return [decode(row.payload, row.id) for row in rows]

    async def renew(self, outbox_ids: Sequence[int], owner: str, until: datetime) -> set[int]:
        """Extend the leases of these entries to `until` where `owner` still holds them unsent; those ids."""
        if not outbox_ids:
            return set()
        driver = await Driver.of(self.session)
        rows = await driver.rows("UPDATE outbox SET lease_until = $1 WHERE id = ANY($2) AND owner = $3"
                                 " AND sent_at IS NULL AND failed_at IS NULL RETURNING id", driver.when(until),
                                 driver.array(outbox_ids), owner)
        return {row[0] for row in rows}

    async def release(self, outbox_ids: Sequence[int], owner: str, now: datetime) -> None:
        """Give back entries `owner` holds and never tried to send: claimable at once, the attempt not counted."""
        if outbox_ids:
            driver = await Driver.of(self.session)
            await driver.run("UPDATE outbox SET lease_until = $1, attempts = attempts - 1, owner = NULL"
                             " WHERE id = ANY($2) AND owner = $3 AND sent_at IS NULL AND failed_at IS NULL",
                             driver.when(now - timedelta(seconds=1)), driver.array(outbox_ids), owner)

    async def topic_owed(self, ticket_id: int, chat_id: int) -> bool:
        """Whether a ticket's topic is still to be created: an `OpenTopic` for it waits in the outbox."""
        driver = await Driver.of(self.session)
        rows = await driver.rows("SELECT payload FROM outbox WHERE chat_id = $1 AND sent_at IS NULL"
                                 " AND failed_at IS NULL", chat_id)
        return any(isinstance(output, OpenTopic) and output.ticket_id == ticket_id
                   for output in (decode(driver.json_of(row[0])) for row in rows))

    async def counts(self) -> tuple[int, int]:
        """(unsent, given up) entries."""
        unsent = await self.session.scalar(select(func.count()).select_from(OutboxEntry).where(
            OutboxEntry.sent_at.is_(None), OutboxEntry.failed_at.is_(None)))
        failed = await self.session.scalar(select(func.count()).select_from(OutboxEntry).where(
            OutboxEntry.failed_at.is_not(None)))
        return int(unsent or 0), int(failed or 0)

    async def given_up_since(self, since: datetime) -> int:
        """Outputs given up after `since` (never sent)."""
        return int(await self.session.scalar(select(func.count()).select_from(OutboxEntry).where(
            OutboxEntry.sent_at.is_(None), OutboxEntry.failed_at > since)) or 0)

    async def forget(self, before: datetime, batch: int = PRUNE_BATCH) -> int:
        """At most `batch` sent and `batch` failed entries older than `before`; how many.

        Two statements, each read by an index (sent: `ix_outbox_pending`, whose first column is sent_at;
        failed: the partial `ix_outbox_failed`): an OR of the two would read the whole table.
        """
        if unwritten(self.session):
            await self.session.flush()
        driver = await Driver.of(self.session)
        when = driver.when(before)
        old = {row[0] for sql in (PRUNE_SENT, PRUNE_FAILED) for row in await driver.rows(sql, when, batch)}
        return await driver.run("DELETE FROM outbox WHERE id = ANY($1)", driver.array(sorted(old))) if old else 0

