"""Dates as merchants type them, found inside longer text with their spans: full dates, a month and day
without a year, relative days, a day alone, two-digit years, Chinese numerals and English month names.

Only for typed text: documents always print a full date and go through `identifiers.validate_date`.
The text given here is already normalised (`identifiers.normalise_text`), with letters typed for digits
already replaced by the caller."""

from __future__ import annotations

import re
from dataclasses import astuple, dataclass
from datetime import date, timedelta
from typing import Literal

from assistant.domain.identifiers import Problem, date_problem

Kind = Literal["full", "month_day", "relative", "day_only", "short_year", "day_month_order", "bare_number"]

_CN_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
              "九": 9}
_CN_MONTH = r"十[一二]?|[一二三四五六七八九]"
_CN_DAY = r"[二三]?十[一二三四五六七八九]?|廿[一二三四五六七八九]?|[一二三四五六七八九]"
_YEAR = r"(?P<y>\d{4}|[〇零一二三四五六七八九]{4})"
_MONTH = rf"(?P<m>\d{{1,2}}|{_CN_MONTH})"
_DAY = rf"(?P<d>\d{{1,2}}|{_CN_DAY})"
# Not inside a longer number, word or dotted/dashed figure.
_START = r"(?<![0-9A-Za-z〇零一二三四五六七八九十廿.\-/])"
_END = r"(?!\d)(?![\-./]\d)"
_SUFFIX = r"(?:\s*[日号](?!码))?"
_MONTH_NAMES = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12, "jan": 1, "feb": 2, "mar": 3, "apr": 4,
    "jun": 6, "jul": 7, "aug": 8, "sept": 9, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}
_MON = r"(?<![A-Za-z])(?P<mon>" + "|".join(sorted(_MONTH_NAMES, key=len, reverse=True)) + r")(?![A-Za-z])\.?"
_ORDINAL = r"(?:st|nd|rd|th)?"
_EN_YEAR = r"(?:\s*,\s*|\s+)(?P<y>\d{4})(?!\d)"
_RELATIVE_DAYS = {"大前天": 3, "前天": 2, "昨天": 1, "昨日": 1, "今天": 0, "今日": 0, "the day before yesterday": 2,
                  "day before yesterday": 2, "yesterday": 1, "today": 0}

_RELATIVE_ZH = [word for word in sorted(_RELATIVE_DAYS, key=len, reverse=True) if not word.isascii()]
_RELATIVE_EN = [word for word in sorted(_RELATIVE_DAYS, key=len, reverse=True) if word.isascii()]

_YEARS_BACK = {"今年": 0, "去年": 1, "前年": 2}
_SEPARATED = frozenset("-./")
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# Dates found anywhere in a message: each shape only a date has, tried only when the text has one of the
# characters that shape needs (most messages have few: this keeps a message's reading cheap).
_FOUND: list[tuple[Kind, frozenset[str], re.Pattern[str]]] = [
    # 今年 / 去年 / 前年 3月3日: the year the merchant said, not one taken from the code
    ("full", frozenset("年"), re.compile(rf"(?P<yw>今年|去年|前年)\s*{_MONTH}\s*月\s*{_DAY}{_SUFFIX}(?!\d)")),
    ("full", frozenset("年"), re.compile(rf"{_START}{_YEAR}\s*年\s*{_MONTH}\s*月\s*{_DAY}{_SUFFIX}(?!\d)")),
    ("full", _SEPARATED, re.compile(rf"{_START}(?P<y>\d{{4}})\s*(?P<s>[\-./])\s*(?P<m>\d{{1,2}})\s*(?P=s)\s*"
                                    rf"(?P<d>\d{{1,2}}){_SUFFIX}{_END}")),
    ("day_month_order", _SEPARATED, re.compile(rf"{_START}(?P<a>\d{{1,2}})(?P<s>[\-./])(?P<b>\d{{1,2}})(?P=s)"
                                               rf"(?P<y>\d{{4}}){_END}")),
    ("short_year", _SEPARATED, re.compile(rf"{_START}(?P<y>\d{{2}})(?P<s>[\-./])(?P<m>\d{{1,2}})(?P=s)"
                                          rf"(?P<d>\d{{1,2}}){_END}")),
    ("full", _LETTERS, re.compile(rf"{_MON}\s*(?P<d>\d{{1,2}}){_ORDINAL}{_EN_YEAR}", re.IGNORECASE)),
    ("full", _LETTERS, re.compile(rf"(?<![0-9A-Za-z])(?P<d>\d{{1,2}}){_ORDINAL}\s*(?:of\s+)?{_MON}{_EN_YEAR}",
                                  re.IGNORECASE)),
    ("month_day", _LETTERS, re.compile(rf"{_MON}\s*(?P<d>\d{{1,2}}){_ORDINAL}(?![0-9A-Za-z:])", re.IGNORECASE)),
    ("month_day", _LETTERS, re.compile(rf"(?<![0-9A-Za-z])(?P<d>\d{{1,2}}){_ORDINAL}\s*(?:of\s+)?{_MON}",
                                       re.IGNORECASE)),
    ("month_day", frozenset("月"), re.compile(rf"{_START}{_MONTH}\s*月\s*{_DAY}{_SUFFIX}(?!\d)")),
    ("month_day", frozenset("/"), re.compile(rf"{_START}(?P<m>\d{{1,2}})/(?P<d>\d{{1,2}}){_SUFFIX}{_END}")),
    ("month_day", frozenset("."), re.compile(rf"{_START}(?P<m>\d{{1,2}})\.(?P<d>\d{{1,2}})\s*[日号](?!码)")),
    # 今天 / yesterday in a sentence is a date only where it says when the invoice was issued ("昨天开的票",
    # "issued yesterday"): "系统今天是不是崩了" names no invoice's date.
    ("relative", frozenset("开"), re.compile(r"(?P<rel>" + "|".join(_RELATIVE_ZH) + r")(?=[^，。,.;；!?！？\n]{0,6}?开"
                                             r"(?![始心会门玩]))")),
    ("relative", _LETTERS, re.compile(r"(?<![A-Za-z])(?:issued|invoiced|dated|made out)\s+(?:on\s+)?(?P<rel>"
                                      + "|".join(_RELATIVE_EN) + r")(?![A-Za-z])", re.IGNORECASE)),
    ("relative", frozenset("月"), re.compile(rf"(?P<month>这个月|这月|本月|当月|上个月|上月)\s*{_DAY}{_SUFFIX}(?!\d)")),
    ("day_only", frozenset("号日"), re.compile(rf"{_START}{_DAY}\s*[号日](?![码期元内])")),
]
# Shapes that are a date only where a date is expected (after a date label, or answering the date question).
_EXPECTED: list[tuple[Kind, frozenset[str], re.Pattern[str]]] = [
    ("relative", frozenset("天日") | _LETTERS, re.compile(r"(?<![A-Za-z])(?P<rel>" + "|".join(sorted(_RELATIVE_DAYS, key=len,
                                                                                      reverse=True))
                                             + r")(?![A-Za-z])", re.IGNORECASE)),
    ("full", frozenset(), re.compile(rf"{_START}(?P<y>\d{{4}})(?P<m>\d{{2}})(?P<d>\d{{2}})(?!\d)")),
    ("month_day", frozenset(".-"), re.compile(rf"{_START}(?P<m>\d{{1,2}})[.\-](?P<d>\d{{1,2}}){_END}")),
    ("bare_number", frozenset(), re.compile(rf"{_START}(?P<d>\d{{1,2}}|{_CN_DAY})(?![\d.])(?!\s*[年月])")),
]
_RELATIVE_ALONE = _EXPECTED[0][2]
# The shapes that carry only a day and month need a plausible day and month to be dates at all.
_CHECKED_SHAPE = {"day_only", "bare_number", "short_year", "day_month_order"}


@dataclass(frozen=True)
class TypedDate:
    """One date found in typed text: where it is and what it says (a year only where the text gives one)."""

    start: int
    end: int
    kind: Kind
    year: int = 0  # 0 when the text gives none; two digits for a short year
    month: int = 0  # 0 for a day alone
    day: int = 0
    options: tuple[tuple[int, int, int], ...] = ()  # (year, month, day) readings of d/m/yyyy versus m/d/yyyy


@dataclass(frozen=True)
class DateReading:
    """What a typed date comes to: a value, a question about a value, or a problem."""

    value: str | None = None
    reason: str | None = None  # why it is asked about: no_year, day_only, short_year, day_month_order, bare_number
    options: tuple[str, ...] = ()
    problem: Problem | None = None
    inferred: str | None = None  # relative, year_from_code


def find_dates(text: str, today: date) -> list[TypedDate]:
    """Every date in `text`, in order, none overlapping (the earliest, then the longest, wins)."""
    if alone := _RELATIVE_ALONE.fullmatch(text.strip()):  # the whole message is "今天" / "yesterday"
        start = len(text) - len(text.lstrip())
        typed = _typed("relative", alone, today)
        return [TypedDate(start + typed.start, start + typed.end, *astuple(typed)[2:])] if typed else []
    present = set(text)
    found = [typed for kind, needs, pattern in _FOUND if _has_any(present, needs) for match in pattern.finditer(text)
             if (typed := _typed(kind, match, today)) is not None]
    found.sort(key=lambda typed: (typed.start, typed.start - typed.end))
    chosen: list[TypedDate] = []
    for typed in found:
        if not chosen or typed.start >= chosen[-1].end:
            chosen.append(typed)
    return chosen


def date_at(text: str, today: date, *, expected: bool) -> TypedDate | None:
    """The longest date at the very start of `text`; `expected` also allows 20250301, 6.1, 06-01 and a bare
    day number, which are dates only where a date is expected."""
    patterns = _FOUND + _EXPECTED if expected else _FOUND
    present = set(text)
    found = [typed for kind, needs, pattern in patterns if _has_any(present, needs)
             and (match := pattern.match(text)) is not None and (typed := _typed(kind, match, today)) is not None]
    return max(found, key=lambda typed: typed.end, default=None)


def whole_date(text: str, today: date, *, expected: bool) -> TypedDate | None:
    """The date `text` is, when it is nothing but a date."""
    stripped = text.strip()
    typed = date_at(stripped, today, expected=expected)
    if typed is None and (alone := _RELATIVE_ALONE.fullmatch(stripped)):  # "今天", "yesterday": a day said
        typed = _typed("relative", alone, today)
    return typed if typed is not None and typed.end == len(stripped) else None


def _has_any(present: set[str], characters: frozenset[str]) -> bool:
    """Whether the text (its set of characters) has one of `characters` (always, when none are named)."""
    return not characters or not characters.isdisjoint(present)


def _number(text: str) -> int:
    """A date part written in Arabic digits or Chinese numerals (二〇二五, 十二, 三十一, 廿一)."""
    if text.isdigit():
        return int(text)
    if text[0] == "廿":
        return 20 + (_CN_DIGITS[text[1]] if len(text) > 1 else 0)
    if "十" in text:
        tens, _, ones = text.partition("十")
        return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)
    return int("".join(str(_CN_DIGITS[char]) for char in text))


def _typed(kind: Kind, match: re.Match[str], today: date) -> TypedDate | None:
    """The date a pattern's match says, or None when its parts cannot be a date's."""
    groups = match.groupdict()
    day = _number(groups["d"]) if groups.get("d") else 0
    month = _MONTH_NAMES[groups["mon"].lower()] if groups.get("mon") else _number(groups["m"]) if groups.get("m") else 0
    year = _number(groups["y"]) if groups.get("y") else 0
    if groups.get("yw"):
        year = today.year - _YEARS_BACK[str(groups["yw"])]
    span = (match.start(), match.end())
    if kind == "relative":
        return _relative(span, groups, day, today)
    if kind == "day_month_order":
        first, second = _number(groups["a"]), _number(groups["b"])
        readings = tuple(dict.fromkeys(r for r in ((year, first, second), (year, second, first)) if _real(*r)))
        if not readings:
            return None
        return TypedDate(*span, kind, *readings[0], options=readings)
    if kind in _CHECKED_SHAPE and not (1 <= day <= 31 and month <= 12):
        return None
    if kind == "month_day" and not (1 <= month <= 12 and 1 <= day <= 31) and "月" not in match.group(0):
        return None  # 6/45 is no date; 13月1日 is one, an impossible one
    return TypedDate(*span, kind, year, month, day)


def _relative(span: tuple[int, int], groups: dict[str, str | None], day: int, today: date) -> TypedDate:
    """今天, 昨天, 前天, 大前天, yesterday; 这个月/本月 3号, 上个月/上月 5号."""
    if groups.get("rel"):
        issued = today - timedelta(days=_RELATIVE_DAYS[" ".join(str(groups["rel"]).lower().split())])
        return TypedDate(*span, "relative", issued.year, issued.month, issued.day)
    first = today.replace(day=1)
    if str(groups["month"]).startswith("上"):
        first = (first - timedelta(days=1)).replace(day=1)
    return TypedDate(*span, "relative", first.year, first.month, day)


def _real(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def read_date(typed: TypedDate, raw: str, *, today: date, max_years: int, code_year: int | None) -> DateReading:
    """What a typed date means: its value, the question to ask about it, or the problem with it.
    `code_year` is the two-digit year the invoice code or 数电 number carries, when known."""
    if typed.kind in ("full", "relative"):
        return _checked(typed.year, typed.month, typed.day, raw, today, max_years,
                        "relative" if typed.kind == "relative" else None)
    if typed.kind == "month_day":
        return _month_day(typed.month, typed.day, raw, today, max_years, code_year)
    if typed.kind in ("day_only", "bare_number"):
        recent = _recent_day(typed.day, today)
        return DateReading(reason=typed.kind, value=recent.isoformat()) if recent else _invalid(raw)
    if typed.kind == "short_year":
        reading = _checked(2000 + typed.year, typed.month, typed.day, raw, today, max_years, None)
        return DateReading(reason="short_year", value=reading.value) if reading.value else reading
    return _day_month_order(typed, raw, today, max_years)


def _invalid(raw: str) -> DateReading:
    return DateReading(problem=Problem("date_invalid", "date", {"value": raw.strip()}))


def _checked(year: int, month: int, day: int, raw: str, today: date, max_years: int,
             inferred: str | None) -> DateReading:
    """A date with all its parts, validated as an issue date."""
    if not _real(year, month, day):
        return _invalid(raw)
    issued = date(year, month, day)
    problem = date_problem(issued, today, max_years)
    return DateReading(problem=problem) if problem else DateReading(value=issued.isoformat(), inferred=inferred)


def _month_day(month: int, day: int, raw: str, today: date, max_years: int, code_year: int | None) -> DateReading:
    """A month and day: the year comes from the code or number, else it is asked about."""
    recent = most_recent(month, day, today)
    if recent is None:
        return _invalid(raw)
    if code_year is not None and _real(2000 + code_year, month, day) and date(2000 + code_year, month, day) <= today:
        return _checked(2000 + code_year, month, day, raw, today, max_years, "year_from_code")
    return DateReading(reason="no_year", value=recent.isoformat())


def most_recent(month: int, day: int, today: date) -> date | None:
    """The latest date with this month and day that is not after today (29 February goes back to a leap year)."""
    for year in range(today.year, today.year - 9, -1):
        if _real(year, month, day) and date(year, month, day) <= today:
            return date(year, month, day)
    return None


def _recent_day(day: int, today: date) -> date | None:
    """This month's day, or the latest earlier month's that has it, never after today."""
    first = today.replace(day=1)
    for _ in range(13):
        if _real(first.year, first.month, day) and date(first.year, first.month, day) <= today:
            return date(first.year, first.month, day)
        first = (first - timedelta(days=1)).replace(day=1)
    return None


def _day_month_order(typed: TypedDate, raw: str, today: date, max_years: int) -> DateReading:
    """3/6/2025: asked about when both readings are dates that can be checked, else the one that can."""
    readings = [date(*parts) for parts in typed.options]
    fine = [issued for issued in readings if date_problem(issued, today, max_years) is None]
    if not fine:
        issued = next((issued for issued in readings if issued <= today), readings[0])
        return DateReading(problem=date_problem(issued, today, max_years))
    if len(fine) == 1:
        return DateReading(value=fine[0].isoformat())
    options = tuple(issued.isoformat() for issued in fine)
    return DateReading(reason="day_month_order", value=options[0], options=options)
