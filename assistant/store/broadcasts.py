"""Announcements to many merchants and where each recipient stands."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, or_, select, update
from sqlalchemy import literal as sa_literal
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.store.models import (
    Broadcast,
    BroadcastRecipient,
    Conversation,
    FollowUp,
    User,
)

logger = logging.getLogger(__name__)


class Broadcasts:
    """Announcements to many merchants and where each recipient stands."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _audience(self, audience: str, since: datetime) -> Any:
        """User ids a broadcast goes to: merchants active since a moment, or those who asked to be notified."""
        if audience == "subscribers":
            chosen = select(FollowUp.user_id).where(FollowUp.created_at >= since)
        else:
            chosen = select(Conversation.user_id).where(Conversation.updated_at >= since)
        return (select(User.id).where(User.id.in_(chosen), User.role == "merchant", User.unreachable.is_(False))
                .distinct())

    async def audience_size(self, audience: str, since: datetime) -> int:
        subquery = self._audience(audience, since).subquery()
        return int(await self.session.scalar(select(func.count()).select_from(subquery)) or 0)

    async def create(self, *, created_by: int, audience: str, text: str, since: datetime,
                     now: datetime) -> Broadcast:
        broadcast = Broadcast(created_by=created_by, audience=audience, text=text, state="running", total=0,
                              progress_chat_id=created_by, created_at=now)
        self.session.add(broadcast)
        await self.session.flush()
        recipients = self._audience(audience, since).subquery()
        await self.session.execute(cast(Table, BroadcastRecipient.__table__).insert().from_select(
            ["broadcast_id", "user_id", "state", "attempts", "updated_at"],
            select(sa_literal(broadcast.id), recipients.c.id, sa_literal("pending"), sa_literal(0),
                   sa_literal(now, type_=BroadcastRecipient.__table__.c.updated_at.type))))
        broadcast.total = int(await self.session.scalar(select(func.count()).select_from(BroadcastRecipient).where(
            BroadcastRecipient.broadcast_id == broadcast.id)) or 0)
        return broadcast

    async def running(self) -> list[Broadcast]:
        query = select(Broadcast).where(Broadcast.state == "running").order_by(Broadcast.id)
        return list(await self.session.scalars(query))

    async def get(self, broadcast_id: int) -> Broadcast | None:
        return await self.session.get(Broadcast, broadcast_id, populate_existing=True, with_for_update=True)

    async def hold(self, broadcast_id: int, runner: str, now: datetime, until: datetime) -> bool:
        """Become (or stay) the one process sending a running broadcast, until `until`; False when another
        process holds it."""
        result = await self.session.execute(
            update(Broadcast).where(Broadcast.id == broadcast_id, Broadcast.state == "running",
                                    or_(Broadcast.runner.is_(None), Broadcast.runner == runner,
                                        Broadcast.runner_until < now))
            .values(runner=runner, runner_until=until))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def let_go(self, broadcast_id: int, runner: str) -> None:
        await self.session.execute(update(Broadcast).where(Broadcast.id == broadcast_id, Broadcast.runner == runner)
                                   .values(runner=None, runner_until=None))

    async def pending_recipients(self, broadcast_id: int, limit: int) -> list[int]:
        query = (select(BroadcastRecipient.user_id)
                 .where(BroadcastRecipient.broadcast_id == broadcast_id, BroadcastRecipient.state == "pending")
                 .order_by(BroadcastRecipient.user_id).limit(limit))
        return list(await self.session.scalars(query))

    async def set_recipient(self, broadcast_id: int, user_id: int, state: str, now: datetime,
                            only_if: str | None = None) -> bool:
        """Move a recipient to `state` (from `only_if`, when given); False when it was not in that state."""
        statement = (update(BroadcastRecipient)
                     .where(BroadcastRecipient.broadcast_id == broadcast_id, BroadcastRecipient.user_id == user_id)
                     .values(state=state, updated_at=now, attempts=BroadcastRecipient.attempts + 1))
        if only_if is not None:
            statement = statement.where(BroadcastRecipient.state == only_if)
        result = await self.session.execute(statement)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def recipient_counts(self, broadcast_id: int) -> dict[str, int]:
        query = (select(BroadcastRecipient.state, func.count()).where(BroadcastRecipient.broadcast_id == broadcast_id)
                 .group_by(BroadcastRecipient.state))
        return {state: int(count) for state, count in await self.session.execute(query)}


    async def progress_posted(self, broadcast_id: int, message_id: int) -> None:
        """Record the progress message Telegram assigned, unless one was recorded already."""
        broadcast = await self.get(broadcast_id)
        if broadcast is not None and (broadcast.progress_message_id is None or broadcast.progress_message_id < 0):
            broadcast.progress_message_id = message_id
