"""An admin imports invoices in chat: a table previewed (read in the isolated reader), imported once on
confirmation by the import runner, reported in the admin's language; on the memory store and on SQL."""

from __future__ import annotations

import csv
import html
import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from assistant.core import Assistant
from assistant.importer import ImportReport, RowError, import_file, in_file_terms, invoice_values, parse_row, read_rows
from assistant.imports import ImportRunner
from assistant.messages import Attachment, ButtonPress, FileSent, OutputDelivered
from assistant.outputs import Out, Progress, Reply
from assistant.settings import Settings
from assistant.store.contracts import Units
from assistant.store.engine import make_engine, make_sessions
from assistant.store.memory import MemoryDatabase
from assistant.store.models import AuditEntry, Invoice, PendingImport
from assistant.store.uow import sql_units
from tests.conftest import SUPPORT_CHAT, FakeClock, clear_database, delivering
from tests.integration.test_importer import BAD, CHINESE, ENGLISH, GOOD, TZ

ADMIN, MERCHANT = 999, 1000


def table(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def chinese(row: list[str]) -> list[str]:
    """An ENGLISH row in the CHINESE header's columns (no digital number, no sync time)."""
    by_name = dict(zip(ENGLISH, row))
    return [by_name["code"], by_name["number"], "", by_name["issue_date"], by_name["amount"], by_name["tax"],
            by_name["total"], by_name["check_code"], by_name["seller_tax_id"], by_name["seller_name"],
            by_name["buyer_tax_id"], by_name["buyer_name"], by_name["status"]]


@dataclass
class World:
    """The core over one store, the import runner, and what the admin was sent."""

    units: Units
    core: Assistant
    clock: FakeClock
    importer: Callable[..., Any]
    invoices: Callable[[], Any]
    files: dict[str, bytes] = field(default_factory=dict)
    sent: list[Out] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: iter(range(1, 10**6)))

    def runner(self) -> ImportRunner:
        async def fetch(file_id: str, limit: int) -> bytes:
            return self.files[file_id]

        async def execute(outputs: list[Out]) -> None:  # a transport: a posted progress message gets an id
            self.sent += outputs
            await self.core.take([OutputDelivered(o, message_ids=(4242,)) if isinstance(o, Progress)
                                  and o.message_id is None else OutputDelivered(o) for o in outputs])
        return ImportRunner(self.units, self.core.renderer, fetch, self.importer, execute, self.clock,
                            progress_every=0.01)

    async def send_file(self, user_id: int, name: str, data: bytes, mime: str = "text/csv") -> list[Reply]:
        file_id = f"f{next(self._ids)}"
        self.files[file_id] = data

        async def fetch(limit: int) -> bytes:
            return data
        outputs = await self.core.handle(FileSent(
            user_id=user_id, chat_id=user_id, language="zh", message_id=next(self._ids),
            attachment=Attachment(kind="document", file_id=file_id, file_name=name, mime_type=mime, size=len(data),
                                  fetch=fetch)))
        return [replace(o, text=html.unescape(o.text)) for o in outputs if isinstance(o, Reply)]

    async def press(self, user_id: int, choice: str) -> str:
        outputs = await self.core.handle(ButtonPress(user_id=user_id, chat_id=user_id, language="zh", choice=choice,
                                                     version=0))
        return html.unescape("\n".join(o.text for o in outputs if isinstance(o, Reply)))

    def report(self) -> str:
        return html.unescape("\n".join(o.text for o in self.sent if isinstance(o, Reply)))

    async def rows(self, model: type) -> list[Any]:
        async with self.units() as store:
            rows = store._rows.all(model) if hasattr(store, "_rows") else list(  # type: ignore[attr-defined]
                await store.session.scalars(select(model)))  # type: ignore[attr-defined]
            return [{c: getattr(r, c) for c in model.__table__.columns.keys()} for r in rows]  # type: ignore[attr-defined]


def memory_importer(database: MemoryDatabase, clock: FakeClock) -> Callable[..., Any]:
    """The memory store has no bulk path: rows checked like the importer does and added one by one."""
    async def run(path: Path, progress: Callable[[int], None]) -> ImportReport:
        report = ImportReport()
        rows, has_sync, columns = read_rows(path)
        for index, row in rows:
            report.rows += 1
            try:
                record = parse_row(row, has_sync_column=has_sync, now=clock.now, tz=TZ)
            except RowError as error:
                report.reject(index, in_file_terms(error.reason, columns))
                continue
            async with database.unit_of_work() as store:
                if await store.invoices.find(record.code or None, record.number) is None:
                    await store.invoices.add(Invoice(**invoice_values(record, clock.now)))
                    report.new += 1
                else:
                    report.unchanged += 1
            progress(1)
        return report
    return run


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def world(request: pytest.FixtureRequest, database_urls: dict[str, str]) -> AsyncIterator[World]:
    from bot import build_assistant

    clock = FakeClock()
    settings = Settings(database_url=database_urls["sqlite"], support_chat_id=SUPPORT_CHAT,  # type: ignore[call-arg]
                        _env_file=None)
    engine = None
    if request.param == "memory":
        database = MemoryDatabase()
        units: Units = database.unit_of_work
        importer = memory_importer(database, clock)
    else:
        if request.param not in database_urls:
            pytest.skip("set TEST_DATABASE_URL to test PostgreSQL")
        engine = make_engine(database_urls[request.param])
        sessions = make_sessions(engine)
        async with sessions() as session, session.begin():
            await clear_database(session)
        units = sql_units(sessions)

        async def importer(path: Path, progress: Callable[[int], None]) -> ImportReport:
            return await import_file(sessions, path, now=clock.now, tz=TZ, progress=progress)
    async with units() as store:
        await store.users.save(ADMIN, role="admin", language="zh", companies=[], now=clock.now)
        await store.users.save(MERCHANT, role="merchant", language="zh", companies=[], now=clock.now)
    core = delivering(build_assistant(settings, units, clock)[0])
    world = World(units, core, clock, importer, lambda: None)
    yield world
    if engine is not None:
        await engine.dispose()


async def test_a_table_is_previewed_then_imported_once(world: World) -> None:
    data = table(CHINESE, [chinese(GOOD[0]), chinese(BAD[1]), chinese(GOOD[1]), chinese(BAD[3])])
    [preview] = await world.send_file(ADMIN, "三月发票.csv", data)
    assert "三月发票.csv" in preview.text and "4 行，可导入 2 行，有问题 2 行" in preview.text
    assert "第 3 行：“开票日期”的值“not a date”不是日期" in preview.text  # the admin's language, the file's column
    assert "第 5 行：“发票状态”的值“丢失”无法识别（可填：正常/作废" in preview.text
    assert "增值税电子普通发票 1" in preview.text and "增值税专用发票 1" in preview.text
    assert "发票号码 <code>12345678</code>" in preview.text  # the first rows
    [[go, cancel]] = [[b.choice for b in row] for row in preview.buttons]
    assert go.endswith(".go") and cancel.endswith(".cancel")
    assert [b.label for row in preview.buttons for b in row] == ["📥 导入", "✖️ 取消"]
    assert await world.rows(Invoice) == []  # nothing imported before the admin says so

    assert "开始导入" in await world.press(ADMIN, go)
    assert "不会重复导入" in await world.press(ADMIN, go)  # pressed twice: imported once
    assert "不会重复导入" in await world.press(ADMIN, cancel)  # too late to cancel
    await world.runner().run_all()
    await world.runner().run_all()  # nothing left to do
    report = world.report()
    assert report.count("导入完成") == 1
    assert "共 4 行，新增 2，更新 0，未变 0，拒绝 2" in report
    assert "第 3 行：“开票日期”的值“not a date”不是日期" in report
    stored = {(row["code"], row["number"]) for row in await world.rows(Invoice)}
    assert stored == {("011002500111", "12345678"), ("1100252130", "00112233")}
    progress = [o for o in world.sent if isinstance(o, Progress)]
    assert progress[0].message_id is None and progress[-1].message_id == 4242 and "已读完 4 行" in progress[-1].text
    [pending] = await world.rows(PendingImport)
    assert (pending["state"], pending["file_name"], pending["size"]) == ("done", "三月发票.csv", len(data))
    actions = [(row["action"], row["allowed"]) for row in await world.rows(AuditEntry)]
    for action in ("invoices_import_previewed", "invoices_import_confirmed", "invoices_import_pressed_again",
                   "invoices_imported"):
        assert (action, True) in actions


async def test_cancel_removes_the_pending_import(world: World) -> None:
    [preview] = await world.send_file(ADMIN, "invoices.csv", table(ENGLISH, [GOOD[0]]))
    go, cancel = preview.choices
    assert "已取消" in await world.press(ADMIN, cancel)
    assert await world.rows(PendingImport) == []
    assert "预览已经失效" in await world.press(ADMIN, go)
    await world.runner().run_all()
    assert await world.rows(Invoice) == [] and world.sent == []
    assert ("invoices_import_cancelled", True) in [(r["action"], r["allowed"]) for r in await world.rows(AuditEntry)]


async def test_files_that_are_not_importable_get_one_line(world: World) -> None:
    [png] = await world.send_file(ADMIN, "invoices.csv", b"\x89PNG\r\n\x1a\n" + b"\0" * 200)
    assert "不是表格（内容是 PNG）" in png.text and not png.buttons and png.text.count("\n") == 0
    [xls] = await world.send_file(ADMIN, "old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 200,
                                  mime="application/vnd.ms-excel")
    assert ".xls" in xls.text and not xls.buttons
    [header] = await world.send_file(ADMIN, "x.csv", b"a,b,c\n1,2,3\n")
    assert "读不出发票" in header.text and not header.buttons
    [only_bad] = await world.send_file(ADMIN, "bad.csv", table(ENGLISH, [BAD[0]]))
    assert "没有可以导入的行" in only_bad.text and not only_bad.buttons
    assert await world.rows(PendingImport) == []


async def test_a_merchants_table_and_a_merchants_press_are_not_imports(world: World) -> None:
    [preview] = await world.send_file(ADMIN, "invoices.csv", table(ENGLISH, [GOOD[0]]))
    go, _ = preview.choices
    merchant = await world.send_file(MERCHANT, "invoices.csv", table(ENGLISH, [GOOD[0]]))
    assert merchant and all("📋" not in r.text and not any(c.startswith("imports.") for c in r.choices)
                            for r in merchant)
    assert "只有管理员可以使用" in await world.press(MERCHANT, go)
    [pending] = await world.rows(PendingImport)
    assert pending["state"] == "previewed"
    assert ("invoices_import", False) in [(r["action"], r["allowed"]) for r in await world.rows(AuditEntry)]


async def test_english_admins_read_english(world: World) -> None:
    async with world.units() as store:
        await store.users.save(ADMIN, role="admin", language="en", companies=[], now=world.clock.now)
    [preview] = await world.send_file(ADMIN, "invoices.csv", table(ENGLISH, [GOOD[0], BAD[1]]))
    assert "2 rows, 1 to import, 1 with problems" in preview.text and "row 3: issue_date" in preview.text
    assert [b.label for row in preview.buttons for b in row] == ["📥 Import", "✖️ Cancel"]
    assert "Importing" in await world.press(ADMIN, preview.choices[0])
    await world.runner().run_all()
    assert "1 added" in world.report() and "row 3: issue_date 'not a date' is not a date" in world.report()


async def test_a_file_that_cannot_be_fetched_again_fails_clearly(world: World) -> None:
    [preview] = await world.send_file(ADMIN, "invoices.csv", table(ENGLISH, [GOOD[0]]))
    await world.press(ADMIN, preview.choices[0])
    world.files.clear()  # Telegram no longer has it
    await world.runner().run_all()
    assert "没能从 Telegram 取回“invoices.csv”，什么都没有导入" in world.report()
    [pending] = await world.rows(PendingImport)
    assert pending["state"] == "failed" and await world.rows(Invoice) == []
    assert "import_fetch_failed" in [r["detail"].get("reason") for r in await world.rows(AuditEntry)
                                     if r["action"] == "invoices_imported"]


async def test_an_import_whose_process_died_is_taken_up_again(world: World) -> None:
    [preview] = await world.send_file(ADMIN, "invoices.csv", table(ENGLISH, GOOD))
    await world.press(ADMIN, preview.choices[0])
    import_id = int(preview.choices[0].split(".")[1])
    async with world.units() as store:  # a process took it, then died
        assert await store.imports.hold(import_id, "dead-process", world.clock.now,
                                        world.clock.now + timedelta(minutes=2))
    await world.runner().run_all()
    assert world.sent == [] and await world.rows(Invoice) == []  # still held by the dead process
    world.clock.advance(minutes=3)
    await world.runner().run_all()
    assert "共 3 行，新增 3" in world.report() and len(await world.rows(Invoice)) == 3


async def test_a_file_changed_since_its_preview_is_reported_not_imported(world: World) -> None:
    [preview] = await world.send_file(ADMIN, "invoices.csv", table(ENGLISH, GOOD))
    await world.press(ADMIN, preview.choices[0])
    world.files = {file_id: b"\x89PNG\r\n\x1a\n" + b"\0" * 100 for file_id in world.files}
    await world.runner().run_all()
    assert "“invoices.csv”没有导入完成：文件不是 CSV 或 XLSX（内容是 PNG）" in world.report()
    [pending] = await world.rows(PendingImport)
    assert pending["state"] == "failed" and await world.rows(Invoice) == []


async def test_an_admins_imports_are_exported_forgotten_and_pruned_with_the_audit(world: World) -> None:
    await world.send_file(ADMIN, "old.csv", table(ENGLISH, [GOOD[0]]))
    world.clock.advance(days=400)
    await world.send_file(ADMIN, "new.csv", table(ENGLISH, [GOOD[1]]))
    async with world.units() as store:
        exported = await store.privacy.export(ADMIN)
        assert [row["file_name"] for row in exported["pending_imports"]] == ["old.csv", "new.csv"]
        changed = await store.privacy.prune(lookups_before=world.clock.now, tickets_before=world.clock.now,
                                            audit_before=world.clock.now - timedelta(days=365),
                                            inactive_before=world.clock.now - timedelta(days=365))
        assert changed["pending_imports"] == 1
    assert [row["file_name"] for row in await world.rows(PendingImport)] == ["new.csv"]
    async with world.units() as store:
        assert (await store.privacy.forget(ADMIN))["pending_imports"] == 1
    assert await world.rows(PendingImport) == []


async def test_a_long_import_edits_its_progress_message_while_it_runs(world: World) -> None:
    [preview] = await world.send_file(ADMIN, "invoices.csv", table(ENGLISH, GOOD))
    await world.press(ADMIN, preview.choices[0])
    import asyncio

    edited = asyncio.Event()
    real = world.importer

    async def slow(path: Path, progress: Callable[[int], None]) -> ImportReport:
        progress(2)  # two rows read, then the importer takes its time until the admin has seen them
        await edited.wait()
        return await real(path, progress)
    world.importer = slow
    runner = world.runner()
    execute = runner.execute

    async def watching(outputs: list[Out]) -> None:
        await execute(outputs)
        if any(isinstance(o, Progress) and o.message_id == 4242 and "已处理 2 行" in o.text for o in outputs):
            edited.set()
    runner.execute = watching
    await runner.run_all()
    progress = [o.text for o in world.sent if isinstance(o, Progress)]
    assert progress[0].endswith("已处理 0 行…") and "已处理 2 行…" in progress[1] and "已读完" in progress[-1]
    assert "共 3 行，新增 3" in world.report()
