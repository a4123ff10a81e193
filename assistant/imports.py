"""Invoice imports an admin confirmed in Telegram: run by a runtime job, outside any handler and transaction.

The job (`ImportRunner.run_all`, started by the serving loop like the broadcast runner) takes confirmed
imports one at a time, held by one process (a crashed process's hold runs out and another takes the import
up again: importing a file twice changes nothing). For each it fetches the file again by Telegram's file id,
hands it to the importer (bot.py's runs `assistant.importer.import_file` in a thread of its own, off the
event loop), edits a progress message while it runs and ends with the report, in the admin's language, with
the rejected rows' reasons in the file's own column names. Audited like every admin action.

The progress message and the report are outputs like any other: stored in the outbox in the transaction
that decides them, carried out after it (`execute`), sent again by whichever process looks next.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from assistant.domain.documents import MAX_BYTES
from assistant.import_reasons import say
from assistant.importer import FileKindError, ImportReport, RowError, reason
from assistant.outputs import Out, Progress, Reply
from assistant.replies import Renderer
from assistant.store.contracts import UnitOfWork, Units

logger = logging.getLogger(__name__)

Fetch = Callable[[str, int], Awaitable[bytes]]
"""Downloads a file by the transport's file id, at most the given number of bytes."""
Importer = Callable[[Path, Callable[[int], None]], Awaitable[ImportReport]]
"""Imports a file on disk, telling how many rows it has read as it goes (called on this event loop)."""
Executor = Callable[[list[Out]], Awaitable[None]]

SHOWN = 10
"""Rejected rows and warnings a report lists (the first ones); the rest are counted."""
POSTING = -1
"""progress_message_id once the progress message is in the outbox, until Telegram's id is recorded."""


class ImportRunner:
    """Runs confirmed imports; several processes may run it (each import is held by one)."""

    def __init__(self, units: Units, renderer: Renderer, fetch: Fetch, importer: Importer, execute: Executor,
                 clock: Callable[[], datetime], *, progress_every: float = 2.0,
                 outbox_lease: timedelta = timedelta(seconds=30), owner: str | None = None,
                 hold_for: timedelta = timedelta(minutes=2), download_seconds: float = 60.0) -> None:
        self.units = units
        self.renderer = renderer
        self.fetch = fetch
        self.importer = importer
        self.execute = execute
        self.clock = clock
        self.progress_every = progress_every
        self.outbox_lease = outbox_lease
        self.owner = owner
        self.runner = (owner or f"runner:{secrets.token_hex(8)}")[:40]
        self.hold_for = hold_for
        self.download_seconds = download_seconds

    async def run_all(self) -> None:
        async with self.units() as store:
            ids = await store.imports.due(self.clock())
        for import_id in ids:
            await self.run(import_id)

    async def _hold(self, import_id: int) -> bool:
        now = self.clock()
        async with self.units() as store:
            return await store.imports.hold(import_id, self.runner, now, now + self.hold_for)

    async def run(self, import_id: int) -> None:
        if not await self._hold(import_id):
            logger.debug("import %s is run by another process", import_id)
            return
        async with self.units() as store:
            pending = await store.imports.get(import_id)
            if pending is None:
                return
            admin = await store.users.get(pending.admin_id)
            language = admin.language if admin is not None else "zh"
            chat_id, file_id, name, size = pending.chat_id, pending.file_id, pending.file_name, pending.size
            posting: list[Out] = []
            if pending.progress_message_id is None:
                await store.imports.progress_posted(import_id, POSTING)  # Telegram's id recorded once posted
                posting = await self._enqueue(store, [self._progress(import_id, chat_id, language, name, 0, None)])
        await self._carry_out(import_id, posting)
        logger.info("import %s: %r (%s bytes) for admin %s", import_id, name[:80], size, chat_id)
        try:
            async with asyncio.timeout(self.download_seconds):
                data = await self.fetch(file_id, MAX_BYTES)
        except Exception as error:  # noqa: BLE001 - the admin is told; the file may be sent again
            logger.warning("import %s: could not fetch %r: %s", import_id, name[:80], error)
            await self._finish(import_id, language, chat_id, name, "failed", "import_fetch_failed", {})
            return
        rows = [0]
        try:
            with tempfile.TemporaryDirectory(prefix="import-") as folder:
                path = Path(folder) / "invoices"
                await asyncio.to_thread(path.write_bytes, data)
                del data
                report = await self._import(import_id, path, rows, language, chat_id, name)
        except (FileKindError, RowError) as error:  # the file changed since its preview, or cannot be read now
            await self._finish(import_id, language, chat_id, name, "failed", "import_failed",
                               {"error": say(self.renderer, language, error.reason)})
            return
        except Exception as error:  # noqa: BLE001 - logged; the admin is told it did not finish
            logger.exception("import %s failed", import_id)
            internal = reason(f"an internal error ({type(error).__name__}), logged", "internal",
                              error=type(error).__name__)
            await self._finish(import_id, language, chat_id, name, "failed", "import_failed",
                               {"error": say(self.renderer, language, internal)}, rows=rows[0])
            return
        await self._finish(import_id, language, chat_id, name, "done", "import_report", {
            "rows": report.rows, "new": report.new, "updated": report.updated, "unchanged": report.unchanged,
            "rejected": report.rejected,
            "errors": [(row, say(self.renderer, language, why)) for row, why in report.errors[:SHOWN]],
            "warnings": [(row, say(self.renderer, language, why)) for row, why in report.warnings[:SHOWN]],
            "more_errors": max(0, report.rejected - SHOWN), "more_warnings": max(0, len(report.warnings) - SHOWN)},
            rows=report.rows, report=report)

    async def _import(self, import_id: int, path: Path, rows: list[int], language: str, chat_id: int,
                      name: str) -> ImportReport:
        """The importer, with the progress message edited every `progress_every` seconds and the hold renewed."""
        def read(count: int) -> None:
            rows[0] += count

        task = asyncio.ensure_future(self.importer(path, read))
        shown = 0
        last = time.monotonic()
        while not task.done():
            await asyncio.wait([task], timeout=self.progress_every)
            if task.done() or time.monotonic() - last < self.progress_every:
                continue
            last = time.monotonic()
            await self._hold(import_id)
            if rows[0] != shown:
                shown = rows[0]
                await self._edit_progress(import_id, language, chat_id, name, shown)
        return task.result()

    def _progress(self, import_id: int, chat_id: int, language: str, name: str, rows: int,
                  message_id: int | None, done: bool = False) -> Progress:
        return Progress(import_id, chat_id, self.renderer.text("import_progress", language, name=name, rows=rows,
                                                               done=done), message_id, job="import")

    async def _edit_progress(self, import_id: int, language: str, chat_id: int, name: str, rows: int,
                             done: bool = False) -> None:
        """Edit the progress message, once Telegram's id for it is known (a courtesy: importing goes on)."""
        async with self.units() as store:
            pending = await store.imports.get(import_id)
            if pending is None or pending.progress_message_id is None or pending.progress_message_id < 0:
                return
            outputs = await self._enqueue(store, [self._progress(import_id, chat_id, language, name, rows,
                                                                 pending.progress_message_id, done)])
        await self._carry_out(import_id, outputs)

    async def _finish(self, import_id: int, language: str, chat_id: int, name: str, state: str, key: str,
                      context: dict[str, Any], rows: int = 0, report: ImportReport | None = None) -> None:
        """Done or failed: the report (or why not) for the admin, audited, in one transaction."""
        now = self.clock()
        async with self.units() as store:
            if not await store.imports.finish(import_id, self.runner, state, now):
                logger.warning("import %s: another process took it over; its report is theirs", import_id)
                return
            pending = await store.imports.get(import_id)
            detail: dict[str, Any] = {"import": import_id, "file": name[:120], "via": "telegram", "state": state}
            if report is not None:
                detail.update(rows=report.rows, new=report.new, updated=report.updated,
                              unchanged=report.unchanged, rejected=report.rejected)
            else:
                detail.update(reason=key, error=str(context.get("error", ""))[:200])
            await store.audit.add(actor_id=pending.admin_id if pending else None, action="invoices_imported",
                                  allowed=True, detail=detail, now=now)
            outputs: list[Out] = []
            if pending is not None and pending.progress_message_id is not None and pending.progress_message_id >= 0:
                outputs.append(self._progress(import_id, chat_id, language, name, rows, pending.progress_message_id,
                                              done=True))
            outputs.append(Reply(self.renderer.text(key, language, name=name, **context), chat_id=chat_id))
            outputs = await self._enqueue(store, outputs)
        await self._carry_out(import_id, outputs)
        logger.info("import %s %s: %s", import_id, state, detail)

    async def _enqueue(self, store: UnitOfWork, outputs: list[Out]) -> list[Out]:
        return await store.outbox.enqueue(outputs, self.clock(), self.outbox_lease, self.owner)

    async def _carry_out(self, import_id: int, outputs: list[Out]) -> None:
        """Carry out what is in the outbox now; what fails stays there and is sent again later."""
        if not outputs:
            return
        try:
            await self.execute(outputs)
        except Exception as error:  # noqa: BLE001 - a courtesy: the outbox has it
            logger.info("import %s: message not shown yet (%s); the outbox has it", import_id, error)
