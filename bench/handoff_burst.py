"""Benchmark: a burst of handoffs, and what the other chats feel meanwhile.

    .venv/bin/python bench/handoff_burst.py [--handoffs 80] [--asking 8] [--seconds 20] [--lease 3]
                                           [--backend sqlite|postgresql|both] [--postgres URL]

The bot runs as `python bot.py run` (long polling) against the fake Bot API server in this process,
which enforces Telegram's 20 messages a minute per group (429 beyond it). `--handoffs` merchants, who
used the assistant before, all ask for a person at the same moment; each handoff is a confirmation to
the merchant, and a topic and a card in the support group: two of the group's 20 a minute. Meanwhile
`--asking` other merchants send /help every 1.5 s (Telegram allows one message a second per chat), at
moments spread over those 1.5 s, from two seconds before the burst to the end of `--seconds`.

Reported: the other chats' /help latency (push to answer: p50, p99, max) during the window, the
handoff merchants' time to their confirmation, duplicates (confirmations twice, a ticket with two
topics, a card posted twice), 429s from the group's limit, topics created by the end of the window,
and whether the scheduler handed out again an output it thought a stopped process left unsent (the
outbox lease is `--lease` seconds, short, so an output waiting for the group's turn whose lease were
not renewed would be sent again within the window). The PostgreSQL URL's public schema is dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.store.engine import make_engine  # noqa: E402
from assistant.store.migrate import recreate, upgrade  # noqa: E402
from tests.e2e.fake_bot_api import FakeBotAPI, Merchant  # noqa: E402
from tests.e2e.processes import BotProcess  # noqa: E402

SUPPORT = -1009876543210
CONFIRMATION = "工单 <b>#"


@dataclass
class Figures:
    backend: str
    asked: int
    p50: float
    p99: float
    worst: float
    confirmed_p50: float
    confirmed_max: float
    confirmations_twice: int
    tickets_with_two_topics: int
    cards_twice: int
    group_429: int
    topics: int
    handed_out_again: bool


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * share + 0.5) - 1)]


async def ask_help(merchant: Merchant, offset: float, until: float, latencies: list[float]) -> None:
    await asyncio.sleep(offset)
    while time.monotonic() < until:
        before = len(merchant.inbox)
        started = time.monotonic()
        await merchant.send("/help")
        await merchant.api.wait_for(lambda: any("使用说明" in m["text"] for m in merchant.inbox[before:]), timeout=60)
        latencies.append(time.monotonic() - started)
        await asyncio.sleep(1.5)


async def confirmed(merchant: Merchant, pushed: float) -> float:
    await merchant.api.wait_for(lambda: any(CONFIRMATION in m["text"] for m in merchant.inbox), timeout=120)
    return time.monotonic() - pushed


async def run(backend: str, url: str, handoffs: int, asking: int, seconds: float, lease: float,
              work: Path) -> Figures:
    engine = make_engine(url)
    await (recreate(engine) if url.startswith("postgresql") else upgrade(engine))
    await engine.dispose()
    api = FakeBotAPI()  # Telegram's 20 messages a minute per group
    await api.start()
    bot = BotProcess(api, url, work / f"bot-{backend}.log", SUPPORT_CHAT_ID=str(SUPPORT),
                     OUTBOX_LEASE_SECONDS=str(lease), LOG_LEVEL="INFO")
    await bot.start()
    try:
        others = [Merchant(api, 5000 + n) for n in range(asking)]
        handing_off = [Merchant(api, 6000 + n) for n in range(handoffs)]
        await asyncio.gather(*(merchant.say("/start", timeout=120) for merchant in others + handing_off))
        latencies: list[float] = []
        until = time.monotonic() + seconds
        helping = asyncio.gather(*(ask_help(merchant, 1.5 * n / asking, until, latencies)
                                   for n, merchant in enumerate(others)))
        await asyncio.sleep(2)
        pushed = time.monotonic()
        for merchant in handing_off:
            await merchant.send("/human")
        waits = await asyncio.gather(*(confirmed(merchant, pushed) for merchant in handing_off))
        await helping
        await asyncio.sleep(lease + 1)  # a lease after the last: anything handed out again shows by now
        names = [topic["name"].split(" · ")[0] for topic in api.topics.values()]
        cards = [m["message_thread_id"] for m in api.messages[SUPPORT] if m.get("reply_markup")]
        figures = Figures(
            backend=backend, asked=len(latencies), p50=statistics.median(latencies),
            p99=percentile(latencies, 0.99), worst=max(latencies), confirmed_p50=statistics.median(waits),
            confirmed_max=max(waits),
            confirmations_twice=sum(sum(CONFIRMATION in m["text"] for m in merchant.inbox) > 1
                                    for merchant in handing_off),
            tickets_with_two_topics=len(names) - len(set(names)), cards_twice=len(cards) - len(set(cards)),
            group_429=api.group_too_many, topics=len(api.topics), handed_out_again=False)
    finally:
        await bot.stop()
        await api.stop()
    figures.handed_out_again = "left unsent by a stopped sender" in bot.output()
    return figures


def report(figures: Figures, handoffs: int, seconds: float) -> None:
    print(f"{figures.backend}: {handoffs} handoffs at once; other chats' /help ({figures.asked} asked over "
          f"{seconds:g} s): p50 {figures.p50 * 1000:.0f} ms, p99 {figures.p99 * 1000:.0f} ms, "
          f"max {figures.worst * 1000:.0f} ms")
    print(f"  confirmations: p50 {figures.confirmed_p50:.2f} s, last {figures.confirmed_max:.2f} s after the burst; "
          f"twice: {figures.confirmations_twice}; tickets with two topics: {figures.tickets_with_two_topics}; "
          f"cards twice: {figures.cards_twice}")
    print(f"  support group: {figures.topics} topics created by the end (20 messages a minute), 429s: "
          f"{figures.group_429}; outputs handed out again as if their process had stopped: "
          f"{'yes' if figures.handed_out_again else 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--handoffs", type=int, default=80)
    parser.add_argument("--asking", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--lease", type=float, default=3.0, help="OUTBOX_LEASE_SECONDS for the run")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--postgres", help="a PostgreSQL URL whose public schema may be dropped")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        runs: list[tuple[str, str]] = []
        if args.backend in ("sqlite", "both"):
            runs.append(("sqlite", f"sqlite+aiosqlite:///{work}/burst.sqlite3"))
        if args.backend in ("postgresql", "both"):
            if not args.postgres:
                parser.error("--postgres URL is needed for PostgreSQL")
            runs.append(("postgresql", args.postgres))
        for backend, url in runs:
            report(asyncio.run(run(backend, url, args.handoffs, args.asking, args.seconds, args.lease, work)),
                   args.handoffs, args.seconds)


if __name__ == "__main__":
    main()
