"""The invoice records merchants look up."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.store.driver import Driver, unwritten
from assistant.store.models import (
    Invoice,
)

logger = logging.getLogger(__name__)


class Invoices:
    """The invoice records merchants look up."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def find(self, code: str | None, number: str) -> Invoice | None:
        if unwritten(self.session):  # an invoice added in this transaction: the ORM writes it first
            query = select(Invoice).where(Invoice.number == number)
            if len(number) != 20:
                query = query.where(Invoice.code == (code or ""))
            return (await self.session.scalars(query.limit(1))).first()
        driver = await Driver.of(self.session)
        found = await (driver.load(Invoice, "number = $1 LIMIT 1", number) if len(number) == 20 else
                       driver.load(Invoice, "number = $1 AND code = $2 LIMIT 1", number, code or ""))
        return found[0] if found else None

    async def by_number(self, number: str) -> list[Invoice]:
        return list(await self.session.scalars(select(Invoice).where(Invoice.number == number)))

    async def near(self, *, code: str | None, number: str, codes: Iterable[str],
                   numbers: Iterable[str], issued: date | None, money: Decimal | None,
                   tax_ids: set[str] | None, limit: int = 5) -> list[Invoice]:
        """Invoices one typo away from (code, number), or with the same date and amount, latest first.

        `tax_ids` limits them to invoices the user may view; None means every invoice. The typo variants
        (a few hundred exact keys) go to the driver in one statement: through the ORM their expanded
        parameters cost ~3 ms a lookup, and every not-found lookup now asks.
        """
        if tax_ids is not None and not tax_ids:
            return []
        if unwritten(self.session):
            return await self._near_orm(code=code, number=number, codes=codes, numbers=numbers, issued=issued,
                                        money=money, tax_ids=tax_ids, limit=limit)
        driver = await Driver.of(self.session)
        where = "((number = ANY($1) AND code = $2) OR (number = $3 AND code = ANY($4)))"
        args: list[object] = [driver.array(numbers), code or "", number, driver.array(codes if code else ())]
        if tax_ids is not None:
            where += " AND (seller_tax_id = ANY($5) OR buyer_tax_id = ANY($5))"
            args.append(driver.array(sorted(tax_ids)))
        found = await driver.load(Invoice, f"{where} ORDER BY issue_date DESC LIMIT {int(limit)}", *args)
        if issued is not None and money is not None:
            query = select(Invoice).where(Invoice.issue_date == issued,
                                          or_(Invoice.amount == money, Invoice.total == money))
            if tax_ids is not None:
                query = query.where(or_(Invoice.seller_tax_id.in_(tax_ids), Invoice.buyer_tax_id.in_(tax_ids)))
            found += list(await self.session.scalars(query.order_by(Invoice.issue_date.desc()).limit(limit)))
        unique = list({invoice.id: invoice for invoice in found}.values())
        return sorted(unique, key=lambda invoice: invoice.issue_date, reverse=True)[:limit]

    async def _near_orm(self, *, code: str | None, number: str, codes: Iterable[str], numbers: Iterable[str],
                        issued: date | None, money: Decimal | None, tax_ids: set[str] | None,
                        limit: int) -> list[Invoice]:
        """`near` through the ORM, for invoices added in this transaction and not yet written."""
        near_ids = and_(Invoice.number.in_(list(numbers)), Invoice.code == (code or ""))
        if code:
            near_ids = or_(near_ids, and_(Invoice.number == number, Invoice.code.in_(list(codes))))
        conditions = [near_ids]
        if issued is not None and money is not None:
            conditions.append(and_(Invoice.issue_date == issued,
                                   or_(Invoice.amount == money, Invoice.total == money)))
        query = select(Invoice).where(or_(*conditions))
        if tax_ids is not None:
            query = query.where(or_(Invoice.seller_tax_id.in_(tax_ids), Invoice.buyer_tax_id.in_(tax_ids)))
        return list(await self.session.scalars(query.order_by(Invoice.issue_date.desc()).limit(limit)))

    async def add(self, invoice: Invoice) -> Invoice:
        """One invoice record (imports go through `assistant.importer`, in bulk)."""
        self.session.add(invoice)
        await self.session.flush()
        return invoice
