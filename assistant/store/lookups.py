"""Every diagnosis made: for the lookup limits and the statistics."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.store.models import (
    Diagnosis,
)

logger = logging.getLogger(__name__)


class Lookups:
    """Every diagnosis made: for the lookup limits and the statistics."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, *, user_id: int, chat_id: int, fields: dict[str, str], outcome: str,
                  now: datetime) -> None:
        self.session.add(Diagnosis(user_id=user_id, chat_id=chat_id, code=fields.get("code", ""),
                                   number=fields.get("number", ""), outcome=outcome, created_at=now))

    async def outcome_counts(self, since: datetime) -> dict[str, int]:
        query = (select(Diagnosis.outcome, func.count()).where(Diagnosis.created_at >= since)
                 .group_by(Diagnosis.outcome))
        return {outcome: int(count) for outcome, count in await self.session.execute(query)}

    async def recent(self, user_id: int, since: datetime) -> list[tuple[str, str, datetime]]:
        """(code, number, when) of the user's lookups since a moment; refusals and maintenance do not count."""
        query = (select(Diagnosis.code, Diagnosis.number, Diagnosis.created_at)
                 .where(Diagnosis.user_id == user_id, Diagnosis.created_at >= since,
                        Diagnosis.outcome.not_in(("limited", "maintenance")))
                 .order_by(Diagnosis.created_at))
        return [(code, number, at) for code, number, at in await self.session.execute(query)]

