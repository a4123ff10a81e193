"""Group commit: writes that arrive together share one write; each caller learns its own outcome."""

from __future__ import annotations

import asyncio

import pytest

from assistant.runtime.group_commit import GroupCommit


class RecordingStore:
    """A slow in-memory store that records each write (one 'transaction')."""

    def __init__(self, fail_with: int | None = None) -> None:
        self.writes: list[list[int]] = []
        self.fail_with = fail_with

    async def write(self, items: list[int]) -> None:
        await asyncio.sleep(0.01)
        if self.fail_with in items:
            raise RuntimeError("database went away")
        self.writes.append(items)


async def test_one_caller_alone_is_written_at_once() -> None:
    store = RecordingStore()
    commit = GroupCommit(store.write)
    await commit.add([1, 2])
    assert store.writes == [[1, 2]]


async def test_callers_arriving_together_share_one_write() -> None:
    store = RecordingStore()
    commit = GroupCommit(store.write)
    await asyncio.gather(*(commit.add([n]) for n in range(50)))
    assert store.writes == [list(range(50))]


async def test_callers_arriving_during_a_write_share_the_next_one() -> None:
    store = RecordingStore()
    commit = GroupCommit(store.write)
    first = asyncio.create_task(commit.add([0]))
    await asyncio.sleep(0.001)  # the first write is running
    await asyncio.gather(first, *(commit.add([n]) for n in range(1, 50)))
    assert store.writes == [[0], list(range(1, 50))]


async def test_a_failed_write_is_raised_to_its_callers_only() -> None:
    store = RecordingStore(fail_with=7)
    commit = GroupCommit(store.write)
    first = asyncio.create_task(commit.add([1]))
    await asyncio.sleep(0)
    failing = [asyncio.create_task(commit.add([n])) for n in (6, 7)]  # written together, after the first
    await first
    for task in failing:
        with pytest.raises(RuntimeError, match="went away"):
            await task
    await commit.add([8])  # the next write goes ahead
    assert store.writes == [[1], [8]]


async def test_a_write_holds_at_most_the_limit() -> None:
    store = RecordingStore()
    commit = GroupCommit(store.write, limit=10)
    await asyncio.gather(*(commit.add([n, n + 100]) for n in range(30)))
    assert max(len(write) for write in store.writes) <= 10
    assert len([item for write in store.writes for item in write]) == 60


async def test_isolated_a_failing_caller_does_not_fail_those_written_with_it() -> None:
    store = RecordingStore(fail_with=7)
    commit = GroupCommit(store.write, isolate=lambda error: "went away" in str(error))
    first = asyncio.create_task(commit.add([1]))
    await asyncio.sleep(0)
    together = [asyncio.create_task(commit.add([n])) for n in (6, 7, 8)]  # one shared write, which fails
    await first
    results = await asyncio.gather(*together, return_exceptions=True)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], RuntimeError)
    assert store.writes == [[1], [6], [8]]  # the others written alone after the shared write failed


async def test_without_isolation_a_shared_failure_fails_everyone_in_the_write() -> None:
    store = RecordingStore(fail_with=7)
    commit = GroupCommit(store.write, isolate=lambda error: False)  # e.g. the database is away: no point
    first = asyncio.create_task(commit.add([1]))
    await asyncio.sleep(0)
    together = [asyncio.create_task(commit.add([n])) for n in (6, 7, 8)]
    await first
    results = await asyncio.gather(*together, return_exceptions=True)
    assert all(isinstance(result, RuntimeError) for result in results)
    assert store.writes == [[1]]
