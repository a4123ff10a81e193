"""User accounts: roles, languages, the companies whose invoices they may see."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.store.driver import Driver, unwritten
from assistant.store.models import (
    Company,
    User,
    UserCompany,
)

logger = logging.getLogger(__name__)


class Users:
    """User accounts: roles, languages, the companies whose invoices they may see."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: int) -> User | None:
        return await self.session.get(User, user_id)

    async def ensure(self, user_id: int, *, language: str, name: str, now: datetime,
                     role: str = "merchant") -> User:
        """The user, created on first contact; insert-or-ignore so two processes cannot collide.

        Read through the driver (every update needs it) and handed to the session as loaded, so that
        changes to it are written as usual.
        """
        driver = await Driver.of(self.session)
        found = await driver.load(User, "id = $1", user_id)
        if not found:
            await driver.run("INSERT INTO users (id, role, language, name, alias, unreachable, created_at)"
                             " VALUES ($1, $2, $3, $4, '', $5, $6) ON CONFLICT (id) DO NOTHING",
                             user_id, role, language, name, driver.flag(False), driver.when(now))
            found = await driver.load(User, "id = $1", user_id)
        user = found[0]
        if name and user.name != name:
            user.name = name
        if user.unreachable:  # they wrote to us, so they can be reached again
            user.unreachable = False
        return user

    async def save(self, user_id: int, *, role: str, language: str | None, companies: Sequence[str],
                   now: datetime, name: str = "", alias: str | None = None) -> User:
        user = await self.ensure(user_id, language=language or "zh", name=name, now=now, role=role)
        user.role = role
        if alias is not None:
            user.alias = alias
        if language:
            user.language = language
        for tax_id in companies:
            await self.session.merge(UserCompany(user_id=user_id, tax_id=tax_id))
            if await self.session.get(Company, tax_id) is None:
                self.session.add(Company(tax_id=tax_id, name=""))
        return user

    async def unlink(self, user_id: int, tax_ids: Sequence[str]) -> int:
        """Take companies from a user; how many links there were."""
        result = await self.session.execute(delete(UserCompany).where(UserCompany.user_id == user_id,
                                                                      UserCompany.tax_id.in_(list(tax_ids))))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def remove(self, user_id: int) -> bool:
        """Remove a user's account (role, language, companies); what they did stays (tickets, audit)."""
        await self.session.execute(delete(UserCompany).where(UserCompany.user_id == user_id))
        result = await self.session.execute(delete(User).where(User.id == user_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def admins(self) -> list[User]:
        return list(await self.session.scalars(select(User).where(User.role == "admin").order_by(User.id)))

    async def set_unreachable(self, user_id: int) -> None:
        user = await self.session.get(User, user_id)
        if user is not None:
            user.unreachable = True

    async def ensure_admins(self, user_ids: Sequence[int], now: datetime) -> list[int]:
        """Create the configured admins that do not exist yet; existing users keep their role."""
        created = []
        for user_id in user_ids:
            if await self.session.get(User, user_id) is None:
                await self.ensure(user_id, language="zh", name="", now=now, role="admin")
                created.append(user_id)
        return created

    async def companies_of(self, user_id: int) -> set[str]:
        if unwritten(self.session):  # links not written yet: the ORM writes them first
            return set(await self.session.scalars(select(UserCompany.tax_id).where(UserCompany.user_id == user_id)))
        driver = await Driver.of(self.session)
        return {row[0] for row in await driver.rows("SELECT tax_id FROM user_companies WHERE user_id = $1", user_id)}

    async def all(self) -> list[tuple[User, list[str]]]:
        users = list(await self.session.scalars(select(User).order_by(User.id)))
        links = await self.session.execute(select(UserCompany.user_id, UserCompany.tax_id))
        by_user: dict[int, list[str]] = {}
        for user_id, tax_id in links:
            by_user.setdefault(user_id, []).append(tax_id)
        return [(user, sorted(by_user.get(user.id, []))) for user in users]
