"""Texts to and from Telegram: what users send cleaned at the edge; what we send kept within limits.

Telegram counts what the reader sees (tags not counted, `&amp;` one character) in UTF-16 code units
(an emoji is two): at most 4,096 in a message, 1,024 in a caption; longer ones are refused with 400
"message is too long". Split or shorten, never lose a message.
"""

from __future__ import annotations

import html
import logging
import re

from assistant.domain.text import CAPTION_LIMIT, ELLIPSIS, MESSAGE_LIMIT, strip_format, utf16_len

logger = logging.getLogger(__name__)

__all__ = ["CAPTION_LIMIT", "ELLIPSIS", "MESSAGE_LIMIT", "clean", "shorten_html", "split_html", "visible_length"]

_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def clean(text: str | None) -> str | None:
    """A user's text without what breaks storage or replies, or misleads who reads it: NUL and other control
    characters, lone surrogates (replaced with "�"), bidi controls and other invisible format characters
    (`strip_format`: a right-to-left override in a name would turn a ticket card's line around)."""
    if not text:
        return text
    return strip_format(_UNSAFE.sub(lambda m: "\ufffd" if "\ud800" <= m.group() <= "\udfff" else "", text))


_TOKEN = re.compile(r"<[^>]*>|&(?:#\d+|#x[0-9a-fA-F]+|\w+);|[^<&]+|[<&]", re.S)
_TAG = re.compile(r"<\s*(/)?\s*([a-zA-Z0-9-]+)[^>]*>")


def visible_length(text: str) -> int:
    """How many characters Telegram counts in an HTML-formatted text (UTF-16 code units)."""
    return utf16_len(html.unescape(re.sub(r"<[^>]*>", "", text)))


def _pieces(text: str) -> list[tuple[str, int]]:
    """Tags (length 0), entities (1) and single characters, in order."""
    pieces: list[tuple[str, int]] = []
    for token in _TOKEN.findall(text):
        if token.startswith("<") and len(token) > 1:
            pieces.append((token, 0))
        elif token.startswith("&") and len(token) > 1:
            pieces.append((token, utf16_len(html.unescape(token))))
        else:
            pieces.extend((char, utf16_len(char)) for char in token)
    return pieces


def _track(stack: list[tuple[str, str]], tag: str) -> None:
    match = _TAG.match(tag)
    if match is None:
        return
    closing, name = match.group(1), match.group(2).lower()
    if closing:
        for index in range(len(stack) - 1, -1, -1):
            if stack[index][0] == name:
                del stack[index:]
                break
    else:
        stack.append((name, tag))


def split_html(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """The text in parts of at most `limit` visible characters, cut at line ends where possible.

    Formatting open across a cut is closed at the end of one part and opened again in the next.
    """
    if visible_length(text) <= limit:
        return [text]
    pieces = _pieces(text)
    parts: list[str] = []
    stack: list[tuple[str, str]] = []  # formatting open where the current part begins
    start = 0
    while start < len(pieces):
        open_tags = list(stack)
        used, end, cut = 0, start, None
        while end < len(pieces) and used + pieces[end][1] <= limit:
            piece, size = pieces[end]
            if size == 0:
                _track(open_tags, piece)
            used += size
            end += 1
            if piece == "\n":
                cut = (end, list(open_tags))
        if end < len(pieces) and cut is not None:  # more follows: cut at the last line end
            end, open_tags = cut
        end = max(end, start + 1)
        body = "".join(piece for piece, _ in pieces[start:end]).strip("\n")
        part = "".join(tag for _, tag in stack) + body
        if end < len(pieces):
            part += "".join(f"</{name}>" for name, _ in reversed(open_tags))
        if visible_length(part):
            parts.append(part)
        stack, start = open_tags, end
    return parts


def shorten_html(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """The text cut to `limit` visible characters (an ellipsis last), formatting closed: for edits and cards."""
    if visible_length(text) <= limit:
        return text
    first = split_html(text, limit - 1)[0]
    logger.info("a text of %s characters was shortened to %s", visible_length(text), limit)
    match = re.search(r"((?:</[^>]+>)*)$", first)
    tail = match.group(1) if match else ""
    return first[: len(first) - len(tail)] + ELLIPSIS + tail
