"""What an operator can get wrong when starting the bot: one line that says what to do, and an exit code.

Each case is a real `python bot.py run` process against the fake Bot API; the exit codes are those of
docs/metrics.md (2 configuration, 3 database, 4 Telegram, 5 port in use).
"""

from __future__ import annotations

import re
import socket
import sqlite3
from pathlib import Path

import pytest

from assistant.store.engine import make_engine
from assistant.store.migrate import upgrade
from tests.e2e.fake_bot_api import FakeBotAPI
from tests.e2e.processes import BotProcess, free_port

pytestmark = pytest.mark.e2e
ROUTINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING) ")


def one_line(output: str) -> str:
    """The operator's terminal: exactly one line that is not routine logging, and no traceback."""
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.strip() and not ROUTINE.match(line)]
    assert len(lines) == 1, output
    return lines[0]


async def fails(api: FakeBotAPI, url: str, tmp_path: Path, *args: str, **env: str) -> tuple[int, str]:
    bot = BotProcess(api, url, tmp_path / f"bot{len(list(tmp_path.glob('*.log')))}.log", *args, **env)
    code = await bot.run_to_exit()
    return code, one_line(bot.output())


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/bot.sqlite3"


@pytest.mark.parametrize(("env", "said"), [
    ({"TIMEZONE": "Beijing"}, "TIMEZONE: unknown time zone 'Beijing': use an IANA name such as Asia/Shanghai"),
    ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL: 'LOUD' is not a log level"),
    ({"ADMIN_IDS": "alice"}, "ADMIN_IDS: 'alice' is not a Telegram user id"),
    ({"SUPPORT_HOURS": "9-18"}, "SUPPORT_HOURS: '9-18' is not a span of hours: write it like 09:00-18:00"),
    ({"SUPPORT_WEEKDAYS": "mon-fri"}, "SUPPORT_WEEKDAYS: 'mon-fri' is not a list of weekdays"),
    ({"DATABASE_URL": "postgres://bot:pw@db.example.com/invoices"},
     "use postgresql+asyncpg://bot:***@db.example.com/invoices"),
    ({"DATABASE_URL": "postgresql://bot@db.example.com/invoices"}, "use postgresql+asyncpg://bot@db.example.com"),
    ({"DATABASE_URL": "mysql://root@localhost/test"}, "mysql:// is not supported"),
    ({"DATABASE_URL": "sqlite:///data/bot.sqlite3"}, "use sqlite+aiosqlite:///data/bot.sqlite3"),
    ({"DATABASE_URL": "/var/lib/bot.sqlite3"}, "'/var/lib/bot.sqlite3' is not a URL"),
    ({"TELEGRAM_BOT_TOKEN": "not-a-token"}, "TELEGRAM_BOT_TOKEN is malformed"),
])
async def test_a_bad_setting_is_one_line_and_exit_2(api: FakeBotAPI, tmp_path: Path, env: dict[str, str],
                                                    said: str) -> None:
    code, line = await fails(api, sqlite_url(tmp_path), tmp_path, **env)
    assert code == 2 and said in line, line


async def test_database_failures_are_one_line_and_exit_3(api: FakeBotAPI, tmp_path: Path) -> None:
    cases = [
        ("postgresql+asyncpg://postgres@127.0.0.1:9/test", "(connection refused): is PostgreSQL running?"),
        ("postgresql+asyncpg://postgres@no-such-host.invalid/test", "cannot resolve the database host"),
        ("sqlite+aiosqlite:////etc/hostname/bot.sqlite3", "cannot use /etc/hostname"),
    ]
    for url, said in cases:
        code, line = await fails(api, url, tmp_path)
        assert code == 3 and said in line, line


async def test_a_database_from_a_newer_release_is_refused_in_one_line(api: FakeBotAPI, tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    engine = make_engine(url)
    await upgrade(engine)
    await engine.dispose()
    with sqlite3.connect(tmp_path / "bot.sqlite3") as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'from_the_future'")
    code, line = await fails(api, url, tmp_path)
    assert code == 3 and "schema revision from_the_future, which this release does not know" in line, line
    assert "restore a backup" in line
    with sqlite3.connect(tmp_path / "bot.sqlite3") as connection:  # untouched
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [("from_the_future",)]


async def test_a_missing_postgres_database_is_named(api: FakeBotAPI, tmp_path: Path,
                                                    database_urls: dict[str, str]) -> None:
    if "postgresql" not in database_urls:
        pytest.skip("set TEST_DATABASE_URL to test PostgreSQL")
    url = database_urls["postgresql"].rsplit("/", 1)[0] + "/no_such_database_here"
    code, line = await fails(api, url, tmp_path)
    assert code == 3 and "the database 'no_such_database_here' does not exist: create it" in line, line


async def test_the_webhook_port_in_use_is_one_line_and_exit_5(api: FakeBotAPI, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, line = await fails(api, sqlite_url(tmp_path), tmp_path, "--webhook", "https://bot.example.com/hook",
                                 "--port", str(port))
    assert code == 5 and f"port {port} on 127.0.0.1 is in use: stop what uses it, or set WEBHOOK_PORT" in line


async def test_the_metrics_port_in_use_is_one_line_and_exit_5(api: FakeBotAPI, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, line = await fails(api, sqlite_url(tmp_path), tmp_path, METRICS_PORT=str(port))
    assert code == 5 and "set METRICS_PORT" in line, line


async def test_another_polling_process_is_one_line_and_exit_4(api: FakeBotAPI, tmp_path: Path) -> None:
    api.other_poller = True
    code, line = await fails(api, sqlite_url(tmp_path), tmp_path)
    assert code == 4 and "another process is taking this bot's updates (409 Conflict)" in line, line


async def test_polling_does_not_take_down_a_webhook_without_force(api: FakeBotAPI, tmp_path: Path) -> None:
    api.profile["webhook"] = {"url": "https://bot.example.com/hook"}  # production runs with a webhook
    code, line = await fails(api, sqlite_url(tmp_path), tmp_path)
    assert code == 4 and "a webhook is set for this bot (https://bot.example.com/hook)" in line, line
    assert "--force" in line
    assert api.profile["webhook"] and not api.calls_of("deleteWebhook")  # production untouched
    bot = BotProcess(api, sqlite_url(tmp_path), tmp_path / "forced.log", "--force")
    await bot.start()
    try:
        assert api.calls_of("deleteWebhook") and "webhook" not in api.profile
    finally:
        assert await bot.stop() == 0, bot.output()


async def test_a_webhook_telegram_refuses_is_one_line_and_exit_4(api: FakeBotAPI, tmp_path: Path) -> None:
    code, line = await fails(api, sqlite_url(tmp_path), tmp_path, "--webhook", "http://bot.example.com/hook",
                             "--port", str(free_port()))
    assert code == 4 and "Telegram refused the webhook" in line and "https://" in line, line
