"""The command line's texts in the admins' language: help and messages from cli_texts.toml.

Nothing is read at import time. `LocalizedGroup` (the typer app's click group) picks DEFAULT_LANGUAGE when
it is run and puts that language's help on every command, option and argument before anything is parsed;
the commands print with `tell(key, language, **values)` (`say` names the bot's replies, in replies/).
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

logger = logging.getLogger(__name__)

TEXTS = Path(__file__).with_name("cli_texts.toml")
LANGUAGES = ("zh", "en")
DEFAULT = "zh"
ROOT = "bot"
SHARED = "*"


@cache
def table() -> dict[str, dict[str, dict[str, str]]]:
    with TEXTS.open("rb") as file:
        return tomllib.load(file)


def tell(key: str, language: str, /, **values: Any) -> str:
    """A message of the command line in `language` (zh or en), its {placeholders} filled."""
    entry = table()["message"][key]
    return entry.get(language, entry[DEFAULT]).format(**values)


def columns(key: str, language: str) -> list[str]:
    """A table's column titles (one text, `|` between them)."""
    return tell(key, language).split("|")


# typer builds on click, or (0.2x) on its own copy of it: commands and parameters are taken as they behave.
Command = Any
Parameter = Any


def is_argument(param: Parameter) -> bool:
    return getattr(param, "param_type_name", "") == "argument"


def param_name(param: Parameter) -> str:
    """How a parameter is named in the table: its longest option (`--message-zh`), or an argument's NAME."""
    if is_argument(param):
        return str(param.name).upper()
    return max(param.opts, key=len)


def walk(command: Command, path: str = ROOT) -> Iterator[tuple[str, Command]]:
    """Every command of the tree with its path ("bot", "bot users", "bot users add"), parents first."""
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from walk(sub, f"{path} {name}")


def params(path: str, command: Command) -> Iterator[tuple[str, Parameter]]:
    """A command's parameters (its help option too) with the table's key for each."""
    found = list(command.params)
    help_option = command.get_help_option(typer.Context(command))
    if help_option is not None and help_option not in found:
        found.append(help_option)
    for param in found:
        if not getattr(param, "hidden", False):
            yield f"{path} {param_name(param)}", param


def help_text(key: str, language: str) -> str | None:
    """The help for a command's or a parameter's key; a parameter may use the shared entry ("* --demo")."""
    helps = table()["help"]
    entry = helps.get(key) or helps.get(f"{SHARED} {key.rsplit(' ', 1)[-1]}")
    return None if entry is None else entry.get(language, entry[DEFAULT])


def localize(root: Command, language: str) -> None:
    """Put `language`'s help and panel titles on the whole tree (what the table lacks stays as the code has it)."""
    panels = {kind: entry[language] for kind, entry in table()["panel"].items()}
    for path, command in walk(root):
        text = help_text(path, language)
        if text is not None:
            command.help = text
            command.short_help = None
        else:
            logger.debug("no help text for %r", path)
        command.rich_help_panel = panels["commands"]
        for key, param in params(path, command):
            text = help_text(key, language)
            if text is not None:
                param.help = text
            else:
                logger.debug("no help text for %r", key)
            param.rich_help_panel = panels["arguments"] if is_argument(param) else panels["options"]


def configured_language() -> str:
    """DEFAULT_LANGUAGE as the settings give it; zh when they do not load (the command then says why)."""
    from pydantic import ValidationError

    from assistant.settings import Settings

    try:
        return Settings().default_language
    except (ValidationError, OSError, UnicodeDecodeError):  # the command itself reports it, in one line
        given = os.environ.get("DEFAULT_LANGUAGE", "").strip().lower()
        return given if given in LANGUAGES else DEFAULT


class LocalizedGroup(TyperGroup):
    """The app's root group: help in DEFAULT_LANGUAGE, chosen when the command line runs."""

    language: str = DEFAULT

    def main(self, *args: Any, **kwargs: Any) -> Any:
        self.language = configured_language()
        localize(self, self.language)
        return super().main(*args, **kwargs)


def language_of(ctx: typer.Context) -> str:
    """The language the command line was started in (for what is said before the settings are loaded)."""
    root = ctx.find_root().command
    return root.language if isinstance(root, LocalizedGroup) else DEFAULT
