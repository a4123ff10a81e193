"""`bot.py check` against the fake Bot API: a good set-up is all ✓, each broken one is ✗ with its fix."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from assistant.store.engine import make_engine
from assistant.store.migrate import upgrade
from tests.conftest import SUPPORT_CHAT
from tests.e2e.fake_bot_api import FakeBotAPI
from tests.e2e.processes import BotProcess

pytestmark = pytest.mark.e2e


async def check(api: FakeBotAPI, url: str, tmp_path: Path, **env: str) -> tuple[int, dict[str, str]]:
    """Run `bot.py check` (in English unless DEFAULT_LANGUAGE is given): its exit code and each line by the name
    of what it checked."""
    log = tmp_path / f"check{len(list(tmp_path.glob('*.log')))}.log"
    bot = BotProcess(api, url, log, command=("bot.py", "check"),
                     **{"SUPPORT_CHAT_ID": str(SUPPORT_CHAT), "DEFAULT_LANGUAGE": "en", **env})
    code = await bot.run_to_exit()
    lines = {}
    for line in bot.output().splitlines():
        if line[:2] in ("✓ ", "✗ "):
            name, _, rest = line[2:].partition(": ")
            lines[name] = line[0] + " " + rest
    assert "Traceback" not in bot.output(), bot.output()
    return code, lines


@pytest.fixture
async def migrated(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path}/bot.sqlite3"
    engine = make_engine(url)
    await upgrade(engine)
    await engine.dispose()
    return url


async def test_a_good_set_up_is_all_ticks(api: FakeBotAPI, migrated: str, tmp_path: Path) -> None:
    code, lines = await check(api, migrated, tmp_path)
    assert code == 0, lines
    assert set(lines) == {"settings", "database", "schema", "Bot API", "webhook", "support group"}
    assert all(line.startswith("✓") for line in lines.values()), lines
    assert "up to date" in lines["schema"] and "long polling" in lines["settings"]
    assert "topics on, the bot may manage them" in lines["support group"]
    assert not api.calls_of("deleteWebhook") and not api.calls_of("setWebhook")  # changes nothing


async def test_each_broken_set_up_is_a_cross_with_its_fix(api: FakeBotAPI, migrated: str, tmp_path: Path) -> None:
    api.can_manage_topics = False
    code, lines = await check(api, migrated, tmp_path)
    assert code == 1 and lines["support group"].startswith("✗") and "manage topics" in lines["support group"]
    api.can_manage_topics, api.forum = True, False
    code, lines = await check(api, migrated, tmp_path)
    assert code == 1 and lines["support group"].startswith("✗") and "turn on Topics" in lines["support group"]
    api.forum = True
    api.profile["webhook"] = {"url": "https://bot.example.com/hook"}
    code, lines = await check(api, migrated, tmp_path)
    assert code == 1 and lines["webhook"].startswith("✗") and "this process would poll" in lines["webhook"]
    assert api.profile["webhook"]  # untouched
    del api.profile["webhook"]
    code, lines = await check(api, migrated, tmp_path, SUPPORT_CHAT_ID="")
    assert code == 1 and "SUPPORT_CHAT_ID is not set" in lines["support group"]


async def test_token_network_and_database_problems(api: FakeBotAPI, migrated: str, tmp_path: Path) -> None:
    code, lines = await check(api, migrated, tmp_path, TELEGRAM_BOT_TOKEN="123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T1")
    assert code == 1 and "Telegram rejected TELEGRAM_BOT_TOKEN" in lines["Bot API"]
    code, lines = await check(api, migrated, tmp_path, TELEGRAM_API_BASE_URL="http://127.0.0.1:9/bot")
    assert code == 1 and "cannot reach the Bot API" in lines["Bot API"] and "TELEGRAM_PROXY" in lines["Bot API"]
    missing = tmp_path / "nowhere" / "bot.sqlite3"
    code, lines = await check(api, f"sqlite+aiosqlite:///{missing}", tmp_path)
    assert code == 1 and "no SQLite database at" in lines["database"] and "bot.py db upgrade" in lines["database"]
    assert not missing.parent.exists()  # looking created nothing
    empty = tmp_path / "empty.sqlite3"
    sqlite3.connect(empty).close()
    code, lines = await check(api, f"sqlite+aiosqlite:///{empty}", tmp_path)
    assert code == 1 and "empty database" in lines["schema"] and "bot.py db upgrade" in lines["schema"]
    code, lines = await check(api, "postgresql+asyncpg://postgres@127.0.0.1:9/test", tmp_path)
    assert code == 1 and lines["database"].startswith("✗") and "connection refused" in lines["database"]
    assert lines["Bot API"].startswith("✓")  # the rest is still checked


async def test_version(tmp_path: Path, api: FakeBotAPI) -> None:
    bot = BotProcess(api, "", tmp_path / "version.log", "--version", command=("bot.py",))
    assert await bot.run_to_exit() == 0
    assert bot.output().startswith("invoice-assistant ") and "unknown" not in bot.output()


async def test_the_lines_are_chinese_by_default(api: FakeBotAPI, migrated: str, tmp_path: Path) -> None:
    code, lines = await check(api, migrated, tmp_path, DEFAULT_LANGUAGE="zh")
    assert code == 0, lines
    assert set(lines) == {"配置", "数据库", "数据库结构", "Bot API", "Webhook", "客服群"}
    assert "已是最新" in lines["数据库结构"] and "长轮询" in lines["配置"]
    api.forum = False
    code, lines = await check(api, migrated, tmp_path, DEFAULT_LANGUAGE="zh")
    assert code == 1 and lines["客服群"].startswith("✗") and "在群设置中开启“话题”" in lines["客服群"]
