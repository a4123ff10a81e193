"""Demo data covering every outcome of the troubleshooting flow, dated relative to today."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from assistant.importer import InvoiceRecord, upsert_invoices
from assistant.store.contracts import UnitOfWork
from assistant.store.uow import SqlUnitOfWork

logger = logging.getLogger(__name__)

DEMO_USER = 1000
DEMO_COMPANY = ("91110000600037341L", "北京星河商贸有限公司")
OTHER_COMPANY = ("91110108MA01ABCD2X", "北京云帆科技有限公司")
SUPPLIER = ("91110105MA00XYZW3K", "北京朝阳办公用品有限公司")


@dataclass(frozen=True)
class DemoCase:
    outcome: str
    typed: str
    state: str


def _code12(year: int, kind: str, batch: str = "100") -> str:
    return f"01100{year % 100:02d}{batch}{kind}"


def _record(code: str, number: str, kind: str, issued: date, amount: str, check_code: str = "", *,
            seller: tuple[str, str] = SUPPLIER, buyer: tuple[str, str] = DEMO_COMPANY, status: str = "normal",
            synced: datetime | None = None, uploaded: datetime | None = None) -> InvoiceRecord:
    net = Decimal(amount)
    tax = (net * Decimal("0.13")).quantize(Decimal("0.01"))
    return InvoiceRecord(code=code, number=number, kind=kind, issue_date=issued, amount=net, tax=tax,
                         total=net + tax, check_code=check_code, seller_tax_id=seller[0], seller_name=seller[1],
                         buyer_tax_id=buyer[0], buyer_name=buyer[1], status=status, synced_at=synced,
                         uploaded_at=uploaded)


def demo_invoices(today: date, now: datetime) -> tuple[list[InvoiceRecord], list[DemoCase]]:
    """Invoices in the store, and what to type to reach each outcome."""
    d1, d2, d3 = today - timedelta(days=40), today - timedelta(days=20), today - timedelta(days=3)
    synced = now - timedelta(days=1)
    e_code = _code12(d1.year, "11")
    special = f"1100{d2.year % 100:02d}2130"
    digital_red = f"{d2.year % 100:02d}112000000012345678"
    digital_ok = f"{d3.year % 100:02d}112000000087654321"
    records = [
        _record(e_code, "12345678", "e_ordinary", d1, "1000.00", "12345678901234567890", synced=synced),
        _record(special, "00112233", "special", d2, "5000.00", synced=synced),
        _record(_code12(d2.year, "04"), "22334455", "ordinary", d2, "300.00", "11112222333344445555",
                status="voided", synced=synced),
        _record("", digital_red, "digital", d2, "800.00", seller=DEMO_COMPANY, buyer=SUPPLIER,
                status="red_reversed", synced=synced),
        _record(_code12(d1.year, "11", "200"), "33445566", "e_ordinary", d1, "120.00", "99998888777766665555",
                status="out_of_control", synced=synced),
        _record("", digital_ok, "digital", d3, "2000.00", synced=None, uploaded=now - timedelta(hours=2)),
        _record(_code12(d2.year, "11", "300"), "44556677", "e_ordinary", d2, "640.00", "55554444333322221111",
                seller=SUPPLIER, buyer=OTHER_COMPANY, synced=synced),
    ]
    cases = [
        DemoCase("found", f"代码 {e_code} 号码 12345678 日期 {d1.isoformat()} 校验码 567890", "found"),
        DemoCase("found (special invoice)", f"代码 {special} 号码 00112233 日期 {d2.isoformat()} 金额 5000", "found"),
        DemoCase("mismatch (total typed as amount)",
                 f"代码 {special} 号码 00112233 日期 {d2.isoformat()} 金额 5650", "mismatch"),
        DemoCase("voided", f"代码 {_code12(d2.year, '04')} 号码 22334455 日期 {d2.isoformat()} 校验码 445555", "bad_status"),
        DemoCase("red-reversed", f"号码 {digital_red} 日期 {d2.isoformat()} 价税合计 904", "bad_status"),
        DemoCase("out of control",
                 f"代码 {_code12(d1.year, '11', '200')} 号码 33445566 日期 {d1.isoformat()} 校验码 665555", "bad_status"),
        DemoCase("pending sync", f"号码 {digital_ok} 日期 {d3.isoformat()} 价税合计 2260", "pending_sync"),
        DemoCase("another company's invoice",
                 f"代码 {_code12(d2.year, '11', '300')} 号码 44556677 日期 {d2.isoformat()} 校验码 221111", "no_permission"),
        DemoCase("issued today (sync delay)",
                 f"代码 {_code12(today.year, '11', '400')} 号码 55667788 日期 {today.isoformat()} 校验码 123456", "too_recent"),
        DemoCase("not a Beijing invoice",
                 f"代码 03100{d2.year % 100:02d}10011 号码 66778899 日期 {d2.isoformat()} 校验码 123456", "other_region"),
        DemoCase("did you mean (two digits swapped)",
                 f"代码 {e_code} 号码 12345687 日期 {d1.isoformat()} 校验码 567890", "near_match"),
        DemoCase("not found → ticket",
                 f"代码 {_code12(d2.year, '11', '500')} 号码 77889900 日期 {d2.isoformat()} 校验码 123456", "handoff"),
    ]
    return records, cases


def write_demo_qr(path: Path, today: date) -> None:
    """A photo-like PNG of the QR code of the demo's e-ordinary invoice, to try `/file PATH` with."""
    import zxingcpp

    issued = today - timedelta(days=40)
    payload = f"01,10,{_code12(issued.year, '11')},12345678,1000.00,{issued:%Y%m%d},12345678901234567890,AB12"
    image = zxingcpp.write_barcode_to_image(zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.QRCode),
                                            scale=8)
    from PIL import Image

    Image.fromarray(image).save(path)


async def seed_demo(store: UnitOfWork, now: datetime, today: date) -> list[DemoCase]:
    """Create or refresh the demo user, companies and invoices; returns the cases to try."""
    await store.users.save(DEMO_USER, role="merchant", language=None, companies=[DEMO_COMPANY[0]], now=now,
                          name="Demo merchant")
    records, cases = demo_invoices(today, now)
    assert isinstance(store, SqlUnitOfWork), "the demo's invoices are written by the importer, over SQL"
    await upsert_invoices(store.session, records, now=now)
    return cases
