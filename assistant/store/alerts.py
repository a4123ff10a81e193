"""Watermarks of what admins were told about (dead letters, outputs given up): each told once, rate-limited."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.store.dialect import dialect_insert
from assistant.store.models import Alert

logger = logging.getLogger(__name__)


class Alerts:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def mark(self, kind: str, now: datetime) -> tuple[datetime, datetime | None]:
        """(counted until, last told): a new kind starts counting now (history is not news)."""
        alert = await self.session.get(Alert, kind)
        if alert is None:  # processes starting together may both get here: one row, whoever writes it
            await self.session.execute(dialect_insert(self.session, Alert).values(kind=kind, counted_until=now)
                                       .on_conflict_do_nothing(index_elements=["kind"]))
            alert = await self.session.get(Alert, kind, populate_existing=True)
            assert alert is not None
        return alert.counted_until, alert.told_at

    async def advance(self, kind: str, counted_until: datetime, now: datetime) -> bool:
        """Move the watermark to now, as the one process telling about what came before it (False: another did)."""
        result = await self.session.execute(update(Alert).where(Alert.kind == kind,
                                                                Alert.counted_until == counted_until)
                                            .values(counted_until=now, told_at=now))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def all(self) -> list[Alert]:
        return list(await self.session.scalars(select(Alert)))
