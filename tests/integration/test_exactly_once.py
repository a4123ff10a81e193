"""Redelivered updates are acknowledged and not handled again; failed ones are handled on redelivery."""

from __future__ import annotations

import pytest

from assistant.events import Failed

from assistant.events import Event
from assistant.store.repo import Store
from tests.factories import add_user


@pytest.fixture
async def merchant(sessions, clock) -> None:
    await add_user(sessions, clock.now)


async def conversation(sessions, clock):
    async with sessions() as session:
        row, _ = await Store(session).conversation(1000, 1000, initial="menu", now=clock.now)
        return row.state, row.version, row.data


async def test_a_redelivered_update_is_not_handled_again(assistant, sessions, clock, merchant) -> None:
    start = Event(user_id=1000, chat_id=1000, command="start", update_id=501)
    assert await assistant.handle(start)
    find = Event(user_id=1000, chat_id=1000, choice="find", choice_version=1, update_id=502)
    assert await assistant.handle(find)
    human = Event(user_id=1000, chat_id=1000, command="human", update_id=503)
    assert await assistant.handle(human)
    before = await conversation(sessions, clock)
    for event in (find, human, start):  # Telegram retries them
        assert await assistant.handle(event) == []
    assert await conversation(sessions, clock) == before
    async with sessions() as session:
        assert len(await Store(session).tickets()) == 1  # not a second ticket


async def test_an_update_that_failed_is_handled_when_it_comes_again(assistant, sessions, clock, merchant,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.troubleshoot import Troubleshoot

    async def broken(self, event) -> None:
        raise RuntimeError("database went away")

    await assistant.handle(Event(user_id=1000, chat_id=1000, command="start", update_id=600))
    monkeypatch.setattr(Troubleshoot, "open_ticket", broken)
    human = Event(user_id=1000, chat_id=1000, command="human", update_id=601)
    with pytest.raises(Failed):  # rolled back, update id included
        await assistant.handle(human)
    monkeypatch.undo()
    replies = await assistant.handle(human)
    assert any("工单" in getattr(r, "text", "") for r in replies)
