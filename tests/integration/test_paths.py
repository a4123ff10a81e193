"""Started from any working directory, the bot finds its `.env` and database where it says, never beside the cwd."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def clean_environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATA_DIR", "TEST_DATABASE_URL")}
    return {**env, **extra}


def test_db_upgrade_from_another_directory_creates_the_database_in_data_dir(tmp_path: Path) -> None:
    dotenv = ROOT / ".env"
    if dotenv.exists() and any(line.startswith(("DATABASE_URL", "DATA_DIR")) for line in dotenv.read_text().split()):
        pytest.skip("the project's .env names the database")
    cwd, data = tmp_path / "somewhere", tmp_path / "data"
    cwd.mkdir()
    done = subprocess.run([sys.executable, str(ROOT / "bot.py"), "db", "upgrade"], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env=clean_environment(DATA_DIR=str(data)))
    assert done.returncode == 0, done.stderr
    assert (data / "assistant.sqlite3").stat().st_size > 0
    assert list(cwd.iterdir()) == []  # nothing created where it was started


def test_the_dotenv_read_is_the_projects_wherever_the_bot_starts(tmp_path: Path) -> None:
    shown = subprocess.run([sys.executable, "-c", "from assistant.settings import Settings; "
                            "print(Settings.model_config['env_file'])"], cwd=tmp_path, capture_output=True, text=True,
                           timeout=60, env=clean_environment(PYTHONPATH=str(ROOT)))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == str(ROOT / ".env")
