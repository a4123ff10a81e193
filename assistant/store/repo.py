"""Queries and writes over one session (one transaction); the only place that speaks SQL."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy import literal as sa_literal
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.outputs import Copy, Out
from assistant.outbox import decode, encode
from assistant.store.conversations import Conversations
from assistant.store.dialect import dialect_insert
from assistant.store.models import (
    AccessRequest,
    AuditEntry,
    Broadcast,
    BroadcastRecipient,
    Company,
    Conversation,
    Diagnosis,
    FollowUp,
    Invoice,
    MaintenanceWindow,
    OutboxEntry,
    RelayedMessage,
    Ticket,
    TicketEvent,
    User,
    UserCompany,
)

logger = logging.getLogger(__name__)


class Store:
    """The assistant's data access for one transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.conversations = Conversations(session)

    # -- users ------------------------------------------------------------------------------
    async def user(self, user_id: int) -> User | None:
        return await self.session.get(User, user_id)

    async def ensure_user(self, user_id: int, *, language: str, name: str, now: datetime,
                          role: str = "merchant") -> User:
        """The user, created on first contact; insert-or-ignore so two processes cannot collide."""
        user = await self.session.get(User, user_id)
        if user is not None:
            if name and user.name != name:
                user.name = name
            if user.unreachable:  # they wrote to us, so they can be reached again
                user.unreachable = False
            return user
        statement = dialect_insert(self.session, User).values(
            id=user_id, role=role, language=language, name=name, unreachable=False, created_at=now)
        await self.session.execute(statement.on_conflict_do_nothing(index_elements=["id"]))
        user = await self.session.get(User, user_id, populate_existing=True)
        assert user is not None
        return user

    async def save_user(self, user_id: int, *, role: str, language: str | None, companies: Sequence[str],
                        now: datetime, name: str = "", alias: str | None = None) -> User:
        user = await self.ensure_user(user_id, language=language or "zh", name=name, now=now, role=role)
        user.role = role
        if alias is not None:
            user.alias = alias
        if language:
            user.language = language
        for tax_id in companies:
            await self.session.merge(UserCompany(user_id=user_id, tax_id=tax_id))
            if await self.session.get(Company, tax_id) is None:
                self.session.add(Company(tax_id=tax_id, name=""))
        return user

    async def admins(self) -> list[User]:
        return list(await self.session.scalars(select(User).where(User.role == "admin").order_by(User.id)))

    async def set_unreachable(self, user_id: int) -> None:
        user = await self.session.get(User, user_id)
        if user is not None:
            user.unreachable = True

    async def ensure_admins(self, user_ids: Sequence[int], now: datetime) -> list[int]:
        """Create the configured admins that do not exist yet; existing users keep their role."""
        created = []
        for user_id in user_ids:
            if await self.session.get(User, user_id) is None:
                await self.ensure_user(user_id, language="zh", name="", now=now, role="admin")
                created.append(user_id)
        return created

    async def companies_of(self, user_id: int) -> set[str]:
        rows = await self.session.scalars(select(UserCompany.tax_id).where(UserCompany.user_id == user_id))
        return set(rows)

    async def users(self) -> list[tuple[User, list[str]]]:
        users = list(await self.session.scalars(select(User).order_by(User.id)))
        links = await self.session.execute(select(UserCompany.user_id, UserCompany.tax_id))
        by_user: dict[int, list[str]] = {}
        for user_id, tax_id in links:
            by_user.setdefault(user_id, []).append(tax_id)
        return [(user, sorted(by_user.get(user.id, []))) for user in users]

    # -- invoices ---------------------------------------------------------------------------
    async def find_invoice(self, code: str | None, number: str) -> Invoice | None:
        query = select(Invoice).where(Invoice.number == number)
        if len(number) != 20:
            query = query.where(Invoice.code == (code or ""))
        return (await self.session.scalars(query.limit(1))).first()

    async def invoice_by_number(self, number: str) -> list[Invoice]:
        return list(await self.session.scalars(select(Invoice).where(Invoice.number == number)))

    async def near_invoices(self, *, code: str | None, number: str, codes: Iterable[str],
                            numbers: Iterable[str], issued: date | None, money: Decimal | None,
                            tax_ids: set[str] | None, limit: int = 5) -> list[Invoice]:
        """Invoices one typo away from (code, number), or with the same date and amount.

        `tax_ids` limits them to invoices the user may view; None means every invoice.
        """
        near_ids = and_(Invoice.number.in_(list(numbers)), Invoice.code == (code or ""))
        if code:
            near_ids = or_(near_ids, and_(Invoice.number == number, Invoice.code.in_(list(codes))))
        conditions = [near_ids]
        if issued is not None and money is not None:
            conditions.append(and_(Invoice.issue_date == issued,
                                   or_(Invoice.amount == money, Invoice.total == money)))
        query = select(Invoice).where(or_(*conditions))
        if tax_ids is not None:
            if not tax_ids:
                return []
            query = query.where(or_(Invoice.seller_tax_id.in_(tax_ids), Invoice.buyer_tax_id.in_(tax_ids)))
        return list(await self.session.scalars(query.order_by(Invoice.issue_date.desc()).limit(limit)))

    async def count_invoices(self) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(Invoice)) or 0)

    # -- maintenance --------------------------------------------------------------------------
    @staticmethod
    def _running(now: datetime) -> Any:
        """Windows in force now: started, expected end not passed, not ended by an admin."""
        return select(MaintenanceWindow).where(MaintenanceWindow.starts_at <= now, MaintenanceWindow.ends_at > now,
                                               MaintenanceWindow.ended_at.is_(None))

    async def active_maintenance(self, now: datetime) -> MaintenanceWindow | None:
        query = self._running(now).order_by(MaintenanceWindow.ends_at.desc()).limit(1)
        return (await self.session.scalars(query)).first()

    async def upcoming_maintenance(self, now: datetime) -> list[MaintenanceWindow]:
        query = (select(MaintenanceWindow)
                 .where(MaintenanceWindow.starts_at > now, MaintenanceWindow.ended_at.is_(None))
                 .order_by(MaintenanceWindow.starts_at))
        return list(await self.session.scalars(query))

    async def maintenance_windows(self) -> list[MaintenanceWindow]:
        query = select(MaintenanceWindow).order_by(MaintenanceWindow.starts_at.desc())
        return list(await self.session.scalars(query))

    async def add_maintenance(self, *, starts_at: datetime, ends_at: datetime, message_zh: str,
                              message_en: str, now: datetime, created_by: int | None = None) -> MaintenanceWindow:
        window = MaintenanceWindow(starts_at=starts_at, ends_at=ends_at, message_zh=message_zh,
                                   message_en=message_en, created_by=created_by, created_at=now)
        self.session.add(window)
        await self.session.flush()
        return window

    async def end_maintenance(self, now: datetime) -> list[MaintenanceWindow]:
        """End every window that is running now; returns them."""
        windows = list(await self.session.scalars(self._running(now)))
        for window in windows:
            window.ended_at = now
        return windows

    # -- records ------------------------------------------------------------------------------
    async def add_diagnosis(self, *, user_id: int, chat_id: int, fields: dict[str, str], outcome: str,
                            now: datetime) -> None:
        self.session.add(Diagnosis(user_id=user_id, chat_id=chat_id, code=fields.get("code", ""),
                                   number=fields.get("number", ""), outcome=outcome, created_at=now))

    async def outcome_counts(self, since: datetime) -> dict[str, int]:
        query = (select(Diagnosis.outcome, func.count()).where(Diagnosis.created_at >= since)
                 .group_by(Diagnosis.outcome))
        return {outcome: int(count) for outcome, count in await self.session.execute(query)}

    async def ticket_counts(self, since: datetime) -> tuple[int, int]:
        """(opened, closed) since a moment."""
        opened = await self.session.scalar(select(func.count()).select_from(Ticket).where(Ticket.created_at >= since))
        closed = await self.session.scalar(select(func.count()).select_from(Ticket).where(Ticket.closed_at >= since))
        return int(opened or 0), int(closed or 0)

    async def claim_waits(self, since: datetime) -> list[float]:
        """Minutes from opening to claim of the tickets opened since a moment and claimed."""
        rows = await self.session.execute(select(Ticket.created_at, Ticket.claimed_at).where(
            Ticket.created_at >= since, Ticket.claimed_at.is_not(None)))
        return [(claimed - created).total_seconds() / 60 for created, claimed in rows]

    async def recent_lookups(self, user_id: int, since: datetime) -> list[tuple[str, str, datetime]]:
        """(code, number, when) of the user's lookups since a moment; refusals and maintenance do not count."""
        query = (select(Diagnosis.code, Diagnosis.number, Diagnosis.created_at)
                 .where(Diagnosis.user_id == user_id, Diagnosis.created_at >= since,
                        Diagnosis.outcome.not_in(("limited", "maintenance")))
                 .order_by(Diagnosis.created_at))
        return [(code, number, at) for code, number, at in await self.session.execute(query)]

    async def diagnoses(self) -> list[Diagnosis]:
        return list(await self.session.scalars(select(Diagnosis).order_by(Diagnosis.id)))

    async def add_ticket(self, *, user_id: int, chat_id: int, reason: str, language: str,
                         fields: dict[str, Any], checks: list[Any], now: datetime) -> Ticket:
        ticket = Ticket(user_id=user_id, chat_id=chat_id, state="open", reason=reason, language=language,
                        fields=fields, checks=checks, created_at=now)
        self.session.add(ticket)
        await self.session.flush()
        return ticket

    async def tickets(self, user_id: int | None = None) -> list[Ticket]:
        query = select(Ticket).order_by(Ticket.id)
        if user_id is not None:
            query = query.where(Ticket.user_id == user_id)
        return list(await self.session.scalars(query))

    async def ticket(self, ticket_id: int) -> Ticket | None:
        query = select(Ticket).where(Ticket.id == ticket_id).with_for_update()
        return (await self.session.scalars(query.execution_options(populate_existing=True))).first()

    async def active_ticket(self, chat_id: int) -> Ticket | None:
        """The chat's ticket that a person is (or will be) handling."""
        query = (select(Ticket).where(Ticket.chat_id == chat_id, Ticket.state.in_(("open", "claimed")))
                 .order_by(Ticket.id.desc()).with_for_update())
        return (await self.session.scalars(query.limit(1))).first()

    async def last_closed_ticket(self, chat_id: int) -> Ticket | None:
        query = (select(Ticket).where(Ticket.chat_id == chat_id, Ticket.state == "closed")
                 .order_by(Ticket.closed_at.desc()).with_for_update())
        return (await self.session.scalars(query.limit(1))).first()

    async def ticket_by_topic(self, topic_id: int) -> Ticket | None:
        query = select(Ticket).where(Ticket.topic_id == topic_id).order_by(Ticket.id.desc()).with_for_update()
        return (await self.session.scalars(query.limit(1))).first()

    async def queue(self) -> list[Ticket]:
        """Tickets nobody has claimed yet, longest waiting first."""
        query = select(Ticket).where(Ticket.state == "open").order_by(Ticket.created_at, Ticket.id)
        return list(await self.session.scalars(query))

    async def queue_position(self, ticket: Ticket) -> int:
        query = select(func.count()).select_from(Ticket).where(Ticket.state == "open", Ticket.id <= ticket.id)
        return int(await self.session.scalar(query) or 0)

    async def due_escalations(self, now: datetime) -> list[Ticket]:
        query = (select(Ticket).where(Ticket.state == "open", Ticket.escalate_at.is_not(None),
                                      Ticket.escalate_at <= now).order_by(Ticket.id).with_for_update(skip_locked=True))
        return list(await self.session.scalars(query))

    async def add_ticket_event(self, *, ticket_id: int, event: str, state: str, actor_id: int | None,
                               detail: dict[str, Any], now: datetime) -> None:
        self.session.add(TicketEvent(ticket_id=ticket_id, event=event, state=state, actor_id=actor_id,
                                     detail=detail, at=now))

    async def ticket_events(self, ticket_id: int) -> list[TicketEvent]:
        query = select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
        return list(await self.session.scalars(query))

    async def add_relayed(self, *, ticket_id: int, source_chat_id: int, pairs: Sequence[tuple[int, int]],
                          copy_chat_id: int, now: datetime) -> None:
        for source_id, copy_id in pairs:
            statement = dialect_insert(self.session, RelayedMessage).values(
                ticket_id=ticket_id, source_chat_id=source_chat_id, source_message_id=source_id,
                copy_chat_id=copy_chat_id, copy_message_id=copy_id, created_at=now)
            await self.session.execute(statement.on_conflict_do_nothing(
                index_elements=["ticket_id", "source_chat_id", "source_message_id"]))

    async def counterpart(self, ticket_id: int, chat_id: int, message_id: int) -> int | None:
        """The id, on the other side of a ticket's relay, of the message `message_id` in `chat_id`."""
        copy = await self.session.scalar(select(RelayedMessage.copy_message_id).where(
            RelayedMessage.ticket_id == ticket_id, RelayedMessage.source_chat_id == chat_id,
            RelayedMessage.source_message_id == message_id))
        if copy is not None:
            return int(copy)
        source = await self.session.scalar(select(RelayedMessage.source_message_id).where(
            RelayedMessage.ticket_id == ticket_id, RelayedMessage.copy_chat_id == chat_id,
            RelayedMessage.copy_message_id == message_id))
        return int(source) if source is not None else None

    async def relayed(self, ticket_id: int) -> list[RelayedMessage]:
        query = select(RelayedMessage).where(RelayedMessage.ticket_id == ticket_id).order_by(RelayedMessage.id)
        return list(await self.session.scalars(query))

    async def add_access_request(self, *, user_id: int, invoice_id: int, now: datetime) -> bool:
        """Store an access request; False when the same one was already pending."""
        statement = dialect_insert(self.session, AccessRequest).values(
            user_id=user_id, invoice_id=invoice_id, state="pending", created_at=now)
        result = await self.session.execute(
            statement.on_conflict_do_nothing(index_elements=["user_id", "invoice_id"]).returning(AccessRequest.id))
        return result.first() is not None

    async def access_requests(self) -> list[AccessRequest]:
        return list(await self.session.scalars(select(AccessRequest).order_by(AccessRequest.id)))

    async def add_follow_up(self, *, kind: str, user_id: int, chat_id: int, fields: dict[str, str],
                            due_at: datetime, now: datetime, window_id: int | None = None) -> bool:
        """Store a promise to come back; False when the same one is already waiting."""
        query = select(FollowUp).where(FollowUp.kind == kind, FollowUp.chat_id == chat_id,
                                       FollowUp.delivered_at.is_(None))
        for existing in await self.session.scalars(query):
            if existing.fields == fields and existing.window_id == window_id:
                return False
        self.session.add(FollowUp(kind=kind, user_id=user_id, chat_id=chat_id, fields=fields, due_at=due_at,
                                  window_id=window_id, created_at=now))
        return True

    async def due_follow_ups(self, now: datetime, limit: int = 200) -> list[tuple[int, int]]:
        """(id, chat) of promises that fell due: a recheck whose time came, a notice whose maintenance is over."""
        over = or_(MaintenanceWindow.id.is_(None), MaintenanceWindow.ended_at.is_not(None),
                   MaintenanceWindow.ends_at <= now)
        query = (select(FollowUp.id, FollowUp.chat_id).outerjoin(MaintenanceWindow, FollowUp.window_id == MaintenanceWindow.id)
                 .where(FollowUp.delivered_at.is_(None),
                        or_(and_(FollowUp.kind == "recheck", FollowUp.due_at <= now),
                            and_(FollowUp.kind == "maintenance_over", over)))
                 .order_by(FollowUp.due_at, FollowUp.id).limit(limit))
        return [(follow_up_id, chat_id) for follow_up_id, chat_id in await self.session.execute(query)]

    async def follow_up(self, follow_up_id: int) -> FollowUp | None:
        """A follow-up, locked; None when another process has it (PostgreSQL) or it is gone."""
        query = select(FollowUp).where(FollowUp.id == follow_up_id).with_for_update(skip_locked=True)
        return (await self.session.scalars(query.execution_options(populate_existing=True))).first()

    async def waiting_notices(self, window_ids: Sequence[int]) -> int:
        """How many "notify me" promises of these windows are not delivered yet."""
        query = select(func.count()).select_from(FollowUp).where(FollowUp.window_id.in_(list(window_ids)),
                                                                  FollowUp.delivered_at.is_(None))
        return int(await self.session.scalar(query) or 0)

    async def follow_ups(self) -> list[FollowUp]:
        return list(await self.session.scalars(select(FollowUp).order_by(FollowUp.id)))

    async def audit(self, *, actor_id: int | None, action: str, allowed: bool, detail: dict[str, Any],
                    now: datetime) -> None:
        self.session.add(AuditEntry(actor_id=actor_id, action=action, allowed=allowed, detail=detail, at=now))

    async def audit_log(self, limit: int = 100) -> list[AuditEntry]:
        query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
        return list(await self.session.scalars(query))

    async def extend_maintenance(self, until: datetime, now: datetime) -> list[MaintenanceWindow]:
        """Move the expected end of every window running now; returns them."""
        windows = list(await self.session.scalars(self._running(now)))
        for window in windows:
            window.ends_at = until
        return windows

    async def lock_chat(self, chat_id: int) -> None:
        """Serialise this chat's transactions across processes until this one ends.

        PostgreSQL: an advisory transaction lock keyed by the chat id. SQLite: every write transaction
        already begins IMMEDIATE, so writers queue one at a time.
        """
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(select(func.pg_advisory_xact_lock(chat_id)))

    # -- outbox -------------------------------------------------------------------------------------
    async def enqueue(self, outputs: Sequence[Out], now: datetime, lease: timedelta) -> list[Out]:
        """Store outputs owed, leased to this process for sending; returned with their outbox ids."""
        if not outputs:
            return []
        entries = [OutboxEntry(chat_id=output.to_chat_id if isinstance(output, Copy) else output.chat_id,
                               payload=encode(output), created_at=now, lease_until=now + lease, attempts=1)
                   for output in outputs]
        self.session.add_all(entries)
        await self.session.flush()
        return [dataclasses.replace(output, outbox_id=entry.id) for output, entry in zip(outputs, entries)]

    async def mark_sent(self, outbox_ids: Sequence[int], now: datetime) -> None:
        await self.session.execute(update(OutboxEntry).where(OutboxEntry.id.in_(outbox_ids)).values(sent_at=now))

    async def mark_sent_once(self, outbox_id: int, now: datetime) -> bool:
        """Mark one output done with; False when it was already (its result was taken in before)."""
        table = OutboxEntry.__table__
        result = await self.session.execute(update(table).where(table.c.id == outbox_id, table.c.sent_at.is_(None))
                                            .values(sent_at=now))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def claim_unsent(self, now: datetime, lease: timedelta, max_attempts: int, limit: int = 100) -> list[Out]:
        """Outputs whose sender's lease ran out unsent: leased anew to the caller, oldest first.

        An entry tried `max_attempts` times is given up (marked failed, logged).
        """
        pending = and_(OutboxEntry.sent_at.is_(None), OutboxEntry.failed_at.is_(None), OutboxEntry.lease_until < now)
        given_up = await self.session.execute(update(OutboxEntry).where(pending, OutboxEntry.attempts >= max_attempts)
                                              .values(failed_at=now).returning(OutboxEntry.id, OutboxEntry.chat_id))
        for entry_id, chat_id in given_up:
            logger.error("outbox entry %s for chat %s given up after %s attempts", entry_id, chat_id, max_attempts)
        rows = (await self.session.scalars(select(OutboxEntry).where(pending).order_by(OutboxEntry.id).limit(limit)
                                           .with_for_update(skip_locked=True))).all()
        for row in rows:
            row.lease_until = now + lease
            row.attempts += 1
        return [decode(row.payload, row.id) for row in rows]

    async def forget_outbox(self, before: datetime) -> None:
        await self.session.execute(delete(OutboxEntry).where(
            or_(OutboxEntry.sent_at < before, OutboxEntry.failed_at < before)))

    async def outbox(self) -> list[OutboxEntry]:
        """Every entry, oldest first (tests and diagnostics)."""
        return list((await self.session.scalars(select(OutboxEntry).order_by(OutboxEntry.id))).all())

    # -- broadcasts ---------------------------------------------------------------------------------
    def _audience(self, audience: str, since: datetime) -> Any:
        """User ids a broadcast goes to: merchants active since a moment, or those who asked to be notified."""
        if audience == "subscribers":
            chosen = select(FollowUp.user_id).where(FollowUp.created_at >= since)
        else:
            chosen = select(Conversation.user_id).where(Conversation.updated_at >= since)
        return (select(User.id).where(User.id.in_(chosen), User.role == "merchant", User.unreachable.is_(False))
                .distinct())

    async def audience_size(self, audience: str, since: datetime) -> int:
        subquery = self._audience(audience, since).subquery()
        return int(await self.session.scalar(select(func.count()).select_from(subquery)) or 0)

    async def create_broadcast(self, *, created_by: int, audience: str, text: str, since: datetime,
                               now: datetime) -> Broadcast:
        broadcast = Broadcast(created_by=created_by, audience=audience, text=text, state="running", total=0,
                              progress_chat_id=created_by, created_at=now)
        self.session.add(broadcast)
        await self.session.flush()
        recipients = self._audience(audience, since).subquery()
        await self.session.execute(BroadcastRecipient.__table__.insert().from_select(
            ["broadcast_id", "user_id", "state", "attempts", "updated_at"],
            select(sa_literal(broadcast.id), recipients.c.id, sa_literal("pending"), sa_literal(0),
                   sa_literal(now, type_=BroadcastRecipient.__table__.c.updated_at.type))))
        broadcast.total = int(await self.session.scalar(select(func.count()).select_from(BroadcastRecipient).where(
            BroadcastRecipient.broadcast_id == broadcast.id)) or 0)
        return broadcast

    async def running_broadcasts(self) -> list[Broadcast]:
        query = select(Broadcast).where(Broadcast.state == "running").order_by(Broadcast.id)
        return list(await self.session.scalars(query))

    async def broadcast(self, broadcast_id: int) -> Broadcast | None:
        return await self.session.get(Broadcast, broadcast_id, populate_existing=True, with_for_update=True)

    async def pending_recipients(self, broadcast_id: int, limit: int) -> list[int]:
        query = (select(BroadcastRecipient.user_id)
                 .where(BroadcastRecipient.broadcast_id == broadcast_id, BroadcastRecipient.state == "pending")
                 .order_by(BroadcastRecipient.user_id).limit(limit))
        return list(await self.session.scalars(query))

    async def set_recipient(self, broadcast_id: int, user_id: int, state: str, now: datetime,
                            only_if: str | None = None) -> bool:
        """Move a recipient to `state` (from `only_if`, when given); False when it was not in that state."""
        statement = (update(BroadcastRecipient)
                     .where(BroadcastRecipient.broadcast_id == broadcast_id, BroadcastRecipient.user_id == user_id)
                     .values(state=state, updated_at=now, attempts=BroadcastRecipient.attempts + 1))
        if only_if is not None:
            statement = statement.where(BroadcastRecipient.state == only_if)
        result = await self.session.execute(statement)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def recipient_counts(self, broadcast_id: int) -> dict[str, int]:
        query = (select(BroadcastRecipient.state, func.count()).where(BroadcastRecipient.broadcast_id == broadcast_id)
                 .group_by(BroadcastRecipient.state))
        return {state: int(count) for state, count in await self.session.execute(query)}

    async def recipients(self, broadcast_id: int) -> dict[int, str]:
        query = select(BroadcastRecipient.user_id, BroadcastRecipient.state).where(
            BroadcastRecipient.broadcast_id == broadcast_id)
        return {user_id: state for user_id, state in await self.session.execute(query)}
