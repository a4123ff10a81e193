"""Senders and the outbox: a lease renewed while an output waits for its turn, given back on a stop."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from assistant.messages import Command, DeliveryResult, OutputDelivered
from assistant.outputs import Out, Reply
from assistant.runtime.senders import Senders, SendLimits
from assistant.store.models import OutboxEntry
from assistant.store.uow import sql_units
from tests.stored import rows

LEASE = timedelta(seconds=30)
GROUP = -1001234567890


def build(settings, sessions, clock, owner: str):  # type: ignore[no-untyped-def]
    from bot import build_assistant

    return build_assistant(settings, sql_units(sessions), clock, owner=owner)[0]


class Recording:
    def __init__(self) -> None:
        self.carried: list[Out] = []

    async def carry_out(self, output: Out) -> DeliveryResult:
        self.carried.append(output)
        return OutputDelivered(output)


async def test_an_output_waiting_its_turn_keeps_its_lease_until_its_process_stops(settings, sessions, clock) -> None:
    first, second = build(settings, sessions, clock, "first"), build(settings, sessions, clock, "second")
    outputs = await first.handle(Command(user_id=1000, chat_id=1000, name="start"))
    transport = Recording()
    sending = Senders(transport.carry_out, first.take, sql_units(sessions), owner="first", lease=LEASE,
                      db_clock=clock)
    await sending.submit(outputs)  # queued; nothing works them off in this test: they wait, however long
    for _ in range(6):  # three minutes, six leases' worth, renewed every 30 s
        clock.advance(seconds=30)
        await sending.renew()
        assert await second.due() == []  # not "left unsent by a stopped sender": its sender is alive
    clock.advance(seconds=31)  # the first process stopped renewing (it died): the second takes them over
    again = await second.due()
    assert sorted(out.outbox_id for out in again) == sorted(out.outbox_id for out in outputs)  # type: ignore[type-var]
    await sending.renew()  # were the first alive after all, it learns they are not its own any more…
    assert sending.waiting == 0  # …and never sends them
    async with sessions() as session:
        assert {(entry.owner, entry.attempts) for entry in await rows(session, OutboxEntry)} == {("second", 2)}


async def test_what_never_went_out_is_given_back_on_a_stop(settings, sessions, clock) -> None:
    first, second = build(settings, sessions, clock, "first"), build(settings, sessions, clock, "second")
    async with sql_units(sessions)() as unit:
        stored = await unit.outbox.enqueue([Reply(f"消息{n}", chat_id=GROUP) for n in range(3)], clock(), LEASE,
                                           owner="first")
    transport = Recording()
    sending = Senders(transport.carry_out, first.take, sql_units(sessions), owner="first", lease=LEASE,
                      db_clock=clock, limits=SendLimits(group_rate=1, group_period=60.0))
    closing = asyncio.Event()
    running = asyncio.create_task(sending.run(closing))
    await sending.submit(stored)
    async with asyncio.timeout(5):
        while not transport.carried:
            await asyncio.sleep(0.01)
    closing.set()  # the other two wait for the group's turn: not sent before stopping
    await running
    assert [out.outbox_id for out in transport.carried] == [stored[0].outbox_id]
    again = await second.due()  # at once, not after a lease
    assert [out.outbox_id for out in again] == [out.outbox_id for out in stored[1:]]
    async with sessions() as session:
        entries = {entry.id: entry for entry in await rows(session, OutboxEntry)}
    assert [entries[out.outbox_id].attempts for out in stored[1:]] == [1, 1]  # type: ignore[index]
