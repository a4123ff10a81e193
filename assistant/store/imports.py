"""Invoice files admins send in Telegram: previewed, confirmed once, imported by one process at a time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.store.models import PendingImport

ACTIVE = ("confirmed", "running")


class Imports:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, *, admin_id: int, chat_id: int, file_id: str, file_name: str, size: int,
                     now: datetime) -> PendingImport:
        pending = PendingImport(admin_id=admin_id, chat_id=chat_id, file_id=file_id[:256], file_name=file_name[:256],
                                size=size, state="previewed", created_at=now, updated_at=now)
        self.session.add(pending)
        await self.session.flush()
        return pending

    async def get(self, import_id: int) -> PendingImport | None:
        return await self.session.get(PendingImport, import_id, populate_existing=True)

    async def confirm(self, import_id: int, admin_id: int, now: datetime) -> bool:
        """The admin's "import": True only for the press that moved the preview on (a second press changes nothing)."""
        result = await self.session.execute(
            update(PendingImport).where(PendingImport.id == import_id, PendingImport.admin_id == admin_id,
                                        PendingImport.state == "previewed")
            .values(state="confirmed", updated_at=now))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def cancel(self, import_id: int, admin_id: int) -> bool:
        """The admin's "cancel": the preview removed; False when it was confirmed (or removed) before."""
        result = await self.session.execute(
            delete(PendingImport).where(PendingImport.id == import_id, PendingImport.admin_id == admin_id,
                                        PendingImport.state == "previewed"))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def due(self, now: datetime) -> list[int]:
        """Confirmed imports, and running ones whose process stopped holding them."""
        query = (select(PendingImport.id)
                 .where(or_(PendingImport.state == "confirmed",
                            (PendingImport.state == "running") & (PendingImport.runner_until < now)))
                 .order_by(PendingImport.id))
        return list(await self.session.scalars(query))

    async def hold(self, import_id: int, runner: str, now: datetime, until: datetime) -> bool:
        """Become (or stay) the one process importing it, until `until`; False when another holds it."""
        result = await self.session.execute(
            update(PendingImport).where(
                PendingImport.id == import_id, PendingImport.state.in_(ACTIVE),
                or_(PendingImport.runner.is_(None), PendingImport.runner == runner, PendingImport.runner_until < now))
            .values(state="running", runner=runner, runner_until=until, updated_at=now))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def progress_posted(self, import_id: int, message_id: int) -> None:
        await self.session.execute(update(PendingImport).where(PendingImport.id == import_id)
                                   .values(progress_message_id=message_id))

    async def finish(self, import_id: int, runner: str, state: str, now: datetime) -> bool:
        """Done or failed, by the process holding it; False when it no longer does."""
        result = await self.session.execute(
            update(PendingImport).where(PendingImport.id == import_id, PendingImport.runner == runner,
                                        PendingImport.state == "running")
            .values(state=state, runner=None, runner_until=None, updated_at=now))
        return bool(result.rowcount)  # type: ignore[attr-defined]
