"""Gather the facts the troubleshooting flow decides on, in the order a support agent checks them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from assistant.domain.identifiers import family_of, fourth_field
from assistant.domain.regions import is_beijing, region_names, region_of
from assistant.store.models import Invoice, MaintenanceWindow, User
from assistant.store.contracts import UnitOfWork
from flows.troubleshoot import Facts

logger = logging.getLogger(__name__)

_DIGITS = "0123456789"


@dataclass(frozen=True)
class DiagnosisRules:
    sync_delay: timedelta
    tz: ZoneInfo
    per_invoice_per_day: int = 5
    distinct_per_hour: int = 20


async def lookup_limit(store: UnitOfWork, fields: dict[str, str], user: User, now: datetime,
                       rules: DiagnosisRules) -> dict[str, object] | None:
    """When this lookup would go over the user's limits: why, and from when they may try again.

    Mirrors the verification platform (a few checks of one invoice a day) and stops anyone from
    enumerating invoice numbers (a cap on distinct invoices an hour). Staff and admins are exempt.
    """
    if user.role in ("staff", "admin"):
        return None
    key = _limit_key(fields.get("code", ""), fields["number"])
    midnight = datetime.combine(now.astimezone(rules.tz).date(), time.min, tzinfo=rules.tz)
    since = min(midnight, now - timedelta(hours=1))
    lookups = await store.lookups.recent(user.id, since)
    today = [at for code, number, at in lookups if _limit_key(code, number) == key and at >= midnight]
    if len(today) >= rules.per_invoice_per_day:
        return {"reason": "per_invoice", "until": (midnight + timedelta(days=1)).isoformat(),
                "limit": rules.per_invoice_per_day}
    hour_ago = now - timedelta(hours=1)
    first_seen: dict[tuple[str, str], datetime] = {}
    for code, number, at in lookups:
        if at >= hour_ago:
            first_seen.setdefault(_limit_key(code, number), at)
    if key not in first_seen and len(first_seen) >= rules.distinct_per_hour:
        oldest = sorted(first_seen.values())[len(first_seen) - rules.distinct_per_hour]
        return {"reason": "distinct", "until": (oldest + timedelta(hours=1)).isoformat(),
                "limit": rules.distinct_per_hour}
    return None


def _limit_key(code: str, number: str) -> tuple[str, str]:
    """What identifies the invoice a lookup reads: a 20-digit (数电) number alone, else code and number."""
    return ("", number) if len(number) == 20 else (code, number)


def one_typo_away(value: str) -> set[str]:
    """Every string one substituted digit or one swap of adjacent digits away from `value`."""
    variants: set[str] = set()
    for i, char in enumerate(value):
        for digit in _DIGITS:
            if digit != char:
                variants.add(value[:i] + digit + value[i + 1:])
    for i in range(len(value) - 1):
        if value[i] != value[i + 1]:
            variants.add(value[:i] + value[i + 1] + value[i] + value[i + 2:])
    return variants


def marked_digits(candidate: str, typed: str) -> list[tuple[str, bool]]:
    """The candidate's characters, each flagged when it differs from what was typed."""
    return [(char, i >= len(typed) or typed[i] != char) for i, char in enumerate(candidate)]


def end_of_day(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)


def invoice_summary(invoice: Invoice) -> dict[str, object]:
    return {
        "id": invoice.id, "code": invoice.code, "number": invoice.number, "kind": invoice.kind,
        "issue_date": invoice.issue_date.isoformat(), "amount": f"{invoice.amount:.2f}",
        "tax": f"{invoice.tax:.2f}", "total": f"{invoice.total:.2f}", "seller_name": invoice.seller_name,
        "seller_tax_id": invoice.seller_tax_id, "buyer_name": invoice.buyer_name,
        "buyer_tax_id": invoice.buyer_tax_id, "status": invoice.status,
        "status_changed_at": invoice.status_changed_at.isoformat() if invoice.status_changed_at else None,
        "sync_state": invoice.sync_state,
    }


def window_summary(window: MaintenanceWindow) -> dict[str, object]:
    return {"id": window.id, "starts_at": window.starts_at.isoformat(), "ends_at": window.ends_at.isoformat(),
            "message_zh": window.message_zh, "message_en": window.message_en or window.message_zh}


def mismatches(fields: dict[str, str], invoice: Invoice) -> list[dict[str, str]]:
    """Fields the user typed that differ from the record (不一致), with a hint for the classic mix-ups."""
    found: list[dict[str, str]] = []
    if fields.get("date") and fields["date"] != invoice.issue_date.isoformat():
        found.append({"field": "date", "typed": fields["date"], "hint": ""})
    if fields.get("check_code") and invoice.check_code and fields["check_code"] != invoice.check_code[-6:]:
        found.append({"field": "check_code", "typed": fields["check_code"], "hint": ""})
    for name, record, other in (("amount", invoice.amount, invoice.total), ("total", invoice.total, invoice.amount)):
        typed = fields.get(name)
        if typed and Decimal(typed) != record:
            hint = f"typed_{'total' if name == 'amount' else 'amount'}" if Decimal(typed) == other else ""
            found.append({"field": name, "typed": typed, "hint": hint})
    return found


async def diagnose(store: UnitOfWork, fields: dict[str, str], user: User, now: datetime,
                   rules: DiagnosisRules) -> Facts:
    """Run the checks in order; stop early where a check settles the answer."""
    facts = Facts()
    checks = facts.checks
    checks.append({"check": "input", "result": "valid", "fields": dict(fields)})
    facts.limited = await lookup_limit(store, fields, user, now, rules)
    if facts.limited is not None:
        checks.append({"check": "limits", "result": "exceeded", "reason": facts.limited["reason"]})
        return facts
    window = await store.maintenance.active(now)
    if window is not None:
        facts.maintenance = window_summary(window)
        checks.append({"check": "maintenance", "result": "active", "window": window.id})
        return facts
    checks.append({"check": "maintenance", "result": "none"})

    code, number = fields.get("code"), fields["number"]
    invoice = await store.invoices.find(code, number)
    if invoice is not None:
        checks.append({"check": "lookup", "result": "found"})
        facts.invoice = invoice_summary(invoice)
        companies = await store.users.companies_of(user.id)
        facts.permitted = user.role in ("staff", "admin") or bool({invoice.seller_tax_id, invoice.buyer_tax_id}
                                                                     & companies)
        facts.invoice["side"] = ("seller" if invoice.seller_tax_id in companies
                                 else "buyer" if invoice.buyer_tax_id in companies else None)  # advice differs
        checks.append({"check": "permission", "result": "allowed" if facts.permitted else "denied"})
        if not facts.permitted:
            return facts
        checks.append({"check": "status", "result": invoice.status})
        facts.mismatches = mismatches(fields, invoice)
        # a field the record lacks is not "consistent": say it could not be compared
        facts.invoice["uncompared"] = ["check_code"] if fields.get("check_code") and not invoice.check_code else []
        checks.append({"check": "fields", "result": "differ" if facts.mismatches else "match",
                       "fields": [m["field"] for m in facts.mismatches]})
        if invoice.sync_state != "synced":
            since = invoice.uploaded_at or end_of_day(invoice.issue_date, rules.tz)
            expected = max(since + rules.sync_delay, now + timedelta(minutes=30))
            facts.pending = {"expected_at": expected.isoformat()}
            checks.append({"check": "sync", "result": "pending", "expected_at": expected.isoformat()})
        return facts

    checks.append({"check": "lookup", "result": "not_found"})
    # An input mistake is the likeliest cause: a near match is offered before the region or the sync delay
    # is blamed, and those facts are kept for when the merchant says it is not the one.
    facts.near = await _near_match(store, fields, user)
    checks.append({"check": "near_match", "result": "found" if facts.near else "none"})
    region = region_of(code, number)
    if not is_beijing(region):
        assert region is not None
        zh, en = region_names(region)
        facts.region = {"region": region, "name_zh": zh, "name_en": en}
        checks.append({"check": "region", "result": "outside_beijing", "region": region})
        return facts
    checks.append({"check": "region", "result": "beijing"})
    issued = date.fromisoformat(fields["date"])
    expected = end_of_day(issued, rules.tz) + rules.sync_delay
    if now < expected:
        facts.recent = {"expected_at": expected.isoformat(), "issue_date": fields["date"]}
        checks.append({"check": "sync_delay", "result": "within", "expected_at": expected.isoformat()})
    else:
        checks.append({"check": "sync_delay", "result": "past"})
    return facts


async def _near_match(store: UnitOfWork, fields: dict[str, str], user: User) -> dict[str, object] | None:
    code, number = fields.get("code"), fields["number"]
    family = family_of(code, number)
    fourth = fourth_field(family)
    money = Decimal(fields[fourth]) if fourth in ("amount", "total") and fourth in fields else None
    tax_ids = None if user.role in ("staff", "admin") else await store.users.companies_of(user.id)
    candidates = await store.invoices.near(
        code=code, number=number, codes=one_typo_away(code) if code else (), numbers=one_typo_away(number),
        issued=date.fromisoformat(fields["date"]), money=money, tax_ids=tax_ids)
    candidates = [c for c in candidates if (c.code or None, c.number) != (code, number)]
    if not candidates:
        return None
    typo = [c for c in candidates if c.number in one_typo_away(number) or c.number == number]
    best = (typo or candidates)[0]
    return {"code": best.code, "number": best.number, "issue_date": best.issue_date.isoformat(),
            "total": f"{best.total:.2f}", "amount": f"{best.amount:.2f}", "seller_name": best.seller_name,
            "code_marks": marked_digits(best.code, code or ""), "number_marks": marked_digits(best.number, number)}
