"""What a test reads back from the database: every row of a table, in the order written."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

M = TypeVar("M")


async def rows(session: AsyncSession, model: type[M], *where: Any) -> list[M]:
    """Rows of `model` (optionally filtered), oldest first."""
    return list(await session.scalars(select(model).where(*where).order_by(model.id)))  # type: ignore[attr-defined]
