"""Lengths as Telegram counts them: UTF-16 code units, not Python's code points.

A character outside the Basic Multilingual Plane (most emoji, rare CJK ideographs) is one code point
but two UTF-16 units, and every limit Telegram puts on text (4,096 in a message, 1,024 in a caption,
128 in a topic name, 512 in a bot description…) is in those units. So 3,000 emoji are 6,000 units:
over a message, although `len()` says 3,000. Every limit on text that goes to Telegram is checked
with `utf16_len`, and text is cut with `utf16_cut`, which never splits a surrogate pair.
"""

from __future__ import annotations

import unicodedata

MESSAGE_LIMIT = 4096
"""A message's text as the reader sees it."""
CAPTION_LIMIT = 1024
TOPIC_NAME_LIMIT = 128
"""A forum topic's name."""
ELLIPSIS = "…"


def utf16_len(text: str) -> int:
    """How many UTF-16 code units `text` takes: what Telegram counts."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def utf16_cut(text: str, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """`text` in at most `limit` UTF-16 units: whole when it fits, else its beginning and `ellipsis`."""
    if utf16_len(text) <= limit:
        return text
    room = limit - utf16_len(ellipsis)
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > room:
            return text[:index] + ellipsis
    return text  # unreachable: the whole text did not fit


KEPT_FORMAT = frozenset("\u200c\u200d")
"""Format characters kept: the zero-width non-joiner and joiner shape letters and join emoji (👨‍💻), and
reorder or hide nothing."""


def strip_format(text: str) -> str:
    """`text` without invisible format characters (Unicode category Cf) that could change what a reader sees.

    Bidi controls first of all: a right-to-left override (U+202E) in a name turns the rest of a ticket
    card's line, or a topic's name, around ("王经理 ‮1234" shows as "王经理 4321"). Also zero-width
    spaces, the byte order mark, soft hyphens, invisible tags. Only ZWNJ and ZWJ stay (`KEPT_FORMAT`).
    """
    if text.isascii():
        return text  # no format character is ASCII
    return "".join(char for char in text if char in KEPT_FORMAT or unicodedata.category(char) != "Cf")
