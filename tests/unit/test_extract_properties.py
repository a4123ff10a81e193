"""Generated families of what merchants type: times after dates, digits in spaced groups, two-digit
years, company tax ids, telephone numbers, amounts with 元 and 万. Whatever the mix, a labelled field is
read exactly, and nothing that is not a field becomes one."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from assistant.domain.extract import extract
from assistant.domain.identifiers import USCC_ALPHABET, _USCC_WEIGHTS

TODAY = date(2026, 12, 2)
FIELD_KEYS = {"code", "number", "date", "amount", "check_code", "total"}

dates = st.dates(min_value=TODAY - timedelta(days=4 * 365), max_value=TODAY)
digits = st.text(alphabet="0123456789", min_size=1, max_size=1)
numbers = st.from_regex(r"\A[0-9]{8}\Z")
checks = st.from_regex(r"\A[0-9]{6}\Z")
money = st.decimals(min_value="0.01", max_value="999999.99", places=2)


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


def read(text: str, awaiting: str | None = None) -> tuple[dict[str, str], list[str]]:
    found = extract(text, awaiting=awaiting, known={}, today=TODAY, max_years=5)
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
@given(code=codes(), check=checks, issued=dates)
def test_a_two_digit_year_never_becomes_another_field(code, check, issued) -> None:
    values, problems = read(f"代码 {code} 日期 {issued:%y-%m-%d} 校验码 {check}")
    assert values.get("code") == code and values.get("check_code") == check
    assert set(values) <= {"code", "check_code", "date"}
    assert values.get("date") in (None, issued.isoformat())
    assert "date" in values or problems  # taken only if certain, asked about otherwise


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
