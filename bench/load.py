"""Benchmark: the assistant under load from many chats, beside a minimal python-telegram-bot echo bot.

    .venv/bin/python bench/load.py [--chats 20,100,200] [--updates 1500] [--backend sqlite|postgresql|both]
                                   [--transport polling|webhook|both] [--profile] [--hostile] [--postgres URL]

The fake Bot API server runs in this process; the bot (`python bot.py run`, long polling or its webhook)
and the echo bot (bench/echo_bot.py) run as processes of their own. Each chat is a merchant who waits
for the answer before the next step (a closed loop), going through full troubleshooting conversations
driven by buttons: /start, then over and over "find invoice" (a button), the invoice's identifiers
(typed; a different outcome each time), "menu" (a button). The echo bot gets one text per step and
answers it. Every size runs against the same two processes, one after the other.

The echo bot runs twice, as python-telegram-bot makes it and with 16 HTTP connections instead of 256
(the stock pool slows down as chats are added, bench/echo_bot.py); shares are of the faster of the two.
Reported per size: updates handled per second and as a share of the echo bot's at the same size, the
bot's CPU per update, time from an update to the first message of its answer (p50, p99), and the Bot
API requests the bot made per step (answers given inside webhook responses counted apart), and this
process's own CPU per update (the fake server's and the merchants': a harness at its limit shows); at the
largest size also paced (merchants pausing between steps): latency, peak memory and memory per idle
conversation. `--profile` samples the bot with py-spy at the largest size; `--hostile` runs the paced
part again while three senders send hostile files. Lookup limits and flood throttling are raised for
the run (every chat is one merchant looking up invoices non-stop), and the client-side rate limiter
(Telegram's 30 requests a second) is off, as it is in the echo bot.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from assistant.demo import DEMO_COMPANY, seed_demo  # noqa: E402
from assistant.store.engine import make_engine, make_sessions  # noqa: E402
from assistant.store.migrate import recreate, upgrade  # noqa: E402
from assistant.store.uow import UnitOfWork  # noqa: E402
from tests.e2e.fake_bot_api import FakeBotAPI, Merchant, buttons_of  # noqa: E402
from tests.e2e.processes import BotProcess, free_port  # noqa: E402
from tests.hostile import big_page_pdf, big_xml, huge_png, zip_bomb_ofd  # noqa: E402

from bench.profile import Profile, Sampler  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/bench"
FIRST_USER = 20_000
OUTCOMES = ("found", "mismatch", "bad_status", "pending_sync", "no_permission", "too_recent", "other_region")
console = Console()


@dataclass
class ChatClock:
    """When the chat's pending update was pushed, and when its answer began and ended."""

    pushed: float = 0.0
    first: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    keyboard: dict[str, Any] | None = None


@dataclass
class Result:
    name: str
    updates: int
    seconds: float
    latencies: list[float]
    peak_kib: int
    growth_kib: int
    chats: int
    cpu: float
    calls: int = 0
    """Bot API requests the bot made itself during the run (getUpdates and getMe left out)."""
    in_responses: int = 0
    """Methods it gave in webhook responses instead (carried out by Telegram)."""
    harness_cpu: float = 0.0
    """CPU time of this process (the fake Bot API server and the merchants) during the run."""

    @property
    def calls_per_step(self) -> float:
        return self.calls / max(self.updates, 1)

    @property
    def rate(self) -> float:
        return self.updates / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_kib(pid: int) -> tuple[int, int]:
    """(resident now, peak resident) of a process, in KiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


async def drive(api: FakeBotAPI, chats: int, updates: int, steps: Any, pid: int, name: str,
                think: float = 0.0) -> Result:
    """Every chat takes its steps, one answer at a time, until `updates` updates were answered in all.

    With `think`, a merchant pauses about that many seconds after each answer, as people do; without,
    the next step follows at once and the bot runs flat out.
    """
    clocks = {FIRST_USER + n: ChatClock() for n in range(chats)}

    def on_send(message: dict[str, Any]) -> None:
        clock = clocks.get(message["chat"]["id"])
        if clock is None:
            return
        if clock.first is None:
            clock.first = time.perf_counter()
        if message.get("reply_markup") or steps is None:  # the answer's last message carries the keyboard
            clock.keyboard = message
            clock.done.set()

    api.after_send = on_send
    latencies: list[float] = []
    budget = itertools.count()

    async def chat(user_id: int) -> None:
        merchant = Merchant(api, user_id)
        clock = clocks[user_id]
        if think:  # merchants arrive spread out, not all in the same instant
            await asyncio.sleep(random.uniform(0, think))
        for step in (steps(user_id) if steps is not None else itertools.repeat(("text", "你好，发票查不到"))):
            if next(budget) >= updates:
                return
            clock.first, clock.pushed = None, time.perf_counter()
            clock.done.clear()
            kind, value = step
            if kind == "press":
                assert clock.keyboard is not None
                data = next(d for _, d in buttons_of(clock.keyboard) if d.split(":", 1)[1] == value)
                await merchant.press_data(clock.keyboard, data)
            else:
                await merchant.send(value)
            await asyncio.wait_for(clock.done.wait(), 120)
            assert clock.first is not None
            latencies.append(clock.first - clock.pushed)
            if think:
                await asyncio.sleep(random.uniform(0.5, 1.5) * think)

    before, _ = memory_kib(pid)
    cpu_before = cpu_seconds(pid)
    harness_before = time.process_time()
    calls_before = len(api.calls)
    began = time.perf_counter()
    await asyncio.gather(*(chat(user_id) for user_id in clocks))
    seconds = time.perf_counter() - began
    cpu = cpu_seconds(pid) - cpu_before
    harness = time.process_time() - harness_before
    made = [call for call in api.calls[calls_before:] if call.method not in ("getUpdates", "getMe")]
    await asyncio.sleep(1.0)  # every conversation idle again
    after, peak = memory_kib(pid)
    api.after_send = None
    return Result(name, len(latencies), seconds, latencies, peak, after - before, chats, cpu,
                  calls=sum(not call.via_webhook_response for call in made),
                  in_responses=sum(call.via_webhook_response for call in made), harness_cpu=harness)


def conversation(typed: list[str]) -> Any:
    """/start once, then find → identifiers → menu, a different demo invoice each time."""

    def steps(user_id: int) -> Any:
        yield ("text", "/start")
        for n in itertools.count(user_id):
            yield ("press", "find")
            yield ("text", typed[n % len(typed)])
            yield ("press", "menu")

    return steps


async def prepare(url: str, chats: int) -> list[str]:
    engine = make_engine(url)
    await (recreate(engine) if url.startswith("postgresql") else upgrade(engine))
    sessions = make_sessions(engine)
    now = datetime.now(timezone.utc)
    async with sessions() as session, session.begin():
        store = UnitOfWork(session)
        cases = await seed_demo(store, now, now.date())
        for n in range(chats):
            await store.users.save(FIRST_USER + n, role="merchant", language="zh", companies=[DEMO_COMPANY[0]],
                                  now=now, name=f"商户{n}")
    await engine.dispose()
    return [case.typed for case in cases if case.state in OUTCOMES]


async def ensure_postgres_database(url: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    connection = await asyncpg.connect(host=parsed.host, port=parsed.port or 5432, user=parsed.username,
                                       database="postgres")
    try:
        if not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", parsed.database):
            await connection.execute(f'CREATE DATABASE "{parsed.database}"')
    finally:
        await connection.close()


HOSTILE_FILES = (("five-big-pages.pdf", big_page_pdf(5000, pages=5)), ("huge.png", huge_png()),
                 ("bomb.ofd", zip_bomb_ofd()), ("big.xml", big_xml()))


async def under_attack(api: FakeBotAPI, run: Any, attackers: int = 3, every: float = 1.0) -> tuple[Result, int]:
    """`run` while `attackers` chats each send a hostile file every `every` seconds; (result, files sent)."""
    sent = 0

    async def attack(user_id: int) -> None:
        nonlocal sent
        merchant = Merchant(api, user_id)
        for name, content in itertools.cycle(HOSTILE_FILES):
            await merchant.document(name, content)
            sent += 1
            await asyncio.sleep(every)

    tasks = [asyncio.create_task(attack(90_000 + n)) for n in range(attackers)]
    try:
        return await run, sent
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def print_profile(name: str, profile: Profile, count: int = 15) -> None:
    """Where the bot's time went: own time per package, and the functions it fell in most.

    Samples are taken only while the bot holds the GIL (its CPU); SQLAlchemy's async layer runs in
    greenlets, whose stacks py-spy sees apart from their callers, so own time is what adds up.
    """
    for title, rows in (("own time by package", profile.top_packages()), ("own time by function", profile.top(count))):
        table = Table(title=f"{name}: {profile.samples} samples, {title}")
        table.add_column("share", justify="right")
        table.add_column("where")
        for where, share in rows:
            table.add_row(f"{share:.1%}", where)
        Console(width=160).print(table)


@dataclass
class Plan:
    """What one benchmark run measures."""

    sizes: list[int]
    updates: int
    think: float
    work: Path
    profile: bool = False
    hostile: bool = False

    @property
    def largest(self) -> int:
        return max(self.sizes)


@dataclass
class Measured:
    flat: dict[int, Result] = field(default_factory=dict)
    paced: Result | None = None


async def bench_backend(backend: str, url: str, transport: str, plan: Plan) -> Measured:
    """The assistant on one backend and transport: flat out at every size, paced at the largest."""
    typed = await prepare(url, plan.largest)
    api = FakeBotAPI()
    await api.start()
    env = {"LOG_LEVEL": "WARNING", "POLL_TIMEOUT": "10", "SCHEDULER_INTERVAL_SECONDS": "30", "FLOOD_MESSAGES": "1000000",
           "LOOKUPS_PER_INVOICE_PER_DAY": "1000000", "DISTINCT_INVOICES_PER_HOUR": "1000000",
           "TELEGRAM_MAX_RATE": "0", "TELEGRAM_CHAT_RATE": "0", "TELEGRAM_GROUP_RATE": "0"}
    # like the echo bot: no pacing of its own, the fake server has no limit to respect
    args: tuple[str, ...] = ()
    ready: str | None = None
    if transport == "webhook":
        port = free_port()
        args = ("--webhook", "https://bot.example.com/hook", "--listen", "127.0.0.1", "--port", str(port))
        ready = f"http://127.0.0.1:{port}/healthz"
    process = BotProcess(api, url, plan.work / f"bot-{backend}-{transport}.log", *args, **env)
    await process.start(ready_url=ready)
    if transport == "webhook":
        api.webhook_targets = [f"http://127.0.0.1:{port}/hook"]
    measured = Measured()
    name = f"assistant ({backend}, {transport})"
    try:
        await drive(api, min(plan.largest, 20), 200, conversation(typed), process.pid, "warm-up")
        for size in plan.sizes:
            if plan.profile and size == plan.largest:
                async with Sampler(process.pid, plan.work / f"profile-{backend}-{transport}.txt") as sampler:
                    measured.flat[size] = await drive(api, size, plan.updates, conversation(typed), process.pid, name)
                print_profile(f"{name}, {size} chats", sampler.profile())
            else:
                measured.flat[size] = await drive(api, size, plan.updates, conversation(typed), process.pid, name)
        measured.paced = await drive(api, plan.largest, plan.updates // 3, conversation(typed), process.pid, name,
                                     plan.think)
        if plan.hostile:
            attacked, files = await under_attack(api, drive(api, plan.largest, plan.updates // 3, conversation(typed),
                                                            process.pid, f"{name}, hostile files arriving",
                                                            plan.think))
            paced = measured.paced
            console.print(f"{name}: paced p50 / p99 {paced.percentile(50):.1f} / {paced.percentile(99):.1f} ms; "
                          f"while {files} hostile files arrived (3 senders, one each a second) "
                          f"{attacked.percentile(50):.1f} / {attacked.percentile(99):.1f} ms, "
                          f"peak {attacked.peak_kib / 1024:.0f} MiB")
        return measured
    finally:
        await process.stop(60)
        await api.stop()


ECHO_CONNECTIONS = 16
"""The tuned echo bot's HTTP connections: as many as the assistant keeps (TELEGRAM_CONNECTIONS)."""


async def bench_echo(plan: Plan, connections: int | None = None) -> Measured:
    """The echo bot as python-telegram-bot makes it, or with at most `connections` HTTP connections."""
    api = FakeBotAPI()
    await api.start()
    env = {"ECHO_CONNECTIONS": str(connections)} if connections else {}
    name = f"echo bot, {connections} connections" if connections else "echo bot (stock)"
    process = BotProcess(api, "", plan.work / f"echo-{connections or 'stock'}.log", command=("bench/echo_bot.py",),
                         **env)
    await process.start()
    measured = Measured()
    try:
        await drive(api, min(plan.largest, 20), 200, None, process.pid, "warm-up")
        for size in plan.sizes:
            measured.flat[size] = await drive(api, size, plan.updates, None, process.pid, name)
        measured.paced = await drive(api, plan.largest, plan.updates // 3, None, process.pid, name, plan.think)
        return measured
    finally:
        await process.stop(60)
        await api.stop()


def report(echoes: list[Measured], runs: list[Measured], plan: Plan) -> None:
    """The tables; "of echo" is the share of the faster echo bot at the same size (the stricter floor)."""
    table = Table(title="Closed loop, flat out: every merchant waits for the answer, then sends the next step")
    for column in ("chats", "bot", "updates/s", "of echo", "CPU ms/update", "p50 ms", "p99 ms", "Bot API calls/step",
                   "in webhook responses/step", "fake server CPU ms/update"):
        table.add_column(column, justify="left" if column == "bot" else "right")
    for size in plan.sizes:
        floor = max(echo.flat[size].rate for echo in echoes)
        for measured in (*echoes, *runs):
            flat = measured.flat[size]
            table.add_row(str(size), flat.name, f"{flat.rate:.0f}", f"{flat.rate / floor:.0%}",
                          f"{flat.cpu / flat.updates * 1000:.2f}", f"{flat.percentile(50):.0f}",
                          f"{flat.percentile(99):.0f}", f"{flat.calls_per_step:.2f}",
                          f"{flat.in_responses / max(flat.updates, 1):.2f}",
                          f"{flat.harness_cpu / max(flat.updates, 1) * 1000:.2f}")
    Console(width=190).print(table)
    paced_table = Table(title=f"{plan.largest} merchants pausing ~{plan.think:g} s between steps")
    for column in ("bot", "updates/s", "p50 ms", "p99 ms", "peak MiB", "KiB per idle chat"):
        paced_table.add_column(column, justify="left" if column == "bot" else "right")
    for measured in (*echoes, *runs):
        paced = measured.paced
        assert paced is not None
        peak = max(paced.peak_kib, *(flat.peak_kib for flat in measured.flat.values()))
        paced_table.add_row(paced.name, f"{paced.rate:.0f}", f"{paced.percentile(50):.1f}",
                            f"{paced.percentile(99):.1f}", f"{peak / 1024:.0f}", f"{paced.growth_kib / paced.chats:.1f}")
    Console(width=170).print(paced_table)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", default="20,100,200", help="sizes, comma-separated")
    parser.add_argument("--updates", type=int, default=1500, help="flat out per size; a third of it paced")
    parser.add_argument("--think", type=float, default=5.0, help="seconds a merchant pauses, paced")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--transport", choices=("polling", "webhook", "both"), default="polling")
    parser.add_argument("--postgres", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_POSTGRES))
    parser.add_argument("--profile", action="store_true", help="sample the bot with py-spy at the largest size")
    parser.add_argument("--hostile", action="store_true", help="paced again while hostile files arrive")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(os.environ.get("BENCH_WORK", folder))
        plan = Plan(sorted({int(size) for size in args.chats.split(",")}), args.updates, args.think, work,
                    args.profile, args.hostile)
        echoes = [await bench_echo(plan), await bench_echo(plan, ECHO_CONNECTIONS)]
        runs: list[Measured] = []
        transports = ("polling", "webhook") if args.transport == "both" else (args.transport,)
        for transport in transports:
            if args.backend in ("sqlite", "both"):
                (work / "load.sqlite3").unlink(missing_ok=True)  # a fresh database every run
                runs.append(await bench_backend("sqlite", f"sqlite+aiosqlite:///{work / 'load.sqlite3'}",
                                                transport, plan))
            if args.backend in ("postgresql", "both"):
                await ensure_postgres_database(args.postgres)
                runs.append(await bench_backend("postgresql", args.postgres, transport, plan))
    report(echoes, runs, plan)


if __name__ == "__main__":
    asyncio.run(main())
