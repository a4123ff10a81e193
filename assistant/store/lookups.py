"""Every diagnosis made: for the lookup limits and the statistics."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.store.driver import Driver
from assistant.store.models import (
    Diagnosis,
)

logger = logging.getLogger(__name__)

RECENT = ("SELECT code, number, created_at FROM diagnoses WHERE user_id = $1 AND created_at >= $2"
          " AND outcome NOT IN ('limited', 'maintenance') ORDER BY created_at")
"""The lookup limit's question: one user's lookups of the day, read by (user_id, created_at)."""


class Lookups:
    """Every diagnosis made: for the lookup limits and the statistics."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, *, user_id: int, chat_id: int, fields: dict[str, str], outcome: str,
                  now: datetime) -> None:
        driver = await Driver.of(self.session)
        await driver.run("INSERT INTO diagnoses (user_id, chat_id, code, number, outcome, created_at)"
                         " VALUES ($1, $2, $3, $4, $5, $6)", user_id, chat_id, fields.get("code", ""),
                         fields.get("number", ""), outcome, driver.when(now))

    async def outcome_counts(self, since: datetime) -> dict[str, int]:
        query = (select(Diagnosis.outcome, func.count()).where(Diagnosis.created_at >= since)
                 .group_by(Diagnosis.outcome))
        return {outcome: int(count) for outcome, count in await self.session.execute(query)}

    async def recent(self, user_id: int, since: datetime) -> list[tuple[str, str, datetime]]:
        """(code, number, when) of the user's lookups since a moment; refusals and maintenance do not count."""
        driver = await Driver.of(self.session)
        rows = await driver.rows(RECENT, user_id, driver.when(since))
        return [(code, number, when) for code, number, at in rows if (when := driver.when_of(at)) is not None]
