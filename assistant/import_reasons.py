"""An import's reasons (a row refused, a row worth a look, a file unreadable) in the admin's language."""

from __future__ import annotations

import html
import logging
from typing import Any

from assistant.importer import Reason
from assistant.replies import Renderer

logger = logging.getLogger(__name__)


def say(renderer: Renderer, language: str, said: Reason | dict[str, Any] | str) -> str:
    """The reason as plain text (a reply escapes it again), through `replies/*/import_reason.j2`; a reason
    without a code of its own is said in its English words."""
    reason = said if isinstance(said, Reason) else Reason.from_json(said)
    return html.unescape(renderer.text("import_reason", language, text=str(reason), code=reason.code,
                                       p=reason.params))
