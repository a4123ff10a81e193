"""Render reply templates from `replies/<lang>/` with jinja2; user text is HTML-escaped."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape

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


def money(value: object) -> str:
    """An amount as printed on invoices: thousands separated, two decimals (1,060.00)."""
    try:
        return f"{Decimal(str(value)):,.2f}"
    except (InvalidOperation, ValueError):
        return str(value)


class Renderer:
    """Turns what a flow wants to say into text and buttons in the user's language."""

    def __init__(self, folder: Path, tz: ZoneInfo,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.folder = folder
        self.tz = tz
        self.clock = clock  # "today" and "tomorrow" are the product's clock's
        self.env = Environment(loader=FileSystemLoader(str(folder)), autoescape=select_autoescape(["j2"],
                               default_for_string=True, default=True), undefined=StrictUndefined,
                               trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False,
                               auto_reload=False)  # templates are read once: no file check on every reply
        self._labels: dict[tuple[str, str], str] = {}
        self.env.filters["when"] = self._when
        self.env.filters["money"] = money

    @pass_context
    def _when(self, context: Any, value: str | datetime | None) -> str:
        """A moment as people say it, in Beijing time: 今天 18:00, 明天 09:00, 11月24日 18:00 (today 18:00…)."""
        if value is None:
            return ""
        moment = (datetime.fromisoformat(value) if isinstance(value, str) else value).astimezone(self.tz)
        today = self.clock().astimezone(self.tz).date()
        day, clock = moment.date(), moment.strftime("%H:%M")
        relative = {0: ("今天", "today"), 1: ("明天", "tomorrow"), -1: ("昨天", "yesterday")}.get((day - today).days)
        if context.get("lang") == "en":
            named = relative[1] if relative else (f"{day.day} {day:%b}" if day.year == today.year
                                                  else f"{day.day} {day:%b} {day.year}")
            return f"{named} {clock}"
        named = relative[0] if relative else (f"{day.month}月{day.day}日" if day.year == today.year
                                              else f"{day.year}年{day.month}月{day.day}日")
        return f"{named} {clock}"

    def text(self, template_key: str, language: str, **context: object) -> str:
        template = self.env.get_template(f"{language}/{template_key}.j2")
        return template.render(lang=language, **context).strip()

    def label(self, choice: str, language: str) -> str:
        """A button's label; a ticket id inside the choice ("rate.12.4") is not part of the label."""
        parts = choice.split(".")
        key = ".".join(part for i, part in enumerate(parts) if not (i == 1 and part.isdigit()))
        label = self._labels.get((key, language))
        if label is None:  # a label depends on nothing else: rendered once per process
            label = self._labels[key, language] = self.text("button", language, choice=key)
        return label

    def render(self, say: Say, language: str) -> tuple[str, tuple[tuple[Button, ...], ...]]:
        text = self.text(say.key, language, **say.context)
        buttons = tuple(tuple(Button(self.label(choice, language), choice) for choice in row) for row in say.buttons)
        return text, buttons

    def keys(self, language: str) -> set[str]:
        return {path.stem for path in (self.folder / language).glob("*.j2")}
