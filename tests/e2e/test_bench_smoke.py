"""The load benchmark runs end to end with tiny numbers (a smoke test: no figures are asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_load_benchmark_runs_and_reports_calls_per_step(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "bench/load.py", "--chats", "2,3", "--updates", "12", "--backend", "sqlite",
                          "--transport", "both", "--think", "0.2"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, env={"PATH": "/usr/bin:/bin", "BENCH_WORK": str(tmp_path), "HOME": str(tmp_path)})
    assert run.returncode == 0, run.stderr[-3000:]
    assert "echo bot (stock)" in run.stdout and "echo bot, 16 connections" in run.stdout
    assert "assistant (sqlite, polling)" in run.stdout and "assistant (sqlite, webhook)" in run.stdout
    assert "Bot API calls/step" in run.stdout


def test_the_core_benchmark_runs(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "bench/core_step.py", "--steps", "8", "--chats", "2", "--backend", "sqlite",
                          "--profile"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert run.returncode == 0, run.stderr[-3000:]
    assert "ms CPU per step" in run.stdout and "statements and commits per step" in run.stdout
    assert "driver: INSERT INTO outbox" in run.stdout  # the statements given straight to the driver, counted


def test_the_handoff_burst_benchmark_runs(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "bench/handoff_burst.py", "--handoffs", "4", "--asking", "2", "--seconds", "3",
                          "--lease", "1"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert run.returncode == 0, run.stderr[-3000:]
    assert "4 handoffs at once" in run.stdout and "twice: 0" in run.stdout
