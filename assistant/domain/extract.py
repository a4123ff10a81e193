"""Find invoice fields in whatever a merchant typed: labelled, unlabelled, or one bare value.

A field is taken only when the text clearly gives it: after a label, by a shape only that field has for
the invoice's family, or as the one bare answer to the field just asked. What the text may mean but does
not clearly give (letters typed for digits, a date without a year, a day alone, a two-digit year,
3/6/2025, a 大写 amount that disagrees with the figures) becomes a Question, never a stored value; the
pieces of a value that is rejected are never read as another field."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from assistant.domain.amounts import TypedAmount, amount_at, find_amounts, whole_amount
from assistant.domain.dates import TypedDate, date_at, find_dates, read_date, whole_date
from assistant.domain.identifiers import (
    LOOKALIKE_DIGITS,
    Problem,
    code_year,
    compact,
    family_of,
    fix_lookalikes,
    fourth_field,
    normalise_text,
    parse_date,
    validate_check_code,
    validate_code,
    validate_date,
    validate_money,
    validate_number,
)

logger = logging.getLogger(__name__)

_Piece = TypeVar("_Piece", TypedDate, TypedAmount)
MONEY = ("amount", "total")
IDENTIFIERS = ("code", "number", "check_code")

# Longest labels first so that 发票号码 wins over 号码 and 不含税金额 over 金额.
_LABELS: list[tuple[str, str]] = [
    ("数电发票号码", "number"), ("数电票号码", "number"), ("全电发票号码", "number"),
    ("发票代码", "code"), ("发票号码", "number"), ("开票日期", "date"), ("校验码后6位", "check_code"),
    ("校验码后六位", "check_code"),
    ("校验码", "check_code"), ("不含税金额", "amount"), ("开具金额", "amount"), ("价税合计", "total"),
    ("合计金额", "total"), ("税额", "tax"), ("代码", "code"), ("号码", "number"), ("日期", "date"),
    ("金额", "amount"), ("合计", "total"),
    ("invoice code", "code"), ("invoice number", "number"), ("invoice no", "number"), ("issue date", "date"),
    ("date of issue", "date"), ("total amount", "total"), ("amount including tax", "total"),
    ("tax amount", "tax"), ("verification code", "check_code"),
    ("check code", "check_code"), ("amount excluding tax", "amount"), ("total including tax", "total"),
    ("code", "code"), ("number", "number"), ("no", "number"), ("date", "date"), ("amount", "amount"),
    ("total", "total"), ("tax", "tax"),
]
_LABEL_RE = re.compile(
    r"(?<![A-Za-z])(" + "|".join(re.escape(label) for label, _ in _LABELS) + r")(?![A-Za-z])"
    r"(?:\s*\([^)]{0,16}\))?\s*[:=.：是为]?\s*",
    re.IGNORECASE,
)
_LABEL_FIELD = {label.lower(): name for label, name in _LABELS}

_IDENT_VALUE = re.compile(r"\d[\d\-]*\d|\d")
# Digits typed in groups as printed on invoices: "1234 5678 9012 3456 7890".
_GROUPED = re.compile(r"(?<![\d.,])\d{1,5}(?:[ \-]\d{1,5}){2,}(?![\d.,])")
# A whole message of a few digit groups ("1234 5678"): one value when together they have a field's length.
_GROUPS_ONLY = re.compile(r"\d{1,5}(?:[ \-]\d{1,5})+")
# What a group of digits must not swallow: a date typed with dashes ("2026-11-20", "26-10-14").
_DASHED_DATE = re.compile(r"(?<![\d\-])(?:\d{4}|\d{2})-\d{1,3}-\d{1,3}(?![\d\-])")
# A time of day, as e-invoices print it after the date ("2026-10-14 10:23:45"): never a field.
_TIME = re.compile(r"(?<![\d:])\d{1,2}:\d{2}(?::\d{2})?(?![\d:])")
# A unified social credit code (a company's tax id), 18 characters: never invoice fields.
_TAX_ID = re.compile(r"(?<![0-9A-Za-z|])[0-9A-HJ-NP-RTUWXY]{2}\d{6}[0-9A-HJ-NP-RTUWXY]{9}[0-9A-Z](?![0-9A-Za-z|])")
# A telephone number: a landline with its area code and a dash or brackets ("010-62345678",
# "(0571)85022088"), a hotline ("400-810-8888"), a mobile ("13912345678"). Never invoice fields; never
# the end of a longer token with letters typed for digits in it ("12345678O13912345678").
_PHONE = re.compile(r"(?<![\dA-Za-z|\-])(?:\(0\d{2,3}\)\s*\d{7,8}|0\d{2,3}-\d{7,8}|[48]00-?\d{3}-?\d{4}"
                    r"|1[3-9]\d(?:[ \-]?\d{4}){2})(?![\dA-Za-z|\-])")
# An amount in 万 (ten thousands), "1.5万": a round figure, not the exact amount the platform compares.
_WAN = re.compile(r"[¥]?\s*(\d[\d,]*(?:\.\d+)?)\s*([万千])(\d(?![\d.]))?\s*元?")  # "3千5" is 3500
# The digit counts each identifier has; a labelled one may be typed in spaced groups ("号码 1234 5678").
_LENGTHS = {"number": (8, 20), "code": (10, 12), "check_code": (6, 20)}
_ANY_LENGTH = (8, 10, 12, 20)
# A currency word typed against its figure ("RMB5OOO"): apart, so that the figure is read as one value.
_CURRENCY_WORD = re.compile(r"(?<![A-Za-z])(RMB|CNY)(?=[0-9OoIlSBZ])", re.IGNORECASE)
# A word of digits and letters: read as digits when its letters are only ones typed for digits ("2000O123",
# "2000|123": a pipe inside a word is a 1, never a column separator, so a value never loses or gains a digit).
_LOOKALIKE_LETTERS = re.escape("".join(LOOKALIKE_DIGITS))
_WORD = re.compile(rf"(?<![0-9A-Za-z|])(?=[0-9A-Za-z|]*\d)(?=[0-9A-Za-z|]*[{_LOOKALIKE_LETTERS}])[0-9A-Za-z|]+")
# A figure or date whose digits are typed partly as letters, some parts letters only ("O.01", "1,OOO.5",
# "2023-01-IB", "2025年1月I日"): one token, read as digits when it has a digit at all.
_LOOKALIKE_CLASS = "0-9" + _LOOKALIKE_LETTERS
_FIGURE_WORDS = re.compile(rf"(?<![0-9A-Za-z|.,\-/年月])(?=[{_LOOKALIKE_CLASS}.,\-/年月]*[{_LOOKALIKE_LETTERS}])"
                           rf"[{_LOOKALIKE_CLASS}]+(?:[.,\-/年月][{_LOOKALIKE_CLASS}]+)+(?![0-9A-Za-z|])")
# After a date label, what is typed as a date but cannot be read as one ("2025-100-08"): a problem, not skipped.
_DATE_LIKE = re.compile(r"\d[\d\-./年月日号]*")
# What is left once labels, dates and amounts are taken: figures with decimals, and runs of digits.
_NUMERIC = re.compile(r"(?<![\d.])(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+|\d+)(?!\d)")


@dataclass(frozen=True)
class Question:
    """A value the text may mean but does not clearly give: asked about with buttons, never stored silently."""

    field: str  # "code" | "number" | "date" | "amount" | "check_code" | "total"
    value: str  # the normalised value it would be: "20000123", "2026-06-03", "580.00"
    raw: str  # what the merchant typed, as typed: "2000O123", "3号", "25/6/1"
    reason: str  # "lookalike" | "no_year" | "day_only" | "short_year" | "day_month_order" | "bare_number" | "amount_conflict"
    options: tuple[str, ...] = ()  # two or more values to choose from (day_month_order, amount_conflict); else ()


@dataclass
class Extraction:
    """What one message contributed: validated values, problems, questions, and pieces it could not place."""

    values: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)
    set_aside: list[str] = field(default_factory=list)
    """Tax ids and phone numbers: recognised, and not invoice fields."""
    questions: list[Question] = field(default_factory=list)
    """In the order found; a field is never both in `values` and here."""
    inferred: dict[str, str] = field(default_factory=dict)
    """Field -> how part of its value was inferred: "relative" (今天, 上个月5号), "year_from_code"."""

    @property
    def found_anything(self) -> bool:
        return bool(self.values or self.problems or self.questions)

    @property
    def names_an_invoice(self) -> bool:
        """Whether the text gives, mistypes or may mean an invoice code or number."""
        given = {*self.values, *(p.field for p in self.problems), *(q.field for q in self.questions)}
        return bool(given & {"code", "number"})


@dataclass
class _Message:
    """The message as typed and as read (the same length, letters typed for digits replaced), and what is
    left to search: `read` with each piece taken for a field blanked out."""

    typed: str
    read: str
    rest: str = field(init=False)

    def __post_init__(self) -> None:
        self.rest = self.read

    def raw(self, start: int, end: int) -> str:
        """The piece as typed."""
        return self.typed[start:end].strip()

    def fixed(self, start: int, end: int) -> str:
        """The piece with the letters typed for digits read as those digits."""
        return self.read[start:end].strip()

    def letters(self, start: int, end: int) -> tuple[str, ...]:
        """The letters typed for digits in this piece, each once, as typed."""
        return tuple(dict.fromkeys(t for t, r in zip(self.typed[start:end], self.read[start:end]) if t != r and
                                   t in LOOKALIKE_DIGITS))

    def take(self, start: int, end: int) -> None:
        """Blank a piece taken for a field out of what is left to search."""
        self.rest = self.rest[:start] + " " * (end - start) + self.rest[end:]

    def drop(self, positions: set[int]) -> None:
        """Remove these characters (separators inside a value typed in groups) from both texts."""
        self.typed = "".join(char for index, char in enumerate(self.typed) if index not in positions)
        self.read = "".join(char for index, char in enumerate(self.read) if index not in positions)
        self.rest = "".join(char for index, char in enumerate(self.rest) if index not in positions)


@dataclass
class _Claim:
    """A piece of the message taken for one field, before it is validated."""

    field: str
    start: int
    end: int
    labelled: bool = False
    date: TypedDate | None = None
    amount: TypedAmount | None = None


@dataclass
class _Outcome:
    """The result being built, with where each question was found (questions are kept in text order)."""

    result: Extraction
    asked: list[tuple[int, Question]] = field(default_factory=list)

    def ask(self, start: int, question: Question) -> None:
        """A question found at `start` in the text."""
        self.asked.append((start, question))


def extract(text: str, *, awaiting: str | None, known: dict[str, str], today: date,
            max_years: int) -> Extraction:
    """Extract, normalise and validate every invoice field found in `text`; ask about what is not clear."""
    outcome = _Outcome(Extraction())
    clean = _CURRENCY_WORD.sub(r"\1 ", _set_aside(_TIME.sub(" ", normalise_text(text)), outcome.result))
    clean = _wan(clean, awaiting, outcome.result)
    message = _message(clean, today)
    claims = _labelled(message, today)
    bare = None
    if not claims:
        _join_whole_groups(message, awaiting, today)
        bare = _bare_answer(message, awaiting, known, today) if awaiting else None
    claims = [bare] if bare else claims + _unlabelled(message, claims, awaiting=awaiting, known=known,
                                                      today=today, unplaced=outcome.result.unplaced)
    _settle(claims, message, outcome, known=known, today=today, max_years=max_years)
    return outcome.result


def resolve_year(month_day: tuple[int, int], known: dict[str, str], today: date) -> tuple[str | None, str | None]:
    """The date a month and day without a year mean, by the year the known code or 数电 number carries:
    (value, "year_from_code"), or (None, None) when that year is not known or gives a date after today."""
    year = code_year(known.get("code"), known.get("number"))
    if year is None:
        return None, None
    try:
        issued = date(2000 + year, *month_day)
    except ValueError:
        return None, None
    return (issued.isoformat(), "year_from_code") if issued <= today else (None, None)


# -- preparing the text ----------------------------------------------------------------------------------
def _set_aside(text: str, result: Extraction) -> str:
    """Tax ids and phone numbers: recorded as set aside, and removed."""
    result.set_aside += _TAX_ID.findall(text)
    text = _TAX_ID.sub(" ", text)
    result.set_aside += _PHONE.findall(text)
    return _PHONE.sub(" ", text)


def _wan(text: str, awaiting: str | None, result: Extraction) -> str:
    """Amounts in 万 or 千 ("1.5万", "5千"): a problem each (asked for exactly), and removed."""
    if "万" not in text and "千" not in text:
        return text
    for wan in _WAN.finditer(text):
        labels = [m for m in _LABEL_RE.finditer(text, 0, wan.start()) if m.end() == wan.start()]
        named = _LABEL_FIELD[labels[-1].group(1).lower()] if labels else awaiting
        result.problems.append(Problem("money_wan", named if named in MONEY else "amount",
                                       {"value": wan.group(0).strip(),
                                        "exact": _times(wan.group(1), 10000 if wan.group(2) == "万" else 1000,
                                                        wan.group(3))}))
    return _WAN.sub(" ", text)


def _times(figure: str, unit: int, tail: str | None = None) -> str:
    """The exact amount a figure in 万 or 千 stands for, as the message suggests it ("15000.00"; "3千5" 3500.00)."""
    try:
        return f"{Decimal(figure.replace(',', '')) * unit + int(tail or 0) * unit // 10:.2f}"
    except InvalidOperation:
        return ""


def _message(clean: str, today: date) -> _Message:
    """The message as typed and as read, with digits typed in groups joined into one value."""
    read = _WORD.sub(_digits_for_letters, _FIGURE_WORDS.sub(_digits_for_letters, clean))
    message = _Message(clean, read)
    groups = list(_GROUPED.finditer(message.rest))
    if groups:
        dates = [(typed.start, typed.end) for typed in find_dates(message.rest, today)]
        dates += [(found.start(), found.end()) for found in _DASHED_DATE.finditer(message.rest)]
        message.drop({index for match in groups for index in _group_separators(match, dates)})
    return message


def _digits_for_letters(match: re.Match[str]) -> str:
    """A word of digits and letters typed for digits ("2000O123", "1O", "O.01") as the digits it stands for."""
    word = match.group(0)
    if any(char.isdigit() for char in word) and all(char.isdigit() or char in LOOKALIKE_DIGITS or char in ".,-/年月"
                                                    for char in word):
        return fix_lookalikes(word)[0]
    return word


def _group_separators(match: re.Match[str], dates: list[tuple[int, int]]) -> list[int]:
    """The separators to drop from digit groups: each run of three or more groups outside the dates is one
    value; a date stays a date ("2026-11-20", "2025 年 3 月 1 日")."""
    drop: list[int] = []
    start = match.start()
    inside = sorted((max(begin, start), min(end, match.end())) for begin, end in dates
                    if begin < match.end() and end > start)
    for begin, end in [*inside, (match.end(), match.end())]:
        run = match.string[start:begin]
        groups = run.strip(" -")
        if groups and _GROUPED.fullmatch(groups):
            offset = start + run.index(groups)
            drop += [offset + index for index, char in enumerate(groups) if char in " -"]
        start = max(start, end)
    return drop


def _join_whole_groups(message: _Message, awaiting: str | None, today: date) -> None:
    """A message of nothing but a few digit groups ("1234 5678") that together have an identifier's length,
    and are not a date ("2025-10-08")."""
    body = message.rest.strip()
    if not _GROUPS_ONLY.fullmatch(body) or whole_date(body, today, expected=False) or _DASHED_DATE.search(body):
        return
    digits = re.sub(r"[ \-]", "", body)
    if len(digits) in _ANY_LENGTH + _LENGTHS.get(awaiting or "", ()):
        offset = len(message.rest) - len(message.rest.lstrip())
        message.drop({offset + index for index, char in enumerate(body) if char in " -"})


# -- labelled values -------------------------------------------------------------------------------------
def _labelled(message: _Message, today: date) -> list[_Claim]:
    """Each value found right after a label, as a claim for the label's field; label and value blanked."""
    claims: list[_Claim] = []
    position = 0
    for match in _LABEL_RE.finditer(message.rest):
        if match.start() < position:
            continue
        claim = _value_after(message.rest, match.end(), _LABEL_FIELD[match.group(1).lower()], today)
        if claim is None:
            continue
        message.take(match.start(), claim.end)
        position = claim.end
        claims.append(claim)
    return claims


def _value_after(text: str, start: int, name: str, today: date) -> _Claim | None:
    """The value of field `name` starting at `start`, if one is there."""
    if name in IDENTIFIERS:
        found = _spaced(text, start, name) or _IDENT_VALUE.match(text, start)
        return _Claim(name, start, found.end(), labelled=True) if found else None
    if name == "date":
        typed = date_at(text[start:], today, expected=True)
        if typed is None:
            found = _DATE_LIKE.match(text, start)
            return _Claim(name, start, found.end(), labelled=True) if found else None
        return _Claim(name, start, start + typed.end, labelled=True, date=_moved(typed, start))
    amount = amount_at(text[start:])
    return _Claim(name, start, start + amount.end, labelled=True, amount=_moved(amount, start)) if amount else None


_GROUPS = re.compile(r"\d{1,20}(?:[ \-]\d{1,20})*")


def _spaced(text: str, start: int, name: str) -> re.Match[str] | None:
    """A labelled identifier typed in groups ("号码 1234 5678", "号码 1 2 345678"): the most groups that
    together have one of the field's lengths, and are not followed by more of the same number."""
    match = _GROUPS.match(text, start)
    if match is None or not re.search(r"[ \-]", match.group(0)):
        return None
    pieces = list(re.finditer(r"\d+", match.group(0)))
    for count in range(len(pieces), 1, -1):
        joined = "".join(piece.group(0) for piece in pieces[:count])
        end = start + pieces[count - 1].end()
        if len(joined) in _LENGTHS.get(name, ()) and not re.match(r"[.,:/]\d", text[end:end + 2]):
            return _GROUPS.match(text, start, end)  # those groups alone
    return None


def _moved(piece: _Piece, offset: int) -> _Piece:
    """A piece found in a slice, placed back in the whole text."""
    return replace(piece, start=piece.start + offset, end=piece.end + offset)


# -- one bare answer ------------------------------------------------------------------------------------
def _bare_answer(message: _Message, awaiting: str, known: dict[str, str], today: date) -> _Claim | None:
    """The whole message as the answer to the field just asked, unless its shape says it is another field;
    None when the message is more than one value."""
    text = message.rest
    start, end = len(text) - len(text.lstrip()), len(text.rstrip())
    body = text[start:end]
    if not body:
        return None
    if awaiting == "date" and (typed := whole_date(body, today, expected=True)):
        return _Claim("date", start, end, date=_moved(typed, start))
    if awaiting in MONEY and not _identifier_shape(body) and (amount := whole_amount(body)):
        return _Claim(awaiting, start, end, amount=_moved(amount, start))
    if " " in body or not any(char.isdigit() or char in _NUMERALS for char in body):
        return None  # several values, or words ("校验码在哪里？"): not the answer to the question asked
    if awaiting in IDENTIFIERS and not [p for p in _validate_identifier(awaiting, body) if not p.soft]:
        return _Claim(awaiting, start, end)
    unmistakable = _unmistakable(body, start, end, known, today)
    if unmistakable is not None or not _ANSWER_SHAPE.fullmatch(body):
        return unmistakable  # words around a value ("3号开的"): read as a sentence, not as one answer
    return _Claim(awaiting, start, end)


_NUMERALS = frozenset("零〇一二两三四五六七八九十百千万壹贰叁肆伍陆柒捌玖拾佰仟")
_ANSWER_SHAPE = re.compile(r"[0-9A-Za-z|\-./,:¥￥元]+")
"""What one typed answer may look like, right or wrong ("1234567", "2000O123", "2025-1O-08", "¥1O0")."""


def _identifier_shape(body: str) -> bool:
    """Digits only an identifier has so many of (10, 12, 20): never an amount, even when one is asked."""
    return body.isdigit() and len(body) in (10, 12, 20)


def _unmistakable(body: str, start: int, end: int, known: dict[str, str], today: date) -> _Claim | None:
    """The field a bare value must be by its shape alone, whatever was asked."""
    digits = body.replace("-", "")
    if digits.isdigit() and len(digits) in (10, 12):
        return _Claim("code", start, end)
    if digits.isdigit() and len(digits) == 20:
        return _Claim("check_code" if "number" in known else "number", start, end)
    if typed := whole_date(body, today, expected=False):
        return _Claim("date", start, end, date=_moved(typed, start))
    amount = whole_amount(body)
    fourth = fourth_field(family_of(known.get("code"), known.get("number")))
    if amount and (amount.marked or "." in (amount.figure or "")) and fourth != "check_code":
        return _Claim("total" if fourth == "total" else "amount", start, end, amount=_moved(amount, start))
    return None


# -- unlabelled values ----------------------------------------------------------------------------------
def _unlabelled(message: _Message, claims: list[_Claim], *, awaiting: str | None, known: dict[str, str],
                today: date, unplaced: list[str]) -> list[_Claim]:
    """Values found without a label: dates and amounts by their shapes, identifiers by their lengths."""
    claimed = {claim.field for claim in claims}
    found: list[_Claim] = []
    for typed in find_dates(message.rest, today):
        message.take(typed.start, typed.end)
        if "date" in claimed:
            unplaced.append(message.raw(typed.start, typed.end))
            continue
        claimed.add("date")
        found.append(_Claim("date", typed.start, typed.end, date=typed))
    amounts = find_amounts(message.rest)
    for amount in amounts:
        message.take(amount.start, amount.end)
    tokens = list(_NUMERIC.finditer(message.rest))
    integers = [token for token in tokens if token.group(0).isdigit()]
    found += _identifiers(message, integers, claims + found, claimed, awaiting, known, today, unplaced)
    amounts += [TypedAmount(t.start(), t.end(), t.group(0).replace(",", ""), False, False) for t in tokens
                if not t.group(0).isdigit()]
    amounts += [TypedAmount(t.start(), t.end(), t.group(0), False, False) for t in integers
                if _wanted_as_money(t.group(0), awaiting)]
    amounts.sort(key=lambda amount: amount.start)
    context = _identifier_context(message, claims + found, known)
    return found + _money(message, amounts, claims, awaiting, context, unplaced)


def _wanted_as_money(token: str, awaiting: str | None) -> bool:
    """A bare integer is money only when money is asked for, and only if no identifier has its length."""
    return awaiting in MONEY and len(token) not in (6, 8, 10, 12, 20)


def _identifier_context(message: _Message, claims: list[_Claim], known: dict[str, str]) -> dict[str, str]:
    """The code and number known, or given in this message (as its digits), to tell the family."""
    context = dict(known)
    for claim in claims:
        if claim.field in ("code", "number"):
            context[claim.field] = compact(message.read[claim.start:claim.end])
    return context


def _identifiers(message: _Message, tokens: list[re.Match[str]], claims: list[_Claim], claimed: set[str],
                 awaiting: str | None, known: dict[str, str], today: date, unplaced: list[str]) -> list[_Claim]:
    """Runs of digits as identifiers (or an 8-digit date) by their lengths; the rest is left unplaced."""
    eights = [t.group(0) for t in tokens if len(t.group(0)) == 8]
    dates = [t for t in eights if _looks_like_date(t, today)]
    # Two 8-digit values where exactly one is a plausible date: that one is the date.
    forced = ({t: ("date" if t in dates else "number") for t in eights}
              if len(eights) == 2 and len(dates) == 1 else {})
    found: list[_Claim] = []
    for token in tokens:
        digits = token.group(0)
        context = _identifier_context(message, claims + found, known)
        name = forced.get(digits) or _classify(digits, context, claimed, awaiting, today)
        if name is None or name in claimed:
            if not _wanted_as_money(digits, awaiting):
                unplaced.append(message.raw(token.start(), token.end()))
            continue
        claimed.add(name)
        typed = date_at(digits, today, expected=True) if name == "date" else None
        found.append(_Claim(name, token.start(), token.end(), date=_moved(typed, token.start()) if typed else None))
    return found


def _classify(token: str, known: dict[str, str], claimed: set[str], awaiting: str | None,
              today: date) -> str | None:
    """Which field an unlabelled run of digits is, by its length and the invoice's family; None if unclear."""
    size = len(token)
    family = family_of(known.get("code"), known.get("number"))
    if size in (10, 12):
        return "code"
    if size == 20:
        has_code = "code" in known or "code" in claimed
        if awaiting == "check_code" or (has_code and ("number" in known or "number" in claimed)):
            return "check_code"
        return "number"
    if size == 8:
        looks_like_date = _looks_like_date(token, today)
        if awaiting == "date" and looks_like_date:
            return "date"
        number_taken = "number" in known or "number" in claimed
        if looks_like_date and number_taken and "date" not in claimed:
            return "date"
        return "number" if "number" not in claimed else "date"
    if size == 6 and (fourth_field(family) in (None, "check_code") or awaiting == "check_code"):
        return "check_code"
    return awaiting if awaiting in IDENTIFIERS else None


def _looks_like_date(token: str, today: date) -> bool:
    """Eight digits that read as a real date of 19xx or 20xx."""
    return token.isdigit() and len(token) == 8 and token[:2] in ("19", "20") and isinstance(
        parse_date(token, today), date)


def _money(message: _Message, amounts: list[TypedAmount], claims: list[_Claim], awaiting: str | None,
           context: dict[str, str], unplaced: list[str]) -> list[_Claim]:
    """Unlabelled amounts: taken only where the family's fourth field is money (or the family is unknown)."""
    fourth = fourth_field(family_of(context.get("code"), context.get("number")))
    if fourth == "check_code" and awaiting not in MONEY:
        unplaced += [message.raw(amount.start, amount.end) for amount in amounts]
        return []
    target = "total" if fourth == "total" or awaiting == "total" else "amount"
    labelled = {claim.field for claim in claims if claim.field in MONEY}
    figures = [amount for amount in amounts if not amount.chinese]
    given = [_decimal(claim.amount.figure) for claim in claims if claim.amount and not claim.amount.chinese]
    given += [_decimal(amount.figure) for amount in figures]
    found: list[_Claim] = []
    for amount, name in zip(figures, _row_places(figures, target)):
        if name in labelled or name is None:  # a bare value never overrides a label, nor is it guessed
            unplaced.append(message.raw(amount.start, amount.end))
        elif name:
            found.append(_Claim(name, amount.start, amount.end, amount=amount))
    for amount in amounts:
        if amount.chinese and _decimal(amount.figure) not in given:  # the same amount again in 大写 says nothing new
            found.append(_Claim(target, amount.start, amount.end, amount=amount))
    return found


def _row_places(figures: list[TypedAmount], target: str) -> list[str | None]:
    """The fields of unlabelled figures: one is the fourth field asked for; three are a row of amount, tax
    and total (a spreadsheet, an email) only when they add up; any other row is not guessed ("1 130" is not
    1.00 and 130.00)."""
    if len(figures) == 1:
        return [target]
    values = [_decimal(amount.figure) for amount in figures]
    if len(values) == 3 and None not in values and values[0] + values[1] == values[2]:  # type: ignore[operator]
        return ["amount", "", "total"]  # the middle one is the tax: read, not kept
    return [None] * len(figures)


def _decimal(figure: str | None) -> Decimal | None:
    """A figure as a number to compare, None when it is none."""
    try:
        return Decimal(figure) if figure else None
    except InvalidOperation:
        return None


# -- validating what was claimed ------------------------------------------------------------------------
def _settle(claims: list[_Claim], message: _Message, outcome: _Outcome, *, known: dict[str, str], today: date,
            max_years: int) -> None:
    """Validate every claim into values, questions and problems; identifiers first (they date a month-day)."""
    for claim in claims:
        if claim.field in IDENTIFIERS:
            _settle_identifier(claim, message, outcome)
    result = outcome.result
    context: dict[str, str] = {**known, **{name: result.values[name] for name in ("code", "number")
                                           if name in result.values}}
    year = code_year(context.get("code"), context.get("number"))
    for claim in claims:
        if claim.field == "date":
            _settle_date(claim, message, outcome, today=today, max_years=max_years, year=year)
    for name in MONEY:
        _settle_money(name, [claim for claim in claims if claim.field == name], message, outcome)
    seen: set[str] = set()
    for _, question in sorted(outcome.asked, key=lambda item: item[0]):
        if question.field in result.values or question.field in seen:
            result.unplaced.append(question.raw)
            continue
        seen.add(question.field)
        result.questions.append(question)


def _validate_identifier(name: str, raw: str) -> list[Problem]:
    return _validated_identifier(name, raw)[1]


def _validated_identifier(name: str, raw: str) -> tuple[str | None, list[Problem]]:
    """An identifier validated as the field it was taken for."""
    if name == "code":
        return validate_code(raw)
    if name == "number":
        return validate_number(raw)
    return validate_check_code(raw)


def _settle_identifier(claim: _Claim, message: _Message, outcome: _Outcome) -> None:
    """An identifier into a value, a lookalike question, or problems."""
    raw = message.raw(claim.start, claim.end)
    value, problems = _validated_identifier(claim.field, message.read[claim.start:claim.end])
    letters = message.letters(claim.start, claim.end)
    if letters:
        counted = {"got": len(compact(raw)), "letters": list(letters), "typed": raw}
        _lookalike(claim, message, value, [_with(p, counted) for p in problems if not p.soft], outcome)
        return
    outcome.result.problems.extend(problems)
    if value is not None:
        outcome.result.values[claim.field] = value


def _with(problem: Problem, params: Mapping[str, object]) -> Problem:
    """A problem with more parameters (what was typed, the letters in it); its own parameters win."""
    return Problem(problem.code, problem.field, {**params, **problem.params}, problem.soft)


def _lookalike(claim: _Claim, message: _Message, value: str | None, hard: list[Problem], outcome: _Outcome) -> None:
    """Letters typed for digits: asked about when the digits they stand for are a valid value, else the
    problems of those digits (which count the letters and name them)."""
    if hard or value is None:
        outcome.result.problems.extend(hard)
        return
    outcome.ask(claim.start, Question(claim.field, value, message.raw(claim.start, claim.end), "lookalike"))
    _lookalike_note(claim, message, outcome)


def _settle_date(claim: _Claim, message: _Message, outcome: _Outcome, *, today: date, max_years: int,
                 year: int | None) -> None:
    """A date into a value (with how it was inferred), a question, or a problem."""
    raw = message.raw(claim.start, claim.end)
    result = outcome.result
    letters = message.letters(claim.start, claim.end)
    typed = {"letters": list(letters), "typed": raw} if letters else {}
    if claim.date is None:  # typed where a date is expected, and no date at all
        _, problems = validate_date(message.fixed(claim.start, claim.end), today, max_years)
        result.problems.extend(Problem(p.code, p.field, {**p.params, **(typed or {"value": raw})}) for p in problems)
        return
    reading = read_date(claim.date, raw, today=today, max_years=max_years, code_year=year)
    if reading.problem is not None:
        result.problems.append(_with(reading.problem, typed))
    elif letters and reading.reason is None:
        _lookalike(claim, message, reading.value, [], outcome)
    elif reading.reason is not None:
        if letters:
            _lookalike_note(claim, message, outcome)
        outcome.ask(claim.start, Question("date", str(reading.value), raw, reading.reason, reading.options))
    elif reading.value is not None:
        result.values["date"] = reading.value
        if reading.inferred:
            result.inferred["date"] = reading.inferred
        else:
            result.inferred.pop("date", None)


def _lookalike_note(claim: _Claim, message: _Message, outcome: _Outcome) -> None:
    """The soft problem that says which letters were read as digits (for the message with the question)."""
    params: dict[str, object] = {"value": message.raw(claim.start, claim.end),
                                 "fixed": message.fixed(claim.start, claim.end),
                                 "letters": list(message.letters(claim.start, claim.end))}
    outcome.result.problems.append(Problem("lookalike_letters", claim.field, params, soft=True))


def _settle_money(name: str, claims: list[_Claim], message: _Message, outcome: _Outcome) -> None:
    """The figures and the 大写 given for one money field: a value, a lookalike question, or a conflict."""
    figures = [claim for claim in claims if not (claim.amount and claim.amount.chinese)]
    labelled = [claim for claim in figures if claim.labelled]
    figure = (labelled or figures)[-1 if labelled else 0] if figures else None
    chinese = next((claim for claim in claims if claim.amount and claim.amount.chinese), None)
    low = _money_value(figure, message, outcome) if figure else None
    high = _money_value(chinese, message, outcome) if chinese else None
    if figure and chinese and low and high and low != high:
        raw = f"{message.raw(figure.start, figure.end)} / {message.raw(chinese.start, chinese.end)}"
        outcome.ask(figure.start, Question(name, low, raw, "amount_conflict", (low, high)))
        return
    settled, claim = (low, figure) if figure else (high, chinese)
    if settled is None or claim is None:
        return
    if message.letters(claim.start, claim.end):
        _lookalike(claim, message, settled, [], outcome)
    else:
        outcome.result.values[name] = settled


def _money_value(claim: _Claim, message: _Message, outcome: _Outcome) -> str | None:
    """A money claim validated; its problems recorded (with the letters typed for digits, if any)."""
    raw = message.raw(claim.start, claim.end)
    figure = claim.amount.figure if claim.amount else message.fixed(claim.start, claim.end)
    value, problems = validate_money(figure, claim.field) if figure is not None else (None, [])
    if figure is None:
        problems = [Problem("money_unparsed", claim.field, {"value": raw})]
    problems = [Problem(p.code, p.field, {**p.params, "value": raw}, p.soft) for p in problems]
    letters = message.letters(claim.start, claim.end)
    outcome.result.problems.extend(_with(p, {"letters": list(letters), "typed": raw}) if letters else p
                                   for p in problems)
    return value


def names_an_invoice(text: str, *, today: date, max_years: int) -> bool:
    """Whether a message (right or wrong) tries to give an invoice code or number."""
    return extract(text, awaiting=None, known={}, today=today, max_years=max_years).names_an_invoice
