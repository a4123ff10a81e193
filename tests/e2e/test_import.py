"""End to end: an admin imports invoices in Telegram (the real python-telegram-bot stack, the fake Bot API).

A good file ends up in the invoices table; a bad one has its bad rows reported with reasons and its good
rows imported; a file that is not a table, a huge one and an XLSX zip bomb each get one clear line, nothing
is imported, and a merchant is answered meanwhile.
"""

from __future__ import annotations

import csv
import html
import io
import struct
import zlib
from typing import Any

import pytest
from sqlalchemy import func, select

from assistant.store.models import AuditEntry, Invoice, PendingImport
from tests.e2e.conftest import RunningBot
from tests.e2e.fake_bot_api import FakeBotAPI, Merchant, buttons_of
from tests.integration.test_importer import BAD, CHINESE, ENGLISH, GOOD
from tests.integration.test_imports_chat import chinese

pytestmark = pytest.mark.e2e

CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def table(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([header, *rows])
    return out.getvalue().encode()


def _zip(entries: dict[str, bytes]) -> bytes:
    """A zip of deflated entries (written by hand: a bomb's entry is compressed in a stream)."""
    local, central = bytearray(), bytearray()
    for name, content in entries.items():
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        blob = compressor.compress(content) + compressor.flush()
        crc = zlib.crc32(content) & 0xFFFFFFFF
        raw = name.encode()
        offset = len(local)
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(blob), len(content), len(raw),
                             0) + raw + blob
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(blob), len(content),
                               len(raw), 0, 0, 0, 0, 0, offset) + raw
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), len(local), 0)
    return bytes(local + central + end)


def xlsx_bomb(rows: int = 500_000) -> bytes:
    """A valid XLSX of a few hundred KB whose one sheet unpacks to some 40 MB: a header and half a million rows
    (reading them all takes far longer than the reader may)."""
    def cell(text: str) -> str:
        return f'<c t="inlineStr"><is><t>{text}</t></is></c>'
    header = "<row>" + "".join(cell(name) for name in ("number", "issue_date", "amount", "seller_tax_id")) + "</row>"
    row = ("<row>" + "".join(cell(value) for value in ("12345678", "2025-03-01", "1", "91110105MA00XYZW3K"))
           + "</row>").encode()
    sheet = (b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
             b'spreadsheetml/2006/main"><sheetData>' + header.encode() + row * rows + b"</sheetData></worksheet>")
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    relations = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    return _zip({
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName='
            '"/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.'
            'main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
            'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>').encode(),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>').encode(),
        "xl/workbook.xml": (f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{main}" xmlns:r="{relations}">'
                            '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>').encode(),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>').encode(),
        "xl/worksheets/sheet1.xml": sheet,
    })


def texts(person: Merchant, since: int = 0) -> list[str]:
    return [html.unescape(m.get("text") or "") for m in person.inbox[since:]]


async def preview_of(api: FakeBotAPI, admin: Merchant, name: str, data: bytes, mime: str = CSV) -> dict[str, Any]:
    """Send a file; the bot's answer (a preview with buttons, or one line)."""
    before = len(admin.inbox)
    await admin.document(name, data, mime)
    await api.wait_for(lambda: len(admin.inbox) > before, timeout=30)
    return admin.inbox[before]


async def imported(api: FakeBotAPI, admin: Merchant, preview: dict[str, Any]) -> str:
    """Press "import" and wait for the report."""
    [go] = [data for _, data in buttons_of(preview) if data.endswith(".go")]
    before = len(admin.inbox)
    await admin.press_data(preview, go)
    await api.wait_for(lambda: any("导入完成" in t or "没有导入完成" in t for t in texts(admin, before)), timeout=30)
    return "\n".join(texts(admin, before))


async def stored(sessions) -> set[tuple[str, str]]:
    async with sessions() as session:
        return {(i.code, i.number) for i in await session.scalars(select(Invoice))}


async def test_a_good_file_is_previewed_imported_once_and_reported(api: FakeBotAPI, running, sessions) -> None:
    admin = Merchant(api, 999, name="管理员")
    data = table(ENGLISH, GOOD)
    preview = await preview_of(api, admin, "invoices.csv", data)
    text = html.unescape(preview["text"])
    assert "3 行，可导入 3 行，有问题 0 行" in text and "数电票（全电发票） 1" in text
    assert [label for label, _ in buttons_of(preview)] == ["📥 导入", "✖️ 取消"]
    assert await stored(sessions) == set()

    report = await imported(api, admin, preview)
    assert "开始导入" in report and "共 3 行，新增 3，更新 0，未变 0，拒绝 0" in report
    assert await stored(sessions) == {("011002500111", "12345678"), ("1100252130", "00112233"),
                                      ("", "25112000000012345678")}
    assert any("“invoices.csv”：已读完 3 行" in t for t in texts(admin))  # the progress message, edited at the end

    before = len(admin.inbox)  # pressed again: nothing imported twice
    await admin.press_data(preview, next(d for _, d in buttons_of(preview) if d.endswith(".go")))
    await api.wait_for(lambda: any("不会重复导入" in t for t in texts(admin, before)))
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Invoice)) == 3
        [pending] = await session.scalars(select(PendingImport))
        assert (pending.state, pending.file_name, pending.size) == ("done", "invoices.csv", len(data))
        actions = list(await session.scalars(select(AuditEntry.action).where(AuditEntry.actor_id == 999)))
    assert {"invoices_import_previewed", "invoices_import_confirmed", "invoices_imported"} <= set(actions)
    assert actions.count("invoices_imported") == 1


async def test_a_bad_file_reports_its_bad_rows_and_imports_the_good(api: FakeBotAPI, running, sessions) -> None:
    admin = Merchant(api, 999, name="管理员")
    data = table(CHINESE, [chinese(GOOD[0]), chinese(BAD[1]), chinese(GOOD[1]), chinese(BAD[3])])
    preview = await preview_of(api, admin, "三月.csv", data)
    text = html.unescape(preview["text"])
    assert "4 行，可导入 2 行，有问题 2 行" in text
    assert "第 3 行：“开票日期”的值“not a date”不是日期" in text  # in the admin's language, the file's column names
    report = await imported(api, admin, preview)
    assert "共 4 行，新增 2，更新 0，未变 0，拒绝 2" in report
    assert "第 3 行：“开票日期”的值“not a date”不是日期" in report and "第 5 行：“发票状态”的值“丢失”无法识别" in report
    assert await stored(sessions) == {("011002500111", "12345678"), ("1100252130", "00112233")}

    answer = await preview_of(api, admin, "invoices.csv", b"\x89PNG\r\n\x1a\n" + b"\0" * 500)  # not a table
    assert html.unescape(answer["text"]) == ("“invoices.csv”不是表格（内容是 PNG），没有导入。"
                                             "请发送 CSV 或 XLSX 格式的发票清单。")
    assert not buttons_of(answer)


async def test_a_cancelled_import_imports_nothing(api: FakeBotAPI, running, sessions) -> None:
    admin = Merchant(api, 999, name="管理员")
    preview = await preview_of(api, admin, "invoices.csv", table(ENGLISH, GOOD))
    [cancel] = [data for _, data in buttons_of(preview) if data.endswith(".cancel")]
    before = len(admin.inbox)
    await admin.press_data(preview, cancel)
    await api.wait_for(lambda: any("已取消" in t for t in texts(admin, before)))
    async with sessions() as session:
        assert list(await session.scalars(select(PendingImport))) == []
    assert await stored(sessions) == set()


async def test_a_merchants_table_is_read_as_before(api: FakeBotAPI, running, sessions) -> None:
    merchant = Merchant(api, 1001)
    before = len(merchant.inbox)
    await merchant.document("invoices.csv", table(ENGLISH, GOOD), CSV)
    await api.wait_for(lambda: len(merchant.inbox) > before, timeout=30)
    assert not any("导入" in t for t in texts(merchant, before))
    async with sessions() as session:
        assert list(await session.scalars(select(PendingImport))) == []


async def test_hostile_files_get_one_line_and_a_merchant_is_answered_meanwhile(api: FakeBotAPI, bot_settings,
                                                                               clock, sessions) -> None:
    bot = RunningBot(bot_settings.model_copy(update={"read_seconds": 10.0}), clock)
    await bot.start()
    try:
        admin, merchant = Merchant(api, 999, name="管理员"), Merchant(api, 1001)
        await merchant.say("/start")
        before = len(admin.inbox)
        await admin.document("invoices.xlsx", xlsx_bomb(), XLSX)
        assert "使用说明" in await merchant.say("/help")  # the bot answers while the bomb is being read
        await api.wait_for(lambda: len(admin.inbox) > before, timeout=30)
        [line] = texts(admin, before)
        assert line.startswith("为安全起见，“invoices.xlsx”没有读取") and "\n" not in line
        assert not buttons_of(admin.inbox[before])

        before = len(admin.inbox)  # 50 MB as Telegram states it: refused before any download
        await admin.document("huge.csv", b"number,issue_date\n", CSV, size=50 * 1024 * 1024)
        await api.wait_for(lambda: len(admin.inbox) > before, timeout=30)
        [line] = texts(admin, before)
        assert "超过 20 MB" in line and "\n" not in line

        preview = await preview_of(api, admin, "ok.csv", table(ENGLISH, GOOD[:1]))  # the same limits read a table
        assert "1 行，可导入 1 行" in html.unescape(preview["text"])
    finally:
        await bot.stop()
    assert await stored(sessions) == set()
    async with sessions() as session:
        assert [p.file_name for p in await session.scalars(select(PendingImport))] == ["ok.csv"]
