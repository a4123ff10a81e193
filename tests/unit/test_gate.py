"""The connection gate: no more holders than slots; bookkeeping waiting goes first; cancelled waiters lose nothing."""

from __future__ import annotations

import asyncio

import pytest

from assistant.store.gate import Gate


async def test_urgent_waiters_go_first_each_kind_in_order() -> None:
    gate = Gate(1)
    order: list[str] = []
    release = asyncio.Event()

    async def hold(name: str, urgent: bool, until: asyncio.Event | None = None) -> None:
        async with gate.held(urgent=urgent):
            order.append(name)
            if until is not None:
                await until.wait()

    first = asyncio.create_task(hold("first", False, release))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(hold(name, urgent)) for name, urgent in
               (("handle 1", False), ("store 1", True), ("handle 2", False), ("store 2", True))]
    await asyncio.sleep(0)
    assert order == ["first"]  # one slot: the others wait
    release.set()
    await asyncio.gather(first, *waiting)
    assert order == ["first", "store 1", "store 2", "handle 1", "handle 2"]


async def test_no_more_holders_than_slots() -> None:
    gate = Gate(2)
    inside = most = 0

    async def hold() -> None:
        nonlocal inside, most
        async with gate.held():
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0)
            inside -= 1

    await asyncio.gather(*(hold() for _ in range(10)))
    assert most == 2


@pytest.mark.parametrize("handed_over", [False, True], ids=["while waiting", "just as the slot was handed over"])
async def test_a_cancelled_waiter_takes_no_slot(handed_over: bool) -> None:
    gate = Gate(1)
    release = asyncio.Event()
    got: list[str] = []

    async def hold(name: str, until: asyncio.Event | None = None) -> None:
        async with gate.held():
            got.append(name)
            if until is not None:
                await until.wait()

    first = asyncio.create_task(hold("first", release))
    await asyncio.sleep(0)
    cancelled = asyncio.create_task(hold("cancelled"))
    later = asyncio.create_task(hold("later"))
    await asyncio.sleep(0)
    if handed_over:
        release.set()
        await asyncio.sleep(0)  # the first lets go: its slot is handed to the next waiter, who has not run yet
        cancelled.cancel()
    else:
        cancelled.cancel()
        release.set()
    async with asyncio.timeout(5):  # a lost slot would leave the later waiter waiting for ever
        await asyncio.gather(first, later, return_exceptions=True)
    assert got == ["first", "later"] and cancelled.cancelled()
    async with asyncio.timeout(1):  # and the slot is free again
        async with gate.held():
            pass
