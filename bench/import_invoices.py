"""Benchmark: import N generated invoices from CSV into a fresh SQLite file (and PostgreSQL if given).

    .venv/bin/python bench/import_invoices.py [--rows 100000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.importer import import_file  # noqa: E402
from assistant.store.engine import make_engine, make_sessions  # noqa: E402
from assistant.store.migrate import recreate, upgrade  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
"""TIMEZONE (its default): a time written without a zone is in it."""

HEADER = ["code", "number", "kind", "issue_date", "amount", "tax", "total", "check_code", "seller_tax_id",
          "seller_name", "buyer_tax_id", "buyer_name", "status", "synced_at"]


def generate(path: Path, rows: int) -> None:
    rng = random.Random(7)
    start = date(2024, 1, 1)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(rows):
            issued = start + timedelta(days=rng.randrange(700))
            amount = rng.randrange(100, 10_000_000) / 100
            writer.writerow([f"0110{issued.year % 100:02d}{i // 100_000:03d}11"[:12].rjust(12, "0"),
                             f"{i:08d}", "", issued.isoformat(), f"{amount:.2f}", f"{amount * 0.13:.2f}",
                             f"{amount * 1.13:.2f}", f"{rng.randrange(10**19, 10**20)}",
                             f"9111010{rng.randrange(10**10, 10**11)}", "销方", "91110000600037341L", "购方",
                             rng.choice(["正常"] * 20 + ["作废", "红冲"]), "2025-01-01T00:00:00+08:00"])


async def run(url: str, path: Path, reset: bool) -> tuple[float, float]:
    engine = make_engine(url)
    await (recreate(engine) if reset else upgrade(engine))
    sessions = make_sessions(engine)
    now = datetime.now(timezone.utc)
    began = time.perf_counter()
    first = await import_file(sessions, path, now=now, tz=TZ)
    first_seconds = time.perf_counter() - began
    began = time.perf_counter()
    second = await import_file(sessions, path, now=now, tz=TZ)
    second_seconds = time.perf_counter() - began
    await engine.dispose()
    assert first.new == first.rows and second.unchanged == second.rows, (first, second)
    return first_seconds, second_seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--postgres", help="a PostgreSQL URL whose public schema may be dropped")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "invoices.csv"
        generate(path, args.rows)
        targets = [("sqlite", f"sqlite+aiosqlite:///{folder}/bench.sqlite3", False)]
        if args.postgres:
            targets.append(("postgresql", args.postgres, True))
        for name, url, reset in targets:
            first, second = asyncio.run(run(url, path, reset))
            print(f"{name}: {args.rows} rows imported in {first:.1f} s ({args.rows / first:,.0f} rows/s); "
                  f"re-import (all unchanged) in {second:.1f} s")


if __name__ == "__main__":
    main()
