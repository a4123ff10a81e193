"""Senders: each destination's queue in order and at its pace, none waiting for another's (transport-free)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from assistant.messages import DeliveryResult, OutputDelivered
from assistant.outputs import Out, Reply
from assistant.runtime.senders import Later, Senders, SendLimits

GROUP, MERCHANT, OTHER = -100123, 1001, 1002


class Transport:
    """Carries out outputs into a list, in the order they went; can refuse with "retry after" once."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []
        self.later: dict[str, float] = {}
        self.reported: list[tuple[list[str], list[int]]] = []

    async def carry_out(self, output: Out) -> DeliveryResult:
        assert isinstance(output, Reply)
        if output.text in self.later:
            raise Later(self.later.pop(output.text))
        self.sent.append((output.chat_id, output.text))
        return OutputDelivered(output)

    async def take(self, results: Sequence[DeliveryResult], answering: Sequence[int]) -> list[Out]:
        self.reported.append(([result.output.text for result in results], list(answering)))  # type: ignore[union-attr]
        return []


def senders(transport: Transport, **limits: float) -> Senders:
    return Senders(transport.carry_out, transport.take, None, owner="test", lease=timedelta(seconds=30),
                   db_clock=lambda: datetime(2026, 6, 15, tzinfo=timezone.utc), limits=SendLimits(**limits))


async def until(condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def reply(chat_id: int, text: str) -> Reply:
    return Reply(text, chat_id=chat_id)


async def test_a_backlog_to_the_group_never_delays_a_merchants_answer() -> None:
    transport = Transport()
    sending = senders(transport, group_rate=2, group_period=60.0)
    closing = asyncio.Event()
    running = asyncio.create_task(sending.run(closing))
    try:
        await sending.submit([reply(GROUP, f"card {n}") for n in range(5)])
        await sending.submit([reply(MERCHANT, "your ticket"), reply(GROUP, "topic of 1001")], answering=[7],
                             chat_id=MERCHANT)
        await sending.submit([reply(OTHER, "help")], answering=[8], chat_id=OTHER)
        await until(lambda: len(transport.sent) == 4)
        await asyncio.sleep(0.2)
        assert sorted(transport.sent) == sorted([(GROUP, "card 0"), (GROUP, "card 1"), (MERCHANT, "your ticket"),
                                                 (OTHER, "help")])
        assert [text for chat, text in transport.sent if chat == GROUP] == ["card 0", "card 1"]  # in order
        assert sending.waiting == 4  # the group's other four wait for its turn, holding nothing
        # each merchant's update is answered once its own chat's outputs are out, not the group's
        assert (["your ticket"], [7]) in transport.reported and (["help"], [8]) in transport.reported
    finally:
        closing.set()
        await running


async def test_one_destination_in_order_at_its_pace_and_a_retry_after_pauses_it_alone() -> None:
    transport = Transport()
    transport.later["b1"] = 0.3  # Telegram: wait before sending b1
    sending = senders(transport, chat_rate=20.0, chat_burst=1)
    closing = asyncio.Event()
    running = asyncio.create_task(sending.run(closing))
    try:
        await sending.submit([reply(MERCHANT, f"a{n}") for n in range(4)])
        await sending.submit([reply(OTHER, "b1"), reply(OTHER, "b2")])
        await sending.submit([reply(GROUP, "g")])
        await until(lambda: len(transport.sent) == 7)
        assert [text for chat, text in transport.sent if chat == MERCHANT] == ["a0", "a1", "a2", "a3"]
        assert [text for chat, text in transport.sent if chat == OTHER] == ["b1", "b2"]  # b1 again first
        assert transport.sent.index((GROUP, "g")) < transport.sent.index((OTHER, "b1"))  # not held by the pause
    finally:
        closing.set()
        await running


async def test_updates_without_outputs_to_their_chat_are_answered_at_once() -> None:
    transport = Transport()
    sending = senders(transport, group_rate=1, group_period=60.0)
    await sending.submit([reply(GROUP, "copy")], answering=[5, 6], chat_id=MERCHANT)  # not running: nothing sent
    assert transport.reported == [([], [5, 6])] and transport.sent == []
    await sending.submit([reply(GROUP, "copy")], answering=[9], chat_id=GROUP)  # staff in the group: never held
    assert transport.reported[-1] == ([], [9])
