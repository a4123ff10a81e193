"""Bookkeeping rounds on both backends: what arrives together is written in one transaction, in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest

from assistant.runtime.bookkeeping import Bookkeeping
from assistant.runtime.inbox import Inbox, InboxConfig
from assistant.store.inbox import InboxStore, Received
from assistant.store.uow import UnitOfWork, Units, sql_units


def update(update_id: int, chat_id: int, payload: object = None) -> Received:
    return Received(update_id=update_id, chat_id=chat_id, user_id=chat_id, kind="text",
                    payload=payload or {"update_id": update_id, "message": {"text": str(update_id)}})


def counting(units: Units) -> tuple[Units, list[bool]]:
    """Units that remember each transaction opened (whether alone)."""
    opened: list[bool] = []

    @asynccontextmanager
    async def unit_of_work(*, alone: bool = False) -> AsyncIterator[UnitOfWork]:
        opened.append(alone)
        async with units(alone=alone) as unit:
            yield unit
    return unit_of_work, opened  # type: ignore[return-value]


async def states(sessions) -> dict[int, tuple[str, bool]]:
    """Each stored update: its state, and whether it is leased."""
    async with sessions() as session:
        entries = await InboxStore(session).entries(("pending", "done", "dead"))
        return {e.update_id: (e.state, e.lease_until is not None) for e in entries}


async def test_arrivals_sent_marks_and_a_claim_share_one_transaction_in_that_order(sessions, clock) -> None:
    units, opened = counting(sql_units(sessions))
    inbox = Inbox(units, InboxConfig(), clock)
    await inbox.receive([update(5, 300), update(6, 300)])
    [first] = await inbox._claim(10)
    async with sessions() as session, session.begin():  # handled; its answer is being sent
        await InboxStore(session).finish(first.ids, clock(), sending=True)
    opened.clear()

    async def answered() -> None:
        await inbox.bookkeeping.sent([], first.ids, clock())
    inbox._done(300)  # the worker that handled it ended: the chat may have work

    results = await asyncio.gather(inbox.receive([update(1, 100), update(2, 100)]), inbox.receive([update(3, 200)]),
                                   answered(), inbox._claim(10))
    assert opened == [True]  # one transaction for all four callers
    claimed = results[3]
    # the claim saw what the same round stored (chats 100 and 200) and freed (chat 300's next update)
    assert sorted(batch.ids for batch in claimed) == [[1], [3], [6]]
    stored = await states(sessions)
    assert stored[5] == ("done", False)  # its answer went out: no longer leased
    assert stored[2] == ("pending", False)  # chat 100's second update waits for its first
    assert stored[6] == ("pending", True)


async def test_a_callers_bad_entry_fails_that_caller_only(sessions, clock) -> None:
    units, opened = counting(sql_units(sessions))
    bookkeeping = Bookkeeping(units)
    unstorable = update(8, 100, payload={"update_id": 8, "oops": object()})  # cannot be written as JSON
    results = await asyncio.gather(bookkeeping.store([update(7, 100)], clock()), bookkeeping.store([unstorable], clock()),
                                   bookkeeping.store([update(9, 200)], clock()), return_exceptions=True)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], TypeError)
    assert sorted(await states(sessions)) == [7, 9]
    assert len(opened) == 1 + 3  # the shared round failed; then each caller's entries alone


async def test_the_database_away_fails_every_caller_at_once(sessions, clock) -> None:
    class Away(ConnectionRefusedError):
        pass

    @asynccontextmanager
    async def unreachable(*, alone: bool = False) -> AsyncIterator[UnitOfWork]:
        raise Away("connection refused")
        yield  # pragma: no cover

    bookkeeping = Bookkeeping(unreachable)  # type: ignore[arg-type]
    results = await asyncio.gather(bookkeeping.store([update(1, 100)], clock()),
                                   bookkeeping.sent([], [1], clock()), return_exceptions=True)
    assert all(isinstance(result, Away) for result in results)


@pytest.mark.parametrize("stamped", [False, True], ids=["stamped when stored", "stamped on receipt"])
async def test_an_update_keeps_the_time_it_was_received(sessions, clock, stamped: bool) -> None:
    from dataclasses import replace

    received_at = clock() - timedelta(seconds=5)
    bookkeeping = Bookkeeping(sql_units(sessions))
    await bookkeeping.store([replace(update(1, 100), received_at=received_at) if stamped else update(1, 100)],
                            clock())
    async with sessions() as session:
        entry = await InboxStore(session).entry(1)
    assert entry is not None and entry.received_at == (received_at if stamped else clock())
