"""Shared machinery for declarative flows: one AsyncMachine per flow, models attached per event."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from collections import deque
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from transitions.core import listify
from transitions.extensions.asyncio import AsyncMachine

logger = logging.getLogger(__name__)

Buttons = Sequence[Sequence[str]]


@dataclass
class Say:
    """An intent to reply: a template key, its context, and rows of choice ids for buttons."""

    key: str
    context: dict[str, Any] = field(default_factory=dict)
    buttons: list[list[str]] = field(default_factory=list)


@dataclass(frozen=True)
class FlowSpec:
    """A flow as data: its states, its transitions (in priority order) and its initial state."""

    name: str
    states: list[dict[str, Any]]
    transitions: list[dict[str, Any]]
    initial: str

    @property
    def state_names(self) -> list[str]:
        return [state["name"] for state in self.states]

    def machine_kwargs(self) -> dict[str, Any]:
        return {
            "states": self.states,
            "transitions": self.transitions,
            "initial": self.initial,
            "auto_transitions": False,
            "send_event": True,
        }


class FlowModel:
    """Base of a conversation's model: its state, its stored data, and what it wants to say."""

    def __init__(self, state: str, data: dict[str, Any]) -> None:
        self.state = state
        self.data = data
        self.said: list[Say] = []

    def say(self, key: str, buttons: Buttons = (), **context: Any) -> None:
        self.said.append(Say(key, context, [list(row) for row in buttons]))


class FlowMachine(AsyncMachine):
    """An AsyncMachine whose models are driven by `model.trigger(name, ...)` alone.

    transitions' `add_model` gives each model a method per trigger, a `may_…` per trigger, an `is_…` per
    state and looks for `on_enter_…` methods: about 0.3 ms for the troubleshooting flow, paid on every
    event since models are attached per event. Models here get `trigger` only (state callbacks are
    named in the flow tables, never found by method name).
    """

    def add_model(self, model: Any, initial: Any = None) -> None:
        for one in listify(model):
            if one in self.models:
                continue
            one.trigger = partial(self._get_trigger, one)
            self.set_state(self.initial if initial is None else initial, model=one)  # type: ignore[arg-type]
            self.models.append(one)
            if self.has_queue == "model":
                self._transition_queue_dict[id(one)] = deque()

    @staticmethod
    async def await_all(callables: Sequence[Any]) -> list[Any]:
        """Callbacks and conditions one after the other, in the order the flow table lists them.

        transitions runs them with `asyncio.gather`, a task each: about 30 µs apiece on every event (a
        dozen per event), for no gain here — a flow's callbacks touch the same conversation and are
        meant to run in order, as the synchronous `Machine` runs them.
        """
        return [await func() for func in callables]


def build_machine(spec: FlowSpec) -> AsyncMachine:
    """The one shared machine of a flow; it holds no model between events."""
    return FlowMachine(model=None, queued="model", name=spec.name, **spec.machine_kwargs())


@asynccontextmanager
async def attached(machine: AsyncMachine, model: FlowModel) -> AsyncIterator[FlowModel]:
    """Attach `model` to the shared machine for one event, and always detach it."""
    machine.add_model(model, initial=model.state)
    try:
        yield model
    finally:
        machine.remove_model(model)


def mermaid(spec: FlowSpec) -> str:
    """The flow's mermaid state diagram, conditions on the edges."""
    from transitions.extensions import GraphMachine

    class _Diagram:
        pass

    graph = GraphMachine(model=None, graph_engine="mermaid", show_conditions=True, title=spec.name,
                         **spec.machine_kwargs())
    model = _Diagram()
    graph.add_model(model)
    source = str(model.get_graph().draw(None))  # type: ignore[attr-defined]
    # The initial state is drawn as "active"; a document shows no model's position.
    return source.replace(f"Class {spec.initial} s_active", f"Class {spec.initial} s_default")
