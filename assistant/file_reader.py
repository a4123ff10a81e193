"""Untrusted files are read in a separate process with hard limits; one hostile file hurts nobody else.

The parent (`IsolatedReader`) starts `python -m assistant.file_reader` for each file, with at most
`workers` at a time. The child lowers its CPU priority (nice 19, so the chats' own process is never
starved) and caps its address space (`RLIMIT_AS`) and CPU time before it imports anything, reads the
file from stdin and writes one JSON line. The parent kills it when the wall-time limit passes. A child
that dies (out of memory, a crash in a native library) is simply gone: the next file gets a new one,
and the merchant gets a clear answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

logger = logging.getLogger(__name__)

MB = 1024 * 1024


@dataclass(frozen=True)
class ReadLimits:
    memory_bytes: int = 512 * MB
    seconds: float = 15.0
    workers: int = 2


@dataclass(frozen=True)
class FileRead:
    """What reading a file gave: its fields, or why there are none (a `read_<reason>` reply)."""

    fields: dict[str, str] = field(default_factory=dict)
    source: str = ""
    reason: str = ""
    seconds: float = 0.0
    peak_kb: int = 0

    @property
    def usable(self) -> bool:
        return "number" in self.fields


class IsolatedReader:
    """Reads files in child processes: bounded memory, bounded time, bounded concurrency."""

    def __init__(self, limits: ReadLimits = ReadLimits()) -> None:
        self.limits = limits
        self._slots = asyncio.Semaphore(limits.workers)

    async def read(self, data: bytes, *, file_name: str, mime_type: str, kind: str, today: date) -> FileRead:
        started = time.monotonic()
        async with self._slots:
            result = await self._run(data, {"file_name": file_name, "mime_type": mime_type, "kind": kind,
                                            "today": today.isoformat()})
        elapsed = time.monotonic() - started
        read = FileRead(fields=dict(result.get("fields") or {}), source=str(result.get("source") or ""),
                        reason=str(result.get("reason") or ""), seconds=elapsed,
                        peak_kb=int(result.get("peak_kb") or 0))
        logger.info("%s %r read in %.2f s (peak %s KB): %s", kind, file_name[:80], elapsed, read.peak_kb,
                    read.source or read.reason)
        return read

    async def _run(self, data: bytes, header: dict[str, str]) -> dict[str, Any]:
        limits = self.limits
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "assistant.file_reader", str(limits.memory_bytes), str(int(limits.seconds) + 1),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            async with asyncio.timeout(limits.seconds):
                out, err = await self._exchange(process, json.dumps(header).encode() + b"\n", data)
        except TimeoutError:
            process.kill()
            await process.wait()
            logger.warning("reading %r took longer than %.0f s: stopped", header["file_name"][:80], limits.seconds)
            return {"reason": "too_slow"}
        if process.returncode != 0 or not out.strip():
            logger.warning("file reader died (exit %s) on %r: %s", process.returncode, header["file_name"][:80],
                           err.decode(errors="replace")[-500:])
            return {"reason": "too_complex"}
        try:
            return dict(json.loads(out.decode().strip().splitlines()[-1]))
        except (ValueError, IndexError):
            return {"reason": "failed"}

    @staticmethod
    async def _exchange(process: asyncio.subprocess.Process, header: bytes, data: bytes) -> tuple[bytes, bytes]:
        """Write the header and the file (no concatenated copy), read what the child says."""
        assert process.stdin is not None and process.stdout is not None and process.stderr is not None
        output = asyncio.gather(process.stdout.read(), process.stderr.read())
        try:
            process.stdin.write(header)
            process.stdin.write(data)
            await process.stdin.drain()
            process.stdin.close()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the child died early; its exit code tells
        out, err = await output
        await process.wait()
        return out, err


def _limit(memory_bytes: int, cpu_seconds: int) -> None:
    """Hard limits, and the lowest CPU priority: the bot's own process always goes first."""
    import os
    import resource

    os.nice(19)
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _peak_kb() -> int:
    """This process's peak resident memory. VmHWM belongs to this program alone; `ru_maxrss` would carry
    over the parent's peak from before the exec."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _child(memory_bytes: int, cpu_seconds: int) -> None:
    """The child's side: limits first, then read stdin, then one JSON line on stdout."""
    _limit(memory_bytes, cpu_seconds)
    raw = sys.stdin.buffer.read()
    head, _, data = raw.partition(b"\n")
    header = json.loads(head)
    del raw
    from assistant.domain.documents import ReadError, read_document

    result: dict[str, Any]
    try:
        read = read_document(data, file_name=header["file_name"], mime_type=header["mime_type"],
                             kind=header["kind"], today=date.fromisoformat(header["today"]))
        result = {"fields": read.fields, "source": read.source}
    except ReadError as error:
        result = {"reason": error.reason}
    except MemoryError:
        result = {"reason": "too_complex"}
    except Exception as error:  # noqa: BLE001 - any other failure is "could not read", never a crash upstream
        result = {"reason": "failed", "error": f"{type(error).__name__}: {error}"[:300]}
    result["peak_kb"] = _peak_kb()
    sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    _child(int(sys.argv[1]), int(sys.argv[2]))
