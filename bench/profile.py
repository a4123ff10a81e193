"""Sample a running process with py-spy and summarise where its time went (self and inclusive)."""

from __future__ import annotations

import asyncio
import collections
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


@dataclass
class Profile:
    """Where the samples fell: per function, itself on top of the stack and anywhere in it."""

    samples: int
    own: collections.Counter[str]
    inclusive: collections.Counter[str]
    packages: collections.Counter[str]
    """Own time per package (sqlalchemy, telegram, asyncio, …) or per module of this project."""

    def top(self, count: int = 15, inclusive: bool = False) -> list[tuple[str, float]]:
        counter = self.inclusive if inclusive else self.own
        return [(name, n / max(self.samples, 1)) for name, n in counter.most_common(count)]

    def top_packages(self, count: int = 12) -> list[tuple[str, float]]:
        return [(name, n / max(self.samples, 1)) for name, n in self.packages.most_common(count)]


def package_of(name: str) -> str:
    """`f (sqlalchemy/orm/session.py)` -> `sqlalchemy`; this project's modules keep their path."""
    path = name.rpartition(" (")[2].rstrip(")")
    if path.startswith(("assistant/", "flows/")):
        return path
    return path.split("/", 1)[0] if "/" in path else path.removesuffix(".py")


def frame_name(frame: str) -> str:
    """`function (path/to/file.py:12)` -> `function (file.py)`, with the path shortened to what names it."""
    match = FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match['function']} ({path})"


def summarise(raw: str) -> Profile:
    """Read py-spy's raw (collapsed-stack) output: `frame;frame;frame count` per line."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [frame_name(frame) for frame in stack.split(";")]
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        samples += n
        own[frames[-1]] += n
        packages[package_of(frames[-1])] += n
        for name in set(frames):
            inclusive[name] += n
    return Profile(samples, own, inclusive, packages)


class Sampler:
    """`py-spy record` attached to a process for as long as the `async with` block lasts."""

    def __init__(self, pid: int, out: Path, rate: int = 250) -> None:
        self.pid, self.out, self.rate = pid, out, rate
        self.process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Sampler:
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self.process = await asyncio.create_subprocess_exec(
            spy, "record", "--pid", str(self.pid), "--format", "raw", "--rate", str(self.rate), "--nonblocking", "--gil",
            "--output", str(self.out), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        await asyncio.sleep(0.5)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.process is not None
        self.process.send_signal(2)  # SIGINT: py-spy writes what it has and exits
        await asyncio.wait_for(self.process.wait(), 60)

    def profile(self) -> Profile:
        return summarise(self.out.read_text() if self.out.exists() else "")
