"""Behind PgBouncer in transaction mode (before 1.21), DATABASE_URL's `?statement_cache_size=0` is what works.

A PgBouncer of the test's own (transaction pooling, fewer server connections than the bot's pool) in
front of TEST_DATABASE_URL's server; skipped where PgBouncer is not installed.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from assistant.store.engine import make_engine

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def pgbouncer() -> Iterator[str]:
    """The database URL through a PgBouncer in transaction mode with 3 server connections."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        pytest.skip("set TEST_DATABASE_URL to test PostgreSQL")
    if not Path(PGBOUNCER).exists():
        pytest.skip("PgBouncer is not installed")
    folder = Path(tempfile.mkdtemp(prefix="pgbouncer-"))  # readable by the user it runs as (not pytest's tmp)
    folder.chmod(0o755)
    command = [PGBOUNCER, str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root, and no postgres user to run PgBouncer as")
        command = ["runuser", "-u", "postgres", "--", *command]
    url, port = make_url(base), free_port()
    (folder / "pgbouncer.ini").write_text(f"""
[databases]
{url.database} = host={url.host or "127.0.0.1"} port={url.port or 5432} dbname={url.database} user={url.username}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = 3
max_client_conn = 100
ignore_startup_parameters = extra_float_digits
""")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
                assert time.monotonic() < deadline, "PgBouncer did not start"
                time.sleep(0.1)
        yield url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(folder)


async def transactions(url: str, clients: int = 12, each: int = 20) -> list[str]:
    """Clients in parallel, each running short transactions of two statements; the errors they met."""
    engine = make_engine(url, clients)
    errors: list[str] = []

    async def client(number: int) -> None:
        for turn in range(each):
            try:
                async with engine.begin() as connection:
                    await connection.execute(text("SELECT count(*) FROM pg_class WHERE relpages > :x"), {"x": turn})
                    await connection.execute(text("SELECT CAST(:a AS int) + CAST(:b AS int)"),
                                             {"a": number, "b": turn})
            except Exception as error:  # noqa: BLE001 - counted
                errors.append(str(error).splitlines()[0])

    try:
        await asyncio.gather(*(client(number) for number in range(clients)))
    finally:
        await engine.dispose()
    return errors


def test_statement_cache_size_0_in_the_url_works_behind_transaction_pooling(pgbouncer: str) -> None:
    separator = "&" if "?" in pgbouncer else "?"
    assert asyncio.run(transactions(f"{pgbouncer}{separator}statement_cache_size=0")) == []
    errors = asyncio.run(transactions(pgbouncer))  # as asyncpg comes: named statements, cached
    assert errors and all("prepared statement" in error for error in errors)


def test_a_statement_cache_size_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(ValueError, match="statement_cache_size in DATABASE_URL is 'off'"):
        make_engine("postgresql+asyncpg://bot@db/bot?statement_cache_size=off")
