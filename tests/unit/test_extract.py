"""Table tests of finding fields in what merchants type."""

from __future__ import annotations

from datetime import date

import pytest

from assistant.domain.extract import extract

TODAY = date(2026, 6, 15)


@pytest.mark.parametrize(("text", "awaiting", "known", "values"), [
    ("代码 011001900111 号码 12345678 日期 2025-03-01 校验码 123456", None, {},
     {"code": "011001900111", "number": "12345678", "date": "2025-03-01", "check_code": "123456"}),
    ("发票代码:011001900111 发票号码:12345678 开票日期:2025年03月01日 金额:100.00 税额:13.00 价税合计:113.00",
     None, {}, {"code": "011001900111", "number": "12345678", "date": "2025-03-01", "amount": "100.00",
                "total": "113.00"}),
    ("发票代码：０１１００１９００１１１，发票号码：１２３４５６７８", None, {},
     {"code": "011001900111", "number": "12345678"}),
    ("011001900111 12345678 20250301 123456", None, {},
     {"code": "011001900111", "number": "12345678", "date": "2025-03-01", "check_code": "123456"}),
    ("20250301 12345678", None, {"code": "011001900111"}, {"number": "12345678", "date": "2025-03-01"}),
    ("code 011001900111 number 12345678 date 2025-03-01 check code 123456", None, {},
     {"code": "011001900111", "number": "12345678", "date": "2025-03-01", "check_code": "123456"}),
    ("number 24312000000136634917 date 2024.5.14 total 0.01", None, {},
     {"number": "24312000000136634917", "date": "2024-05-14", "total": "0.01"}),
    ("24312000000136634917 2024-05-14 ¥113", None, {},
     {"number": "24312000000136634917", "date": "2024-05-14", "total": "113.00"}),
    ("12345678", "number", {}, {"number": "12345678"}),
    ("20250301", "date", {}, {"date": "2025-03-01"}),
    ("3月1日", "date", {}, {"date": "2026-03-01"}),
    ("¥1,234.50", "amount", {}, {"amount": "1234.50"}),
    ("1234.5 元", "total", {}, {"total": "1234.50"}),
    ("011001900111", "number", {}, {"code": "011001900111"}),  # a code typed where the number was asked
    ("85342965681116380258", "check_code", {"number": "12345678"}, {"check_code": "380258"}),
    ("1234 5678 9012 3456 7890", "check_code", {"number": "12345678"}, {"check_code": "567890"}),
    ("0110-0190-0111", "code", {}, {"code": "011001900111"}),
    ("2025 年 3 月 1 日", "date", {}, {"date": "2025-03-01"}),
])
def test_values_found(text, awaiting, known, values) -> None:
    result = extract(text, awaiting=awaiting, known=known, today=TODAY, max_years=5)
    assert result.values == values
    assert [p for p in result.problems if not p.soft] == []


@pytest.mark.parametrize(("text", "awaiting", "problem"), [
    ("1234567", "number", "number_length"),
    ("O11OO19OO111", "code", "lookalike_letters"),
    ("hello", "number", "not_digits"),
    ("2025-02-30", "date", "date_invalid"),
    ("12.345", "amount", "money_decimals"),
    ("号码 1234567", None, "number_length"),
])
def test_problems_found(text, awaiting, problem) -> None:
    result = extract(text, awaiting=awaiting, known={}, today=TODAY, max_years=5)
    assert [p.code for p in result.problems] == [problem]


@pytest.mark.parametrize("text", ["hello", "你好，我的发票查不到", "", "😀", "<script>"])
def test_nothing_to_find(text) -> None:
    result = extract(text, awaiting=None, known={}, today=TODAY, max_years=5)
    assert result.values == {} and not result.found_anything


def test_tax_ids_and_phones_are_recognised_and_set_aside() -> None:
    result = extract("号码 12345678 税号 91110000600037341L 电话 010-62345678", awaiting=None, known={},
                     today=TODAY, max_years=5)
    assert result.values == {"number": "12345678"}
    assert result.set_aside == ["91110000600037341L", "010-62345678"] and result.unplaced == []


def test_unplaced_numbers_are_reported_not_dropped() -> None:
    result = extract("号码 12345678 9999999999999", awaiting=None, known={}, today=TODAY, max_years=5)
    assert result.values == {"number": "12345678"}
    assert result.unplaced == ["9999999999999"]


@pytest.mark.parametrize(("text", "values", "problems"), [
    # the date as e-invoices print it, with the time: the time is no field (it gave "23", "45", an amount 10.00)
    ("代码 011002610011 号码 12345678 日期 2026-05-14 10:23:45 校验码 567890",
     {"code": "011002610011", "number": "12345678", "date": "2026-05-14", "check_code": "567890"}, []),
    ("日期 2026年5月14日 10:23", {"date": "2026-05-14"}, []),
    # a dashed date next to an amount is not one long group of digits (the total was 202605202260.00)
    ("数电票 26112000000087654321 2026-05-20 2260元",
     {"number": "26112000000087654321", "date": "2026-05-20", "total": "2260.00"}, []),
    ("数电票 26112000000087654321 2026-05-20 2260",
     {"number": "26112000000087654321", "date": "2026-05-20", "total": "2260.00"}, []),
    # a number typed in two groups, as copied from paper (it was 4 digits and an amount of 5678.00)
    ("号码 1234 5678", {"number": "12345678"}, []),
    ("代码 0110 0261 0011 号码 1234 5678", {"code": "011002610011", "number": "12345678"}, []),
    # a two-digit year is asked about, and never overrides the labelled check code
    ("代码 011002610011 号码 12345678 校验码 567890 日期 26-05-14",
     {"code": "011002610011", "number": "12345678", "check_code": "567890"}, ["date"]),
    # a company's tax id and a phone number are not invoice fields
    ("91110108MA01ABCD2X", {}, []),
    ("我们公司税号是 91110108MA01ABCD2X，电话 13800138000", {}, []),
])
def test_what_merchants_really_type(text: str, values: dict[str, str], problems: list[str]) -> None:
    found = extract(text, awaiting=None, known={}, today=TODAY, max_years=5)
    assert found.values == values
    assert [p.field for p in found.problems if not p.soft] == problems
