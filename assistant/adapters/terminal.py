"""The terminal adapter: the same core, buttons as numbered choices."""

from __future__ import annotations

import asyncio
import html
import logging
from pathlib import Path
import re
from collections.abc import Awaitable, Callable
from typing import Any

from rich.console import Console
from rich.markup import escape

from assistant.domain.documents import ReadError
from assistant.messages import Attachment, ButtonPress, ChatMessage, Command, FileSent, Inbound, Text
from assistant.outputs import Out, Reply

logger = logging.getLogger(__name__)

_TAG = re.compile(r"<(/?)(b|i|code)>")
_STYLE = {"b": "bold", "i": "italic", "code": "cyan"}
EXIT_WORDS = {"quit", "exit", ":q", "退出"}


def html_to_rich(text: str) -> str:
    """Telegram-style HTML as rich markup, everything else shown literally."""
    out: list[str] = []
    position = 0
    for match in _TAG.finditer(text):
        out.append(escape(html.unescape(text[position:match.start()])))
        out.append(f"[{match.group(1)}{_STYLE[match.group(2)]}]")
        position = match.end()
    out.append(escape(html.unescape(text[position:])))
    return "".join(out)


def to_message(line: str, last: Reply | None, *, user_id: int, chat_id: int, language: str) -> ChatMessage:
    """A typed line as a message: a number picks a button of the last reply, /x is a command."""
    line = line.strip()
    base: dict[str, Any] = {"user_id": user_id, "chat_id": chat_id, "language": language, "user_name": "terminal"}
    if line == "/file" or line.startswith("/file "):
        named = line[5:].strip()
        path = Path(named).expanduser()

        async def fetch(limit: int) -> bytes:
            def read() -> bytes:
                if not named or not path.is_file():
                    raise ReadError("missing")
                with path.open("rb") as file:
                    data = file.read(limit + 1)
                if len(data) > limit:
                    raise ReadError("too_large")
                return data
            try:
                return await asyncio.to_thread(read)
            except OSError as error:
                raise ReadError("failed") from error

        kind = "photo" if path.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp", ".bmp") else "document"
        size = path.stat().st_size if named and path.is_file() else 0
        return FileSent(attachment=Attachment(kind=kind, file_name=path.name, size=size, fetch=fetch),
                        message_id=0, **base)
    if line.startswith("/") and len(line) > 1:
        command, _, args = line[1:].partition(" ")
        return Command(name=command.lower(), args=args.strip(), **base)
    if line.isdigit() and last is not None and 1 <= int(line) <= len(last.choices):
        return ButtonPress(choice=last.choices[int(line) - 1], version=last.version, **base)
    return Text(text=line, **base)


def show(console: Console, outputs: list[Out]) -> Reply | None:
    """Print replies (other outputs concern Telegram only); returns the last one that has buttons."""
    last = None
    for reply in (output for output in outputs if isinstance(output, Reply)):
        console.print(html_to_rich(reply.text), style="green", highlight=False)
        number = 0
        for row in reply.buttons:
            cells = []
            for button in row:
                number += 1
                cells.append(f"[bold][{number}][/bold] {escape(button.label)}")
            console.print("   ".join(cells), highlight=False)
        console.print()
        if reply.buttons:
            last = reply
    return last


async def chat_loop(handle: Callable[[Inbound], Awaitable[list[Out]]], *, user_id: int, chat_id: int,
                    language: str, console: Console, read_line: Callable[[str], str] = input) -> None:
    """Talk to the assistant until EOF or "quit"."""
    last = show(console, await handle(Command(user_id=user_id, chat_id=chat_id, language=language, name="start",
                                              user_name="terminal")))
    while True:
        try:
            line = await asyncio.to_thread(read_line, "> ")
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        if line.strip().lower() in EXIT_WORDS:
            return
        event = to_message(line, last, user_id=user_id, chat_id=chat_id, language=language)
        shown = show(console, await handle(event))
        last = shown or last
