"""Requests to see an invoice of a company the user is not linked to."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from assistant.store.dialect import dialect_insert
from assistant.store.models import (
    AccessRequest,
)

logger = logging.getLogger(__name__)


class AccessRequests:
    """Requests to see an invoice of a company the user is not linked to."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, *, user_id: int, invoice_id: int, now: datetime) -> bool:
        """Store an access request; False when the same one was already pending."""
        statement = dialect_insert(self.session, AccessRequest).values(
            user_id=user_id, invoice_id=invoice_id, state="pending", created_at=now)
        result = await self.session.execute(
            statement.on_conflict_do_nothing(index_elements=["user_id", "invoice_id"]).returning(AccessRequest.id))
        return result.first() is not None

