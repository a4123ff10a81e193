"""Find invoice fields in whatever a merchant typed: labelled, unlabelled, or one bare value."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from assistant.domain.identifiers import (
    Problem,
    family_of,
    fourth_field,
    normalise_text,
    parse_date,
    validate_check_code,
    validate_code,
    validate_date,
    validate_money,
    validate_number,
)

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

_VALUE_PATTERNS: dict[str, re.Pattern[str]] = {
    # A two-digit year ("26-10-14") is taken as a date to be asked about, never as another field.
    "date": re.compile(r"\d{4}\s*[年\-./]\s*\d{1,2}\s*[月\-./]\s*\d{1,2}\s*日?|\d{1,2}\s*月\s*\d{1,2}\s*[日号]?|\d{8}"
                       r"|\d{2}[\-./]\d{1,2}[\-./]\d{1,2}(?![\d\-./])"),
    "money": re.compile(r"[¥￥]?\s*-?[\d,]*\d(?:\.\d+)?\s*(?:元|rmb|cny|yuan)?", re.IGNORECASE),
    "ident": re.compile(r"[0-9OoIlL][0-9OoIlL\-]*[0-9OoIlL]|[0-9]"),
}
# Digits typed in groups as printed on invoices: "1234 5678 9012 3456 7890".
_GROUPED = re.compile(r"(?<![\d.,])\d{1,5}(?:[ \-]\d{1,5}){2,}(?![\d.,])")
# What a group of digits must not swallow: a date typed with dashes ("2026-11-20", "26-10-14").
_DASHED_DATE = re.compile(r"(?:\d{4}|\d{2})-\d{1,2}-\d{1,2}(?= |$)")
# A time of day, as e-invoices print it after the date ("2026-10-14 10:23:45"): never a field.
_TIME = re.compile(r"(?<![\d:])\d{1,2}:\d{2}(?::\d{2})?(?![\d:])")
# A unified social credit code (a company's tax id), 18 characters: never invoice fields.
_TAX_ID = re.compile(r"(?<![0-9A-Za-z])[0-9A-HJ-NP-RTUWXY]{2}\d{6}[0-9A-HJ-NP-RTUWXY]{9}[0-9A-Z](?![0-9A-Za-z])")
# A telephone number: a landline with its area code and a dash or brackets ("010-62345678",
# "(0571)85022088"), a hotline ("400-810-8888"), a mobile ("13912345678"). Never invoice fields.
_PHONE = re.compile(r"(?<![\d\-])(?:\(0\d{2,3}\)\s*\d{7,8}|0\d{2,3}-\d{7,8}|[48]00-?\d{3}-?\d{4}"
                    r"|1[3-9]\d(?:[ \-]?\d{4}){2})(?![\d\-])")
# An amount in 万 (ten thousands), "1.5万": a round figure, not the exact amount the platform compares.
_WAN = re.compile(r"[¥￥]?\s*(\d[\d,]*(?:\.\d+)?)\s*万\s*元?")
# The digit counts a labelled identifier may have when typed in spaced groups ("号码 1234 5678").
_SPACED = {"number": (8, 20), "code": (10, 12), "check_code": (6, 20)}
_TOKEN = re.compile(
    r"\d{4}\s*[年\-./]\s*\d{1,2}\s*[月\-./]\s*\d{1,2}\s*日?"
    r"|\d{1,2}\s*月\s*\d{1,2}\s*[日号]?"
    r"|[¥￥]\s*[\d,]+(?:\.\d+)?\s*元?|[\d,]*\d\.\d+\s*元?|\d+\s*元"
    r"|\d+",
)


@dataclass
class Extraction:
    """What one message contributed: validated values, problems, and pieces it could not place."""

    values: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)
    set_aside: list[str] = field(default_factory=list)
    """Tax ids and phone numbers: recognised, and not invoice fields."""

    @property
    def found_anything(self) -> bool:
        return bool(self.values or self.problems)


def _validate(name: str, raw: str, today: date, max_years: int) -> tuple[str | None, list[Problem]]:
    if name == "code":
        return validate_code(raw)
    if name == "number":
        return validate_number(raw)
    if name == "check_code":
        return validate_check_code(raw)
    if name == "date":
        return validate_date(raw, today, max_years)
    return validate_money(raw, name)


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
        if len(joined) in _SPACED.get(name, ()) and not re.match(r"[.,:/]\d", text[end:end + 2]):
            return _GROUPS.match(text, start, end)  # those groups alone
    return None


def _labelled(text: str) -> tuple[list[tuple[str, str]], str]:
    """(field, raw value) pairs found after labels, and the text with them removed."""
    pairs: list[tuple[str, str]] = []
    rest: list[str] = []
    position = 0
    for match in _LABEL_RE.finditer(text):
        if match.start() < position:
            continue
        name = _LABEL_FIELD[match.group(1).lower()]
        kind = "date" if name == "date" else "ident" if name in ("code", "number", "check_code") else "money"
        value = (kind == "ident" and _spaced(text, match.end(), name)) or _VALUE_PATTERNS[kind].match(text, match.end())
        if not value:
            continue
        rest.append(text[position:match.start()])
        pairs.append((name, re.sub(r"(?<=\d)[ \-](?=\d)", "", value.group(0).strip()) if kind == "ident"
                      else value.group(0).strip()))
        position = value.end()
    rest.append(text[position:])
    return pairs, " ".join(rest)


def _classify(token: str, known: dict[str, str], claimed: set[str], awaiting: str | None,
              today: date) -> str | None:
    """Which field an unlabelled token most likely is."""
    family = family_of(known.get("code"), known.get("number"))
    money = "total" if fourth_field(family) == "total" or awaiting == "total" else "amount"
    if not token.isdigit():
        return "date" if _DATE_SHAPE.fullmatch(token) else money
    size = len(token)
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
    if size == 6:
        return "check_code"
    if size <= 7 and money not in claimed:
        return money
    return awaiting


def extract(text: str, *, awaiting: str | None, known: dict[str, str], today: date,
            max_years: int) -> Extraction:
    """Extract, normalise and validate every invoice field found in `text`."""
    result = Extraction()
    clean = _TIME.sub(" ", normalise_text(text))
    for tax_id in _TAX_ID.findall(clean):
        result.set_aside.append(tax_id)
    clean = _TAX_ID.sub(" ", clean)
    for phone in _PHONE.findall(clean):
        result.set_aside.append(phone)
    clean = _PHONE.sub(" ", clean)
    for wan in _WAN.finditer(clean):
        labels = [m for m in _LABEL_RE.finditer(clean, 0, wan.start()) if m.end() == wan.start()]
        named = _LABEL_FIELD[labels[-1].group(1).lower()] if labels else awaiting
        result.problems.append(Problem("money_wan", named if named in ("amount", "total") else "amount",
                                       {"value": wan.group(0).strip(), "exact": _times_ten_thousand(wan.group(1))}))
    clean = _GROUPED.sub(_join_groups, _WAN.sub(" ", clean))
    pairs, rest = _labelled(clean)
    claimed = {name for name, _ in pairs}
    labelled = set(claimed)
    tokens = [t.group(0).strip() for t in _TOKEN.finditer(rest)]
    bare = rest.strip()
    if not pairs and awaiting and bare and len(bare.split()) == 1:
        # One bare answer to the question just asked: it is that field unless its shape says otherwise.
        value, problems = _validate(awaiting, bare, today, max_years)
        guess = _unmistakable(bare, known) if problems else None
        pairs.append((guess or awaiting, bare))
        tokens = []
    # Two 8-digit values where exactly one is a plausible date: that one is the date.
    eights = [t for t in tokens if t.isdigit() and len(t) == 8]
    dates = [t for t in eights if _looks_like_date(t, today)]
    forced = ({t: ("date" if t in dates else "number") for t in eights}
              if len(eights) == 2 and len(dates) == 1 else {})
    amounts: list[str] = []
    for token in tokens:
        context = {**known, **{name: raw for name, raw in pairs if name in ("code", "number")}}
        name = forced.get(token) or _classify(token, context, claimed, awaiting, today)
        if name is None or name in labelled:  # a bare value never overrides what a label gave
            result.unplaced.append(token)
            continue
        if name in ("amount", "total") and not token.isdigit():
            amounts.append(token)  # decided below, together
            continue
        claimed.add(name)
        pairs.append((name, token))
    if len(amounts) == 1:
        context = {**known, **{name: raw for name, raw in pairs if name in ("code", "number")}}
        pairs.append((_classify(amounts[0], context, claimed, awaiting, today) or "amount", amounts[0]))
    elif amounts:
        # A row of amounts, as in a spreadsheet or an email: amount excluding tax first, total last.
        pairs += [("amount", amounts[0]), ("total", amounts[-1])]
    for name, raw in pairs:
        if name == "tax":
            continue
        value, problems = _validate(name, raw, today, max_years)
        result.problems.extend(problems)
        if value is not None:
            result.values[name] = value
    return result


def _times_ten_thousand(figure: str) -> str:
    try:
        return f"{Decimal(figure.replace(',', '')) * 10000:.2f}"
    except InvalidOperation:
        return ""


def _join_groups(match: re.Match[str]) -> str:
    """Digit groups as one value, except a dashed date at their head, which stays a date."""
    text = match.group(0)
    head = _DASHED_DATE.match(text)
    if head is None:
        return re.sub(r"[ \-]", "", text)
    tail = text[head.end():].strip()
    return head.group(0) + " " + (re.sub(r"[ \-]", "", tail) if _GROUPED.fullmatch(tail) else tail)


_DATE_SHAPE = re.compile(r"\d{4}\s*[年\-./]\s*\d{1,2}\s*[月\-./]\s*\d{1,2}\s*日?|\d{1,2}\s*月\s*\d{1,2}\s*[日号]?")


def _looks_like_date(token: str, today: date) -> bool:
    return token.isdigit() and len(token) == 8 and token[:2] in ("19", "20") and isinstance(
        parse_date(token, today), date)


def _unmistakable(value: str, known: dict[str, str]) -> str | None:
    """The field a bare value must be by its shape alone, whatever was asked."""
    digits = re.sub(r"[ \-]", "", value)
    if digits.isdigit() and len(digits) in (10, 12):
        return "code"
    if digits.isdigit() and len(digits) == 20:
        return "check_code" if "number" in known else "number"
    if _DATE_SHAPE.fullmatch(value):
        return "date"
    if re.search(r"[¥￥元]|\d\.\d", value):
        family = family_of(known.get("code"), known.get("number"))
        return "total" if fourth_field(family) == "total" else "amount"
    return None


def names_an_invoice(text: str, *, today: date, max_years: int) -> bool:
    """Whether a message (right or wrong) tries to give an invoice code or number."""
    found = extract(text, awaiting=None, known={}, today=today, max_years=max_years)
    return any(name in found.values or any(p.field == name for p in found.problems) for name in ("code", "number"))
