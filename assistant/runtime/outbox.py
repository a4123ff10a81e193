"""Outputs as JSON for the outbox, and back."""

from __future__ import annotations

import dataclasses
from typing import Any

from assistant.outputs import (Button, Copy, EditCard, EditCopy, OpenTopic, Out, Progress, RatingsChart, Reply,
                               TopicState)

KINDS: dict[str, type[Any]] = {cls.__name__: cls for cls in (Reply, Button, Copy, EditCopy, OpenTopic, EditCard,
                                                             TopicState, Progress, RatingsChart)}
TAG = "$"


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {TAG: type(value).__name__,
                **{f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name != "outbox_id"}}
    if isinstance(value, (tuple, list)):
        return [_encode(item) for item in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and TAG in value:
        kind = KINDS[value[TAG]]
        return kind(**{key: _decode(item) for key, item in value.items() if key != TAG})
    if isinstance(value, dict):
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return tuple(_decode(item) for item in value)
    return value


def encode(output: Out) -> dict[str, Any]:
    encoded: dict[str, Any] = _encode(output)
    return encoded


def decode(payload: dict[str, Any], outbox_id: int | None = None) -> Out:
    output: Out = _decode(payload)
    return dataclasses.replace(output, outbox_id=outbox_id)
