"""Settings: files resolve from the project directory or DATA_DIR, never the working directory; TELEGRAM_PROXY."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from assistant.settings import PROJECT_DIR, Settings

ROOT = Path(__file__).resolve().parents[2]


def settings(**values: Any) -> Settings:
    return Settings(**values, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture(autouse=True)
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from another working directory, with none of the variables these tests are about."""
    for name in ("DATABASE_URL", "DATA_DIR", "TELEGRAM_PROXY", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def test_the_project_directory_is_bot_pys_folder() -> None:
    assert PROJECT_DIR == ROOT and (PROJECT_DIR / "bot.py").is_file()


def test_the_default_database_is_in_the_project_not_the_working_directory() -> None:
    assert settings().database_url == f"sqlite+aiosqlite:///{ROOT / 'data' / 'assistant.sqlite3'}"


def test_relative_sqlite_paths_resolve_from_the_project(tmp_path: Path) -> None:
    given = {"sqlite+aiosqlite:///./data/demo.sqlite3": f"sqlite+aiosqlite:///{ROOT / 'data' / 'demo.sqlite3'}",
             "sqlite+aiosqlite:///db/x.sqlite3?mode=rwc": f"sqlite+aiosqlite:///{ROOT / 'db' / 'x.sqlite3'}?mode=rwc",
             f"sqlite+aiosqlite:///{tmp_path}/a.sqlite3": f"sqlite+aiosqlite:///{tmp_path}/a.sqlite3",
             "sqlite+aiosqlite:///:memory:": "sqlite+aiosqlite:///:memory:",
             "postgresql+asyncpg://bot@db:5432/bot": "postgresql+asyncpg://bot@db:5432/bot"}
    for url, resolved in given.items():
        assert settings(database_url=url).database_url == resolved


def test_data_dir_holds_the_default_database_and_a_dotenv(tmp_path: Path, elsewhere: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / ".env").write_text("LOG_LEVEL=WARNING\nDEFAULT_LANGUAGE=en\n")
    (elsewhere / ".env").write_text("LOG_LEVEL=DEBUG\nTIMEZONE=UTC\n")  # the working directory's: never read
    project_env = tmp_path / "project.env"
    project_env.write_text("DEFAULT_LANGUAGE=zh\nMAX_YEARS_BACK=3\n")
    monkeypatch.setitem(Settings.model_config, "env_file", project_env)  # as PROJECT_DIR/.env
    monkeypatch.setenv("DATA_DIR", str(data))
    loaded = Settings()
    assert loaded.database_url == f"sqlite+aiosqlite:///{data / 'assistant.sqlite3'}"
    assert loaded.data_dir == data
    assert (loaded.log_level, loaded.default_language, loaded.max_years_back, loaded.timezone) == \
        ("WARNING", "en", 3, "Asia/Shanghai")  # DATA_DIR's .env over the project's; the cwd's ignored
    monkeypatch.setenv("LOG_LEVEL", "ERROR")
    assert Settings().log_level == "ERROR"  # the environment over both files
    monkeypatch.setenv("DATABASE_URL", "sqlite+aiosqlite:////srv/bot.sqlite3")
    assert Settings().database_url == "sqlite+aiosqlite:////srv/bot.sqlite3"  # an explicit URL wins


@pytest.mark.parametrize("url", ["http://127.0.0.1:3128", "https://proxy.example:443", "socks5://127.0.0.1:1080",
                                 "socks5h://user:p%40ss@proxy.example:1080", "http://proxy.example"])
def test_telegram_proxy_accepts_http_https_and_socks5(url: str) -> None:
    assert settings(telegram_proxy=url).proxy_url == url


@pytest.mark.parametrize("url", ["ftp://127.0.0.1:21", "socks4://127.0.0.1:1080", "127.0.0.1:3128",
                                 "socks5://127.0.0.1", "http://:3128", "http://127.0.0.1:99999"])
def test_a_bad_telegram_proxy_is_refused_in_one_line(url: str) -> None:
    with pytest.raises(ValidationError) as refused:
        settings(telegram_proxy=url)
    (error,) = refused.value.errors()
    assert error["loc"] == ("telegram_proxy",) and "socks5h://host:port" in error["msg"] and "\n" not in error["msg"]


def test_no_proxy_by_default() -> None:
    assert settings().proxy_url is None and settings(telegram_proxy=" ").proxy_url is None
