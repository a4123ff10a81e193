"""Measure the document readers on a folder of real files described by a truth.json.

    .venv/bin/python bench/realdocs.py [FOLDER] [--no-derived]      (default ../shared/realdocs)

Each file is read as the bot reads it (the isolated reader process, with its limits), one at a time so
that each file's time is its own, and scored: correct (every field the verification needs, none wrong),
missing (nothing wrong, something to type), refused (a non-invoice refused: correct) or WRONG (a field
that differs from the truth, or a non-invoice accepted). The goal is at least 95% correct and no WRONG.

Besides the files themselves, every image is also read as a merchant may send it (`derived`, unless
--no-derived): printed and scanned (an image-only PDF), photographed again turned a quarter, at half
size, askew in perspective, blurred, and recompressed hard. Times are reported per file and per kind
(p50, p95) with the reader's peak memory.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

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
    seconds: float = 0.0
    peak_kb: int = 0
    cpu_seconds: float = 0.0

    @property
    def kind(self) -> str:
        """img, pdf, ofd, xml, neg, or how an image was derived (scan, turned, …)."""
        return self.file.split(":", 1)[0] if ":" in self.file else self.file.split("/", 1)[0]


def scanned_pdf(image: Any) -> bytes:
    """The image printed and scanned: a PDF page holding only the image, no text layer."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PDF", resolution=150.0)
    return buffer.getvalue()


def _jpeg(image: Any, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _askew(image: Any) -> Any:
    """Photographed from a little to the side and below: a keystone, the page turned 3 degrees."""
    from PIL import Image

    width, height = image.size
    turned = image.convert("RGB").rotate(3, expand=True, fillcolor=(128, 128, 128),
                                         resample=Image.Resampling.BICUBIC)
    width, height = turned.size
    inset = 0.06
    # The top edge samples a wider strip than the bottom (upper-left, lower-left, lower-right, upper-right):
    # the page's top comes out narrower, as seen from below; nothing of the page is cut off.
    quad = (-width * inset, 0, 0, height, width, height, width * (1 + inset), 0)
    return turned.transform((width, height), Image.Transform.QUAD, quad, resample=Image.Resampling.BICUBIC,
                            fillcolor=(128, 128, 128))


def _blurred(image: Any) -> Any:
    """Out of focus, a little."""
    from PIL import ImageFilter

    return image.filter(ImageFilter.GaussianBlur(1.2))


PHOTO_VARIANTS: dict[str, Callable[[Any], bytes]] = {
    "scan": scanned_pdf,
    "turned": lambda image: _jpeg(image.rotate(90, expand=True)),
    "half": lambda image: _jpeg(image.resize((image.width // 2, image.height // 2))),
    "askew": lambda image: _jpeg(_askew(image)),
    "blurred": lambda image: _jpeg(_blurred(image)),
    "recompressed": lambda image: _jpeg(image, quality=30),
}
"""How a merchant may send the same paper invoice: printed and scanned, turned, smaller, askew, blurred…"""


def derived(folder: Path, entries: list[dict[str, Any]]) -> list[tuple[str, bytes, dict[str, str]]]:
    """(name, content, truth) of each image of the folder as each PHOTO_VARIANTS makes it."""
    from PIL import Image, ImageOps

    made = []
    for entry in entries:
        if not entry["file"].startswith("img/"):
            continue
        image = ImageOps.exif_transpose(Image.open(folder / entry["file"]))
        for name, make in PHOTO_VARIANTS.items():
            made.append((f"{name}:{entry['file']}", make(image), entry["truth"]))
    return made


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


async def measure(folder: Path, today: date, *, with_derived: bool = False, at_once: int = 4) -> list[Verdict]:
    """Every file read and scored; `at_once` files are read together (1: each file's time is its own)."""
    reader = IsolatedReader(ReadLimits(workers=at_once))
    entries = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    files = [(entry["file"], (folder / entry["file"]).read_bytes(), entry["truth"]) for entry in entries]
    if with_derived:
        files += derived(folder, entries)
    turns = asyncio.Semaphore(at_once)

    async def one(chat_id: int, name: str, content: bytes, truth: dict[str, str]) -> Verdict:
        async with turns:
            started = time.monotonic()
            read = await reader.read(content, file_name=name.rsplit("/", 1)[-1], mime_type="", kind="document",
                                     today=today, chat_id=chat_id)  # each file as a merchant of its own sends it
            seconds = time.monotonic() - started
        verdict = score(name, truth, read)
        return Verdict(verdict.file, verdict.outcome, verdict.detail, verdict.source, seconds, read.peak_kb,
                       read.cpu_seconds)

    return list(await asyncio.gather(*(one(chat_id, *file) for chat_id, file in enumerate(files, start=1))))


def percentile(values: list[float], share: float) -> float:
    """The value `share` of the values are at most (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1))]


def main() -> None:
    arguments = [argument for argument in sys.argv[1:] if not argument.startswith("--")]
    folder = Path(arguments[0]) if arguments else DEFAULT_FOLDER
    if not (folder / "truth.json").exists():
        sys.exit(f"no truth.json in {folder}")
    verdicts = asyncio.run(measure(folder, date.today(), with_derived="--no-derived" not in sys.argv, at_once=1))
    table = Table("file", "outcome", "read from", "s", "CPU s", "peak MB", "detail")
    for verdict in verdicts:
        style = {"wrong": "bold red", "missing": "yellow"}.get(verdict.outcome, "")
        table.add_row(verdict.file, verdict.outcome, verdict.source, f"{verdict.seconds:.2f}",
                      f"{verdict.cpu_seconds:.2f}", f"{verdict.peak_kb / 1024:.0f}", verdict.detail, style=style)
    console = Console(width=200)
    console.print(table)
    kinds = Table("kind", "files", "correct", "to type", "wrong", "p50 s", "p95 s", "max s", "CPU p50", "CPU p95",
                  "peak MB")
    groups = {kind: [verdict for verdict in verdicts if verdict.kind == kind]
              for kind in dict.fromkeys(verdict.kind for verdict in verdicts)}
    groups["all photos and scans"] = [verdict for verdict in verdicts if verdict.kind not in ("pdf", "ofd", "xml")]
    groups["read by OCR"] = [verdict for verdict in verdicts if verdict.source.endswith("ocr")]
    for kind, group in groups.items():
        if not group:
            continue
        seconds = [verdict.seconds for verdict in group]
        cpu = [verdict.cpu_seconds for verdict in group]
        kinds.add_row(kind, str(len(group)), *(str(sum(v.outcome == outcome for v in group))
                                               for outcome in ("correct", "missing", "wrong")),
                      f"{statistics.median(seconds):.2f}", f"{percentile(seconds, 0.95):.2f}", f"{max(seconds):.2f}",
                      f"{statistics.median(cpu):.2f}", f"{percentile(cpu, 0.95):.2f}",
                      f"{max(verdict.peak_kb for verdict in group) / 1024:.0f}")
    console.print(kinds)
    console.print(f"load average while measuring: {' '.join(f'{load:.1f}' for load in os.getloadavg())} "
                  f"on {os.cpu_count()} cores (the time is the reader's; CPU s is its own, whatever the load)")
    counts = {outcome: sum(v.outcome == outcome for v in verdicts) for outcome in ("correct", "missing", "wrong")}
    console.print(f"{len(verdicts)} files: {counts['correct']} correct ({counts['correct'] / len(verdicts):.0%}), "
                  f"{counts['missing']} with fields to type, {counts['wrong']} wrong")


if __name__ == "__main__":
    main()
