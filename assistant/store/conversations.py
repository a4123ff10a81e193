"""The conversation repository: the only reader and writer of a chat's flow state (version, JSON)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified

from assistant.store.dialect import dialect_insert
from assistant.store.models import Conversation

logger = logging.getLogger(__name__)


class Conversations:
    """One row per chat: the flow it is in, the state, the collected fields, the version of its buttons."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, chat_id: int, user_id: int, *, initial: str, now: datetime) -> tuple[Conversation, bool]:
        """The chat's conversation row, locked for this transaction; created when new (True)."""
        query = (select(Conversation).where(Conversation.chat_id == chat_id).with_for_update()
                 .execution_options(populate_existing=True))
        row = await self.session.scalar(query)
        if row is not None:
            return row, False
        statement = dialect_insert(self.session, Conversation).values(
            chat_id=chat_id, user_id=user_id, flow="troubleshoot", state=initial, data={}, version=0,
            updated_at=now)
        created = await self.session.execute(
            statement.on_conflict_do_nothing(index_elements=["chat_id"]).returning(Conversation.chat_id))
        is_new = created.first() is not None  # not when another process created it just now
        row = await self.session.scalar(query)
        assert row is not None
        return row, is_new

    @staticmethod
    def save(conversation: Conversation, *, flow: str, state: str, data: dict[str, Any], now: datetime) -> int:
        """New flow, state and fields, and the next version (returned): outdated buttons are recognised by it."""
        conversation.flow = flow
        conversation.state = state
        conversation.data = data
        flag_modified(conversation, "data")
        conversation.version += 1
        conversation.updated_at = now
        return conversation.version
