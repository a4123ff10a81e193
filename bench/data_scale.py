"""Benchmark: lookups and imports at a provider's scale — N invoices, ~5,000 companies, one selling 10%.

    .venv/bin/python bench/data_scale.py [--rows 10000,1000000] [--backend sqlite,postgresql]
                                         [--postgres URL] [--ten-million] [--lookups 1000] [--skip-reimport]

For each N and backend, on a fresh database: the invoices are generated as a CSV file (cached in
BENCH_WORK, default a temporary folder), imported with `bot.py import-invoices`' code in a child
process (its rate and peak RSS; then imported again, every row unchanged), beside the floor: the same
file COPYed (PostgreSQL) or inserted in one executemany (SQLite) into a table with the same indexes.
Then every lookup path runs `--lookups` times on one connection (as the bot's unit of work does),
p50/p99/max in ms: found; not found with the near-match search, for a merchant of the big company, of
a small one, and for staff; the lookup limit over a day's log of 20,000 users. Last, EXPLAIN of each
lookup statement (PostgreSQL: after a dozen executions, as the plan cache chooses, forced generic and
forced custom), with the indexes it uses and whether it reads a table whole.

`--postgres` names a database whose public schema is dropped. `--ten-million` adds 10M rows (PostgreSQL).
`--own-cluster 4GB` runs PostgreSQL in a cluster of the benchmark's own instead (initdb in a temporary
folder, removed after), configured as a provider's server would be: that `shared_buffers`, fsync on, WAL
and checkpoints sized for bulk loads (OWN_CLUSTER); the import and its floor run on the same cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the project, not bench/ (its profile.py)

from assistant.merchant.diagnosis import one_typo_away  # noqa: E402
from assistant.domain.identifiers import USCC_ALPHABET  # noqa: E402
from assistant.store.engine import make_engine, make_sessions  # noqa: E402
from assistant.store.migrate import recreate, upgrade  # noqa: E402
from assistant.store.plans import STATEMENTS, explain, indexes_used, whole_reads  # noqa: E402
from assistant.store.uow import sql_units  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
"""TIMEZONE (its default): a time written without a zone is in it."""

HEADER = "code,number,kind,issue_date,amount,tax,total,check_code,seller_tax_id,seller_name,buyer_tax_id," \
         "buyer_name,status,synced_at\n"
COMPANIES = 5000
BIG_SHARE = 0.10
CODES = 40
START = date(2024, 1, 1)
DAYS = 700
SAMPLES = 2000
NOW = datetime(2026, 1, 15, 2, 0, tzinfo=timezone.utc)
USERS = 20_000
DAY_LOG = 200_000
"""A day's lookup log: 200,000 lookups of 20,000 users."""
OWN_CLUSTER = {"max_wal_size": "16GB", "checkpoint_timeout": "30min", "maintenance_work_mem": "1GB",
               "work_mem": "64MB", "effective_cache_size": "16GB", "wal_compression": "on"}
"""`--own-cluster`'s settings beside its shared_buffers (a server tuned for a provider's data, not the defaults)."""


def uscc(rng: random.Random) -> str:
    """A taxpayer id with a valid check character."""
    body = "91110" + "".join(rng.choice("0123456789") for _ in range(12))
    total = sum(USCC_ALPHABET.index(char) * pow(3, i, 31) for i, char in enumerate(body))
    return body + USCC_ALPHABET[(31 - total % 31) % 31]


def generate(path: Path, rows: int) -> dict[str, Any]:
    """The CSV of `rows` invoices and a sample of them (cached beside it)."""
    sample_path = path.with_suffix(".json")
    if path.exists() and sample_path.exists():
        return json.loads(sample_path.read_text())  # type: ignore[no-any-return]
    rng = random.Random(34)
    companies = [uscc(rng) for _ in range(COMPANIES)]
    big = companies[0]
    codes = [f"0{rng.randrange(10**10, 10**11)}" for _ in range(CODES)]
    every = max(rows // SAMPLES, 1) | 1
    every += every % 5 == 0  # not a multiple of 5: the sample has digital invoices (every fifth row) too
    sample: list[list[str]] = []
    began = time.perf_counter()
    with path.open("w", encoding="utf-8") as handle:
        handle.write(HEADER)
        lines = []
        for i in range(rows):
            digital = i % 5 == 4
            code, number = ("", f"25112{i:015d}") if digital else (codes[i % CODES], f"{i // CODES:08d}")
            issued = (START + timedelta(days=rng.randrange(DAYS))).isoformat()
            cents = rng.randrange(10_000, 10_000_000)
            tax = cents * 13 // 100
            seller = big if rng.random() < BIG_SHARE else companies[rng.randrange(1, COMPANIES)]
            buyer = companies[rng.randrange(COMPANIES)]
            amount, tax_text, total = f"{cents / 100:.2f}", f"{tax / 100:.2f}", f"{(cents + tax) / 100:.2f}"
            lines.append(f"{code},{number},,{issued},{amount},{tax_text},{total},,{seller},销方{seller[-4:]},"
                         f"{buyer},购方{buyer[-4:]},正常,2025-01-01T00:00:00+08:00\n")
            if i % every == 0:
                sample.append([code, number, issued, total, seller])
            if len(lines) >= 10_000:
                handle.write("".join(lines))
                lines = []
        handle.write("".join(lines))
    print(f"  generated {rows:,} invoices in {time.perf_counter() - began:.1f} s", flush=True)
    info = {"rows": rows, "big": big, "small": companies[1], "codes": codes, "sample": sample}
    sample_path.write_text(json.dumps(info))
    return info


# -- import (in a child process, for its peak RSS) --------------------------------------------------------

async def child_import(url: str, path: Path) -> dict[str, Any]:
    from assistant.importer import import_file

    engine = make_engine(url)
    sessions = make_sessions(engine)
    began = time.perf_counter()
    report = await import_file(sessions, path, now=NOW, tz=TZ)
    seconds = time.perf_counter() - began
    await engine.dispose()
    return {"seconds": seconds, "rows": report.rows, "new": report.new, "updated": report.updated,
            "unchanged": report.unchanged, "rejected": report.rejected,
            "reader_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def run_import(url: str, path: Path) -> dict[str, Any]:
    """The import in a child process: its report, seconds and peak RSS (MiB)."""
    child = subprocess.Popen([sys.executable, __file__, "--child-import", url, str(path)], stdout=subprocess.PIPE,
                             text=True)
    assert child.stdout is not None
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = status
    if status != 0:
        raise SystemExit(f"the import failed ({status})")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["rss_mib"] = usage.ru_maxrss / 1024
    return result


def floor_sqlite(database: Path, path: Path) -> float:
    """Seconds to insert the file's rows as they are, one executemany, into a table with the same indexes."""
    import csv

    connection = sqlite3.connect(database)
    connection.execute("DROP TABLE IF EXISTS floor")
    connection.execute("CREATE TABLE floor AS SELECT * FROM invoices WHERE 0")
    for n, columns in enumerate(("code, number", "number", "seller_tax_id", "buyer_tax_id", "issue_date, total",
                                 "issue_date, amount")):
        connection.execute(f"CREATE {'UNIQUE ' if n == 0 else ''}INDEX floor_{n} ON floor ({columns})")
    names = HEADER.strip()
    began = time.perf_counter()
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        connection.executemany(f"INSERT INTO floor ({names}) VALUES ({', '.join('?' * 14)})", reader)
    connection.commit()
    seconds = time.perf_counter() - began
    connection.execute("DROP TABLE floor")
    connection.commit()
    connection.close()
    return seconds


async def floor_postgres(url: str, path: Path) -> float:
    """Seconds to COPY the file into a table with the invoices' columns and indexes."""
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute("DROP TABLE IF EXISTS floor; CREATE TABLE floor (LIKE invoices INCLUDING DEFAULTS"
                                 " INCLUDING INDEXES INCLUDING CONSTRAINTS);"
                                 " ALTER TABLE floor ALTER sync_state SET DEFAULT 'synced'")
        began = time.perf_counter()
        with path.open("rb") as source:
            await connection.copy_to_table("floor", source=source, format="csv", header=True,
                                           force_not_null=["code", "kind", "check_code", "buyer_tax_id", "buyer_name"],
                                           columns=HEADER.strip().split(","))
        seconds = time.perf_counter() - began
        await connection.execute("DROP TABLE floor")
        return seconds
    finally:
        await connection.close()


# -- lookups -----------------------------------------------------------------------------------------------

async def seed_day_log(url: str) -> None:
    """A day's lookup log: DAY_LOG lookups of USERS users, spread over the last 24 hours."""
    engine = make_engine(url)
    sessions = make_sessions(engine)
    from assistant.store.driver import Driver

    rng = random.Random(3)
    async with sessions() as session, session.begin():
        driver = await Driver.of(session)
        rows = [(rng.randrange(USERS), rng.randrange(USERS), "", f"{rng.randrange(10**8):08d}",
                 rng.choice(("found", "found", "not_found", "limited")),
                 driver.when(NOW - timedelta(seconds=rng.randrange(86_400)))) for _ in range(DAY_LOG)]
        await driver.many("INSERT INTO diagnoses (user_id, chat_id, code, number, outcome, created_at)"
                          " VALUES ($1, $2, $3, $4, $5, $6)", rows)
        await driver.run("ANALYZE")
    await engine.dispose()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def lookups(url: str, info: dict[str, Any], count: int) -> dict[str, list[float]]:
    """Each lookup path `count` times, on one connection; ms per lookup (its unit of work included)."""
    engine = make_engine(url, connections=1)
    units = sql_units(make_sessions(engine))
    rows, sample = info["rows"], info["sample"]
    big_sample = [s for s in sample if s[4] == info["big"] and s[0]] or sample
    rng = random.Random(5)
    times: dict[str, list[float]] = {}

    async def near(target: list[str], tax_ids: set[str] | None) -> None:
        code, _, issued, total, _ = target
        number = f"{rows // CODES + rng.randrange(1, 10**6):08d}"  # not stored; its typo variants may be
        async with units() as store:
            assert await store.invoices.find(code, number) is None
            await store.invoices.near(code=code, number=number, codes=one_typo_away(code),
                                      numbers=one_typo_away(number), issued=date.fromisoformat(issued),
                                      money=Decimal(total), tax_ids=tax_ids)

    async def found(target: list[str]) -> None:
        async with units() as store:
            assert await store.invoices.find(target[0] or None, target[1]) is not None

    async def limit(user: int) -> None:
        async with units() as store:
            await store.lookups.recent(user, NOW - timedelta(days=1))

    paths = {
        "found": lambda i: found(sample[i % len(sample)]),
        "not found, merchant of the big company": lambda i: near(big_sample[i % len(big_sample)], {info["big"]}),
        "not found, merchant of a small company": lambda i: near(sample[i % len(sample)], {info["small"]}),
        "not found, staff": lambda i: near(sample[i % len(sample)], None),
        "lookup limit (a day's log)": lambda i: limit(rng.randrange(USERS)),
    }
    for name, step in paths.items():
        spent, cpu = times.setdefault(name, []), times.setdefault(f"{name} (CPU)", [])
        for i in range(count):
            began, began_cpu = time.perf_counter(), time.thread_time()
            await step(i)
            spent.append((time.perf_counter() - began) * 1000)
            cpu.append((time.thread_time() - began_cpu) * 1000)
    await engine.dispose()
    return times


async def plans(url: str, info: dict[str, Any]) -> list[tuple[str, str, set[str], bool, str]]:
    """(statement, mode, indexes used, reads a table whole, plan) of every lookup statement."""
    engine = make_engine(url, connections=1)
    sessions = make_sessions(engine)
    code, number, issued, total, _ = next(s for s in info["sample"] if s[0] and s[4] == info["big"])
    digital = next(s for s in info["sample"] if not s[0])[1]
    day, money = date.fromisoformat(issued), Decimal(total)
    arguments: dict[str, tuple[Any, ...]] = {
        "found (code + number)": (number, code), "found (digital number)": (digital,),
        "near: number variants": (code, sorted(one_typo_away(number))),
        "near: code variants": (number, sorted(one_typo_away(code))),
        "near: same day and money (staff)": (day, money),
        "near: same day and money (merchant)": (day, money, [info["big"]]),
        "lookup limit": (7, NOW - timedelta(days=1)),
    }
    found = []
    async with sessions() as session:
        for statement in STATEMENTS:
            if statement.name not in arguments:
                continue
            async with session.begin():
                explained = await explain(session, statement, *arguments[statement.name])
                await session.rollback()
            for mode, plan in explained.items():
                found.append((statement.name, mode, indexes_used(plan), whole_reads(plan, statement.table), plan))
    await engine.dispose()
    return found


# -- one case ----------------------------------------------------------------------------------------------

def case(backend: str, url: str, csv_path: Path, info: dict[str, Any], count: int, reimport: bool = True) -> None:
    rows = info["rows"]
    print(f"\n## {backend}, {rows:,} invoices", flush=True)

    async def fresh() -> None:
        engine = make_engine(url)
        await (recreate(engine) if backend == "postgresql" else upgrade(engine))
        await engine.dispose()

    asyncio.run(fresh())
    first = run_import(url, csv_path)
    print(f"  (imported; load average {os.getloadavg()[0]:.1f})", flush=True)
    again = run_import(url, csv_path) if reimport else None
    assert first["new"] == rows and (again is None or again["unchanged"] == rows), (first, again)
    floor = (floor_sqlite(Path(url.split("///", 1)[1]), csv_path) if backend == "sqlite"
             else asyncio.run(floor_postgres(url, csv_path)))
    print(f"  (floor measured; load average {os.getloadavg()[0]:.1f})", flush=True)
    rate, floor_rate = rows / first["seconds"], rows / floor
    print(f"import: {first['seconds']:.1f} s, {rate:,.0f} rows/s = {rate / floor_rate:.0%} of the floor "
          f"({'executemany' if backend == 'sqlite' else 'COPY'} into the same indexes: {floor:.1f} s, "
          f"{floor_rate:,.0f} rows/s); peak RSS {first['rss_mib']:.0f} MiB (its reading process: "
          f"{first['reader_rss_mib']:.0f} MiB)")
    if again is not None:
        print(f"re-import (all {rows:,} unchanged): {again['seconds']:.1f} s, {rows / again['seconds']:,.0f} rows/s;"
              f" peak RSS {again['rss_mib']:.0f} MiB")
    asyncio.run(seed_day_log(url))
    times = asyncio.run(lookups(url, info, count))
    print(f"lookups ({count} each, one connection), ms:  p50     p99     max   | this process's CPU: p50 p99")
    for name, spent in times.items():
        if name.endswith("(CPU)"):
            continue
        cpu = times[f"{name} (CPU)"]
        print(f"  {name:<42} {percentile(spent, 0.5):7.2f} {percentile(spent, 0.99):7.2f} {max(spent):7.2f}"
              f"   | {percentile(cpu, 0.5):7.2f} {percentile(cpu, 0.99):7.2f}")
    print("EXPLAIN (indexes used; whole reads):")
    for name, mode, indexes, whole, plan in asyncio.run(plans(url, info)):
        first_line = plan.splitlines()[0].strip()
        print(f"  {name:<38} {mode:<19} {', '.join(sorted(indexes)) or '-':<60} "
              f"{'READS WHOLE' if whole else 'no'}  | {first_line[:70]}")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child-import":
        print(json.dumps(asyncio.run(child_import(sys.argv[2], Path(sys.argv[3])))))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default="10000,1000000", help="invoice counts, comma-separated")
    parser.add_argument("--backend", default="sqlite,postgresql")
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES"),
                        help="a PostgreSQL URL whose public schema may be dropped")
    parser.add_argument("--ten-million", action="store_true", help="also 10M invoices (PostgreSQL only)")
    parser.add_argument("--lookups", type=int, default=1000, help="executions of each lookup path")
    parser.add_argument("--skip-reimport", action="store_true", help="import each file once (saves time at 10M)")
    parser.add_argument("--own-cluster", metavar="SHARED_BUFFERS",
                        help="run PostgreSQL in a cluster of the benchmark's own with this shared_buffers (e.g. 4GB)")
    args = parser.parse_args()
    if args.own_cluster:
        from tests.throwaway_postgres import ThrowawayPostgres

        settings = {"shared_buffers": args.own_cluster, **OWN_CLUSTER}
        cluster = ThrowawayPostgres(settings, fsync=True)
        asyncio.run(cluster.create(migrate=False))
        args.postgres = cluster.url
        print(f"PostgreSQL: a cluster of its own ({cluster.data}): "
              f"{', '.join(f'{name}={value}' for name, value in settings.items())}", flush=True)
        try:
            run(args)
        finally:
            asyncio.run(cluster.destroy())
        return
    run(args)


def run(args: argparse.Namespace) -> None:
    counts = [int(n) for n in args.rows.split(",")]
    backends = args.backend.split(",")
    if "postgresql" in backends and not args.postgres:
        raise SystemExit("give --postgres URL (or BENCH_POSTGRES) for PostgreSQL, or --backend sqlite")
    work = Path(os.environ.get("BENCH_WORK") or tempfile.mkdtemp(prefix="data_scale-"))
    work.mkdir(parents=True, exist_ok=True)
    cases = [(n, b) for n in counts for b in backends] + ([(10_000_000, "postgresql")] if args.ten_million else [])
    for rows, backend in cases:
        csv_path = work / f"invoices-{rows}.csv"
        info = generate(csv_path, rows)
        url = f"sqlite+aiosqlite:///{work}/bench-{rows}.sqlite3" if backend == "sqlite" else args.postgres
        if backend == "sqlite":
            for leftover in work.glob(f"bench-{rows}.sqlite3*"):
                leftover.unlink()
        case(backend, url, csv_path, info, args.lookups, reimport=not args.skip_reimport)
        if backend == "sqlite":
            for leftover in work.glob(f"bench-{rows}.sqlite3*"):
                leftover.unlink()
    print(f"\n(peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)")


if __name__ == "__main__":
    main()
