"""An update is handled once: its inbox entry is finished in the transaction of its effects.

Telegram may deliver an update again (the inbox keeps one entry per update id), and two processes may
take up the same entry (a lease ran out): the second handling finds it no longer pending and does
nothing. An update whose handling failed stays pending and is handled when tried again.
"""

from __future__ import annotations

import pytest

from assistant.outputs import Failed

from assistant.messages import ButtonPress, Command
from assistant.store.uow import UnitOfWork
from tests.factories import add_user, received


@pytest.fixture
async def merchant(sessions, clock) -> None:
    await add_user(sessions, clock.now)


async def conversation(sessions, clock):
    async with sessions() as session:
        row, _ = await UnitOfWork(session).conversations.get(1000, 1000, initial="menu", now=clock.now)
        return row.state, row.version, row.data


async def test_a_redelivered_update_is_not_handled_again(assistant, sessions, clock, merchant) -> None:
    start = Command(user_id=1000, chat_id=1000, name="start", update_id=501)
    find = ButtonPress(user_id=1000, chat_id=1000, choice="find", version=1, update_id=502)
    human = Command(user_id=1000, chat_id=1000, name="human", update_id=503)
    await received(sessions, clock.now, start, find, human)
    assert await assistant.handle(start)
    assert await assistant.handle(find)
    assert await assistant.handle(human)
    before = await conversation(sessions, clock)
    await received(sessions, clock.now, find, human, start)  # Telegram delivers them again
    for event in (find, human, start):  # and they are taken up again
        assert await assistant.handle(event) == []
    assert await conversation(sessions, clock) == before
    async with sessions() as session:
        assert len(await UnitOfWork(session).tickets.all()) == 1  # not a second ticket


async def test_an_update_that_failed_is_handled_when_it_comes_again(assistant, sessions, clock, merchant,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.troubleshoot import Troubleshoot

    async def broken(self, event) -> None:
        raise RuntimeError("database went away")

    start = Command(user_id=1000, chat_id=1000, name="start", update_id=600)
    human = Command(user_id=1000, chat_id=1000, name="human", update_id=601)
    await received(sessions, clock.now, start, human)
    await assistant.handle(start)
    monkeypatch.setattr(Troubleshoot, "open_ticket", broken)
    with pytest.raises(Failed):  # rolled back, update id included
        await assistant.handle(human)
    monkeypatch.undo()
    replies = await assistant.handle(human)
    assert any("工单" in getattr(r, "text", "") for r in replies)
