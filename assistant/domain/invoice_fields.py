"""Turn what one source of a document says into fields, and combine sources without guessing.

Every reader (QR code, PDF text, OFD data, XML) hands over raw strings per field. They are validated
here exactly like typed ones; a value that does not validate is dropped, never repaired. Sources are
then combined: a field two sources disagree on is not taken at all (the merchant types it), so one
misread source can cost a field but can never put a wrong one in front of the merchant.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from assistant.domain.identifiers import (
    compact,
    validate_check_code,
    validate_code,
    validate_date,
    validate_money,
    validate_number,
)

logger = logging.getLogger(__name__)

MONEY_FIELDS = ("amount", "tax", "total")
"""`tax` is read only to check and complete the other two; it is never shown or asked for."""

DOCUMENT_YEARS = 100
"""A document's date is kept however old it is: the flow says it is past the verification window."""

_SPACED_DATE = re.compile(r"^(\d{4})\s+(\d{1,2})\s+(\d{1,2})$")


def normalise(raw: dict[str, str], today: date) -> dict[str, str]:
    """The fields of one source that validate; the rest are dropped."""
    fields: dict[str, str] = {}
    number, _ = validate_number(raw.get("number", ""))
    if number is not None:
        fields["number"] = number
    if raw.get("code"):
        code, _ = validate_code(raw["code"])
        if code is not None:
            fields["code"] = code
    if raw.get("date"):
        text = re.split(r"[T ](?=\d{1,2}:)", raw["date"].strip())[0]  # "2022-03-17T10:00", "… 10:23:45"
        text = _SPACED_DATE.sub(r"\1-\2-\3", text)
        issued, _ = validate_date(text, today, DOCUMENT_YEARS)
        if issued is not None:
            fields["date"] = issued
    for name in MONEY_FIELDS:
        if raw.get(name):
            value, _ = validate_money(raw[name], name)
            if value is not None:
                fields[name] = value
    if raw.get("check_code"):
        check, _ = validate_check_code(compact(raw["check_code"]))
        if check is not None:
            fields["check_code"] = check
    return fields


def single_field_sources(pairs: Iterable[tuple[str, str]], today: date) -> list[dict[str, str]]:
    """One source per (field, raw value) that validates, so that two values of one field dispute."""
    return [fields for name, value in pairs if (fields := normalise({name: value}, today))]


def merge(sources: Iterable[dict[str, str]]) -> dict[str, str]:
    """Fields every source that gives them agrees on; a disputed field is left out."""
    seen: dict[str, set[str]] = {}
    for source in sources:
        for name, value in source.items():
            seen.setdefault(name, set()).add(value)
    fields = {name: next(iter(values)) for name, values in seen.items() if len(values) == 1}
    disputed = sorted(name for name, values in seen.items() if len(values) > 1)
    if disputed:
        logger.info("sources disagree on %s: left for the merchant to type", ", ".join(disputed))
    if any(name in MONEY_FIELDS for name in disputed):  # no total worked out from the rest of a dispute
        fields = {name: value for name, value in fields.items() if name not in MONEY_FIELDS}
    return tidy(fields)


def tidy(fields: dict[str, str]) -> dict[str, str]:
    """Make the fields consistent with each other: money that does not add up is dropped, a total is
    completed from amount + tax, and a 数电 number drops any code."""
    fields = dict(fields)
    if len(fields.get("number", "")) == 20:
        fields.pop("code", None)
        fields.pop("check_code", None)
    amount, tax, total = (Decimal(fields[name]) if name in fields else None for name in MONEY_FIELDS)
    if amount is not None and tax is not None and total is not None and amount + tax != total:
        logger.info("amount %s + tax %s != total %s: money left out", amount, tax, total)
        for name in MONEY_FIELDS:
            fields.pop(name, None)
    elif amount is not None and tax is not None and total is None:
        fields["total"] = f"{amount + tax:.2f}"
    elif amount is None and tax is not None and total is not None and total > tax:
        fields["amount"] = f"{total - tax:.2f}"
    fields.pop("tax", None)
    return fields if "number" in fields else {}
