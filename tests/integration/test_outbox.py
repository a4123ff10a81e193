"""The outbox: outputs stored with their effects, handed out again when nobody reported them sent."""

from __future__ import annotations

import asyncio

import pytest

from assistant.messages import Command, DeliveryFailed, OutputDelivered, Text
from assistant.outputs import OpenTopic, Reply, Unavailable
from assistant.outputs import Failed
from assistant.settings import Settings
from assistant.store.engine import make_engine, make_sessions
from assistant.store.models import OutboxEntry
from assistant.store.uow import UnitOfWork, sql_units
from tests.factories import received
from tests.stored import rows


def start(update_id: int | None = None, chat_id: int = 1000) -> Command:
    return Command(user_id=chat_id, chat_id=chat_id, name="start", update_id=update_id)


async def outbox(sessions):
    async with sessions() as session:
        return [(entry.id, entry.chat_id, entry.sent_at is not None, entry.failed_at is not None, entry.attempts)
                for entry in await rows(session, OutboxEntry)]


async def test_outputs_are_stored_in_the_outbox_with_their_ids(core, sessions) -> None:
    outputs = await core.handle(start())
    assert len(outputs) == 2 and all(isinstance(out, Reply) for out in outputs)
    ids = [out.outbox_id for out in outputs]
    assert None not in ids
    assert await outbox(sessions) == [(ids[0], 1000, False, False, 1), (ids[1], 1000, False, False, 1)]
    await core.sent(ids[0])
    assert [sent for _, _, sent, _, _ in await outbox(sessions)] == [True, False]


async def test_unsent_outputs_are_handed_out_again_once_the_lease_runs_out(core, sessions, clock) -> None:
    outputs = await core.handle(start())
    await core.sent(outputs[0].outbox_id)  # the sender died after sending the first one
    assert await core.due() == []  # still leased to the sender
    clock.advance(seconds=31)
    again = await core.due()
    assert again == [outputs[1]] and again[0].outbox_id == outputs[1].outbox_id  # exactly the missing one
    assert await core.due() == []  # leased to this caller now: not handed out twice
    await core.sent(again[0].outbox_id)
    clock.advance(minutes=5)
    assert await core.due() == []


async def test_an_output_that_keeps_failing_is_given_up(core, sessions, clock) -> None:
    outputs = await core.handle(start())
    for _ in range(4):  # 5 attempts in all, the first when it was produced
        clock.advance(seconds=31)
        assert len(await core.due()) == 2
    clock.advance(seconds=31)
    assert await core.due() == []
    assert [(failed, attempts) for _, _, _, failed, attempts in await outbox(sessions)] == [(True, 5), (True, 5)]
    assert len(outputs) == 2


async def test_a_redelivered_update_adds_nothing_to_the_outbox(core, sessions, clock) -> None:
    await received(sessions, clock.now, start(7))
    await core.handle(start(7))
    await received(sessions, clock.now, start(7))  # delivered again
    assert await core.handle(start(7)) == []
    assert len(await outbox(sessions)) == 2


async def test_a_failed_event_leaves_nothing_in_the_outbox(core, sessions, monkeypatch) -> None:
    from flows.troubleshoot import Troubleshoot

    async def broken(self, *args, **kwargs) -> None:
        raise RuntimeError("bug")

    await core.handle(start())
    monkeypatch.setattr(Troubleshoot, "prompt", broken)
    with pytest.raises(Failed):
        await core.handle(start())
    assert len(await outbox(sessions)) == 2  # only the first event's
    replies = await core.answer(start())  # a transport without an inbox apologises instead
    assert "出了点问题" in replies[0].text and replies[0].outbox_id is None
    assert len(await outbox(sessions)) == 2


async def test_an_unreachable_database_raises_unavailable(settings: Settings, clock) -> None:
    from bot import build_assistant

    engine = make_engine("postgresql+asyncpg://nobody@127.0.0.1:9/nothing")
    core = build_assistant(settings, sql_units(make_sessions(engine)), clock)[0]
    with pytest.raises(Unavailable):
        await core.handle(start())
    await engine.dispose()


async def test_one_chat_concurrent_updates_each_handled_once_one_at_a_time(assistant, sessions, database_url,
                                                                            clock, settings) -> None:
    """Many updates of one new chat at once, through several engines (as several processes would)."""
    from tests.conftest import make_assistant

    engines = [make_engine(database_url) for _ in range(3)]
    cores = [assistant, *(make_assistant(settings, make_sessions(engine), clock) for engine in engines)]
    events = [Text(user_id=2000, chat_id=2000, text=f"消息{n}", update_id=100 + n, message_id=n)
              for n in range(12)]
    await received(sessions, clock.now, *events)
    results = await asyncio.gather(*(cores[n % len(cores)].handle(event) for n, event in enumerate(events)),
                                   *(cores[n % len(cores)].handle(event) for n, event in enumerate(events)))
    answered = [outputs for outputs in results if outputs]
    assert len(answered) == 12  # each update once, the duplicates acknowledged
    versions = sorted(out.version for outputs in answered for out in outputs if out.buttons)
    assert versions == list(range(1, 13))  # every event saw the state the previous one left
    async with sessions() as session:
        row, _ = await UnitOfWork(session).conversations.get(2000, 2000, initial="menu", now=clock.now)
        assert row.version == 12
    for engine in engines:
        await engine.dispose()


async def test_outputs_a_delivery_result_calls_for_are_in_the_outbox_too(core, sessions, clock) -> None:
    await core.handle(start())
    outputs = await core.handle(Command(user_id=1000, chat_id=1000, name="human"))
    [opened] = [out for out in outputs if isinstance(out, OpenTopic)]
    await core.take([OutputDelivered(opened, thread_id=77, message_ids=(700,))])
    [copy] = await core.handle(Text(user_id=1000, chat_id=1000, text="在吗", message_id=5))
    outputs = await core.take([DeliveryFailed(copy, "topic_gone")])
    assert [type(out) for out in outputs] == [OpenTopic] and outputs[0].outbox_id is not None
    entries = {entry_id: sent for entry_id, _, sent, _, _ in await outbox(sessions)}
    assert entries[opened.outbox_id] and entries[copy.outbox_id]  # taken in: never sent again
    assert not entries[outputs[0].outbox_id]  # the new topic is owed
