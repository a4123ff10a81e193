"""Measure the document readers on a folder of real files described by a truth.json.

    .venv/bin/python bench/realdocs.py [FOLDER]      (default ../shared/realdocs)

Each file is read as the bot reads it (the isolated reader process, with its limits) and scored:
correct (every field the verification needs, none wrong), missing (nothing wrong, something to type),
refused (a non-invoice refused: correct) or WRONG (a field that differs from the truth, or a
non-invoice accepted). The goal is at least 95% correct and no WRONG at all.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

from assistant.runtime.file_reader import FileRead, IsolatedReader, ReadLimits

DEFAULT_FOLDER = Path(__file__).resolve().parent.parent.parent / "shared" / "realdocs"
COMPARED = ("code", "number", "date", "amount", "check_code", "total")
NEEDED = {"digital": "total", "special": "amount", "e_special": "amount"}
"""The fourth field the verification needs, by family (the others need the check code)."""


@dataclass(frozen=True)
class Verdict:
    file: str
    outcome: str
    """correct, missing, wrong"""
    detail: str
    source: str


def score(file: str, truth: dict[str, str], read: FileRead) -> Verdict:
    fields = read.fields if read.usable else {}
    source = read.source or read.reason
    if truth.get("negative"):
        if fields:
            return Verdict(file, "wrong", f"a non-invoice accepted: {fields}", source)
        return Verdict(file, "correct", "refused", source)
    wrong = {name: (fields[name], truth[name]) for name in COMPARED
             if name in fields and name in truth and fields[name] != truth[name]}
    wrong |= {name: (fields[name], None) for name in ("code", "check_code") if name in fields and name not in truth}
    if wrong:
        return Verdict(file, "wrong", ", ".join(f"{name} {got} (truth {want})" for name, (got, want) in wrong.items()),
                       source)
    needed = [name for name in ("code", "number", "date") if name in truth]
    needed.append(NEEDED.get(truth.get("family", ""), "check_code"))
    missing = [name for name in needed if name in truth and name not in fields]
    if missing:
        return Verdict(file, "missing", "to type: " + ", ".join(missing), source)
    return Verdict(file, "correct", "", source)


async def measure(folder: Path, today: date) -> list[Verdict]:
    reader = IsolatedReader(ReadLimits(workers=4))
    entries = json.loads((folder / "truth.json").read_text(encoding="utf-8"))

    async def one(chat_id: int, entry: dict) -> Verdict:
        path = folder / entry["file"]
        read = await reader.read(path.read_bytes(), file_name=path.name, mime_type="", kind="document", today=today,
                                 chat_id=chat_id)  # each file as sent by a merchant of its own (a chat's line is short)
        return score(entry["file"], entry["truth"], read)

    return list(await asyncio.gather(*(one(chat_id, entry) for chat_id, entry in enumerate(entries, start=1))))


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_FOLDER
    if not (folder / "truth.json").exists():
        sys.exit(f"no truth.json in {folder}")
    verdicts = asyncio.run(measure(folder, date.today()))
    table = Table("file", "outcome", "read from", "detail")
    for verdict in verdicts:
        style = {"wrong": "bold red", "missing": "yellow"}.get(verdict.outcome, "")
        table.add_row(verdict.file, verdict.outcome, verdict.source, verdict.detail, style=style)
    console = Console()
    console.print(table)
    counts = {outcome: sum(v.outcome == outcome for v in verdicts) for outcome in ("correct", "missing", "wrong")}
    console.print(f"{len(verdicts)} files: {counts['correct']} correct ({counts['correct'] / len(verdicts):.0%}), "
                  f"{counts['missing']} with fields to type, {counts['wrong']} wrong")


if __name__ == "__main__":
    main()
