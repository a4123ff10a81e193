"""Benchmark: the core alone — `Assistant.handle` for the load benchmark's conversation, no HTTP, no Telegram.

    .venv/bin/python bench/core_step.py [--steps 600] [--chats 20] [--postgres URL] [--profile]

Each chat takes the steps of bench/load.py (/start, then "find", the identifiers, "menu"), stored in
the inbox first and marked sent after, as the bot does; chats go concurrently. Prints CPU per step and
the statements per step, those through SQLAlchemy and those sent straight to the driver, and commits;
`--profile` adds cProfile's own CPU time per package and its top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import itertools
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any
from datetime import datetime, timezone
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the project, not bench/ (whose profile.py
# would stand in for the standard library's, which cProfile imports)

import cProfile  # noqa: E402
import pstats  # noqa: E402

from sqlalchemy import event  # noqa: E402

import bot  # noqa: E402
from assistant.messages import ButtonPress, Command, Inbound, Text  # noqa: E402
from assistant.store.driver import Driver  # noqa: E402
from assistant.store.engine import make_engine, make_sessions  # noqa: E402
from assistant.store.inbox import Received  # noqa: E402
from assistant.store.uow import sql_units  # noqa: E402

from bench.load import DEFAULT_POSTGRES, FIRST_USER, ensure_postgres_database, prepare  # noqa: E402


@contextlib.contextmanager
def driver_counted(statements: collections.Counter[str]) -> Iterator[None]:
    """Count the statements given straight to the driver, by their first words, while the block runs."""
    originals = {name: getattr(Driver, name) for name in ("rows", "row", "run", "many")}

    def counting(original: Any) -> Any:
        async def wrapper(self: Driver, sql: str, *args: object) -> object:
            statements["driver: " + " ".join(sql.split()[:4])] += 1
            return await original(self, sql, *args)
        return wrapper
    for name, original in originals.items():
        setattr(Driver, name, counting(original))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(Driver, name, original)


def package(path: str) -> str:
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0]
    root = str(Path(__file__).resolve().parent.parent) + "/"
    return path.replace(root, "") if path.startswith(root) else "stdlib"


async def run(url: str, steps: int, chats: int, profile: bool) -> None:
    typed = await prepare(url, chats)  # a fresh database with the demo invoices and the merchants
    engine = make_engine(url)
    units = sql_units(make_sessions(engine))
    now = datetime.now(timezone.utc)
    settings = bot.load_settings(database_url=url, lookups_per_invoice_per_day=10**6,
                                 distinct_invoices_per_hour=10**6)
    assistant, _ = bot.build_assistant(settings, units)
    statements: collections.Counter[str] = collections.Counter()

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements["orm: " + " ".join(statement.split()[:4])] += 1

    @event.listens_for(engine.sync_engine, "commit")
    def committed(_conn: object) -> None:
        statements["COMMIT"] += 1


    update_ids = itertools.count(1)
    versions: dict[int, int] = {}

    async def step(user: int, kind: str, value: str) -> None:
        update_id = next(update_ids)
        message: Inbound
        if kind == "press":
            message = ButtonPress(user_id=user, chat_id=user, choice=value, version=versions.get(user),
                                  update_id=update_id)
        elif value.startswith("/"):
            message = Command(user_id=user, chat_id=user, name=value[1:], update_id=update_id, message_id=1)
        else:
            message = Text(user_id=user, chat_id=user, text=value, update_id=update_id, message_id=1)
        async with units(alone=True) as unit:  # as the inbox stores them
            await unit.inbox.receive([Received(update_id, user, user, "message", {})], now)
        outputs = await assistant.handle(message)
        versions[user] = next((o.version for o in outputs if getattr(o, "version", None)), versions.get(user, 0))
        await assistant.sent(*[o.outbox_id for o in outputs if o.outbox_id is not None], updates=[update_id])

    def conversation(user: int) -> Iterator[tuple[str, str]]:
        yield ("text", "/start")
        for n in itertools.count(user):
            yield from (("press", "find"), ("text", typed[n % len(typed)]), ("press", "menu"))

    walks = {FIRST_USER + n: conversation(FIRST_USER + n) for n in range(chats)}
    for _ in range(8):  # warm-up: every chat past its first messages
        await asyncio.gather(*(step(user, *next(walk)) for user, walk in walks.items()))
    statements.clear()
    profiler = cProfile.Profile(time.process_time)  # CPU, not waits for the database
    rounds = max(steps // chats, 1)
    began = time.process_time()
    with driver_counted(statements):
        if profile:
            profiler.enable()
        for _ in range(rounds):
            await asyncio.gather(*(step(user, *next(walk)) for user, walk in walks.items()))
        profiler.disable()
    cpu = time.process_time() - began
    done = rounds * chats
    print(f"{url.split(':')[0]}: {done} steps, {cpu / done * 1000:.2f} ms CPU per step"
          f"{' (under cProfile)' if profile else ''}, {sum(statements.values()) / done:.2f} statements and commits"
          " per step")
    for statement, n in statements.most_common(20):
        print(f"  {n / done:5.2f}  {statement}")
    if profile:
        own: collections.Counter[str] = collections.Counter()
        for (path, _line, _name), (_cc, _nc, total, _ct, _callers) in pstats.Stats(profiler).stats.items():  # type: ignore[attr-defined]
            own[package(path)] += total
        whole = sum(own.values())
        for name, seconds in own.most_common(12):
            print(f"  {seconds / whole:6.1%}  {seconds / done * 1000:.3f} ms  {name}")
        print("  the functions of most own time:")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
    await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--chats", type=int, default=20)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--postgres", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_POSTGRES))
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if args.backend in ("sqlite", "both"):
            await run(f"sqlite+aiosqlite:///{folder}/core.sqlite3", args.steps, args.chats, args.profile)
        if args.backend in ("postgresql", "both"):
            await ensure_postgres_database(args.postgres)
            await run(args.postgres, args.steps, args.chats, args.profile)


if __name__ == "__main__":
    asyncio.run(main())
