"""The file readers' fair shares: one file of a chat at a time, chats in turn, a chat's line bounded."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from assistant.runtime.file_reader import IsolatedReader, ReadLimits


class Held(IsolatedReader):
    """A reader whose files take as long as the test says: each read waits for its file's release."""

    def __init__(self, limits: ReadLimits) -> None:
        super().__init__(limits)
        self.started: list[str] = []
        self.release: dict[str, asyncio.Event] = {}

    async def _run(self, data: bytes, header: dict[str, str]) -> dict[str, Any]:
        name = header["file_name"]
        self.started.append(name)
        await self.release.setdefault(name, asyncio.Event()).wait()
        return {"reason": "failed"}

    def done(self, name: str) -> None:
        self.release.setdefault(name, asyncio.Event()).set()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_chats_take_turns_a_chats_line_is_bounded_and_a_waiting_file_says_how_many_are_ahead() -> None:
    reader = Held(ReadLimits(workers=1, per_chat=2))
    told: dict[str, int] = {}

    def read(chat: int, name: str):  # type: ignore[no-untyped-def]
        async def waiting(ahead: int) -> None:
            told[name] = ahead
        return asyncio.create_task(reader.read(b"", file_name=name, mime_type="", kind="document",
                                               today=date(2026, 6, 15), chat_id=chat, waiting=waiting))

    slow = [read(1, f"a{n}") for n in range(4)]  # one merchant's four slow files
    await settle()
    others = [read(2, "b1"), read(3, "c1")]
    await settle()
    assert (await slow[3]).reason == "queue_full"  # a0 in the reader, a1 and a2 waiting: a3 refused
    assert told == {"a1": 1, "a2": 2, "b1": 2, "c1": 3}  # files to be read before each, turn by turn
    for name in ("a0", "a1", "b1", "c1", "a2"):
        assert reader.started[-1] == name  # first come first served would be a0 a1 a2 b1 c1
        reader.done(name)
        await settle()
    results = await asyncio.gather(*slow[:3], *others)
    assert [r.reason for r in results] == ["failed"] * 5


async def test_one_file_of_a_chat_in_the_readers_at_a_time() -> None:
    reader = Held(ReadLimits(workers=2, per_chat=3))
    files = [asyncio.create_task(reader.read(b"", file_name=f"a{n}", mime_type="", kind="photo",
                                             today=date(2026, 6, 15), chat_id=1)) for n in range(2)]
    await settle()
    assert reader.started == ["a0"]  # a reader is free, but it is not this chat's turn again yet
    other = asyncio.create_task(reader.read(b"", file_name="b0", mime_type="", kind="photo", today=date(2026, 6, 15),
                                            chat_id=2))
    await settle()
    assert reader.started == ["a0", "b0"]
    for name in ("a0", "b0", "a1"):
        reader.done(name)
        await settle()
    await asyncio.gather(*files, other)
    assert reader.started == ["a0", "b0", "a1"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_chats_whose_files_took_a_full_budget_leave_one_reader_for_everybody_else() -> None:
    clock = Clock()
    reader = Held(ReadLimits(workers=2, per_chat=3, seconds=15.0, heavy_window=600.0))
    reader._clock = clock  # reads take as long as the test's clock says

    def read(chat: int, name: str) -> asyncio.Task[Any]:
        return asyncio.create_task(reader.read(b"", file_name=name, mime_type="", kind="document",
                                               today=date(2026, 6, 15), chat_id=chat))

    first = [read(1, "a0"), read(2, "b0")]  # two attackers' slow files: nobody knows yet that they are slow
    await settle()
    assert reader.started == ["a0", "b0"]
    clock.now += 15  # each used the whole budget
    more = [read(1, "a1"), read(2, "b1")]
    await settle()
    for name in ("a0", "b0"):
        reader.done(name)
        await settle()
    assert reader.heavy(1) and reader.heavy(2)
    assert reader.started == ["a0", "b0", "a1"]  # heavy chats share one reader: b1 waits although one is free
    photo = read(3, "c0")  # another merchant's photo takes the reader kept free
    await settle()
    assert reader.started[-1] == "c0" and not reader.heavy(3)
    reader.done("c0")
    await settle()
    assert reader.started[-1] == "c0"  # still only one heavy file at a time
    clock.now += 15
    reader.done("a1")
    await settle()
    assert reader.started[-1] == "b1"
    clock.now += 1
    reader.done("b1")
    await asyncio.gather(*first, *more, photo)
    clock.now += 601  # a quiet while later, the chats are light again
    assert not reader.heavy(1) and not reader.heavy(2)


async def test_with_one_reader_heavy_chats_still_take_their_turns() -> None:
    clock = Clock()
    reader = Held(ReadLimits(workers=1, per_chat=3, seconds=15.0))
    reader._clock = clock
    task = asyncio.create_task(reader.read(b"", file_name="a0", mime_type="", kind="document",
                                           today=date(2026, 6, 15), chat_id=1))
    await settle()
    clock.now += 20
    reader.done("a0")
    await task
    assert reader.heavy(1)
    again = asyncio.create_task(reader.read(b"", file_name="a1", mime_type="", kind="document",
                                            today=date(2026, 6, 15), chat_id=1))
    await settle()
    assert reader.started == ["a0", "a1"]  # no reader to keep free: never stuck
    reader.done("a1")
    await again
