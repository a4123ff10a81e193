"""Outputs owed to the transport, stored with the effects that produced them."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.outputs import Copy, Out
from assistant.outbox import decode, encode
from assistant.store.models import (
    OutboxEntry,
)

logger = logging.getLogger(__name__)


class Outbox:
    """Outputs owed to the transport, stored with the effects that produced them."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def enqueue(self, outputs: Sequence[Out], now: datetime, lease: timedelta) -> list[Out]:
        """Store outputs owed, leased to this process for sending; returned with their outbox ids."""
        if not outputs:
            return []
        entries = [OutboxEntry(chat_id=output.to_chat_id if isinstance(output, Copy) else output.chat_id,
                               payload=encode(output), created_at=now, lease_until=now + lease, attempts=1)
                   for output in outputs]
        self.session.add_all(entries)
        await self.session.flush()
        return [dataclasses.replace(output, outbox_id=entry.id) for output, entry in zip(outputs, entries)]

    async def mark_sent(self, outbox_ids: Sequence[int], now: datetime) -> None:
        await self.session.execute(update(OutboxEntry).where(OutboxEntry.id.in_(outbox_ids)).values(sent_at=now))

    async def mark_sent_once(self, outbox_id: int, now: datetime) -> bool:
        """Mark one output done with; False when it was already (its result was taken in before)."""
        table = OutboxEntry.__table__
        result = await self.session.execute(update(table).where(table.c.id == outbox_id, table.c.sent_at.is_(None))
                                            .values(sent_at=now))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def claim_unsent(self, now: datetime, lease: timedelta, max_attempts: int, limit: int = 100) -> list[Out]:
        """Outputs whose sender's lease ran out unsent: leased anew to the caller, oldest first.

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
        return [decode(row.payload, row.id) for row in rows]

    async def forget(self, before: datetime) -> None:
        await self.session.execute(delete(OutboxEntry).where(
            or_(OutboxEntry.sent_at < before, OutboxEntry.failed_at < before)))

