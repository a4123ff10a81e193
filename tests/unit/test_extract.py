"""Table tests of finding fields in what merchants type: taken when clear, asked about when not."""

from __future__ import annotations

import time
from datetime import date

import pytest

from assistant.domain.extract import Question, extract, names_an_invoice, resolve_year

TODAY = date(2026, 6, 15)
DIGITAL_25 = "25112000000012345678"  # a 数电 number of 2025
CODE_25 = "011002500111"  # an e-ordinary invoice code of 2025 (fourth field: check code)
SPECIAL_25 = "1100252130"  # a special invoice code of 2025 (fourth field: amount)


def read(text: str, awaiting: str | None = None, known: dict[str, str] | None = None):
    return extract(text, awaiting=awaiting, known=known or {}, today=TODAY, max_years=5)


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
    ("¥1,234.50", "amount", {}, {"amount": "1234.50"}),
    ("1234.5 元", "total", {}, {"total": "1234.50"}),
    ("011001900111", "number", {}, {"code": "011001900111"}),  # a code typed where the number was asked
    ("85342965681116380258", "check_code", {"number": "12345678"}, {"check_code": "380258"}),
    ("1234 5678 9012 3456 7890", "check_code", {"number": "12345678"}, {"check_code": "567890"}),
    ("0110-0190-0111", "code", {}, {"code": "011001900111"}),
    ("2025 年 3 月 1 日", "date", {}, {"date": "2025-03-01"}),
    # spaced full-width digits of a number are the number (they were two amounts)
    ("１２３４ ５６７８", None, {}, {"number": "12345678"}),
    ("１２３４ ５６７８", "number", {}, {"number": "12345678"}),
    # dates with a year, as people say them
    ("June 3, 2025", None, {}, {"date": "2025-06-03"}),
    ("3 June 2025", None, {}, {"date": "2025-06-03"}),
    ("Jun 3 2025", None, {}, {"date": "2025-06-03"}),
    ("3rd June 2025", None, {}, {"date": "2025-06-03"}),
    ("issued on Jun. 3rd, 2025", None, {}, {"date": "2025-06-03"}),
    ("二〇二五年六月一日", None, {}, {"date": "2025-06-01"}),
    ("二零二五年六月一号", None, {}, {"date": "2025-06-01"}),
    ("2025年6月1日开的", None, {}, {"date": "2025-06-01"}),
    ("2025/6/1", None, {}, {"date": "2025-06-01"}),
    ("2025.6.1", None, {}, {"date": "2025-06-01"}),
    ("13/6/2025", None, {}, {"date": "2025-06-13"}),  # only one reading is a date
    ("1/7/2026", None, {}, {"date": "2026-01-07"}),  # 2026-07-01 is after today
    # amounts as people write them
    ("伍佰捌拾元整", "amount", {}, {"amount": "580.00"}),
    ("叁万元整", None, {"code": SPECIAL_25}, {"amount": "30000.00"}),
    ("壹仟贰佰叁拾肆元伍角陆分", None, {"number": DIGITAL_25}, {"total": "1234.56"}),
    ("壹仟零伍元", "amount", {}, {"amount": "1005.00"}),
    ("壹佰元零伍分", "amount", {}, {"amount": "100.05"}),
    ("三百五十元", "total", {}, {"total": "350.00"}),
    ("1130块", None, {}, {"amount": "1130.00"}),
    ("5块5", "amount", {}, {"amount": "5.50"}),
    ("5块5毛", "amount", {}, {"amount": "5.50"}),
    ("RMB 1,234.50", None, {"number": DIGITAL_25}, {"total": "1234.50"}),
    ("total 88 CNY", None, {}, {"total": "88.00"}),
    ("580", "amount", {}, {"amount": "580.00"}),  # a bare integer is money when money is asked
    ("价税合计（小写）：¥113.00 价税合计（大写）：壹佰壹拾叁圆整", None, {}, {"total": "113.00"}),
    ("金额 580 伍佰捌拾元整", None, {}, {"amount": "580.00"}),  # 大写 agreeing with the figure
    # digits of other scripts, and invisible format characters
    ("号码 ١٢٣٤٥٦٧٨", None, {}, {"number": "12345678"}),
    ("号码 १२३४५६७८", None, {}, {"number": "12345678"}),
    ("号码 1234\u202e5678", None, {}, {"number": "12345678"}),
    ("代码\u200d 0110\u200b01900111", None, {}, {"code": "011001900111"}),
])
def test_values_found(text, awaiting, known, values) -> None:
    result = read(text, awaiting, known)
    assert result.values == values
    assert [p for p in result.problems if not p.soft] == [] and result.questions == []


@pytest.mark.parametrize(("text", "awaiting", "known", "question"), [
    # letters typed for digits, fixing to a valid value
    ("号码 2000O123", None, {}, Question("number", "20000123", "2000O123", "lookalike")),
    ("2000O123", "number", {}, Question("number", "20000123", "2000O123", "lookalike")),
    ("number 2000o123", None, {}, Question("number", "20000123", "2000o123", "lookalike")),
    ("代码 O11OO19OO111", None, {}, Question("code", "011001900111", "O11OO19OO111", "lookalike")),
    ("O11OO19OO111", "code", {}, Question("code", "011001900111", "O11OO19OO111", "lookalike")),
    ("号码 1234S67B", None, {}, Question("number", "12345678", "1234S67B", "lookalike")),
    ("号码 l2345678", None, {}, Question("number", "12345678", "l2345678", "lookalike")),
    ("号码 2000|234", None, {}, Question("number", "20001234", "2000|234", "lookalike")),
    ("日期 2025-1O-08", None, {}, Question("date", "2025-10-08", "2025-1O-08", "lookalike")),
    ("2025-1O-08", None, {}, Question("date", "2025-10-08", "2025-1O-08", "lookalike")),
    ("2O25年6月1日", None, {}, Question("date", "2025-06-01", "2O25年6月1日", "lookalike")),
    ("金额 58O.00", None, {}, Question("amount", "580.00", "58O.00", "lookalike")),
    ("¥1,2O0.50", "amount", {}, Question("amount", "1200.50", "¥1,2O0.50", "lookalike")),
    ("校验码 12345O", None, {}, Question("check_code", "123450", "12345O", "lookalike")),
    ("校验码 8534296568111638O258", None, {}, Question("check_code", "380258", "8534296568111638O258",
                                                        "lookalike")),
    ("check code l23456", None, {}, Question("check_code", "123456", "l23456", "lookalike")),
    # a day alone: this month's, or last month's if this month's is still to come
    ("3号开的", None, {}, Question("date", "2026-06-03", "3号", "day_only")),
    ("3日", None, {}, Question("date", "2026-06-03", "3日", "day_only")),
    ("三号", None, {}, Question("date", "2026-06-03", "三号", "day_only")),
    ("十五号", None, {}, Question("date", "2026-06-15", "十五号", "day_only")),
    ("20号开的票", None, {}, Question("date", "2026-05-20", "20号", "day_only")),
    ("31号", None, {}, Question("date", "2026-05-31", "31号", "day_only")),
    ("3", "date", {}, Question("date", "2026-06-03", "3", "bare_number")),
    ("28", "date", {}, Question("date", "2026-05-28", "28", "bare_number")),
    # a month and day without a year, and no code or number to take it from
    ("3月1日", "date", {}, Question("date", "2026-03-01", "3月1日", "no_year")),
    ("6月1号", None, {}, Question("date", "2026-06-01", "6月1号", "no_year")),
    ("六月一日", None, {}, Question("date", "2026-06-01", "六月一日", "no_year")),
    ("六月一号", None, {}, Question("date", "2026-06-01", "六月一号", "no_year")),
    ("12月1日", None, {}, Question("date", "2025-12-01", "12月1日", "no_year")),
    ("June 3", None, {}, Question("date", "2026-06-03", "June 3", "no_year")),
    ("3 Jun", None, {}, Question("date", "2026-06-03", "3 Jun", "no_year")),
    ("issued on the 3rd of June", None, {}, Question("date", "2026-06-03", "3rd of June", "no_year")),
    ("6/1", None, {}, Question("date", "2026-06-01", "6/1", "no_year")),
    ("6.1", "date", {}, Question("date", "2026-06-01", "6.1", "no_year")),
    ("06-01", "date", {}, Question("date", "2026-06-01", "06-01", "no_year")),
    ("日期 6.1", None, {}, Question("date", "2026-06-01", "6.1", "no_year")),
    # the code's year gives a date after today: asked, with the latest such date that is not
    ("12月1日", None, {"code": "011002600111"}, Question("date", "2025-12-01", "12月1日", "no_year")),
    # a two-digit year
    ("25/6/1", None, {}, Question("date", "2025-06-01", "25/6/1", "short_year")),
    ("25-06-01", None, {}, Question("date", "2025-06-01", "25-06-01", "short_year")),
    ("日期 25.6.1", None, {}, Question("date", "2025-06-01", "25.6.1", "short_year")),
    # day and month in either order, both possible
    ("3/6/2025", None, {}, Question("date", "2025-03-06", "3/6/2025", "day_month_order",
                                    ("2025-03-06", "2025-06-03"))),
    ("03.06.2025", None, {}, Question("date", "2025-03-06", "03.06.2025", "day_month_order",
                                      ("2025-03-06", "2025-06-03"))),
    # a 大写 amount that disagrees with the figure
    ("金额 580 伍佰伍拾元整", None, {}, Question("amount", "580.00", "580 / 伍佰伍拾元整", "amount_conflict",
                                             ("580.00", "550.00"))),
    ("¥113.00 壹佰叁拾壹元整", None, {"number": DIGITAL_25},
     Question("total", "113.00", "¥113.00 / 壹佰叁拾壹元整", "amount_conflict", ("113.00", "131.00"))),
])
def test_questions_asked(text, awaiting, known, question) -> None:
    result = read(text, awaiting, known)
    assert result.questions == [question]
    assert question.field not in result.values
    assert [p for p in result.problems if not p.soft] == []


@pytest.mark.parametrize(("text", "known", "value", "inferred"), [
    # the year from the code or 数电 number, known or in the same message
    ("3月1日", {"code": CODE_25}, "2025-03-01", "year_from_code"),
    ("3月1日 代码 011002500111", {}, "2025-03-01", "year_from_code"),
    ("June 3 number 25112000000012345678", {}, "2025-06-03", "year_from_code"),
    ("3 Jun", {"code": SPECIAL_25}, "2025-06-03", "year_from_code"),
    ("6/1", {"number": DIGITAL_25}, "2025-06-01", "year_from_code"),
    ("六月一号", {"code": CODE_25}, "2025-06-01", "year_from_code"),
    # days said relative to today
    ("今天", {}, "2026-06-15", "relative"),
    ("今日开的", {}, "2026-06-15", "relative"),
    ("昨天开的", {}, "2026-06-14", "relative"),
    ("昨日", {}, "2026-06-14", "relative"),
    ("前天", {}, "2026-06-13", "relative"),
    ("大前天", {}, "2026-06-12", "relative"),
    ("today", {}, "2026-06-15", "relative"),
    ("it was issued yesterday", {}, "2026-06-14", "relative"),
    ("the day before yesterday", {}, "2026-06-13", "relative"),
    ("这个月3号", {}, "2026-06-03", "relative"),
    ("本月3号", {}, "2026-06-03", "relative"),
    ("上个月5号", {}, "2026-05-05", "relative"),
    ("上月5号", {}, "2026-05-05", "relative"),
    ("上个月三十一号", {}, "2026-05-31", "relative"),
])
def test_inferred_dates(text, known, value, inferred) -> None:
    result = read(text, None, known)
    assert result.values["date"] == value
    assert result.inferred == {"date": inferred} and result.questions == []


@pytest.mark.parametrize(("text", "awaiting", "problem"), [
    ("1234567", "number", "number_length"),
    ("2025-02-30", "date", "date_invalid"),
    ("12.345", "amount", "money_decimals"),
    ("号码 1234567", None, "number_length"),
    ("13月1日", None, "date_invalid"),
    ("2月30日", None, "date_invalid"),
    ("这个月20号", None, "date_future"),
    ("2027年1月1日", None, "date_future"),
    ("日期 26-12-01", None, "date_future"),
    ("日期 2019-01-01", None, "date_too_old"),
    ("日期 3月", None, "date_unparsed"),
    ("1.5万", "amount", "money_wan"),
    ("0", "amount", "money_not_positive"),
    ("壹佰佰元", "amount", "money_unparsed"),
])
def test_problems_found(text, awaiting, problem) -> None:
    result = read(text, awaiting)
    assert [p.code for p in result.problems] == [problem]
    assert result.values == {} and result.questions == []


@pytest.mark.parametrize(("text", "awaiting", "problem", "params"), [
    # letters that do not fix to a valid value: counted as typed, named
    ("号码 2000O1234", None, "number_length", {"got": 9, "letters": ["O"], "typed": "2000O1234"}),
    ("2000O12", "number", "number_length", {"got": 7, "letters": ["O"], "typed": "2000O12"}),
    ("代码 O11OO19OO1112", None, "code_length", {"got": 13, "letters": ["O"], "typed": "O11OO19OO1112"}),
    ("number 2000Ol234", None, "number_length", {"got": 9, "letters": ["O", "l"], "typed": "2000Ol234"}),
    ("校验码 1234O", None, "check_code_length", {"got": 5, "letters": ["O"], "typed": "1234O"}),
    ("check code 1234S67", None, "check_code_length", {"got": 7, "letters": ["S"], "typed": "1234S67"}),
    ("日期 2025-1O-38", None, "date_invalid", {"letters": ["O"], "typed": "2025-1O-38"}),
    ("日期 2025-1OO-08", None, "date_unparsed", {"letters": ["O"], "typed": "2025-1OO-08"}),
    ("金额 58O.123", None, "money_decimals", {"letters": ["O"], "typed": "58O.123"}),
])
def test_letters_that_do_not_fix_are_problems_that_name_them(text, awaiting, problem, params) -> None:
    result = read(text, awaiting)
    assert [p.code for p in result.problems] == [problem]
    assert params.items() <= result.problems[0].params.items()
    assert result.values == {} and result.questions == [] and result.unplaced == []


def test_a_lookalike_question_keeps_a_soft_problem_describing_it() -> None:
    result = read("号码 2000O123")
    assert [(p.code, p.soft, p.params) for p in result.problems] == [
        ("lookalike_letters", True, {"value": "2000O123", "fixed": "20000123", "letters": ["O"]})]


@pytest.mark.parametrize(("text", "awaiting", "known", "values", "unplaced"), [
    # leftovers of a value with a letter in it are never another field (it was number 3 digits + amount)
    ("号码 2000O123", None, {}, {}, []),
    ("2000O12", None, {}, {}, ["2000O12"]),
    ("2025-1O-08", None, {}, {}, []),  # (the year was an amount 2025.00)
    # unlabelled numbers are not money
    ("3号开的", None, {}, {}, []),
    ("June 3, 2025", None, {}, {"date": "2025-06-03"}, []),
    ("3", None, {}, {}, ["3"]),
    ("发票是 2025 年开的，金额不对", None, {}, {}, ["2025"]),
    ("数电票 26112000000087654321 2026-05-20 2260", None, {},
     {"number": "26112000000087654321", "date": "2026-05-20"}, ["2260"]),
    # an amount for a family whose fourth field is the check code is not taken
    ("¥580", None, {"code": CODE_25}, {}, ["¥580"]),
    ("011002500111\t12345678\t2025-03-01\t100.00\t13.00\t113.00", None, {},
     {"code": CODE_25, "number": "12345678", "date": "2025-03-01"}, ["100.00", "13.00", "113.00"]),
    ("580.00", None, {"code": CODE_25}, {}, ["580.00"]),
    ("580.00", None, {"code": SPECIAL_25}, {"amount": "580.00"}, []),
    # ... and a 6-digit run is no check code for a family that has none
    ("580000", None, {"code": SPECIAL_25}, {}, ["580000"]),
    # a label wins over an unlabelled value of the same field
    ("号码 12345678 校验码 123456 654321", None, {}, {"number": "12345678", "check_code": "123456"}, ["654321"]),
    ("日期 2025-03-01 3号", None, {}, {"date": "2025-03-01"}, ["3号"]),
])
def test_only_what_the_text_gives(text, awaiting, known, values, unplaced) -> None:
    result = read(text, awaiting, known)
    assert result.values == values
    assert result.unplaced == unplaced
    assert not {"amount", "total"} & {q.field for q in result.questions}


@pytest.mark.parametrize("text", ["hello", "你好，我的发票查不到", "", "😀", "<script>", "\u202e\u200d"])
def test_nothing_to_find(text) -> None:
    result = read(text)
    assert result.values == {} and not result.found_anything


def test_questions_count_as_something_found() -> None:
    assert read("3号").found_anything


def test_tax_ids_and_phones_are_recognised_and_set_aside() -> None:
    result = read("号码 12345678 税号 91110000600037341L 电话 010-62345678")
    assert result.values == {"number": "12345678"}
    assert result.set_aside == ["91110000600037341L", "010-62345678"] and result.unplaced == []


def test_unplaced_numbers_are_reported_not_dropped() -> None:
    result = read("号码 12345678 9999999999999")
    assert result.values == {"number": "12345678"}
    assert result.unplaced == ["9999999999999"]


def test_questions_keep_the_order_of_the_text_and_one_per_field() -> None:
    result = read("号码 2000O123 3号 校验码 12345O")
    assert [q.field for q in result.questions] == ["number", "date", "check_code"]
    result = read("3号 June 3")  # the second date is not placed
    assert [q.raw for q in result.questions] == ["3号"] and result.unplaced == ["June 3"]


@pytest.mark.parametrize(("text", "values", "problems"), [
    # the date as e-invoices print it, with the time: the time is no field (it gave "23", "45", an amount 10.00)
    ("代码 011002610011 号码 12345678 日期 2026-05-14 10:23:45 校验码 567890",
     {"code": "011002610011", "number": "12345678", "date": "2026-05-14", "check_code": "567890"}, []),
    ("日期 2026年5月14日 10:23", {"date": "2026-05-14"}, []),
    # a dashed date next to an amount is not one long group of digits (the total was 202605202260.00)
    ("数电票 26112000000087654321 2026-05-20 2260元",
     {"number": "26112000000087654321", "date": "2026-05-20", "total": "2260.00"}, []),
    # a number typed in two groups, as copied from paper (it was 4 digits and an amount of 5678.00)
    ("号码 1234 5678", {"number": "12345678"}, []),
    ("代码 0110 0261 0011 号码 1234 5678", {"code": "011002610011", "number": "12345678"}, []),
    # a company's tax id and a phone number are not invoice fields
    ("91110108MA01ABCD2X", {}, []),
    ("我们公司税号是 91110108MA01ABCD2X，电话 13800138000", {}, []),
])
def test_what_merchants_really_type(text: str, values: dict[str, str], problems: list[str]) -> None:
    found = read(text)
    assert found.values == values
    assert [p.field for p in found.problems if not p.soft] == problems


def test_a_two_digit_year_is_asked_about_and_never_overrides_the_labelled_check_code() -> None:
    found = read("代码 011002610011 号码 12345678 校验码 567890 日期 26-05-14")
    assert found.values == {"code": "011002610011", "number": "12345678", "check_code": "567890"}
    assert found.questions == [Question("date", "2026-05-14", "26-05-14", "short_year")]


@pytest.mark.parametrize(("text", "names"), [
    ("号码 12345678", True), ("号码 2000O123", True), ("代码 12345", True), ("3号", False), ("你好", False),
])
def test_names_an_invoice(text: str, names: bool) -> None:
    assert names_an_invoice(text, today=TODAY, max_years=5) is names


@pytest.mark.parametrize(("month_day", "known", "resolved"), [
    ((3, 1), {"code": CODE_25}, ("2025-03-01", "year_from_code")),
    ((6, 1), {"number": DIGITAL_25}, ("2025-06-01", "year_from_code")),
    ((12, 1), {"code": "011002600111"}, (None, None)),  # after today
    ((3, 1), {}, (None, None)),
    ((2, 29), {"code": CODE_25}, (None, None)),  # no such day in 2025
])
def test_resolve_year(month_day, known, resolved) -> None:
    assert resolve_year(month_day, known, TODAY) == resolved


@pytest.mark.parametrize("unit", ["壹佰", "壹", "二", "1-", "1.", "1,", "1/", "1月", "2025年", "3号", "1O ", "O-", "June ", "1 "])
@pytest.mark.parametrize("tail", ["", "元", "年", "号"])
def test_long_messages_are_read_in_linear_time(unit: str, tail: str) -> None:
    """The longest message Telegram sends, made of what makes patterns backtrack: read at once (one such
    message once took minutes)."""
    text = unit * (4096 // len(unit)) + tail
    started = time.perf_counter()
    read(text, "date")
    read(text)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(("text", "expected"), [("今年3月3日", "2026-03-03"), ("去年5月1号开的", "2025-05-01"),
                                                ("前年12月1日", "2024-12-01")])
def test_the_year_the_merchant_says_wins_over_the_code_s(text: str, expected: str) -> None:
    found = extract(text, awaiting="date", known={"code": "011002500111"}, today=TODAY, max_years=5)
    assert found.values == {"date": expected} and "date" not in found.inferred
