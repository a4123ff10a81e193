"""Untrusted files are read in a separate process with hard limits; one hostile file hurts nobody else.

The parent (`IsolatedReader`) starts `python -m assistant.runtime.file_reader` for each file, with at most
`workers` at a time, shared fairly: at most one file of a chat in the readers at once, the chats with
files waiting served in turn (round robin), at most `per_chat` of one chat's files waiting (more are
refused, `queue_full`); a file that has to wait says so (`waiting`, with the files ahead of it), so the
merchant can be told. Chats whose files took a full read budget of reader time lately ("heavy": slow or
hostile files) share all readers but one, so one reader is always left for everybody else's photos. The child lowers its CPU priority (nice 19, so the chats' own process is never
starved) and caps its address space (`RLIMIT_AS`) and CPU time before it imports anything, reads the
file from stdin and writes one JSON line. The parent kills it when the wall-time limit passes. A child
that dies (out of memory, a crash in a native library) is simply gone: the next file gets a new one,
and the merchant gets a clear answer.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from assistant import metrics

logger = logging.getLogger(__name__)

MB = 1024 * 1024


@dataclass(frozen=True)
class ReadLimits:
    memory_bytes: int = 1280 * MB
    """Address space: OCR (OpenCV, onnxruntime and the models) maps ~1.1 GB of it (docs/photos.md)."""
    seconds: float = 15.0
    workers: int = 2
    per_chat: int = 3
    """Files of one chat that may wait for a reader (besides the one being read)."""
    heavy_window: float = 600.0
    """A chat whose files used `seconds` of reader time within this many seconds is heavy."""


Waiting = Callable[[int], Awaitable[None]]
"""Told, once, that a file waits for a reader, and how many files will be read before it."""


@dataclass(frozen=True)
class FileRead:
    """What reading a file gave: its fields, or why there are none (a `read_<reason>` reply)."""

    fields: dict[str, str] = field(default_factory=dict)
    source: str = ""
    reason: str = ""
    seconds: float = 0.0
    peak_kb: int = 0
    cpu_seconds: float = 0.0
    """The reader process's own CPU time (what the file cost, however busy the machine was)."""
    table: dict[str, Any] | None = None
    """For a table an admin sent (kind "table"): what importing it would do (`assistant.import_preview`)."""

    @property
    def usable(self) -> bool:
        return "number" in self.fields


class IsolatedReader:
    """Reads files in child processes: bounded memory, bounded time, bounded concurrency, fair shares."""

    def __init__(self, limits: ReadLimits = ReadLimits(), clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._free = limits.workers
        self._reading: dict[int, bool] = {}
        """Chats with a file in a reader, and whether the chat was heavy when it started."""
        self._used: dict[int, collections.deque[tuple[float, float]]] = {}
        """Per chat: (when, seconds) of its recent reads."""
        self._waiting: dict[int, collections.deque[asyncio.Future[None]]] = {}
        self._turns: collections.deque[int] = collections.deque()
        """Chats with files waiting, in the order of their turns."""

    async def read(self, data: bytes, *, file_name: str, mime_type: str, kind: str, today: date, chat_id: int = 0,
                   waiting: Waiting | None = None, now: datetime | None = None, tz: str = "") -> FileRead:
        """Read an invoice file (its fields), or with kind "table" an invoice table's preview (`now` and `tz` for
        its times)."""
        started = self._clock()
        if not await self._turn(chat_id, waiting):
            logger.info("chat %s has %s files waiting for a reader already: %r not read", chat_id,
                        self.limits.per_chat, file_name[:80])
            metrics.FILE_READS.labels(result="queue_full").inc()
            return FileRead(reason="queue_full")
        turn = self._clock()
        metrics.FILE_WAIT.observe(turn - started)
        try:
            header = {"file_name": file_name, "mime_type": mime_type, "kind": kind, "today": today.isoformat()}
            if now is not None:
                header.update(now=now.isoformat(), tz=tz)
            result = await self._run(data, header)
        finally:
            self._record(chat_id, turn)
            self._leave(chat_id)
        elapsed = self._clock() - started
        read = FileRead(fields=dict(result.get("fields") or {}), source=str(result.get("source") or ""),
                        reason=str(result.get("reason") or ""), seconds=elapsed,
                        peak_kb=int(result.get("peak_kb") or 0), cpu_seconds=float(result.get("cpu_seconds") or 0),
                        table=result["table"] if isinstance(result.get("table"), dict) else None)
        logger.info("%s %r read in %.2f s (waited %.2f s, peak %s KB, %.2f s of CPU): %s", kind, file_name[:80],
                    elapsed, turn - started, read.peak_kb, read.cpu_seconds, read.source or read.reason)
        metrics.FILE_READS.labels(result="read" if read.usable or read.table else read.reason or "no_fields").inc()
        metrics.FILE_READ_SECONDS.observe(elapsed - (turn - started))
        return read

    # -- fair shares -------------------------------------------------------------------------------------
    async def _turn(self, chat_id: int, waiting: Waiting | None) -> bool:
        """Wait for this chat's turn at a reader; False when the chat has `per_chat` files waiting already."""
        if self._free > 0 and chat_id not in self._reading and not self._turns and self._may_start(chat_id):
            self._start(chat_id)
            return True
        queue = self._waiting.setdefault(chat_id, collections.deque())
        if len(queue) >= self.limits.per_chat:
            return False
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(turn)
        if chat_id not in self._turns:
            self._turns.append(chat_id)
        self._next()
        if not turn.done() and waiting is not None:
            try:
                await waiting(self.ahead(chat_id, len(queue) - 1))
            except Exception:  # noqa: BLE001 - telling is a courtesy; the file is read all the same
                logger.warning("chat %s: could not say that its file waits", chat_id, exc_info=True)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._leave(chat_id)  # given a reader just as it was cancelled
            elif turn in queue:
                queue.remove(turn)
            raise
        return True

    def ahead(self, chat_id: int, own: int = 0) -> int:
        """Files to be read before a chat's file that has `own` files of its chat before it, turn by turn."""
        turns = list(self._turns)
        place = turns.index(chat_id) if chat_id in turns else len(turns)
        others = sum(min(len(self._waiting.get(chat, ())), own + (1 if index < place else 0))
                     for index, chat in enumerate(turns) if chat != chat_id)
        return others + own + len(self._reading)

    def _record(self, chat_id: int, since: float) -> None:
        now = self._clock()
        used = self._used.setdefault(chat_id, collections.deque())
        used.append((now, now - since))
        while used and used[0][0] < now - self.limits.heavy_window:
            used.popleft()
        if len(self._used) > 10_000:  # bounded: forget the chats that read nothing lately
            for chat in [c for c, u in self._used.items() if not u or u[-1][0] < now - self.limits.heavy_window]:
                del self._used[chat]

    def heavy(self, chat_id: int) -> bool:
        """Whether a chat's files used a full read budget of reader time lately."""
        since = self._clock() - self.limits.heavy_window
        return sum(s for when, s in self._used.get(chat_id, ()) if when >= since) >= self.limits.seconds

    def _may_start(self, chat_id: int) -> bool:
        """Heavy chats share all readers but one (with one reader, there is none to keep)."""
        if self.limits.workers < 2 or not self.heavy(chat_id):
            return True
        return sum(self._reading.values()) < self.limits.workers - 1

    def _start(self, chat_id: int) -> None:
        self._free -= 1
        self._reading[chat_id] = self.heavy(chat_id)

    def _leave(self, chat_id: int) -> None:
        self._free += 1
        self._reading.pop(chat_id, None)
        self._next()

    def _next(self) -> None:
        """Give free readers to the chats whose turn it is: one file each, chats in turn."""
        while self._free > 0:
            for _ in range(len(self._turns)):
                chat_id = self._turns.popleft()
                queue = self._waiting.get(chat_id)
                if not queue:
                    self._waiting.pop(chat_id, None)
                    continue
                if chat_id in self._reading or not self._may_start(chat_id):
                    self._turns.append(chat_id)  # one file of a chat at a time; heavy chats leave one reader
                    continue
                turn = queue.popleft()
                if queue:
                    self._turns.append(chat_id)  # its next file: after every other chat's
                else:
                    del self._waiting[chat_id]
                if turn.done():  # cancelled meanwhile
                    continue
                self._start(chat_id)
                turn.set_result(None)
                break
            else:
                return

    async def _run(self, data: bytes, header: dict[str, str]) -> dict[str, Any]:
        limits = self.limits
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "assistant.runtime.file_reader", str(limits.memory_bytes), str(int(limits.seconds) + 1),
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


def _table(data: bytes, header: dict[str, str]) -> dict[str, Any]:
    """An invoice table's preview (what importing it would do), its times in the header's zone."""
    from zoneinfo import ZoneInfo

    from assistant.import_preview import preview_bytes

    return preview_bytes(data, file_name=header["file_name"], now=datetime.fromisoformat(header["now"]),
                         tz=ZoneInfo(header.get("tz") or "Asia/Shanghai"))


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
        if header["kind"] == "table":
            result = {"table": _table(data, header), "source": "table"}
        else:
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
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 3)
    sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    _child(int(sys.argv[1]), int(sys.argv[2]))
