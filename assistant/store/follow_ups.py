"""Promises to come back: "notify me when maintenance is over", "check again later"."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.store.models import (
    FollowUp,
    MaintenanceWindow,
)

logger = logging.getLogger(__name__)


class FollowUps:
    """Promises to come back: "notify me when maintenance is over", "check again later"."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, *, kind: str, user_id: int, chat_id: int, fields: dict[str, str],
                  due_at: datetime, now: datetime, window_id: int | None = None) -> bool:
        """Store a promise to come back; False when the same one is already waiting."""
        query = select(FollowUp).where(FollowUp.kind == kind, FollowUp.chat_id == chat_id,
                                       FollowUp.delivered_at.is_(None))
        for existing in await self.session.scalars(query):
            if existing.fields == fields and existing.window_id == window_id:
                return False
        self.session.add(FollowUp(kind=kind, user_id=user_id, chat_id=chat_id, fields=fields, due_at=due_at,
                                  window_id=window_id, created_at=now))
        return True

    async def due(self, now: datetime, limit: int = 200) -> list[tuple[int, int]]:
        """(id, chat) of promises that fell due: a recheck whose time came, a notice whose maintenance is over."""
        over = or_(MaintenanceWindow.id.is_(None), MaintenanceWindow.ended_at.is_not(None),
                   MaintenanceWindow.ends_at <= now)
        query = (select(FollowUp.id, FollowUp.chat_id).outerjoin(MaintenanceWindow, FollowUp.window_id == MaintenanceWindow.id)
                 .where(FollowUp.delivered_at.is_(None),
                        or_(and_(FollowUp.kind == "recheck", FollowUp.due_at <= now),
                            and_(FollowUp.kind == "maintenance_over", over)))
                 .order_by(FollowUp.due_at, FollowUp.id).limit(limit))
        return [(follow_up_id, chat_id) for follow_up_id, chat_id in await self.session.execute(query)]

    async def get(self, follow_up_id: int) -> FollowUp | None:
        """A follow-up, locked; None when another process has it (PostgreSQL) or it is gone."""
        query = select(FollowUp).where(FollowUp.id == follow_up_id).with_for_update(skip_locked=True)
        return (await self.session.scalars(query.execution_options(populate_existing=True))).first()

    async def waiting_notices(self, window_ids: Sequence[int]) -> int:
        """How many "notify me" promises of these windows are not delivered yet."""
        query = select(func.count()).select_from(FollowUp).where(FollowUp.window_id.in_(list(window_ids)),
                                                                  FollowUp.delivered_at.is_(None))
        return int(await self.session.scalar(query) or 0)

