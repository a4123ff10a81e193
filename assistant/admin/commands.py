"""The admin commands' effects, the same from Telegram (the admin desk) and from the command line
(`bot.py maintenance start|end`): what is written, and what is audited."""

from __future__ import annotations

from datetime import datetime

from assistant.store.contracts import UnitOfWork
from assistant.store.models import MaintenanceWindow


async def start_maintenance(store: UnitOfWork, *, starts_at: datetime, ends_at: datetime, message_zh: str,
                            message_en: str, now: datetime, actor_id: int | None, via: str | None = None) -> int:
    """A maintenance window announced (audited as `maintenance_created`); its id."""
    window = await store.maintenance.add(starts_at=starts_at, ends_at=ends_at, message_zh=message_zh,
                                         message_en=message_en, now=now, created_by=actor_id)
    detail: dict[str, object] = {"window": window.id, "starts_at": starts_at.isoformat(),
                                 "ends_at": ends_at.isoformat()}
    if via is not None:
        detail["via"] = via
    await store.audit.add(actor_id=actor_id, action="maintenance_created", allowed=True, detail=detail, now=now)
    return window.id


async def end_maintenance(store: UnitOfWork, now: datetime) -> tuple[list[MaintenanceWindow], int]:
    """The running maintenance window(s) ended now; with how many "notify me" promises now fall due."""
    ended = await store.maintenance.end(now)
    return ended, await store.follow_ups.waiting_notices([w.id for w in ended])
