"""The troubleshooting flow's ports, implemented over the store for one event."""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from assistant import metrics
from assistant.merchant.diagnosis import DiagnosisRules, diagnose, window_summary
from assistant.outputs import Out
from assistant.store.models import Conversation, User
from assistant.store.contracts import UnitOfWork
from assistant.support.desk import SupportDesk
from flows.troubleshoot import Facts

logger = logging.getLogger(__name__)


class StorePorts:
    """Everything the flow asks of the world during one event, inside that event's transaction."""

    def __init__(self, store: UnitOfWork, user: User, conversation: Conversation, now: datetime,
                 rules: DiagnosisRules, max_years: int, max_failures: int, desk: SupportDesk) -> None:
        self.store = store
        self.user = user
        self.conversation = conversation
        self.now = now
        self.rules = rules
        self.max_years = max_years
        self.max_failures = max_failures
        self.desk = desk
        self.outputs: list[Out] = []

    def today(self) -> date:
        return self.now.astimezone(self.rules.tz).date()

    def moment(self) -> datetime:
        return self.now

    async def diagnose(self, fields: dict[str, str]) -> Facts:
        return await diagnose(self.store, fields, self.user, self.now, self.rules)

    async def record_outcome(self, outcome: str, fields: dict[str, str]) -> None:
        await self.store.lookups.add(user_id=self.user.id, chat_id=self.conversation.chat_id, fields=fields,
                                       outcome=outcome, now=self.now)
        metrics.LOOKUPS.labels(outcome=outcome).inc()

    async def open_ticket(self, reason: str, fields: dict[str, str], checks: list[dict[str, Any]]) -> dict[str, Any]:
        info, outputs = await self.desk.open(user=self.user, chat_id=self.conversation.chat_id, reason=reason,
                                             fields=fields, checks=checks)
        self.outputs.extend(outputs)
        return info

    async def subscribe_maintenance(self, fields: dict[str, str]) -> dict[str, Any] | None:
        window = await self.store.maintenance.active(self.now)
        if window is None:
            return None
        await self.store.follow_ups.add(kind="maintenance_over", user_id=self.user.id,
                                       chat_id=self.conversation.chat_id, fields=fields, due_at=window.ends_at,
                                       window_id=window.id, now=self.now)
        return window_summary(window)

    async def subscribe_recheck(self, fields: dict[str, str], due_at: str) -> bool:
        return await self.store.follow_ups.add(kind="recheck", user_id=self.user.id,
                                              chat_id=self.conversation.chat_id, fields=fields,
                                              due_at=datetime.fromisoformat(due_at), now=self.now)

    async def request_access(self, invoice_id: int) -> bool:
        return await self.store.access.add(user_id=self.user.id, invoice_id=invoice_id, now=self.now)

    async def system_status(self) -> dict[str, Any]:
        current = await self.store.maintenance.active(self.now)
        upcoming = await self.store.maintenance.upcoming(self.now)
        return {"current": window_summary(current) if current else None,
                "upcoming": [window_summary(w) for w in upcoming]}

    async def set_language(self, language: str) -> None:
        self.user.language = language
