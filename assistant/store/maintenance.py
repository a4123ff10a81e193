"""Announced maintenance windows of the verification platform."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.store.driver import Driver, nothing_there
from assistant.store.models import (
    MaintenanceWindow,
)

logger = logging.getLogger(__name__)


class MaintenanceWindows:
    """Announced maintenance windows of the verification platform."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @staticmethod
    def _running(now: datetime) -> Any:
        """Windows in force now: started, expected end not passed, not ended by an admin."""
        return select(MaintenanceWindow).where(MaintenanceWindow.starts_at <= now, MaintenanceWindow.ends_at > now,
                                               MaintenanceWindow.ended_at.is_(None))

    async def active(self, now: datetime) -> MaintenanceWindow | None:
        if await nothing_there(self.session, "SELECT 1 FROM maintenance_windows WHERE starts_at <= $1"
                               " AND ends_at > $1 AND ended_at IS NULL", (await Driver.of(self.session)).when(now)):
            return None  # most of the time nothing is announced
        query = self._running(now).order_by(MaintenanceWindow.ends_at.desc()).limit(1)
        return (await self.session.scalars(query)).first()

    async def upcoming(self, now: datetime) -> list[MaintenanceWindow]:
        query = (select(MaintenanceWindow)
                 .where(MaintenanceWindow.starts_at > now, MaintenanceWindow.ended_at.is_(None))
                 .order_by(MaintenanceWindow.starts_at))
        return list(await self.session.scalars(query))

    async def all(self) -> list[MaintenanceWindow]:
        query = select(MaintenanceWindow).order_by(MaintenanceWindow.starts_at.desc())
        return list(await self.session.scalars(query))

    async def add(self, *, starts_at: datetime, ends_at: datetime, message_zh: str,
                  message_en: str, now: datetime, created_by: int | None = None) -> MaintenanceWindow:
        window = MaintenanceWindow(starts_at=starts_at, ends_at=ends_at, message_zh=message_zh,
                                   message_en=message_en, created_by=created_by, created_at=now)
        self.session.add(window)
        await self.session.flush()
        return window

    async def end(self, now: datetime) -> list[MaintenanceWindow]:
        """End every window that is running now; returns them."""
        windows = list(await self.session.scalars(self._running(now)))
        for window in windows:
            window.ended_at = now
        return windows

    async def extend(self, until: datetime, now: datetime) -> list[MaintenanceWindow]:
        """Move the expected end of every window running now; returns them."""
        windows = list(await self.session.scalars(self._running(now)))
        for window in windows:
            window.ends_at = until
        return windows
