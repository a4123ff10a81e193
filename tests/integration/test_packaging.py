"""The installed command, and the Makefile's care for the virtual environment."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_entry_point_runs_the_command_line() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, function = scripts["invoice-assistant"].split(":")
    shown = subprocess.run([sys.executable, "-c", f"import sys; sys.argv[0] = 'invoice-assistant'; "
                            f"from {module} import {function}; {function}()", "--help"],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "Usage: invoice-assistant" in shown.stdout and "run" in shown.stdout and "db" in shown.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_recreates_a_venv_of_an_unsupported_python(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Makefile", tmp_path)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\nexit 1\n")  # as Python 3.10 answers the version check
    python.chmod(0o755)
    (tmp_path / ".venv" / ".installed").touch()
    planned = subprocess.run(["make", "-n", "demo"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert planned.returncode == 0, planned.stderr
    assert "making it again" in planned.stdout and not (tmp_path / ".venv").exists()
    assert "-m venv .venv" in planned.stdout and 'pip install --quiet -e ".[test]"' in planned.stdout
