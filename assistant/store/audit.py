"""Admin actions and refused attempts."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.store.models import (
    AuditEntry,
)

logger = logging.getLogger(__name__)


class AuditLog:
    """Admin actions and refused attempts."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, *, actor_id: int | None, action: str, allowed: bool, detail: dict[str, Any],
                  now: datetime) -> None:
        self.session.add(AuditEntry(actor_id=actor_id, action=action, allowed=allowed, detail=detail, at=now))

    async def entries(self, limit: int = 100) -> list[AuditEntry]:
        query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
        return list(await self.session.scalars(query))
