"""Apply Alembic migrations on an async engine (batch mode on SQLite)."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


MIGRATION_LOCK = 0x1A55_0001
"""PostgreSQL advisory lock held while migrating: processes starting together migrate one after another."""


class NewerDatabase(Exception):
    """The database was migrated by a newer release than this one: this code must not touch it."""

    def __init__(self, revision: str) -> None:
        super().__init__(f"the database is at schema revision {revision}, which this release does not know")
        self.revision = revision


def known_revisions() -> set[str]:
    """Every revision this release's migrations know."""
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def _revisions(connection: Connection) -> tuple[str | None, str]:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    heads = MigrationContext.configure(connection).get_current_heads()
    return (heads[0] if heads else None), str(ScriptDirectory.from_config(alembic_config()).get_current_head())


async def schema_revisions(engine: AsyncEngine) -> tuple[str | None, str]:
    """(the database's revision — None when it has no schema — and this release's newest), changing nothing."""
    async with engine.connect() as connection:
        return await connection.run_sync(_revisions)


def _upgrade(connection: Connection, revision: str) -> None:
    from alembic.runtime.migration import MigrationContext

    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")  # until this commits
    config = alembic_config()
    known = known_revisions()
    for current in MigrationContext.configure(connection).get_current_heads():
        if current not in known:
            raise NewerDatabase(current)
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema up to `revision` (one process at a time); a newer schema raises `NewerDatabase`."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade, revision)
    logger.debug("database schema at %s", revision)


def _autogenerate(connection: Connection, message: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.revision(config, message=message, autogenerate=True)


async def autogenerate(engine: AsyncEngine, message: str) -> None:
    """Write a new migration from the difference between the models and the database (developers)."""
    async with engine.begin() as connection:
        await connection.run_sync(_autogenerate, message)


async def recreate(engine: AsyncEngine) -> None:
    """Drop every table and migrate from scratch (tests and benchmarks only; PostgreSQL)."""
    from sqlalchemy import text

    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await upgrade(engine)
