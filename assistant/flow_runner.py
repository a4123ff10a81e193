"""The one flow runner: every flow's model is attached to its flow's shared machine for one event.

Conversation flows (troubleshooting, the admin drafts) are also loaded from and saved to the
conversation row here, and only here (the one decider of a conversation's state), and what they said
is rendered here; the ticket lifecycle keeps its state in
the ticket row and is only driven.
"""

from __future__ import annotations

import copy
import logging
from datetime import datetime
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from transitions.extensions.asyncio import AsyncMachine

from assistant.outputs import Reply
from assistant.replies import Renderer
from assistant.store.contracts import ConversationsRepository
from assistant.store.models import Conversation
from flows.base import FlowModel, FlowSpec, attached, build_machine

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=FlowModel)
Act = Callable[[M], Awaitable[None]]


class FlowRunner:
    """The shared machines of every flow, and the one way a model is run through one."""

    def __init__(self, specs: Iterable[FlowSpec], renderer: Renderer) -> None:
        self.specs = {spec.name: spec for spec in specs}
        self.machines: dict[str, AsyncMachine] = {name: build_machine(spec) for name, spec in self.specs.items()}
        self.renderer = renderer

    def can(self, flow: str, state: str, trigger: str) -> bool:
        """Whether `trigger` leaves `state` of `flow` (its machine knows the transitions)."""
        return trigger in self.machines[flow].get_triggers(state)

    async def drive(self, flow: str, model: M, act: Act[M]) -> M:
        """Attach `model` to the flow's machine, let `act` fire its triggers, detach it."""
        async with attached(self.machines[flow], model):
            await act(model)
        return model

    async def converse(self, conversations: ConversationsRepository, conversation: Conversation, flow: str,
                       make: Callable[[str, dict[str, Any]], M], act: Act[M], *, language: str,
                       now: datetime, fresh: bool = False) -> tuple[M, list[Reply]]:
        """Run a conversation's flow for one event: load, drive, save (the next version), render.

        `fresh` starts `flow` from its initial state (an admin starting a draft); a stored state the
        flow no longer has is taken as the initial state too.
        """
        spec = self.specs[flow]
        state, data = conversation.state, conversation.data
        if fresh or conversation.flow != flow or state not in spec.state_names:
            if not fresh and conversation.flow == flow:
                logger.warning("chat %s: unknown stored state %r of %s, back to %s", conversation.chat_id, state,
                               flow, spec.initial)
            state, data = spec.initial, {}
        model = await self.drive(flow, make(state, copy.deepcopy(data)), act)
        version = await conversations.save(conversation, flow=flow, state=model.state, data=model.data, now=now)
        replies = [self.render(say, getattr(model, "language", language), version, conversation.chat_id)
                   for say in model.said]
        return model, replies

    async def restart(self, conversations: ConversationsRepository, conversation: Conversation, flow: str, *,
                      now: datetime) -> int:
        """Put a conversation at the start of `flow`, with nothing remembered (an admin leaving a draft for the
        assistant's menu); its next version returned."""
        return await conversations.save(conversation, flow=flow, state=self.specs[flow].initial, data={}, now=now)

    def render(self, say: Any, language: str, version: int, chat_id: int) -> Reply:
        text, buttons = self.renderer.render(say, language)
        return Reply(text=text, buttons=buttons, version=version, chat_id=chat_id)
