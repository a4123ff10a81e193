"""Invoices and users for tests, written through the same code the importer uses."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.messages import Inbound
from assistant.importer import InvoiceRecord, upsert_invoices
from assistant.store.inbox import InboxStore, Received
from assistant.store.uow import UnitOfWork

MINE = "91110000600037341L"
SUPPLIER = "91110105MA00XYZW3K"
STRANGER = "91110108MA01ABCD2X"


def code12(issued: date, kind: str = "11", batch: str = "100", region: str = "1100") -> str:
    return f"0{region}{issued.year % 100:02d}{batch}{kind}"


def invoice(code: str, number: str, issued: date, amount: str = "1000.00", *, kind: str = "e_ordinary",
            check_code: str = "12345678901234567890", seller: str = SUPPLIER, buyer: str = MINE,
            status: str = "normal", synced_at: datetime | None = None, uploaded_at: datetime | None = None,
            seller_name: str = "北京朝阳办公用品有限公司") -> InvoiceRecord:
    net = Decimal(amount)
    tax = (net * Decimal("0.13")).quantize(Decimal("0.01"))
    return InvoiceRecord(code=code, number=number, kind=kind, issue_date=issued, amount=net, tax=tax,
                         total=net + tax, check_code=check_code, seller_tax_id=seller, seller_name=seller_name,
                         buyer_tax_id=buyer, buyer_name="北京星河商贸有限公司", status=status,
                         synced_at=synced_at, uploaded_at=uploaded_at)


async def add_invoices(sessions: async_sessionmaker[AsyncSession], now: datetime, *records: InvoiceRecord) -> None:
    filled = [r if r.synced_at or r.uploaded_at else _synced(r, now) for r in records]
    async with sessions() as session, session.begin():
        await upsert_invoices(session, filled, now=now)


def _synced(record: InvoiceRecord, now: datetime) -> InvoiceRecord:
    from dataclasses import replace

    return replace(record, synced_at=now - timedelta(days=1))


async def add_user(sessions: async_sessionmaker[AsyncSession], now: datetime, user_id: int = 1000,
                   role: str = "merchant", companies: tuple[str, ...] = (MINE,), language: str | None = None) -> None:
    async with sessions() as session, session.begin():
        await UnitOfWork(session).users.save(user_id, role=role, language=language, companies=list(companies), now=now)


async def received(sessions: async_sessionmaker[AsyncSession], now: datetime, *events: Inbound) -> None:
    """Store events' updates in the inbox, pending, as the transport does on receipt."""
    rows = [Received(update_id=event.update_id, chat_id=event.chat_id, user_id=event.user_id, kind="message",
                     payload={"update_id": event.update_id}) for event in events if event.update_id is not None]
    async with sessions() as session, session.begin():
        await InboxStore(session).receive(rows, now)
