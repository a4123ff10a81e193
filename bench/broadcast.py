"""Benchmark: a broadcast to N recipients through the real bot stack against the fake Bot API server.

    .venv/bin/python bench/broadcast.py [--recipients 10000] [--rate 25] [--postgres URL]

The fake server enforces Telegram's limit (30 messages in any second, 429 above it). The figure is
messages per second as a fraction of the configured BROADCAST_RATE; the target is at least 90% with
no 429 from the server.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from functools import partial
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert  # noqa: E402
from telegram.ext import ExtBot  # noqa: E402

from assistant.adapters.telegram import GlobalPace, TelegramAdapter, TelegramBroadcast  # noqa: E402
from assistant.broadcast import BroadcastRunner  # noqa: E402
from assistant.runtime.senders import Pace  # noqa: E402
from assistant.settings import Settings  # noqa: E402
from assistant.store.engine import make_engine, make_sessions  # noqa: E402
from assistant.store.migrate import recreate, upgrade  # noqa: E402
from assistant.store.models import Conversation, User  # noqa: E402
from assistant.store.uow import UnitOfWork, sql_units  # noqa: E402
from bot import build_assistant  # noqa: E402
from tests.e2e.fake_bot_api import FakeBotAPI  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ADMIN = 1


async def run(url: str, recipients: int, rate: float, reset: bool) -> None:
    engine = make_engine(url)
    await (recreate(engine) if reset else upgrade(engine))
    sessions = make_sessions(engine)
    now = datetime.now(timezone.utc)
    async with sessions() as session, session.begin():
        users = [{"id": ADMIN, "role": "admin", "language": "zh", "name": "admin", "alias": "", "unreachable": False,
                  "created_at": now}]
        users += [{"id": 10_000 + i, "role": "merchant", "language": "zh", "name": f"m{i}", "alias": "",
                   "unreachable": False, "created_at": now} for i in range(recipients)]
        await session.execute(insert(User), users)
        await session.execute(insert(Conversation), [
            {"chat_id": u["id"], "user_id": u["id"], "flow": "troubleshoot", "state": "menu", "data": {}, "version": 0,
             "updated_at": now} for u in users[1:]])
        broadcast = await UnitOfWork(session).broadcasts.create(created_by=ADMIN, audience="recent", text="基准测试",
                                                          since=now.replace(year=now.year - 1), now=now)
    api = FakeBotAPI(rate_limit=30)
    await api.start()
    bot = ExtBot(api.token, base_url=api.base_url, rate_limiter=GlobalPace(Pace(30)))
    settings = Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]
    units = sql_units(sessions)
    assistant, renderer = build_assistant(settings, units)
    adapter = TelegramAdapter(core=assistant, renderer=renderer, default_language="zh", support_chat_id=None)
    async with bot:  # progress messages go through the outbox and the adapter, as in `bot.py run`
        runner = BroadcastRunner(units, renderer, TelegramBroadcast(bot), partial(adapter.execute, bot), rate,
                                 lambda: datetime.now(timezone.utc))
        began = time.perf_counter()
        await runner.run(broadcast.id)
        seconds = time.perf_counter() - began
    await api.stop()
    async with sessions() as session:
        counts = await UnitOfWork(session).broadcasts.recipient_counts(broadcast.id)
    await engine.dispose()
    per_second = counts.get("sent", 0) / seconds
    print(f"{engine.dialect.name}: {counts.get('sent', 0)} of {recipients} sent in {seconds:.1f} s = "
          f"{per_second:.2f} msg/s, {per_second / rate:.1%} of the configured {rate:g}/s; "
          f"429 answers from the server: {api.too_many}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=25.0, help="BROADCAST_RATE, messages per second")
    parser.add_argument("--postgres", help="a PostgreSQL URL whose public schema may be dropped")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(f"sqlite+aiosqlite:///{folder}/bench.sqlite3", args.recipients, args.rate, False))
    if args.postgres:
        asyncio.run(run(args.postgres, args.recipients, args.rate, True))


if __name__ == "__main__":
    main()
