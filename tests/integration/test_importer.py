"""Importing invoices: both header styles, CSV and XLSX, bad rows, idempotency."""

from __future__ import annotations

import asyncio

import csv
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from assistant.importer import import_file
from assistant.store.models import Invoice
from tests.conftest import FakeClock

TZ = ZoneInfo("Asia/Shanghai")
"""TIMEZONE (its default): a time written without a zone is in it."""

ENGLISH = ["code", "number", "kind", "issue_date", "amount", "tax", "total", "check_code", "seller_tax_id",
           "seller_name", "buyer_tax_id", "buyer_name", "status", "synced_at"]
CHINESE = ["发票代码", "发票号码", "数电发票号码", "开票日期", "金额", "税额", "价税合计", "校验码", "销方识别号",
           "销方名称", "购方识别号", "购方名称", "发票状态"]


def write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


async def invoices(sessions) -> dict[tuple[str, str], Invoice]:
    async with sessions() as session:
        return {(i.code, i.number): i for i in await session.scalars(select(Invoice))}


GOOD = [
    ["011002500111", "12345678", "", "2025-03-01", "1000", "130", "1130", "12345678901234567890",
     "91110105MA00XYZW3K", "卖方", "91110000600037341L", "买方", "正常", "2025-03-02T08:00:00+08:00"],
    ["1100252130", "00112233", "special", "2025/3/5", "5000.00", "650.00", "5650.00", "", "91110105MA00XYZW3K",
     "卖方", "91110000600037341L", "买方", "voided", ""],
    ["", "25112000000012345678", "", "20250310", "800", "104", "904", "", "91110105MA00XYZW3K", "卖方", "", "",
     "红冲", "2025-03-11 09:00"],
]
BAD = [
    ["011002500111", "1234567", "", "2025-03-01", "1", "0", "1", "", "X", "", "", "", "正常", ""],
    ["011002500111", "12345679", "", "not a date", "1", "0", "1", "", "X", "", "", "", "正常", ""],
    ["011002500111", "12345670", "", "2025-03-01", "-5", "0", "1", "", "X", "", "", "", "正常", ""],
    ["011002500111", "12345671", "", "2025-03-01", "1", "0", "1", "", "X", "", "", "", "丢失", ""],
    ["0110025", "12345672", "", "2025-03-01", "1", "0", "1", "", "X", "", "", "", "正常", ""],
]


async def test_english_csv_with_bad_rows(sessions, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "invoices.csv", ENGLISH, [GOOD[0], BAD[0], GOOD[1], BAD[1], BAD[2], BAD[3],
                                                          GOOD[2], BAD[4]])
    report = await import_file(sessions, path, now=FakeClock().now, tz=TZ)
    assert (report.rows, report.new, report.updated, report.unchanged) == (8, 3, 0, 0)
    assert [row for row, _ in report.errors] == [3, 5, 6, 7, 9]
    reasons = dict(report.errors)
    assert "8 or 20 digits" in reasons[3] and "not a date" in reasons[5] and "different signs" in reasons[6]
    assert "unknown" in reasons[7] and "10 or 12 digits" in reasons[9]
    stored = await invoices(sessions)
    first = stored[("011002500111", "12345678")]
    assert (first.kind, first.issue_date, first.total, first.status, first.sync_state) == (
        "e_ordinary", date(2025, 3, 1), Decimal("1130.00"), "normal", "synced")
    special = stored[("1100252130", "00112233")]
    assert (special.status, special.sync_state, special.synced_at) == ("voided", "pending", None)
    digital = stored[("", "25112000000012345678")]
    assert (digital.kind, digital.status) == ("digital", "red_reversed")


async def test_importing_twice_changes_nothing_and_changes_are_updates(sessions, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "invoices.csv", ENGLISH, GOOD)
    await import_file(sessions, path, now=FakeClock().now, tz=TZ)
    before = {k: (v.id, v.status, v.status_changed_at, v.total) for k, v in (await invoices(sessions)).items()}
    again = await import_file(sessions, path, now=FakeClock().now, tz=TZ)
    assert (again.new, again.updated, again.unchanged) == (0, 0, 3)
    assert {k: (v.id, v.status, v.status_changed_at, v.total) for k, v in (await invoices(sessions)).items()} == before
    changed = [GOOD[0][:12] + ["作废", GOOD[0][13]], *GOOD[1:]]
    report = await import_file(sessions, write_csv(tmp_path / "v2.csv", ENGLISH, changed), now=FakeClock().now, tz=TZ)
    assert (report.new, report.updated, report.unchanged) == (0, 1, 2)
    updated = (await invoices(sessions))[("011002500111", "12345678")]
    assert updated.status == "voided" and updated.status_changed_at is None  # when it changed: the file did not say


async def test_chinese_export_in_gb18030(sessions, tmp_path: Path) -> None:
    rows = [["011002500111", "12345678", "", "2025年3月1日", "1000.00", "130.00", "1130.00", "12345678901234567890",
             "91110105MA00XYZW3K", "北京朝阳办公用品有限公司", "91110000600037341L", "北京星河商贸有限公司", "失控"],
            ["", "", "25112000000012345678", "2025-03-10", "800", "104", "904", "", "91110105MA00XYZW3K", "卖方",
             "", "", "正常"]]
    path = write_csv(tmp_path / "导出.csv", CHINESE, rows, encoding="gb18030")
    report = await import_file(sessions, path, now=FakeClock().now, tz=TZ)
    assert (report.new, report.errors) == (2, [])
    stored = await invoices(sessions)
    assert stored[("011002500111", "12345678")].seller_name == "北京朝阳办公用品有限公司"
    assert stored[("011002500111", "12345678")].status == "out_of_control"
    assert stored[("", "25112000000012345678")].sync_state == "synced"  # the bureau's export is synced


async def test_xlsx(sessions, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(ENGLISH)
    sheet.append(["011002500111", 12345678, None, date(2025, 3, 1), 1000, 130, 1130, "12345678901234567890",
                  "91110105MA00XYZW3K", "卖方", "91110000600037341L", "买方", "normal", None])
    path = tmp_path / "invoices.xlsx"
    book.save(path)
    report = await import_file(sessions, path, now=FakeClock().now, tz=TZ)
    assert (report.new, report.errors) == (1, [])
    stored = (await invoices(sessions))[("011002500111", "12345678")]
    assert stored.sync_state == "pending" and stored.amount == Decimal("1000.00")


async def test_a_file_without_a_number_column_is_refused(sessions, tmp_path: Path) -> None:
    from assistant.importer import RowError

    with pytest.raises(RowError, match="no invoice number column"):
        await import_file(sessions, write_csv(tmp_path / "x.csv", ["foo", "bar"], [["1", "2"]]),
                          now=FakeClock().now, tz=TZ)


async def test_what_real_exports_hold(sessions, tmp_path: Path) -> None:
    """A title row, tabs, duplicates, export status words, a red-letter invoice, numbers Excel stripped."""
    header = ["发票代码", "发票号码", "开票日期", "金额", "税额", "价税合计", "销方识别号", "发票状态", "状态变更时间"]
    rows = [["011002500111", "12345678", "2025-03-01", "1000", "130", "1130", "91110000600037341L", "已作废",
             "2025-03-02T10:00:00+08:00"],
            ["011002500111", "12345678", "2025-03-01", "1000", "130", "1130", "91110000600037341L", "正常", ""],
            ["011002500111", "12345679", "2025-03-01", "-1000", "-130", "-1130", "91110000600037341L", "正常", ""],
            ["011002500111", "12345677", "2025-03-01", "1000", "130", "1200", "91110000600037341X", "全额红冲", ""]]
    path = tmp_path / "导出.tsv"
    path.write_text("发票清单 2025年3月\n" + "\n".join("\t".join(r) for r in [header, *rows]) + "\n",
                    encoding="utf-8")
    report = await import_file(sessions, path, now=FakeClock().now, tz=TZ)
    assert (report.new, [row for row, _ in report.errors]) == (3, [4])  # the duplicate, by row
    assert "already in row 3" in report.errors[0][1]
    assert [row for row, _ in report.warnings] == [6, 6]
    # the columns named as the file names them
    assert report.warnings[0][1] == "价税合计 1200.00 is not 金额 1000.00 + 税额 130.00"
    assert report.warnings[1][1] == "销方识别号 91110000600037341X fails its check digit"
    stored = await invoices(sessions)
    voided = stored[("011002500111", "12345678")]
    assert voided.status == "voided" and voided.status_changed_at is not None  # the file's time, not now
    assert stored[("011002500111", "12345679")].total == Decimal("-1130.00")  # a red-letter invoice
    assert stored[("011002500111", "12345677")].status == "red_reversed"
    assert stored[("011002500111", "12345677")].status_changed_at is None


async def test_xlsx_numbers_keep_their_leading_zeros_and_missing_columns_are_named(sessions, tmp_path: Path) -> None:
    from assistant.importer import RowError

    book = Workbook()
    sheet = book.active
    sheet.append(["发票代码", "发票号码", "开票日期", "金额", "销方识别号"])
    sheet.append([11002500111, 112233, date(2025, 3, 1), 1000, "91110000600037341L"])  # Excel dropped the zeros
    path = tmp_path / "invoices.xlsx"
    book.save(path)
    report = await import_file(sessions, path, now=FakeClock().now, tz=TZ)
    assert (report.new, report.errors) == (1, [])
    assert ("011002500111", "00112233") in await invoices(sessions)
    with pytest.raises(RowError, match="missing columns: issue_date / 开票日期, seller_tax_id / 销方识别号"):
        await import_file(sessions, write_csv(tmp_path / "x.csv", ["发票号码", "金额"], [["12345678", "1"]]),
                          now=FakeClock().now, tz=TZ)



async def test_bad_rows_name_the_columns_as_the_file_does(sessions, tmp_path: Path) -> None:
    header = ["发票代码", "发票号码", "开票日期", "金额", "销方识别号", "发票状态"]
    rows = [["011002500111", "1234567", "2025-03-01", "1", "X", "正常"],
            ["011002500111", "12345679", "不是日期", "1", "X", "正常"],
            ["011002500111", "12345670", "2025-03-01", "1.234", "X", "正常"],
            ["011002500111", "12345671", "2025-03-01", "1", "X", "amount"]]
    report = await import_file(sessions, write_csv(tmp_path / "导出.csv", header, rows), now=FakeClock().now, tz=TZ)
    assert dict(report.errors) == {
        2: "发票号码 '1234567' must have 8 or 20 digits",
        3: "开票日期 '不是日期' is not a date",
        4: "金额 '1.234' is not a sum of money with at most two decimals",
        5: "发票状态 'amount' is unknown (正常/作废/已作废/红冲/已红冲/全额红冲/部分红冲/失控/异常)",  # a value stays
    }
    digital = await import_file(sessions, write_csv(tmp_path / "数电.csv", ["数电发票号码", "开票日期", "金额", "销方识别号"],
                                                    [["2511200000001234567", "2025-03-01", "1", "X"]]),
                                now=FakeClock().now, tz=TZ)
    assert digital.errors == [(2, "数电发票号码 '2511200000001234567' must have 8 or 20 digits")]
    english = await import_file(sessions, write_csv(tmp_path / "e.csv", ENGLISH, [BAD[1]]), now=FakeClock().now, tz=TZ)
    assert english.errors == [(2, "issue_date 'not a date' is not a date")]


async def test_a_large_file_is_staged_in_batches_with_duplicates_across_them(sessions, tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows read a batch at a time: a key repeated in a later batch is refused with its first row; bad rows
    past the shown ones are counted; a re-import with a change updates only that row."""
    import assistant.importer as importer

    monkeypatch.setattr(importer, "BATCH", 3)
    monkeypatch.setattr(importer, "SHOWN", 2)
    rows = [["011002500111", f"{n:08d}", "", "2025-03-01", "100", "13", "113", "", "91110000600037341L", "卖方",
             "", "", "正常", ""] for n in range(10)]
    rows.append(rows[1])  # row 12: a duplicate of row 3, three batches later
    rows += [["011002500111", "1", "", "2025-03-01", "1", "0", "1", "", "X", "", "", "", "正常", ""]] * 3
    rows.append(rows[0][:9] + ["名" * 201] + rows[0][10:])  # a seller name longer than the column
    path = write_csv(tmp_path / "big.csv", ENGLISH, rows)
    report = await import_file(sessions, path, now=FakeClock().now, tz=TZ)
    assert (report.rows, report.new, report.updated, report.unchanged, report.rejected) == (15, 10, 0, 0, 5)
    assert [row for row, _ in report.errors] == [12, 13]  # the first two bad rows, by row
    assert "already in row 3" in report.errors[0][1] and "8 or 20 digits" in report.errors[1][1]
    assert len(await invoices(sessions)) == 10
    rows[5] = rows[5][:12] + ["作废", ""]
    again = await import_file(sessions, write_csv(tmp_path / "v2.csv", ENGLISH, rows[:10]), now=FakeClock().now, tz=TZ)
    assert (again.new, again.updated, again.unchanged, again.rejected) == (0, 1, 9, 0)
    assert (await invoices(sessions))[("011002500111", "00000005")].status == "voided"


async def test_a_batch_stored_meanwhile_by_another_writer_is_merged(sessions, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL COPYs a batch none of whose invoices is stored straight into the table; when another writer
    stored one of them after the check, the batch is merged instead: the same report, nothing lost."""
    import assistant.importer as importer
    import assistant.store.invoices as store_invoices

    monkeypatch.setattr(importer, "BATCH", 2)
    await import_file(sessions, write_csv(tmp_path / "one.csv", ENGLISH, [GOOD[1]]), now=FakeClock().now, tz=TZ)
    # the check finds nothing stored, as if the other writer's invoice came just after it
    monkeypatch.setattr(store_invoices, "ANY_STORED", "SELECT 1 WHERE $1::varchar[] IS NULL AND $2::varchar[] IS NULL")
    changed = GOOD[1][:12] + ["正常", ""]  # the stored one (voided), now normal
    report = await import_file(sessions, write_csv(tmp_path / "all.csv", ENGLISH, [GOOD[0], changed, GOOD[2]]),
                               now=FakeClock().now, tz=TZ)
    assert (report.rows, report.new, report.updated, report.unchanged, report.rejected) == (3, 2, 1, 0, 0)
    stored = await invoices(sessions)
    assert len(stored) == 3 and stored[("1100252130", "00112233")].status == "normal"


async def test_plain_values_are_stored_as_the_general_checks_would(sessions, tmp_path: Path) -> None:
    """The short ways for plain values (two-decimal sums, ISO dates, ASCII digits) store what the general checks
    would: a red-letter sum with two decimals, a zero written "-0.00", spaces around values, a column the
    importer does not know, a sync time given in another zone (the same moment)."""
    header = ["code", "number", "备注", "issue_date", "amount", "tax", "total", "seller_tax_id", "synced_at"]
    rows = [["011002500111", "12345678", "x", " 2025-03-01 ", "-1000.50", "-0.00", "-1000.50", " 91110000600037341l ",
             "2025-01-01T00:00:00+08:00"],
            [" 011002500111 ", " 12345679 ", "y", "2025-03-02", "0012.30", "1.6", " 13.90 ", "91110000600037341L",
             "2024-12-31T16:00:00+00:00"]]
    report = await import_file(sessions, write_csv(tmp_path / "plain.csv", header, rows), now=FakeClock().now, tz=TZ)
    assert (report.new, report.errors, report.warnings) == (2, [], [])
    stored = await invoices(sessions)
    red, plain = stored[("011002500111", "12345678")], stored[("011002500111", "12345679")]
    assert (red.issue_date, red.amount, red.tax, red.total, red.seller_tax_id) == (
        date(2025, 3, 1), Decimal("-1000.50"), Decimal("0.00"), Decimal("-1000.50"), "91110000600037341L")
    assert (plain.amount, plain.tax, plain.total) == (Decimal("12.30"), Decimal("1.60"), Decimal("13.90"))
    assert _utc(red.synced_at) == _utc(plain.synced_at) == datetime(2024, 12, 31, 16, tzinfo=timezone.utc)


async def test_a_utf8_file_with_a_byte_order_mark(sessions, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bom.csv", CHINESE, [["", "", "25112000000012345678", "2025-03-10", "800", "104",
                                                      "904", "", "91110105MA00XYZW3K", "卖方", "", "", "正常"]],
                     encoding="utf-8-sig")
    report = await import_file(sessions, path, now=FakeClock().now, tz=TZ)
    assert (report.new, report.errors) == (1, [])


async def test_a_large_file_is_read_in_a_process_of_its_own(sessions, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The same report whether the file is read here or in the reading process; its refusals too."""
    import assistant.importer as importer
    from assistant.importer import RowError

    monkeypatch.setattr(importer, "WORKER_FROM_BYTES", 0)
    monkeypatch.setattr(importer, "BATCH", 2)
    path = write_csv(tmp_path / "invoices.csv", ENGLISH, [GOOD[0], BAD[0], GOOD[1], BAD[1], GOOD[2], GOOD[0]])
    report = await import_file(sessions, path, now=FakeClock().now, tz=TZ)
    assert (report.rows, report.new, report.rejected) == (6, 3, 3)
    assert [row for row, _ in report.errors] == [3, 5, 7] and "already in row 2" in report.errors[2][1]
    with pytest.raises(RowError, match="no invoice number column"):
        await import_file(sessions, write_csv(tmp_path / "x.csv", ["foo", "bar"], [["1", "2"]]),
                          now=FakeClock().now, tz=TZ)


def test_a_staged_row_holds_what_a_new_invoice_would() -> None:
    from assistant.importer import invoice_values, staged_row
    from assistant.store.invoices import STAGED
    from tests.factories import invoice as record

    now = FakeClock().now
    for synced in (None, now):
        made = record("011002500111", "12345678", date(2025, 3, 1), synced_at=synced)
        values = invoice_values(made, now)
        assert staged_row(7, made, now) == (7, *(values[name] for name in STAGED))


async def test_names_with_tabs_backslashes_and_newlines_arrive_as_written(sessions, tmp_path: Path) -> None:
    """The bulk path's encoding (PostgreSQL's COPY text) keeps every character; a NUL is a bad row."""
    odd = "北京\t朝阳\\办公\n用品 ‘有限’ \"公司\""
    rows = [GOOD[0][:9] + [odd] + GOOD[0][10:], GOOD[1][:9] + ["a\x00b"] + GOOD[1][10:]]
    report = await import_file(sessions, write_csv(tmp_path / "odd.csv", ENGLISH, rows), now=FakeClock().now, tz=TZ)
    assert (report.new, [row for row, _ in report.errors]) == (1, [3]) and "NUL" in report.errors[0][1]
    assert (await invoices(sessions))[("011002500111", "12345678")].seller_name == odd


async def test_staging_opens_on_a_connection_that_used_temporary_tables_already(sessions) -> None:
    """PostgreSQL refuses a new temp_buffers size then: the import goes on with the size it has."""
    from assistant.importer import staged_row
    from assistant.store.driver import Driver
    from assistant.store.invoices import InvoiceImport, encoded
    from tests.factories import invoice as record

    async with sessions() as session, session.begin():
        driver = await Driver.of(session)
        await driver.run("CREATE TEMPORARY TABLE scratch (i INTEGER)")
        await driver.run("INSERT INTO scratch (i) VALUES (1)")
        staging = InvoiceImport(session)
        await staging.open()
        merged = await staging.merge(encoded([staged_row(2, record("011002500111", "12345678", date(2025, 3, 1)),
                                                         FakeClock().now)], sqlite=driver.sqlite))
        await staging.close()
        assert (merged.new, merged.updated, merged.repeated) == (1, 0, [])


def _utc(moment: datetime) -> datetime:
    """A stored moment as UTC (SQLite gives it back without a zone)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


async def test_times_without_a_zone_are_in_the_configured_time_zone(sessions, tmp_path: Path) -> None:
    """状态变更时间 10:00 in an export is 10:00 Beijing time (02:00 UTC), not 10:00 UTC shown as 18:00."""
    header = ["发票代码", "发票号码", "开票日期", "金额", "销方识别号", "发票状态", "状态变更时间"]
    rows = [["011002500111", "12345678", "2025-03-01", "1000", "91110000600037341L", "已作废", "2025-03-02 10:00"],
            ["011002500111", "12345679", "2025-03-01", "1000", "91110000600037341L", "已作废",
             "2025-03-02T10:00:00+00:00"]]  # a zone given is kept
    report = await import_file(sessions, write_csv(tmp_path / "导出.csv", header, rows), now=FakeClock().now, tz=TZ)
    assert report.new == 2
    stored = await invoices(sessions)
    assert _utc(stored[("011002500111", "12345678")].status_changed_at) == datetime(2025, 3, 2, 10, tzinfo=TZ)
    assert _utc(stored[("011002500111", "12345679")].status_changed_at) == datetime(2025, 3, 2, 10,
                                                                                      tzinfo=timezone.utc)
    # an XLSX cell holding a date and time (no zone: Excel has none) too
    book = Workbook()
    book.active.append(header)
    book.active.append(["011002500111", "12345670", date(2025, 3, 1), 1000, "91110000600037341L", "已作废",
                        datetime(2025, 3, 3, 9, 30)])
    book.save(tmp_path / "导出.xlsx")
    await import_file(sessions, tmp_path / "导出.xlsx", now=FakeClock().now, tz=TZ)
    stored = await invoices(sessions)
    assert _utc(stored[("011002500111", "12345670")].status_changed_at) == datetime(2025, 3, 3, 9, 30, tzinfo=TZ)


async def test_the_file_type_is_read_from_the_content_not_the_name(sessions, tmp_path: Path) -> None:
    from assistant.importer import FileKindError

    csv_named_xlsx = write_csv(tmp_path / "really-a.xlsx", ENGLISH, [GOOD[0]])
    assert (await import_file(sessions, csv_named_xlsx, now=FakeClock().now, tz=TZ)).new == 1
    book = Workbook()
    book.active.append(ENGLISH)
    book.active.append(GOOD[1])
    book.save(tmp_path / "really-a.csv")
    assert (await import_file(sessions, tmp_path / "really-a.csv", now=FakeClock().now, tz=TZ)).new == 1
    for name, content, kind in (("p.xlsx", b"\x89PNG\r\n\x1a\n" + bytes(100), "PNG"),
                                ("o.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "xls"),
                                ("d.pdf", b"%PDF-1.7\n" + bytes(100), "PDF"),
                                ("b.csv", bytes(300), "binary")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(FileKindError) as raised:
            await import_file(sessions, tmp_path / name, now=FakeClock().now, tz=TZ)
        assert raised.value.kind == kind
    import zipfile

    with zipfile.ZipFile(tmp_path / "z.xlsx", "w") as archive:  # a ZIP, but not a workbook
        archive.writestr("word/document.xml", "<w/>")
    with pytest.raises(FileKindError, match="ZIP"):
        await import_file(sessions, tmp_path / "z.xlsx", now=FakeClock().now, tz=TZ)


def test_the_kind_of_file_crosses_from_the_reading_process_intact() -> None:
    import pickle

    from assistant.importer import FileKindError

    again = pickle.loads(pickle.dumps(FileKindError("PNG")))
    assert isinstance(again, FileKindError) and again.kind == "PNG" and "PNG" in str(again)


async def test_a_process_with_other_threads_reads_large_files_through_a_fork_server(sessions, tmp_path: Path,
                                                                                      monkeypatch) -> None:
    """The bot imports in a thread of its own while others run: its reading process is not forked from it (a
    lock another thread held would stay held in the child), and the report is the same."""
    import threading

    import assistant.importer as importer
    from assistant.store.engine import make_engine, make_sessions

    monkeypatch.setattr(importer, "WORKER_FROM_BYTES", 0)
    monkeypatch.setattr(importer, "BATCH", 2)
    started: list[str] = []
    real = importer._reading_context

    def recording() -> object:
        context = real()
        started.append(context.get_start_method())
        return context

    monkeypatch.setattr(importer, "_reading_context", recording)
    path = write_csv(tmp_path / "invoices.csv", ENGLISH, [GOOD[0], BAD[0], GOOD[1], GOOD[2], GOOD[0]])
    url = sessions.kw["bind"].url.render_as_string(hide_password=False)

    async def elsewhere() -> importer.ImportReport:  # as the bot's import job: its own loop and connection
        engine = make_engine(url)
        try:
            return await import_file(make_sessions(engine), path, now=FakeClock().now, tz=TZ)
        finally:
            await engine.dispose()

    busy = threading.Event()
    other = threading.Thread(target=busy.wait, daemon=True)
    other.start()
    try:
        report = await asyncio.to_thread(asyncio.run, elsewhere())
    finally:
        busy.set()
    assert started == ["forkserver"]
    assert (report.rows, report.new, report.rejected) == (5, 3, 2)
    assert [row for row, _ in report.errors] == [3, 6] and "already in row 2" in report.errors[1][1]
    assert len(await invoices(sessions)) == 3
