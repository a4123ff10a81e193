"""Render reply templates from `replies/<lang>/` with jinja2; user text is HTML-escaped."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from assistant.outputs import Button
from flows.base import Say

logger = logging.getLogger(__name__)

LANGUAGES = ("zh", "en")


def normalise_language(code: str | None, default: str) -> str:
    """A Telegram-style language code ("zh-hans", "en-US") as one of ours."""
    if not code:
        return default
    code = code.lower()
    if code.startswith("en"):
        return "en"
    if code.startswith("zh"):
        return "zh"
    return default


class Renderer:
    """Turns what a flow wants to say into text and buttons in the user's language."""

    def __init__(self, folder: Path, tz: ZoneInfo) -> None:
        self.folder = folder
        self.tz = tz
        self.env = Environment(loader=FileSystemLoader(str(folder)), autoescape=select_autoescape(["j2"],
                               default_for_string=True, default=True), undefined=StrictUndefined,
                               trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)
        self.env.filters["when"] = self._when

    def _when(self, value: str | datetime | None) -> str:
        if value is None:
            return ""
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")

    def text(self, template_key: str, language: str, **context: object) -> str:
        template = self.env.get_template(f"{language}/{template_key}.j2")
        return template.render(lang=language, **context).strip()

    def label(self, choice: str, language: str) -> str:
        """A button's label; a ticket id inside the choice ("rate.12.4") is not part of the label."""
        parts = choice.split(".")
        key = ".".join(part for i, part in enumerate(parts) if not (i == 1 and part.isdigit()))
        return self.text("button", language, choice=key)

    def render(self, say: Say, language: str) -> tuple[str, tuple[tuple[Button, ...], ...]]:
        text = self.text(say.key, language, **say.context)
        buttons = tuple(tuple(Button(self.label(choice, language), choice) for choice in row) for row in say.buttons)
        return text, buttons

    def keys(self, language: str) -> set[str]:
        return {path.stem for path in (self.folder / language).glob("*.j2")}
