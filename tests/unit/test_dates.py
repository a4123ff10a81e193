"""Table tests of dates as merchants type them: where they are in a message and what they come to."""

from __future__ import annotations

from datetime import date

import pytest

from assistant.domain.dates import DateReading, find_dates, most_recent, read_date, whole_date

TODAY = date(2026, 6, 15)


def reading(text: str, code_year: int | None = None, expected: bool = False) -> DateReading:
    typed = whole_date(text, TODAY, expected=expected)
    assert typed is not None, text
    return read_date(typed, text, today=TODAY, max_years=5, code_year=code_year)


@pytest.mark.parametrize(("text", "found"), [
    ("发票是2025年6月1日开的，号码12345678", ["2025年6月1日"]),
    ("日期 2025 年 6 月 1 日 10:23", ["2025 年 6 月 1 日"]),
    ("2025-06-01 and 2025/6/2 and 2025.6.3", ["2025-06-01", "2025/6/2", "2025.6.3"]),
    ("issued June 3, 2025, thanks", ["June 3, 2025"]),
    ("3rd June 2025 or 3 Jun", ["3rd June 2025", "3 Jun"]),
    ("二〇二五年六月一日开", ["二〇二五年六月一日"]),
    ("六月一号和十五号", ["六月一号", "十五号"]),
    ("上个月5号开的，不是昨天", ["上个月5号"]),  # 昨天 here says when nothing was issued
    ("昨天下午刚开的", ["昨天"]),
    ("issued yesterday", ["issued yesterday"]),
    ("3号开的", ["3号"]),
    ("25/6/1", ["25/6/1"]),
    ("3/6/2025", ["3/6/2025"]),
    ("6.1号", ["6.1号"]),
    # not dates
    ("号码 12345678", []),
    ("3号码", []),
    ("3日内", []),
    ("100日元", []),
    ("6.1", []),  # a dotted month-day only where a date is expected
    ("06-01", []),
    ("20250601", []),  # eight digits are a number unless a date is expected
    ("6/45", []),
    ("45号", []),
    ("Mark 3", []),
    ("Nov", []),
    ("系统今天是不是又崩了", []),  # a day that says when something else happened is not the issue date
    ("我昨天问过了还是查不到", []),
    ("today is busy", []),
])
def test_found_in_text(text: str, found: list[str]) -> None:
    assert [text[typed.start:typed.end] for typed in find_dates(text, TODAY)] == found


@pytest.mark.parametrize(("text", "expected", "kind"), [
    ("20250601", True, "full"),
    ("6.1", True, "month_day"),
    ("06-01", True, "month_day"),
    ("3", True, "bare_number"),
    ("十五", True, "bare_number"),
    ("2025-06-01", False, "full"),
    ("今天", False, "relative"),
])
def test_whole_date(text: str, expected: bool, kind: str) -> None:
    typed = whole_date(text, TODAY, expected=expected)
    assert typed is not None and typed.kind == kind


@pytest.mark.parametrize(("text", "expected"), [
    ("20250601", False), ("6.1", False), ("3", False), ("hello", True), ("2025-06-01 12345678", True),
    ("3月", True), ("0", True), ("32", True),
])
def test_not_a_whole_date(text: str, expected: bool) -> None:
    assert whole_date(text, TODAY, expected=expected) is None


@pytest.mark.parametrize(("text", "code_year", "value", "reason", "inferred"), [
    ("2025-06-01", None, "2025-06-01", None, None),
    ("二零二五年六月一号", None, "2025-06-01", None, None),
    ("June 3, 2025", None, "2025-06-03", None, None),
    ("今天", None, "2026-06-15", None, "relative"),
    ("大前天", None, "2026-06-12", None, "relative"),
    ("yesterday", None, "2026-06-14", None, "relative"),
    ("上个月5号", None, "2026-05-05", None, "relative"),
    ("6月1日", 25, "2025-06-01", None, "year_from_code"),
    ("6月1日", None, "2026-06-01", "no_year", None),
    ("6月16日", None, "2025-06-16", "no_year", None),  # this year's is still to come
    ("6月16日", 26, "2025-06-16", "no_year", None),  # the code's year gives a date after today
    ("2月29日", None, "2024-02-29", "no_year", None),  # the latest 29 February
    ("3号", None, "2026-06-03", "day_only", None),
    ("16号", None, "2026-05-16", "day_only", None),
    ("31日", None, "2026-05-31", "day_only", None),
    ("25/6/1", None, "2025-06-01", "short_year", None),
    ("3/6/2025", None, "2025-03-06", "day_month_order", None),
    ("13/6/2025", None, "2025-06-13", None, None),
    ("5/7/2026", None, "2026-05-07", None, None),  # 2026-07-05 is after today
])
def test_what_a_date_comes_to(text, code_year, value, reason, inferred) -> None:
    result = reading(text, code_year)
    assert (result.value, result.reason, result.inferred, result.problem) == (value, reason, inferred, None)


@pytest.mark.parametrize(("text", "expected", "problem"), [
    ("2025-02-30", False, "date_invalid"),
    ("13月1日", False, "date_invalid"),
    ("2月30日", False, "date_invalid"),
    ("上个月31号", False, None),  # May has 31 days
    ("2027年1月1日", False, "date_future"),
    ("这个月20号", False, "date_future"),
    ("26-12-01", False, "date_future"),
    ("2019-01-01", False, "date_too_old"),
    ("12345678", True, "date_invalid"),
    ("7/8/2030", False, "date_future"),
])
def test_date_problems(text: str, expected: bool, problem: str | None) -> None:
    typed = whole_date(text, TODAY, expected=expected)
    assert typed is not None
    result = read_date(typed, text, today=TODAY, max_years=5, code_year=None)
    assert (result.problem.code if result.problem else None) == problem


def test_readings_of_day_and_month_in_either_order() -> None:
    result = reading("03.06.2025")
    assert result.options == ("2025-03-06", "2025-06-03")
    assert reading("3/3/2025").options == ()  # one date, whichever the order


@pytest.mark.parametrize(("month", "day", "recent"), [
    (6, 15, date(2026, 6, 15)), (6, 16, date(2025, 6, 16)), (2, 29, date(2024, 2, 29)), (2, 30, None),
])
def test_most_recent(month: int, day: int, recent: date | None) -> None:
    assert most_recent(month, day, TODAY) == recent
