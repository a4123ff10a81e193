"""The command line's texts (assistant/adapters/cli_texts.toml): every command, option and message in both
languages, so that a new command or message without its Chinese (or English) fails here."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest
import typer.main

import bot
from assistant.adapters import cli_texts
from assistant.adapters.cli_texts import LANGUAGES, help_text, localize, params, table, tell, walk

ROOT = Path(bot.__file__).resolve().parent
TELLING = re.compile(r"""\b(?:tell|columns)\(\s*["'](\w+)["']""")


def tree() -> list[tuple[str, object]]:
    return list(walk(typer.main.get_command(bot.app)))


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_command_option_and_argument_has_help_in_both_languages() -> None:
    missing = []
    for path, command in tree():
        keys = [path, *(key for key, _ in params(path, command))]
        missing += [f"{key} ({language})" for key in keys for language in LANGUAGES
                    if not help_text(key, language)]
    assert not missing, "add these to assistant/adapters/cli_texts.toml: " + ", ".join(missing)
    assert {"bot users add --role", "bot users forget", "bot import-invoices FILE"} <= {
        key for path, command in tree() for key in [path, *(k for k, _ in params(path, command))]}


def test_every_entry_has_both_languages_with_the_same_placeholders() -> None:
    for section, entries in table().items():
        for key, entry in entries.items():
            assert set(entry) == set(LANGUAGES), f"[{section}.{key!r}]"
            assert all(entry[language].strip() for language in LANGUAGES), f"[{section}.{key!r}] is empty"
            assert placeholders(entry["zh"]) == placeholders(entry["en"]), f"[{section}.{key!r}]"


def test_every_message_the_commands_print_is_in_the_table_and_none_is_left_over() -> None:
    sources = "".join(path.read_text(encoding="utf-8") for path in
                      (ROOT / "assistant" / "adapters" / "cli.py", ROOT / "assistant" / "adapters" / "check.py",
                       ROOT / "bot.py"))
    known = set(table()["message"])
    assert set(TELLING.findall(sources)) - known == set(), "not in cli_texts.toml"
    literals = set(re.findall(r"""["'](\w+)["']""", sources))  # keys chosen at run time (`"a" if … else "b"`) too
    assert known - literals == set(), "in cli_texts.toml, but no command says it"


def test_tell_fills_in_the_values_in_the_language_asked() -> None:
    assert tell("user_unlinked", "zh", id=7, count=2) == "用户 7：已取消 2 个企业关联"
    assert tell("user_unlinked", "en", id=7, count=2) == "user 7: 2 company link(s) removed"
    assert tell("time_unreadable", "en", value="soon").startswith("cannot read the time 'soon'")


@pytest.mark.parametrize("language", LANGUAGES)
def test_localize_puts_the_language_on_every_command_and_parameter(language: str) -> None:
    root = typer.main.get_command(bot.app)
    localize(root, language)
    for path, command in walk(root):
        assert command.help == help_text(path, language)
        for key, param in params(path, command):
            assert param.help == help_text(key, language)
            assert param.rich_help_panel in (table()["panel"]["options"][language],
                                             table()["panel"]["arguments"][language])


def test_the_language_is_taken_when_the_command_line_runs_not_at_import(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFAULT_LANGUAGE", "en")
    assert cli_texts.configured_language() == "en"
    monkeypatch.delenv("DEFAULT_LANGUAGE")
    monkeypatch.setenv("MAX_YEARS_BACK", "many")  # the settings do not load: the default, zh
    assert cli_texts.configured_language() == "zh"
    monkeypatch.setenv("DEFAULT_LANGUAGE", "en")  # … unless DEFAULT_LANGUAGE itself is readable
    assert cli_texts.configured_language() == "en"
