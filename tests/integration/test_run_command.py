"""`python bot.py run` as a real process: configuration errors are one line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")}
    full.update({"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/run.sqlite3", "COLUMNS": "200", **env})
    return subprocess.run([sys.executable, "bot.py", "run"], cwd=tmp_path if False else ROOT, env=full,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("env", "message", "code"), [
    ({}, "TELEGRAM_BOT_TOKEN is not set", 2),
    ({"TELEGRAM_BOT_TOKEN": "not-a-token"}, "TELEGRAM_BOT_TOKEN is malformed", 2),
    ({"TELEGRAM_BOT_TOKEN": "123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0",
      "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9/bot"}, "cannot reach the Bot API", 4),
])
def test_token_and_connection_errors_are_one_line(env: dict[str, str], message: str, code: int,
                                                  tmp_path: Path) -> None:
    result = run(env, tmp_path)
    assert result.returncode == code
    lines = [line for line in result.stderr.splitlines() if line.strip() and " INFO " not in line]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
