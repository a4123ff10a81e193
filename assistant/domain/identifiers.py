"""Invoice families, normalisation and validation of what a merchant types (facts §1–§2)."""

from __future__ import annotations

import re
import unicodedata
import dataclasses
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Literal

Family = Literal["special", "e_special", "ordinary", "roll", "e_ordinary", "toll", "digital", "other"]
FourthField = Literal["amount", "check_code", "total"]

FIELDS: tuple[str, ...] = ("code", "number", "date", "amount", "check_code", "total")

_ORDINARY_ENDINGS: dict[str, Family] = {
    "04": "ordinary", "05": "ordinary", "06": "roll", "07": "roll",
    "11": "e_ordinary", "12": "toll", "13": "e_special",
}
_SPECIAL_10 = re.compile(r"^\d{8}[2-9][0-4]$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028-\u202e]")
_INVISIBLE = re.compile(r"[\u200b-\u200f\u2060\ufeff]")
_LOOKALIKES = str.maketrans({"O": "0", "o": "0", "I": "1", "l": "1", "L": "1"})
# Letters merchants type for digits (facts §7: 0/O, 1/I): read by the extractor of typed text only; the
# validators above keep the narrower table, so that what documents yield does not change.
LOOKALIKE_DIGITS: dict[str, str] = {"O": "0", "o": "0", "I": "1", "l": "1", "L": "1", "|": "1", "S": "5",
                                    "s": "5", "B": "8", "Z": "2", "z": "2"}
_TYPED_LOOKALIKES = str.maketrans(LOOKALIKE_DIGITS)


@dataclass(frozen=True)
class Problem:
    """A validation error (hard) or warning (soft), rendered from `replies/*/problem_<code>.j2`."""

    code: str
    field: str
    params: dict[str, object] = dataclasses.field(default_factory=dict)
    soft: bool = False


# Text made only of these (ASCII, CJK ideographs and punctuation, full-width forms) has no digit of another
# script and no format character: most messages, spared the character-by-character look below.
_PLAIN = re.compile(r"[\x00-\x7f\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]*")


def _plain_digits(text: str) -> str:
    """Every Unicode decimal digit as its ASCII digit; format characters (RTL overrides, joiners) removed."""
    if _PLAIN.fullmatch(text):
        return text
    chars: list[str] = []
    for char in text:
        if char.isascii():
            chars.append(char)
        elif (digit := unicodedata.decimal(char, None)) is not None:
            chars.append(str(digit))
        elif unicodedata.category(char) != "Cf":
            chars.append(char)
    return "".join(chars)


def normalise_text(text: str) -> str:
    """Unicode digits to ASCII, format characters removed, full-width to half-width, control characters
    removed, whitespace folded."""
    text = unicodedata.normalize("NFKC", _plain_digits(text))
    text = _CONTROL.sub(" ", _INVISIBLE.sub("", text))
    return re.sub(r"[ \t\u3000]+", " ", text).strip()


def compact(value: str) -> str:
    """An identifier without the spaces and dashes people type inside it."""
    return re.sub(r"[\s\-_－—]+", "", normalise_text(value))


def family_of(code: str | None, number: str | None) -> Family | None:
    """The invoice family the identifiers point to, or None when not known yet."""
    if number and len(number) == 20:
        return "digital"
    if code and len(code) == 10:
        return "special"
    if code and len(code) == 12:
        return _ORDINARY_ENDINGS.get(code[-2:], "other")
    return None


def fourth_field(family: Family | None) -> FourthField | None:
    """Which fourth field the verification platform asks for (facts §1)."""
    if family is None:
        return None
    if family in ("special", "e_special"):
        return "amount"
    if family == "digital":
        return "total"
    return "check_code"


def fix_lookalikes(raw: str) -> tuple[str, tuple[str, ...]]:
    """`raw` with the letters typed for digits replaced, and those letters (each once, as typed)."""
    letters = tuple(dict.fromkeys(char for char in raw if char in LOOKALIKE_DIGITS))
    return (raw.translate(_TYPED_LOOKALIKES), letters) if letters else (raw, ())


def _digits_problem(value: str, name: str) -> Problem | None:
    if value.isdigit():
        return None
    if value.translate(_LOOKALIKES).isdigit():
        return Problem("lookalike_letters", name, {"value": value, "fixed": value.translate(_LOOKALIKES)})
    return Problem("not_digits", name, {"value": value})


def validate_code(raw: str) -> tuple[str | None, list[Problem]]:
    value = compact(raw)
    problem = _digits_problem(value, "code")
    if problem:
        return None, [problem]
    if len(value) not in (10, 12):
        return None, [Problem("code_length", "code", {"got": len(value)})]
    warnings: list[Problem] = []
    if len(value) == 12 and value[0] != "0":
        warnings.append(Problem("code_first_digit", "code", {"value": value}, soft=True))
    elif len(value) == 12 and value[-2:] not in _ORDINARY_ENDINGS:
        warnings.append(Problem("code_kind_unknown", "code", {"value": value, "kind": value[-2:]}, soft=True))
    elif len(value) == 10 and not _SPECIAL_10.match(value):
        warnings.append(Problem("code_pattern", "code", {"value": value}, soft=True))
    return value, warnings


def validate_number(raw: str) -> tuple[str | None, list[Problem]]:
    value = compact(raw)
    problem = _digits_problem(value, "number")
    if problem:
        return None, [problem]
    if len(value) not in (8, 20):
        return None, [Problem("number_length", "number", {"got": len(value)})]
    return value, []


def validate_check_code(raw: str) -> tuple[str | None, list[Problem]]:
    value = compact(raw)
    problem = _digits_problem(value, "check_code")
    if problem:
        return None, [problem]
    if len(value) == 20:
        return value[-6:], []
    if len(value) != 6:
        return None, [Problem("check_code_length", "check_code", {"got": len(value)})]
    return value, []


_MONEY = re.compile(r"^[¥￥]?\s*(-?[\d,]*\.?\d*)\s*(元|rmb|cny|yuan)?$", re.IGNORECASE)


def validate_money(raw: str, name: str) -> tuple[str | None, list[Problem]]:
    text = normalise_text(raw).replace(" ", "")
    match = _MONEY.match(text)
    number = match.group(1).replace(",", "") if match else ""
    try:
        amount = Decimal(number)
    except InvalidOperation:
        return None, [Problem("money_unparsed", name, {"value": raw.strip()})]
    if not amount.is_finite() or amount <= 0:
        return None, [Problem("money_not_positive", name, {"value": raw.strip()})]
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        return None, [Problem("money_decimals", name, {"value": raw.strip()})]
    if amount >= Decimal("1e12"):
        return None, [Problem("money_too_large", name, {"value": raw.strip()})]
    return f"{amount.quantize(Decimal('0.01'))}", []


_DATE_FULL = re.compile(r"(\d{4})\s*[年\-./]\s*(\d{1,2})\s*[月\-./]\s*(\d{1,2})\s*日?")
_DATE_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_DATE_MONTH_DAY = re.compile(r"^(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?$")


def parse_date(raw: str, today: date) -> date | None | Literal["invalid"]:
    """A typed date; None when it is not a date at all, "invalid" when it is an impossible one."""
    text = normalise_text(raw)
    parts: tuple[int, int, int] | None = None
    if match := _DATE_FULL.fullmatch(text):
        parts = (int(match.group(1)), int(match.group(2)), int(match.group(3)))
    elif match := _DATE_COMPACT.match(text.replace(" ", "")):
        parts = (int(match.group(1)), int(match.group(2)), int(match.group(3)))
    elif match := _DATE_MONTH_DAY.match(text):
        parts = (today.year, int(match.group(1)), int(match.group(2)))
    if parts is None:
        return None
    try:
        return date(*parts)
    except ValueError:
        return "invalid"


def validate_date(raw: str, today: date, max_years: int) -> tuple[str | None, list[Problem]]:
    parsed = parse_date(raw, today)
    if parsed is None:
        return None, [Problem("date_unparsed", "date", {"value": raw.strip()})]
    if parsed == "invalid":
        return None, [Problem("date_invalid", "date", {"value": raw.strip()})]
    problem = date_problem(parsed, today, max_years)
    return (None, [problem]) if problem else (parsed.isoformat(), [])


def date_problem(parsed: date, today: date, max_years: int) -> Problem | None:
    """Why a real date cannot be an issue date to check (in the future, or past the window), if it cannot."""
    if parsed > today:
        return Problem("date_future", "date", {"value": parsed.isoformat()})
    try:
        oldest = today.replace(year=today.year - max_years)
    except ValueError:  # 29 February
        oldest = today.replace(year=today.year - max_years, day=28)
    if parsed < oldest:
        return Problem("date_too_old", "date", {"value": parsed.isoformat(), "years": max_years,
                                                "oldest": oldest.isoformat()})
    return None


def code_year(code: str | None, number: str | None) -> int | None:
    """The two-digit year the code (or 数电 number) carries."""
    if number and len(number) == 20:
        return int(number[0:2])
    if code and len(code) == 12:
        return int(code[5:7])
    if code and len(code) == 10:
        return int(code[4:6])
    return None


def cross_check(fields: dict[str, str]) -> list[Problem]:
    """Soft consistency warnings across fields (facts §2)."""
    year = code_year(fields.get("code"), fields.get("number"))
    issued = fields.get("date")
    if year is None or not issued:
        return []
    if int(issued[:4]) % 100 != year:
        source = "number" if family_of(fields.get("code"), fields.get("number")) == "digital" else "code"
        return [Problem("year_mismatch", source, {"code_year": 2000 + year, "date_year": int(issued[:4])},
                        soft=True)]
    return []


USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = [pow(3, i, 31) for i in range(17)]


def tax_id_valid(value: str) -> bool:
    """Whether a taxpayer id has a valid shape: an 18-character USCC with its check character (GB 32100),
    or an older 15-digit or 20-character id (which carry no check). Real codes failing the check exist:
    callers warn, they do not reject."""
    value = value.strip().upper()
    if len(value) in (15, 20):
        return value.isalnum()
    if len(value) != 18 or any(char not in USCC_ALPHABET for char in value):
        return False
    total = sum(USCC_ALPHABET.index(char) * weight for char, weight in zip(value, _USCC_WEIGHTS))
    return value[17] == USCC_ALPHABET[(31 - total % 31) % 31]
