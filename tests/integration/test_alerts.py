"""Admins are told in Telegram of dead letters and of replies given up: once per quiet period, with the count."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from assistant.core import ALERT_QUIET
from assistant.outputs import Reply
from assistant.store.inbox import InboxStore
from assistant.store.models import OutboxEntry
from assistant.store.uow import UnitOfWork
from tests.factories import add_user
from tests.stored import rows


async def bury(sessions, clock, update_id: int) -> None:
    async with sessions() as session, session.begin():
        await InboxStore(session).bury(update_id, {"update_id": update_id}, "failed 3 times", clock())


async def alerts(core) -> dict[int, str]:
    """What falls due now, carried out as a transport would (sent, so never owed again): the alerts in it."""
    outputs = await core.due()
    await core.sent(*(o.outbox_id for o in outputs if o.outbox_id is not None))
    return {o.chat_id: o.text for o in outputs if isinstance(o, Reply) and "⚠️" in o.text}


async def test_dead_letters_reach_the_admins_in_their_language_at_most_once_per_quiet_period(
        core, sessions, clock) -> None:
    await add_user(sessions, clock.now, user_id=900, role="admin", companies=())
    await add_user(sessions, clock.now, user_id=901, role="admin", companies=(), language="en")
    await bury(sessions, clock, 1)  # from before the assistant counted: history, not news
    assert await alerts(core) == {}
    clock.advance(seconds=5)
    await bury(sessions, clock, 2)
    await bury(sessions, clock, 3)
    told = await alerts(core)
    assert set(told) == {900, 901}
    assert "有 <b>2</b> 条消息多次处理失败" in told[900] and "bot.py inbox list" in told[900]
    assert "<b>2</b> message(s) failed again and again" in told[901]
    async with sessions() as session:
        owed = [e for e in await rows(session, OutboxEntry) if e.chat_id in (900, 901)]
    assert len(owed) == 2  # through the outbox, like every output
    clock.advance(minutes=1)
    await bury(sessions, clock, 4)
    assert await alerts(core) == {}  # quiet for a while: not one message per dead letter
    clock.advance(seconds=ALERT_QUIET.total_seconds())
    told = await alerts(core)
    assert "有 <b>1</b> 条消息" in told[900]  # the one since the last alert
    clock.advance(seconds=ALERT_QUIET.total_seconds())
    assert await alerts(core) == {}  # nothing new, nothing said


async def test_replies_given_up_reach_the_admins(core, sessions, clock) -> None:
    await add_user(sessions, clock.now, user_id=900, role="admin", companies=())
    assert await alerts(core) == {}
    async with sessions() as session, session.begin():
        await UnitOfWork(session).outbox.enqueue([Reply("hi", chat_id=1234)], clock(), timedelta(seconds=1))
        [entry] = [e for e in await rows(session, OutboxEntry) if e.chat_id == 1234]
        entry.attempts = 99  # tried and tried
    clock.advance(seconds=5)
    told = await alerts(core)  # the lease ran out: given up, and told
    assert "有 <b>1</b> 条回复多次发送失败" in told[900] and "bot.py check" in told[900]


async def test_two_processes_tell_once(core, sessions, clock, settings) -> None:
    from tests.conftest import make_assistant

    other = make_assistant(settings, sessions, clock)
    await add_user(sessions, clock.now, user_id=900, role="admin", companies=())
    await core.due()
    clock.advance(seconds=5)
    await bury(sessions, clock, 7)
    first, second = await asyncio.gather(alerts(core), alerts(other))  # both timers at once
    assert len(first) + len(second) == 1
