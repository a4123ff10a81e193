"""deploy/backup.sh and deploy/restore.sh, run as an operator would: what was there at the backup comes back.

SQLite always; PostgreSQL with pg_dump and pg_restore into a scratch database of the test's own (named after
TEST_DATABASE_URL's, never that database itself), when TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from assistant.store.engine import make_engine, make_sessions
from assistant.store.migrate import upgrade
from tests.conftest import FakeClock
from tests.factories import add_user

ROOT = Path(__file__).resolve().parents[2]


def script(name: str, *args: str, url: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("DATA_DIR", "TEST_DATABASE_URL")}
    done = subprocess.run(["bash", str(ROOT / "deploy" / name), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**env, "DATABASE_URL": url, "PYTHON": sys.executable})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


async def users(url: str) -> list[int]:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return list((await connection.execute(text("SELECT id FROM users ORDER BY id"))).scalars())
    finally:
        await engine.dispose()


async def migrated_with_user(url: str, user_id: int) -> None:
    engine = make_engine(url)
    try:
        await upgrade(engine)
        await add_user(make_sessions(engine), FakeClock().now, user_id=user_id)
    finally:
        await engine.dispose()


async def add(url: str, user_id: int) -> None:
    engine = make_engine(url)
    try:
        await add_user(make_sessions(engine), FakeClock().now, user_id=user_id)
    finally:
        await engine.dispose()


def back_up_and_restore(url: str, tmp_path: Path) -> None:
    """A user before the backup, one after; restored, only the first is there."""
    asyncio.run(migrated_with_user(url, 1001))
    backup = Path(script("backup.sh", str(tmp_path / "backups"), url=url, cwd=tmp_path))
    if not backup.is_absolute():
        backup = tmp_path / backup
    assert backup.exists() and backup.parent == tmp_path / "backups"
    asyncio.run(add(url, 1002))
    assert asyncio.run(users(url)) == [1001, 1002]
    refused = subprocess.run(["bash", str(ROOT / "deploy" / "restore.sh"), str(backup)], capture_output=True,
                             text=True, timeout=30)
    assert refused.returncode == 2 and "--yes" in refused.stderr  # never without saying so
    assert "restored" in script("restore.sh", "--yes", str(backup), url=url, cwd=tmp_path)
    assert asyncio.run(users(url)) == [1001]


def test_sqlite_backup_and_restore(tmp_path: Path) -> None:
    database = tmp_path / "data" / "assistant.sqlite3"
    back_up_and_restore(f"sqlite+aiosqlite:///{database}", tmp_path)
    kept = list(database.parent.glob("assistant.sqlite3.before-restore-*"))
    assert kept, "the replaced file is kept beside the restored one"


@pytest.fixture
def scratch_postgres() -> Iterator[str]:
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        pytest.skip("set TEST_DATABASE_URL to test PostgreSQL")
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("pg_dump and pg_restore are not installed")
    url = make_url(base)
    scratch = f"{url.database}_backup_restore"
    assert scratch != url.database
    admin = url.set(database="postgres").render_as_string(hide_password=False)

    async def run(statement: str) -> None:
        engine = make_engine(admin, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                await connection.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(run(f'DROP DATABASE IF EXISTS "{scratch}"'))
    asyncio.run(run(f'CREATE DATABASE "{scratch}"'))
    try:
        yield url.set(database=scratch).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))


def test_postgres_backup_and_restore(scratch_postgres: str, tmp_path: Path) -> None:
    back_up_and_restore(scratch_postgres, tmp_path)
