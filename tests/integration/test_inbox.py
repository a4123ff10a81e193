"""The durable inbox on both backends: per-chat order, albums, retries, dead letters, crash suspects."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import text as sa_text

from assistant.outputs import Reply
from assistant.outputs import Failed
from assistant.runtime.inbox import Inbox, InboxConfig
from assistant.store.inbox import Batch, InboxStore, Received
from assistant.store.models import OutboxEntry
from assistant.store.uow import sql_units
from tests.stored import rows

LEASE = timedelta(seconds=60)
WAIT = timedelta(seconds=1)


@pytest.fixture
async def merchant(sessions, clock) -> None:
    from tests.factories import add_user

    await add_user(sessions, clock.now)


def text(update_id: int, chat_id: int, album: str | None = None, kind: str = "text") -> Received:
    return Received(update_id=update_id, chat_id=chat_id, user_id=chat_id, kind=kind,
                    payload={"update_id": update_id, "message": {"text": str(update_id)}}, album=album)


async def claim(sessions, clock, *, busy=(), suspects: bool = False, limit: int = 10) -> list[list[int]]:
    async with sessions() as session, session.begin():
        batches = await InboxStore(session).claim(clock(), lease=LEASE, limit=limit, busy=busy, album_wait=WAIT,
                                                  suspects=suspects)
    return [batch.ids for batch in batches]


async def finish(sessions, clock, ids: list[int]) -> None:
    async with sessions() as session, session.begin():
        await InboxStore(session).finish(ids, clock())


async def test_one_chat_in_order_other_chats_independently(sessions, clock) -> None:
    inbox = Inbox(sql_units(sessions), InboxConfig(), clock)
    await inbox.receive([text(1, 100), text(2, 100), text(3, 200), text(4, 100)])
    await inbox.receive([text(1, 100)])  # delivered again: stored once
    assert await claim(sessions, clock) == [[1], [3]]
    assert await claim(sessions, clock) == []  # chat 100's first is being handled: its second waits
    await finish(sessions, clock, [1])
    assert await claim(sessions, clock) == [[2]]
    await finish(sessions, clock, [2, 3])
    assert await claim(sessions, clock) == [[4]]


async def test_between_looks_at_everything_a_claim_takes_the_chats_known_to_have_work(sessions, clock) -> None:
    config = InboxConfig(poll_seconds=0.5)
    inbox = Inbox(sql_units(sessions), config, clock)
    await inbox.receive([text(1, 100)])
    assert [b.ids for b in await inbox._claim(10)] == [[1]]  # the first claim looks at everything
    async with sessions() as session, session.begin():  # stored by another process: no hint here
        await InboxStore(session).receive([text(2, 200)], clock())
    await inbox.receive([text(3, 300)])
    assert [b.ids for b in await inbox._claim(10)] == [[3]]  # the chat this process stored for
    assert await inbox._claim(10) == []
    clock.advance(seconds=0.5)
    assert [b.ids for b in await inbox._claim(10)] == [[2]]  # the next look at everything finds the other
    await finish(sessions, clock, [1])
    await inbox.receive([text(4, 100)])
    assert [b.ids for b in await inbox._claim(10)] == [[4]]  # chat 100 again, its first update finished
    await inbox.receive([text(5, 500), text(6, 600)])
    clock.advance(seconds=0.5)
    assert [b.ids for b in await inbox._claim(1)] == [[5]]  # a look at everything, with room for one…
    assert [b.ids for b in await inbox._claim(1)] == [[6]]  # …keeps what it had no room for in mind


async def test_an_album_is_handled_whole_once_it_has_stopped_growing(sessions, clock) -> None:
    inbox = Inbox(sql_units(sessions), InboxConfig(), clock)
    await inbox.receive([text(10, 300, album="g", kind="photo"), text(11, 300, album="g", kind="photo")])
    clock.advance(seconds=0.5)
    assert await claim(sessions, clock) == []  # more photos may come
    await inbox.receive([text(12, 300, album="g", kind="photo"), text(13, 300)])
    clock.advance(seconds=0.5)
    assert await claim(sessions, clock) == []
    clock.advance(seconds=0.6)
    assert await claim(sessions, clock) == [[10, 11, 12]]  # then the text after it


async def test_a_failing_update_is_retried_then_dead_lettered_and_the_merchant_told_once(
        sessions, clock, core, merchant) -> None:
    inbox = Inbox(sql_units(sessions), InboxConfig(max_attempts=3, retry_base=2.0), clock)
    await inbox.receive([text(20, 1000, kind="document"), text(21, 1000), text(22, 1001)])
    handled: list[list[int]] = []
    told: list[Reply] = []

    async def failing(batch: Batch) -> bool:
        handled.append(batch.ids)
        if batch.ids == [20]:
            raise Failed("the reader broke")
        return False

    async def execute(outputs) -> None:
        told.extend(outputs)

    for _ in range(3):
        for batch in await inbox._claim(10):
            await inbox._work(batch, failing, core.dead_letter, execute)
        clock.advance(seconds=10)  # past the retry's back-off
    assert handled.count([20]) == 3 and [22] in handled
    assert [21] not in handled  # it waited behind the failing one of its chat…
    async with sessions() as session:
        entry = await InboxStore(session).entry(20)
        counts = await InboxStore(session).counts()
        outbox = await rows(session, OutboxEntry)
    assert entry is not None and (entry.state, entry.attempts) == ("dead", 3) and "reader broke" in entry.error
    assert counts == {"pending": 1, "dead": 1}
    assert len(told) == 1 and "文件我试了几次都没能处理" in told[0].text and told[0].chat_id == 1000
    assert len([e for e in outbox if e.chat_id == 1000]) == 1
    for batch in await inbox._claim(10):  # …and goes on once it is dead
        await inbox._work(batch, failing, core.dead_letter, execute)
    assert handled[-1] == [21] and len(told) == 1


async def test_an_update_whose_process_died_is_taken_up_in_its_own_lane_and_dead_lettered(
        sessions, clock, core, merchant) -> None:
    inbox = Inbox(sql_units(sessions), InboxConfig(max_attempts=2), clock)
    await inbox.receive([text(30, 1000)])
    for _ in range(2):  # claimed, then the process died: the lease runs out
        assert await claim(sessions, clock, suspects=_ > 0) == [[30]]
        clock.advance(seconds=61)
    await inbox.receive([text(31, 1002)])
    assert [b.ids for b in await inbox._claim(10)] == [[31]]  # fresh work never takes a suspect…
    batch = await inbox._claim_suspect()  # …its own lane does, with 31 still in hand
    assert batch is not None and batch.ids == [30] and batch.attempts == 3
    told: list = []

    async def never(batch: Batch) -> bool:
        raise AssertionError("a dead update is not handled again")

    async def execute(outputs) -> None:
        told.extend(outputs)

    await inbox._work(batch, never, core.dead_letter, execute)
    assert len(told) == 1 and "上一条消息" in told[0].text


async def test_no_crash_suspect_in_the_first_lease_after_a_start(sessions, clock) -> None:
    await Inbox(sql_units(sessions), InboxConfig(), clock).receive([text(35, 1000)])
    assert await claim(sessions, clock) == [[35]]  # the process died handling it
    clock.advance(seconds=61)
    restarted = Inbox(sql_units(sessions), InboxConfig(), clock)
    assert await restarted._claim_suspect() is None  # what arrived meanwhile goes first: a crash loop costs nothing
    clock.advance(seconds=60)
    batch = await restarted._claim_suspect()
    assert batch is not None and batch.ids == [35]


async def test_a_crash_suspect_is_taken_up_at_once_however_busy_the_workers_are(sessions, clock) -> None:
    """Steady load never starves it: it waited until the workers had nothing else to do (72-180 s measured)."""
    config = InboxConfig(concurrency=2, poll_seconds=0.05)
    inbox = Inbox(sql_units(sessions), config, clock)
    await inbox.receive([text(50, 500)])
    assert await claim(sessions, clock) == [[50]]  # the process died while handling it
    clock.advance(seconds=61)  # its lease ran out, and this process started a lease ago
    fresh = [text(1000 + 10 * n + k, 600 + n) for n in range(10) for k in range(5)]
    await inbox.receive(fresh)
    handled: list[int] = []
    stop = asyncio.Event()

    async def handle(batch: Batch) -> bool:
        handled.append(batch.ids[0])
        await asyncio.sleep(0.01)
        await finish(sessions, clock, batch.ids)
        if len(handled) == len(fresh) + 1:
            stop.set()
        return True

    async def dead_letter(batch: Batch, reason: str) -> list:
        raise AssertionError("not dead")

    async def execute(outputs) -> None:
        pass

    await asyncio.wait_for(inbox.run(handle, dead_letter, execute, stop), 30)
    assert sorted(handled) == sorted([50] + [u.update_id for u in fresh])
    assert handled.index(50) < 5  # among the first, while 50 fresh updates kept both slots busy


async def test_an_admin_retries_or_drops_a_dead_letter(sessions, clock) -> None:
    inbox = Inbox(sql_units(sessions), InboxConfig(), clock)
    await inbox.receive([text(40, 100), text(41, 100)])
    async with sessions() as session, session.begin():
        store = InboxStore(session)
        await store.finish([40, 41], clock(), state="dead", error="boom")
        assert await store.retry(40) and not await store.retry(40)
        assert await store.drop(41, clock()) and not await store.drop(41, clock())
    assert await claim(sessions, clock) == [[40]]
    async with sessions() as session:
        assert (await InboxStore(session).entry(41)).state == "dropped"  # type: ignore[union-attr]


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_stats_show_waiting_updates_and_dead_letters(sessions, clock, assistant, language) -> None:
    from tests.factories import add_user

    await add_user(sessions, clock.now, user_id=999, role="admin", language=language)
    inbox = Inbox(sql_units(sessions), InboxConfig(), clock)
    await inbox.receive([text(50, 100), text(51, 101)])
    async with sessions() as session, session.begin():
        await InboxStore(session).finish([50], clock(), state="dead", error="boom")
    from assistant.messages import Command

    replies = await assistant.handle(Command(user_id=999, chat_id=999, name="stats", language=language))
    body = replies[0].text
    assert ("（死信）</b>：1" in body and "待处理消息</b>：1" in body) if language == "zh" else \
        ("dead letters</b>: 1" in body and "Updates waiting</b>: 1" in body), body


async def test_handled_updates_are_forgotten_after_a_week_dead_letters_stay(sessions, clock, assistant) -> None:
    inbox = Inbox(sql_units(sessions), InboxConfig(), clock)
    await inbox.receive([text(60, 100), text(61, 101), text(62, 102)])
    async with sessions() as session, session.begin():
        await InboxStore(session).finish([60], clock())
        await InboxStore(session).finish([61], clock(), state="dead", error="boom")
    clock.advance(days=6)
    await assistant.due()
    async with sessions() as session:
        assert [e.update_id for e in await InboxStore(session).entries(("pending", "dead", "done"))] == [60, 61, 62]
    clock.advance(days=2)
    await assistant.due()
    async with sessions() as session:
        assert [e.update_id for e in await InboxStore(session).entries(("pending", "dead", "done"))] == [61, 62]


async def test_finishing_an_update_takes_its_chats_lock_until_the_transaction_ends(sessions, clock,
                                                                                  backend: str) -> None:
    inbox = Inbox(sql_units(sessions), InboxConfig(), clock)
    await inbox.receive([text(1, 4242), text(2, 4242)])

    async def chat_locks() -> int:
        async with sessions() as other:
            return int(await other.scalar(sa_text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND granted")))

    async with sessions() as session, session.begin():
        store = InboxStore(session)
        assert await store.finish([9], clock(), lock_chat=4242) == 0  # nothing pending: nothing to lock for
        if backend == "postgresql":
            assert await chat_locks() == 0
        assert await store.finish([1], clock(), lock_chat=4242) == 1
        if backend == "postgresql":
            assert await chat_locks() == 1  # SQLite: the write transaction holds the whole database
    if backend == "postgresql":
        assert await chat_locks() == 0
    assert await claim(sessions, clock) == [[2]]


async def test_an_update_the_database_cannot_store_is_kept_as_a_dead_letter(sessions, clock) -> None:
    """An id out of the database's range fails for good: stored as dead, so it is confirmed, and seen by admins."""
    inbox = Inbox(sql_units(sessions), InboxConfig(), clock)
    huge = 2 ** 70
    await inbox.receive([text(1, 100), text(huge, 100), text(2, 2 ** 80)])  # no error: nothing to deliver again
    await inbox.receive([text(huge, 100)])  # Telegram delivers it again anyway: still one
    async with sessions() as session:
        store = InboxStore(session)
        dead = await store.entries(("dead",))
        assert await store.counts() == {"pending": 1, "dead": 2}
    assert [entry.kind for entry in dead] == ["unstorable", "unstorable"]
    assert all(entry.update_id < 0 or entry.update_id == 2 for entry in dead)  # a stand-in key, or its own id
    assert {entry.payload["update"]["update_id"] for entry in dead} == {huge, 2}
    assert all("not storable" in entry.error for entry in dead)
    assert await claim(sessions, clock) == [[1]]  # the storable one is handled as ever
