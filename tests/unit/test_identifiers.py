"""Table tests of normalisation and validation of every identifier family, dates and amounts."""

from __future__ import annotations

from datetime import date

import pytest

from assistant.domain.identifiers import (
    cross_check,
    date_problem,
    family_of,
    fix_lookalikes,
    fourth_field,
    normalise_text,
    validate_check_code,
    validate_code,
    validate_date,
    validate_money,
    validate_number,
)
from assistant.domain.regions import is_beijing, region_names, region_of

TODAY = date(2026, 6, 15)


@pytest.mark.parametrize(("code", "number", "family", "fourth"), [
    ("1100262130", "00112233", "special", "amount"),
    ("011002600104", "12345678", "ordinary", "check_code"),
    ("011002600105", "12345678", "ordinary", "check_code"),
    ("011002600106", "12345678", "roll", "check_code"),
    ("011002600107", "12345678", "roll", "check_code"),
    ("011002600111", "12345678", "e_ordinary", "check_code"),
    ("011002600112", "12345678", "toll", "check_code"),
    ("011002600113", "12345678", "e_special", "amount"),  # 12 digits, yet a special invoice
    (None, "26112000000012345678", "digital", "total"),
    ("011002600199", "12345678", "other", "check_code"),
    (None, "12345678", None, None),
])
def test_family_and_fourth_field(code, number, family, fourth) -> None:
    assert family_of(code, number) == family
    assert fourth_field(family) == fourth


@pytest.mark.parametrize(("raw", "value", "problem"), [
    ("011001900111", "011001900111", None),
    ("0110-0190-0111", "011001900111", None),
    ("０１１００１９００１１１", "011001900111", None),
    ("1100191130", "1100191130", None),
    ("O11OO19OO111", None, "lookalike_letters"),
    ("01100190011", None, "code_length"),
    ("0110019001112", None, "code_length"),
    ("abc", None, "not_digits"),
    ("111001900111", "111001900111", "code_first_digit"),
    ("011001900199", "011001900199", "code_kind_unknown"),
    ("1100191199", "1100191199", "code_pattern"),
])
def test_code(raw, value, problem) -> None:
    result, problems = validate_code(raw)
    assert result == value
    assert [p.code for p in problems] == ([problem] if problem else [])
    assert all(p.soft for p in problems) == (value is not None)


@pytest.mark.parametrize(("raw", "value", "problem", "got"), [
    ("12345678", "12345678", None, None),
    ("1234 5678", "12345678", None, None),
    ("24312000000136634917", "24312000000136634917", None, None),
    ("1234567", None, "number_length", 7),
    ("123456789", None, "number_length", 9),
    ("1234567I", None, "lookalike_letters", None),
])
def test_number(raw, value, problem, got) -> None:
    result, problems = validate_number(raw)
    assert result == value
    assert [p.code for p in problems] == ([problem] if problem else [])
    if got is not None:
        assert problems[0].params["got"] == got


@pytest.mark.parametrize(("raw", "value", "problem"), [
    ("123456", "123456", None),
    ("85342965681116380258", "380258", None),
    ("12345", None, "check_code_length"),
    ("1234567", None, "check_code_length"),
])
def test_check_code(raw, value, problem) -> None:
    result, problems = validate_check_code(raw)
    assert result == value
    assert [p.code for p in problems] == ([problem] if problem else [])


@pytest.mark.parametrize(("raw", "value", "problem"), [
    ("2025-03-01", "2025-03-01", None),
    ("2025年3月1日", "2025-03-01", None),
    ("2025.3.1", "2025-03-01", None),
    ("2025/03/01", "2025-03-01", None),
    ("20250301", "2025-03-01", None),
    ("3月1日", "2026-03-01", None),  # this year: documents and imports always carry a year; typed text is asked
    ("２０２５年３月１日", "2025-03-01", None),
    ("2026-06-15", "2026-06-15", None),
    ("2026-06-16", None, "date_future"),
    ("2021-06-14", None, "date_too_old"),
    ("2021-06-15", "2021-06-15", None),
    ("2025-02-29", None, "date_invalid"),
    ("2025-13-01", None, "date_invalid"),
    ("yesterday", None, "date_unparsed"),
])
def test_date(raw, value, problem) -> None:
    result, problems = validate_date(raw, TODAY, 5)
    assert result == value
    assert [p.code for p in problems] == ([problem] if problem else [])


@pytest.mark.parametrize(("raw", "value", "problem"), [
    ("1000", "1000.00", None),
    ("1,000.5", "1000.50", None),
    ("¥1,234.56", "1234.56", None),
    ("￥ 88 元", "88.00", None),
    ("１２３.４５", "123.45", None),
    ("0", None, "money_not_positive"),
    ("-5", None, "money_not_positive"),
    ("12.345", None, "money_decimals"),
    ("abc", None, "money_unparsed"),
    ("NaN", None, "money_unparsed"),
    ("1e309", None, "money_unparsed"),
    ("9" * 20, None, "money_too_large"),
])
def test_money(raw, value, problem) -> None:
    result, problems = validate_money(raw, "amount")
    assert result == value
    assert [p.code for p in problems] == ([problem] if problem else [])


def test_normalise_text_removes_control_characters_and_full_width() -> None:
    assert normalise_text("\x00号码：\u200b１２\t\t34\x7f") == "号码:12 34"


@pytest.mark.parametrize(("raw", "clean"), [
    ("١٢٣٤٥٦٧٨", "12345678"),  # Arabic-Indic
    ("۱۲۳۴۵۶۷۸", "12345678"),  # Extended Arabic-Indic (Persian)
    ("१२३४५६७८", "12345678"),  # Devanagari
    ("১২৩৪", "1234"),  # Bengali
    ("๑๒๓๔", "1234"),  # Thai
    ("𝟏𝟐𝟑", "123"),  # mathematical bold digits
    ("１２３４", "1234"),  # full width
    ("1234\u202e5678", "12345678"),  # right-to-left override
    ("12\u200d34\u2060\ufeff56\u00ad78", "12345678"),  # zero-width joiner, word joiner, BOM, soft hyphen
    ("\u202a号码\u202c 1", "号码 1"),
    ("a\u2028b", "a b"),  # a line separator is still a space
])
def test_normalise_text_makes_every_digit_ascii_and_drops_format_characters(raw: str, clean: str) -> None:
    assert normalise_text(raw) == clean


@pytest.mark.parametrize(("raw", "fixed", "letters"), [
    ("2000O123", "20000123", ("O",)),
    ("O11OO19OO111", "011001900111", ("O",)),
    ("l2I4|6", "121416", ("l", "I", "|")),
    ("S5s5B8Z2z2oL", "555588222201", ("S", "s", "B", "Z", "z", "o", "L")),
    ("12345678", "12345678", ()),
])
def test_fix_lookalikes(raw: str, fixed: str, letters: tuple[str, ...]) -> None:
    assert fix_lookalikes(raw) == (fixed, letters)


@pytest.mark.parametrize(("issued", "problem"), [
    (date(2026, 6, 15), None), (date(2026, 6, 16), "date_future"), (date(2021, 6, 14), "date_too_old"),
    (date(2021, 6, 15), None),
])
def test_date_problem(issued: date, problem: str | None) -> None:
    found = date_problem(issued, TODAY, 5)
    assert (found.code if found else None) == problem


@pytest.mark.parametrize(("fields", "warned"), [
    ({"code": "011002500111", "date": "2025-03-01"}, False),
    ({"code": "011002400111", "date": "2025-03-01"}, True),
    ({"code": "1100252130", "date": "2025-03-01"}, False),
    ({"number": "24112000000000000001", "date": "2025-03-01"}, True),
    ({"code": "011002400111"}, False),
])
def test_year_inside_code_versus_date(fields, warned) -> None:
    problems = cross_check(fields)
    assert bool(problems) == warned
    assert all(p.soft and p.code == "year_mismatch" for p in problems)


@pytest.mark.parametrize(("code", "number", "beijing", "name"), [
    ("011002500111", "12345678", True, "北京"),
    ("031002500111", "12345678", False, "上海"),
    ("1100252130", "00112233", True, "北京"),
    ("4403252130", "00112233", False, "深圳"),
    (None, "25112000000000000001", True, "北京"),
    (None, "25442000000000000001", False, "广东"),
])
def test_region(code, number, beijing, name) -> None:
    region = region_of(code, number)
    assert is_beijing(region) == beijing
    assert region_names(region)[0] == name
