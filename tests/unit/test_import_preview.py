"""The preview of an invoice table (what the isolated reader runs for an admin's file), without a reader."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from assistant.import_preview import FIRST, PROBLEMS, looks_like_table, preview_bytes

NOW = datetime(2026, 6, 15, 2, tzinfo=timezone.utc)
TZ = ZoneInfo("Asia/Shanghai")
HEADER = "发票代码,发票号码,开票日期,金额,销方识别号,销方名称\n"


def preview(text: str, name: str = "x.csv") -> dict:
    return preview_bytes(text.encode(), file_name=name, now=NOW, tz=TZ)


def test_tables_are_told_by_name_or_type_and_only_documents() -> None:
    assert looks_like_table("document", "三月.XLSX", "")
    assert looks_like_table("document", "export", "text/csv")
    assert not looks_like_table("document", "invoice.pdf", "application/pdf")
    assert not looks_like_table("photo", "x.csv", "text/csv")


def test_bad_rows_are_capped_counted_and_named_as_the_file_names_them() -> None:
    rows = [f"011002500111,{10000000 + i},2025-03-01,10,91110105MA00XYZW3K,卖方\n" for i in range(5)]
    rows += [f"011002500111,{20000000 + i},someday,10,91110105MA00XYZW3K,卖方\n" for i in range(PROBLEMS + 5)]
    rows.append("011002500111,10000000,2025-03-01,10,91110105MA00XYZW3K,卖方\n")  # row 2 again
    result = preview(HEADER + "".join(rows))
    assert (result["rows"], result["good"], result["bad"]) == (21, 5, 16)
    assert len(result["problems"]) == PROBLEMS and result["problems"][0] == [7, {
        "text": "开票日期 'someday' is not a date", "code": "date", "params": {"column": "开票日期", "raw": "someday"}}]
    assert len(result["first"]) == FIRST and result["first"][0]["number"] == "10000000"
    assert result["families"] == {"e_ordinary": 5} and result["columns"][:2] == ["发票代码", "发票号码"]
    result = preview(HEADER + rows[0] + rows[-1])
    assert result["problems"] == [[3, {"text": "invoice 011002500111 10000000 is already in row 2", "code": "repeated",
                                       "params": {"code": "011002500111", "number": "10000000", "row": "2"}}]]


def test_files_the_importer_cannot_read_say_why() -> None:
    assert preview_bytes(b"%PDF-1.4 ...", file_name="x.csv", now=NOW, tz=TZ) == {"refused": "not_table",
                                                                                  "kind": "PDF"}
    assert preview_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64, file_name="x.xls", now=NOW,
                         tz=TZ)["refused"] == "xls"
    assert preview("a,b\n1,2\n") == {"refused": "unreadable", "error": {
        "text": "no invoice number column (number / 发票号码 / 数电发票号码)", "code": "no_number_column", "params": {}}}
    assert preview("")["refused"] == "unreadable"
