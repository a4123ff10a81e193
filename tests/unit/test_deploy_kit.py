"""The deploy kit (deploy/) is checked as far as this machine can: its files parse, name what exists, and cover
every setting. (Building the image and running compose need a Docker daemon; CI has none.)"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from assistant.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
INSTALLED = "/opt/invoice-assistant"  # where the units expect the project


def example_lines() -> dict[str, str]:
    """NAME -> value of each `NAME=value` or `# NAME=value` line of deploy/.env.example."""
    found = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        match = re.fullmatch(r"#? ?([A-Z][A-Z0-9_]*)=(.*)", line)
        if match:
            found[match[1]] = match[2]
    return found


def shown(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value)


def test_env_example_lists_every_setting_with_its_default() -> None:
    listed = example_lines()
    missing = [name.upper() for name in Settings.model_fields if name.upper() not in listed]
    assert not missing, f"add to deploy/.env.example: {missing}"
    unknown = set(listed) - {name.upper() for name in Settings.model_fields} - {"POSTGRES_PASSWORD"}
    assert not unknown, f"deploy/.env.example names settings that do not exist: {unknown}"
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]
        assert listed[name.upper()] == shown(default), f"{name.upper()}: the default is {shown(default)!r}"


def test_env_example_as_given_loads(tmp_path: Path) -> None:
    """Its uncommented lines, as an operator copies it (with a token filled in), are valid settings."""
    filled = (DEPLOY / ".env.example").read_text().replace("TELEGRAM_BOT_TOKEN=\n", "TELEGRAM_BOT_TOKEN=1:x\n")
    (tmp_path / ".env").write_text(filled)
    settings = Settings(_env_file=tmp_path / ".env")  # type: ignore[call-arg]
    assert settings.telegram_bot_token is not None and settings.proxy_url is None


def test_compose_has_postgres_with_a_healthcheck_and_a_volume_and_the_bot_built_here() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    db, bot = compose["services"]["db"], compose["services"]["bot"]
    assert db["image"].startswith("postgres:") and "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in db["volumes"])
    assert set(compose["volumes"]) >= {volume.split(":")[0] for volume in db["volumes"] + bot["volumes"]}
    assert bot["depends_on"]["db"]["condition"] == "service_healthy"
    assert bot["environment"]["DATABASE_URL"].startswith("postgresql+asyncpg://assistant:")
    assert bot["env_file"] == ".env" and bot["environment"]["METRICS_LISTEN"] == "0.0.0.0"
    dockerfile = (DEPLOY / bot["build"]["context"] / bot["build"]["dockerfile"]).resolve()
    assert dockerfile == DEPLOY / "Dockerfile"


def test_the_dockerfile_copies_what_the_bot_reads_and_runs_as_a_user() -> None:
    lines = [line.strip() for line in (DEPLOY / "Dockerfile").read_text().splitlines()]
    assert lines[[i for i, line in enumerate(lines) if line.startswith("FROM")][0]] == "FROM python:3.11-slim"
    copied = {source for line in lines if line.startswith("COPY ") for source in line.split()[1:-1]}
    assert all((ROOT / source).exists() for source in copied), copied
    assert {"pyproject.toml", "bot.py", "assistant", "flows", "replies"} <= copied
    assert "pip install ." in (DEPLOY / "Dockerfile").read_text()
    user = [line for line in lines if line.startswith("USER ")]
    assert user and user[-1] != "USER root"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert not set(ignored) & copied
    assert 'ENTRYPOINT ["python", "/app/bot.py"]' in lines


def commands() -> set[str]:
    """The command line's commands (`run`, `db`, …)."""
    import bot

    app = bot.app
    return {command.name or command.callback.__name__ for command in app.registered_commands
            if command.callback is not None} | {group.name for group in app.registered_groups if group.name}


@pytest.mark.parametrize("unit", UNITS, ids=[unit.name for unit in UNITS])
def test_systemd_units_parse_and_start_an_existing_command(unit: Path) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(unit)
    assert {"Unit", "Service", "Install"} <= set(parser.sections())
    service = parser["Service"]
    program, *args = service["ExecStart"].split()
    assert program.startswith(INSTALLED + "/")
    relative = program.removeprefix(INSTALLED + "/")
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert relative == ".venv/bin/" + next(iter(scripts)), "ExecStart runs the project's entry point"
    assert args[0] in commands()
    assert service["WorkingDirectory"] == INSTALLED and service["User"] != "root"
    assert service["RestartPreventExitStatus"] == "2"  # configuration errors are not retried
    if unit.name.endswith("@.service"):
        assert "--port %i" in service["ExecStart"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    """With the project where the units expect it (here: this checkout), systemd finds nothing to say."""
    if not (ROOT / ".venv" / "bin" / "invoice-assistant").exists():
        pytest.skip("the entry point is not installed in .venv (make test installs it)")
    names = []
    for unit in UNITS:
        name = unit.name.replace("@.service", "@8081.service")  # a template is verified as an instance
        (tmp_path / name).write_text(unit.read_text().replace(INSTALLED, str(ROOT)))
        names.append(str(tmp_path / name))
    verified = subprocess.run(["systemd-analyze", "verify", *names], capture_output=True, text=True, timeout=60)
    said = (verified.stdout + verified.stderr).strip()
    assert verified.returncode == 0 and str(tmp_path) not in said, said


@pytest.mark.parametrize("script", ["backup.sh", "restore.sh"])
def test_the_scripts_are_valid_bash(script: str) -> None:
    checked = subprocess.run(["bash", "-n", str(DEPLOY / script)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    assert (DEPLOY / script).stat().st_mode & 0o111, f"{script} is not executable"


def test_operations_doc_names_every_deploy_file() -> None:
    doc = (ROOT / "docs" / "operations.md").read_text()
    for path in [*UNITS, *DEPLOY.glob("*.sh"), *DEPLOY.glob("*.y*ml"), DEPLOY / "Dockerfile", DEPLOY / ".env.example"]:
        assert str(path.relative_to(ROOT)) in doc, f"docs/operations.md does not mention {path.name}"
