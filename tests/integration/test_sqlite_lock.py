"""Two SQLite engines on one file in one process: a writer waits for the other's lock without blocking the loop."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path

from assistant.store.engine import make_engine, make_sessions
from assistant.store.migrate import upgrade
from assistant.store.models import User
from assistant.store.uow import sql_units

NOW = datetime(2026, 3, 2, tzinfo=timezone.utc)


async def test_a_second_writer_waits_for_the_first_and_the_loop_keeps_running(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/shared.sqlite3"
    first_engine, second_engine = make_engine(url), make_engine(url)
    await upgrade(first_engine)
    first, second = sql_units(make_sessions(first_engine)), sql_units(make_sessions(second_engine))
    order: list[str] = []
    holding, let_go = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with first() as unit:
            unit.session.add(User(id=1, role="merchant", language="zh", created_at=NOW))
            await unit.session.flush()  # the write lock is taken (BEGIN IMMEDIATE) and held
            holding.set()
            await let_go.wait()
            order.append("first commits")

    async def write_too() -> None:
        await holding.wait()
        async with second() as unit:
            unit.session.add(User(id=2, role="merchant", language="zh", created_at=NOW))
            await unit.session.flush()  # begins only once the first has committed
            order.append("second wrote")

    try:
        holder, waiter = asyncio.create_task(hold()), asyncio.create_task(write_too())
        await holding.wait()
        for _ in range(20):
            await asyncio.sleep(0.005)  # the loop runs meanwhile: the second writer waits without blocking it
        assert order == []
        let_go.set()
        await asyncio.gather(holder, waiter)
        assert order == ["first commits", "second wrote"]
        async with second() as unit:
            assert await unit.session.get(User, 1) is not None and await unit.session.get(User, 2) is not None
    finally:
        await first_engine.dispose()
        await second_engine.dispose()
