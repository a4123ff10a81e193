"""Generated families of what merchants type: times after dates, digits in spaced groups, two-digit
years, company tax ids, telephone numbers, amounts with 元 and 万, letters typed for digits, dates
without a year, relative days, a day alone, 大写 amounts. Whatever the mix, a labelled field is read
exactly, what is not clear is asked about, and nothing that the text does not give becomes a field."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from assistant.domain.extract import Extraction, Question, extract
from assistant.domain.identifiers import (
    USCC_ALPHABET,
    _USCC_WEIGHTS,
    normalise_text,
    validate_check_code,
    validate_code,
    validate_date,
    validate_money,
    validate_number,
)

TODAY = date(2026, 12, 2)
FIELD_KEYS = {"code", "number", "date", "amount", "check_code", "total"}

dates = st.dates(min_value=TODAY - timedelta(days=4 * 365), max_value=TODAY)
digits = st.text(alphabet="0123456789", min_size=1, max_size=1)
numbers = st.from_regex(r"\A[0-9]{8}\Z")
checks = st.from_regex(r"\A[0-9]{6}\Z")
long_checks = st.from_regex(r"\A[0-9]{20}\Z")
money = st.decimals(min_value="0.01", max_value="999999.99", places=2)
# The letters typed for each digit (O/o for 0, I/l/L/| for 1, S/s for 5, B for 8, Z/z for 2).
LETTERS = {"0": "Oo", "1": "IlL|", "5": "Ss", "8": "B", "2": "Zz"}
ALL_LETTERS = "".join(LETTERS.values())


@st.composite
def codes(draw: st.DrawFn) -> str:
    """A Beijing e-ordinary invoice code of the year of issue: 0 1100 YY B 0011."""
    year = draw(dates).year % 100
    return f"01100{year:02d}{draw(digits)}0011"


@st.composite
def times(draw: st.DrawFn) -> str:
    hour, minute, second = draw(st.integers(0, 23)), draw(st.integers(0, 59)), draw(st.integers(0, 59))
    return draw(st.sampled_from([f" {hour:02d}:{minute:02d}", f" {hour:02d}:{minute:02d}:{second:02d}", ""]))


@st.composite
def tax_ids(draw: st.DrawFn) -> str:
    """A unified social credit code with a valid check character (GB 32100)."""
    body = "91" + draw(st.from_regex(r"\A[0-9]{6}\Z")) + draw(st.text(alphabet=USCC_ALPHABET, min_size=9,
                                                                     max_size=9))
    total = sum(USCC_ALPHABET.index(char) * weight for char, weight in zip(body, _USCC_WEIGHTS))
    return body + USCC_ALPHABET[(31 - total % 31) % 31]


@st.composite
def phones(draw: st.DrawFn) -> str:
    mobile = "1" + draw(st.sampled_from("3456789")) + draw(st.from_regex(r"\A[0-9]{9}\Z"))
    area = draw(st.sampled_from(["010", "021", "0571", "0755"]))
    line = draw(st.from_regex(r"\A[2-9][0-9]{7}\Z"))
    return draw(st.sampled_from([mobile, f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}", f"{area}-{line}",
                                 f"({area}){line}", "400-810-8888"]))


def grouped(value: str, cuts: list[int]) -> str:
    """The value typed in groups, as copied from paper."""
    points = sorted({cut % len(value) for cut in cuts if 0 < cut % len(value)})
    pieces = [value[start:end] for start, end in zip([0, *points], [*points, len(value)])]
    return " ".join(pieces)


def find(text: str, awaiting: str | None = None, known: dict[str, str] | None = None) -> Extraction:
    return extract(text, awaiting=awaiting, known=known or {}, today=TODAY, max_years=5)


def read(text: str, awaiting: str | None = None) -> tuple[dict[str, str], list[str]]:
    found = find(text, awaiting)
    return found.values, [problem.code for problem in found.problems if not problem.soft]


@settings(max_examples=150, deadline=None)
@given(code=codes(), number=numbers, issued=dates, time=times(), check=checks,
       noise=st.lists(st.one_of(tax_ids(), phones()), max_size=2), order=st.randoms())
def test_labelled_fields_with_times_tax_ids_and_phones(code, number, issued, time, check, noise, order) -> None:
    parts = [f"代码 {code}", f"号码 {number}", f"日期 {issued.isoformat()}{time}", f"校验码 {check}"]
    parts += [f"电话 {item}" if item[0] in "0(14" and "-" in item else f"税号 {item}" for item in noise]
    order.shuffle(parts)
    values, problems = read(" ".join(parts))
    assert values == {"code": code, "number": number, "date": issued.isoformat(), "check_code": check}
    assert problems == []


@settings(max_examples=150, deadline=None)
@given(number=numbers, cuts=st.lists(st.integers(1, 7), min_size=1, max_size=3))
def test_a_labelled_number_in_spaced_groups(number, cuts) -> None:
    values, _ = read(f"号码 {grouped(number, cuts)}")
    assert values == {"number": number}


@settings(max_examples=100, deadline=None)
@given(code=codes(), check=checks, issued=dates, separator=st.sampled_from("-/."))
def test_a_two_digit_year_is_asked_about_and_never_becomes_another_field(code, check, issued, separator) -> None:
    found = find(f"代码 {code} 日期 {issued:%y}{separator}{issued:%m}{separator}{issued:%d} 校验码 {check}")
    assert found.values == {"code": code, "check_code": check}
    assert found.questions == [Question("date", issued.isoformat(),
                                        f"{issued:%y}{separator}{issued:%m}{separator}{issued:%d}", "short_year")]


@settings(max_examples=100, deadline=None)
@given(number=st.from_regex(r"\A2[0-9]{19}\Z"), issued=dates, total=money, unit=st.sampled_from(["元", " 元", ""]))
def test_a_digital_invoice_in_one_line(number, issued, total, unit) -> None:
    values, _ = read(f"数电票 {number} {issued.isoformat()} 价税合计 {total}{unit}")
    assert values == {"number": number, "date": issued.isoformat(), "total": f"{total:.2f}"}


@settings(max_examples=100, deadline=None)
@given(figure=st.decimals(min_value="0.1", max_value="999", places=1), label=st.sampled_from(["金额", "价税合计", ""]))
def test_amounts_in_wan_are_asked_for_exactly(figure, label) -> None:
    values, problems = read(f"{label} {figure}万".strip(), awaiting="amount")
    assert not {"amount", "total"} & set(values)
    assert "money_wan" in problems


@settings(max_examples=100, deadline=None)
@given(item=st.one_of(tax_ids(), phones()))
def test_tax_ids_and_phones_alone_are_no_fields(item) -> None:
    values, _ = read(item)
    assert values == {}


# -- (a) letters typed for digits in every field --------------------------------------------------------
@st.composite
def with_letters(draw: st.DrawFn, value: str) -> str:
    """`value` with letters typed for some of its digits (at least one digit kept: a value typed all in
    letters is no number), or with one letter typed in as well."""
    places = [index for index, char in enumerate(value) if char in LETTERS]
    most = min(3, len(places), sum(char.isdigit() for char in value) - 1)
    if most >= 1 and draw(st.booleans()):
        chosen = draw(st.lists(st.sampled_from(places), min_size=1, max_size=most, unique=True))
        return "".join(draw(st.sampled_from(LETTERS[char])) if index in chosen else char
                       for index, char in enumerate(value))
    spots = [index for index, char in enumerate(value) if char.isdigit()] + [len(value)]
    spot = draw(st.sampled_from(spots))
    return value[:spot] + draw(st.sampled_from(ALL_LETTERS)) + value[spot:]


def as_digits(typed: str) -> str:
    return typed.translate(str.maketrans({letter: digit for digit, letters in LETTERS.items()
                                          for letter in letters}))


def expected_fix(name: str, typed: str) -> str | None:
    """What the typed value is with its letters read as digits, when that is a valid value."""
    fixed = as_digits(typed)
    if name == "date":
        return validate_date(fixed, TODAY, 5)[0]
    if name == "amount":
        return validate_money(fixed, name)[0]
    validator = {"code": validate_code, "number": validate_number, "check_code": validate_check_code}[name]
    value, problems = validator(fixed)
    return value if not [p for p in problems if not p.soft] else None


@st.composite
def invoice_fields(draw: st.DrawFn) -> dict[str, str]:
    return {"code": draw(codes()), "number": draw(numbers), "date": draw(dates).isoformat(),
            "check_code": draw(st.one_of(checks, long_checks)), "amount": f"{draw(money):.2f}"}


LABELS = {"code": "代码", "number": "号码", "date": "日期", "check_code": "校验码", "amount": "金额"}


def stored(name: str, value: str) -> str:
    return value[-6:] if name == "check_code" else value


def assert_asked_or_refused(found: Extraction, name: str, typed: str) -> None:
    """A value with letters in it is never stored: asked about with the right digits, or a problem."""
    assert name not in found.values
    asked = [q for q in found.questions if q.field == name]
    if asked:
        assert asked == [Question(name, str(expected_fix(name, typed)), typed, "lookalike")]
    else:
        assert [p for p in found.problems if p.field == name and not p.soft]
        assert expected_fix(name, typed) is None


@settings(max_examples=300, deadline=None)
@given(fields=invoice_fields(), name=st.sampled_from(sorted(LABELS)), data=st.data(), order=st.randoms())
def test_letters_in_a_labelled_field(fields, name, data, order) -> None:
    typed = data.draw(with_letters(fields[name]))
    assume(typed != fields[name])
    parts = [f"{LABELS[key]} {typed if key == name else value}" for key, value in fields.items()]
    order.shuffle(parts)
    found = find(" ".join(parts))
    assert_asked_or_refused(found, name, typed)
    others = {key: stored(key, value) for key, value in fields.items() if key != name}
    assert found.values == others  # nothing else appears from the leftovers, the other fields are exact
    assert {q.field for q in found.questions} <= {name}


@settings(max_examples=300, deadline=None)
@given(fields=invoice_fields(), name=st.sampled_from(sorted(LABELS)), data=st.data())
def test_letters_in_the_bare_answer_to_the_field_asked(fields, name, data) -> None:
    typed = data.draw(with_letters(fields[name]))
    assume(typed != fields[name])
    found = find(typed, awaiting=name, known={"number": fields["number"]} if name == "check_code" else {})
    assert_asked_or_refused(found, name, typed)
    assert set(found.values) == set() and found.unplaced == []


@settings(max_examples=200, deadline=None)
@given(number=numbers, spot=st.integers(0, 8), letter=st.sampled_from(ALL_LETTERS))
def test_an_unlabelled_number_with_a_letter_typed_in_is_one_token(number, spot, letter) -> None:
    typed = number[:spot] + letter + number[spot:]
    found = find(f"发票 {typed} 查不到")
    assert found.values == {} and found.questions == []
    assert found.unplaced == [typed]


# -- (b) dates without a year, relative days, a day alone ----------------------------------------------
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
CN = "〇一二三四五六七八九"


def cn_number(value: int) -> str:
    """1-31 in Chinese numerals: 三, 十, 十五, 二十, 三十一."""
    tens, ones = divmod(value, 10)
    return (CN[tens] if tens > 1 else "") + ("十" if tens else "") + (CN[ones] if ones else "")


def month_day_forms(month: int, day: int) -> list[str]:
    return [f"{month}月{day}日", f"{month}月{day}号", f"{month:02d}月{day:02d}日", f"{cn_number(month)}月{cn_number(day)}日",
            f"{cn_number(month)}月{cn_number(day)}号", f"{MONTHS[month - 1]} {day}", f"{MONTHS[month - 1][:3]} {day}",
            f"{day} {MONTHS[month - 1]}", f"{month}/{day}"]


def latest(month: int, day: int) -> date:
    """The latest date with this month and day that is not after today."""
    year = TODAY.year
    while True:
        try:
            if date(year, month, day) <= TODAY:
                return date(year, month, day)
        except ValueError:
            pass
        year -= 1


@settings(max_examples=300, deadline=None)
@given(issued=dates, data=st.data(), code_year=st.one_of(st.none(), st.integers(TODAY.year - 4, TODAY.year)),
       wrap=st.sampled_from(["{}", "{}开的", "issued on {}", "发票是{}开的，查不到"]))
def test_a_month_and_day_without_a_year(issued, data, code_year, wrap) -> None:
    form = data.draw(st.sampled_from(month_day_forms(issued.month, issued.day)))
    known = {"code": f"01100{code_year % 100:02d}10011"} if code_year else {}
    found = find(wrap.format(form), known=known)
    try:
        from_code = date(code_year, issued.month, issued.day) if code_year else None
    except ValueError:
        from_code = None
    if from_code is not None and from_code <= TODAY:
        assert found.values == {"date": from_code.isoformat()}
        assert found.inferred == {"date": "year_from_code"} and found.questions == []
    else:
        assert found.values == {}
        assert found.questions == [Question("date", latest(issued.month, issued.day).isoformat(), form, "no_year")]


RELATIVE = {"今天": 0, "今日": 0, "昨天": 1, "昨日": 1, "前天": 2, "大前天": 3, "today": 0, "yesterday": 1,
            "the day before yesterday": 2}


@settings(max_examples=50, deadline=None)
@given(word=st.sampled_from(sorted(RELATIVE)), wrap=st.sampled_from(["{}", "{}开的", "issued {}", "发票{}开的"]))
def test_relative_days(word, wrap) -> None:
    assume(wrap == "{}" or word.isascii() == wrap.isascii())  # "the day before yesterday开的" is nobody's
    found = find(wrap.format(word))
    assert found.values == {"date": (TODAY - timedelta(days=RELATIVE[word])).isoformat()}
    assert found.inferred == {"date": "relative"}


@settings(max_examples=50, deadline=None)
@given(word=st.sampled_from(sorted(RELATIVE)),
       wrap=st.sampled_from(["系统{}是不是崩了", "我{}问过了还是查不到", "{} is a busy day", "{}查了三次都不行"]))
def test_a_day_that_dates_something_else_is_no_issue_date(word, wrap) -> None:
    """今天 / yesterday say when the invoice was issued only beside 开 (or issued): elsewhere they date
    something else, and no date is taken."""
    assert "date" not in find(wrap.format(word)).values


def recent_day(day: int) -> date:
    """This month's day, or the latest earlier month's, never after today."""
    first = TODAY.replace(day=1)
    while True:
        try:
            if date(first.year, first.month, day) <= TODAY:
                return date(first.year, first.month, day)
        except ValueError:
            pass
        first = (first - timedelta(days=1)).replace(day=1)


@settings(max_examples=200, deadline=None)
@given(day=st.integers(1, 31), data=st.data(), wrap=st.sampled_from(["{}", "{}开的", "是{}的票"]))
def test_a_day_alone(day, data, wrap) -> None:
    form = data.draw(st.sampled_from([f"{day}号", f"{day}日", f"{cn_number(day)}号"]))
    found = find(wrap.format(form))
    assert found.values == {}
    assert found.questions == [Question("date", recent_day(day).isoformat(), form, "day_only")]


@settings(max_examples=100, deadline=None)
@given(day=st.integers(1, 31), months=st.sampled_from(["这个月", "本月", "上个月", "上月"]))
def test_a_day_of_this_or_last_month(day, months) -> None:
    first = TODAY.replace(day=1)
    if months.startswith("上"):
        first = (first - timedelta(days=1)).replace(day=1)
    found = find(f"{months}{day}号")
    try:
        issued = first.replace(day=day)
    except ValueError:
        assert [p.code for p in found.problems] == ["date_invalid"]
        return
    if issued > TODAY:
        assert [p.code for p in found.problems] == ["date_future"]
    else:
        assert found.values == {"date": issued.isoformat()} and found.inferred == {"date": "relative"}


@settings(max_examples=200, deadline=None)
@given(day=st.integers(1, 31))
def test_a_bare_day_number_answering_the_date_question(day) -> None:
    found = find(str(day), awaiting="date")
    assert found.questions == [Question("date", recent_day(day).isoformat(), str(day), "bare_number")]
    assert find(str(day)).values == {}  # and never money when the date was not asked


# -- (c) 大写 amounts -----------------------------------------------------------------------------------
DAXIE_DIGITS = "零壹贰叁肆伍陆柒捌玖"


def daxie_section(value: int) -> str:
    """0 < value < 10000 in 大写, zeros inside said once: 1005 -> 壹仟零伍."""
    text, zero = "", False
    for power, unit in ((1000, "仟"), (100, "佰"), (10, "拾"), (1, "")):
        digit = value // power % 10
        if digit == 0:
            zero = zero or bool(text)
            continue
        text += ("零" if zero else "") + DAXIE_DIGITS[digit] + unit
        zero = False
    return text


def daxie(amount: Decimal) -> str:
    """An amount in 大写 as written on invoices and cheques: 壹万零贰拾元整, 壹佰元零伍分, 伍角."""
    yuan, cents = int(amount), int(amount * 100) % 100
    sections = []
    while yuan:
        sections.append(yuan % 10000)
        yuan //= 10000
    text, zero = "", False
    for index in reversed(range(len(sections))):
        section = sections[index]
        if section == 0:
            zero = bool(text)
            continue
        text += ("零" if text and (zero or section < 1000) else "") + daxie_section(section) + ["", "万", "亿"][index]
        zero = False
    jiao, fen = divmod(cents, 10)
    if text:
        text += "元"
    if cents == 0:
        return text + "整"
    if jiao == 0:
        return text + ("零" if text else "") + DAXIE_DIGITS[fen] + "分"
    return text + DAXIE_DIGITS[jiao] + "角" + (DAXIE_DIGITS[fen] + "分" if fen else "")


big_money = st.decimals(min_value="0.01", max_value="99999999.99", places=2)


@settings(max_examples=500, deadline=None)
@given(amount=big_money, label=st.sampled_from(["金额", "价税合计", "不含税金额", ""]))
def test_daxie_amounts_are_exact(amount, label) -> None:
    field = {"金额": "amount", "价税合计": "total", "不含税金额": "amount", "": "amount"}[label]
    found = find(f"{label} {daxie(amount)}".strip(), awaiting=None if label else "amount")
    assert found.values == {field: f"{amount:.2f}"}, daxie(amount)
    assert found.problems == [] and found.questions == []


@settings(max_examples=300, deadline=None)
@given(low=big_money, high=big_money, label=st.sampled_from(["金额", "价税合计"]))
def test_daxie_and_figures_that_disagree_are_asked_about(low, high, label) -> None:
    field = "amount" if label == "金额" else "total"
    found = find(f"{label}(小写) ¥{low} {label}(大写) {daxie(high)}")
    if low == high:
        assert found.values == {field: f"{low:.2f}"} and found.questions == []
    else:
        assert found.values == {}
        assert [(q.field, q.reason, q.value, q.options) for q in found.questions] == [
            (field, "amount_conflict", f"{low:.2f}", (f"{low:.2f}", f"{high:.2f}"))]


# -- (d) nothing the text does not give -----------------------------------------------------------------
FRAGMENTS = ["代码", "号码", "日期", "校验码", "金额", "价税合计", "税额", "code", "number", "date", "total",
             "No.", "您好", "发票", "查不到", "开的", "谢谢", "June", "Jun", "the", "3rd", "号", "日", "月", "年",
             "元", "块", "¥", "RMB", "万", "壹", "伍", "佰", "拾", "零", "十", "三", "今天", "昨天", "上个月", "本月",
             ":", "：", "-", "/", ".", ",", "，", "(", ")", "|", "O", "l", "S", "B", "Z", "\n", "\u202e"]
fragments = st.one_of(
    st.sampled_from(FRAGMENTS),
    st.from_regex(r"\A[0-9]{1,22}\Z"),
    st.from_regex(r"\A[0-9OoIlSBZ]{1,12}\Z"),
    dates.flatmap(lambda issued: st.sampled_from([issued.isoformat(), f"{issued.year}年{issued.month}月{issued.day}日",
                                                  f"{issued:%Y%m%d}", f"{issued.month}月{issued.day}日"])),
    money.map(lambda amount: f"{amount}"),
    big_money.map(daxie),
    st.text(alphabet="0123456789 .-/年月日号元", max_size=8),
)
CN_DIGIT_VALUES = {**{char: str(index) for index, char in enumerate("〇一二三四五六七八九")},
                   **{char: str(index) for index, char in enumerate(DAXIE_DIGITS)}, "零": "0", "两": "2",
                   "十": "1", "拾": "1"}  # 拾 alone is 10


def projection(text: str) -> str:
    """Every digit the text shows, Arabic or Chinese, in order (and nothing else)."""
    text = normalise_text(text)
    return "".join(char if char.isdigit() else CN_DIGIT_VALUES.get(char, "") for char in text
                   if char.isdigit() or char in CN_DIGIT_VALUES)


def in_order(needle: str, haystack: str) -> bool:
    """Whether the characters of `needle` appear in `haystack` in this order (not necessarily together)."""
    rest = iter(haystack)
    return all(char in rest for char in needle)


def given_by(name: str, value: str, text: str, inferred: str | None) -> bool:
    """Whether the digits of a value (or of a date's parts) are in the text."""
    shown = projection(text)
    if name in ("code", "number", "check_code"):
        return value in re.sub(r"\D", "", normalise_text(text))
    if name == "date":
        issued = date.fromisoformat(value)
        parts = [str(issued.day).replace("0", "")] + ([] if inferred else [str(issued.year)])
        return inferred == "relative" or all(in_order(part, shown) for part in parts)
    return in_order(value.replace(".", "").replace("0", ""), shown)


@settings(max_examples=600, deadline=None)
@given(pieces=st.lists(fragments, max_size=10), glue=st.sampled_from([" ", "", ", "]),
       awaiting=st.sampled_from([None, "code", "number", "date", "amount", "check_code", "total"]),
       known=st.sampled_from([{}, {"code": "011002500111"}, {"number": "25112000000012345678"},
                              {"code": "1100252130"}]))
def test_nothing_appears_that_the_text_does_not_give(pieces, glue, awaiting, known) -> None:
    text = glue.join(pieces)
    found = find(text, awaiting=awaiting, known=known)
    for name, value in found.values.items():
        assert given_by(name, value, text, found.inferred.get(name)), (name, value)
    assert not set(found.values) & {q.field for q in found.questions}
    assert set(found.inferred) <= set(found.values)
    assert len({q.field for q in found.questions}) == len(found.questions)
    for question in found.questions:
        assert question.raw and (question.reason != "lookalike" or any(c in ALL_LETTERS for c in question.raw))
