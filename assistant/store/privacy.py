"""Personal data: kept only as long as its purpose needs, erased or exported for one person on request (PIPL).

What is personal, table by table (README, "Data protection"): a user's name and alias, their company links,
their conversation, their lookups (who looked up which invoice), their tickets' texts (name, fields,
checks, close reason) and the map of relayed messages, follow-ups, access requests, the audit rows they
caused, and the inbox and outbox payloads of their chat. Erasing keeps anonymous rows where statistics
count them (lookups by outcome, tickets opened/closed, ratings, the audit's actions): the person is gone
from them, the count is not.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.store.driver import Driver
from assistant.store.models import (
    AccessRequest,
    AuditEntry,
    Base,
    BroadcastRecipient,
    Conversation,
    Diagnosis,
    FollowUp,
    InboxEntry,
    OutboxEntry,
    PendingImport,
    RelayedMessage,
    Ticket,
    TicketEvent,
    User,
    UserCompany,
)

logger = logging.getLogger(__name__)

PRUNE_BATCH = 1000
"""Rows of each kind one run makes anonymous or deletes: a run's cost is a batch's, not the history's."""

RETAIN_LOOKUPS = "SELECT id FROM diagnoses WHERE user_id <> 0 AND created_at < $1 ORDER BY created_at LIMIT $2"
"""By the partial index `ix_diagnoses_named`: the lookups made anonymous before are not in it (not walked again)."""
RETAIN_TICKETS = ("SELECT id FROM tickets WHERE state = 'closed' AND user_id <> 0 AND closed_at < $1"
                  " ORDER BY closed_at LIMIT $2")
"""By the partial index `ix_tickets_closed_named` (its condition spelt exactly as here, which SQLite needs)."""
RETAIN_FOLLOW_UPS = "SELECT id FROM follow_ups WHERE delivered_at < $1 ORDER BY delivered_at LIMIT $2"
RETAIN_ACCESS_REQUESTS = "SELECT id FROM access_requests WHERE created_at < $1 ORDER BY created_at LIMIT $2"
RETAIN_AUDIT = "SELECT id FROM audit_log WHERE at < $1 ORDER BY at LIMIT $2"
RETAIN_RECIPIENTS = ("SELECT broadcast_id, user_id FROM broadcast_recipients WHERE broadcast_id IN"
                     " (SELECT id FROM broadcasts WHERE finished_at < $1) ORDER BY broadcast_id, user_id LIMIT $2")
RETAIN_CONVERSATIONS = "SELECT chat_id, user_id FROM conversations WHERE updated_at < $1 ORDER BY updated_at LIMIT $2"
"""Chats nobody wrote in since the cutoff, the oldest first (`ix_conversations_updated_at`)."""

ANONYMOUS_TICKET: dict[str, Any] = {"user_id": 0, "chat_id": 0, "merchant_name": "", "fields": {}, "checks": [],
                                    "close_reason": ""}
ANONYMOUS_LOOKUP: dict[str, Any] = {"user_id": 0, "chat_id": 0, "code": "", "number": ""}


def plain(row: Base) -> dict[str, Any]:
    """A row as JSON-ready values."""
    out: dict[str, Any] = {}
    for column in row.__table__.columns:
        value = getattr(row, column.key)
        if isinstance(value, (datetime, date)):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        out[column.key] = value
    return out


class Privacy:
    """Erase, export and prune personal data over one SQL transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _run(self, changed: dict[str, int], name: str, statement: Any) -> None:
        """Execute a statement, counting the rows it changed under `name`."""
        result = await self.session.execute(statement)
        changed[name] = changed.get(name, 0) + int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def _rows(self, model: type[Base], *where: Any) -> list[Any]:
        return list(await self.session.scalars(select(model).where(*where)))

    async def export(self, user_id: int) -> dict[str, list[dict[str, Any]]]:
        """Everything stored about one person, table by table."""
        tickets = await self._rows(Ticket, Ticket.user_id == user_id)
        ticket_ids = [t.id for t in tickets]
        found = {
            "users": await self._rows(User, User.id == user_id),
            "user_companies": await self._rows(UserCompany, UserCompany.user_id == user_id),
            "conversations": await self._rows(Conversation, Conversation.user_id == user_id),
            "diagnoses": await self._rows(Diagnosis, Diagnosis.user_id == user_id),
            "tickets": tickets,
            "ticket_events": await self._rows(TicketEvent, TicketEvent.ticket_id.in_(ticket_ids)),
            "relayed_messages": await self._rows(RelayedMessage, RelayedMessage.ticket_id.in_(ticket_ids)),
            "follow_ups": await self._rows(FollowUp, FollowUp.user_id == user_id),
            "access_requests": await self._rows(AccessRequest, AccessRequest.user_id == user_id),
            "audit_log": await self._rows(AuditEntry, AuditEntry.actor_id == user_id),
            "inbox": await self._rows(InboxEntry, (InboxEntry.user_id == user_id) | (InboxEntry.chat_id == user_id)),
            "outbox": await self._rows(OutboxEntry, OutboxEntry.chat_id == user_id),
            "broadcast_recipients": await self._rows(BroadcastRecipient, BroadcastRecipient.user_id == user_id),
            "pending_imports": await self._rows(PendingImport, PendingImport.admin_id == user_id),
        }
        return {table: [plain(row) for row in rows] for table, rows in found.items()}

    async def forget(self, user_id: int) -> dict[str, int]:
        """Erase one person: rows about them deleted, rows counted by statistics made anonymous. What changed."""
        changed: dict[str, int] = {}
        run = partial(self._run, changed)

        ticket_ids = list(await self.session.scalars(select(Ticket.id).where(Ticket.user_id == user_id)))
        await run("relayed_messages", delete(RelayedMessage).where(RelayedMessage.ticket_id.in_(ticket_ids)))
        await run("ticket_events", update(TicketEvent).where(TicketEvent.ticket_id.in_(ticket_ids))
                  .values(detail={}, actor_id=None))
        await run("tickets", update(Ticket).where(Ticket.id.in_(ticket_ids)).values(**ANONYMOUS_TICKET))
        await run("diagnoses", update(Diagnosis).where(Diagnosis.user_id == user_id).values(**ANONYMOUS_LOOKUP))
        await run("audit_log", update(AuditEntry).where(AuditEntry.actor_id == user_id).values(actor_id=None,
                                                                                            detail={}))
        await run("conversations", delete(Conversation).where(Conversation.user_id == user_id))
        await run("follow_ups", delete(FollowUp).where(FollowUp.user_id == user_id))
        await run("access_requests", delete(AccessRequest).where(AccessRequest.user_id == user_id))
        await run("inbox", delete(InboxEntry).where((InboxEntry.user_id == user_id) | (InboxEntry.chat_id == user_id)))
        await run("outbox", delete(OutboxEntry).where(OutboxEntry.chat_id == user_id))
        await run("broadcast_recipients", delete(BroadcastRecipient).where(BroadcastRecipient.user_id == user_id))
        await run("pending_imports", delete(PendingImport).where(PendingImport.admin_id == user_id))
        await run("user_companies", delete(UserCompany).where(UserCompany.user_id == user_id))
        await run("users", delete(User).where(User.id == user_id))
        return {table: count for table, count in changed.items() if count}

    async def prune(self, *, lookups_before: datetime, tickets_before: datetime, audit_before: datetime,
                    inactive_before: datetime, batch: int = PRUNE_BATCH) -> dict[str, int]:
        """Past their retention, at most `batch` rows of each kind (the oldest first; the next run takes the
        rest): lookups and closed tickets made anonymous (their maps deleted), delivered follow-ups and access
        requests with the lookups, audit rows and finished broadcasts' recipient lists deleted, chats inactive
        for `inactive_before` forgotten (their conversation deleted, a merchant's name erased; company links
        stay: an admin's). Each kind is found by an index in its own order (`RETENTION`): a run costs a batch,
        whatever the history."""
        changed: dict[str, int] = {}
        run = partial(self._run, changed)
        driver = await Driver.of(self.session)

        async def oldest(sql: str, before: datetime) -> list[Any]:
            return list(await driver.rows(sql, driver.when(before), batch))

        if lookups := [row[0] for row in await oldest(RETAIN_LOOKUPS, lookups_before)]:
            await run("diagnoses", update(Diagnosis).where(Diagnosis.id.in_(lookups)).values(**ANONYMOUS_LOOKUP))
        if ticket_ids := [row[0] for row in await oldest(RETAIN_TICKETS, tickets_before)]:
            await run("relayed_messages", delete(RelayedMessage).where(RelayedMessage.ticket_id.in_(ticket_ids)))
            await run("ticket_events", update(TicketEvent).where(TicketEvent.ticket_id.in_(ticket_ids))
                      .values(detail={}, actor_id=None))
            await run("tickets", update(Ticket).where(Ticket.id.in_(ticket_ids)).values(**ANONYMOUS_TICKET))
        if follow_ups := [row[0] for row in await oldest(RETAIN_FOLLOW_UPS, lookups_before)]:
            await run("follow_ups", delete(FollowUp).where(FollowUp.id.in_(follow_ups)))
        if requests := [row[0] for row in await oldest(RETAIN_ACCESS_REQUESTS, lookups_before)]:
            await run("access_requests", delete(AccessRequest).where(AccessRequest.id.in_(requests)))
        if audit := [row[0] for row in await oldest(RETAIN_AUDIT, audit_before)]:
            await run("audit_log", delete(AuditEntry).where(AuditEntry.id.in_(audit)))
        imports = list(await self.session.scalars(  # an admin's file names: kept as long as the audit (a few rows)
            select(PendingImport.id).where(PendingImport.updated_at < audit_before,
                                           PendingImport.state.not_in(("confirmed", "running")))
            .order_by(PendingImport.updated_at).limit(batch)))
        if imports:
            await run("pending_imports", delete(PendingImport).where(PendingImport.id.in_(imports)))
        for broadcast_id, user_id in await oldest(RETAIN_RECIPIENTS, audit_before):
            await run("broadcast_recipients", delete(BroadcastRecipient).where(
                BroadcastRecipient.broadcast_id == broadcast_id, BroadcastRecipient.user_id == user_id))
        if stale := await oldest(RETAIN_CONVERSATIONS, inactive_before):
            await run("conversations", delete(Conversation).where(Conversation.chat_id.in_([row[0] for row in stale])))
            people = {row[1] for row in stale}
            # a merchant writes in their private chat (chat id = user id): one still there is in use
            active = select(Conversation.chat_id).where(Conversation.chat_id.in_(people))
            await run("users", update(User).where(User.id.in_(people), User.role == "merchant", User.id.not_in(active),
                                                  (User.name != "") | (User.alias != "")).values(name="", alias=""))
        return {table: count for table, count in changed.items() if count}
