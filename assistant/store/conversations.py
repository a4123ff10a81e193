"""The conversation repository: the only reader and writer of a chat's flow state (version, JSON)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from assistant.store.driver import Driver
from assistant.store.models import Conversation

logger = logging.getLogger(__name__)


class Conversations:
    """One row per chat: the flow it is in, the state, the collected fields, the version of its buttons.

    Read and written straight through the driver (every update reads and writes one); a row read in
    this transaction is the same object when asked for again, as with the ORM's identity map.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._loaded: dict[int, Conversation] = {}

    async def get(self, chat_id: int, user_id: int, *, initial: str, now: datetime) -> tuple[Conversation, bool]:
        """The chat's conversation row, locked for this transaction; created when new (True)."""
        if chat_id in self._loaded:
            return self._loaded[chat_id], False
        driver = await Driver.of(self.session)
        row = await driver.row(_SELECT, chat_id)
        is_new = False
        if row is None:
            created = await driver.row(
                "INSERT INTO conversations (chat_id, user_id, flow, state, data, version, updated_at)"
                " VALUES ($1, $2, 'troubleshoot', $3, $4, 0, $5) ON CONFLICT (chat_id) DO NOTHING RETURNING chat_id",
                chat_id, user_id, initial, driver.json({}), driver.when(now))
            is_new = created is not None  # not when another process created it just now
            row = await driver.row(_SELECT, chat_id)
            assert row is not None
        conversation = Conversation(chat_id=row[0], user_id=row[1], flow=row[2], state=row[3],
                                    data=driver.json_of(row[4]) or {}, version=row[5],
                                    updated_at=driver.when_of(row[6]))
        self._loaded[chat_id] = conversation
        return conversation, is_new

    async def save(self, conversation: Conversation, *, flow: str, state: str, data: dict[str, Any],
                   now: datetime) -> int:
        """New flow, state and fields, and the next version (returned): outdated buttons are recognised by it."""
        driver = await Driver.of(self.session)
        version = conversation.version + 1
        await driver.run("UPDATE conversations SET flow = $1, state = $2, data = $3, version = $4, updated_at = $5"
                         " WHERE chat_id = $6", flow, state, driver.json(data), version, driver.when(now),
                         conversation.chat_id)
        conversation.flow, conversation.state, conversation.data = flow, state, data
        conversation.version, conversation.updated_at = version, now
        return version


_SELECT = ("SELECT chat_id, user_id, flow, state, data, version, updated_at FROM conversations"
           " WHERE chat_id = $1 FOR UPDATE")
