"""The store in memory: the same repositories and unit of work as over SQL, for fast core tests.

Rows live as plain values per table; a unit of work sees them as model objects (one per row, like a
session's identity map), and writes them back on commit only: a handler that fails leaves nothing.
Units of work run one at a time (as SQLite's writers do), so a chat lock is implied.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import inspect

from assistant.runtime.outbox import decode, encode
from assistant.outputs import Copy, OpenTopic, Out
from assistant.store.inbox import Batch, Item, Received
from assistant.domain.service import Served
from assistant.store.models import (
    AccessRequest,
    Alert,
    AuditEntry,
    Base,
    Broadcast,
    BroadcastRecipient,
    Company,
    Conversation,
    Diagnosis,
    FollowUp,
    InboxEntry,
    Invoice,
    MaintenanceWindow,
    OutboxEntry,
    PendingImport,
    RelayedMessage,
    Ticket,
    TicketEvent,
    User,
    UserCompany,
)

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=Base)


def _name(column: Any) -> str:
    return str(column.key)


class MemoryDatabase:
    """Every table's rows as dicts of column values, and the next id of each table."""

    def __init__(self) -> None:
        self.tables: dict[type[Base], dict[tuple[Any, ...], dict[str, Any]]] = {}
        self.next_ids: dict[type[Base], int] = {}
        self.lock = asyncio.Lock()

    @asynccontextmanager
    async def unit_of_work(self, *, alone: bool = False) -> AsyncIterator[MemoryUnitOfWork]:
        """One transaction: committed when the block ends, forgotten when it raises (`alone` changes nothing)."""
        async with self.lock:
            work = MemoryUnitOfWork(self)
            yield work
            work.commit()


class _Rows:
    """The identity map of one unit of work over a memory database."""

    def __init__(self, database: MemoryDatabase) -> None:
        self.database = database
        self.loaded: dict[tuple[type[Base], tuple[Any, ...]], Base] = {}
        self.deleted: set[tuple[type[Base], tuple[Any, ...]]] = set()

    def _object(self, model: type[M], key: tuple[Any, ...], values: dict[str, Any]) -> M:
        found = self.loaded.get((model, key))
        if found is None:
            found = model(**copy.deepcopy(values))
            self.loaded[(model, key)] = found
        return found  # type: ignore[return-value]

    def all(self, model: type[M]) -> list[M]:
        """Every row of the table as it stands in this unit of work, in primary-key order."""
        stored = self.database.tables.get(model, {})
        objects = {key: self._object(model, key, values) for key, values in stored.items()
                   if (model, key) not in self.deleted}
        for (kind, key), obj in self.loaded.items():
            if kind is model and key not in objects and (kind, key) not in self.deleted:
                objects[key] = obj  # type: ignore[assignment]
        return [objects[key] for key in sorted(objects)]

    def where(self, model: type[M], **equal: Any) -> list[M]:
        return [row for row in self.all(model) if all(getattr(row, k) == v for k, v in equal.items())]

    def get(self, model: type[M], *key: Any) -> M | None:
        if (model, key) in self.deleted:
            return None
        found = self.loaded.get((model, key))
        if found is not None:
            return found  # type: ignore[return-value]
        values = self.database.tables.get(model, {}).get(key)
        return None if values is None else self._object(model, key, values)

    def add(self, obj: M) -> M:
        """A new row: column defaults applied and an id given, as an INSERT would."""
        model = type(obj)
        mapper = inspect(model)
        for column in mapper.columns:
            if getattr(obj, _name(column)) is None and column.default is not None and not column.primary_key:
                default = column.default.arg  # type: ignore[attr-defined]
                setattr(obj, _name(column), default({}) if callable(default) else default)
        [first] = mapper.primary_key if len(mapper.primary_key) == 1 else [None]
        if first is not None and getattr(obj, _name(first)) is None:
            number = self.database.next_ids.get(model, 0) + 1
            self.database.next_ids[model] = number
            setattr(obj, _name(first), number)
        key = tuple(getattr(obj, _name(column)) for column in mapper.primary_key)
        self.deleted.discard((model, key))
        self.loaded[(model, key)] = obj
        return obj

    def delete(self, obj: Base) -> None:
        mapper = inspect(type(obj))
        self.deleted.add((type(obj), tuple(getattr(obj, _name(column)) for column in mapper.primary_key)))

    def commit(self) -> None:
        for (model, key), obj in self.loaded.items():
            if (model, key) in self.deleted:
                continue
            values = {_name(column): copy.deepcopy(getattr(obj, _name(column))) for column in inspect(model).columns}
            self.database.tables.setdefault(model, {})[key] = values
        for model, key in self.deleted:
            self.database.tables.get(model, {}).pop(key, None)


class MemoryUsers:
    def __init__(self, rows: _Rows) -> None:
        self.rows = rows

    async def get(self, user_id: int) -> User | None:
        return self.rows.get(User, user_id)

    async def ensure(self, user_id: int, *, language: str, name: str, now: datetime, role: str = "merchant") -> User:
        user = self.rows.get(User, user_id)
        if user is not None:
            if name and user.name != name:
                user.name = name
            user.unreachable = False
            return user
        return self.rows.add(User(id=user_id, role=role, language=language, name=name, unreachable=False,
                                  created_at=now))

    async def save(self, user_id: int, *, role: str, language: str | None, companies: Sequence[str],
                   now: datetime, name: str = "", alias: str | None = None) -> User:
        user = await self.ensure(user_id, language=language or "zh", name=name, now=now, role=role)
        user.role = role
        if alias is not None:
            user.alias = alias
        if language:
            user.language = language
        for tax_id in companies:
            if self.rows.get(UserCompany, user_id, tax_id) is None:
                self.rows.add(UserCompany(user_id=user_id, tax_id=tax_id))
            if self.rows.get(Company, tax_id) is None:
                self.rows.add(Company(tax_id=tax_id, name=""))
        return user

    async def unlink(self, user_id: int, tax_ids: Sequence[str]) -> int:
        links = [c for c in self.rows.where(UserCompany, user_id=user_id) if c.tax_id in tax_ids]
        for link in links:
            self.rows.delete(link)
        return len(links)

    async def remove(self, user_id: int) -> bool:
        user = self.rows.get(User, user_id)
        if user is None:
            return False
        for link in self.rows.where(UserCompany, user_id=user_id):
            self.rows.delete(link)
        self.rows.delete(user)
        return True

    async def admins(self) -> list[User]:
        return self.rows.where(User, role="admin")

    async def set_unreachable(self, user_id: int) -> None:
        user = self.rows.get(User, user_id)
        if user is not None:
            user.unreachable = True

    async def ensure_admins(self, user_ids: Sequence[int], now: datetime) -> list[int]:
        created = []
        for user_id in user_ids:
            if self.rows.get(User, user_id) is None:
                await self.ensure(user_id, language="zh", name="", now=now, role="admin")
                created.append(user_id)
        return created

    async def companies_of(self, user_id: int) -> set[str]:
        return {link.tax_id for link in self.rows.where(UserCompany, user_id=user_id)}

    async def all(self) -> list[tuple[User, list[str]]]:
        return [(user, sorted(await self.companies_of(user.id))) for user in self.rows.all(User)]


class MemoryAccessRequests:
    def __init__(self, rows: _Rows) -> None:
        self.rows = rows

    async def add(self, *, user_id: int, invoice_id: int, now: datetime) -> bool:
        if self.rows.where(AccessRequest, user_id=user_id, invoice_id=invoice_id):
            return False
        self.rows.add(AccessRequest(user_id=user_id, invoice_id=invoice_id, state="pending", created_at=now))
        return True


class MemoryConversations:
    def __init__(self, rows: _Rows) -> None:
        self.rows = rows

    async def get(self, chat_id: int, user_id: int, *, initial: str, now: datetime) -> tuple[Conversation, bool]:
        found = self.rows.get(Conversation, chat_id)
        if found is not None:
            return found, False
        return self.rows.add(Conversation(chat_id=chat_id, user_id=user_id, flow="troubleshoot", state=initial,
                                          data={}, version=0, updated_at=now)), True

    async def save(self, conversation: Conversation, *, flow: str, state: str, data: dict[str, Any],
                   now: datetime) -> int:
        conversation.flow, conversation.state, conversation.data = flow, state, data
        conversation.version += 1
        conversation.updated_at = now
        return conversation.version


class MemoryInvoices:
    def __init__(self, rows: _Rows) -> None:
        self.rows = rows

    async def find(self, code: str | None, number: str) -> Invoice | None:
        for invoice in self.rows.where(Invoice, number=number):
            if len(number) == 20 or invoice.code == (code or ""):
                return invoice
        return None

    async def by_number(self, number: str) -> list[Invoice]:
        return self.rows.where(Invoice, number=number)

    async def near(self, *, code: str | None, number: str, codes: Iterable[str], numbers: Iterable[str],
                   issued: date | None, money: Decimal | None, tax_ids: set[str] | None,
                   limit: int = 5) -> list[Invoice]:
        if tax_ids is not None and not tax_ids:
            return []
        numbers, codes = set(numbers), set(codes)

        def near(invoice: Invoice) -> bool:
            if invoice.number in numbers and invoice.code == (code or ""):
                return True
            if code and invoice.number == number and invoice.code in codes:
                return True
            return (issued is not None and money is not None and invoice.issue_date == issued
                    and money in (invoice.amount, invoice.total))

        found = [invoice for invoice in self.rows.all(Invoice) if near(invoice)
                 and (tax_ids is None or invoice.seller_tax_id in tax_ids or invoice.buyer_tax_id in tax_ids)]
        return sorted(found, key=lambda invoice: invoice.issue_date, reverse=True)[:limit]

    async def add(self, invoice: Invoice) -> Invoice:
        return self.rows.add(invoice)


class MemoryLookups:
    def __init__(self, rows: _Rows) -> None:
        self.rows = rows

    async def add(self, *, user_id: int, chat_id: int, fields: dict[str, str], outcome: str, now: datetime) -> None:
        self.rows.add(Diagnosis(user_id=user_id, chat_id=chat_id, code=fields.get("code", ""),
                                number=fields.get("number", ""), outcome=outcome, created_at=now))

    async def outcome_counts(self, since: datetime) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.rows.all(Diagnosis):
            if row.created_at >= since:
                counts[row.outcome] = counts.get(row.outcome, 0) + 1
        return counts

    async def recent(self, user_id: int, since: datetime) -> list[tuple[str, str, datetime]]:
        rows = [row for row in self.rows.where(Diagnosis, user_id=user_id)
                if row.created_at >= since and row.outcome not in ("limited", "maintenance")]
        return [(row.code, row.number, row.created_at) for row in sorted(rows, key=lambda row: row.created_at)]


class MemoryMaintenance:
    def __init__(self, rows: _Rows) -> None:
        self.rows = rows

    def _running(self, now: datetime) -> list[MaintenanceWindow]:
        return [w for w in self.rows.all(MaintenanceWindow) if w.starts_at <= now < w.ends_at and w.ended_at is None]

    async def active(self, now: datetime) -> MaintenanceWindow | None:
        running = sorted(self._running(now), key=lambda w: w.ends_at, reverse=True)
        return running[0] if running else None

    async def upcoming(self, now: datetime) -> list[MaintenanceWindow]:
        return sorted((w for w in self.rows.all(MaintenanceWindow) if w.starts_at > now and w.ended_at is None),
                      key=lambda w: w.starts_at)

    async def all(self) -> list[MaintenanceWindow]:
        return sorted(self.rows.all(MaintenanceWindow), key=lambda w: w.starts_at, reverse=True)

    async def add(self, *, starts_at: datetime, ends_at: datetime, message_zh: str, message_en: str, now: datetime,
                  created_by: int | None = None) -> MaintenanceWindow:
        return self.rows.add(MaintenanceWindow(starts_at=starts_at, ends_at=ends_at, message_zh=message_zh,
                                               message_en=message_en, created_by=created_by, created_at=now))

    async def end(self, now: datetime) -> list[MaintenanceWindow]:
        windows = self._running(now)
        for window in windows:
            window.ended_at = now
        return windows

    async def extend(self, until: datetime, now: datetime) -> list[MaintenanceWindow]:
        windows = self._running(now)
        for window in windows:
            window.ends_at = until
        return windows


class MemoryTickets:
    def __init__(self, rows: _Rows) -> None:
        self.rows = rows

    async def add(self, *, user_id: int, chat_id: int, reason: str, language: str, fields: dict[str, Any],
                  checks: list[Any], now: datetime) -> Ticket:
        return self.rows.add(Ticket(user_id=user_id, chat_id=chat_id, state="open", reason=reason, language=language,
                                    fields=fields, checks=checks, created_at=now))

    async def all(self, user_id: int | None = None) -> list[Ticket]:
        return [t for t in self.rows.all(Ticket) if user_id is None or t.user_id == user_id]

    async def get(self, ticket_id: int) -> Ticket | None:
        return self.rows.get(Ticket, ticket_id)

    async def active(self, chat_id: int) -> Ticket | None:
        found = [t for t in self.rows.where(Ticket, chat_id=chat_id) if t.state in ("open", "claimed")]
        return found[-1] if found else None

    async def last_closed(self, chat_id: int) -> Ticket | None:
        found = sorted(self.rows.where(Ticket, chat_id=chat_id, state="closed"), key=lambda t: t.closed_at or t.created_at)
        return found[-1] if found else None

    async def by_topic(self, topic_id: int) -> Ticket | None:
        found = self.rows.where(Ticket, topic_id=topic_id)
        return found[-1] if found else None

    async def queue(self) -> list[Ticket]:
        return sorted(self.rows.where(Ticket, state="open"), key=lambda t: (t.created_at, t.id))

    async def queue_position(self, ticket: Ticket) -> int:
        return sum(1 for t in self.rows.where(Ticket, state="open") if t.id <= ticket.id)

    async def due_escalations(self, now: datetime) -> list[Ticket]:
        return [t for t in self.rows.where(Ticket, state="open") if t.escalate_at is not None and t.escalate_at <= now]

    async def add_event(self, *, ticket_id: int, event: str, state: str, actor_id: int | None,
                        detail: dict[str, Any], now: datetime) -> None:
        self.rows.add(TicketEvent(ticket_id=ticket_id, event=event, state=state, actor_id=actor_id, detail=detail,
                                  at=now))

    async def events(self, ticket_id: int) -> list[TicketEvent]:
        return self.rows.where(TicketEvent, ticket_id=ticket_id)

    async def add_relayed(self, *, ticket_id: int, source_chat_id: int, pairs: Sequence[tuple[int, int]],
                          copy_chat_id: int, now: datetime) -> None:
        for source_id, copy_id in pairs:
            if not self.rows.where(RelayedMessage, ticket_id=ticket_id, source_chat_id=source_chat_id,
                                   source_message_id=source_id):
                self.rows.add(RelayedMessage(ticket_id=ticket_id, source_chat_id=source_chat_id,
                                             source_message_id=source_id, copy_chat_id=copy_chat_id,
                                             copy_message_id=copy_id, created_at=now))

    async def counterpart(self, ticket_id: int, chat_id: int, message_id: int) -> int | None:
        for row in self.rows.where(RelayedMessage, ticket_id=ticket_id):
            if (row.source_chat_id, row.source_message_id) == (chat_id, message_id):
                return row.copy_message_id
        for row in self.rows.where(RelayedMessage, ticket_id=ticket_id):
            if (row.copy_chat_id, row.copy_message_id) == (chat_id, message_id):
                return row.source_message_id
        return None

    async def without_topic(self) -> list[Ticket]:
        return [t for t in self.rows.all(Ticket) if t.state in ("open", "claimed") and t.topic_id is None]

    async def opened_since(self, user_id: int, since: datetime) -> int:
        return sum(1 for t in self.rows.where(Ticket, user_id=user_id) if t.created_at >= since)

    async def counts(self, since: datetime) -> tuple[int, int]:
        tickets = self.rows.all(Ticket)
        return (sum(1 for t in tickets if t.created_at >= since),
                sum(1 for t in tickets if t.closed_at is not None and t.closed_at >= since))

    async def open_counts(self) -> tuple[int, int]:
        tickets = self.rows.all(Ticket)
        return (sum(1 for t in tickets if t.state in ("open", "claimed")), sum(1 for t in tickets if t.state == "open"))

    async def served(self, since: datetime) -> list[Served]:
        served = []
        for ticket in self.rows.all(Ticket):
            if ticket.created_at < since:
                continue
            replies = [m.created_at for m in self.rows.all(RelayedMessage)
                       if m.ticket_id == ticket.id and m.copy_chat_id == ticket.chat_id]
            served.append(Served(ticket.created_at, ticket.assignee_id, min(replies) if replies else None,
                                 ticket.closed_at, ticket.rating))
        return served

    async def claim_waits(self, since: datetime) -> list[float]:
        return [(t.claimed_at - t.created_at).total_seconds() / 60 for t in self.rows.all(Ticket)
                if t.created_at >= since and t.claimed_at is not None]


class MemoryFollowUps:
    def __init__(self, rows: _Rows) -> None:
        self.rows = rows

    async def add(self, *, kind: str, user_id: int, chat_id: int, fields: dict[str, str], due_at: datetime,
                  now: datetime, window_id: int | None = None) -> bool:
        for existing in self.rows.where(FollowUp, kind=kind, chat_id=chat_id, delivered_at=None):
            if existing.fields == fields and existing.window_id == window_id:
                return False
        self.rows.add(FollowUp(kind=kind, user_id=user_id, chat_id=chat_id, fields=fields, due_at=due_at,
                               window_id=window_id, created_at=now))
        return True

    async def due(self, now: datetime, limit: int = 200) -> list[tuple[int, int]]:
        def fell_due(follow_up: FollowUp) -> bool:
            if follow_up.kind == "recheck":
                return follow_up.due_at <= now
            window = self.rows.get(MaintenanceWindow, follow_up.window_id) if follow_up.window_id else None
            return window is None or window.ended_at is not None or window.ends_at <= now

        due = sorted((f for f in self.rows.where(FollowUp, delivered_at=None) if fell_due(f)),
                     key=lambda f: (f.due_at, f.id))
        return [(f.id, f.chat_id) for f in due[:limit]]

    async def get(self, follow_up_id: int) -> FollowUp | None:
        return self.rows.get(FollowUp, follow_up_id)

    async def waiting_notices(self, window_ids: Sequence[int]) -> int:
        return sum(1 for f in self.rows.where(FollowUp, kind="maintenance_over", delivered_at=None)
                   if f.window_id in window_ids)


class MemoryAudit:
    def __init__(self, rows: _Rows) -> None:
        self.rows = rows

    async def add(self, *, actor_id: int | None, action: str, allowed: bool, detail: dict[str, Any],
                  now: datetime) -> None:
        self.rows.add(AuditEntry(actor_id=actor_id, action=action, allowed=allowed, detail=detail, at=now))

    async def entries(self, limit: int = 100) -> list[AuditEntry]:
        return sorted(self.rows.all(AuditEntry), key=lambda entry: (entry.at, entry.id), reverse=True)[:limit]


class MemoryOutbox:
    def __init__(self, rows: _Rows) -> None:
        self.rows = rows

    async def enqueue(self, outputs: Sequence[Out], now: datetime, lease: timedelta,
                      owner: str | None = None) -> list[Out]:
        stored = []
        for output in outputs:
            entry = self.rows.add(OutboxEntry(chat_id=output.to_chat_id if isinstance(output, Copy) else output.chat_id,
                                              payload=encode(output), created_at=now, lease_until=now + lease,
                                              attempts=1, owner=owner))
            stored.append(dataclasses.replace(output, outbox_id=entry.id))
        return stored

    async def mark_sent(self, outbox_ids: Sequence[int], now: datetime) -> None:
        for outbox_id in outbox_ids:
            entry = self.rows.get(OutboxEntry, outbox_id)
            if entry is not None:
                entry.sent_at = now

    async def mark_sent_once(self, outbox_id: int, now: datetime) -> bool:
        entry = self.rows.get(OutboxEntry, outbox_id)
        if entry is None or entry.sent_at is not None:
            return False
        entry.sent_at = now
        return True

    async def claim_unsent(self, now: datetime, lease: timedelta, max_attempts: int, limit: int = 100,
                           owner: str | None = None) -> list[Out]:
        pending = [e for e in self.rows.all(OutboxEntry)
                   if e.sent_at is None and e.failed_at is None and e.lease_until < now]
        claimed: list[Out] = []
        for entry in pending:
            if entry.attempts >= max_attempts:
                entry.failed_at = now
                logger.error("outbox entry %s for chat %s given up after %s attempts", entry.id, entry.chat_id,
                             max_attempts)
                continue
            if len(claimed) < limit:
                entry.lease_until, entry.attempts, entry.owner = now + lease, entry.attempts + 1, owner
                claimed.append(decode(entry.payload, entry.id))
        return claimed

    def _held(self, outbox_ids: Sequence[int], owner: str) -> list[OutboxEntry]:
        entries = [self.rows.get(OutboxEntry, outbox_id) for outbox_id in outbox_ids]
        return [e for e in entries if e is not None and e.owner == owner and e.sent_at is None and e.failed_at is None]

    async def renew(self, outbox_ids: Sequence[int], owner: str, until: datetime) -> set[int]:
        held = self._held(outbox_ids, owner)
        for entry in held:
            entry.lease_until = until
        return {entry.id for entry in held}

    async def release(self, outbox_ids: Sequence[int], owner: str, now: datetime) -> None:
        for entry in self._held(outbox_ids, owner):
            entry.lease_until, entry.attempts, entry.owner = now - timedelta(seconds=1), entry.attempts - 1, None

    async def topic_owed(self, ticket_id: int, chat_id: int) -> bool:
        return any(isinstance(output, OpenTopic) and output.ticket_id == ticket_id
                   for output in (decode(e.payload) for e in self.rows.all(OutboxEntry)
                                  if e.chat_id == chat_id and e.sent_at is None and e.failed_at is None))

    async def given_up_since(self, since: datetime) -> int:
        return sum(1 for e in self.rows.all(OutboxEntry)
                   if e.sent_at is None and e.failed_at is not None and e.failed_at > since)

    async def counts(self) -> tuple[int, int]:
        entries = self.rows.all(OutboxEntry)
        return (sum(1 for e in entries if e.sent_at is None and e.failed_at is None),
                sum(1 for e in entries if e.failed_at is not None))

    async def forget(self, before: datetime, batch: int = 1000) -> int:
        sent = [e for e in self.rows.all(OutboxEntry) if e.sent_at is not None and e.sent_at < before][:batch]
        failed = [e for e in self.rows.all(OutboxEntry) if e.failed_at is not None and e.failed_at < before
                  and e not in sent][:batch]
        for entry in sent + failed:
            self.rows.delete(entry)
        return len(sent) + len(failed)


class MemoryBroadcasts:
    def __init__(self, rows: _Rows) -> None:
        self.rows = rows

    def _audience(self, audience: str, since: datetime) -> list[int]:
        if audience == "subscribers":
            chosen = {f.user_id for f in self.rows.all(FollowUp) if f.created_at >= since}
        else:
            chosen = {c.user_id for c in self.rows.all(Conversation) if c.updated_at >= since}
        return sorted(u.id for u in self.rows.all(User) if u.id in chosen and u.role == "merchant"
                      and not u.unreachable)

    async def audience_size(self, audience: str, since: datetime) -> int:
        return len(self._audience(audience, since))

    async def create(self, *, created_by: int, audience: str, text: str, since: datetime, now: datetime) -> Broadcast:
        recipients = self._audience(audience, since)
        broadcast = self.rows.add(Broadcast(created_by=created_by, audience=audience, text=text, state="running",
                                            total=len(recipients), progress_chat_id=created_by, created_at=now))
        for user_id in recipients:
            self.rows.add(BroadcastRecipient(broadcast_id=broadcast.id, user_id=user_id, state="pending", attempts=0,
                                             updated_at=now))
        return broadcast

    async def running(self) -> list[Broadcast]:
        return self.rows.where(Broadcast, state="running")

    async def get(self, broadcast_id: int) -> Broadcast | None:
        return self.rows.get(Broadcast, broadcast_id)

    async def hold(self, broadcast_id: int, runner: str, now: datetime, until: datetime) -> bool:
        broadcast = self.rows.get(Broadcast, broadcast_id)
        if broadcast is None or broadcast.state != "running" or not (
                broadcast.runner in (None, runner) or (broadcast.runner_until is not None
                                                       and broadcast.runner_until < now)):
            return False
        broadcast.runner, broadcast.runner_until = runner, until
        return True

    async def let_go(self, broadcast_id: int, runner: str) -> None:
        broadcast = self.rows.get(Broadcast, broadcast_id)
        if broadcast is not None and broadcast.runner == runner:
            broadcast.runner, broadcast.runner_until = None, None

    async def pending_recipients(self, broadcast_id: int, limit: int) -> list[int]:
        return [r.user_id for r in self.rows.where(BroadcastRecipient, broadcast_id=broadcast_id, state="pending")][:limit]

    async def set_recipient(self, broadcast_id: int, user_id: int, state: str, now: datetime,
                            only_if: str | None = None) -> bool:
        recipient = self.rows.get(BroadcastRecipient, broadcast_id, user_id)
        if recipient is None or (only_if is not None and recipient.state != only_if):
            return False
        recipient.state, recipient.updated_at, recipient.attempts = state, now, recipient.attempts + 1
        return True

    async def recipient_counts(self, broadcast_id: int) -> dict[str, int]:
        counts: dict[str, int] = {}
        for recipient in self.rows.where(BroadcastRecipient, broadcast_id=broadcast_id):
            counts[recipient.state] = counts.get(recipient.state, 0) + 1
        return counts

    async def progress_posted(self, broadcast_id: int, message_id: int) -> None:
        broadcast = self.rows.get(Broadcast, broadcast_id)
        if broadcast is not None and (broadcast.progress_message_id is None or broadcast.progress_message_id < 0):
            broadcast.progress_message_id = message_id


class MemoryInbox:
    def __init__(self, rows: _Rows) -> None:
        self.rows = rows

    async def receive(self, updates: Sequence[Received], now: datetime) -> None:
        for u in updates:
            if self.rows.get(InboxEntry, u.update_id) is None:
                self.rows.add(InboxEntry(update_id=u.update_id, chat_id=u.chat_id, user_id=u.user_id, kind=u.kind[:24],
                                         album=(u.album or None) and u.album[:64], payload=u.payload, state="pending",
                                         attempts=0, lease_until=None, received_at=u.received_at or now,
                                         finished_at=None, error=""))

    async def bury(self, update_id: int, payload: dict[str, Any], error: str, now: datetime) -> None:
        if self.rows.get(InboxEntry, update_id) is None:
            self.rows.add(InboxEntry(update_id=update_id, chat_id=0, user_id=None, kind="unstorable", album=None,
                                     payload=payload, state="dead", attempts=0, lease_until=None, received_at=now,
                                     finished_at=now, error=error[:2000]))

    async def claim(self, now: datetime, *, lease: timedelta, limit: int, busy: Collection[int],
                    album_wait: timedelta, suspects: bool = False,
                    only: Collection[int] | None = None) -> list[Batch]:
        entries = self.rows.all(InboxEntry)
        sending = {e.chat_id for e in entries if e.state == "done" and e.lease_until is not None and e.lease_until > now}
        chats: dict[int, list[InboxEntry]] = {}
        for entry in entries:
            if only is not None and entry.chat_id not in only:
                continue
            if entry.state == "pending" and entry.chat_id not in sending and entry.chat_id not in busy:
                chats.setdefault(entry.chat_id, []).append(entry)
        candidates = []
        for pending in chats.values():
            if any(e.lease_until is not None and e.lease_until > now for e in pending):
                continue
            if any(e.attempts > 0 and e.error == "" for e in pending) != suspects:
                continue
            candidates.append((max(e.attempts for e in pending), pending[0].update_id, pending))
        batches = []
        for _, _, pending in sorted(candidates, key=lambda c: (c[0], c[1]))[:limit]:
            head = pending[0]
            group = [head] if head.album is None else [e for e in pending if e.album == head.album]
            if head.album is not None and max(e.received_at for e in group) > now - album_wait:
                continue  # the album's other photos may still be coming
            for entry in group:
                entry.lease_until, entry.attempts = now + lease, entry.attempts + 1
            batches.append(Batch(head.chat_id, tuple(Item(e.update_id, e.chat_id, e.user_id, e.kind, e.payload,
                                                          e.attempts) for e in group)))
        return sorted(batches, key=lambda b: b.ids[0])

    async def finish(self, update_ids: Sequence[int], now: datetime, state: str = "done", error: str = "",
                     sending: bool = False, lock_chat: int | None = None) -> int:
        finished = 0
        for update_id in update_ids:
            entry = self.rows.get(InboxEntry, update_id)
            if entry is None or entry.state != "pending":
                continue
            entry.state, entry.finished_at, entry.error = state, now, error[:2000]
            if not sending:
                entry.lease_until = None
            finished += 1
        return finished

    async def sent(self, update_ids: Sequence[int]) -> None:
        for update_id in update_ids:
            entry = self.rows.get(InboxEntry, update_id)
            if entry is not None:
                entry.lease_until = None

    async def release(self, update_ids: Sequence[int], *, retry_at: datetime | None, error: str = "",
                      uncount: bool = False) -> None:
        for update_id in update_ids:
            entry = self.rows.get(InboxEntry, update_id)
            if entry is not None and entry.state == "pending":
                entry.lease_until, entry.error = retry_at, error[:2000]
                if uncount:
                    entry.attempts -= 1

    async def entries(self, states: Collection[str] = ("pending", "dead"), limit: int = 100) -> list[InboxEntry]:
        return [e for e in self.rows.all(InboxEntry) if e.state in states][:limit]

    async def entry(self, update_id: int) -> InboxEntry | None:
        return self.rows.get(InboxEntry, update_id)

    async def retry(self, update_id: int) -> bool:
        entry = self.rows.get(InboxEntry, update_id)
        if entry is None or entry.state not in ("dead", "dropped"):
            return False
        entry.state, entry.attempts, entry.lease_until, entry.finished_at = "pending", 0, None, None
        return True

    async def drop(self, update_id: int, now: datetime) -> bool:
        entry = self.rows.get(InboxEntry, update_id)
        if entry is None or entry.state not in ("pending", "dead"):
            return False
        entry.state, entry.finished_at, entry.lease_until = "dropped", now, None
        return True

    async def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for entry in self.rows.all(InboxEntry):
            if entry.state in ("pending", "dead"):
                counts[entry.state] = counts.get(entry.state, 0) + 1
        return counts

    async def dead_since(self, since: datetime) -> int:
        return sum(1 for e in self.rows.all(InboxEntry)
                   if e.state == "dead" and e.finished_at is not None and e.finished_at > since)

    async def forget(self, before: datetime, batch: int = 1000) -> int:
        old = [entry for entry in self.rows.all(InboxEntry) if entry.state in ("done", "dropped")
               and entry.finished_at is not None and entry.finished_at < before][:batch]
        for entry in old:
            self.rows.delete(entry)
        return len(old)


class MemoryAlerts:
    def __init__(self, rows: _Rows) -> None:
        self.rows = rows

    async def mark(self, kind: str, now: datetime) -> tuple[datetime, datetime | None]:
        alert = self.rows.get(Alert, kind)
        if alert is None:
            alert = self.rows.add(Alert(kind=kind, counted_until=now, told_at=None))
        return alert.counted_until, alert.told_at

    async def advance(self, kind: str, counted_until: datetime, now: datetime) -> bool:
        alert = self.rows.get(Alert, kind)
        if alert is None or alert.counted_until != counted_until:
            return False
        alert.counted_until, alert.told_at = now, now
        return True

    async def all(self) -> list[Alert]:
        return self.rows.all(Alert)


class MemoryPrivacy:
    """`assistant.store.privacy.Privacy` over memory rows."""

    def __init__(self, rows: _Rows) -> None:
        self.rows = rows

    def _tickets(self, user_id: int) -> list[Ticket]:
        return [t for t in self.rows.all(Ticket) if t.user_id == user_id]

    async def export(self, user_id: int) -> dict[str, list[dict[str, Any]]]:
        from assistant.store.privacy import plain

        ticket_ids = {t.id for t in self._tickets(user_id)}
        found: dict[str, list[Any]] = {
            "users": [u for u in self.rows.all(User) if u.id == user_id],
            "user_companies": [c for c in self.rows.all(UserCompany) if c.user_id == user_id],
            "conversations": [c for c in self.rows.all(Conversation) if c.user_id == user_id],
            "diagnoses": [d for d in self.rows.all(Diagnosis) if d.user_id == user_id],
            "tickets": self._tickets(user_id),
            "ticket_events": [e for e in self.rows.all(TicketEvent) if e.ticket_id in ticket_ids],
            "relayed_messages": [m for m in self.rows.all(RelayedMessage) if m.ticket_id in ticket_ids],
            "follow_ups": [f for f in self.rows.all(FollowUp) if f.user_id == user_id],
            "access_requests": [a for a in self.rows.all(AccessRequest) if a.user_id == user_id],
            "audit_log": [a for a in self.rows.all(AuditEntry) if a.actor_id == user_id],
            "inbox": [e for e in self.rows.all(InboxEntry) if user_id in (e.user_id, e.chat_id)],
            "outbox": [e for e in self.rows.all(OutboxEntry) if e.chat_id == user_id],
            "broadcast_recipients": [r for r in self.rows.all(BroadcastRecipient) if r.user_id == user_id],
            "pending_imports": [p for p in self.rows.all(PendingImport) if p.admin_id == user_id],
        }
        return {table: [plain(row) for row in rows] for table, rows in found.items()}

    def _anonymise_tickets(self, tickets: list[Ticket], changed: dict[str, int]) -> None:
        from assistant.store.privacy import ANONYMOUS_TICKET

        ids = {t.id for t in tickets}
        for message in [m for m in self.rows.all(RelayedMessage) if m.ticket_id in ids]:
            self.rows.delete(message)
            changed["relayed_messages"] = changed.get("relayed_messages", 0) + 1
        for event in [e for e in self.rows.all(TicketEvent) if e.ticket_id in ids]:
            event.detail, event.actor_id = {}, None
            changed["ticket_events"] = changed.get("ticket_events", 0) + 1
        for ticket in tickets:
            for key, value in ANONYMOUS_TICKET.items():
                setattr(ticket, key, type(value)(value) if isinstance(value, (dict, list)) else value)
            changed["tickets"] = changed.get("tickets", 0) + 1

    async def forget(self, user_id: int) -> dict[str, int]:
        from assistant.store.privacy import ANONYMOUS_LOOKUP

        changed: dict[str, int] = {}
        self._anonymise_tickets(self._tickets(user_id), changed)
        for lookup in [d for d in self.rows.all(Diagnosis) if d.user_id == user_id]:
            for key, value in ANONYMOUS_LOOKUP.items():
                setattr(lookup, key, value)
            changed["diagnoses"] = changed.get("diagnoses", 0) + 1
        for entry in [a for a in self.rows.all(AuditEntry) if a.actor_id == user_id]:
            entry.actor_id, entry.detail = None, {}
            changed["audit_log"] = changed.get("audit_log", 0) + 1
        gone: list[tuple[str, list[Any]]] = [
            ("conversations", [c for c in self.rows.all(Conversation) if c.user_id == user_id]),
            ("follow_ups", [f for f in self.rows.all(FollowUp) if f.user_id == user_id]),
            ("access_requests", [a for a in self.rows.all(AccessRequest) if a.user_id == user_id]),
            ("inbox", [e for e in self.rows.all(InboxEntry) if user_id in (e.user_id, e.chat_id)]),
            ("outbox", [e for e in self.rows.all(OutboxEntry) if e.chat_id == user_id]),
            ("broadcast_recipients", [r for r in self.rows.all(BroadcastRecipient) if r.user_id == user_id]),
            ("pending_imports", [p for p in self.rows.all(PendingImport) if p.admin_id == user_id]),
            ("user_companies", [c for c in self.rows.all(UserCompany) if c.user_id == user_id]),
            ("users", [u for u in self.rows.all(User) if u.id == user_id]),
        ]
        for table, found in gone:
            for row in found:
                self.rows.delete(row)
            if found:
                changed[table] = len(found)
        return changed

    async def prune(self, *, lookups_before: datetime, tickets_before: datetime, audit_before: datetime,
                    inactive_before: datetime, batch: int = 1000) -> dict[str, int]:
        from assistant.store.privacy import ANONYMOUS_LOOKUP

        changed: dict[str, int] = {}

        def count(table: str, rows: int = 1) -> None:
            changed[table] = changed.get(table, 0) + rows

        for lookup in sorted((d for d in self.rows.all(Diagnosis) if d.created_at < lookups_before and d.user_id != 0),
                             key=lambda d: d.created_at)[:batch]:
            for key, value in ANONYMOUS_LOOKUP.items():
                setattr(lookup, key, value)
            count("diagnoses")
        closed = sorted((t for t in self.rows.all(Ticket) if t.state == "closed" and t.user_id != 0
                         and t.closed_at is not None and t.closed_at < tickets_before), key=lambda t: t.closed_at or 0)
        self._anonymise_tickets(closed[:batch], changed)
        old: list[tuple[str, list[Any]]] = [
            ("follow_ups", sorted((f for f in self.rows.all(FollowUp)
                                   if f.delivered_at is not None and f.delivered_at < lookups_before),
                                  key=lambda f: f.delivered_at or 0)[:batch]),
            ("access_requests", sorted((a for a in self.rows.all(AccessRequest) if a.created_at < lookups_before),
                                       key=lambda a: a.created_at)[:batch]),
            ("audit_log", sorted((a for a in self.rows.all(AuditEntry) if a.at < audit_before), key=lambda a: a.at)[:batch]),
        ]
        finished = {b.id for b in self.rows.all(Broadcast) if b.finished_at is not None and b.finished_at < audit_before}
        old.append(("broadcast_recipients", sorted((r for r in self.rows.all(BroadcastRecipient)
                                                    if r.broadcast_id in finished),
                                                   key=lambda r: (r.broadcast_id, r.user_id))[:batch]))
        old.append(("pending_imports", sorted((p for p in self.rows.all(PendingImport) if p.updated_at < audit_before
                                               and p.state not in ("confirmed", "running")),
                                              key=lambda p: p.updated_at)[:batch]))
        for table, rows in old:
            for row in rows:
                self.rows.delete(row)
            if rows:
                count(table, len(rows))
        stale = sorted((c for c in self.rows.all(Conversation) if c.updated_at < inactive_before),
                       key=lambda c: c.updated_at)[:batch]
        for conversation in stale:
            self.rows.delete(conversation)
            count("conversations")
        people = {c.user_id for c in stale}
        active = {c.chat_id for c in self.rows.all(Conversation)}
        for user in self.rows.all(User):
            if user.id in people and user.role == "merchant" and user.id not in active and (user.name or user.alias):
                user.name, user.alias = "", ""
                count("users")
        return changed


class MemoryImports:
    """`assistant.store.imports.Imports` over memory rows."""

    def __init__(self, rows: _Rows) -> None:
        self.rows = rows

    async def create(self, *, admin_id: int, chat_id: int, file_id: str, file_name: str, size: int,
                     now: datetime) -> PendingImport:
        return self.rows.add(PendingImport(admin_id=admin_id, chat_id=chat_id, file_id=file_id[:256],
                                           file_name=file_name[:256], size=size, state="previewed", created_at=now,
                                           updated_at=now))

    async def get(self, import_id: int) -> PendingImport | None:
        return self.rows.get(PendingImport, import_id)

    async def confirm(self, import_id: int, admin_id: int, now: datetime) -> bool:
        pending = self.rows.get(PendingImport, import_id)
        if pending is None or pending.admin_id != admin_id or pending.state != "previewed":
            return False
        pending.state, pending.updated_at = "confirmed", now
        return True

    async def cancel(self, import_id: int, admin_id: int) -> bool:
        pending = self.rows.get(PendingImport, import_id)
        if pending is None or pending.admin_id != admin_id or pending.state != "previewed":
            return False
        self.rows.delete(pending)
        return True

    async def due(self, now: datetime) -> list[int]:
        return [p.id for p in self.rows.all(PendingImport) if p.state == "confirmed"
                or (p.state == "running" and p.runner_until is not None and p.runner_until < now)]

    async def hold(self, import_id: int, runner: str, now: datetime, until: datetime) -> bool:
        pending = self.rows.get(PendingImport, import_id)
        if pending is None or pending.state not in ("confirmed", "running") or not (
                pending.runner in (None, runner) or (pending.runner_until is not None and pending.runner_until < now)):
            return False
        pending.state, pending.runner, pending.runner_until, pending.updated_at = "running", runner, until, now
        return True

    async def progress_posted(self, import_id: int, message_id: int) -> None:
        pending = self.rows.get(PendingImport, import_id)
        if pending is not None:
            pending.progress_message_id = message_id

    async def finish(self, import_id: int, runner: str, state: str, now: datetime) -> bool:
        pending = self.rows.get(PendingImport, import_id)
        if pending is None or pending.runner != runner or pending.state != "running":
            return False
        pending.state, pending.runner, pending.runner_until, pending.updated_at = state, None, None, now
        return True


class MemoryUnitOfWork:
    """The repositories over one memory transaction."""

    def __init__(self, database: MemoryDatabase) -> None:
        self._rows = _Rows(database)
        rows = self._rows
        self.users = MemoryUsers(rows)
        self.access = MemoryAccessRequests(rows)
        self.conversations = MemoryConversations(rows)
        self.invoices = MemoryInvoices(rows)
        self.lookups = MemoryLookups(rows)
        self.maintenance = MemoryMaintenance(rows)
        self.tickets = MemoryTickets(rows)
        self.follow_ups = MemoryFollowUps(rows)
        self.audit = MemoryAudit(rows)
        self.outbox = MemoryOutbox(rows)
        self.broadcasts = MemoryBroadcasts(rows)
        self.inbox = MemoryInbox(rows)
        self.alerts = MemoryAlerts(rows)
        self.privacy = MemoryPrivacy(rows)
        self.imports = MemoryImports(rows)

    async def lock_chat(self, chat_id: int) -> None:
        """Units of work run one at a time already."""

    def commit(self) -> None:
        self._rows.commit()
